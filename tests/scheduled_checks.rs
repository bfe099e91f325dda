//! Issue 4 over the wire: the per-drain scheduled check with the real AWS adapters against the
//! emulator (EventBridge Scheduler, Auto Scaling heartbeats, ECS StopTask, DynamoDB), and a
//! manual clock so the deadline arrives when the test says so.

use std::sync::Arc;

use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster, EventBridgeCheckScheduler};
use drain_core::config::ScheduleSettings;
use drain_core::decision::DeadlinePolicy;
use drain_core::drainer::{DEADLINE_STOP_REASON, Mode};
use drain_core::event::{LifecycleInput, TaskInput, parse_lifecycle_payload, parse_task_payload};
use drain_core::ids::ContainerInstanceArn;
use drain_core::ports::{DrainStore, PortSet};
use drain_core::record::{DrainPhase, DrainStatus};
use drain_core::testing::ManualClock;
use drain_core::time::{Clock, SystemClock};
use drain_core::{Config, Drainer};
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

type TestResult = Result<(), KitError>;
type AwsDrainer<'a> = Drainer<
    PortSet<
        EcsCluster,
        AsgLifecycleHooks,
        DynamoDrainStore,
        Option<Arc<EventBridgeCheckScheduler>>,
        &'a ManualClock,
    >,
>;

const TARGET: &str = "arn:aws:lambda:us-east-1:123456789012:function:ecs-drain-on-lifecycle";

fn drainer<'a>(
    world: &EmulatorWorld,
    sdk: &aws_config::SdkConfig,
    config: Config,
    clock: &'a ManualClock,
) -> AwsDrainer<'a> {
    let settings: &ScheduleSettings = config.schedule.as_ref().expect("schedule configured");
    let scheduler = EventBridgeCheckScheduler::new(
        aws_sdk_scheduler::Client::new(sdk),
        &settings.group,
        &settings.role_arn,
    )
    .target(TARGET);
    Drainer::new(
        PortSet {
            cluster: EcsCluster::new(world.ecs.clone()),
            hooks: AsgLifecycleHooks::new(world.autoscaling.clone()),
            store: DynamoDrainStore::new(world.dynamodb.clone(), &world.table),
            scheduler: Some(Arc::new(scheduler)),
            clock,
        },
        config,
    )
}

async fn start_drain(
    world: &EmulatorWorld,
    drainer: &AwsDrainer<'_>,
) -> Result<ContainerInstanceArn, KitError> {
    let action = world.scale_in(0).await?;
    let inputs = parse_lifecycle_payload(&lifecycle_event(&action))?;
    let [LifecycleInput::Terminate(notice)] = inputs.as_slice() else {
        return Err("not a terminate notice".into());
    };
    drainer.on_terminate(notice, Mode::Live).await?;
    Ok(ContainerInstanceArn::new(
        world.instances[0].container_instance_arn.clone(),
    )?)
}

async fn schedule_of(
    sdk: &aws_config::SdkConfig,
    world: &EmulatorWorld,
    instance: &ContainerInstanceArn,
) -> Result<Option<(String, String)>, KitError> {
    Ok(drain_testkit::world::booked_check(sdk, world, instance)
        .await?
        .map(|schedule| {
            (
                schedule
                    .schedule_expression()
                    .unwrap_or_default()
                    .to_owned(),
                schedule
                    .target()
                    .and_then(|target| target.input())
                    .unwrap_or_default()
                    .to_owned(),
            )
        }))
}

/// EventBridge Scheduler firing the drain's booked check (the played scheduler of the test kit:
/// the one-shot schedule is gone afterwards), invoking `drainer` with its input.
async fn fire_check(
    sdk: &aws_config::SdkConfig,
    world: &EmulatorWorld,
    drainer: &AwsDrainer<'_>,
    instance: &ContainerInstanceArn,
) -> Result<drain_core::drainer::Outcome, KitError> {
    let payload = drain_testkit::world::fire_booked_check(sdk, world, instance)
        .await?
        .ok_or("no check booked")?;
    let inputs = parse_lifecycle_payload(&payload)?;
    let [LifecycleInput::Check(checked)] = inputs.as_slice() else {
        return Err(format!("not a check payload: {payload}").into());
    };
    Ok(drainer
        .on_check(&checked.container_instance_arn, Mode::Live)
        .await?)
}

