//! Table tests of launch readiness: one row per rule, each naming the story it tells.

use super::*;
use crate::ids::TaskArn;

const NOTICED: Timestamp = Timestamp(2_000_000);

fn cluster(name: &str) -> ClusterArn {
    ClusterArn::new(format!("arn:aws:ecs:us-east-1:123456789012:cluster/{name}")).expect("arn")
}

fn registered(status: &str, agent_connected: bool) -> Option<Registration> {
    Some(Registration {
        cluster_arn: cluster("prod"),
        watched: true,
        status: EcsInstanceStatus::parse(status),
        agent_connected,
        drained_by_ecs_drain: false,
    })
}

fn task(group: &str, last_status: &str) -> TaskSnapshot {
    TaskSnapshot {
        arn: TaskArn::new(format!(
            "arn:aws:ecs:us-east-1:123456789012:task/prod/{:032x}",
            group.len() * 7 + last_status.len()
        ))
        .expect("arn"),
        group: Some(group.to_owned()),
        started_by: None,
        last_status: TaskStatus::parse(last_status),
        desired_status: TaskStatus::Running,
    }
}

fn new_launch(registration: Option<Registration>) -> LaunchFacts {
    LaunchFacts {
        origin: Some(Placement::Ec2),
        destination: Some(Placement::AutoScalingGroup),
        noticed_at: NOTICED,
        heartbeat_timeout_seconds: Some(300),
        registration,
        daemon_services: Vec::new(),
        tasks: Vec::new(),
    }
}

fn policy(deadline_policy: LaunchDeadlinePolicy, require_daemons: bool) -> LaunchPolicy {
    LaunchPolicy {
        deadline_seconds: 600,
        deadline_policy,
        require_daemons,
    }
}

const ABANDON: LaunchDeadlinePolicy = LaunchDeadlinePolicy::Abandon;
const CONTINUE: LaunchDeadlinePolicy = LaunchDeadlinePolicy::Continue;

fn complete(result: LifecycleResult, reason: LaunchCompletion) -> LaunchDecision {
    LaunchDecision::Complete { result, reason }
}

fn wait(waiting_on: LaunchWaitingOn) -> LaunchDecision {
    LaunchDecision::Wait {
        waiting_on,
        deadline: NOTICED.plus_seconds(600),
    }
}

#[test]
fn launch_readiness_table() {
    use LifecycleResult::{Abandon, Continue};
    let before = NOTICED.plus_seconds(30);
    let at_deadline = NOTICED.plus_seconds(600);
    let mut unwatched = registered("ACTIVE", true);
    if let Some(registration) = unwatched.as_mut() {
        registration.cluster_arn = cluster("batch");
        registration.watched = false;
    }
    let mut into_pool = new_launch(None);
    into_pool.destination = Some(Placement::WarmPool);
    let rows: Vec<(&str, LaunchFacts, LaunchPolicy, Timestamp, LaunchDecision)> = vec![
        (
            "not registered yet: wait for the registration",
            new_launch(None),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::Registration),
        ),
        (
            "still REGISTERING: wait",
            new_launch(registered("REGISTERING", false)),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::Registration),
        ),
        (
            "ACTIVE but the agent is not connected: wait",
            new_launch(registered("ACTIVE", false)),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::AgentConnection),
        ),
        (
            "ACTIVE with its agent connected: CONTINUE",
            new_launch(registered("ACTIVE", true)),
            policy(ABANDON, false),
            before,
            complete(Continue, LaunchCompletion::Ready),
        ),
        (
            "ready exactly at the deadline: CONTINUE, never abandoned",
            new_launch(registered("ACTIVE", true)),
            policy(ABANDON, false),
            at_deadline,
            complete(Continue, LaunchCompletion::Ready),
        ),
        (
            "never joined by the deadline, policy abandon: ABANDON",
            new_launch(None),
            policy(ABANDON, false),
            at_deadline,
            complete(Abandon, LaunchCompletion::DeadlinePassed),
        ),
        (
            "agent never connected by the deadline, policy continue: CONTINUE",
            new_launch(registered("ACTIVE", false)),
            policy(CONTINUE, false),
            at_deadline,
            complete(Continue, LaunchCompletion::DeadlinePassed),
        ),
        (
            "REGISTRATION_FAILED: the deadline policy at once",
            new_launch(registered("REGISTRATION_FAILED", false)),
            policy(ABANDON, false),
            before,
            complete(Abandon, LaunchCompletion::RegistrationFailed),
        ),
        (
            "joined a cluster ecs-drain does not watch: CONTINUE at once with the cluster",
            new_launch(unwatched),
            policy(ABANDON, true),
            before,
            complete(
                Continue,
                LaunchCompletion::UnwatchedCluster {
                    cluster_arn: cluster("batch"),
                },
            ),
        ),
        (
            "launched into the warm pool: CONTINUE at once",
            into_pool,
            policy(ABANDON, true),
            before,
            complete(Continue, LaunchCompletion::EntersWarmPool),
        ),
        (
            "an old INACTIVE registration while the agent registers anew: wait",
            new_launch(registered("INACTIVE", false)),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::Registration),
        ),
        (
            "a status this version does not know: wait",
            new_launch(registered("PROVISIONING_SOMEHOW", true)),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::Registration),
        ),
        (
            "a new instance DRAINING by an operator is left alone: wait",
            new_launch(registered("DRAINING", true)),
            policy(ABANDON, false),
            before,
            wait(LaunchWaitingOn::DrainedByOthers),
        ),
    ];
    for (story, facts, policy, now, expected) in rows {
        assert_eq!(decide_launch(&facts, &policy, now), expected, "{story}");
    }
}

