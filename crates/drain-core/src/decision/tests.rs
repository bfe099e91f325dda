//! One rule per test. Times are seconds from an arbitrary start.

use super::*;
use crate::census::{LiveTask, TaskSnapshot, TaskStatus};
use crate::record::{DrainStatus, StartPlan};
use recovery::ClaimRetry;

/// When the sample drain started.
const START: Timestamp = crate::testing::sample::STARTED_AT;

fn token(text: &str) -> LifecycleToken {
    LifecycleToken::new(text).expect("valid token")
}

/// The sample drain (started at [`START`], a 300-second heartbeat timeout, a one-hour deadline).
fn record() -> DrainRecord {
    crate::testing::sample::drain_record()
}

fn task(id: &str, kind: TaskKind, last: &str, desired: &str) -> LiveTask {
    let group = match &kind {
        TaskKind::Replica { service } | TaskKind::Daemon { service } => {
            Some(format!("service:{service}"))
        }
        TaskKind::Standalone => Some("family:batch".to_owned()),
    };
    LiveTask {
        snapshot: TaskSnapshot {
            arn: TaskArn::new(format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}"))
                .expect("arn"),
            group,
            started_by: None,
            last_status: TaskStatus::parse(last),
            desired_status: TaskStatus::parse(desired),
        },
        kind,
    }
}

fn replica(id: &str) -> LiveTask {
    task(
        id,
        TaskKind::Replica {
            service: "web".into(),
        },
        "RUNNING",
        "RUNNING",
    )
}
fn daemon(id: &str) -> LiveTask {
    task(
        id,
        TaskKind::Daemon {
            service: "agent".into(),
        },
        "RUNNING",
        "RUNNING",
    )
}
fn standalone(id: &str) -> LiveTask {
    task(id, TaskKind::Standalone, "RUNNING", "RUNNING")
}
fn census(alive: Vec<LiveTask>) -> Census {
    Census {
        alive,
        stuck_services: vec![],
    }
}
fn arn(id: &str) -> TaskArn {
    TaskArn::new(format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}")).expect("arn")
}

/// `decide` on the sample record and `census`, `seconds` after the drain started.
fn decide_after(census: Census, seconds: i64) -> Decision {
    decide(&record(), &census, START.plus_seconds(seconds), &policy())
}

/// The drain keeps waiting for its tasks.
fn assert_waits_on_tasks(decision: &Decision) {
    assert!(
        matches!(
            decision,
            Decision::Wait {
                waiting_on: WaitingOn::Tasks,
                ..
            }
        ),
        "{decision:?}"
    );
}

fn policy() -> DrainPolicy {
    DrainPolicy::default()
}

#[test]
fn completes_with_continue_when_nothing_is_alive() {
    let decision = decide(&record(), &census(vec![]), START.plus_seconds(5), &policy());
    assert_eq!(
        decision,
        Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained
        }
    );
}

#[test]
fn waits_while_a_replica_task_runs() {
    let decision = decide_after(census(vec![replica("r1"), daemon("d1")]), 5);
    assert_eq!(
        decision,
        Decision::Wait {
            alive: AliveCounts {
                replica: 1,
                daemon: 1,
                standalone: 0
            },
            waiting_on: WaitingOn::Tasks
        }
    );
}

#[test]
fn a_task_shutting_down_inside_its_stop_timeout_blocks_completion() {
    for last in ["DEACTIVATING", "STOPPING", "DEPROVISIONING"] {
        let stopping = task(
            "r1",
            TaskKind::Replica {
                service: "web".into(),
            },
            last,
            "STOPPED",
        );
        let decision = decide_after(census(vec![stopping]), 5);
        assert!(
            matches!(
                decision,
                Decision::Wait {
                    waiting_on: WaitingOn::Tasks,
                    ..
                }
            ),
            "{last}: {decision:?}"
        );
    }
}

#[test]
fn waits_for_standalone_tasks_before_the_deadline() {
    let decision = decide_after(census(vec![standalone("s1")]), 1800);
    assert_waits_on_tasks(&decision);
}

#[test]
fn stops_daemon_tasks_only_when_nothing_else_is_alive() {
    let decision = decide_after(census(vec![daemon("d1"), daemon("d2")]), 5);
    assert_eq!(
        decision,
        Decision::StopDaemons {
            tasks: vec![arn("d1"), arn("d2")]
        }
    );
}

#[test]
fn never_stops_daemons_while_a_stopping_replica_is_alive() {
    let stopping = task(
        "r1",
        TaskKind::Replica {
            service: "web".into(),
        },
        "STOPPING",
        "STOPPED",
    );
    let decision = decide_after(census(vec![stopping, daemon("d1")]), 5);
    assert_waits_on_tasks(&decision);
}

#[test]
fn does_not_stop_a_daemon_that_is_already_stopping() {
    let stopping = task(
        "d1",
        TaskKind::Daemon {
            service: "agent".into(),
        },
        "STOPPING",
        "STOPPED",
    );
    let decision = decide_after(census(vec![stopping.clone(), daemon("d2")]), 5);
    assert_eq!(
        decision,
        Decision::StopDaemons {
            tasks: vec![arn("d2")]
        }
    );
    let decision = decide_after(census(vec![stopping]), 5);
    assert!(matches!(
        decision,
        Decision::Wait {
            waiting_on: WaitingOn::DaemonsStopping,
            ..
        }
    ));
}

