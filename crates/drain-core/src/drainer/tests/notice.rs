//! Stories of the terminate notice's one write (issue 11): Auto Scaling confirms, the census
//! is taken, then one conditional insert of the record with that census, and only once it is
//! in, the first check. A record already on file comes back from the failed insert.

use super::*;
use crate::testing::layer::{Layer, Layered};

/// Fails the first call of `operation` (as an invocation that dies just before it would: the
/// call never reaches the world), then lets every call pass. Clones share the one death.
#[derive(Clone)]
struct DiesBefore {
    operation: &'static str,
    died: Arc<AtomicBool>,
}

impl DiesBefore {
    fn new(operation: &'static str) -> DiesBefore {
        DiesBefore {
            operation,
            died: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Layer for DiesBefore {
    async fn before(&self, operations: &'static [&'static str]) -> Result<(), DrainError> {
        if operations.contains(&self.operation) && !self.died.swap(true, Ordering::SeqCst) {
            return Err(DrainError::transient(
                self.operation,
                "the invocation died here",
            ));
        }
        Ok(())
    }
}

type DyingDrainer = Drainer<
    PortSet<
        MemoryCluster,
        MemoryHooks,
        Layered<MemoryStore, DiesBefore>,
        Layered<MemoryScheduler, DiesBefore>,
        Arc<ManualClock>,
    >,
>;

/// A drainer over the world whose store and scheduler calls first go to `dies`.
fn dying_drainer(world: &World, dies: &DiesBefore) -> DyingDrainer {
    Drainer::new(
        PortSet {
            cluster: world.cluster.clone(),
            hooks: world.hooks.clone(),
            store: Layered::new(world.store.clone(), dies.clone()),
            scheduler: Layered::new(world.scheduler.clone(), dies.clone()),
            clock: Arc::clone(&world.clock),
        },
        world.config.clone(),
    )
}

fn started_count(facts: &[Fact]) -> usize {
    facts
        .iter()
        .filter(|fact| **fact == Fact::DrainStarted)
        .count()
}

#[tokio::test]
async fn two_notices_at_once_start_one_drain_whose_check_stays_where_the_first_booked_it() {
    // GIVEN an instance running a task, and the same notice delivered twice at the same moment
    // (two invocations interleaving at every DynamoDB round trip)
    let world = World::new();
    world.run_task("web-1", "service:web");
    let first = world.drainer_over(YieldingStore(world.store.clone()));
    let second = world.drainer_over(YieldingStore(world.store.clone()));

    // WHEN both handle it
    let (one, other) = tokio::join!(
        first.on_terminate(&world.notice, Mode::Live),
        second.on_terminate(&world.notice, Mode::Live)
    );

    // THEN one insert wins and one drain starts; the other finds it on file and carries it on
    for outcome in [one.expect("handled"), other.expect("handled")] {
        assert!(
            matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
            "{outcome:?}"
        );
    }
    let started = started_count(&first.take_facts()) + started_count(&second.take_facts());
    assert_eq!(started, 1);
    assert_eq!(world.store.all().len(), 1);
    // AND the check is the one the inserted record names, booked once each, never moved
    let planned = NOTICE_SENT.plus_seconds(CHECK_INTERVAL);
    assert_eq!(world.booked_check(), Some(planned));
    assert_eq!(world.record().next_check_at, Some(planned));
    assert_eq!(world.log.count("dynamodb:GetItem"), 0);
    assert_eq!(
        world.log.count("autoscaling:DescribeAutoScalingInstances"),
        2
    );
}

#[tokio::test]
async fn a_notice_whose_insert_finds_its_action_on_file_never_books_a_check_of_its_own() {
    // GIVEN the drain another invocation inserted moments ago for the EventBridge notice (taken
    // from a world of its own), and the same action's SNS notice, sent 20 s later, whose own
    // first check would be 20 s later too
    let elsewhere = World::new();
    elsewhere.run_task("web-1", "service:web");
    elsewhere.terminate().await;
    let on_file = elsewhere.record();
    let winners_check = NOTICE_SENT.plus_seconds(CHECK_INTERVAL);
    assert_eq!(on_file.next_check_at, Some(winners_check));
    let world = World::new();
    world.run_task("web-1", "service:web");
    let mut late_copy = world.notice.clone();
    late_copy.sent_at = Some(NOTICE_SENT.plus_seconds(20));
    let inserted = std::sync::Mutex::new(Some(on_file.clone()));
    let store = InterferingStore {
        inner: world.store.clone(),
        interfere: move |store: &MemoryStore, _: &DrainRecord| {
            let winner = inserted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let Some(winner) = winner {
                store.put(winner);
            }
        },
    };

    // WHEN the SNS copy is handled and its insert loses to that record
    let drainer = world.drainer_over(store);
    let outcome = drainer
        .on_terminate(&late_copy, Mode::Live)
        .await
        .expect("handled");

    // THEN the drain on file carries on, learnt from the failed insert (no GetItem)...
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(started_count(&drainer.take_facts()), 0);
    let record = world.record();
    assert_eq!(record.noticed_at, NOTICE_SENT);
    assert_eq!(record.started_at, on_file.started_at);
    assert_eq!(world.log.count("dynamodb:GetItem"), 0);
    // ...and its check is booked at the time that record names (the winner may have died
    // before booking it), never at this notice's own
    assert_eq!(world.booked_check(), Some(winners_check));
    assert_eq!(record.next_check_at, Some(winners_check));
}

#[tokio::test]
async fn an_empty_instance_is_recorded_first_then_completed_on_the_notice_s_one_census() {
    // GIVEN an instance with nothing alive on it (the common case with ECS managed scaling)
    let world = World::new();

    // WHEN the terminate notice arrives
    let outcome = world.terminate().await;

    // THEN the record is inserted before anything of the completion, and the one census the
    // notice took is the proof: no second census
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
    assert_eq!(
        world.log.calls(),
        vec![
            "ecs:ListContainerInstances",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLifecycleHooks",
            "ecs:UpdateContainerInstancesState",
            "ecs:ListTasks",
            "ecs:ListTasks",
            "dynamodb:PutItem",
            // the check that takes over a claim whose invocation dies, then the claim
            "scheduler:CreateSchedule",
            "dynamodb:PutItem",
            "autoscaling:CompleteLifecycleAction",
            "dynamodb:PutItem",
        ]
    );
    // the claim's guard check stays booked: it fires once and finds the drain ended
    assert!(world.booked_check().is_some());
}

#[tokio::test]
async fn a_notice_that_dies_between_draining_and_its_insert_starts_the_drain_on_the_retry() {
    // GIVEN an instance running a task, and an invocation that dies just before its insert
    let world = World::new();
    world.run_task("web-1", "service:web");
    let dies = DiesBefore::new("dynamodb:PutItem");
    let failed = dying_drainer(&world, &dies)
        .on_terminate(&world.notice, Mode::Live)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    // (the instance is DRAINING, with no record and no check)
    assert_eq!(world.instance_status(), "DRAINING");
    assert!(world.store.all().is_empty());
    assert_eq!(world.booked_check(), None);
    world.log.clear();

    // WHEN Lambda retries the event a minute later
    world.clock.advance(60);
    let outcome = world.terminate().await;

    // THEN the retry finds the instance DRAINING (no second update), inserts and books
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.count("ecs:UpdateContainerInstancesState"), 0);
    assert_eq!(world.log.count("dynamodb:PutItem"), 1);
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert_eq!(
        world.booked_check(),
        Some(NOTICE_SENT.plus_seconds(CHECK_INTERVAL))
    );
}

#[tokio::test]
async fn a_notice_that_dies_between_its_insert_and_the_booking_books_the_check_on_the_retry() {
    // GIVEN an instance running a task, and an invocation that dies just before booking the
    // check its inserted record names
    let world = World::new();
    world.run_task("web-1", "service:web");
    let dies = DiesBefore::new("scheduler:CreateSchedule");
    let failed = dying_drainer(&world, &dies)
        .on_terminate(&world.notice, Mode::Live)
        .await;
    assert!(failed.is_err(), "{failed:?}");
    let planned = NOTICE_SENT.plus_seconds(CHECK_INTERVAL);
    assert_eq!(world.record().next_check_at, Some(planned));
    assert_eq!(world.booked_check(), None);

    // WHEN Lambda retries the event a minute later
    world.clock.advance(60);
    let outcome = world.terminate().await;

    // THEN the retry finds the same action on file, carries it on, and books its check at the
    // time the record names
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.booked_check(), Some(planned));
    assert_eq!(world.record().next_check_at, Some(planned));
    assert_eq!(world.store.all().len(), 1);
    // AND that check carries the drain on: a heartbeat and the next check
    let outcome = world.fire_next_check().await;
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.action().heartbeats, 1);
}

#[tokio::test]
async fn a_dry_run_notice_reads_the_record_on_file_instead_of_inserting() {
    // GIVEN a drain on record for the notice's action
    let world = World::new();
    world.run_task("web-1", "service:web");
    world.terminate().await;
    let on_file = world.record();
    let booked = world.booked_check();
    world.log.clear();

    // WHEN the notice comes again as an archive replay (a dry run by default)
    let mut replayed = world.notice.clone();
    replayed.replay_name = Some("nightly".into());
    let outcome = world.deliver(&replayed).await.expect("handled");

    // THEN it decides on the drain on file, as the live insert would have found it, and
    // writes nothing
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.count("dynamodb:GetItem"), 1);
    for write in [
        "dynamodb:PutItem",
        "scheduler:CreateSchedule",
        "ecs:UpdateContainerInstancesState",
    ] {
        assert_eq!(world.log.count(write), 0, "{write}");
    }
    assert_eq!(world.record(), on_file);
    assert_eq!(world.booked_check(), booked);
}