#[test]
fn daemon_readiness_table() {
    let daemons = vec!["log-router".to_owned(), "node-exporter".to_owned()];
    let before = NOTICED.plus_seconds(30);
    let with_tasks = |tasks: Vec<TaskSnapshot>| LaunchFacts {
        daemon_services: daemons.clone(),
        tasks,
        ..new_launch(registered("ACTIVE", true))
    };
    let rows: Vec<(&str, LaunchFacts, bool, LaunchDecision)> = vec![
        (
            "no daemon task yet: wait naming both",
            with_tasks(vec![]),
            true,
            wait(LaunchWaitingOn::Daemons {
                missing: daemons.clone(),
            }),
        ),
        (
            "one daemon RUNNING, the other PENDING: wait for the other",
            with_tasks(vec![
                task("service:log-router", "RUNNING"),
                task("service:node-exporter", "PENDING"),
            ]),
            true,
            wait(LaunchWaitingOn::Daemons {
                missing: vec!["node-exporter".to_owned()],
            }),
        ),
        (
            "a standalone task of the same family name does not count",
            with_tasks(vec![
                task("service:log-router", "RUNNING"),
                task("family:node-exporter", "RUNNING"),
            ]),
            true,
            wait(LaunchWaitingOn::Daemons {
                missing: vec!["node-exporter".to_owned()],
            }),
        ),
        (
            "both daemons RUNNING: CONTINUE",
            with_tasks(vec![
                task("service:log-router", "RUNNING"),
                task("service:node-exporter", "RUNNING"),
            ]),
            true,
            complete(LifecycleResult::Continue, LaunchCompletion::Ready),
        ),
        (
            "daemons not required: ACTIVE and connected is enough",
            with_tasks(vec![]),
            false,
            complete(LifecycleResult::Continue, LaunchCompletion::Ready),
        ),
    ];
    for (story, facts, require_daemons, expected) in rows {
        let policy = policy(ABANDON, require_daemons);
        assert_eq!(decide_launch(&facts, &policy, before), expected, "{story}");
    }
}