#[test]
fn a_finished_drain_stays_finished_whatever_the_census() {
    for status in [DrainStatus::Completed, DrainStatus::Expired] {
        let mut finished = record();
        finished.status = status;
        assert_eq!(
            decide(&finished, &census(vec![]), START, &policy()),
            Decision::Finished { status }
        );
        assert_eq!(
            decide(&finished, &census(vec![daemon("d1")]), START, &policy()),
            Decision::Finished { status }
        );
    }
}

#[test]
fn leaves_a_fresh_claim_to_the_invocation_that_made_it() {
    let mut claimed = record();
    claimed.status = DrainStatus::Completing;
    claimed.updated_at = START.plus_seconds(100);
    assert_eq!(
        decide(
            &claimed,
            &census(vec![]),
            START.plus_seconds(110),
            &policy()
        ),
        Decision::ClaimedElsewhere
    );
}

#[test]
fn takes_over_a_claim_whose_invocation_died() {
    let mut claimed = record();
    claimed.status = DrainStatus::Completing;
    claimed.updated_at = START.plus_seconds(100);
    let later = START.plus_seconds(100 + policy().completing_lease_seconds);
    assert!(matches!(
        decide(&claimed, &census(vec![]), later, &policy()),
        Decision::Complete { .. }
    ));
}

#[test]
fn a_takeover_of_a_lapsed_claim_sends_the_claimed_result_not_a_new_decision() {
    let lease = policy().completing_lease_seconds;
    let claim =
        |result| record().claimed(START.plus_seconds(100), "dead-invocation".into(), result);
    let later = START.plus_seconds(100 + lease);
    let sent_again = |result| Decision::Complete {
        result,
        reason: CompletionReason::SentAgain,
    };
    let unclaimed = DrainRecord {
        status: DrainStatus::Completing,
        updated_at: START.plus_seconds(100),
        ..record()
    };
    let nothing_alive = census(vec![]);
    let a_task_alive = census(vec![replica("r1")]);
    // (story, record, census, decision)
    let table = [
        (
            "ABANDON claimed, nothing alive now: ABANDON again, not CONTINUE",
            claim(LifecycleResult::Abandon),
            &nothing_alive,
            sent_again(LifecycleResult::Abandon),
        ),
        (
            "CONTINUE claimed, a task seen alive now: CONTINUE again, no waiting",
            claim(LifecycleResult::Continue),
            &a_task_alive,
            sent_again(LifecycleResult::Continue),
        ),
        (
            "a claim that names no result (written before results were claimed): decided afresh",
            unclaimed,
            &nothing_alive,
            Decision::Complete {
                result: LifecycleResult::Continue,
                reason: CompletionReason::Drained,
            },
        ),
    ];
    for (story, claimed, census, decision) in table {
        assert_eq!(
            decide(&claimed, census, later, &policy()),
            decision,
            "{story}"
        );
    }
    // A fresh claim stays its invocation's.
    assert_eq!(
        decide(
            &claim(LifecycleResult::Abandon),
            &nothing_alive,
            START.plus_seconds(110),
            &policy()
        ),
        Decision::ClaimedElsewhere
    );
}

#[test]
fn at_the_deadline_stops_everything_still_alive() {
    let drain = record();
    let alive = census(vec![replica("r1"), standalone("s1"), daemon("d1")]);
    let decision = decide(&drain, &alive, drain.deadline_at, &policy());
    assert_eq!(
        decision,
        Decision::EnforceDeadline {
            tasks: vec![arn("r1"), arn("s1"), arn("d1")]
        }
    );
}

#[test]
fn after_enforcing_waits_one_check_interval_then_continues() {
    let mut drain = record();
    drain.enforced_at = Some(drain.deadline_at);
    let stopping = task(
        "r1",
        TaskKind::Replica {
            service: "web".into(),
        },
        "STOPPING",
        "STOPPED",
    );
    let soon = drain
        .deadline_at
        .plus_seconds(drain.check_interval_seconds - 1);
    assert!(matches!(
        decide(&drain, &census(vec![stopping.clone()]), soon, &policy()),
        Decision::Wait {
            waiting_on: WaitingOn::DeadlineStops,
            ..
        }
    ));
    let later = drain.deadline_at.plus_seconds(drain.check_interval_seconds);
    assert_eq!(
        decide(&drain, &census(vec![stopping]), later, &policy()),
        Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::DeadlineEnforced
        }
    );
}

#[test]
fn an_abandon_policy_abandons_at_the_deadline() {
    let drain = record();
    let abandon = DrainPolicy {
        deadline_policy: DeadlinePolicy::Abandon,
        ..policy()
    };
    assert_eq!(
        decide(
            &drain,
            &census(vec![standalone("s1")]),
            drain.deadline_at,
            &abandon
        ),
        Decision::Complete {
            result: LifecycleResult::Abandon,
            reason: CompletionReason::DeadlineAbandoned
        }
    );
    // Before the deadline the policy changes nothing.
    assert!(matches!(
        decide(&drain, &census(vec![standalone("s1")]), START, &abandon),
        Decision::Wait { .. }
    ));
}

