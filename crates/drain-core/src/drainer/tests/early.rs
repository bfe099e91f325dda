//! Stories of early drains over the in-memory ports: a Spot interruption warning (the
//! fixture `ec2-spot-interruption-warning.json`, sent two minutes before the lifecycle
//! fixture), a rebalance recommendation, the group's terminate action joining them, and a
//! group that also carries ECS managed draining's hook.

use super::*;
use crate::decision::spot::awaiting::ACTION_WAIT_SECONDS;
use crate::decision::spot::{EarlyDrainKind, UnbelievedNotice};
use crate::event::fleet::{RebalanceRecommendation, SpotInterruption};
use crate::ids::{AsgName, HookRef};
use crate::record::DrainKind;

/// The warning fixture's `time` (2026-11-02T18:41:48Z): the horizon is the lifecycle
/// fixture's send time.
const WARNING_SENT: Timestamp = Timestamp(1_793_645_028 - 120);

fn own() -> FunctionIdentity {
    FunctionIdentity {
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
    }
}

fn spot_warning(payload: &Value) -> SpotInterruption {
    match parse_lifecycle_payload(payload)
        .expect("warning parses")
        .pop()
    {
        Some(LifecycleInput::SpotWarning(warning)) => Some(warning),
        _ => None,
    }
    .expect("a Spot warning")
}

fn recommendation() -> RebalanceRecommendation {
    match parse_lifecycle_payload(&fixture("ec2-rebalance-recommendation.json"))
        .expect("recommendation parses")
        .pop()
    {
        Some(LifecycleInput::Rebalance(recommendation)) => Some(recommendation),
        _ => None,
    }
    .expect("a rebalance recommendation")
}

fn service(name: &str, minimum_healthy_percent: i32) -> ServiceFacts {
    ServiceFacts {
        name: name.into(),
        scheduling_strategy: Some("REPLICA".into()),
        minimum_healthy_percent: Some(minimum_healthy_percent),
        maximum_percent: Some(200),
    }
}

/// The world before the group acts: the instance is InService (the lifecycle action the
/// world begins is only delivered later), the clock a second after the warning.
fn before_the_group_acts() -> World {
    let world = World::new();
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "InService");
    world.clock.set(WARNING_SENT.plus_seconds(1));
    world
}