#[test]
fn warm_pool_return_table() {
    let back = |status: &str, agent: bool, ours: bool| LaunchFacts {
        origin: Some(Placement::WarmPool),
        destination: Some(Placement::AutoScalingGroup),
        registration: registered(status, agent).map(|registration| Registration {
            drained_by_ecs_drain: ours,
            ..registration
        }),
        ..new_launch(None)
    };
    let before = NOTICED.plus_seconds(30);
    let past = NOTICED.plus_seconds(601);
    let rows: Vec<(&str, LaunchFacts, Timestamp, LaunchDecision)> = vec![
        (
            "back from the pool, DRAINING from ecs-drain's drain: set ACTIVE",
            back("DRAINING", false, true),
            before,
            LaunchDecision::Reactivate,
        ),
        (
            "set ACTIVE even past the deadline: it must not serve DRAINING",
            back("DRAINING", true, true),
            past,
            LaunchDecision::Reactivate,
        ),
        (
            "back from the pool, DRAINING by an operator: left alone",
            back("DRAINING", true, false),
            before,
            wait(LaunchWaitingOn::DrainedByOthers),
        ),
        (
            "reactivated, agent not reconnected yet: wait",
            back("ACTIVE", false, true),
            before,
            wait(LaunchWaitingOn::AgentConnection),
        ),
        (
            "reactivated and connected: CONTINUE",
            back("ACTIVE", true, true),
            before,
            complete(LifecycleResult::Continue, LaunchCompletion::Ready),
        ),
    ];
    for (story, facts, now, expected) in rows {
        assert_eq!(
            decide_launch(&facts, &policy(ABANDON, false), now),
            expected,
            "{story}"
        );
    }
    // Only a return from the pool is reactivated: a new instance's DRAINING is never undone.
    let mut not_from_pool = back("DRAINING", true, true);
    not_from_pool.origin = Some(Placement::Ec2);
    assert_eq!(
        decide_launch(&not_from_pool, &policy(ABANDON, false), before),
        wait(LaunchWaitingOn::DrainedByOthers)
    );
}

#[test]
fn a_negative_deadline_setting_never_precedes_the_notice() {
    let policy = LaunchPolicy {
        deadline_seconds: -5,
        ..LaunchPolicy::default()
    };
    assert_eq!(plan_launch(NOTICED, Some(300), &policy).deadline, NOTICED);
    assert_eq!(
        plan_launch(NOTICED, Some(300), &LaunchPolicy::default()).deadline,
        NOTICED.plus_seconds(900)
    );
}

#[test]
fn launch_checks_heartbeat_before_the_hook_times_out_and_land_on_the_deadline() {
    let policy = LaunchPolicy::default(); // 900 s
    // A 300 s heartbeat timeout: checks every 240 s (margin 60 s), so the hook never applies
    // its DefaultResult before our deadline policy does.
    let plan = plan_launch(NOTICED, Some(300), &policy);
    assert_eq!(plan.check_interval_seconds, 240);
    assert_eq!(
        next_launch_check_at(&plan, NOTICED),
        NOTICED.plus_seconds(240)
    );
    assert_eq!(
        next_launch_check_at(&plan, NOTICED.plus_seconds(480)),
        NOTICED.plus_seconds(720)
    );
    // 720 + 240 would pass the deadline: the next check is the deadline's own.
    assert_eq!(
        next_launch_check_at(&plan, NOTICED.plus_seconds(720)),
        plan.deadline
    );
    // Past the deadline (the completion failed and is retried): never in the past.
    assert_eq!(
        next_launch_check_at(&plan, NOTICED.plus_seconds(950)),
        NOTICED.plus_seconds(950 + 240)
    );
    // A hook whose global timeout (100 x 30 s) ends before the configured deadline caps it.
    let short = plan_launch(
        NOTICED,
        Some(30),
        &LaunchPolicy {
            deadline_seconds: 7200,
            ..policy
        },
    );
    assert!(short.deadline < NOTICED.plus_seconds(3000), "{short:?}");
    assert!(short.deadline > NOTICED);
}

#[test]
fn the_first_launch_check_counts_from_the_notice_not_from_its_handling() {
    let policy = LaunchPolicy::default(); // 900 s
    let plan = plan_launch(NOTICED, Some(300), &policy); // checks every 240 s
    // (seconds after the notice it is handled, seconds after the notice the first check fires)
    let table = [
        // handled at once: one interval on
        (0, 240),
        (1, 240),
        // handled late: still one interval after the action began, before its 300 s timeout
        (200, 240),
        // so late that the interval is nearly over: never less than the booking lead ahead
        (238, 243),
        // later than one interval: as soon as can be booked, not one interval after handling
        (400, 405),
        // a send time ahead of the clock counts as now (believable_notice_time's rule)
        (-30, 240 - 30),
    ];
    for (handled, expected) in table {
        let now = NOTICED.plus_seconds(handled);
        assert_eq!(
            first_launch_check_at(&plan, NOTICED, now),
            NOTICED.plus_seconds(expected),
            "handled {handled} s after the notice"
        );
    }
    // Close to the deadline the first check is the deadline's own, as later ones.
    let short = plan_launch(
        NOTICED,
        Some(300),
        &LaunchPolicy {
            deadline_seconds: 250,
            ..policy
        },
    );
    assert_eq!(
        first_launch_check_at(&short, NOTICED, NOTICED),
        short.deadline
    );
}

