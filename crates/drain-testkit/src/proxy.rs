//! A counting, fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of the emulator.
//!
//! The function-under-test clients talk to the proxy; the test's own world setup talks to the
//! emulator directly, so only ecs-drain's calls are counted and faulted. Every AWS call is
//! counted as `service:Operation` (from the SigV4 credential scope and `X-Amz-Target`, the
//! Query protocol's `Action=`, or the REST path). Faults are drawn per call from a seeded RNG,
//! in each protocol's real error shape, so the SDK's retry classifier and ecs-drain's own
//! transient / permanent split see what AWS would send:
//!
//! - before forwarding (the emulator never sees the call): throttling, HTTP 500 / 503, a
//!   connection reset; optionally preceded by added latency;
//! - after forwarding (the emulator applied the call, the client sees a 500 or a reset): the
//!   case that tests idempotency, since the SDK's retry then meets its own earlier write.
//!
//! The emulator's control endpoints (`/_ecs_drain/...`, `/moto-api/...`) pass through
//! uncounted and unfaulted.
//!
//! # Why a proxy, and not the SDK's interceptor and HTTP connector
//!
//! Today's users (tests/aws_call_counts.rs, tests/fault_injection.rs, the bench example)
//! point an in-process `App` at [`Proxy::endpoint`], so the SDK's extension points could
//! serve them too; the proxy stays for three reasons:
//! - ecs-drain's `App` builds its clients from an `SdkConfig`, which carries an HTTP client
//!   but no interceptors: naming calls by interceptor would mean a test hook in drain-aws;
//! - a reset or a 500 after forwarding happens on the SDK's own pooled hyper connection, so
//!   its real transport and retry path meet it; a connector wrapper could only hand back a
//!   made-up `ConnectorError` from above that transport;
//! - it sees any client the same way, including a built function binary run as a process
//!   ([`crate::runtime_api::FunctionProcess`]) with `AWS_ENDPOINT_URL` set to the proxy, whose
//!   SDK lives in another address space where no in-process hook reaches, and which must not
//!   ship test code in its zip.
//!
//! Its transport is hyper's HTTP/1.1 server towards the clients and hyper-util's client
//! towards the emulator (the versions the SDK already locks); this module keeps only what is
//! ecs-drain's own: naming the call, the seeded verdict, each protocol's error shape, and
//! ending a connection with a reset.

use drain_core::testing::Rng;
use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::KitError;

/// What can go wrong with one call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// A throttling error in the protocol's shape (HTTP 400 for JSON and Query, 429 for
    /// REST-JSON); not forwarded.
    Throttle,
    /// HTTP 500 or 503 with the protocol's server error body; not forwarded.
    ServerError {
        /// 500 or 503.
        status: u16,
    },
    /// The connection is reset without a response; not forwarded.
    Reset,
    /// Forwarded and applied by the emulator, then answered with HTTP 500.
    ServerErrorAfterForward,
    /// Forwarded and applied by the emulator, then the connection is reset.
    ResetAfterForward,
}

impl Fault {
    /// Whether the emulator saw (and applied) the call.
    pub fn forwarded(self) -> bool {
        matches!(
            self,
            Fault::ServerErrorAfterForward | Fault::ResetAfterForward
        )
    }
}

/// A fault forced onto one call, whatever the rates say (deterministic tests).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptedFault {
    /// `service:Operation`, e.g. `autoscaling:CompleteLifecycleAction`.
    pub operation: String,
    /// Which call of that operation, counting from 1 since the plan was set.
    pub nth: u64,
    /// What happens to it.
    pub fault: Fault,
}

/// Fault rates (each a probability per call) and their seed.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultPlan {
    /// Seeds the RNG; the same plan over the same call sequence injects the same faults.
    pub seed: u64,
    /// Throttling errors.
    pub throttle: f64,
    /// HTTP 500 / 503 before forwarding.
    pub server_error: f64,
    /// Connection resets before forwarding.
    pub reset: f64,
    /// A 500 or a reset after the emulator applied the call.
    pub after_forward: f64,
    /// Calls delayed before forwarding (drawn independently of the faults above).
    pub latency: f64,
    /// The longest added delay (uniform in 0..=max).
    pub max_latency: Duration,
    /// Operations (`service:Operation`) never faulted or delayed.
    pub exempt: BTreeSet<String>,
    /// Faults forced onto given calls, applied before the rates.
    pub scripted: Vec<ScriptedFault>,
}