#[tokio::test]
async fn a_spot_warning_drains_at_once_and_the_terminate_action_joins_for_one_completion() {
    // GIVEN an instance running a service that keeps 100 % healthy and one that does not
    let world = before_the_group_acts();
    world
        .cluster
        .add_service(&world.cluster_arn, service("web", 100));
    world
        .cluster
        .add_service(&world.cluster_arn, service("api", 50));
    let web = world.run_task("web-1", "service:web");
    let api = world.run_task("api-1", "service:api");
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));

    // WHEN the Spot interruption warning arrives
    let drainer = world.drainer();
    let outcome = drainer
        .on_spot_warning(&warning, &own())
        .await
        .expect("warning handled");

    // THEN the instance is DRAINING at once and the drain waits for its tasks, with the
    // two-minute horizon as its deadline and the service that cannot move in time named
    assert!(
        matches!(
            outcome,
            Outcome::Decided(Decision::Wait {
                waiting_on: WaitingOn::Tasks,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(world.instance_status(), "DRAINING");
    let record = world.record();
    assert_eq!(
        (record.kind, record.awaiting_action, record.deadline_at),
        (
            DrainKind::Interruption,
            true,
            WARNING_SENT.plus_seconds(120)
        )
    );
    assert!(record.token.is_none_yet());
    assert_eq!(record.immovable_services, vec!["web".to_owned()]);
    let facts = drainer.take_facts();
    assert!(facts.contains(&Fact::EarlyDrainStarted(EarlyDrainKind::Interruption)));
    assert!(facts.contains(&Fact::ImmovableWithinHorizon));
    // AND no lifecycle call was made: there is no action yet
    assert_eq!(
        world
            .log
            .count("autoscaling:RecordLifecycleActionHeartbeat"),
        0
    );
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
    assert!(world.booked_check().is_some());

    // WHEN the warning is delivered again
    let again = world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("duplicate handled");
    // THEN nothing changes
    assert_eq!(
        again,
        Outcome::Joined {
            deadline_moved: false
        }
    );
    assert_eq!(world.record().revision, record.revision);

    // WHEN both tasks stop before any lifecycle action exists
    world.task_stopped(&world.task_stops(&web)).await;
    let last = world.task_stopped(&world.task_stops(&api)).await;
    // THEN the drain records that nothing is alive and waits for the action
    assert!(
        matches!(
            last,
            Outcome::Decided(Decision::Wait {
                waiting_on: WaitingOn::LifecycleAction,
                ..
            })
        ),
        "{last:?}"
    );
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);

    // WHEN the group's terminate action for the instance arrives
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "Terminating:Wait");
    world.clock.set(world.start);
    let joined = world.terminate().await;
    // THEN it joins the drain, which completes at once: one drain, one completion
    assert!(
        is_complete(&joined, LifecycleResult::Continue),
        "{joined:?}"
    );
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Completed);
    assert_eq!(record.token, world.notice.action.token);
    assert_eq!(record.hook, world.notice.action.hook);
    assert_eq!(
        (record.kind, record.awaiting_action),
        (DrainKind::Interruption, false)
    );
    assert_eq!(record.started_at, WARNING_SENT.plus_seconds(1));
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.store.all().len(), 1);

    // WHEN the terminate action and the warning are delivered again
    // (Auto Scaling, asked first, no longer holds the instance for the action)
    let again = world.terminate().await;
    assert!(
        matches!(
            again,
            Outcome::Refused {
                refusal: Refusal::NotTerminating { .. }
            }
        ),
        "{again:?}"
    );
    let late = world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("late warning handled");
    // THEN nothing changes
    assert!(matches!(late, Outcome::Ignored { .. }), "{late:?}");
    assert_eq!(world.action().completions, 1);
}

#[tokio::test]
async fn a_terminate_action_joining_a_draining_early_drain_keeps_the_horizon() {
    // GIVEN an early drain still waiting for a task, and the group's terminate action begun
    // before the horizon (its own deadline would be an hour on)
    let world = early_drain_then_the_group_acts().await;
    // WHEN the terminate action arrives
    let outcome = world.terminate().await;
    // THEN the drain goes on with the action's token and the earlier deadline, the horizon
    assert!(
        matches!(
            outcome,
            Outcome::Decided(Decision::Wait {
                waiting_on: WaitingOn::Tasks,
                ..
            })
        ),
        "{outcome:?}"
    );
    let record = world.record();
    assert_eq!(record.token, world.notice.action.token);
    assert!(!record.awaiting_action);
    assert_eq!(record.deadline_at, WARNING_SENT.plus_seconds(120));
    assert_eq!(record.heartbeat_timeout_seconds, Some(HEARTBEAT_TIMEOUT));
    // AND the checks heartbeat the action, stop what is left at the horizon, then complete
    let mut outcomes = Vec::new();
    while world.action().active && outcomes.len() < 5 {
        outcomes.push(world.fire_next_check().await);
    }
    assert!(
        outcomes
            .iter()
            .any(|outcome| matches!(outcome, Outcome::Decided(Decision::EnforceDeadline { .. }))),
        "{outcomes:?}"
    );
    assert!(
        outcomes
            .last()
            .is_some_and(|outcome| is_complete(outcome, LifecycleResult::Continue)),
        "{outcomes:?}"
    );
    assert!(world.action().heartbeats >= 1);
    assert_eq!(world.action().completions, 1);
}