/// A pending launch noticed at `NOTICED` (300 s heartbeat timeout), its check booked at
/// `booked` seconds after the notice (None: not yet).
fn pending(booked: Option<i64>, heartbeat_timeout_seconds: Option<i64>) -> LaunchRecord {
    let action = LifecycleActionRef {
        hook: crate::ids::HookRef {
            asg_name: crate::ids::AsgName::new("prod-ecs-asg").expect("group"),
            hook_name: crate::ids::HookName::new("ecs-drain-launch").expect("hook"),
        },
        instance_id: crate::ids::Ec2InstanceId::new("i-0123456789abcdef0").expect("id"),
        token: LifecycleToken::new("d0c9b1a8-2c41-4d4b-9f7e-3a1b2c3d4e5f").expect("token"),
    };
    let record = start_launch(
        LaunchStart {
            action,
            origin: Some(Placement::Ec2),
            destination: Some(Placement::AutoScalingGroup),
            noticed_at: NOTICED,
            started_at: NOTICED,
            heartbeat_timeout_seconds,
            retention_seconds: 86_400,
        },
        &LaunchPolicy::default(),
    );
    LaunchRecord {
        next_check_at: booked.map(|at| NOTICED.plus_seconds(at)),
        ..record
    }
}

#[test]
fn a_look_heartbeats_before_it_moves_the_check_past_the_hook_timeout() {
    use LaunchPrompt::{Change, Check, Notice};
    let policy = LaunchPolicy::default(); // 900 s; 300 s timeout: checks every 240 s
    // (story, prompt, booked check, heartbeat timeout, look at, heartbeat, check booked at)
    let table = [
        (
            "the first look books from the notice, inside the timeout",
            Notice,
            None,
            Some(300),
            1,
            false,
            Some(240),
        ),
        (
            "a late first look books one interval after the notice",
            Notice,
            None,
            Some(300),
            200,
            false,
            Some(240),
        ),
        (
            "a first look too late to book inside the timeout heartbeats",
            Notice,
            None,
            Some(300),
            298,
            true,
            Some(303),
        ),
        (
            "a redelivered notice moving the check past the timeout heartbeats",
            Notice,
            Some(240),
            Some(300),
            200,
            true,
            Some(440),
        ),
        (
            "a redelivered notice moving it later, even inside the timeout, heartbeats",
            Notice,
            Some(240),
            Some(300),
            50,
            true,
            Some(290),
        ),
        (
            "a redelivered notice booking the check already booked does not",
            Notice,
            Some(240),
            Some(300),
            0,
            false,
            Some(240),
        ),
        (
            "a state change leaves a check booked ahead alone",
            Change,
            Some(240),
            Some(300),
            200,
            false,
            None,
        ),
        (
            "a state change rebooking a lost check heartbeats first",
            Change,
            Some(240),
            Some(300),
            250,
            true,
            Some(490),
        ),
        (
            "a check always heartbeats and books the next",
            Check,
            Some(240),
            Some(300),
            240,
            true,
            Some(480),
        ),
        (
            "an unknown timeout counts as one interval",
            Notice,
            Some(60),
            None,
            30,
            true,
            Some(90),
        ),
    ];
    for (story, prompt, booked, timeout, at, heartbeat, book) in table {
        let record = pending(booked, timeout);
        let upkeep = launch_upkeep(&record, &policy, NOTICED.plus_seconds(at), prompt, true);
        assert_eq!(
            (upkeep.heartbeat, upkeep.book_check_at),
            (heartbeat, book.map(|at| NOTICED.plus_seconds(at))),
            "{story}"
        );
    }
    // Without checks configured nothing is booked, so nothing needs a heartbeat.
    let upkeep = launch_upkeep(&pending(None, Some(300)), &policy, NOTICED, Notice, false);
    assert_eq!((upkeep.heartbeat, upkeep.book_check_at), (false, None));
}

