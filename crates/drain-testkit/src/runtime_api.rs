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
//! outlives no test runtime and can be used from synchronous code too. HTTP is parsed by
//! hand: request line, headers, then a body framed by `Content-Length` or
//! `Transfer-Encoding: chunked` (lambda_runtime's hyper client sends buffered responses with
//! `Content-Length`, streaming responses chunked with trailers); connections are kept alive.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Notify, oneshot};

use crate::{KitError, project_root};

/// The API version prefix of every Runtime API path.
const PREFIX: &str = "/2018-06-01/runtime";
/// Longest request line or header line accepted.
const MAX_LINE: usize = 64 * 1024;
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

/// One parsed HTTP/1.1 request.
#[derive(Debug)]
struct Request {
    method: String,
    path: String,
    /// Header and trailer names lowercased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    fn wants_close(&self) -> bool {
        self.header("connection")
            .is_some_and(|value| value.eq_ignore_ascii_case("close"))
    }
}

/// A response about to be written.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
}

impl Response {
    fn json(status: u16, body: &Value) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: body.to_string().into_bytes(),
        }
    }

    fn accepted() -> Response {
        Response::json(202, &serde_json::json!({ "status": "OK" }))
    }

    fn error(status: u16, error_type: &str, message: &str) -> Response {
        Response::json(
            status,
            &serde_json::json!({ "errorType": error_type, "errorMessage": message }),
        )
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Status",
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let request = match read_request(&mut reader).await {
            Ok(Some(request)) => request,
            Ok(None) => return,
            Err(error) => {
                let _ = write_response(
                    &mut write,
                    &Response::error(400, "InvalidRequest", &error.to_string()),
                    true,
                )
                .await;
                return;
            }
        };
        let close = request.wants_close();
        let written =
            if request.method == "GET" && request.path == format!("{PREFIX}/invocation/next") {
                deliver_next(&mut reader, &mut write, &shared, close).await
            } else {
                let response = route(&request, &shared);
                write_response(&mut write, &response, close).await
            };
        if written.is_err() || close {
            return;
        }
    }
}

/// The long poll: waits for a queued invocation (or for the client to hang up), then sends it.
async fn deliver_next(
    reader: &mut BufReader<OwnedReadHalf>,
    write: &mut OwnedWriteHalf,
    shared: &Shared,
    close: bool,
) -> io::Result<()> {
    shared.next_polls.fetch_add(1, Ordering::SeqCst);
    let _ = shared.first_next_at.set(Instant::now());
    let queued = loop {
        let notified = shared.queued.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if let Some(queued) = lock(&shared.queue).pop_front() {
            break queued;
        }
        tokio::select! {
            _ = &mut notified => {}
            // The client sends nothing while it long-polls: readable means it hung up.
            _ = reader.fill_buf() => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "client left during long poll")),
        }
    };
    let response = Response {
        status: 200,
        headers: vec![
            ("Lambda-Runtime-Aws-Request-Id", queued.request_id.clone()),
            (
                "Lambda-Runtime-Deadline-Ms",
                queued.deadline_epoch_ms.to_string(),
            ),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                shared.function_arn.clone(),
            ),
            ("Lambda-Runtime-Trace-Id", queued.trace_id.clone()),
        ],
        body: queued.payload.clone(),
    };
    let delivered_at = Instant::now();
    match write_response(write, &response, close).await {
        Ok(()) => {
            lock(&shared.in_flight).insert(
                queued.request_id,
                InFlight {
                    delivered_at,
                    done: queued.done,
                },
            );
            Ok(())
        }
        Err(error) => {
            // Not delivered: the next poll gets it.
            lock(&shared.queue).push_front(queued);
            shared.queued.notify_one();
            Err(error)
        }
    }
}