/// A Spot warning sent 10 s after the lifecycle fixture (its horizon 130 s after the notice)
/// arrives a second later.
async fn a_later_warning_arrives(world: &World) -> Outcome {
    let mut payload = fixture("ec2-spot-interruption-warning.json");
    payload["time"] = Value::from("2026-11-02T18:43:58Z");
    let warning = spot_warning(&payload);
    world.clock.set(NOTICE_SENT.plus_seconds(11));
    world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("warning handled")
}

#[tokio::test]
async fn a_warning_for_a_drain_already_running_moves_its_deadline_to_the_horizon() {
    // GIVEN a drain started by the terminate action, waiting for a task
    let world = World::new();
    world.run_task("web-1", "service:web");
    world.terminate().await;
    let booked = world.booked_check().expect("check booked");
    // WHEN a Spot warning sent after it arrives
    let outcome = a_later_warning_arrives(&world).await;
    // THEN the drain is kept, its deadline and its check pulled to the warning's horizon
    assert_eq!(
        outcome,
        Outcome::Joined {
            deadline_moved: true
        }
    );
    let horizon = NOTICE_SENT.plus_seconds(10 + 120);
    let record = world.record();
    assert_eq!(
        (record.deadline_at, record.kind),
        (horizon, DrainKind::Lifecycle)
    );
    assert_eq!(world.booked_check(), Some(horizon));
    assert!(horizon < booked);
    assert_eq!(record.token, world.notice.action.token);
}

#[tokio::test]
async fn late_and_foreign_warnings_change_nothing() {
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    for (story, status, clusters) in [
        ("the instance is gone", "INACTIVE", Vec::new()),
        ("another cluster", "ACTIVE", vec!["batch".to_owned()]),
    ] {
        // GIVEN an instance ecs-drain may not drain
        let mut world = before_the_group_acts();
        world.set_instance_status(status);
        world.config.clusters = clusters;
        // WHEN a warning for it arrives
        let outcome = world
            .drainer()
            .on_spot_warning(&warning, &own())
            .await
            .expect("handled");
        // THEN it is ignored with a reason and nothing is written
        assert!(
            matches!(outcome, Outcome::Ignored { .. }),
            "{story}: {outcome:?}"
        );
        assert!(world.store.all().is_empty(), "{story}");
        assert_eq!(world.instance_status(), status, "{story}");
    }
}

#[tokio::test]
async fn a_spot_warning_older_than_its_horizon_drains_nothing() {
    // GIVEN a live instance with a task, and the clock five minutes past a warning's time
    // (an archive replay, a late redelivery or a direct invoke of an old warning)
    let world = before_the_group_acts();
    let web = world.run_task("web-1", "service:web");
    world.clock.set(WARNING_SENT.plus_seconds(300));
    world.log.clear();
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    // WHEN it arrives
    let outcome = world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("handled");
    // THEN it is refused as history, before any call: no drain, the instance and its task
    // untouched (a drain would start past its deadline and stop the task at once)
    assert_eq!(
        outcome,
        Outcome::Refused {
            refusal: Refusal::Unbelieved(UnbelievedNotice::Stale {
                kind: EarlyDrainKind::Interruption,
                age_seconds: 300,
                horizon_seconds: 120,
            })
        }
    );
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
    assert!(world.store.all().is_empty());
    assert_eq!(world.instance_status(), "ACTIVE");
    assert_eq!(world.task_status(&web), "RUNNING");
}