#[test]
fn a_look_that_completes_a_claimed_launch_sends_the_claimed_result_again() {
    let claimed = |status, result| LaunchRecord {
        status,
        result,
        ..pending(Some(240), Some(300))
    };
    let ready = LaunchDecision::Complete {
        result: LifecycleResult::Continue,
        reason: LaunchCompletion::Ready,
    };
    let waiting = LaunchDecision::Wait {
        waiting_on: LaunchWaitingOn::Registration,
        deadline: NOTICED.plus_seconds(900),
    };
    let sent_again = |result| LaunchDecision::Complete {
        result,
        reason: LaunchCompletion::SentAgain,
    };
    let abandon = Some(LifecycleResult::Abandon);
    // (story, record's status, claimed result, decided from the facts, decision)
    let table = [
        (
            "ABANDON claimed, ready now: ABANDON again, not CONTINUE",
            LaunchStatus::Completing,
            abandon,
            ready.clone(),
            sent_again(LifecycleResult::Abandon),
        ),
        (
            "CONTINUE claimed, ready now: CONTINUE again, as the claim",
            LaunchStatus::Completing,
            Some(LifecycleResult::Continue),
            ready.clone(),
            sent_again(LifecycleResult::Continue),
        ),
        (
            "a claimed launch that waits heartbeats instead: the decision stands",
            LaunchStatus::Completing,
            abandon,
            waiting.clone(),
            waiting.clone(),
        ),
        (
            "a pending launch completes as decided",
            LaunchStatus::Pending,
            None,
            ready.clone(),
            ready.clone(),
        ),
    ];
    for (story, status, result, decided, decision) in table {
        let record = claimed(status, result);
        assert_eq!(honour_launch_claim(&record, decided), decision, "{story}");
    }
}

/// A pending launch back from the warm pool.
fn back_from_the_warm_pool() -> LaunchRecord {
    LaunchRecord {
        origin: Some(Placement::WarmPool),
        ..pending(None, Some(300))
    }
}

/// A drain of `instance` noticed `noticed` seconds after the launch `back`, in `status`.
fn old_drain(
    back: &LaunchRecord,
    noticed: i64,
    status: DrainStatus,
    instance: &str,
) -> DrainRecord {
    let mut action = back.action.clone();
    action.instance_id = crate::ids::Ec2InstanceId::new(instance).expect("id");
    DrainRecord {
        status,
        ..crate::decision::start_drain(crate::record::DrainStart {
            container_instance_arn: crate::ids::ContainerInstanceArn::new(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/3f1e2c5a",
            )
            .expect("arn"),
            cluster_arn: cluster("prod"),
            action,
            noticed_at: NOTICED.plus_seconds(noticed),
            started_at: NOTICED.plus_seconds(noticed),
            heartbeat_timeout_seconds: Some(300),
            deadline_seconds: 3600,
            retention_seconds: 86_400,
        })
    }
}

#[test]
fn a_warm_pool_return_ends_only_the_older_drain_its_instance_left_open() {
    let back = back_from_the_warm_pool();
    let drain = |noticed, status, instance: &str| old_drain(&back, noticed, status, instance);
    let own = back.instance_id.as_str().to_owned();
    // (story, launch, drain, ends it)
    let table = [
        (
            "the terminate-to-warm-pool drain left DRAINING",
            back.clone(),
            drain(-1200, DrainStatus::Draining, &own),
            true,
        ),
        (
            "a claim left COMPLETING",
            back.clone(),
            drain(-1200, DrainStatus::Completing, &own),
            true,
        ),
        (
            "an ended drain stays as it ended",
            back.clone(),
            drain(-1200, DrainStatus::Completed, &own),
            false,
        ),
        (
            "a drain noticed after the return is a new one",
            back.clone(),
            drain(30, DrainStatus::Draining, &own),
            false,
        ),
        (
            "a drain of another EC2 instance",
            back.clone(),
            drain(-1200, DrainStatus::Draining, "i-0fedcba9876543210"),
            false,
        ),
        (
            "a launch not from the warm pool",
            pending(None, Some(300)),
            drain(-1200, DrainStatus::Draining, &own),
            false,
        ),
    ];
    for (story, launch, drain, ends) in table {
        assert_eq!(warm_return_ends_drain(&launch, &drain), ends, "{story}");
    }
}