fn route(request: &Request, shared: &Shared) -> Response {
    let Some(rest) = request.path.strip_prefix(PREFIX) else {
        return Response::error(404, "NotFound", &format!("no route for {}", request.path));
    };
    if request.method != "POST" {
        return Response::error(
            405,
            "MethodNotAllowed",
            &format!("{} {}", request.method, request.path),
        );
    }
    if rest == "/init/error" {
        *lock(&shared.init_error) = Some(function_error(request));
        return Response::accepted();
    }
    let Some((request_id, kind)) = rest
        .strip_prefix("/invocation/")
        .and_then(|tail| tail.split_once('/'))
    else {
        return Response::error(404, "NotFound", &format!("no route for {}", request.path));
    };
    let result = match kind {
        "response" => Ok(serde_json::from_slice(&request.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&request.body).into_owned())
        })),
        "error" => Err(function_error(request)),
        _ => return Response::error(404, "NotFound", &format!("no route for {}", request.path)),
    };
    let Some(in_flight) = lock(&shared.in_flight).remove(request_id) else {
        return Response::error(
            400,
            "InvalidRequestID",
            &format!("no invocation {request_id} is waiting for an answer"),
        );
    };
    let _ = in_flight.done.send(Completion {
        result,
        delivered_at: in_flight.delivered_at,
        completed_at: Instant::now(),
    });
    Response::accepted()
}

fn function_error(request: &Request) -> FunctionError {
    let document: Value = serde_json::from_slice(&request.body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&request.body).into_owned()));
    FunctionError {
        error_type: document["errorType"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        error_message: document["errorMessage"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        header_error_type: request
            .header("lambda-runtime-function-error-type")
            .map(str::to_owned),
        document,
    }
}

fn bad(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

/// Reads one CRLF-terminated line without its terminator; None at a clean end of stream.
async fn read_line(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<String>> {
    let mut line = Vec::new();
    let read = (&mut *reader)
        .take(MAX_LINE as u64 + 2)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Ok(None);
    }
    if !line.ends_with(b"\n") {
        return Err(bad("line too long or truncated"));
    }
    while line
        .last()
        .is_some_and(|byte| *byte == b'\n' || *byte == b'\r')
    {
        line.pop();
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| bad("line is not UTF-8"))
}

/// Reads header (or trailer) lines up to the empty line.
async fn read_headers(
    reader: &mut BufReader<OwnedReadHalf>,
    headers: &mut Vec<(String, String)>,
) -> io::Result<()> {
    loop {
        let line = read_line(reader)
            .await?
            .ok_or_else(|| bad("connection closed inside the headers"))?;
        if line.is_empty() {
            return Ok(());
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad(format!("malformed header line {line:?}")))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        if headers.len() > 200 {
            return Err(bad("too many headers"));
        }
    }
}

/// Reads one request; None when the client closed the connection between requests.
async fn read_request(reader: &mut BufReader<OwnedReadHalf>) -> io::Result<Option<Request>> {
    let line = loop {
        match read_line(reader).await? {
            None => return Ok(None),
            // Tolerate stray empty lines between requests (RFC 9112 §2.2).
            Some(line) if line.is_empty() => continue,
            Some(line) => break line,
        }
    };
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("malformed request line {line:?}")));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(bad(format!("unsupported protocol {version}")));
    }
    // hyper sends origin-form targets; accept absolute-form too.
    let path = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |start| &rest[start..]),
        None => target,
    };
    let path = path.split('?').next().unwrap_or(path).to_owned();
    let mut request = Request {
        method: method.to_owned(),
        path,
        headers: Vec::new(),
        body: Vec::new(),
    };
    read_headers(reader, &mut request.headers).await?;
    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
    if chunked {
        request.body = read_chunked(reader, &mut request.headers).await?;
    } else if let Some(length) = request.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {length:?}")))?;
        if length > MAX_BODY {
            return Err(bad(format!("body of {length} bytes is too large")));
        }
        request.body = vec![0; length];
        reader.read_exact(&mut request.body).await?;
    }
    Ok(Some(request))
}

/// A chunked body; its trailers (e.g. streaming error trailers) join the headers.
async fn read_chunked(
    reader: &mut BufReader<OwnedReadHalf>,
    headers: &mut Vec<(String, String)>,
) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader)
            .await?
            .ok_or_else(|| bad("connection closed inside a chunked body"))?;
        let size = line.split(';').next().unwrap_or_default().trim();
        let size =
            usize::from_str_radix(size, 16).map_err(|_| bad(format!("bad chunk size {line:?}")))?;
        if size == 0 {
            read_headers(reader, headers).await?;
            return Ok(body);
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("chunked body is too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        let end = read_line(reader).await?;
        if end.as_deref() != Some("") {
            return Err(bad("chunk not followed by CRLF"));
        }
    }
}

