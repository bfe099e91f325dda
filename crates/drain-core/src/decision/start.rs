//! The facts a new drain starts from, read with suspicion: when the notice was sent, and what
//! to plan with when the hook's heartbeat timeout cannot be read. Pure: the drainer reads the
//! facts, asks here what they mean, and applies the answer.

use crate::error::DrainError;
use crate::time::Timestamp;

/// When the notice counts as sent: its send time, but never later than `now`. A send time in
/// the future is not believable (a forged notice would otherwise make the real, earlier one
/// look stale); a notice without one counts as sent now.
pub fn believable_notice_time(sent_at: Option<Timestamp>, now: Timestamp) -> Timestamp {
    sent_at.map_or(now, |sent| sent.min(now))
}

/// What a new drain plans with, given what DescribeLifecycleHooks answered.
#[derive(Debug)]
pub enum HeartbeatTimeout {
    /// The answer: the hook's timeout, or None for a hook Auto Scaling does not report.
    Known(Option<i64>),
    /// The lookup failed for this input only: plan as for an unknown timeout (checks every
    /// minute, see `plan_check_interval`), and say why in the log.
    FallBack(DrainError),
    /// The lookup failed in a way that fails the invocation (a missing grant, throttling):
    /// fail loud and retry rather than drain with slower guesses.
    Fail(DrainError),
}

/// Reads DescribeLifecycleHooks' answer for a new drain. An error that fails the invocation
/// (transient, or a deployment error such as a missing `DescribeLifecycleHooks` grant) is
/// returned: a retry or an operator fixes it. Only a permanent error about this one input falls
/// back to the shortest check interval, which keeps any heartbeat timeout of 30 s or more safe.
pub fn heartbeat_timeout(answer: Result<Option<i64>, DrainError>) -> HeartbeatTimeout {
    match answer {
        Ok(timeout) => HeartbeatTimeout::Known(timeout),
        Err(error) if error.fails_invocation() => HeartbeatTimeout::Fail(error),
        Err(error) => HeartbeatTimeout::FallBack(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::DeploymentProblem;

    #[test]
    fn a_send_time_counts_only_up_to_now() {
        let now = Timestamp(1_000);
        let table = [
            (None, 1_000),
            (Some(Timestamp(900)), 900),
            (Some(Timestamp(1_000)), 1_000),
            (Some(Timestamp(5_000)), 1_000),
        ];
        for (sent, expected) in table {
            assert_eq!(
                believable_notice_time(sent, now),
                Timestamp(expected),
                "{sent:?}"
            );
        }
    }

    #[test]
    fn only_a_permanent_lookup_failure_falls_back_to_an_unknown_timeout() {
        let deployment = DrainError::Deployment {
            operation: "autoscaling:DescribeLifecycleHooks",
            problem: DeploymentProblem::AccessDenied,
            source: "not authorized".into(),
        };
        let table: [(Result<Option<i64>, DrainError>, &str); 5] = [
            (Ok(Some(300)), "known Some(300)"),
            (Ok(None), "known None"),
            (
                Err(DrainError::transient(
                    "autoscaling:DescribeLifecycleHooks",
                    "Throttling",
                )),
                "fail",
            ),
            (Err(deployment), "fail"),
            (
                Err(DrainError::permanent(
                    "autoscaling:DescribeLifecycleHooks",
                    "unexpected answer",
                )),
                "fall back",
            ),
        ];
        for (answer, expected) in table {
            let shown = format!("{answer:?}");
            let verdict = match heartbeat_timeout(answer) {
                HeartbeatTimeout::Known(timeout) => format!("known {timeout:?}"),
                HeartbeatTimeout::FallBack(_) => "fall back".to_owned(),
                HeartbeatTimeout::Fail(_) => "fail".to_owned(),
            };
            assert_eq!(verdict, expected, "{shown}");
        }
    }
}
