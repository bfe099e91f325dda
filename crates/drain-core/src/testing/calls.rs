//! The AWS call-cost model: how many calls of each operation an event costs when the real
//! adapters (crate `drain-aws`) serve the drain. The integration test that counts calls at the
//! wire and the benchmark that reports calls per event both predict from here, so the two
//! cannot drift apart; a change here is a change in what every drain pays.
//!
//! Census formula (n = tasks listed on the instance, running + stopped;
//! pages(x) = max(1, ceil(x / 100))): pages(running) + pages(stopped) ListTasks,
//! ceil(n / 100) DescribeTasks, and one DescribeServices (≤ 10 services) only while a service
//! task is alive. A whole drain of N ≤ 100 tasks (N - 1 replicas, one daemon) therefore costs
//! 13 + 6 (N - 1) + 1 + 9 = 6N + 17 calls.

use std::collections::BTreeMap;

/// Calls per operation (`service:Operation` → count), as the counting proxy reports them.
pub type CallCounts = BTreeMap<String, u64>;

/// Counts from `(operation, count)` pairs; pairs naming the same operation add up, and zero
/// counts are left out (the proxy never reports an operation it did not see).
pub fn counts(pairs: &[(&str, u64)]) -> CallCounts {
    let mut out = CallCounts::new();
    for (operation, count) in pairs {
        add(&mut out, operation, *count);
    }
    out
}

/// Adds `count` calls of `operation`.
pub fn add(counts: &mut CallCounts, operation: &str, count: u64) {
    if count > 0 {
        *counts.entry(operation.to_owned()).or_default() += count;
    }
}

/// `a` and `b` together.
pub fn merged(a: &CallCounts, b: &CallCounts) -> CallCounts {
    let mut out = a.clone();
    for (operation, count) in b {
        add(&mut out, operation, *count);
    }
    out
}

/// The number of calls of every operation.
pub fn total(counts: &CallCounts) -> u64 {
    counts.values().sum()
}

/// One look at the tasks of a draining instance (see the module docs for the formula).
pub fn census(running_listed: u64, stopped_listed: u64, service_task_alive: bool) -> CallCounts {
    let pages = |listed: u64| listed.div_ceil(100).max(1);
    counts(&[
        (
            "ecs:ListTasks",
            pages(running_listed) + pages(stopped_listed),
        ),
        (
            "ecs:DescribeTasks",
            (running_listed + stopped_listed).div_ceil(100),
        ),
        ("ecs:DescribeServices", u64::from(service_task_alive)),
    ])
}

/// A STOPPED event for an instance that is not draining: one consistent GetItem. Every task
/// stop in every watched cluster pays this.
pub fn unrelated_stopped() -> CallCounts {
    counts(&[("dynamodb:GetItem", 1)])
}

/// The terminate notice that starts a drain, with the census it takes: ListContainerInstances
/// and DescribeContainerInstances (find and confirm the instance), GetItem (any drain on
/// record?), DescribeAutoScalingInstances (the group holds the instance in Terminating:Wait),
/// DescribeLifecycleHooks (the heartbeat timeout), PutItem (insert),
/// UpdateContainerInstancesState (DRAINING), the census, CreateSchedule (the first check) and
/// PutItem (progress).
pub fn drain_start(census: &CallCounts) -> CallCounts {
    merged(
        census,
        &counts(&[
            ("ecs:ListContainerInstances", 1),
            ("ecs:DescribeContainerInstances", 1),
            ("dynamodb:GetItem", 1),
            ("autoscaling:DescribeAutoScalingInstances", 1),
            ("autoscaling:DescribeLifecycleHooks", 1),
            ("dynamodb:PutItem", 2),
            ("ecs:UpdateContainerInstancesState", 1),
            ("scheduler:CreateSchedule", 1),
        ]),
    )
}

/// A STOPPED event on a draining instance that still waits: GetItem, the census, one PutItem
/// of progress, and one StopTask per daemon task once only daemons are left.
pub fn stopped_while_waiting(census: &CallCounts, daemons_stopped: u64) -> CallCounts {
    merged(
        census,
        &counts(&[
            ("dynamodb:GetItem", 1),
            ("ecs:StopTask", daemons_stopped),
            ("dynamodb:PutItem", 1),
        ]),
    )
}

/// The STOPPED event that completes a drain: GetItem, the census, the claim PutItem,
/// CompleteLifecycleAction, the COMPLETED PutItem, and GetSchedule (proof the schedule checks
/// this instance) before DeleteSchedule.
pub fn stopped_completing(census: &CallCounts) -> CallCounts {
    merged(
        census,
        &counts(&[
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 2),
            ("autoscaling:CompleteLifecycleAction", 1),
            ("scheduler:GetSchedule", 1),
            ("scheduler:DeleteSchedule", 1),
        ]),
    )
}

/// A terminate notice delivered again after its drain ended: finding the instance and reading
/// the record.
pub fn notice_after_the_end() -> CallCounts {
    counts(&[
        ("ecs:ListContainerInstances", 1),
        ("ecs:DescribeContainerInstances", 1),
        ("dynamodb:GetItem", 1),
    ])
}

/// Every STOPPED event of a drain of `replicas` replica tasks of one service and one daemon
/// task: the replicas stop one by one (after the last one only the daemon is left and
/// ecs-drain stops it), then the daemon's STOPPED event completes the drain.
pub fn stopped_events_of_a_drain(replicas: u64) -> CallCounts {
    let listed = replicas + 1;
    let mut out = CallCounts::new();
    for stopped in 1..=replicas {
        let daemons_stopped = u64::from(stopped == replicas);
        out = merged(
            &out,
            &stopped_while_waiting(&census(listed - stopped, stopped, true), daemons_stopped),
        );
    }
    merged(&out, &stopped_completing(&census(0, listed, false)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_census_lists_each_desired_status_at_least_once_and_describes_in_hundreds() {
        assert_eq!(census(0, 0, false), counts(&[("ecs:ListTasks", 2)]));
        assert_eq!(
            census(59, 51, false),
            counts(&[("ecs:ListTasks", 2), ("ecs:DescribeTasks", 2)])
        );
        assert_eq!(
            census(150, 0, true),
            counts(&[
                ("ecs:ListTasks", 3),
                ("ecs:DescribeTasks", 2),
                ("ecs:DescribeServices", 1)
            ])
        );
    }

    #[test]
    fn a_whole_drain_of_up_to_a_hundred_tasks_costs_six_calls_per_task_and_seventeen() {
        for tasks in [2u64, 5, 20, 100] {
            let whole = merged(
                &drain_start(&census(tasks, 0, true)),
                &stopped_events_of_a_drain(tasks - 1),
            );
            assert_eq!(total(&whole), 6 * tasks + 17, "{tasks} tasks");
            assert_eq!(whole["autoscaling:CompleteLifecycleAction"], 1);
            assert_eq!(whole["ecs:StopTask"], 1, "the daemon, once");
        }
    }

    #[test]
    fn counts_leave_out_operations_never_called() {
        assert_eq!(
            counts(&[("ecs:StopTask", 0), ("dynamodb:GetItem", 1)]),
            unrelated_stopped()
        );
    }
}
