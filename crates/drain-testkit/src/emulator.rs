//! The local AWS emulator: moto server 5.2.1 with the ecs_drain_moto extension, bound to
//! 127.0.0.1 on a free port, started from the project's venv and stopped by its PID.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::{KitError, project_root};

/// A running emulator; stopped when dropped.
#[derive(Debug)]
pub struct Emulator {
    child: Child,
    port: u16,
    workdir: PathBuf,
}

impl Emulator {
    /// Installs the venv if needed (scripts/bootstrap-python.sh), starts the launcher and
    /// waits for its port file.
    pub fn start() -> Result<Emulator, KitError> {
        let root = project_root();
        let python = root.join(".venv/bin/python");
        let status = Command::new("bash")
            .arg(root.join("scripts/bootstrap-python.sh"))
            .status()?;
        if !status.success() {
            return Err(format!("scripts/bootstrap-python.sh failed with {status}").into());
        }
        let workdir = std::env::temp_dir().join(format!(
            "ecs-drain-emulator-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&workdir)?;
        let port_file = workdir.join("port");
        let log = std::fs::File::create(workdir.join("emulator.log"))?;
        let child = Command::new(python)
            .args(["-m", "ecs_drain_moto", "--port", "0", "--port-file"])
            .arg(&port_file)
            .env("PYTHONPATH", root.join("tests/emulator"))
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut emulator = Emulator {
            child,
            port: 0,
            workdir,
        };
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Ok(port) = text.trim().parse::<u16>()
            {
                emulator.port = port;
                return Ok(emulator);
            }
            if let Some(status) = emulator.child.try_wait()? {
                return Err(format!("emulator exited with {status}: {}", emulator.log()).into());
            }
            if Instant::now() > deadline {
                return Err(
                    format!("emulator did not start within 90 s: {}", emulator.log()).into(),
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The emulator's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.workdir.join("emulator.log")).unwrap_or_default()
    }

    /// SDK configuration for the emulator: fixed region and test credentials, and one attempt
    /// per call so a failure shows at once instead of hiding behind retries. (With IAM enforced
    /// these credentials are refused: use [`Emulator::admin`] and [`Emulator::sdk_config_as`].)
    pub fn sdk_config(&self) -> SdkConfig {
        sdk_config_for(
            &self.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
        )
    }

    /// SDK configuration like [`Emulator::sdk_config`], signing with `credentials`.
    pub fn sdk_config_as(&self, credentials: &Credentials) -> SdkConfig {
        sdk_config_signed(
            &self.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
            credentials.clone(),
        )
    }

    /// The test's own set-up identity: an IAM user allowed everything (created once per
    /// emulator by the extension), so that set-up still works once IAM is enforced.
    pub fn admin(&self) -> Result<Credentials, KitError> {
        let answer = self.control(
            "POST",
            "/_ecs_drain/iam/admin-user",
            Some(&serde_json::json!({ "userName": "ecs-drain-test-admin" })),
        )?;
        let key = answer["accessKeyId"]
            .as_str()
            .ok_or("admin-user: no accessKeyId")?;
        let secret = answer["secretAccessKey"]
            .as_str()
            .ok_or("admin-user: no secretAccessKey")?;
        Ok(Credentials::new(
            key,
            secret,
            None,
            None,
            "ecs-drain-test-admin",
        ))
    }

    /// Turns IAM enforcement on or off for every request the emulator serves: with it on, a
    /// request must be signed by a known identity and its policies must allow the action on the
    /// resources the request touches.
    pub fn enforce_iam(&self, enabled: bool) -> Result<(), KitError> {
        let answer = self.control(
            "POST",
            "/_ecs_drain/iam/enforce",
            Some(&serde_json::json!({ "enabled": enabled })),
        )?;
        if answer["enabled"].as_bool() != Some(enabled) {
            return Err(format!("iam/enforce answered {answer}").into());
        }
        Ok(())
    }

    /// Temporary credentials of `role_arn`, from `sts:AssumeRole` signed by `caller`: what
    /// Lambda hands a function for its execution role.
    pub async fn assume_role(
        &self,
        caller: &Credentials,
        role_arn: &str,
        session: &str,
    ) -> Result<Credentials, KitError> {
        use aws_sdk_dynamodb::config::ProvideCredentials;
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session)
            .region(Region::new("us-east-1"))
            .configure(&self.sdk_config_as(caller))
            .build()
            .await;
        Ok(provider.provide_credentials().await?)
    }

    /// Every authorization decision the emulator took while IAM was enforced, in order.
    pub fn iam_decisions(&self) -> Result<Vec<IamDecision>, KitError> {
        let answer = self.control("GET", "/_ecs_drain/iam/decisions", None)?;
        let decisions = answer["decisions"]
            .as_array()
            .ok_or("iam/decisions: no decisions")?;
        Ok(decisions
            .iter()
            .map(|decision| IamDecision {
                role: decision["role"].as_str().map(str::to_owned),
                action: decision["action"].as_str().unwrap_or_default().to_owned(),
                resources: decision["resources"]
                    .as_array()
                    .map(|all| {
                        all.iter()
                            .filter_map(|r| r.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                allowed: decision["allowed"].as_bool().unwrap_or(false),
            })
            .collect())
    }

    /// The IAM actions the policies of role `role_name` grant, as written in them.
    pub fn role_actions(&self, role_name: &str) -> Result<Vec<String>, KitError> {
        let answer = self.control(
            "GET",
            &format!("/_ecs_drain/iam/role-actions?roleName={role_name}"),
            None,
        )?;
        let actions = answer["actions"]
            .as_array()
            .ok_or("iam/role-actions: no actions")?;
        Ok(actions
            .iter()
            .filter_map(|action| action.as_str().map(str::to_owned))
            .collect())
    }

    /// Environment variables that point a spawned function at the emulator the standard way.
    pub fn function_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    /// A JSON request to one of the extension's test-only endpoints (`/_ecs_drain/...`) or
    /// moto's own (`/moto-api/...`).
    pub fn control(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, KitError> {
        control_request(self.port, method, path, body)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // ECS_DRAIN_KEEP_EMULATOR_LOGS=<dir>: keep each emulator's log there (debugging a test).
        if let Some(dir) = std::env::var_os("ECS_DRAIN_KEEP_EMULATOR_LOGS") {
            let _ = std::fs::copy(
                self.workdir.join("emulator.log"),
                std::path::Path::new(&dir).join(format!("emulator-{}.log", self.port)),
            );
        }
        // Stop the process we started, by its PID.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.workdir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}

/// One authorization the emulator took with IAM enforced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IamDecision {
    /// The assumed role's name, for a role session (None for an IAM user).
    pub role: Option<String>,
    /// The IAM action, e.g. `ecs:ListTasks`.
    pub action: String,
    /// The resource ARNs it was authorized against.
    pub resources: Vec<String>,
    /// Whether the policies allowed it.
    pub allowed: bool,
}

/// SDK configuration for an AWS-protocol endpoint on this machine, with the test credentials
/// (accepted while IAM is not enforced).
pub fn sdk_config_for(endpoint: &str, retry: RetryConfig) -> SdkConfig {
    sdk_config_signed(
        endpoint,
        retry,
        Credentials::new("testing", "testing", None, None, "ecs-drain-tests"),
    )
}

/// SDK configuration for an AWS-protocol endpoint on this machine, signing with `credentials`.
pub fn sdk_config_signed(
    endpoint: &str,
    retry: RetryConfig,
    credentials: Credentials,
) -> SdkConfig {
    let mut builder = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(retry)
        .time_source(aws_smithy_async::time::SystemTimeSource::new());
    builder.set_sleep_impl(aws_smithy_async::rt::sleep::default_async_sleep());
    builder.build()
}

/// One HTTP/1.1 request to the emulator's control endpoints on 127.0.0.1, JSON in and out.
/// (The AWS APIs themselves are only ever called through the real SDK clients.)
pub fn control_request(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, KitError> {
    let payload = body.map(serde_json::Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        payload.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or("malformed HTTP response")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("no HTTP status")?;
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    if !(200..300).contains(&status) {
        return Err(format!("{method} {path} answered {status}: {body}").into());
    }
    if body.trim().is_empty() {
        return Ok(serde_json::Value::Null);
    }
    Ok(serde_json::from_str(&body)?)
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}