#[test]
fn an_empty_instance_completes_with_continue_even_past_the_deadline() {
    let drain = record();
    let abandon = DrainPolicy {
        deadline_policy: DeadlinePolicy::Abandon,
        ..policy()
    };
    assert_eq!(
        decide(
            &drain,
            &census(vec![]),
            drain.deadline_at.plus_seconds(10),
            &abandon
        ),
        Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained
        }
    );
}

#[test]
fn the_same_token_resumes_a_live_drain_and_ignores_a_finished_one() {
    let drain = record();
    assert_eq!(
        admit(
            Some(&drain),
            &token("00000000-0000-4000-8000-000000000001"),
            Some(START)
        ),
        Admission::Resume
    );
    let mut finished = record();
    finished.status = DrainStatus::Completed;
    assert_eq!(
        admit(
            Some(&finished),
            &token("00000000-0000-4000-8000-000000000001"),
            Some(START)
        ),
        Admission::AlreadyFinished
    );
    assert_eq!(
        admit(None, &token("00000000-0000-4000-8000-000000000001"), None),
        Admission::Start
    );
}

#[test]
fn an_older_or_undated_token_never_restarts_a_drain() {
    let mut finished = record();
    finished.status = DrainStatus::Completed;
    let other = token("00000000-0000-4000-8000-000000000000");
    let rows = [
        (&finished, Some(START.plus_seconds(-60))),
        (&finished, Some(START)),
        (&finished, None),
        (&record(), Some(START.plus_seconds(-1))),
    ];
    for (existing, sent) in rows {
        assert_eq!(
            admit(Some(existing), &other, sent),
            Admission::Stale,
            "{:?} / {sent:?}",
            existing.status
        );
    }
}

#[test]
fn a_newer_token_replaces_the_old_drain() {
    let mut finished = record();
    finished.status = DrainStatus::Completed;
    assert_eq!(
        admit(
            Some(&finished),
            &token("00000000-0000-4000-8000-000000000002"),
            Some(START.plus_seconds(7200))
        ),
        Admission::Replace
    );
}

#[test]
fn check_interval_stays_below_the_heartbeat_timeout() {
    for timeout in [30, 60, 90, 120, 300, 600, 3600, 7200] {
        let interval = plan_check_interval(Some(timeout));
        assert!((60..=900).contains(&interval), "{timeout} -> {interval}");
        if timeout >= 120 {
            assert!(interval <= timeout - 60, "{timeout} -> {interval}");
        }
    }
    assert_eq!(plan_check_interval(Some(300)), 240);
    assert_eq!(plan_check_interval(Some(3600)), 900);
}

#[test]
fn the_deadline_is_capped_below_the_hook_global_timeout() {
    // Heartbeat 30 s: the hook gives up after 100 × 30 s = 3000 s, before a 3600 s deadline.
    let expires = START.plus_seconds(hook_global_timeout_seconds(30));
    let deadline = plan_deadline(START, 3600, Some(expires), 60);
    assert_eq!(deadline, START.plus_seconds(3000 - 120));
    assert_eq!(hook_global_timeout_seconds(7200), 48 * 3600);
    assert_eq!(
        plan_deadline(START, 3600, None, 60),
        START.plus_seconds(3600)
    );
}

#[test]
fn the_next_check_lands_on_the_deadline_not_after_it() {
    let drain = record();
    let near = drain.deadline_at.plus_seconds(-10);
    assert_eq!(next_check_at(&drain, near), drain.deadline_at);
    assert_eq!(
        next_check_at(&drain, START),
        START.plus_seconds(drain.check_interval_seconds)
    );
}

#[test]
fn upkeep_heartbeats_whoever_books_and_books_within_the_rules() {
    // The sample drain: interval 240 s (heartbeat timeout 300 s), deadline START + 3600.
    let deadline = START.plus_seconds(3600);
    let at = |seconds: i64| START.plus_seconds(seconds);
    /// What the row shows, trigger, books checks, notice sent, booked check, now.
    type Look = (
        &'static str,
        Trigger,
        bool,
        Timestamp,
        Option<Timestamp>,
        Timestamp,
    );
    // ... and the upkeep expected: heartbeat, booking.
    #[rustfmt::skip]
    let rows: [(Look, bool, Option<Timestamp>); 14] = [
        (("first look books one interval after the notice", Trigger::Lifecycle, true, at(0), None, at(0)), false, Some(at(240))),
        (("first look counts from the send time", Trigger::Lifecycle, true, at(-100), None, at(0)), false, Some(at(140))),
        (("a long-delayed notice books at the minimum lead", Trigger::Lifecycle, true, at(-1000), None, at(0)), false, Some(at(5))),
        (("a redelivered notice leaves the booked check", Trigger::Lifecycle, true, at(0), Some(at(240)), at(10)), false, None),
        (("on-task-stopped never books nor heartbeats", Trigger::TaskStopped, false, at(0), None, at(10)), false, None),
        (("on-task-stopped leaves an overdue check alone", Trigger::TaskStopped, false, at(0), Some(at(100)), at(200)), false, None),
        (("a stopped task before the check changes nothing", Trigger::TaskStopped, true, at(0), Some(at(240)), at(100)), false, None),
        (("a look that finds the check overdue rescues it", Trigger::TaskStopped, true, at(0), Some(at(100)), at(200)), true, Some(at(440))),
        (("an overdue check found by a notice is rescued too", Trigger::Lifecycle, true, at(0), Some(at(240)), at(240)), true, Some(at(480))),
        (("a check heartbeats and books the next", Trigger::Check, true, at(0), Some(at(240)), at(240)), true, Some(at(480))),
        (("a check without schedule settings only heartbeats", Trigger::Check, false, at(0), Some(at(240)), at(240)), true, None),
        (("a check landing within 30 s of the deadline merges into it", Trigger::Check, true, at(0), Some(at(3100)), deadline.plus_seconds(-250)), true, Some(deadline)),
        (("the deadline's check is never booked in the past", Trigger::Check, true, at(0), Some(at(3590)), deadline.plus_seconds(-3)), true, Some(deadline.plus_seconds(2))),
        (("past the deadline checks go on every interval", Trigger::Check, true, at(0), Some(deadline), deadline.plus_seconds(10)), true, Some(deadline.plus_seconds(250))),
    ];
    for ((row, trigger, books, noticed_at, next_check, now), heartbeat, booking) in rows {
        let drain = DrainRecord {
            noticed_at,
            next_check_at: next_check,
            ..record()
        };
        assert_eq!(drain.check_interval_seconds, 240);
        assert_eq!(drain.deadline_at, deadline);
        assert_eq!(
            upkeep(&drain, now, trigger, books),
            Upkeep {
                heartbeat,
                book_check_at: booking
            },
            "{row}"
        );
    }
}

