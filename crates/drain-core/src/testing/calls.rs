//! The AWS call-cost model: how many calls of each operation an event costs when the real
//! adapters (crate `drain-aws`) serve the drain. The integration test that counts calls at the
//! wire and the benchmark that reports calls per event both predict from here, so the two
//! cannot drift apart; a change here is a change in what every drain pays.
//!
//! Census formula (pages(x) = max(1, ceil(x / 100))): pages(running listed) + pages(stopped
//! listed) ListTasks, ceil(d / 100) DescribeTasks where d counts every task listed as desired
//! RUNNING and the desired-STOPPED ones the drain does not already know are STOPPED
//! (`decision::look::tasks_to_describe`; every listed task at the drain's first census), and
//! one DescribeServices (≤ 10 services) only for services the drain has not looked up yet (so
//! once per drain).
//!
//! A whole drain of N tasks (N - 1 replicas of one service, one daemon) under the default
//! census rule ([`CensusRule::WhenNeeded`]): the notice (11 calls up to 100 tasks), N - 2
//! STOPPED events of known replicas at GetItem + PutItem each, the last replica's event that
//! confirms only the daemon is left and stops it (6), the daemon's event that completes (7),
//! and the drain's pending check firing afterwards (1 GetItem: the completion leaves it to
//! fire instead of deleting it): 11 + 2 (N - 2) + 6 + 7 + 1 = **2N + 21** up to 100 tasks, 14
//! of them ECS calls. Past 100 tasks only the notice's census describes in hundreds: the two
//! confirming censuses describe the two tasks (then one) not yet known STOPPED, one
//! DescribeTasks each. Under [`CensusRule::EveryLook`] every STOPPED event takes a census:
//! 5N + 15 up to 100 tasks.

use std::collections::BTreeMap;

use crate::decision::look::CensusRule;

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

/// One look at the tasks of a draining instance that knows none of them STOPPED: every
/// listed task described (see the module docs for the formula).
pub fn census(running_listed: u64, stopped_listed: u64, service_task_alive: bool) -> CallCounts {
    census_describing(
        running_listed,
        stopped_listed,
        running_listed + stopped_listed,
        service_task_alive,
    )
}

/// One look at the tasks of a draining instance that describes `described` of the listed
/// tasks (those its record does not know are STOPPED).
pub fn census_describing(
    running_listed: u64,
    stopped_listed: u64,
    described: u64,
    service_task_alive: bool,
) -> CallCounts {
    let pages = |listed: u64| listed.div_ceil(100).max(1);
    counts(&[
        (
            "ecs:ListTasks",
            pages(running_listed) + pages(stopped_listed),
        ),
        ("ecs:DescribeTasks", described.div_ceil(100)),
        ("ecs:DescribeServices", u64::from(service_task_alive)),
    ])
}

/// A STOPPED event for an instance that is not draining: one consistent GetItem. Every task
/// stop in every watched cluster pays this.
pub fn unrelated_stopped() -> CallCounts {
    counts(&[("dynamodb:GetItem", 1)])
}

