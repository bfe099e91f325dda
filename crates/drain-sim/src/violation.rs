//! What a failed check reports. A leaf: the world records violations as the run goes and the
//! end-of-run checks add theirs, so both import this module and it imports neither.

use std::fmt;

/// Which property failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// The instance could go (or a task was stopped) while work was still alive on it.
    Safety,
    /// A drain did not end through ecs-drain in time.
    Liveness,
    /// CompleteLifecycleAction did not succeed exactly once.
    ExactlyOnce,
    /// The drain record disagrees with what happened.
    Consistency,
    /// A handler returned an error, or the run did not settle.
    Harness,
}

/// One failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// The property.
    pub kind: ViolationKind,
    /// Virtual seconds since the run's start.
    pub at_seconds: i64,
    /// What happened.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{:?} at t={}s] {}",
            self.kind, self.at_seconds, self.message
        )
    }
}
