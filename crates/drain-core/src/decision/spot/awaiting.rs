//! An early drain before the group's terminate action joins it: what a look does when the
//! drain decision says "complete" but there is no lifecycle action to complete, and how such a
//! drain ends when no action ever comes.
//!
//! With capacity rebalancing, or when the group itself reacts to the interruption, the
//! terminate action follows the warning within moments; a Spot instance outside any group (or
//! a group without our hook) never gets one. So a drain with nothing left waits for the action
//! a bounded time past its deadline ([`ACTION_WAIT_SECONDS`]), then ends without a completion,
//! and an instance that stays in service is given back to ECS (ACTIVE), as an expired drain's is.

use crate::census::AliveCounts;
use crate::decision::verify::AfterExpiry;
use crate::decision::{Decision, WaitingOn};
use crate::ids::quoted;
use crate::ports::{AsgInstanceState, EcsInstanceStatus};
use crate::record::{DrainKind, DrainRecord};
use crate::time::Timestamp;

/// How long past its deadline an early drain waits for the group's terminate action. Ten
/// minutes: the group sends it within seconds of the interruption when it sends one at all,
/// and a few scheduled checks (a minute apart for a drain with no hook) fit in it.
pub const ACTION_WAIT_SECONDS: i64 = 600;

/// What one look at a drain does, given whether a lifecycle action holds the instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AwaitingLook {
    /// Apply this decision as for any drain.
    Proceed(Decision),
    /// No action came within [`ACTION_WAIT_SECONDS`] past the deadline: end the drain without
    /// a completion.
    End,
}

/// Adjusts the drain decision of a look at `record` for a drain no lifecycle action holds
/// yet. A drain with an action proceeds unchanged. Without one, a completion (nothing alive,
/// or the deadline's completion) becomes a wait for the action until the wait runs out; a
/// rebalance drain never stops tasks at its deadline (the instance may well stay: a
/// recommendation schedules no interruption), while an interruption's do stop at the
/// horizon, so ECS replaces them at once instead of when the agent disconnects.
pub fn awaiting_look(
    record: &DrainRecord,
    decision: Decision,
    alive: AliveCounts,
    now: Timestamp,
) -> AwaitingLook {
    if !record.awaiting_action {
        return AwaitingLook::Proceed(decision);
    }
    let waits_for_action = match &decision {
        Decision::Complete { .. } => true,
        Decision::EnforceDeadline { .. } => record.kind == DrainKind::Rebalance,
        Decision::Finished { .. }
        | Decision::ClaimedElsewhere
        | Decision::Wait { .. }
        | Decision::StopDaemons { .. } => false,
    };
    if !waits_for_action {
        return AwaitingLook::Proceed(decision);
    }
    if now >= record.deadline_at.plus_seconds(ACTION_WAIT_SECONDS) {
        AwaitingLook::End
    } else {
        AwaitingLook::Proceed(Decision::Wait {
            alive,
            waiting_on: WaitingOn::LifecycleAction,
        })
    }
}

