//! The one error type the use cases return. Expected outcomes (a lost conditional-write race,
//! a lifecycle action that is already gone) are not errors: the ports return them as values.
//!
//! Three classes, because they call for three different reactions: a transient failure is worth
//! another run of the idempotent handler; a permanent one is about this one input and is logged
//! and acknowledged; a deployment error means the stack itself is wrong (a missing permission,
//! refused credentials, a missing table or cluster, a setting AWS rejects) and fails the
//! invocation, so that Lambda retries, the `Errors` alarm fires and the event reaches the
//! failure queue instead of the hook's default result terminating an instance undrained.

use std::error::Error as StdError;

/// A boxed error cause, kept as `#[source]`.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Something a drain step could not do.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// Throttling, 5xx, timeouts, connection trouble: running the handler again may succeed.
    #[error("{operation} failed with a transient error")]
    Transient {
        /// The AWS operation or step, e.g. `ecs:ListTasks`.
        operation: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// Unexpected responses and refusals about this one input: retrying will not help.
    #[error("{operation} failed")]
    Permanent {
        /// The AWS operation or step.
        operation: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The deployment itself is wrong: no run of the handler can succeed until an operator
    /// fixes the stack, and nobody learns of it unless the invocation fails.
    #[error("{operation} failed: {}", problem.describe())]
    Deployment {
        /// The AWS operation, e.g. `ecs:DescribeContainerInstances` (also the IAM action).
        operation: &'static str,
        /// What is wrong with the deployment.
        problem: DeploymentProblem,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// What is wrong with a deployment, as AWS answered it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeploymentProblem {
    /// AccessDenied, UnauthorizedOperation, ...: the execution role lacks a permission.
    AccessDenied,
    /// The function's credentials could not be loaded, or AWS refused them (expired,
    /// unrecognised, badly signed).
    Credentials,
    /// A resource the settings name does not exist (the table, a configured cluster, the
    /// schedule group).
    MissingResource,
    /// AWS rejected a value that comes from the settings (e.g. the scheduler role).
    InvalidSetting,
}

impl DeploymentProblem {
    /// The name logged in the `problem` field.
    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentProblem::AccessDenied => "access_denied",
            DeploymentProblem::Credentials => "credentials",
            DeploymentProblem::MissingResource => "missing_resource",
            DeploymentProblem::InvalidSetting => "invalid_setting",
        }
    }

    /// A few words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            DeploymentProblem::AccessDenied => "access denied",
            DeploymentProblem::Credentials => "the function's credentials are missing or refused",
            DeploymentProblem::MissingResource => "a resource named in the settings does not exist",
            DeploymentProblem::InvalidSetting => "a setting was rejected",
        }
    }
}

impl DrainError {
    /// Whether running the handler again soon may succeed by itself.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DrainError::Transient { .. })
    }

    /// Whether the handler returns Err (Lambda retries, the `Errors` metric counts it, the event
    /// finally reaches the failure queue) rather than log and acknowledge: transient failures
    /// and deployment errors.
    pub fn fails_invocation(&self) -> bool {
        matches!(
            self,
            DrainError::Transient { .. } | DrainError::Deployment { .. }
        )
    }

    /// What is wrong with the deployment, if this is a deployment error.
    pub fn deployment_problem(&self) -> Option<DeploymentProblem> {
        match self {
            DrainError::Deployment { problem, .. } => Some(*problem),
            _ => None,
        }
    }

    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            DrainError::Transient { operation, .. }
            | DrainError::Permanent { operation, .. }
            | DrainError::Deployment { operation, .. } => operation,
        }
    }

    /// The `error_type` of the Lambda error response: `TransientAwsError`, `DeploymentError`
    /// or `PermanentError` (the last never leaves a handler, which acknowledges it).
    pub fn error_type(&self) -> &'static str {
        match self {
            DrainError::Transient { .. } => "TransientAwsError",
            DrainError::Permanent { .. } => "PermanentError",
            DrainError::Deployment { .. } => "DeploymentError",
        }
    }

    /// A transient failure of `operation` with a plain message (used by in-memory ports).
    pub fn transient(operation: &'static str, message: impl Into<String>) -> DrainError {
        DrainError::Transient {
            operation,
            source: message.into().into(),
        }
    }

    /// A permanent failure of `operation` with a plain message.
    pub fn permanent(operation: &'static str, message: impl Into<String>) -> DrainError {
        DrainError::Permanent {
            operation,
            source: message.into().into(),
        }
    }

    /// A deployment error of `operation` with a plain message (used by in-memory ports).
    pub fn deployment(
        operation: &'static str,
        problem: DeploymentProblem,
        message: impl Into<String>,
    ) -> DrainError {
        DrainError::Deployment {
            operation,
            problem,
            source: message.into().into(),
        }
    }
}

/// At most `max` bytes of `text` (cut at a character boundary, marked with `…`): log fields
/// that carry AWS messages stay bounded whatever AWS answers.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub('…'.len_utf8());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The error and all its causes, joined with `: `, for one log field.
pub fn error_chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        // SDK errors often repeat their cause's message; skip exact repeats.
        if !text.ends_with(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        cause = inner.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_the_operation_and_keeps_the_cause() {
        let error = DrainError::transient("ecs:ListTasks", "ThrottlingException: Rate exceeded");
        assert!(error.is_retryable());
        assert_eq!(
            error_chain(&error),
            "ecs:ListTasks failed with a transient error: ThrottlingException: Rate exceeded"
        );
        assert!(!DrainError::permanent("ecs:StopTask", "AccessDenied").is_retryable());
    }

    #[test]
    fn each_class_has_its_reaction_and_error_type() {
        let transient = DrainError::transient("ecs:ListTasks", "Throttling");
        let permanent = DrainError::permanent("ecs:StopTask", "unexpected answer");
        let deployment = DrainError::deployment(
            "dynamodb:GetItem",
            DeploymentProblem::MissingResource,
            "ResourceNotFoundException",
        );
        assert_eq!(
            [&transient, &permanent, &deployment].map(|error| (
                error.fails_invocation(),
                error.is_retryable(),
                error.error_type()
            )),
            [
                (true, true, "TransientAwsError"),
                (false, false, "PermanentError"),
                (true, false, "DeploymentError")
            ]
        );
        assert_eq!(
            deployment.deployment_problem(),
            Some(DeploymentProblem::MissingResource)
        );
        assert_eq!(permanent.deployment_problem(), None);
        assert_eq!(
            error_chain(&deployment),
            "dynamodb:GetItem failed: a resource named in the settings does not exist: \
             ResourceNotFoundException"
        );
    }

    #[test]
    fn bounded_text_is_cut_at_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&"é".repeat(100), 11);
        assert!(cut.len() <= 11 && cut.ends_with('…'), "{cut}");
        assert_eq!(bounded("abcdefghij", 8), "abcde…");
    }
}
