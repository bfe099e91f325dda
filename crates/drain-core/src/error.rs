//! The one error type the use cases return. Expected outcomes (a lost conditional-write race,
//! a lifecycle action that is already gone) are not errors: the ports return them as values.

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
    /// Access denied, validation errors, unexpected responses: retrying will not help.
    #[error("{operation} failed")]
    Permanent {
        /// The AWS operation or step.
        operation: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl DrainError {
    /// Whether Lambda should run the handler again (return Err) rather than log and ack.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DrainError::Transient { .. })
    }

    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        match self {
            DrainError::Transient { operation, .. } | DrainError::Permanent { operation, .. } => operation,
        }
    }

    /// A transient failure of `operation` with a plain message (used by in-memory ports).
    pub fn transient(operation: &'static str, message: impl Into<String>) -> DrainError {
        DrainError::Transient { operation, source: message.into().into() }
    }

    /// A permanent failure of `operation` with a plain message.
    pub fn permanent(operation: &'static str, message: impl Into<String>) -> DrainError {
        DrainError::Permanent { operation, source: message.into().into() }
    }
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
        assert_eq!(error_chain(&error), "ecs:ListTasks failed with a transient error: ThrottlingException: Rate exceeded");
        assert!(!DrainError::permanent("ecs:StopTask", "AccessDenied").is_retryable());
    }
}