impl FaultPlan {
    /// Counting only: no faults, no latency.
    pub fn none() -> FaultPlan {
        FaultPlan {
            seed: 0,
            throttle: 0.0,
            server_error: 0.0,
            reset: 0.0,
            after_forward: 0.0,
            latency: 0.0,
            max_latency: Duration::ZERO,
            exempt: BTreeSet::new(),
            scripted: Vec::new(),
        }
    }

    /// `rate` of all calls faulted, split 45 % throttling, 25 % server errors, 20 % resets and
    /// 10 % after-forward failures; a tenth of all calls also gets up to 150 ms of latency.
    pub fn mixed(seed: u64, rate: f64) -> FaultPlan {
        FaultPlan {
            seed,
            throttle: rate * 0.45,
            server_error: rate * 0.25,
            reset: rate * 0.20,
            after_forward: rate * 0.10,
            latency: 0.10,
            max_latency: Duration::from_millis(150),
            ..FaultPlan::none()
        }
    }

    /// Only the scripted faults.
    pub fn scripted(faults: Vec<ScriptedFault>) -> FaultPlan {
        FaultPlan {
            scripted: faults,
            ..FaultPlan::none()
        }
    }
}

/// One fault the proxy injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedFault {
    /// The call's position among all counted calls since the plan was set (from 1).
    pub call: u64,
    /// `service:Operation`.
    pub operation: String,
    /// What was done.
    pub fault: Fault,
}

/// A running proxy; stops accepting when dropped.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    upstream_port: u16,
    upstream: Upstream,
    state: Mutex<State>,
    request_ids: AtomicU64,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    rng: Rng,
    calls: u64,
    calls_by_operation: BTreeMap<String, u64>,
    counts: BTreeMap<String, u64>,
    faults: Vec<InjectedFault>,
}

/// What the proxy decided for one call.
#[derive(Clone, Copy, Debug, Default)]
struct Verdict {
    fault: Option<Fault>,
    delay: Duration,
    /// Alternates the DynamoDB throttling code between its two real forms.
    variant: bool,
}