/// What follows an early drain that ended without an action, from where Auto Scaling has the
/// instance and its container instance's status: an instance that stays in its group is put
/// back to ACTIVE (the warning did not end it, or the recommendation passed), one going away
/// or in no group is left as it is.
pub fn after_awaiting(
    kind: DrainKind,
    state: Option<&AsgInstanceState>,
    container_status: Option<&EcsInstanceStatus>,
) -> AfterExpiry {
    let what = kind.as_str();
    let Some(state) = state else {
        return AfterExpiry::Leave {
            reason: format!(
                "{what} drain ended without a lifecycle action: no group holds the instance"
            ),
        };
    };
    let lifecycle = quoted(state.lifecycle_state.as_str());
    if state.lifecycle_state.is_going_away() {
        return AfterExpiry::Leave {
            reason: format!(
                "{what} drain ended without a lifecycle action: the instance is {lifecycle}"
            ),
        };
    }
    match container_status {
        Some(EcsInstanceStatus::Draining) => AfterExpiry::RestoreActive {
            reason: format!(
                "{what} drain ended without a lifecycle action and the instance is \
                 {lifecycle}: the container instance was put back to ACTIVE"
            ),
        },
        _ => AfterExpiry::Leave {
            reason: format!(
                "{what} drain ended without a lifecycle action; the instance is {lifecycle}"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::CompletionReason;
    use crate::ids::TaskArn;
    use crate::ports::LifecycleState;
    use crate::record::LifecycleResult;

    fn early(kind: DrainKind) -> DrainRecord {
        DrainRecord {
            kind,
            awaiting_action: true,
            deadline_at: Timestamp(1_000_120),
            ..crate::testing::sample::drain_record()
        }
    }

    fn task() -> TaskArn {
        TaskArn::new("arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/0a1b2c3d4e5f")
            .expect("task arn")
    }

    #[test]
    fn a_drain_without_an_action_waits_for_one_instead_of_completing_then_ends() {
        let drained = Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained,
        };
        let enforced = Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::DeadlineEnforced,
        };
        let stop = Decision::EnforceDeadline {
            tasks: vec![task()],
        };
        let daemons = Decision::StopDaemons {
            tasks: vec![task()],
        };
        let none = AliveCounts::default();
        let wait = AwaitingLook::Proceed(Decision::Wait {
            alive: none,
            waiting_on: WaitingOn::LifecycleAction,
        });
        let before = Timestamp(1_000_030);
        let in_wait = Timestamp(1_000_120 + ACTION_WAIT_SECONDS - 1);
        let after = Timestamp(1_000_120 + ACTION_WAIT_SECONDS);
        let joined = DrainRecord {
            awaiting_action: false,
            ..early(DrainKind::Interruption)
        };
        let rows = [
            (
                "action joined: proceed",
                joined,
                drained.clone(),
                before,
                AwaitingLook::Proceed(drained.clone()),
            ),
            (
                "nothing alive, no action yet: wait for it",
                early(DrainKind::Interruption),
                drained.clone(),
                before,
                wait.clone(),
            ),
            (
                "deadline enforced, no action yet: still in the wait",
                early(DrainKind::Interruption),
                enforced.clone(),
                in_wait,
                wait.clone(),
            ),
            (
                "the wait ran out: end without a completion",
                early(DrainKind::Interruption),
                drained.clone(),
                after,
                AwaitingLook::End,
            ),
            (
                "an interruption stops what is left at the horizon",
                early(DrainKind::Interruption),
                stop.clone(),
                in_wait,
                AwaitingLook::Proceed(stop.clone()),
            ),
            (
                "a rebalance drain never stops tasks: it waits",
                early(DrainKind::Rebalance),
                stop.clone(),
                in_wait,
                wait.clone(),
            ),
            (
                "a rebalance drain past its wait ends",
                early(DrainKind::Rebalance),
                stop,
                after,
                AwaitingLook::End,
            ),
            (
                "daemons are stopped last as in any drain",
                early(DrainKind::Rebalance),
                daemons.clone(),
                before,
                AwaitingLook::Proceed(daemons),
            ),
        ];
        for (story, record, decision, now, expected) in rows {
            assert_eq!(
                awaiting_look(&record, decision, none, now),
                expected,
                "{story}"
            );
        }
    }

    #[test]
    fn an_instance_that_stays_in_its_group_is_given_back_to_ecs() {
        let state = |text: &str| AsgInstanceState {
            group: "prod-ecs-asg".into(),
            lifecycle_state: LifecycleState::parse(text),
        };
        let draining = EcsInstanceStatus::Draining;
        let in_service = state("InService");
        let going = state("Terminating:Proceed");
        let restored = |outcome: &AfterExpiry| matches!(outcome, AfterExpiry::RestoreActive { .. });
        assert!(restored(&after_awaiting(
            DrainKind::Rebalance,
            Some(&in_service),
            Some(&draining)
        )));
        assert!(restored(&after_awaiting(
            DrainKind::Interruption,
            Some(&in_service),
            Some(&draining)
        )));
        for (story, kind, state, status) in [
            (
                "terminating",
                DrainKind::Interruption,
                Some(&going),
                Some(&draining),
            ),
            (
                "in no group",
                DrainKind::Interruption,
                None,
                Some(&draining),
            ),
            (
                "already ACTIVE",
                DrainKind::Rebalance,
                Some(&in_service),
                Some(&EcsInstanceStatus::Active),
            ),
            (
                "no container instance",
                DrainKind::Rebalance,
                Some(&in_service),
                None,
            ),
        ] {
            assert!(!restored(&after_awaiting(kind, state, status)), "{story}");
        }
        let AfterExpiry::Leave { reason } = after_awaiting(DrainKind::Interruption, None, None)
        else {
            unreachable!("left as it is");
        };
        assert!(reason.starts_with("interruption drain ended"), "{reason}");
    }
}