#[test]
fn a_resumed_notice_books_the_recorded_check_again_at_its_own_time_only() {
    let at = |seconds: i64| START.plus_seconds(seconds);
    /// What the row shows, status, books checks, booked check, now ... and the booking expected.
    type Row = (
        &'static str,
        DrainStatus,
        bool,
        Option<Timestamp>,
        Timestamp,
        Option<Timestamp>,
    );
    #[rustfmt::skip]
    let rows: [Row; 10] = [
        ("the recorded check is booked at its own time", DrainStatus::Draining, true, Some(at(240)), at(10), Some(at(240))),
        ("no schedule settings: nothing is booked", DrainStatus::Draining, false, Some(at(240)), at(10), None),
        ("no check on record: the look's first booking books it", DrainStatus::Draining, true, None, at(10), None),
        ("a check already due is the look's to rescue", DrainStatus::Draining, true, Some(at(240)), at(240), None),
        ("a check due within the lead is booked at the lead", DrainStatus::Draining, true, Some(at(240)), at(238), Some(at(243))),
        // a claim's record: the claim was written at START (updated_at), its lease is 180 s
        ("a claim: its recorded check if that comes before the lease lapses", DrainStatus::Completing, true, Some(at(120)), at(10), Some(at(120))),
        ("a claim: else just after its lease, for the check that takes it over", DrainStatus::Completing, true, Some(at(900)), at(10), Some(at(181))),
        ("a claim with no check on record: just after its lease", DrainStatus::Completing, true, None, at(10), Some(at(181))),
        ("a lapsed claim whose recorded check is past: at the lead", DrainStatus::Completing, true, Some(at(240)), at(300), Some(at(305))),
        ("an ended drain books nothing", DrainStatus::Completed, true, Some(at(240)), at(10), None),
    ];
    for (row, status, books, next_check, now, booking) in rows {
        let drain = DrainRecord {
            status,
            next_check_at: next_check,
            updated_at: START,
            ..record()
        };
        assert_eq!(resume_booking(&drain, now, books, 180), booking, "{row}");
    }
}

#[test]
fn an_unknown_heartbeat_timeout_gets_the_shortest_interval() {
    assert_eq!(plan_check_interval(None), 60);
    assert_eq!(
        plan_check_interval(None),
        plan_check_interval(Some(30)),
        "the same interval as the shortest hook timeout"
    );
}

#[test]
fn plan_start_plans_interval_hook_expiry_and_deadline() {
    /// Heartbeat timeout, graceful phase.
    type Given = (Option<i64>, i64);
    /// Interval, hook gives up after, deadline after.
    type Planned = (i64, Option<i64>, i64);
    let rows: [(Given, Planned); 5] = [
        ((Some(300), 3600), (240, Some(30_000), 3600)),
        // 100 × 30 s = 3000 s: the deadline leaves two intervals before the hook gives up.
        ((Some(30), 3600), (60, Some(3000), 3000 - 120)),
        ((Some(7200), 7200), (900, Some(48 * 3600), 7200)),
        ((None, 3600), (60, None, 3600)),
        ((None, -5), (60, None, 0)),
    ];
    for ((timeout, graceful), (interval, expires_after, deadline_after)) in rows {
        let plan = plan_start(START, timeout, graceful);
        assert_eq!(
            plan,
            StartPlan {
                check_interval_seconds: interval,
                hook_expires_at: expires_after.map(|seconds| START.plus_seconds(seconds)),
                deadline_at: START.plus_seconds(deadline_after),
            },
            "{timeout:?} / {graceful}"
        );
    }
}

#[test]
fn a_started_drain_stores_its_plan() {
    let drain = record();
    assert_eq!(
        StartPlan {
            check_interval_seconds: drain.check_interval_seconds,
            hook_expires_at: drain.hook_expires_at,
            deadline_at: drain.deadline_at
        },
        plan_start(START, Some(300), 3600)
    );
    assert_eq!(
        (drain.status, drain.next_check_at, drain.revision),
        (DrainStatus::Draining, None, 0)
    );
    assert_eq!(
        drain.expires_at,
        START.plus_seconds(30_000 + 86_400),
        "kept until the hook could no longer act, then retained"
    );
}