impl Proxy {
    /// Starts the proxy on a free port of 127.0.0.1, forwarding to the emulator on
    /// `upstream_port` (also 127.0.0.1). It runs on its own thread and runtime, so it serves
    /// whatever runtime (or none) the test uses.
    pub fn start(upstream_port: u16, plan: FaultPlan) -> Result<Proxy, KitError> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        // A fresh connection per call, as a client of the emulator that keeps none idle: a
        // pooled connection the emulator closed would fail a call the proxy did not fault.
        let upstream = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build_http();
        let shared = Arc::new(Shared {
            upstream_port,
            upstream,
            state: Mutex::new(State::new(plan)),
            request_ids: AtomicU64::new(1),
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name("ecs-drain-proxy")
            .build()?;
        let serving = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("ecs-drain-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = TcpListener::from_std(listener) else {
                        return;
                    };
                    tokio::select! {
                        _ = stopped => {}
                        () = accept_loop(listener, serving) => {}
                    }
                });
                // Connections still open die with the runtime.
                runtime.shutdown_background();
            })?;
        Ok(Proxy {
            port,
            shared,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`, for `sdk_config_for`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Calls received per `service:Operation` (every attempt, faulted or not) since the last
    /// reset.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.state().counts.clone()
    }

    /// Forgets the counts (the fault log and the plan's progress are kept).
    pub fn reset_counts(&self) {
        self.shared.state().counts.clear();
    }

    /// Replaces the plan and reseeds the RNG; the fault log starts again.
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.shared.state();
        let counts = std::mem::take(&mut state.counts);
        *state = State {
            counts,
            ..State::new(plan)
        };
    }

    /// How many faults were injected since the plan was set.
    pub fn faults_injected(&self) -> u64 {
        self.shared.state().faults.len() as u64
    }

    /// Every fault injected since the plan was set, in order.
    pub fn fault_log(&self) -> Vec<InjectedFault> {
        self.shared.state().faults.clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl State {
    fn new(plan: FaultPlan) -> State {
        State {
            rng: Rng::new(plan.seed),
            plan,
            calls: 0,
            calls_by_operation: BTreeMap::new(),
            counts: BTreeMap::new(),
            faults: Vec::new(),
        }
    }

    /// Counts the call and draws its fate. The draws happen for every call, exempt or not,
    /// so exempting an operation does not shift the faults of the others.
    fn decide(&mut self, operation: &str) -> Verdict {
        *self.counts.entry(operation.to_owned()).or_default() += 1;
        self.calls += 1;
        let nth = {
            let seen = self
                .calls_by_operation
                .entry(operation.to_owned())
                .or_default();
            *seen += 1;
            *seen
        };
        let roll = self.rng.unit();
        let kind = self.rng.unit();
        let delay_roll = self.rng.unit();
        let delay_amount = self.rng.unit();
        let plan = &self.plan;
        let scripted = plan
            .scripted
            .iter()
            .find(|scripted| scripted.operation == operation && scripted.nth == nth)
            .map(|scripted| scripted.fault);
        if scripted.is_none() && plan.exempt.contains(operation) {
            return Verdict::default();
        }
        let fault = scripted.or_else(|| {
            let mut edge = plan.throttle;
            if roll < edge {
                return Some(Fault::Throttle);
            }
            edge += plan.server_error;
            if roll < edge {
                return Some(Fault::ServerError {
                    status: if kind < 0.5 { 500 } else { 503 },
                });
            }
            edge += plan.reset;
            if roll < edge {
                return Some(Fault::Reset);
            }
            edge += plan.after_forward;
            if roll < edge {
                return Some(if kind < 0.5 {
                    Fault::ServerErrorAfterForward
                } else {
                    Fault::ResetAfterForward
                });
            }
            None
        });
        let delay = if delay_roll < plan.latency {
            plan.max_latency.mul_f64(delay_amount)
        } else {
            Duration::ZERO
        };
        if let Some(fault) = fault {
            self.faults.push(InjectedFault {
                call: self.calls,
                operation: operation.to_owned(),
                fault,
            });
        }
        Verdict {
            fault,
            delay,
            variant: kind < 0.5,
        }
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn request_id(&self) -> String {
        format!(
            "00000000-0000-4000-8000-{:012x}",
            self.request_ids.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// The body of every answer the proxy gives: the emulator's, streamed, or an injected error.
type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// The proxy's client for the emulator.
type Upstream = Client<HttpConnector, Full<Bytes>>;

/// Headers that belong to one connection (RFC 9110 §7.6.1), not to the call: hyper frames
/// each side itself, so these are dropped when the call is relayed. `Expect` too: the proxy
/// already holds the whole body when it forwards.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// How the connection to the client must end, instead of with an answer.
#[derive(Debug, Default)]
struct Abort {
    requested: Notify,
    /// A reset (RST) rather than a clean close.
    reset: AtomicBool,
}

impl Abort {
    /// Asks the connection task to drop the connection; never returns, so no answer is sent.
    async fn now(&self, reset: bool) -> Response<ProxyBody> {
        self.reset.store(reset, Ordering::SeqCst);
        self.requested.notify_one();
        std::future::pending().await
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(serve_connection(client, Arc::clone(&shared)));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one client connection with hyper's HTTP/1.1 server (keep-alive, both body
/// framings, `Expect: 100-continue`), until the client leaves or a fault ends it.
async fn serve_connection(client: TcpStream, shared: Arc<Shared>) {
    let _ = client.set_nodelay(true);
    let abort = Arc::new(Abort::default());
    let service = {
        let abort = Arc::clone(&abort);
        service_fn(move |request| {
            let shared = Arc::clone(&shared);
            let abort = Arc::clone(&abort);
            async move { Ok::<_, Infallible>(relay(request, &shared, &abort).await) }
        })
    };
    let mut connection = http1::Builder::new().serve_connection(TokioIo::new(client), service);
    tokio::select! {
        // A broken connection only ends itself: the client sees it as a reset or a close.
        _ = &mut connection => {}
        () = abort.requested.notified() => {
            // Take the socket back from hyper, unanswered: closed with zero linger it sends
            // RST, what the client of a server that died mid-call receives.
            let stream = connection.into_parts().io.into_inner();
            if abort.reset.load(Ordering::SeqCst) {
                let _ = stream.set_zero_linger();
            }
        }
    }
}

/// One call: counted, then faulted or forwarded as its verdict says.
async fn relay(request: Request<Incoming>, shared: &Shared, abort: &Abort) -> Response<ProxyBody> {
    let (parts, body) = request.into_parts();
    let Ok(body) = body.collect().await.map(|collected| collected.to_bytes()) else {
        return abort.now(false).await;
    };
    let call = classify_call(
        parts.method.as_str(),
        path_of(&parts.uri),
        &parts.headers,
        &body,
    );
    let verdict = match &call.operation {
        Some(operation) => shared.state().decide(operation),
        None => Verdict::default(),
    };
    if !verdict.delay.is_zero() {
        tokio::time::sleep(verdict.delay).await;
    }
    let fault_answer = |fault| {
        error_response(
            &call,
            &parts.headers,
            fault,
            verdict.variant,
            &shared.request_id(),
        )
    };
    match verdict.fault {
        Some(Fault::Reset) => abort.now(true).await,
        Some(fault @ (Fault::Throttle | Fault::ServerError { .. })) => fault_answer(fault),
        Some(fault @ (Fault::ServerErrorAfterForward | Fault::ResetAfterForward)) => {
            // The emulator must have applied the call before the client hears of a failure.
            let applied = match forward(shared, &parts, body).await {
                Ok(response) => response.into_body().collect().await.is_ok(),
                Err(_) => false,
            };
            if !applied {
                return abort.now(false).await;
            }
            if fault == Fault::ResetAfterForward {
                return abort.now(true).await;
            }
            fault_answer(fault)
        }
        None => match forward(shared, &parts, body).await {
            Ok(response) => {
                let (mut head, body) = response.into_parts();
                strip_hop_by_hop(&mut head.headers);
                Response::from_parts(head, body.boxed())
            }
            // The emulator is unreachable: the client sees its connection close unanswered.
            Err(_) => abort.now(false).await,
        },
    }
}

/// The path and query of a request target, whether sent in origin-form or absolute-form.
fn path_of(uri: &Uri) -> &str {
    uri.path_and_query()
        .map_or_else(|| uri.path(), |path| path.as_str())
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Sends the call to the emulator with its headers as signed (Host included) and its body.
async fn forward(
    shared: &Shared,
    request: &hyper::http::request::Parts,
    body: Bytes,
) -> Result<Response<Incoming>, KitError> {
    let uri: Uri = format!(
        "http://127.0.0.1:{}{}",
        shared.upstream_port,
        path_of(&request.uri)
    )
    .parse()?;
    let mut upstream = Request::new(Full::new(body));
    *upstream.method_mut() = request.method.clone();
    *upstream.uri_mut() = uri;
    *upstream.headers_mut() = request.headers.clone();
    strip_hop_by_hop(upstream.headers_mut());
    Ok(shared.upstream.request(upstream).await?)
}

/// How the SDK encoded the call, which decides the shape of an injected error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Protocol {
    /// awsJson1_0 / awsJson1_1 (`X-Amz-Target`): ECS, DynamoDB.
    Json,
    /// awsQuery (`Action=` form body): Auto Scaling.
    Query,
    /// restJson1 (operation in method and path): EventBridge Scheduler.
    RestJson,
}

/// A request the proxy understood.
#[derive(Clone, Debug)]
struct Call {
    /// `service:Operation`, or None for the emulator's control endpoints.
    operation: Option<String>,
    protocol: Protocol,
    service: String,
}

fn classify_call(method: &str, path: &str, head: &HeaderMap, body: &[u8]) -> Call {
    let service = signing_service(head);
    if path.starts_with("/_ecs_drain") || path.starts_with("/moto-api") {
        return Call {
            operation: None,
            protocol: Protocol::RestJson,
            service,
        };
    }
    if let Some(target) = header(head, "x-amz-target") {
        let (prefix, operation) = target.split_once('.').unwrap_or(("", target));
        let service = if service.is_empty() {
            service_of_target(prefix)
        } else {
            service
        };
        return Call {
            operation: Some(format!("{service}:{operation}")),
            protocol: Protocol::Json,
            service,
        };
    }
    let form = header(head, "content-type")
        .is_some_and(|kind| kind.starts_with("application/x-www-form-urlencoded"));
    if form && let Some(action) = form_action(body) {
        let service = if service.is_empty() {
            "query".to_owned()
        } else {
            service
        };
        return Call {
            operation: Some(format!("{service}:{action}")),
            protocol: Protocol::Query,
            service,
        };
    }
    let service = if service.is_empty() {
        "rest".to_owned()
    } else {
        service
    };
    Call {
        operation: Some(format!("{service}:{}", rest_operation(method, path))),
        protocol: Protocol::RestJson,
        service,
    }
}

/// The service of the SigV4 credential scope: `Credential=AKID/date/region/SERVICE/aws4_request`.
fn signing_service(head: &HeaderMap) -> String {
    header(head, "authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(3))
        .map(str::to_owned)
        .unwrap_or_default()
}

/// A header's value, if it is text.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

fn service_of_target(prefix: &str) -> String {
    if prefix.starts_with("AmazonEC2ContainerService") {
        "ecs".into()
    } else if prefix.starts_with("DynamoDB") {
        "dynamodb".into()
    } else {
        prefix.to_ascii_lowercase()
    }
}

fn form_action(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
}

/// EventBridge Scheduler's REST routes; anything else is named by method and first segment.
fn rest_operation(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .collect();
    let named = match (segments.first().copied(), segments.len() > 1, method) {
        (Some("schedules"), true, "POST") => "CreateSchedule",
        (Some("schedules"), true, "PUT") => "UpdateSchedule",
        (Some("schedules"), true, "DELETE") => "DeleteSchedule",
        (Some("schedules"), true, "GET") => "GetSchedule",
        (Some("schedules"), false, "GET") => "ListSchedules",
        (Some("schedule-groups"), true, "POST") => "CreateScheduleGroup",
        (Some("schedule-groups"), true, "DELETE") => "DeleteScheduleGroup",
        (Some("schedule-groups"), true, "GET") => "GetScheduleGroup",
        (Some("schedule-groups"), false, "GET") => "ListScheduleGroups",
        (Some("tags"), true, "GET") => "ListTagsForResource",
        (Some("tags"), true, "POST") => "TagResource",
        (Some("tags"), true, "DELETE") => "UntagResource",
        _ => {
            return format!(
                "{method} /{}",
                segments.first().copied().unwrap_or_default()
            );
        }
    };
    named.to_owned()
}

/// An error response as the service would send it.
fn error_response(
    call: &Call,
    request: &HeaderMap,
    fault: Fault,
    variant: bool,
    request_id: &str,
) -> Response<ProxyBody> {
    let (status, code, message) = match fault {
        Fault::Throttle => match (call.protocol, call.service.as_str()) {
            (Protocol::Json, "dynamodb") if variant => (
                StatusCode::BAD_REQUEST,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            ),
            (Protocol::Query, _) => (StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
            (Protocol::RestJson, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                "ThrottlingException",
                "Rate exceeded",
            ),
            (Protocol::Json, _) => (
                StatusCode::BAD_REQUEST,
                "ThrottlingException",
                "Rate exceeded",
            ),
        },
        Fault::ServerError { status: 503 } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "Service is unavailable. Please try again later.",
        ),
        Fault::ServerError { .. }
        | Fault::ServerErrorAfterForward
        | Fault::Reset
        | Fault::ResetAfterForward => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    };
    let (content_type, body, error_type) = match call.protocol {
        Protocol::Json => {
            // DynamoDB qualifies __type with its namespace; the SDK keeps what follows '#'.
            let kind = if call.service == "dynamodb" {
                format!("com.amazonaws.dynamodb.v20120810#{code}")
            } else {
                code.to_owned()
            };
            let content_type = request
                .get(CONTENT_TYPE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("application/x-amz-json-1.1"));
            (
                content_type,
                serde_json::json!({ "__type": kind, "message": message }).to_string(),
                None,
            )
        }
        Protocol::Query => {
            let side = if status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            let body = format!(
                "<ErrorResponse xmlns=\"https://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>{side}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            );
            (HeaderValue::from_static("text/xml"), body, None)
        }
        Protocol::RestJson => (
            HeaderValue::from_static("application/json"),
            serde_json::json!({ "Message": message }).to_string(),
            Some(HeaderValue::from_static(code)),
        ),
    };
    let mut response = Response::new(
        Full::new(Bytes::from(body))
            .map_err(|never| match never {})
            .boxed(),
    );
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Ok(request_id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-RequestId", request_id);
    }
    headers.insert(CONTENT_TYPE, content_type);
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-ErrorType", error_type);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn head(headers: &[(&'static str, &'static str)]) -> HeaderMap {
        headers
            .iter()
            .map(|(name, value)| {
                (
                    hyper::header::HeaderName::from_static(name),
                    HeaderValue::from_static(value),
                )
            })
            .collect()
    }

    /// An injected answer's status, headers and body.
    async fn answer(response: Response<ProxyBody>) -> (StatusCode, HeaderMap, String) {
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("a full body").to_bytes();
        (
            parts.status,
            parts.headers,
            String::from_utf8(body.to_vec()).expect("utf8"),
        )
    }

    const ECS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0";

    #[test]
    fn names_json_query_and_rest_calls() {
        let ecs = head(&[
            ("authorization", ECS_AUTH),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListTasks",
            ),
        ]);
        assert_eq!(
            classify_call("POST", "/", &ecs, b"{}").operation.as_deref(),
            Some("ecs:ListTasks")
        );
        let dynamodb = head(&[("x-amz-target", "DynamoDB_20120810.GetItem")]);
        assert_eq!(
            classify_call("POST", "/", &dynamodb, b"{}")
                .operation
                .as_deref(),
            Some("dynamodb:GetItem")
        );
        let query = head(&[
            (
                "authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/autoscaling/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ("content-type", "application/x-www-form-urlencoded"),
        ]);
        let call = classify_call(
            "POST",
            "/",
            &query,
            b"Action=CompleteLifecycleAction&Version=2011-01-01",
        );
        assert_eq!(
            (call.operation.as_deref(), call.protocol),
            (Some("autoscaling:CompleteLifecycleAction"), Protocol::Query)
        );
        let rest = head(&[(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/scheduler/aws4_request, SignedHeaders=host",
        )]);
        assert_eq!(
            classify_call("DELETE", "/schedules/drain-1?groupName=g", &rest, b"")
                .operation
                .as_deref(),
            Some("scheduler:DeleteSchedule")
        );
        assert_eq!(
            classify_call("POST", "/schedules/drain-1", &rest, b"{}")
                .operation
                .as_deref(),
            Some("scheduler:CreateSchedule")
        );
        assert_eq!(
            classify_call("GET", "/moto-api/reset", &rest, b"").operation,
            None
        );
    }

    /// A stand-in emulator for the wire test: hyper's server answering `{}` to every call and
    /// counting the calls it saw. (The integration tests use the real emulator.)
    async fn counting_upstream() -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let counter = Arc::clone(&counter);
                let service = service_fn(move |request: Request<Incoming>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        let _ = request.into_body().collect().await;
                        counter.fetch_add(1, Ordering::SeqCst);
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"{}"))))
                    }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(stream), service));
            }
        });
        (port, seen)
    }

    /// One ListTasks call to the proxy on a connection of its own: its status and body, or
    /// the I/O error that ended the connection.
    async fn list_tasks(port: u16) -> Result<(StatusCode, String), io::ErrorKind> {
        let stream = TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .expect("handshake");
        tokio::spawn(connection);
        let request = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", format!("127.0.0.1:{port}"))
            .header("authorization", ECS_AUTH)
            .header(
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListTasks",
            )
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from_static(b"{}")))
            .expect("request");
        let io_kind = |error: hyper::Error| {
            std::error::Error::source(&error)
                .and_then(|cause| cause.downcast_ref::<io::Error>())
                .map_or(io::ErrorKind::Other, io::Error::kind)
        };
        let response = sender.send_request(request).await.map_err(io_kind)?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(io_kind)?
            .to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn resets_refuses_and_relays_on_the_wire_before_and_after_forwarding() {
        // GIVEN a proxy scripted to reset the 1st ListTasks, reset the 2nd after forwarding,
        // answer the 3rd with a 500 after forwarding, and relay the 4th
        let (upstream, seen) = counting_upstream().await;
        let script = [
            Fault::Reset,
            Fault::ResetAfterForward,
            Fault::ServerErrorAfterForward,
        ];
        let proxy = Proxy::start(
            upstream,
            FaultPlan::scripted(
                script
                    .iter()
                    .zip(1..)
                    .map(|(fault, nth)| ScriptedFault {
                        operation: "ecs:ListTasks".into(),
                        nth,
                        fault: *fault,
                    })
                    .collect(),
            ),
        )
        .expect("proxy");

        // WHEN four calls go through it, THEN the client sees a TCP reset the emulator never
        // heard of, a reset of a call it applied, a 500 in ECS's error shape for one it
        // applied, and the emulator's own answer
        assert_eq!(
            list_tasks(proxy.port()).await,
            Err(io::ErrorKind::ConnectionReset)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 0);
        assert_eq!(
            list_tasks(proxy.port()).await,
            Err(io::ErrorKind::ConnectionReset)
        );
        assert_eq!(seen.load(Ordering::SeqCst), 1);
        let (status, body) = list_tasks(proxy.port()).await.expect("an answer");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains(r#""__type":"InternalFailure""#), "{body}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert_eq!(
            list_tasks(proxy.port()).await,
            Ok((StatusCode::OK, "{}".to_owned()))
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);
        assert_eq!(proxy.counts()["ecs:ListTasks"], 4);
        assert_eq!(proxy.faults_injected(), 3);
    }

    #[test]
    fn the_same_seed_injects_the_same_faults() {
        let draw = |seed| {
            let mut state = State::new(FaultPlan::mixed(seed, 0.5));
            (0..200)
                .map(|_| state.decide("ecs:ListTasks").fault)
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let faults = draw(7).iter().filter(|fault| fault.is_some()).count();
        assert!(
            (60..140).contains(&faults),
            "about half of 200 calls faulted, got {faults}"
        );
    }

    #[test]
    fn exempt_operations_are_never_faulted_and_scripted_faults_always_are() {
        let mut plan = FaultPlan::mixed(1, 1.0);
        plan.exempt.insert("dynamodb:GetItem".into());
        plan.scripted.push(ScriptedFault {
            operation: "dynamodb:GetItem".into(),
            nth: 3,
            fault: Fault::ResetAfterForward,
        });
        let mut state = State::new(plan);
        let faults: Vec<_> = (0..5)
            .map(|_| state.decide("dynamodb:GetItem").fault)
            .collect();
        assert_eq!(
            faults,
            vec![None, None, Some(Fault::ResetAfterForward), None, None]
        );
        assert_eq!(state.counts["dynamodb:GetItem"], 5);
    }

    #[tokio::test]
    async fn throttling_has_each_protocols_shape() {
        let query = Call {
            operation: Some("autoscaling:X".into()),
            protocol: Protocol::Query,
            service: "autoscaling".into(),
        };
        let (status, headers, body) = answer(error_response(
            &query,
            &head(&[]),
            Fault::Throttle,
            false,
            "rid",
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["content-type"], "text/xml");
        assert_eq!(headers["x-amzn-requestid"], "rid");
        assert!(body.contains("<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>rid</RequestId>"), "{body}");
        let json = Call {
            operation: Some("ecs:ListTasks".into()),
            protocol: Protocol::Json,
            service: "ecs".into(),
        };
        let (status, headers, body) = answer(error_response(
            &json,
            &head(&[("content-type", "application/x-amz-json-1.1")]),
            Fault::Throttle,
            false,
            "r",
        ))
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(headers["content-type"], "application/x-amz-json-1.1");
        assert_eq!(
            body,
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#
        );
        let rest = Call {
            operation: Some("scheduler:CreateSchedule".into()),
            protocol: Protocol::RestJson,
            service: "scheduler".into(),
        };
        let (status, headers, body) = answer(error_response(
            &rest,
            &head(&[]),
            Fault::Throttle,
            false,
            "r",
        ))
        .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["x-amzn-errortype"], "ThrottlingException");
        assert_eq!(body, r#"{"Message":"Rate exceeded"}"#);
    }
}
