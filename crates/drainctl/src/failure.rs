//! The one way drainctl fails: a one-line message with a hint, an exit code a script can act
//! on, and the full cause chain kept for `--debug`.

use std::error::Error as StdError;

use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use drain_core::DrainError;
use drain_core::error::{DeploymentProblem, error_chain};

/// The process exit codes (README, "drainctl").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// Success.
    Ok = 0,
    /// AWS refused or failed, or the configuration is wrong.
    Aws = 1,
    /// The command line is wrong.
    Usage = 2,
    /// No drain matches what was asked for.
    NotFound = 3,
    /// doctor found problems, or status found overdue drains.
    Findings = 4,
}

/// Longest message or hint printed on the error line: AWS messages can be long.
const MAX_LINE_CHARS: usize = 300;

/// Why a command could not do its job.
#[derive(Debug)]
pub(crate) struct Failure {
    /// The exit code.
    pub(crate) exit: Exit,
    /// What went wrong, in one line.
    pub(crate) message: String,
    /// What to do about it.
    pub(crate) hint: String,
    /// The full cause chain, printed with `--debug`.
    pub(crate) detail: Option<String>,
}

impl Failure {
    /// A failure without an underlying cause.
    pub(crate) fn new(exit: Exit, message: impl Into<String>, hint: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            hint: hint.into(),
            detail: None,
        }
    }

    /// The error line: `drainctl: <message> (hint: <hint>)`, cut to a bounded length.
    pub(crate) fn line(&self) -> String {
        format!(
            "drainctl: {} (hint: {})",
            bounded(&self.message),
            bounded(&self.hint)
        )
    }

    /// An AWS call failed: says which of the usual configuration problems it is (missing or
    /// refused credentials, an unreachable endpoint, a missing resource, a denied permission),
    /// `resource` naming what the call was about (e.g. `table ecs-drain`).
    pub(crate) fn aws(error: &DrainError, resource: &str) -> Failure {
        let detail = Some(error_chain(error));
        let operation = operation_of(error);
        let (message, hint) = if chain_has::<CredentialsError>(error) {
            (
                format!("{operation}: no AWS credentials could be loaded"),
                "pass --profile, set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or log in (aws sso login)".to_owned(),
            )
        } else if chain_has::<ConnectorError>(error) {
            (
                format!("{operation}: the AWS endpoint could not be reached"),
                "check the network, --region, and AWS_ENDPOINT_URL if one is set".to_owned(),
            )
        } else {
            match error {
                DrainError::Deployment { problem, .. } => match problem {
                    DeploymentProblem::Credentials => (
                        format!("{operation}: AWS refused the credentials (expired or unknown)"),
                        "refresh them (aws sso login) or pick another --profile".to_owned(),
                    ),
                    DeploymentProblem::MissingResource => (
                        format!("{operation}: {resource} does not exist"),
                        "check --table or --stack-name and --region".to_owned(),
                    ),
                    DeploymentProblem::AccessDenied => (
                        format!("{operation}: access denied"),
                        "attach the stack's drainctl policies to your identity (outputs DrainctlReadOnlyPolicyArn; DrainctlOperatorPolicyArn to act; DrainctlCancelPolicyArn to cancel)".to_owned(),
                    ),
                    DeploymentProblem::InvalidSetting => (
                        format!("{operation}: AWS rejected a setting"),
                        "run with --debug for AWS's answer".to_owned(),
                    ),
                },
                DrainError::Transient { .. } => (
                    format!("{operation} failed: {}", root_cause(error)),
                    "AWS answered with a transient error: try again".to_owned(),
                ),
                DrainError::Permanent { .. } => (
                    format!("{operation} failed: {}", root_cause(error)),
                    "run with --debug for the whole answer".to_owned(),
                ),
            }
        };
        Failure {
            exit: Exit::Aws,
            message,
            hint,
            detail,
        }
    }
}

fn operation_of(error: &DrainError) -> &'static str {
    match error {
        DrainError::Transient { operation, .. }
        | DrainError::Permanent { operation, .. }
        | DrainError::Deployment { operation, .. } => operation,
    }
}

fn chain_has<T: StdError + 'static>(error: &(dyn StdError + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(inner) = cause {
        if inner.is::<T>() {
            return true;
        }
        cause = inner.source();
    }
    false
}

fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut cause = error;
    while let Some(inner) = cause.source() {
        cause = inner;
    }
    cause.to_string()
}

fn bounded(text: &str) -> String {
    let single: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if single.chars().count() <= MAX_LINE_CHARS {
        single
    } else {
        let cut: String = single.chars().take(MAX_LINE_CHARS).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_line_is_one_bounded_line_with_the_hint() {
        let failure = Failure::new(Exit::Aws, format!("a\nb{}", "x".repeat(1000)), "do this");
        let line = failure.line();
        assert!(!line.contains('\n'), "{line}");
        assert!(line.chars().count() < 2 * MAX_LINE_CHARS, "{line}");
        assert!(line.ends_with("(hint: do this)"), "{line}");
    }

    #[test]
    fn a_missing_table_is_named_with_its_fix() {
        let error = DrainError::Deployment {
            operation: "dynamodb:Scan",
            problem: DeploymentProblem::MissingResource,
            source: "ResourceNotFoundException: Requested resource not found".into(),
        };
        let failure = Failure::aws(&error, "table nope");
        assert_eq!(failure.exit, Exit::Aws);
        assert_eq!(failure.message, "dynamodb:Scan: table nope does not exist");
        assert!(
            failure
                .detail
                .as_deref()
                .is_some_and(|detail| detail.contains("Requested resource not found"))
        );
    }
}