#[test]
fn no_active_action_after_an_unclear_send_means_the_completion_took_effect() {
    let gone = |after_unclear_attempt| ActionAnswer::NoActiveAction {
        after_unclear_attempt,
    };
    let draining = record();
    let sent_unclear = DrainRecord {
        completion_sent_at: Some(START.plus_seconds(60)),
        ..record()
    };
    let lapsed_claim = DrainRecord {
        status: DrainStatus::Completing,
        ..record()
    };
    #[rustfmt::skip]
    let rows = [
        ("accepted, nothing to drain", ActionAnswer::Accepted, None, ActionOutcome::Done),
        ("accepted after a lapsed claim", ActionAnswer::Accepted, Some(&lapsed_claim), ActionOutcome::Done),
        ("gone, nothing sent before", gone(false), None, ActionOutcome::NoActiveAction),
        ("gone, a drain that never sent a completion", gone(false), Some(&draining), ActionOutcome::NoActiveAction),
        ("gone after this call's unclear attempt", gone(true), None, ActionOutcome::DoneUnconfirmed),
        ("gone after this call's unclear attempt, for a drain", gone(true), Some(&draining), ActionOutcome::DoneUnconfirmed),
        ("gone after an earlier invocation's unclear send", gone(false), Some(&sent_unclear), ActionOutcome::DoneUnconfirmed),
        ("gone after a claim that lapsed mid-completion", gone(false), Some(&lapsed_claim), ActionOutcome::DoneUnconfirmed),
    ];
    for (row, answer, drain, outcome) in rows {
        assert_eq!(completion_outcome(answer, drain), outcome, "{row}");
    }
}

#[test]
fn a_lost_start_carries_on_only_with_a_live_drain_of_the_same_action() {
    let mine = token("00000000-0000-4000-8000-000000000001");
    let other = token("00000000-0000-4000-8000-000000000002");
    let ended = DrainRecord {
        status: DrainStatus::Completed,
        ..record()
    };
    let claimed = DrainRecord {
        status: DrainStatus::Completing,
        ..record()
    };
    #[rustfmt::skip]
    let rows = [
        ("nothing stored (the winner's record vanished)", None, &mine, recovery::AfterLostWrite::GiveUp),
        ("the same action, draining", Some(record()), &mine, recovery::AfterLostWrite::CarryOn),
        ("the same action, being completed", Some(claimed), &mine, recovery::AfterLostWrite::CarryOn),
        ("the same action, already ended", Some(ended), &mine, recovery::AfterLostWrite::GiveUp),
        ("another action won", Some(record()), &other, recovery::AfterLostWrite::GiveUp),
    ];
    for (row, current, token, expected) in rows {
        assert_eq!(
            recovery::after_lost_start(current.as_ref(), token),
            expected,
            "{row}"
        );
    }
}

#[test]
fn a_lost_claim_is_ours_only_when_the_stored_record_is_exactly_that_claim() {
    let now = START.plus_seconds(120);
    let claim = record().claimed(now, "c-1".into(), LifecycleResult::Continue);
    let rows = [
        (
            "the claim itself",
            Some(claim.clone()),
            recovery::AfterLostWrite::CarryOn,
        ),
        (
            "another invocation's claim",
            Some(record().claimed(now, "c-2".into(), LifecycleResult::Continue)),
            recovery::AfterLostWrite::GiveUp,
        ),
        (
            "a later write over the claim",
            Some(claim.progressed(now)),
            recovery::AfterLostWrite::GiveUp,
        ),
        (
            "plain progress",
            Some(record().progressed(now)),
            recovery::AfterLostWrite::GiveUp,
        ),
        ("nothing stored", None, recovery::AfterLostWrite::GiveUp),
    ];
    for (row, current, expected) in rows {
        assert_eq!(
            recovery::after_lost_claim(current.as_ref(), &claim),
            expected,
            "{row}"
        );
    }
}

#[test]
fn a_lost_claim_is_retried_only_over_progress_of_the_same_drain_and_watched_over_its_claim() {
    let now = START.plus_seconds(120);
    let mine = record();
    let progressed = record().progressed(now);
    let claimed = record().claimed(now, "c-2".into(), LifecycleResult::Continue);
    let ended = record().ended(now, DrainStatus::Completed, None, "done".into());
    let other_action = DrainRecord {
        token: token("00000000-0000-4000-8000-000000000002"),
        ..record().progressed(now)
    };
    let other_claimed = DrainRecord {
        token: token("00000000-0000-4000-8000-000000000002"),
        ..record().claimed(now, "c-3".into(), LifecycleResult::Continue)
    };
    let drained = ClaimRetry::Claim {
        result: LifecycleResult::Continue,
        reason: CompletionReason::Drained,
    };
    #[rustfmt::skip]
    let rows = [
        ("progress, my census is empty", Some(&progressed), census(vec![]), drained),
        ("progress, my census still sees a task", Some(&progressed), census(vec![replica("r1")]), ClaimRetry::GiveUp),
        ("another invocation claimed", Some(&claimed), census(vec![]), ClaimRetry::WatchClaim),
        ("the drain ended", Some(&ended), census(vec![]), ClaimRetry::GiveUp),
        ("another action's drain", Some(&other_action), census(vec![]), ClaimRetry::GiveUp),
        ("another action's claim", Some(&other_claimed), census(vec![]), ClaimRetry::GiveUp),
        ("the record vanished", None, census(vec![]), ClaimRetry::GiveUp),
    ];
    for (row, fresh, census, expected) in rows {
        assert_eq!(
            recovery::retry_claim(&mine, fresh, &census, now, &policy()),
            expected,
            "{row}"
        );
    }
}