#[tokio::test]
async fn a_stale_warning_leaves_a_running_drain_s_deadline_alone() {
    // GIVEN a drain started by the terminate action, waiting for a task
    let world = World::new();
    world.run_task("web-1", "service:web");
    world.terminate().await;
    let before = world.record();
    let booked = world.booked_check();
    // WHEN a warning sent two minutes before the action arrives 131 s after it was sent
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    world.clock.set(WARNING_SENT.plus_seconds(131));
    let outcome = world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("handled");
    // THEN it is refused: the drain keeps its deadline and its check (a horizon already
    // past would have ended the graceful phase at once)
    assert!(
        matches!(
            &outcome,
            Outcome::Refused {
                refusal: Refusal::Unbelieved(UnbelievedNotice::Stale { .. })
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(world.record(), before);
    assert_eq!(world.booked_check(), booked);
}

#[tokio::test]
async fn a_warning_from_no_believable_clock_drains_nothing() {
    let mut ahead = fixture("ec2-spot-interruption-warning.json");
    ahead["time"] = Value::from("2026-11-02T18:43:48Z");
    let mut undated = fixture("ec2-spot-interruption-warning.json");
    undated
        .as_object_mut()
        .expect("an event object")
        .remove("time");
    for (story, payload, expected) in [
        (
            "dated two minutes ahead of the clock",
            ahead,
            "notice_ahead_of_clock",
        ),
        ("without a time", undated, "undated_notice"),
    ] {
        // GIVEN a live instance, the clock a second after the fixture's time
        let world = before_the_group_acts();
        world.log.clear();
        // WHEN the warning arrives
        let outcome = world
            .drainer()
            .on_spot_warning(&spot_warning(&payload), &own())
            .await
            .expect("handled");
        // THEN it is refused with its reason, before any call
        assert!(
            matches!(&outcome, Outcome::Refused { refusal } if refusal.name() == expected),
            "{story}: {outcome:?}"
        );
        assert!(world.log.calls().is_empty(), "{story}");
        assert_eq!(world.instance_status(), "ACTIVE", "{story}");
    }
}

#[tokio::test]
async fn a_rebalance_recommendation_past_the_stack_s_delivery_window_drains_nothing() {
    // GIVEN rebalance draining on with a long graceful phase, the clock an hour and a minute
    // past the recommendation's time
    let mut world = before_the_group_acts();
    world.config.drain_on_rebalance = true;
    world.config.policy.deadline_seconds = 7200;
    world.clock.set(Timestamp(1_793_644_202 + 3660));
    world.log.clear();
    // WHEN it arrives
    let outcome = world
        .drainer()
        .on_rebalance(&recommendation(), &own())
        .await
        .expect("handled");
    // THEN it is refused as history: the instance keeps serving
    assert!(
        matches!(
            &outcome,
            Outcome::Refused {
                refusal: Refusal::Unbelieved(UnbelievedNotice::Stale {
                    kind: EarlyDrainKind::Rebalance,
                    ..
                })
            }
        ),
        "{outcome:?}"
    );
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
    assert_eq!(world.instance_status(), "ACTIVE");
}

#[tokio::test]
async fn a_rebalance_recommendation_is_ignored_unless_enabled() {
    // GIVEN the default settings
    let world = before_the_group_acts();
    world.log.clear();
    // WHEN a rebalance recommendation arrives
    let outcome = world
        .drainer()
        .on_rebalance(&recommendation(), &own())
        .await
        .expect("handled");
    // THEN it is ignored, saying why, before any call
    let Outcome::Ignored { reason } = outcome else {
        unreachable!("ignored: {outcome:?}");
    };
    assert!(reason.contains("ECS_DRAIN_ON_REBALANCE"), "{reason}");
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
    assert_eq!(world.instance_status(), "ACTIVE");
}

#[tokio::test]
async fn a_rebalance_drain_no_action_joins_ends_and_gives_the_instance_back() {
    // GIVEN rebalance draining on, a two-minute graceful phase, an instance with a task
    let mut world = before_the_group_acts();
    world.config.drain_on_rebalance = true;
    world.config.policy.deadline_seconds = 120;
    world.clock.set(Timestamp(1_793_644_202 + 1));
    let web = world.run_task("web-1", "service:web");
    // WHEN the recommendation arrives
    let drainer = world.drainer();
    drainer
        .on_rebalance(&recommendation(), &own())
        .await
        .expect("handled");
    // THEN the instance drains, with the graceful phase as the deadline
    assert_eq!(world.instance_status(), "DRAINING");
    let record = world.record();
    assert_eq!(record.kind, DrainKind::Rebalance);
    assert_eq!(record.deadline_at, Timestamp(1_793_644_202 + 120));
    assert!(record.immovable_services.is_empty());
    assert_eq!(
        drainer.take_facts(),
        vec![Fact::EarlyDrainStarted(EarlyDrainKind::Rebalance)]
    );
    // WHEN no terminate action ever comes: checks run past the deadline and the wait
    let mut ended = None;
    for _ in 0..20 {
        let outcome = world.fire_next_check().await;
        if outcome == Outcome::EndedWithoutAction {
            ended = Some(world.clock.now());
            break;
        }
    }
    // THEN the task was never stopped, and the drain ended once the wait ran out
    let ended = ended.expect("the drain ended");
    assert!(ended >= record.deadline_at.plus_seconds(ACTION_WAIT_SECONDS));
    assert_eq!(world.task_status(&web), "RUNNING");
    // AND the instance, still in service, is ACTIVE again; no lifecycle call was made
    assert_eq!(world.instance_status(), "ACTIVE");
    let record = world.record();
    assert_eq!(
        (record.status, record.result),
        (DrainStatus::Completed, None)
    );
    assert_eq!(world.booked_check(), None);
    assert_eq!(
        world
            .log
            .count("autoscaling:RecordLifecycleActionHeartbeat"),
        0
    );
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
}

#[tokio::test]
async fn a_group_with_the_managed_draining_hook_is_warned_about_once_per_drain() {
    // GIVEN the group also carries ECS managed draining's hook
    let world = World::new();
    let managed = HookRef {
        asg_name: AsgName::new("prod-ecs-asg").expect("name"),
        hook_name: HookName::new(ECS_MANAGED_DRAINING_HOOK).expect("name"),
    };
    world.hooks.add_hook(&managed, 3600);
    world.run_task("web-1", "service:web");
    // WHEN the terminate action arrives, twice
    let drainer = world.drainer();
    drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect("handled");
    drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect("duplicate handled");
    // THEN the drain warned once, and says so on its record
    let facts = drainer.take_facts();
    assert_eq!(
        facts
            .iter()
            .filter(|fact| **fact == Fact::ManagedDrainingCoexists)
            .count(),
        1,
        "{facts:?}"
    );
    assert!(world.record().coexistence_warned);
    // AND reading the group's hooks took the one DescribeLifecycleHooks call each notice
    // makes before its insert
    assert_eq!(world.log.count("autoscaling:DescribeLifecycleHooks"), 2);
    // WHEN the managed hook's own action for the instance arrives
    let mut theirs = world.notice_for_hook(ECS_MANAGED_DRAINING_HOOK);
    theirs.action.token = token("7e3c1d2b-9a8f-4e6d-b5c4-a3b2c1d0e9f8");
    world.hooks.begin(&theirs.action);
    world.log.clear();
    let outcome = world.deliver(&theirs).await.expect("handled");
    // THEN ecs-drain leaves it to ECS: ignored, untouched, nothing read
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    let action = world.hooks.action(&theirs.action.token).expect("begun");
    assert_eq!(
        (action.active, action.completions, action.heartbeats),
        (true, 0, 0)
    );
    assert!(world.log.calls().is_empty());
}

#[tokio::test]
async fn a_group_without_the_managed_hook_is_not_warned_about() {
    let world = World::new();
    let drainer = world.drainer();
    drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect("handled");
    assert!(
        !drainer
            .take_facts()
            .contains(&Fact::ManagedDrainingCoexists)
    );
    assert!(!world.record().coexistence_warned);
}

/// A store in which a concurrent look writes the early drain's progress just before each of
/// the first `races` attempts of the terminate action to join it.
fn join_race_store(inner: &MemoryStore, races: usize) -> impl DrainStore {
    let races = std::sync::atomic::AtomicUsize::new(races);
    InterferingStore {
        inner: inner.clone(),
        interfere: move |store: &MemoryStore, record: &DrainRecord| {
            let stored = store
                .get(&record.container_instance_arn)
                .filter(|stored| stored.awaiting_action && !record.awaiting_action);
            if let Some(stored) = stored
                && races
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok()
            {
                store.put(stored.progressed(stored.updated_at));
            }
        },
    }
}

/// An early drain (the Spot warning) waiting for a task, and the group's terminate action
/// begun for the instance 30 s after the warning.
async fn early_drain_then_the_group_acts() -> World {
    let world = before_the_group_acts();
    world.run_task("web-1", "service:web");
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("warning handled");
    assert!(world.record().awaiting_action);
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "Terminating:Wait");
    world.clock.set(WARNING_SENT.plus_seconds(30));
    world
}

#[tokio::test]
async fn a_terminate_action_losing_its_join_to_a_concurrent_look_joins_again() {
    // GIVEN an early drain whose progress a concurrent look writes just as the terminate
    // action joins it
    let world = early_drain_then_the_group_acts().await;
    let drainer = world.drainer_over(join_race_store(&world.store, 1));
    // WHEN the terminate action arrives
    let outcome = drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect("terminate handled");
    // THEN it re-reads the drain and joins it: one drain, holding the action
    assert_one_drain_holds_the_action(&world, &outcome);
}

/// The terminate action joined the early drain: the drain waits for its task, holding the
/// action, with the warning's horizon as its deadline.
fn assert_one_drain_holds_the_action(world: &World, outcome: &Outcome) {
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    let record = world.record();
    assert_eq!(record.token, world.notice.action.token);
    assert!(!record.awaiting_action);
    assert_eq!(record.kind, DrainKind::Interruption);
    assert_eq!(record.deadline_at, WARNING_SENT.plus_seconds(120));
}

#[tokio::test]
async fn a_terminate_action_losing_its_join_again_and_again_fails_with_a_bounded_reason() {
    // GIVEN an early drain that a concurrent writer moves on before every join attempt
    let world = early_drain_then_the_group_acts().await;
    let drainer = world.drainer_over(join_race_store(&world.store, usize::MAX));
    world.log.clear();
    // WHEN the terminate action arrives
    let error = drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect_err("the join keeps losing");
    // THEN after three retries it fails retryably (the event is delivered again), saying why
    // in a bounded reason, and the early drain is not clobbered
    assert!(error.is_retryable(), "{error}");
    let reason = error_chain(&error);
    assert!(reason.contains("each of 3 retries"), "{reason}");
    assert!(reason.len() < 300, "{reason}");
    // The insert that finds the early drain, then the join and its three retries, each
    // losing to the concurrent write (not logged).
    assert_eq!(world.log.count("dynamodb:PutItem"), 5);
    let record = world.record();
    assert!(record.awaiting_action);
    assert!(record.token.is_none_yet());
}

#[tokio::test]
async fn a_warning_for_a_drain_whose_completion_was_sent_leaves_it_alone() {
    // GIVEN a drain of an empty instance whose completion was sent, its answer unclear (the
    // claim was given back noting the send)
    let world = World::new();
    world.hooks.fail_next_complete(DrainError::transient(
        "autoscaling:CompleteLifecycleAction",
        "the answer timed out",
    ));
    let failed = world.deliver(&world.notice).await;
    assert!(failed.is_err(), "{failed:?}");
    let sent = world.record();
    assert!(sent.completion_sent_at.is_some());
    // WHEN a Spot warning sent after it arrives, its horizon earlier than the drain's deadline
    let outcome = a_later_warning_arrives(&world).await;
    // THEN the drain is not rewritten: whoever finishes the completion writes next
    assert_eq!(
        outcome,
        Outcome::Joined {
            deadline_moved: false
        }
    );
    assert_eq!(world.record(), sent);
}

/// A store in which a Spot warning's invocation inserts its early drain (`early`) just before
/// the first write of this invocation.
fn early_insert_race_store(inner: &MemoryStore, early: DrainRecord) -> impl DrainStore {
    let early = std::sync::Mutex::new(Some(early));
    InterferingStore {
        inner: inner.clone(),
        interfere: move |store: &MemoryStore, _: &DrainRecord| {
            let early = early
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(early) = early {
                assert!(store.get(&early.container_instance_arn).is_none());
                store.put(early);
            }
        },
    }
}

#[tokio::test]
async fn a_terminate_action_whose_insert_loses_to_a_spot_warning_s_joins_its_drain() {
    // GIVEN the early drain a Spot warning starts for the instance (recorded by another
    // invocation: taken from a world of its own)
    let elsewhere = before_the_group_acts();
    elsewhere.run_task("web-1", "service:web");
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    elsewhere
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("warning handled");
    let early = elsewhere.record();
    assert!(early.awaiting_action);
    // AND the group's terminate action, handled at the same moment, its insert losing to that
    // early drain's
    let world = World::new();
    world.run_task("web-1", "service:web");
    let mut notice = world.notice.clone();
    notice.sent_at = Some(WARNING_SENT.plus_seconds(30));
    world.clock.set(WARNING_SENT.plus_seconds(30));
    let drainer = world.drainer_over(early_insert_race_store(&world.store, early));
    // WHEN it finds the early drain there
    let outcome = drainer
        .on_terminate(&notice, Mode::Live)
        .await
        .expect("terminate handled");
    // THEN it joins it: one drain, holding the action, with the warning's horizon
    assert_one_drain_holds_the_action(&world, &outcome);
    assert_eq!(world.instance_status(), "DRAINING");
}

#[tokio::test]
async fn a_spot_warning_whose_invocation_stops_after_recording_its_drain_leaves_a_check_that_ends_it()
 {
    // GIVEN a live instance with a task, and a Spot warning whose invocation stops right
    // after recording the early drain: its insert lands, its answer is lost and the SDK's
    // retry loses to it, so the invocation sees a lost race and does nothing more (as one
    // that dies there)
    let world = before_the_group_acts();
    world.run_task("web-1", "service:web");
    let warning = spot_warning(&fixture("ec2-spot-interruption-warning.json"));
    let answer_lost = InterferingStore {
        inner: world.store.clone(),
        interfere: |store: &MemoryStore, record: &DrainRecord| {
            if store.get(&record.container_instance_arn).is_none() {
                store.put(record.clone());
            }
        },
    };
    let stopped = world
        .drainer_over(answer_lost)
        .on_spot_warning(&warning, &own())
        .await
        .expect("warning handled");
    assert_eq!(stopped, Outcome::LostRace);
    assert_eq!(world.record().status, DrainStatus::Draining);
    // AND Lambda's retry arrives past the warning's horizon: refused as stale, it starts
    // nothing and changes nothing
    world.clock.set(WARNING_SENT.plus_seconds(136));
    let retried = world
        .drainer()
        .on_spot_warning(&warning, &own())
        .await
        .expect("retry handled");
    assert!(matches!(retried, Outcome::Refused { .. }), "{retried:?}");

    // WHEN the checks run and no terminate action ever comes
    let mut ended = false;
    for _ in 0..20 {
        if world.booked_check().is_none() {
            break;
        }
        if world.fire_next_check().await == Outcome::EndedWithoutAction {
            ended = true;
            break;
        }
    }

    // THEN the drain's first check was booked before it died, and the checks end the drain
    // instead of leaving it DRAINING with nothing to look at it
    assert!(ended, "{:?}", world.record());
    assert!(world.record().status.is_terminal());
    assert_eq!(world.booked_check(), None);
}