async fn write_response(
    write: &mut OwnedWriteHalf,
    response: &Response,
    close: bool,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        response.status,
        reason_phrase(response.status),
        response.body.len()
    );
    for (name, value) in &response.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    write.write_all(&bytes).await?;
    write.flush().await
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
    use super::*;
    use serde_json::json;
    use tokio::io::AsyncWriteExt;

    /// Sends raw HTTP on one connection and reads one response (head, body).
    async fn exchange(stream: &mut BufReader<TcpStream>, raw: &str) -> (String, String) {
        stream.get_mut().write_all(raw.as_bytes()).await.unwrap();
        let mut head = String::new();
        let mut length = 0;
        loop {
            let mut line = String::new();
            stream.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            if let Some(value) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = value.trim().parse().unwrap();
            }
            head.push_str(&line);
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await.unwrap();
        (head, String::from_utf8(body).unwrap())
    }

    fn header<'a>(head: &'a str, name: &str) -> &'a str {
        head.lines()
            .find_map(|line| {
                line.split_once(':')
                    .filter(|(key, _)| key.eq_ignore_ascii_case(name))
                    .map(|(_, value)| value.trim())
            })
            .unwrap()
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
                let mut stream = BufReader::new(TcpStream::connect(address).await.unwrap());
                let (head, event) = exchange(
                    &mut stream,
                    "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n",
                )
                .await;
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
                let raw = format!(
                    "POST /2018-06-01/runtime/invocation/{id}/response HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{{\"pon\r\n5;ext=1\r\ng\":2}}\r\n0\r\n\r\n"
                );
                let (head, _) = exchange(&mut stream, &raw).await;
                assert!(head.starts_with("HTTP/1.1 202"), "{head}");
                // and an answer for an unknown id is refused
                let (head, _) = exchange(&mut stream, "POST /2018-06-01/runtime/invocation/nope/error HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}").await;
                assert!(head.starts_with("HTTP/1.1 400"), "{head}");
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
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn returns_the_error_document_with_its_header_and_records_an_init_error() {
        // GIVEN an invocation queued before anyone polls
        let api = RuntimeApi::start("arn:aws:lambda:us-east-1:123456789012:function:fake").unwrap();
        let address = api.address();
        let client = tokio::spawn(async move {
            let mut stream = BufReader::new(TcpStream::connect(address).await.unwrap());
            let (head, _) = exchange(
                &mut stream,
                "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\n\r\n",
            )
            .await;
            let id = header(&head, "lambda-runtime-aws-request-id").to_owned();
            let body = r#"{"errorType":"TransientAwsError","errorMessage":"boom"}"#;
            let raw = format!(
                "POST /2018-06-01/runtime/invocation/{id}/error HTTP/1.1\r\nLambda-Runtime-Function-Error-Type: unhandled\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            assert!(
                exchange(&mut stream, &raw)
                    .await
                    .0
                    .starts_with("HTTP/1.1 202")
            );
            let raw = "POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 44\r\nConnection: close\r\n\r\n{\"errorType\":\"Init\",\"errorMessage\":\"no env\"}";
            assert!(
                exchange(&mut stream, raw)
                    .await
                    .0
                    .starts_with("HTTP/1.1 202")
            );
        });

        // WHEN the function fails the invocation
        let invocation = api
            .invoke(&json!({}), Duration::from_secs(10))
            .await
            .unwrap();
        client.await.unwrap();

        // THEN the error document comes back, and the init error is kept
        let error = invocation.error().unwrap();
        assert_eq!(
            (error.error_type.as_str(), error.error_message.as_str()),
            ("TransientAwsError", "boom")
        );
        assert_eq!(error.header_error_type.as_deref(), Some("unhandled"));
        assert_eq!(api.init_error().unwrap().error_type, "Init");
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