/// A row of the look-facts table: the record, census, decision and trigger, then the facts.
type LookRow<'a> = (
    &'a str,
    &'a DrainRecord,
    &'a Census,
    &'a Decision,
    Trigger,
    Vec<crate::metrics::Fact>,
    Vec<crate::metrics::Fact>,
);

#[test]
fn stuck_services_and_the_deadline_count_once_per_drain() {
    use crate::metrics::Fact;
    let now = START.plus_seconds(600);
    let stuck = Census {
        alive: vec![replica("r1")],
        stuck_services: vec!["web".into()],
    };
    let seen_stuck = DrainRecord {
        last_census: Some(crate::record::CensusSummary {
            taken_at: START,
            alive: AliveCounts::default(),
            stuck_services: vec!["web".into()],
        }),
        ..record()
    };
    let enforced = DrainRecord {
        enforced_at: Some(START),
        ..record()
    };
    let hooked = DrainRecord {
        hook_expires_at: Some(START.plus_seconds(1_000)),
        ..record()
    };
    let wait = Decision::Wait {
        alive: AliveCounts::default(),
        waiting_on: WaitingOn::Tasks,
    };
    let enforce = Decision::EnforceDeadline { tasks: vec![] };
    #[rustfmt::skip]
    let rows: [LookRow<'_>; 7] = [
        ("first census finding stuck services", &record(), &stuck, &wait, Trigger::TaskStopped, vec![Fact::StuckServices], vec![]),
        ("stuck services seen before", &seen_stuck, &stuck, &wait, Trigger::TaskStopped, vec![], vec![]),
        ("nothing stuck", &record(), &census(vec![replica("r1")]), &wait, Trigger::TaskStopped, vec![], vec![]),
        ("a check reports the hook's time left", &hooked, &census(vec![]), &wait, Trigger::Check, vec![Fact::HookSecondsLeft(400)], vec![]),
        ("only a check reports it", &hooked, &census(vec![]), &wait, Trigger::TaskStopped, vec![], vec![]),
        ("first enforcement", &record(), &census(vec![]), &enforce, Trigger::TaskStopped, vec![], vec![Fact::DeadlineEnforced]),
        ("enforced before", &enforced, &census(vec![]), &enforce, Trigger::TaskStopped, vec![], vec![]),
    ];
    for (row, before, census, decision, trigger, decided, applied) in rows {
        assert_eq!(
            facts::look_facts(before, census, decision, trigger, now),
            facts::LookFacts { decided, applied },
            "{row}"
        );
    }
}

#[test]
fn a_completion_counts_unless_the_action_was_gone_and_an_expiry_only_when_undrained() {
    use crate::metrics::Fact;
    let now = START.plus_seconds(90);
    let completed = Some(Fact::DrainCompleted {
        result: LifecycleResult::Continue,
        reason: CompletionReason::Drained,
        duration_seconds: 90,
    });
    let rows = [
        (ActionOutcome::Done, completed),
        (ActionOutcome::DoneUnconfirmed, completed),
        (ActionOutcome::NoActiveAction, None),
    ];
    for (outcome, expected) in rows {
        assert_eq!(
            facts::completion_fact(
                outcome,
                LifecycleResult::Continue,
                CompletionReason::Drained,
                START,
                now
            ),
            expected,
            "{outcome:?}"
        );
    }
    assert_eq!(facts::expiry_fact(true), Some(Fact::DrainExpired));
    assert_eq!(facts::expiry_fact(false), None);
}

#[test]
fn only_a_lifecycle_notice_that_writes_or_resumes_needs_confirmation_and_only_active_is_set_draining()
 {
    let rows = [
        (Admission::Start, true),
        (Admission::Resume, true),
        (Admission::Replace, true),
        (Admission::AlreadyFinished, false),
        (Admission::Stale, false),
    ];
    for (admission, expected) in rows {
        assert_eq!(admission.needs_confirmation(), expected, "{admission:?}");
    }
    for (status, expected) in [
        ("ACTIVE", true),
        ("DRAINING", false),
        ("REGISTERING", false),
        ("INACTIVE", false),
    ] {
        assert_eq!(
            sets_draining(&EcsInstanceStatus::parse(status)),
            expected,
            "{status}"
        );
    }
}

fn alive_task(id: &str, kind: crate::record::AliveKind) -> crate::record::AliveTask {
    crate::record::AliveTask {
        task_arn: arn(id),
        group: Some("service:web".into()),
        kind,
        last_status: "RUNNING".into(),
        alive_since: START,
    }
}

/// A row of the census table: the record, the trigger and its task, the rule, the answer.
type CensusRow<'a> = (
    &'a str,
    &'a DrainRecord,
    look::Cue<'a>,
    look::CensusRule,
    look::Look,
);

