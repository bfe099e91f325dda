//! A small Lambda Runtime API emulator for tests and benchmarks: the four endpoints the
//! `lambda_runtime` crate calls (`GET /invocation/next`, `POST /invocation/{id}/response`,
//! `POST /invocation/{id}/error`, `POST /init/error`), served over HTTP/1.1 on 127.0.0.1 on a
//! free port, and a [`FunctionProcess`] that runs a built function binary against it with
//! the environment Lambda gives a `provided.al2023` function.
//!
//! Invocations are synchronous from the test's point of view ([`FunctionProcess::invoke`]
//! waits for the function's answer) and carry timing marks for cold-start measurements.
//!
//! The server runs on its own thread with its own single-threaded tokio runtime, so it
//! outlives no test runtime and can be used from synchronous code too. The transport is
//! hyper's HTTP/1.1 server (the hyper the SDK and `lambda_runtime` already lock): it frames
//! the bodies (`lambda_runtime` sends buffered answers with `Content-Length`, streamed ones
//! chunked with trailers), keeps connections alive and answers malformed requests; this
//! module only routes the four paths and keeps the invocation bookkeeping.
//!
//! Why not `cargo lambda watch`: it builds and starts the function itself, one emulator for
//! every function, so a test could not run the shipped zip's `bootstrap`, give each process
//! its own clean environment, kill it by PID, read its log alone, or time its init from spawn
//! to first poll; those are what [`FunctionProcess`] is for.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};

use crate::{KitError, project_root};

/// The API version prefix of every Runtime API path.
const PREFIX: &str = "/2018-06-01/runtime";
/// Largest request body accepted (Lambda's synchronous response limit is 6 MB).
const MAX_BODY: usize = 8 * 1024 * 1024;
/// The timeout the stack gives both functions (infra/template.yaml, `Timeout: 60`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The error document a function posted to `/invocation/{id}/error` (a `Diagnostic`).
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionError {
    /// `errorType` of the document (e.g. `TransientAwsError`).
    pub error_type: String,
    /// `errorMessage` of the document.
    pub error_message: String,
    /// The `Lambda-Runtime-Function-Error-Type` request header, if sent.
    pub header_error_type: Option<String>,
    /// The whole document as posted (a JSON string if it was not JSON).
    pub document: Value,
}

/// One finished invocation.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// The `Lambda-Runtime-Aws-Request-Id` it was delivered with.
    pub request_id: String,
    /// The response document, or the error document.
    pub result: Result<Value, FunctionError>,
    /// When [`RuntimeApi::invoke`] queued it.
    pub queued_at: Instant,
    /// When a `GET /invocation/next` took it.
    pub delivered_at: Instant,
    /// When the function posted its response or error.
    pub completed_at: Instant,
}

impl Invocation {
    /// Time inside the function: delivery to response (what Lambda bills as duration).
    pub fn duration(&self) -> Duration {
        self.completed_at
            .saturating_duration_since(self.delivered_at)
    }

    /// Time from queueing to response, including waiting for the function to poll.
    pub fn latency(&self) -> Duration {
        self.completed_at.saturating_duration_since(self.queued_at)
    }

    /// The response, if the function succeeded.
    pub fn response(&self) -> Option<&Value> {
        self.result.as_ref().ok()
    }

    /// The error document, if the function failed.
    pub fn error(&self) -> Option<&FunctionError> {
        self.result.as_ref().err()
    }
}

/// What the function posted for one invocation.
#[derive(Debug)]
struct Completion {
    result: Result<Value, FunctionError>,
    delivered_at: Instant,
    completed_at: Instant,
}

/// An invocation waiting for `GET /next`.
#[derive(Debug)]
struct Queued {
    request_id: String,
    payload: Vec<u8>,
    deadline_epoch_ms: u128,
    trace_id: String,
    done: oneshot::Sender<Completion>,
}

/// An invocation delivered to the function, waiting for its response or error.
#[derive(Debug)]
struct InFlight {
    delivered_at: Instant,
    done: oneshot::Sender<Completion>,
}