/// The terminate notice that starts a drain, with the census it takes: ListContainerInstances
/// and DescribeContainerInstances (find and confirm the instance),
/// DescribeAutoScalingInstances (the group holds the instance in Terminating:Wait),
/// DescribeLifecycleHooks (the heartbeat timeout), UpdateContainerInstancesState (DRAINING),
/// the census, one PutItem (the conditional insert of the record with the census and the first
/// check: a record already on file comes back in its failed condition, so no GetItem) and
/// CreateSchedule (the first check, once the insert is in).
pub fn drain_start(census: &CallCounts) -> CallCounts {
    merged(
        census,
        &counts(&[
            ("ecs:ListContainerInstances", 1),
            ("ecs:DescribeContainerInstances", 1),
            ("autoscaling:DescribeAutoScalingInstances", 1),
            ("autoscaling:DescribeLifecycleHooks", 1),
            ("ecs:UpdateContainerInstancesState", 1),
            ("dynamodb:PutItem", 1),
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
/// CompleteLifecycleAction and the COMPLETED PutItem (7 for a small instance). No scheduler
/// call: the drain's pending check is left to fire ([`check_after_the_end`]).
pub fn stopped_completing(census: &CallCounts) -> CallCounts {
    merged(
        census,
        &counts(&[
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 2),
            ("autoscaling:CompleteLifecycleAction", 1),
        ]),
    )
}

/// The check an ended drain left pending, when it fires: one GetItem finds the drain ended;
/// nothing is deleted (the one-shot schedule deletes itself after this invocation).
pub fn check_after_the_end() -> CallCounts {
    counts(&[("dynamodb:GetItem", 1)])
}

/// A terminate notice delivered again after its drain ended, while the container instance is
/// still registered: finding the instance and asking Auto Scaling, which no longer holds it
/// for the action (refused before anything else is read).
pub fn notice_after_the_end() -> CallCounts {
    counts(&[
        ("ecs:ListContainerInstances", 1),
        ("ecs:DescribeContainerInstances", 1),
        ("autoscaling:DescribeAutoScalingInstances", 1),
    ])
}

/// A STOPPED event of a task the drain's alive set knows, with replica or standalone tasks
/// left: GetItem and one conditional PutItem of the set, no ECS call.
pub fn stopped_known_task() -> CallCounts {
    counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)])
}

/// The calls of `ecs:` operations alone.
pub fn ecs_only(counts: &CallCounts) -> CallCounts {
    counts
        .iter()
        .filter(|(operation, _)| operation.starts_with("ecs:"))
        .map(|(operation, count)| (operation.clone(), *count))
        .collect()
}

/// Every STOPPED event of a drain of `replicas` replica tasks of one service and one daemon
/// task under `rule`: the replicas stop one by one (after the last one only the daemon is left
/// and ecs-drain stops it), then the daemon's STOPPED event completes the drain. The service
/// kinds were looked up by the drain's first census, so no later census describes services.
///
/// Under [`CensusRule::WhenNeeded`] the alive set knows every replica: their events cost
/// [`stopped_known_task`] each, except the last one's, which confirms with a census that only
/// the daemon is left before stopping it.
///
/// Under either rule, when the k-th replica's event comes the record knows the k - 1 replicas
/// before it are STOPPED (from their events, or from the censuses that described them), so a
/// census then describes only the tasks still running and the k-th replica; the completing
/// census describes the daemon alone.
pub fn stopped_events_of_a_drain(replicas: u64, rule: CensusRule) -> CallCounts {
    let listed = replicas + 1;
    let mut out = CallCounts::new();
    for stopped in 1..=replicas {
        let last = stopped == replicas;
        let event = if rule == CensusRule::WhenNeeded && !last {
            stopped_known_task()
        } else {
            let running = listed - stopped;
            stopped_while_waiting(
                &census_describing(running, stopped, running + 1, false),
                u64::from(last),
            )
        };
        out = merged(&out, &event);
    }
    merged(
        &out,
        &stopped_completing(&census_describing(0, listed, 1, false)),
    )
}