#[test]
fn a_warm_pool_return_completes_a_drain_whose_completion_was_sent_and_expires_the_others() {
    let back = back_from_the_warm_pool();
    let own = back.instance_id.as_str().to_owned();
    let waiting = old_drain(&back, -1200, DrainStatus::Draining, &own);
    let now = NOTICED;
    let claimed = waiting.claimed(now, "dead-invocation".into(), LifecycleResult::Continue);
    let released = claimed.released(now);
    // (story, drain, how it ends)
    let table = [
        (
            "a claim left COMPLETING: its completion ended the action",
            claimed,
            (DrainStatus::Completed, WARM_RETURN_COMPLETES_DRAIN),
        ),
        (
            "a claim given back after an unclear answer: its completion ended the action",
            released,
            (DrainStatus::Completed, WARM_RETURN_COMPLETES_DRAIN),
        ),
        (
            "a drain never completed: its action timed out",
            waiting,
            (DrainStatus::Expired, WARM_RETURN_ENDS_DRAIN),
        ),
    ];
    for (story, drain, end) in table {
        assert_eq!(warm_return_drain_end(&drain), end, "{story}");
    }
}

#[test]
fn a_launch_completion_answer_is_read_by_the_drains_rule() {
    let pending_launch = pending(Some(240), Some(300));
    let claimed_before = LaunchRecord {
        status: LaunchStatus::Completing,
        ..pending_launch.clone()
    };
    let gone = |after_unclear_attempt| ActionAnswer::NoActiveAction {
        after_unclear_attempt,
    };
    #[rustfmt::skip]
    let rows = [
        ("accepted", ActionAnswer::Accepted, &pending_launch, ActionOutcome::Done),
        ("gone, nothing sent before: completed elsewhere or timed out", gone(false), &pending_launch, ActionOutcome::NoActiveAction),
        ("gone after this call's unclear attempt", gone(true), &pending_launch, ActionOutcome::DoneUnconfirmed),
        ("gone after an earlier invocation's claim", gone(false), &claimed_before, ActionOutcome::DoneUnconfirmed),
    ];
    for (row, answer, record, outcome) in rows {
        assert_eq!(launch_completion_outcome(answer, record), outcome, "{row}");
    }
}

#[test]
fn names_are_stable() {
    assert_eq!(LaunchDecision::Reactivate.name(), "reactivate");
    assert_eq!(LaunchCompletion::DeadlinePassed.name(), "deadline_passed");
    assert_eq!(
        LaunchDeadlinePolicy::Abandon.result(),
        LifecycleResult::Abandon
    );
}

#[test]
fn launch_admission_follows_the_drains_rule_and_a_same_second_return_replaces_a_finished_launch() {
    let start = LaunchStart {
        action: crate::testing::sample::lifecycle_action(),
        origin: None,
        destination: Some(Placement::WarmPool),
        noticed_at: NOTICED,
        started_at: NOTICED,
        heartbeat_timeout_seconds: Some(300),
        retention_seconds: 86_400,
    };
    let pending = start_launch(start, &LaunchPolicy::default());
    let same = pending.action.token.clone();
    let other = LifecycleToken::new("00000000-0000-4000-8000-0000000000ff").expect("token");
    assert_eq!(admit_launch(None, &same, Some(NOTICED)), Admission::Start);
    assert_eq!(admit_launch(Some(&pending), &same, None), Admission::Resume);
    // another token in the same second while the first is live: stale, as for drains
    assert_eq!(
        admit_launch(Some(&pending), &other, Some(NOTICED)),
        Admission::Stale
    );
    assert_eq!(
        admit_launch(Some(&pending), &other, Some(NOTICED.plus_seconds(1))),
        Admission::Replace
    );
    let finished = LaunchRecord {
        status: LaunchStatus::Completed,
        ..pending
    };
    assert_eq!(
        admit_launch(Some(&finished), &same, Some(NOTICED)),
        Admission::AlreadyFinished
    );
    // back from the warm pool in the second its entry completed: a new launch
    assert_eq!(
        admit_launch(Some(&finished), &other, Some(NOTICED)),
        Admission::Replace
    );
    // an older notice never restarts a finished launch
    assert_eq!(
        admit_launch(Some(&finished), &other, Some(NOTICED.plus_seconds(-1))),
        Admission::Stale
    );
    assert_eq!(
        admit_launch(Some(&finished), &other, None),
        Admission::Stale
    );
}