#[test]
fn a_census_is_taken_exactly_when_the_set_cannot_be_trusted_or_something_may_act() {
    use crate::record::{AliveKind, AliveSet, KnownStopped};
    use look::{CensusReason as Why, CensusRule, Cue, Look, census_needed};
    let now = START.plus_seconds(30);
    let set = |tasks: Vec<crate::record::AliveTask>| AliveSet {
        taken_at: START.plus_seconds(10),
        tasks,
        truncated: 0,
    };
    let two_replicas = set(vec![
        alive_task("r1", AliveKind::Replica),
        alive_task("r2", AliveKind::Replica),
    ]);
    let with = |alive: AliveSet| DrainRecord {
        alive: Some(alive),
        ..record()
    };
    let waiting = with(two_replicas.clone());
    let stale = with(AliveSet {
        taken_at: now.plus_seconds(-(look::MAX_CENSUS_AGE_SECONDS + 1)),
        ..two_replicas.clone()
    });
    let just_fresh = with(AliveSet {
        taken_at: now.plus_seconds(-look::MAX_CENSUS_AGE_SECONDS),
        ..two_replicas.clone()
    });
    let truncated = with(AliveSet {
        truncated: 1,
        ..two_replicas.clone()
    });
    let replica_and_daemon = with(set(vec![
        alive_task("r1", AliveKind::Replica),
        alive_task("d1", AliveKind::Daemon),
    ]));
    let standalone_left = with(set(vec![
        alive_task("r1", AliveKind::Replica),
        alive_task("s1", AliveKind::Standalone),
    ]));
    let past_deadline = DrainRecord {
        deadline_at: now,
        ..waiting.clone()
    };
    let claimed = DrainRecord {
        status: DrainStatus::Completing,
        ..waiting.clone()
    };
    let (r1, x9) = (arn("r1"), arn("x9"));
    let uncounted = record();
    let last_replica = with(set(vec![alive_task("r1", AliveKind::Replica)]));
    let skip_to = |left: &[&str], taken_at: Timestamp| {
        let mut alive = AliveSet {
            taken_at,
            ..two_replicas.clone()
        };
        alive.tasks.retain(|task| {
            left.iter()
                .any(|id| task.task_arn.as_str().ends_with(&format!("/{id}")))
        });
        Look::Skip {
            alive,
            known_stopped: KnownStopped::default(),
        }
    };
    #[rustfmt::skip]
    let rows: Vec<CensusRow<'_>> = vec![
        ("a known replica stopped, another replica left", &waiting, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, skip_to(&["r2"], two_replicas.taken_at)),
        ("the rule before issue 11", &waiting, Cue::TaskStopped(&r1), CensusRule::EveryLook, Look::Census(Why::EveryLook)),
        ("drain start (after DRAINING is set)", &waiting, Cue::Lifecycle, CensusRule::WhenNeeded, Look::Census(Why::DrainStart)),
        ("every scheduled check", &waiting, Cue::Check, CensusRule::WhenNeeded, Look::Census(Why::ScheduledCheck)),
        ("an instance change counting the set's tasks", &waiting, Cue::InstanceChanged { tasks: Some(2) }, CensusRule::WhenNeeded, Look::Unchanged),
        ("an instance change counting a replica and the daemon", &replica_and_daemon, Cue::InstanceChanged { tasks: Some(2) }, CensusRule::WhenNeeded, Look::Unchanged),
        ("an instance change counting only the daemons", &replica_and_daemon, Cue::InstanceChanged { tasks: Some(1) }, CensusRule::WhenNeeded, Look::Census(Why::OnlyDaemonsLeft)),
        ("an instance change counting nothing", &waiting, Cue::InstanceChanged { tasks: Some(0) }, CensusRule::WhenNeeded, Look::Census(Why::OnlyDaemonsLeft)),
        ("an instance change counting a task the set does not know", &waiting, Cue::InstanceChanged { tasks: Some(3) }, CensusRule::WhenNeeded, Look::Census(Why::InstanceChanged)),
        ("an instance change without counts, census fresh", &waiting, Cue::InstanceChanged { tasks: None }, CensusRule::WhenNeeded, Look::Unchanged),
        ("an instance change without counts, census older than 30 s", &just_fresh, Cue::InstanceChanged { tasks: None }, CensusRule::WhenNeeded, Look::Census(Why::InstanceChanged)),
        ("an instance change under the old rule", &waiting, Cue::InstanceChanged { tasks: Some(2) }, CensusRule::EveryLook, Look::Census(Why::EveryLook)),
        ("a task the set does not know", &waiting, Cue::TaskStopped(&x9), CensusRule::WhenNeeded, Look::Census(Why::UnknownTask)),
        ("no census yet", &uncounted, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::NoAliveSet)),
        ("the census is older than the bound", &stale, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::StaleSet)),
        ("the census is exactly the bound old", &just_fresh, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, skip_to(&["r2"], now.plus_seconds(-look::MAX_CENSUS_AGE_SECONDS))),
        ("the set was truncated", &truncated, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::IncompleteSet)),
        ("only a daemon would be left", &replica_and_daemon, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::OnlyDaemonsLeft)),
        ("nothing would be left", &last_replica, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::OnlyDaemonsLeft)),
        ("the deadline passed", &past_deadline, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::DeadlinePassed)),
        ("a claim is held (it may have lapsed)", &claimed, Cue::TaskStopped(&r1), CensusRule::WhenNeeded, Look::Census(Why::NotDraining)),
    ];
    for (row, record, cue, rule, expected) in rows {
        assert_eq!(census_needed(record, cue, now, rule), expected, "{row}");
    }
    // A standalone task left keeps the drain waiting without a census, like a replica.
    let Look::Skip { alive, .. } = census_needed(
        &standalone_left,
        Cue::TaskStopped(&r1),
        now,
        CensusRule::WhenNeeded,
    ) else {
        panic!("a standalone task left needs no census");
    };
    assert_eq!(alive.counts().standalone, 1);
}