/// State shared by the server's connections and the invoking side.
#[derive(Debug)]
struct Shared {
    function_arn: String,
    queue: Mutex<VecDeque<Queued>>,
    queued: Notify,
    in_flight: Mutex<HashMap<String, InFlight>>,
    first_next_at: OnceLock<Instant>,
    next_polls: AtomicU64,
    connections: AtomicU64,
    init_error: Mutex<Option<FunctionError>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking connection task must not take the emulator down with it.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The Runtime API server alone (no process): [`FunctionProcess`] wraps it, and tests of
/// the emulator itself can drive it with their own client.
#[derive(Debug)]
pub struct RuntimeApi {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RuntimeApi {
    /// Binds 127.0.0.1 on a free port and serves on a thread of its own. Invocations are
    /// delivered with `Lambda-Runtime-Invoked-Function-Arn: function_arn`.
    pub fn start(function_arn: &str) -> Result<RuntimeApi, KitError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = Arc::new(Shared {
            function_arn: function_arn.to_owned(),
            queue: Mutex::new(VecDeque::new()),
            queued: Notify::new(),
            in_flight: Mutex::new(HashMap::new()),
            first_next_at: OnceLock::new(),
            next_polls: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            init_error: Mutex::new(None),
        });
        let (shutdown, mut stopped) = oneshot::channel::<()>();
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("runtime-api-{port}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = &mut stopped => break,
                            accepted = listener.accept() => {
                                if let Ok((stream, _)) = accepted {
                                    serving.connections.fetch_add(1, Ordering::SeqCst);
                                    tokio::spawn(serve_connection(stream, serving.clone()));
                                }
                            }
                        }
                    }
                });
                // Dropping the runtime here cancels every open connection.
            })?;
        Ok(RuntimeApi {
            port,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:<port>`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// When the function first asked for an invocation (the end of its init phase).
    pub fn first_next_at(&self) -> Option<Instant> {
        self.shared.first_next_at.get().copied()
    }

    /// How many `GET /invocation/next` requests arrived so far.
    pub fn next_polls(&self) -> u64 {
        self.shared.next_polls.load(Ordering::SeqCst)
    }

    /// How many TCP connections the function opened so far (1 when it keeps its connection
    /// alive across invocations).
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// The document posted to `/init/error`, if the function failed to start.
    pub fn init_error(&self) -> Option<FunctionError> {
        lock(&self.shared.init_error).clone()
    }

    /// Queues an invocation and waits up to `timeout` for the function's answer.
    pub async fn invoke(&self, payload: &Value, timeout: Duration) -> Result<Invocation, KitError> {
        self.invoke_watching(serde_json::to_vec(payload)?, timeout, || None)
            .await
    }

    /// [`Self::invoke`], giving up early when `gone` reports why the function cannot answer
    /// (checked every 50 ms).
    async fn invoke_watching(
        &self,
        payload: Vec<u8>,
        timeout: Duration,
        gone: impl Fn() -> Option<String>,
    ) -> Result<Invocation, KitError> {
        let request_id = new_request_id();
        let queued_at = Instant::now();
        let deadline = queued_at + timeout;
        let (done, mut answer) = oneshot::channel();
        let deadline_epoch_ms =
            SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() + timeout.as_millis();
        lock(&self.shared.queue).push_back(Queued {
            request_id: request_id.clone(),
            payload,
            deadline_epoch_ms,
            trace_id: new_trace_id(),
            done,
        });
        self.shared.queued.notify_one();
        loop {
            match tokio::time::timeout(Duration::from_millis(50), &mut answer).await {
                Ok(Ok(completion)) => {
                    return Ok(Invocation {
                        request_id,
                        result: completion.result,
                        queued_at,
                        delivered_at: completion.delivered_at,
                        completed_at: completion.completed_at,
                    });
                }
                Ok(Err(_)) => {
                    return Err(
                        "the runtime API emulator stopped before the function answered".into(),
                    );
                }
                Err(_) => {
                    let failure = if let Some(reason) = gone() {
                        Some(reason)
                    } else if Instant::now() >= deadline {
                        Some(format!(
                            "invocation {request_id} timed out after {timeout:?}"
                        ))
                    } else {
                        None
                    };
                    if let Some(failure) = failure {
                        self.forget(&request_id);
                        return Err(failure.into());
                    }
                }
            }
        }
    }

    /// Drops an invocation that will not be answered; a late answer then gets a 400.
    fn forget(&self, request_id: &str) {
        lock(&self.shared.queue).retain(|queued| queued.request_id != request_id);
        lock(&self.shared.in_flight).remove(request_id);
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn new_request_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let serial = NEXT.fetch_add(1, Ordering::SeqCst);
    format!("{:08x}-0000-4000-8000-{serial:012x}", std::process::id())
}

fn new_trace_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let serial = NEXT.fetch_add(1, Ordering::SeqCst);
    let epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default();
    format!(
        "Root=1-{epoch:08x}-{:012x}{serial:012x};Parent={serial:016x};Sampled=0",
        std::process::id()
    )
}

/// The body of every response the emulator sends: one buffered document.
type ResponseBody = Full<Bytes>;

/// Serves one connection with hyper's HTTP/1.1 server (keep-alive, `Content-Length` and
/// chunked bodies with trailers, `Connection: close`, malformed requests answered with 400).
async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(handle(request, &shared).await) }
    });
    // A broken connection only ends itself; the function's runtime client reconnects.
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}

async fn handle(request: Request<Incoming>, shared: &Shared) -> Response<ResponseBody> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path();
    if parts.method == Method::GET && path == format!("{PREFIX}/invocation/next") {
        return deliver_next(shared).await;
    }
    let collected = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected,
        Err(error) if error.is::<LengthLimitError>() => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestTooLarge",
                &format!("the body is larger than {MAX_BODY} bytes"),
            );
        }
        Err(error) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "InvalidRequest",
                &error.to_string(),
            );
        }
    };
    // A streamed response's trailers (e.g. its error type) count as headers.
    let mut headers = parts.headers;
    if let Some(trailers) = collected.trailers() {
        headers.extend(trailers.clone());
    }
    let body = collected.to_bytes();
    route(&parts.method, path, &headers, &body, shared)
}

/// The long poll: waits for a queued invocation, then sends it. When the function hangs up
/// while it waits, hyper drops this future before anything was taken from the queue.
async fn deliver_next(shared: &Shared) -> Response<ResponseBody> {
    shared.next_polls.fetch_add(1, Ordering::SeqCst);
    let _ = shared.first_next_at.set(Instant::now());
    let queued = loop {
        let notified = shared.queued.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(queued) = lock(&shared.queue).pop_front() {
            break queued;
        }
        notified.await;
    };
    let response = Response::builder()
        .status(StatusCode::OK)
        .header(CONTENT_TYPE, "application/json")
        .header("Lambda-Runtime-Aws-Request-Id", queued.request_id.as_str())
        .header(
            "Lambda-Runtime-Deadline-Ms",
            queued.deadline_epoch_ms.to_string(),
        )
        .header(
            "Lambda-Runtime-Invoked-Function-Arn",
            shared.function_arn.as_str(),
        )
        .header("Lambda-Runtime-Trace-Id", queued.trace_id.as_str())
        .body(Full::new(Bytes::from(queued.payload)));
    match response {
        Ok(response) => {
            // Delivered once hyper has it: the function's next request is its answer.
            lock(&shared.in_flight).insert(
                queued.request_id,
                InFlight {
                    delivered_at: Instant::now(),
                    done: queued.done,
                },
            );
            response
        }
        Err(error) => {
            // A header value that HTTP cannot carry (a function ARN set by the caller): the
            // invoker learns it through its oneshot being dropped, the poller gets a 500.
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InvalidInvocation",
                &error.to_string(),
            )
        }
    }
}

fn route(
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    shared: &Shared,
) -> Response<ResponseBody> {
    let not_found = || {
        error_response(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("no route for {path}"),
        )
    };
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return not_found();
    };
    if method != Method::POST {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("{method} {path}"),
        );
    }
    if rest == "/init/error" {
        *lock(&shared.init_error) = Some(function_error(headers, body));
        return accepted();
    }
    let Some((request_id, kind)) = rest
        .strip_prefix("/invocation/")
        .and_then(|tail| tail.split_once('/'))
    else {
        return not_found();
    };
    let result = match kind {
        "response" => Ok(serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))),
        "error" => Err(function_error(headers, body)),
        _ => return not_found(),
    };
    let Some(in_flight) = lock(&shared.in_flight).remove(request_id) else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            &format!("no invocation {request_id} is waiting for an answer"),
        );
    };
    let _ = in_flight.done.send(Completion {
        result,
        delivered_at: in_flight.delivered_at,
        completed_at: Instant::now(),
    });
    accepted()
}

fn function_error(headers: &HeaderMap, body: &[u8]) -> FunctionError {
    let document: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()));
    FunctionError {
        error_type: document["errorType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        error_message: document["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        header_error_type: headers
            .get("lambda-runtime-function-error-type")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned),
        document,
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<ResponseBody> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn accepted() -> Response<ResponseBody> {
    json_response(StatusCode::ACCEPTED, &serde_json::json!({ "status": "OK" }))
}

fn error_response(status: StatusCode, error_type: &str, message: &str) -> Response<ResponseBody> {
    json_response(
        status,
        &serde_json::json!({ "errorType": error_type, "errorMessage": message }),
    )
}

/// A function binary running against its own [`RuntimeApi`], as Lambda would run it: clean
/// environment, the standard Lambda variables, stdout and stderr captured to a log file. The
/// process is killed (by its PID) when this is dropped.
#[derive(Debug)]
pub struct FunctionProcess {
    api: RuntimeApi,
    child: Mutex<Child>,
    name: String,
    workdir: PathBuf,
    log_path: PathBuf,
    spawned_at: Instant,
    timeout: Duration,
}

impl FunctionProcess {
    /// Starts a Runtime API emulator and `binary` against it. `env` comes on top of (and may
    /// override) the standard Lambda environment: `AWS_LAMBDA_RUNTIME_API`,
    /// `AWS_LAMBDA_FUNCTION_NAME` (default `ecs-drain-<binary name>`),
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, `AWS_LAMBDA_FUNCTION_VERSION=$LATEST`,
    /// `AWS_LAMBDA_LOG_FORMAT=JSON`, `AWS_LAMBDA_LOG_LEVEL=INFO`, `RUST_LOG=info`,
    /// `AWS_REGION=us-east-1`, log group and stream names, `LAMBDA_TASK_ROOT`, `TZ`, `PATH`.
    /// Nothing of the test's own environment is passed on.
    pub fn spawn(binary: &Path, env: Vec<(String, String)>) -> Result<FunctionProcess, KitError> {
        let stem = binary
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("function");
        let name = env
            .iter()
            .rev()
            .find(|(key, _)| key == "AWS_LAMBDA_FUNCTION_NAME")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(|| format!("ecs-drain-{stem}"));
        let region = env
            .iter()
            .rev()
            .find(|(key, _)| key == "AWS_REGION")
            .map_or("us-east-1", |(_, value)| value.as_str())
            .to_owned();
        let api = RuntimeApi::start(&format!(
            "arn:aws:lambda:{region}:123456789012:function:{name}"
        ))?;
        let workdir = std::env::temp_dir().join(format!(
            "ecs-drain-function-{}-{}-{}",
            std::process::id(),
            api.port(),
            name
        ));
        std::fs::create_dir_all(&workdir)?;
        let log_path = workdir.join("function.log");
        let log = std::fs::File::create(&log_path)?;
        let task_root = binary
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let mut standard: Vec<(String, String)> = [
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("TZ", ":UTC".to_owned()),
            ("LAMBDA_TASK_ROOT", task_root.display().to_string()),
            ("LAMBDA_RUNTIME_DIR", task_root.display().to_string()),
            ("_HANDLER", "bootstrap".to_owned()),
            ("AWS_LAMBDA_RUNTIME_API", api.address()),
            ("AWS_LAMBDA_FUNCTION_NAME", name.clone()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128".to_owned()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_owned()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("2026/11/02/[$LATEST]{:032x}", api.port()),
            ),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON".to_owned()),
            ("AWS_LAMBDA_LOG_LEVEL", "INFO".to_owned()),
            ("RUST_LOG", "info".to_owned()),
            ("AWS_REGION", region.clone()),
            ("AWS_DEFAULT_REGION", region),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
        standard.extend(env);
        let child = Command::new(binary)
            .env_clear()
            .envs(standard)
            .current_dir(&workdir)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", binary.display()))?;
        Ok(FunctionProcess {
            api,
            child: Mutex::new(child),
            name,
            workdir,
            log_path,
            spawned_at: Instant::now(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same process with another invocation timeout (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> FunctionProcess {
        self.timeout = timeout;
        self
    }

    /// Invokes the function with `payload` and waits for its response or error document.
    /// Err when it does not answer within the timeout, or exits, or failed its init.
    pub async fn invoke(&self, payload: &Value) -> Result<Invocation, KitError> {
        self.invoke_bytes(serde_json::to_vec(payload)?).await
    }

    /// Invokes the function with a raw body, e.g. bytes that are not JSON (Lambda's Invoke
    /// API would refuse them; this shows what the runtime client does with them).
    pub async fn invoke_bytes(&self, payload: Vec<u8>) -> Result<Invocation, KitError> {
        self.api
            .invoke_watching(payload, self.timeout, || self.gone())
            .await
    }

    /// Why the function can no longer answer, if it cannot.
    fn gone(&self) -> Option<String> {
        if let Some(error) = self.api.init_error() {
            return Some(format!(
                "{} failed its init: {} {}\n{}",
                self.name,
                error.error_type,
                error.error_message,
                self.log_tail()
            ));
        }
        self.exit_status()
            .map(|status| format!("{} exited with {status}\n{}", self.name, self.log_tail()))
    }

    /// The exit status, once the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        lock(&self.child).try_wait().ok().flatten()
    }

    /// Whether the process is still running.
    pub fn is_running(&self) -> bool {
        self.exit_status().is_none()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        lock(&self.child).id()
    }

    /// The function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The Runtime API emulator it talks to.
    pub fn runtime_api(&self) -> &RuntimeApi {
        &self.api
    }

    /// When the process was started.
    pub fn spawned_at(&self) -> Instant {
        self.spawned_at
    }

    /// When the function first polled for an invocation (its init phase is over then).
    pub fn first_next_at(&self) -> Option<Instant> {
        self.api.first_next_at()
    }

    /// Waits until the function first polls for an invocation; returns its init time
    /// (spawn to first `GET /next`), the cold-start figure before the first invocation.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<Duration, KitError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(first) = self.first_next_at() {
                return Ok(first.saturating_duration_since(self.spawned_at));
            }
            if let Some(reason) = self.gone() {
                return Err(reason.into());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not poll for an invocation within {timeout:?}\n{}",
                    self.name,
                    self.log_tail()
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Everything the function wrote to stdout and stderr so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The log lines that are JSON objects (with `AWS_LAMBDA_LOG_FORMAT=JSON`, every
    /// tracing event), in order.
    pub fn json_logs(&self) -> Vec<Value> {
        self.logs()
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(Value::is_object)
            .collect()
    }

    /// Where the log file is (kept when a test panics).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn log_tail(&self) -> String {
        let logs = self.logs();
        let lines: Vec<&str> = logs.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!("--- last lines of {} ---\n{tail}", self.log_path.display())
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        let child = self
            .child
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Kill the process we started, by its PID.
        let _ = child.kill();
        let _ = child.wait();
        if std::thread::panicking() {
            eprintln!(
                "{} log kept at {}\n{}",
                self.name,
                self.log_path.display(),
                self.log_tail()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.workdir);
        }
    }
}

/// The directory of unpacked deployment zips, `<dir>/<function>/bootstrap`, that
/// [`function_binary`] runs instead of a host build (scripts/test.sh points it at the release
/// zips, so the shipped artifact is what the end-to-end tests run).
pub const ENV_FUNCTION_DIR: &str = "ECS_DRAIN_FUNCTION_DIR";

/// The binary of function `name` (`on-lifecycle`, `on-task-stopped`). With
/// [`ENV_FUNCTION_DIR`] set: `<dir>/<name>/bootstrap`, the `bootstrap` of that function's
/// unpacked zip (or a wrapper that runs it, e.g. under qemu). Otherwise builds both functions
/// once per test process (`cargo build --quiet`, debug profile, like the tests) and returns
/// `<target dir>/debug/<name>`, honouring `CARGO_TARGET_DIR`. Blocks while building.
pub fn function_binary(name: &str) -> Result<PathBuf, KitError> {
    if let Some(dir) = std::env::var_os(ENV_FUNCTION_DIR).filter(|dir| !dir.is_empty()) {
        let path = PathBuf::from(dir).join(name).join("bootstrap");
        if !path.is_file() {
            return Err(format!("{ENV_FUNCTION_DIR}: {} is not a file", path.display()).into());
        }
        return Ok(path);
    }
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = Command::new(&cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "on-lifecycle",
                    "-p",
                    "on-task-stopped",
                ])
                .current_dir(project_root())
                .status()
                .map_err(|error| format!("cannot run {cargo}: {error}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("cargo build of the functions failed with {status}"))
            }
        })
        .clone()?;
    let path = target_dir().join("debug").join(name);
    if !path.is_file() {
        return Err(format!("{} was not built", path.display()).into());
    }
    Ok(path)
}

/// Cargo's target directory for this workspace.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR")
        .or_else(|| std::env::var_os("CARGO_BUILD_TARGET_DIR"))
        .filter(|dir| !dir.is_empty())
    {
        Some(dir) => project_root().join(dir),
        None => project_root().join("target"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;
    use hyper::body::{Body, Frame};
    use hyper::client::conn::http1::SendRequest;
    use serde_json::json;

    /// A request body of given frames with no length, so hyper sends it chunked (and its
    /// trailers, when the request declares them).
    struct Frames(VecDeque<Frame<Bytes>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    fn frames(data: &[&str], trailers: Option<(&'static str, &'static str)>) -> Frames {
        let mut frames: VecDeque<Frame<Bytes>> = data
            .iter()
            .map(|part| Frame::data(Bytes::from(part.to_string())))
            .collect();
        if let Some((name, value)) = trailers {
            let mut map = HeaderMap::new();
            map.insert(name, hyper::header::HeaderValue::from_static(value));
            frames.push_back(Frame::trailers(map));
        }
        Frames(frames)
    }

    /// One HTTP/1.1 connection to the emulator, as the function's runtime client keeps it.
    async fn connect(address: String) -> SendRequest<Frames> {
        let stream = TcpStream::connect(address).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        sender
    }

    /// Sends one request on the connection; returns the status, headers and body.
    async fn exchange(
        sender: &mut SendRequest<Frames>,
        request: Request<Frames>,
    ) -> (StatusCode, HeaderMap, String) {
        sender.ready().await.unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).unwrap(),
        )
    }

    fn request(method: Method, path: &str, body: Frames) -> Request<Frames> {
        Request::builder()
            .method(method)
            .uri(format!("/2018-06-01/runtime{path}"))
            .header("Host", "127.0.0.1")
            .body(body)
            .unwrap()
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers.get(name).unwrap().to_str().unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn delivers_an_invocation_and_takes_a_chunked_response_on_a_kept_alive_connection() {
        // GIVEN the emulator and a client long-polling for the next invocation
        let api = Arc::new(
            RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:fake").unwrap(),
        );
        let client = tokio::spawn({
            let address = api.address();
            async move {
                let mut sender = connect(address).await;
                let (status, head, event) = exchange(
                    &mut sender,
                    request(Method::GET, "/invocation/next", frames(&[], None)),
                )
                .await;
                assert_eq!(status, StatusCode::OK);
                let id = header(&head, "lambda-runtime-aws-request-id").to_owned();
                assert!(
                    header(&head, "lambda-runtime-deadline-ms")
                        .parse::<u128>()
                        .unwrap()
                        > 0
                );
                assert!(
                    header(&head, "lambda-runtime-invoked-function-arn")
                        .ends_with(":function:fake")
                );
                assert!(header(&head, "lambda-runtime-trace-id").starts_with("Root=1-"));
                assert_eq!(event, r#"{"ping":1}"#);
                // WHEN it answers with a chunked body on the same connection
                let (status, _, _) = exchange(
                    &mut sender,
                    request(
                        Method::POST,
                        &format!("/invocation/{id}/response"),
                        frames(&["{\"pon", "g\":2}"], None),
                    ),
                )
                .await;
                assert_eq!(status, StatusCode::ACCEPTED);
                // and an answer for an unknown id is refused
                let (status, _, body) = exchange(
                    &mut sender,
                    request(
                        Method::POST,
                        "/invocation/nope/error",
                        frames(&["{}"], None),
                    ),
                )
                .await;
                assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
                // and so is a path the Runtime API does not have
                let (status, _, _) = exchange(
                    &mut sender,
                    request(Method::GET, "/invocation/nope/response", frames(&[], None)),
                )
                .await;
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            }
        });

        // THEN the invoker gets the response document and timing marks in order
        let invocation = api
            .invoke(&json!({"ping": 1}), Duration::from_secs(10))
            .await
            .unwrap();
        client.await.unwrap();
        assert_eq!(invocation.response(), Some(&json!({"pong": 2})));
        assert!(
            invocation.queued_at <= invocation.delivered_at
                && invocation.delivered_at <= invocation.completed_at
        );
        assert!(api.first_next_at().is_some());
        assert_eq!(api.next_polls(), 1);
        assert_eq!(api.connections(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn returns_the_error_document_with_its_header_and_records_an_init_error() {
        // GIVEN an invocation queued before anyone polls
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:fake").unwrap();
        let address = api.address();
        let client = tokio::spawn(async move {
            let mut sender = connect(address).await;
            let (_, head, _) = exchange(
                &mut sender,
                request(Method::GET, "/invocation/next", frames(&[], None)),
            )
            .await;
            let id = header(&head, "lambda-runtime-aws-request-id").to_owned();
            let mut error = request(
                Method::POST,
                &format!("/invocation/{id}/error"),
                frames(
                    &[r#"{"errorType":"TransientAwsError","errorMessage":"boom"}"#],
                    None,
                ),
            );
            error.headers_mut().insert(
                "Lambda-Runtime-Function-Error-Type",
                hyper::header::HeaderValue::from_static("unhandled"),
            );
            assert_eq!(exchange(&mut sender, error).await.0, StatusCode::ACCEPTED);
            // The init error comes chunked with its type in a trailer, as a streamed body.
            let mut init = request(
                Method::POST,
                "/init/error",
                frames(
                    &[r#"{"errorType":"Init","#, r#""errorMessage":"no env"}"#],
                    Some(("lambda-runtime-function-error-type", "Runtime.InitError")),
                ),
            );
            init.headers_mut().insert(
                hyper::header::TRAILER,
                hyper::header::HeaderValue::from_static("Lambda-Runtime-Function-Error-Type"),
            );
            assert_eq!(exchange(&mut sender, init).await.0, StatusCode::ACCEPTED);
        });

        // WHEN the function fails the invocation
        let invocation = api
            .invoke(&json!({}), Duration::from_secs(10))
            .await
            .unwrap();
        client.await.unwrap();

        // THEN the error document comes back, and the init error is kept with its trailer
        let error = invocation.error().unwrap();
        assert_eq!(
            (error.error_type.as_str(), error.error_message.as_str()),
            ("TransientAwsError", "boom")
        );
        assert_eq!(error.header_error_type.as_deref(), Some("unhandled"));
        let init = api.init_error().unwrap();
        assert_eq!(
            (init.error_type.as_str(), init.header_error_type.as_deref()),
            ("Init", Some("Runtime.InitError"))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unanswered_invocation_times_out() {
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:fake").unwrap();
        let failure = api
            .invoke(&json!({}), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(failure.to_string().contains("timed out"), "{failure}");
    }
}
