//! The one way drainctl's tests run the built binary: the environment of an operator's shell
//! pointed at the emulator (or the counting proxy in front of it), and nothing else from ours
//! (no profile, no instance metadata).

use std::process::{Command, Output, Stdio};

use drain_testkit::KitError;

/// drainctl in that shell, its AWS endpoint `endpoint`, with neither region nor credentials.
pub(crate) fn shell(endpoint: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drainctl"));
    command
        .env_clear()
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .stdin(Stdio::null());
    command
}

/// drainctl with `args`, in region us-east-1, signed with `key` (access key id, secret; None:
/// the emulator's test credentials), its AWS endpoint `endpoint`, with `env` added to its
/// environment.
pub(crate) fn drainctl(
    endpoint: &str,
    key: Option<(&str, &str)>,
    env: &[(String, String)],
    args: &[&str],
) -> Result<Output, KitError> {
    Ok(shell(endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", key.map_or("testing", |key| key.0))
        .env("AWS_SECRET_ACCESS_KEY", key.map_or("testing", |key| key.1))
        .envs(env.iter().map(|(name, value)| (name, value)))
        .args(args)
        .output()?)
}
