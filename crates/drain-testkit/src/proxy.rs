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

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};

use crate::KitError;

/// Longest request or response head the proxy accepts.
const MAX_HEAD: usize = 64 * 1024;

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
    state: Mutex<State>,
    request_ids: AtomicU64,
}

#[derive(Debug)]
struct State {
    plan: FaultPlan,
    rng: SplitMix64,
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
        let shared = Arc::new(Shared {
            upstream_port,
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
            rng: SplitMix64(plan.seed),
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

/// splitmix64: small, seedable, good enough to spread faults.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                let shared = Arc::clone(&shared);
                tokio::spawn(async move {
                    // A broken connection only ends itself: the client sees it as a reset.
                    let _ = serve_connection(client, &shared).await;
                });
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// One parsed HTTP/1.1 message head.
#[derive(Clone, Debug)]
struct Head {
    /// Request line or status line.
    start: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(key, _)| key.eq_ignore_ascii_case(name))
            .any(|(_, value)| {
                value
                    .split(',')
                    .any(|part| part.trim().eq_ignore_ascii_case(token))
            })
    }

    fn framing(&self) -> io::Result<Framing> {
        if self.has_token("transfer-encoding", "chunked") {
            return Ok(Framing::Chunked);
        }
        match self.header("content-length") {
            Some(length) => length
                .trim()
                .parse()
                .map(Framing::Length)
                .map_err(|_| invalid("bad content-length")),
            None => Ok(Framing::UntilClose),
        }
    }

    /// The head as bytes, with hop-by-hop `Connection` / `Keep-Alive` headers (and any in
    /// `skip`) left out and `extra` added.
    fn encode(&self, skip: &[&str], extra: &[(&str, String)]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (key, value) in &self.headers {
            let hop = ["connection", "keep-alive"]
                .iter()
                .chain(skip)
                .any(|name| key.eq_ignore_ascii_case(name));
            if !hop {
                out.push_str(&format!("{key}: {value}\r\n"));
            }
        }
        for (key, value) in extra {
            out.push_str(&format!("{key}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_owned())
}

/// Reads a head; `None` on a clean end of stream before any byte.
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Head>> {
    let mut lines = Vec::new();
    let mut size = 0;
    loop {
        let mut line = Vec::new();
        let read = reader.read_until(b'\n', &mut line).await?;
        if read == 0 {
            return if lines.is_empty() && size == 0 {
                Ok(None)
            } else {
                Err(io::ErrorKind::UnexpectedEof.into())
            };
        }
        size += read;
        if size > MAX_HEAD {
            return Err(invalid("head too large"));
        }
        let text = String::from_utf8(line).map_err(|_| invalid("head is not UTF-8"))?;
        let text = text.trim_end_matches(['\r', '\n']);
        if text.is_empty() {
            if lines.is_empty() {
                continue; // tolerate stray CRLF between messages
            }
            break;
        }
        lines.push(text.to_owned());
    }
    let start = lines.remove(0);
    let headers = lines
        .into_iter()
        .map(|line| {
            line.split_once(':')
                .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
                .ok_or_else(|| invalid("bad header"))
        })
        .collect::<io::Result<Vec<_>>>()?;
    Ok(Some(Head { start, headers }))
}

/// Reads a body, copying its bytes exactly as framed to `raw` (when given) and its decoded
/// content to `decoded`.
async fn read_body<R, W>(
    reader: &mut R,
    framing: Framing,
    mut raw: Option<&mut W>,
    decoded: &mut Vec<u8>,
) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    match framing {
        Framing::Length(length) => {
            let start = decoded.len();
            decoded.resize(start + length, 0);
            reader.read_exact(&mut decoded[start..]).await?;
            if let Some(raw) = raw.as_mut() {
                raw.write_all(&decoded[start..]).await?;
            }
        }
        Framing::UntilClose => {
            reader.read_to_end(decoded).await?;
            if let Some(raw) = raw.as_mut() {
                raw.write_all(decoded).await?;
            }
        }
        Framing::Chunked => loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            if let Some(raw) = raw.as_mut() {
                raw.write_all(&line).await?;
            }
            let text = std::str::from_utf8(&line).map_err(|_| invalid("bad chunk size"))?;
            let size_text = text.split(';').next().unwrap_or_default().trim();
            let size =
                usize::from_str_radix(size_text, 16).map_err(|_| invalid("bad chunk size"))?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut trailer = Vec::new();
                    if reader.read_until(b'\n', &mut trailer).await? == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    if let Some(raw) = raw.as_mut() {
                        raw.write_all(&trailer).await?;
                    }
                    if trailer == b"\r\n" || trailer == b"\n" {
                        return Ok(());
                    }
                }
            }
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).await?;
            if let Some(raw) = raw.as_mut() {
                raw.write_all(&chunk).await?;
            }
            chunk.truncate(size);
            decoded.extend_from_slice(&chunk);
        },
    }
    Ok(())
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

fn classify_call(method: &str, path: &str, head: &Head, body: &[u8]) -> Call {
    let service = signing_service(head);
    if path.starts_with("/_ecs_drain") || path.starts_with("/moto-api") {
        return Call {
            operation: None,
            protocol: Protocol::RestJson,
            service,
        };
    }
    if let Some(target) = head.header("x-amz-target") {
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
    let form = head
        .header("content-type")
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
fn signing_service(head: &Head) -> String {
    head.header("authorization")
        .and_then(|auth| auth.split("Credential=").nth(1))
        .and_then(|credential| credential.split([',', ' ']).next())
        .and_then(|scope| scope.split('/').nth(3))
        .map(str::to_owned)
        .unwrap_or_default()
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
    request: &Head,
    fault: Fault,
    variant: bool,
    request_id: &str,
) -> Vec<u8> {
    let (status, code, message) = match fault {
        Fault::Throttle => match (call.protocol, call.service.as_str()) {
            (Protocol::Json, "dynamodb") if variant => (
                400,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.",
            ),
            (Protocol::Query, _) => (400, "Throttling", "Rate exceeded"),
            (Protocol::RestJson, _) => (429, "ThrottlingException", "Rate exceeded"),
            (Protocol::Json, _) => (400, "ThrottlingException", "Rate exceeded"),
        },
        Fault::ServerError { status: 503 } => (
            503,
            "ServiceUnavailable",
            "Service is unavailable. Please try again later.",
        ),
        Fault::ServerError { .. }
        | Fault::ServerErrorAfterForward
        | Fault::Reset
        | Fault::ResetAfterForward => (
            500,
            "InternalFailure",
            "The request processing has failed because of an unknown error, exception or failure.",
        ),
    };
    let reason = match status {
        400 => "Bad Request",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    };
    let (content_type, body, extra) = match call.protocol {
        Protocol::Json => {
            // DynamoDB qualifies __type with its namespace; the SDK keeps what follows '#'.
            let kind = if call.service == "dynamodb" {
                format!("com.amazonaws.dynamodb.v20120810#{code}")
            } else {
                code.to_owned()
            };
            let content_type = request
                .header("content-type")
                .unwrap_or("application/x-amz-json-1.1")
                .to_owned();
            (
                content_type,
                serde_json::json!({ "__type": kind, "message": message }).to_string(),
                None,
            )
        }
        Protocol::Query => {
            let side = if status >= 500 { "Receiver" } else { "Sender" };
            let body = format!(
                "<ErrorResponse xmlns=\"https://autoscaling.amazonaws.com/doc/2011-01-01/\"><Error><Type>{side}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            );
            ("text/xml".to_owned(), body, None)
        }
        Protocol::RestJson => (
            "application/json".to_owned(),
            serde_json::json!({ "Message": message }).to_string(),
            Some(("x-amzn-ErrorType", code.to_owned())),
        ),
    };
    let mut head = format!(
        "HTTP/1.1 {status} {reason}\r\nx-amzn-RequestId: {request_id}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((name, value)) = extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Serves one client connection, request after request (keep-alive).
async fn serve_connection(client: TcpStream, shared: &Shared) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (read_half, mut write_half) = client.into_split();
    let mut reader = BufReader::new(read_half);
    loop {
        let Some(request) = read_head(&mut reader).await? else {
            return Ok(());
        };
        let mut parts = request.start.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let version = parts.next().unwrap_or("HTTP/1.1").to_owned();
        let client_closes = request.has_token("connection", "close") || version == "HTTP/1.0";

        if request.has_token("expect", "100-continue") {
            write_half
                .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .await?;
        }
        let framing = match request.framing()? {
            Framing::UntilClose => Framing::Length(0), // a request without framing has no body
            framing => framing,
        };
        let mut raw_body: Vec<u8> = Vec::new();
        let mut body = Vec::new();
        read_body(&mut reader, framing, Some(&mut raw_body), &mut body).await?;

        let call = classify_call(&method, &path, &request, &body);
        let verdict = match &call.operation {
            Some(operation) => shared.state().decide(operation),
            None => Verdict::default(),
        };
        if !verdict.delay.is_zero() {
            tokio::time::sleep(verdict.delay).await;
        }
        match verdict.fault {
            Some(Fault::Reset) => return reset(write_half.reunite(reader.into_inner())),
            Some(fault @ (Fault::Throttle | Fault::ServerError { .. })) => {
                write_half
                    .write_all(&error_response(
                        &call,
                        &request,
                        fault,
                        verdict.variant,
                        &shared.request_id(),
                    ))
                    .await?;
            }
            Some(fault @ (Fault::ServerErrorAfterForward | Fault::ResetAfterForward)) => {
                forward(
                    shared,
                    &request,
                    &method,
                    &raw_body,
                    &mut tokio::io::sink(),
                    false,
                )
                .await?;
                if fault == Fault::ResetAfterForward {
                    return reset(write_half.reunite(reader.into_inner()));
                }
                write_half
                    .write_all(&error_response(
                        &call,
                        &request,
                        fault,
                        verdict.variant,
                        &shared.request_id(),
                    ))
                    .await?;
            }
            None => {
                forward(
                    shared,
                    &request,
                    &method,
                    &raw_body,
                    &mut write_half,
                    client_closes,
                )
                .await?
            }
        }
        write_half.flush().await?;
        if client_closes {
            return Ok(());
        }
    }
}

/// Closes with RST (zero linger), so the client sees a reset rather than a clean close.
fn reset(stream: Result<TcpStream, tokio::net::tcp::ReuniteError>) -> io::Result<()> {
    if let Ok(stream) = stream {
        stream.set_zero_linger()?;
        drop(stream);
    }
    Ok(())
}

/// Sends the request to the emulator on a fresh connection and relays the response to `out`:
/// status line, headers (hop-by-hop ones replaced) and the body exactly as framed, streamed
/// as it arrives. A body delimited by the emulator closing is re-framed with Content-Length.
async fn forward<W: AsyncWrite + Unpin>(
    shared: &Shared,
    request: &Head,
    method: &str,
    raw_body: &[u8],
    out: &mut W,
    client_closes: bool,
) -> io::Result<()> {
    let mut upstream = TcpStream::connect(("127.0.0.1", shared.upstream_port)).await?;
    upstream.set_nodelay(true)?;
    let mut bytes = request.encode(&["expect"], &[("Connection", "close".to_owned())]);
    bytes.extend_from_slice(raw_body);
    upstream.write_all(&bytes).await?;
    upstream.flush().await?;

    let mut reader = BufReader::new(upstream);
    let response = loop {
        let head = read_head(&mut reader)
            .await?
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let status: u16 = head
            .start
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("bad status line"))?;
        // Interim responses are the proxy's business (Expect was stripped): skip them.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        break (head, status);
    };
    let (head, status) = response;
    let connection = if client_closes { "close" } else { "keep-alive" };
    let no_body = method == "HEAD" || status == 204 || status == 304;
    if no_body {
        out.write_all(&head.encode(&[], &[("Connection", connection.to_owned())]))
            .await?;
        return Ok(());
    }
    match head.framing()? {
        Framing::UntilClose => {
            let mut body = Vec::new();
            read_body(
                &mut reader,
                Framing::UntilClose,
                None::<&mut tokio::io::Sink>,
                &mut body,
            )
            .await?;
            let extra = [
                ("Content-Length", body.len().to_string()),
                ("Connection", connection.to_owned()),
            ];
            out.write_all(&head.encode(&["content-length"], &extra))
                .await?;
            out.write_all(&body).await?;
        }
        framing => {
            out.write_all(&head.encode(&[], &[("Connection", connection.to_owned())]))
                .await?;
            let mut decoded = Vec::new();
            read_body(&mut reader, framing, Some(out), &mut decoded).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(headers: &[(&str, &str)]) -> Head {
        Head {
            start: "POST / HTTP/1.1".into(),
            headers: headers
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    const ECS_AUTH: &str = "AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/ecs/aws4_request, SignedHeaders=host, Signature=0";

    #[test]
    fn names_json_query_and_rest_calls() {
        let ecs = head(&[
            ("Authorization", ECS_AUTH),
            (
                "X-Amz-Target",
                "AmazonEC2ContainerServiceV20141113.ListTasks",
            ),
        ]);
        assert_eq!(
            classify_call("POST", "/", &ecs, b"{}").operation.as_deref(),
            Some("ecs:ListTasks")
        );
        let dynamodb = head(&[("X-Amz-Target", "DynamoDB_20120810.GetItem")]);
        assert_eq!(
            classify_call("POST", "/", &dynamodb, b"{}")
                .operation
                .as_deref(),
            Some("dynamodb:GetItem")
        );
        let query = head(&[
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=testing/20261102/us-east-1/autoscaling/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ("Content-Type", "application/x-www-form-urlencoded"),
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
            "Authorization",
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

    #[test]
    fn throttling_has_each_protocols_shape() {
        let query = Call {
            operation: Some("autoscaling:X".into()),
            protocol: Protocol::Query,
            service: "autoscaling".into(),
        };
        let text = String::from_utf8(error_response(
            &query,
            &head(&[]),
            Fault::Throttle,
            false,
            "rid",
        ))
        .expect("utf8");
        assert!(text.starts_with("HTTP/1.1 400 "), "{text}");
        assert!(text.contains("<Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>rid</RequestId>"));
        let json = Call {
            operation: Some("ecs:ListTasks".into()),
            protocol: Protocol::Json,
            service: "ecs".into(),
        };
        let text = String::from_utf8(error_response(
            &json,
            &head(&[("Content-Type", "application/x-amz-json-1.1")]),
            Fault::Throttle,
            false,
            "r",
        ))
        .expect("utf8");
        assert!(
            text.contains("Content-Type: application/x-amz-json-1.1")
                && text.ends_with(r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#)
        );
    }
}