async fn world_with_tasks(
    emulator: &Emulator,
    name: &str,
) -> Result<(aws_config::SdkConfig, EmulatorWorld), KitError> {
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(emulator, &sdk, &WorldSpec::new(name, 3)).await?;
    world.populate_standard(0).await?;
    Ok((sdk, world))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_books_a_one_shot_check_that_invokes_the_lifecycle_function() -> TestResult {
    // GIVEN a drain just started on an instance with tasks
    let emulator = Emulator::start()?;
    let (sdk, world) = world_with_tasks(&emulator, "book").await?;
    let clock = ManualClock::new(SystemClock.now());
    let drainer = drainer(&world, &sdk, world.config(), &clock);
    let instance = start_drain(&world, &drainer).await?;

    // THEN one schedule exists for it, at one check interval (240 s for a 300 s heartbeat timeout),
    // carrying the check payload for this instance
    let record = DynamoDrainStore::new(world.dynamodb.clone(), &world.table)
        .load(&instance)
        .await?
        .ok_or("no record")?;
    assert_eq!(record.check_interval_seconds, 240);
    assert_eq!(record.heartbeat_timeout_seconds, Some(300));
    let booked = record.next_check_at.ok_or("no check booked")?;
    assert_eq!(booked, clock.now().plus_seconds(240));
    let (expression, input) = schedule_of(&sdk, &world, &instance)
        .await?
        .ok_or("no schedule")?;
    assert_eq!(
        expression,
        format!("at({})", booked.to_rfc3339().trim_end_matches('Z'))
    );
    let payload: serde_json::Value = serde_json::from_str(&input)?;
    assert_eq!(
        payload["ecsDrainCheck"]["containerInstanceArn"],
        instance.as_str()
    );
    assert!(matches!(
        parse_lifecycle_payload(&payload)?.as_slice(),
        [LifecycleInput::Check(_)]
    ));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_while_tasks_remain_heartbeats_the_hook_and_moves_the_schedule() -> TestResult {
    // GIVEN a drain waiting for tasks
    let emulator = Emulator::start()?;
    let (sdk, world) = world_with_tasks(&emulator, "beat").await?;
    let clock = ManualClock::new(SystemClock.now());
    let drainer = drainer(&world, &sdk, world.config(), &clock);
    let instance = start_drain(&world, &drainer).await?;

    // WHEN its check fires one interval later
    clock.advance(240);
    drainer.on_check(&instance, Mode::Live).await?;

    // THEN the hook got a heartbeat, the record counts it, and the next check is booked
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].state.as_str(), actions[0].heartbeats),
        ("active", 1)
    );
    let record = DynamoDrainStore::new(world.dynamodb.clone(), &world.table)
        .load(&instance)
        .await?
        .ok_or("no record")?;
    assert_eq!(record.heartbeats_sent, 1);
    assert_eq!(record.status, DrainStatus::Draining);
    assert_eq!(record.next_check_at, Some(clock.now().plus_seconds(240)));
    let census = record.last_census.ok_or("no census")?;
    assert_eq!(
        (
            census.alive.replica,
            census.alive.daemon,
            census.alive.standalone
        ),
        (2, 1, 1)
    );
    let (expression, _) = schedule_of(&sdk, &world, &instance)
        .await?
        .ok_or("no schedule")?;
    assert!(
        expression.contains(
            &clock
                .now()
                .plus_seconds(240)
                .to_rfc3339()
                .trim_end_matches('Z')
                .to_owned()
        ),
        "{expression}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_deadline_the_check_stops_what_is_left_and_then_continues() -> TestResult {
    // GIVEN a drain with a 10-minute deadline whose tasks never leave
    let emulator = Emulator::start()?;
    let (sdk, world) = world_with_tasks(&emulator, "deadline").await?;
    let clock = ManualClock::new(SystemClock.now());
    let mut config = world.config();
    config.policy.deadline_seconds = 600;
    let drainer = drainer(&world, &sdk, config, &clock);
    let instance = start_drain(&world, &drainer).await?;
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let deadline = store.load(&instance).await?.ok_or("no record")?.deadline_at;

    // WHEN the checks fire up to and at the deadline
    while clock.now() < deadline {
        let next = store
            .load(&instance)
            .await?
            .ok_or("no record")?
            .next_check_at
            .ok_or("no check booked")?;
        assert!(
            next <= deadline,
            "a graceful check is never booked past the deadline"
        );
        clock.set(next);
        fire_check(&sdk, &world, &drainer, &instance).await?;
    }

    // THEN every task left was stopped with the deadline reason, the drain is enforcing
    for task in world.tasks_on(0).await? {
        assert_eq!(task.desired_status(), Some("STOPPED"));
        assert_eq!(
            task.stopped_reason(),
            Some(DEADLINE_STOP_REASON),
            "{:?}",
            task.task_arn()
        );
    }
    let record = store.load(&instance).await?.ok_or("no record")?;
    assert_eq!(
        (record.phase, record.enforced_at),
        (DrainPhase::Enforcing, Some(deadline))
    );
    assert_eq!(world.lifecycle_actions()?[0].state, "active");

    // WHEN the STOPPED event of a task it stopped arrives (they are STOPPED in the emulator)
    clock.advance(30);
    let stopped = world
        .tasks_on(0)
        .await?
        .into_iter()
        .next()
        .ok_or("no task")?;
    let TaskInput::Stopped(change) = parse_task_payload(&task_state_change_event(&stopped, 9))?
    else {
        return Err("not a STOPPED event".into());
    };
    drainer.on_task_stopped(&change, Mode::Live).await?;

    // THEN the action is completed with CONTINUE
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].result.as_deref(), actions[0].completions),
        (Some("CONTINUE"), 1)
    );
    let ended = store.load(&instance).await?.ok_or("no record")?;
    assert_eq!(ended.status, DrainStatus::Completed);
    // AND the check the last look booked is left pending: the completion deletes nothing
    let (expression, _) = schedule_of(&sdk, &world, &instance)
        .await?
        .ok_or("the pending one-shot check is left")?;
    let pending = record.next_check_at.ok_or("no check booked")?;
    assert_eq!(
        expression,
        format!("at({})", pending.to_rfc3339().trim_end_matches('Z'))
    );

    // WHEN EventBridge Scheduler fires it at its time
    clock.set(pending);
    let outcome = fire_check(&sdk, &world, &drainer, &instance).await?;

    // THEN it finds the drain ended and changes nothing; the one-shot schedule is gone
    assert_eq!(outcome, drain_core::drainer::Outcome::NotDraining);
    assert_eq!(store.load(&instance).await?, Some(ended));
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    assert_eq!(schedule_of(&sdk, &world, &instance).await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_abandon_policy_abandons_at_the_deadline() -> TestResult {
    let emulator = Emulator::start()?;
    let (sdk, world) = world_with_tasks(&emulator, "abandon").await?;
    let clock = ManualClock::new(SystemClock.now());
    let mut config = world.config();
    config.policy.deadline_seconds = 300;
    config.policy.deadline_policy = DeadlinePolicy::Abandon;
    let drainer = drainer(&world, &sdk, config, &clock);
    let instance = start_drain(&world, &drainer).await?;

    clock.advance(300);
    drainer.on_check(&instance, Mode::Live).await?;

    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].result.as_deref(), actions[0].completions),
        (Some("ABANDON"), 1)
    );
    let tasks_alive = world
        .tasks_on(0)
        .await?
        .iter()
        .filter(|task| task.last_status() != Some("STOPPED"))
        .count();
    assert_eq!(
        tasks_alive, 4,
        "abandon stops nothing: the instance is kept as it is for inspection"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_after_the_hook_timed_out_ends_the_drain_as_expired() -> TestResult {
    // GIVEN a drain whose lifecycle action then times out at the hook
    let emulator = Emulator::start()?;
    let (sdk, world) = world_with_tasks(&emulator, "expired").await?;
    let clock = ManualClock::new(SystemClock.now());
    let drainer = drainer(&world, &sdk, world.config(), &clock);
    let instance = start_drain(&world, &drainer).await?;
    emulator.control(
        "POST",
        "/_ecs_drain/autoscaling/expire-lifecycle-actions",
        Some(&serde_json::json!({})),
    )?;

    // WHEN the check fires
    clock.advance(240);
    fire_check(&sdk, &world, &drainer, &instance).await?;

    // THEN the record says EXPIRED (terminal, not retried), and no check is booked again: the
    // one that fired was the last
    let record = DynamoDrainStore::new(world.dynamodb.clone(), &world.table)
        .load(&instance)
        .await?
        .ok_or("no record")?;
    assert_eq!(record.status, DrainStatus::Expired);
    assert_eq!(schedule_of(&sdk, &world, &instance).await?, None);
    assert_eq!(world.lifecycle_actions()?[0].completions, 0);
    Ok(())
}