/// A whole drain of `tasks` tasks (`tasks - 1` replicas of one service, one daemon) under
/// `rule`: the notice with its census, every STOPPED event, and the check the notice booked
/// firing after the end.
pub fn whole_drain(tasks: u64, rule: CensusRule) -> CallCounts {
    let handled = merged(
        &drain_start(&census(tasks, 0, tasks > 0)),
        &stopped_events_of_a_drain(tasks.saturating_sub(1), rule),
    );
    merged(&handled, &check_after_the_end())
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
    fn a_whole_drain_of_up_to_a_hundred_tasks_costs_two_calls_per_task_and_twenty_one() {
        for tasks in [2u64, 5, 20, 100] {
            let whole = whole_drain(tasks, CensusRule::WhenNeeded);
            assert_eq!(total(&whole), 2 * tasks + 21, "{tasks} tasks");
            assert!(
                !whole
                    .keys()
                    .any(|operation| operation.starts_with("scheduler:")
                        && operation != "scheduler:CreateSchedule"),
                "the drain only books its one check: {whole:?}"
            );
            assert_eq!(whole["scheduler:CreateSchedule"], 1);
            assert_eq!(total(&ecs_only(&whole)), 14, "{tasks} tasks: ECS calls");
            assert_eq!(whole["autoscaling:CompleteLifecycleAction"], 1);
            assert_eq!(whole["ecs:StopTask"], 1, "the daemon, once");
            assert_eq!(whole["ecs:DescribeServices"], 1, "services looked up once");
        }
    }

    #[test]
    fn every_look_costs_a_census_per_event() {
        for tasks in [2u64, 5, 20, 100] {
            let whole = whole_drain(tasks, CensusRule::EveryLook);
            // GetItem + census (2 ListTasks, 1 DescribeTasks) + PutItem per replica event; the
            // services were looked up once, by the notice's census
            assert_eq!(total(&whole), 5 * tasks + 15, "{tasks} tasks");
        }
    }

    #[test]
    fn past_a_hundred_tasks_each_census_lists_in_hundreds_and_only_the_first_describes_them_all() {
        // 150 tasks: the notice's census lists 150 running (2 pages) and describes 150 (2
        // calls); the two confirming censuses list 149-150 stopped (2 pages) and describe only
        // the tasks not known STOPPED (the daemon and the last replica, then the daemon).
        let whole = whole_drain(150, CensusRule::WhenNeeded);
        assert_eq!(whole["ecs:ListTasks"], 3 + 3 + 3);
        assert_eq!(whole["ecs:DescribeTasks"], 2 + 1 + 1);
        assert_eq!(total(&whole), 2 * 150 + 25);
        assert_eq!(total(&ecs_only(&whole)), 18);
        let whole = whole_drain(1_000, CensusRule::WhenNeeded);
        assert_eq!(whole["ecs:ListTasks"], 11 * 3);
        assert_eq!(whole["ecs:DescribeTasks"], 10 + 1 + 1);
        assert_eq!(total(&whole), 2 * 1_000 + 57);
        assert_eq!(total(&ecs_only(&whole)), 50);
    }

    #[test]
    fn a_census_describes_in_hundreds_only_what_it_describes() {
        assert_eq!(
            census_describing(1, 999, 2, false),
            counts(&[("ecs:ListTasks", 11), ("ecs:DescribeTasks", 1)])
        );
        assert_eq!(
            census_describing(0, 4, 0, false),
            counts(&[("ecs:ListTasks", 2)]),
            "nothing to describe: no DescribeTasks"
        );
    }

    #[test]
    fn a_notice_that_starts_a_drain_of_a_small_instance_costs_eleven_calls() {
        let notice = drain_start(&census(5, 0, true));
        assert_eq!(total(&notice), 11);
        assert_eq!(
            notice.get("dynamodb:GetItem"),
            None,
            "the insert answers the record"
        );
        assert_eq!(notice["dynamodb:PutItem"], 1, "one conditional insert");
        assert_eq!(notice["scheduler:CreateSchedule"], 1);
    }

    #[test]
    fn the_completion_costs_seven_calls_and_its_late_check_one_read() {
        let completing = stopped_completing(&census(0, 5, false));
        assert_eq!(total(&completing), 7);
        assert!(
            !completing
                .keys()
                .any(|operation| operation.starts_with("scheduler:"))
        );
        assert_eq!(check_after_the_end(), counts(&[("dynamodb:GetItem", 1)]));
    }

    #[test]
    fn counts_leave_out_operations_never_called() {
        assert_eq!(
            counts(&[("ecs:StopTask", 0), ("dynamodb:GetItem", 1)]),
            unrelated_stopped()
        );
    }
}
