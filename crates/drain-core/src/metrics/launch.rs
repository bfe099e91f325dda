//! The metrics of launch readiness: what a pending launch reports and the CloudWatch metric
//! each fact yields. `LaunchDeadlinesPassed` carries the stack's launch alarm.

use super::{Sample, completion_samples, count};
use crate::record::LifecycleResult;

/// A pending launch was recorded for a launch action.
pub const LAUNCHES_STARTED: &str = "LaunchesStarted";
/// A launch action was completed (dimensions `Result`, `Reason`).
pub const LAUNCHES_COMPLETED: &str = "LaunchesCompleted";
/// Seconds from the launch notice to its completion (dimensions `Result`, `Reason`).
pub const LAUNCH_DURATION: &str = "LaunchDuration";
/// A launch reached its deadline (or its registration failed) before the instance joined.
pub const LAUNCH_DEADLINES_PASSED: &str = "LaunchDeadlinesPassed";
/// The launch action was gone before ecs-drain completed it.
pub const LAUNCHES_EXPIRED: &str = "LaunchesExpired";
/// A container instance back from the warm pool was set ACTIVE again.
pub const INSTANCES_REACTIVATED: &str = "InstancesReactivated";

/// Something a pending launch did that an operator counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchFact {
    /// A pending launch was recorded.
    Started,
    /// The launch action was completed.
    Completed {
        /// The result sent.
        result: LifecycleResult,
        /// Why (a `LaunchCompletion` name).
        reason: &'static str,
        /// Seconds since the notice.
        duration_seconds: i64,
    },
    /// The deadline policy applied: the instance never became ready in time.
    DeadlinePassed,
    /// The launch action was already gone.
    Expired,
    /// A warm-pool return ecs-drain had drained was set ACTIVE.
    Reactivated,
}

/// The metrics a launch fact yields. Pure.
pub fn samples_of(fact: &LaunchFact) -> Vec<Sample> {
    match *fact {
        LaunchFact::Started => vec![count(LAUNCHES_STARTED)],
        LaunchFact::Completed {
            result,
            reason,
            duration_seconds,
        } => completion_samples(
            (LAUNCHES_COMPLETED, LAUNCH_DURATION),
            result.as_str(),
            reason,
            duration_seconds,
        ),
        LaunchFact::DeadlinePassed => vec![count(LAUNCH_DEADLINES_PASSED)],
        LaunchFact::Expired => vec![count(LAUNCHES_EXPIRED)],
        LaunchFact::Reactivated => vec![count(INSTANCES_REACTIVATED)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_launch_fact_yields_its_metrics() {
        let names = |fact| {
            samples_of(&fact)
                .into_iter()
                .map(|sample| (sample.name, sample.value, sample.dimensions))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(LaunchFact::Started),
            vec![("LaunchesStarted", 1.0, vec![])]
        );
        assert_eq!(
            names(LaunchFact::DeadlinePassed),
            vec![("LaunchDeadlinesPassed", 1.0, vec![])]
        );
        assert_eq!(
            names(LaunchFact::Expired),
            vec![("LaunchesExpired", 1.0, vec![])]
        );
        assert_eq!(
            names(LaunchFact::Reactivated),
            vec![("InstancesReactivated", 1.0, vec![])]
        );
        let dims = vec![("Result", "ABANDON"), ("Reason", "deadline_passed")];
        assert_eq!(
            names(LaunchFact::Completed {
                result: LifecycleResult::Abandon,
                reason: "deadline_passed",
                duration_seconds: 905,
            }),
            vec![
                ("LaunchesCompleted", 1.0, dims.clone()),
                ("LaunchDuration", 905.0, dims)
            ]
        );
    }
}