#[test]
fn the_alive_set_keeps_each_task_since_it_was_first_seen_and_counts_what_it_cannot_keep() {
    use crate::record::MAX_ALIVE_TASKS;
    let first = look::alive_set(&census(vec![replica("r1")]), None, START);
    let later = START.plus_seconds(60);
    let second = look::alive_set(
        &census(vec![replica("r1"), daemon("d1")]),
        Some(&first),
        later,
    );
    let since: Vec<(String, Timestamp)> = second
        .tasks
        .iter()
        .map(|task| (short(&task.task_arn), task.alive_since))
        .collect();
    assert_eq!(
        since,
        vec![("r1".to_owned(), START), ("d1".to_owned(), later)]
    );
    assert_eq!(
        (second.taken_at, second.counts().daemon, second.truncated),
        (later, 1, 0)
    );
    let many: Vec<LiveTask> = (0..MAX_ALIVE_TASKS + 3)
        .map(|n| replica(&format!("r{n}")))
        .collect();
    let bounded = look::alive_set(&census(many), None, START);
    assert_eq!(
        (bounded.tasks.len(), bounded.truncated),
        (MAX_ALIVE_TASKS, 3)
    );
    assert!(bounded.summary(START, 5).ends_with("and 998 more"));
}

fn short(task: &TaskArn) -> String {
    task.as_str()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn services_already_looked_up_are_not_described_again() {
    let known = [crate::census::ServiceFacts {
        name: "web".into(),
        scheduling_strategy: Some("REPLICA".into()),
        minimum_healthy_percent: None,
        maximum_percent: None,
    }];
    let names = ["agent".to_owned(), "web".to_owned()];
    assert_eq!(look::services_to_describe(&names, &known), vec!["agent"]);
    assert!(look::services_to_describe(&names[1..], &known).is_empty());
    assert_eq!(look::services_to_describe(&names, &[]), names.to_vec());
}

#[test]
fn a_look_that_finds_a_fresh_claim_keeps_a_check_booked_for_when_it_lapses() {
    let lease = policy().completing_lease_seconds;
    let claimed_at = START.plus_seconds(100);
    let claimed = DrainRecord {
        status: DrainStatus::Completing,
        updated_at: claimed_at,
        next_check_at: Some(START.plus_seconds(400)),
        check_interval_seconds: 240,
        ..record()
    };
    let now = claimed_at.plus_seconds(10);
    let lapse = claimed_at.plus_seconds(lease + 1);
    let overdue = DrainRecord {
        next_check_at: Some(now),
        ..claimed.clone()
    };
    let short_interval = DrainRecord {
        check_interval_seconds: 60,
        ..claimed.clone()
    };
    #[rustfmt::skip]
    let rows = [
        ("a check was consumed: heartbeat, book for the lapse", &claimed, Trigger::Check, true, Upkeep { heartbeat: true, book_check_at: Some(lapse) }),
        ("a STOPPED event, the check still ahead: nothing", &claimed, Trigger::TaskStopped, true, Upkeep { heartbeat: false, book_check_at: None }),
        ("a STOPPED event, the check seemingly overdue: never moved without a heartbeat", &overdue, Trigger::TaskStopped, true, Upkeep { heartbeat: false, book_check_at: None }),
        ("no scheduler: heartbeat only", &claimed, Trigger::Check, false, Upkeep { heartbeat: true, book_check_at: None }),
        ("a heartbeat timeout shorter than the lease: one interval on", &short_interval, Trigger::Check, true, Upkeep { heartbeat: true, book_check_at: Some(now.plus_seconds(60)) }),
    ];
    for (row, record, trigger, books, expected) in rows {
        assert_eq!(
            upkeep_while_claimed(record, now, trigger, books, lease),
            expected,
            "{row}"
        );
    }
}

#[test]
fn a_claim_without_a_booked_check_books_one_first() {
    let now = START.plus_seconds(5);
    let lease = policy().completing_lease_seconds;
    let unbooked = DrainRecord {
        check_interval_seconds: 240,
        ..record()
    };
    let booked = DrainRecord {
        next_check_at: Some(START.plus_seconds(240)),
        ..record()
    };
    assert_eq!(
        guard_claim(&unbooked, now, true, lease),
        Some(now.plus_seconds(lease + 1))
    );
    assert_eq!(
        guard_claim(
            &DrainRecord {
                check_interval_seconds: 60,
                ..unbooked.clone()
            },
            now,
            true,
            lease
        ),
        Some(now.plus_seconds(60)),
        "within the heartbeat timeout"
    );
    assert_eq!(guard_claim(&booked, now, true, lease), None);
    assert_eq!(guard_claim(&unbooked, now, false, lease), None);
}
