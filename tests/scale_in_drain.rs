//! End to end, in process: the real handlers and AWS adapters against the emulator. A cluster
//! of 3 instances in an Auto Scaling group with a terminate hook, 2 replica services, 1 daemon
//! service and 1 standalone task; one instance is scaled in, and the test plays the ECS
//! scheduler, feeding each STOPPED event to the handler.

use drain_aws::app::App;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_testkit::events::{ActionEnd, lifecycle_event, task_state_change_event};
use drain_testkit::{Emulator, EmulatorWorld, WorldSpec};

type TestResult = Result<(), drain_testkit::KitError>;

async fn record_status(
    world: &EmulatorWorld,
    index: usize,
) -> Result<Option<String>, drain_testkit::KitError> {
    drain_testkit::invoke::record_text(world, index, "status").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completes_the_lifecycle_action_once_after_the_last_task_and_then_the_daemon_stopped()
-> TestResult {
    // GIVEN three instances running web and api replicas and the log-router daemon, and a
    // standalone report task on the instance that will be scaled in.
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("e2e", 3)).await?;
    let tasks = world.populate_standard(0).await?;
    let app = App::new(world.config(), &sdk);
    let mut version = 10;
    let mut fed_events = Vec::new();

    // WHEN the group scales in instance 0 and the lifecycle action reaches on-lifecycle
    let action = world.scale_in(0).await?;
    assert_eq!(
        world.lifecycle_state(0).await?.as_deref(),
        Some("Terminating:Wait")
    );
    let lifecycle = lifecycle_event(&action);
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;

    // THEN the instance drains, the drain is recorded, and nothing is completed yet
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    assert_eq!(record_status(&world, 0).await?.as_deref(), Some("DRAINING"));
    assert_eq!(world.lifecycle_actions()?[0].state, "active");

    // WHEN ECS replaces each replica elsewhere, its old task first shutting down inside its
    // stopTimeout (lastStatus STOPPING), then STOPPED
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        world.start_service_task(service, 1 + position % 2).await?;
        world.hold_task(arn, "STOPPING")?;
        // a STOPPED event from elsewhere arrives while this task is still stopping
        let other = world.start_standalone_task("nightly-report", 2).await?;
        world
            .stop_task(&other, "Essential container in task exited")
            .await?;
        let report = handle_task_stopped(
            &app.drainer,
            &task_state_change_event(&world.describe_task(&other).await?, 1),
        )
        .await?;
        assert_eq!(
            report.outcomes,
            vec!["not_draining".to_owned()],
            "instance 2 is not draining"
        );
        version += 1;
        let event = world.stopped_by_drain(arn, version).await?;
        let report = handle_task_stopped(&app.drainer, &event).await?;
        fed_events.push(event);
        // the standalone task and the daemon are still alive
        assert_eq!(report.outcomes, vec!["wait".to_owned()]);
        assert_eq!(world.lifecycle_actions()?[0].completions, 0);
    }
    let daemon = world.describe_task(&tasks.daemon).await?;
    assert_eq!(
        daemon.desired_status(),
        Some("RUNNING"),
        "the daemon is left alone while the standalone task runs"
    );

    // WHEN the standalone task finishes on its own
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&world.describe_task(&tasks.standalone).await?, 20);
    let report = handle_task_stopped(&app.drainer, &event).await?;
    fed_events.push(event);

    // THEN only the daemon is left, and ecs-drain stops it, naming itself
    assert_eq!(report.outcomes, vec!["stop_daemons".to_owned()]);
    let daemon = world.describe_task(&tasks.daemon).await?;
    assert_eq!(daemon.desired_status(), Some("STOPPED"));
    assert!(
        daemon
            .stopped_reason()
            .unwrap_or_default()
            .starts_with("ecs-drain"),
        "{:?}",
        daemon.stopped_reason()
    );
    assert_eq!(
        world.lifecycle_actions()?[0].state,
        "active",
        "not completed before the daemon's STOPPED event"
    );

    // WHEN the daemon's STOPPED event arrives
    let event = task_state_change_event(&daemon, 30);
    let report = handle_task_stopped(&app.drainer, &event).await?;
    fed_events.push(event);

    // THEN the lifecycle action is completed exactly once with CONTINUE and the drain is COMPLETED
    assert_eq!(report.outcomes, vec!["complete".to_owned()]);
    assert_eq!(
        world.sole_action_end()?,
        ActionEnd::completed_once("CONTINUE")
    );
    assert_eq!(
        record_status(&world, 0).await?.as_deref(),
        Some("COMPLETED")
    );
    assert_eq!(
        world.lifecycle_state(0).await?,
        None,
        "the instance has left the group"
    );

    // WHEN every event is delivered again (EventBridge duplicates)
    handle_lifecycle(
        &app.drainer,
        &lifecycle,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    for event in &fed_events {
        handle_task_stopped(&app.drainer, event).await?;
    }
    // THEN nothing is completed a second time
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    assert_eq!(
        record_status(&world, 0).await?.as_deref(),
        Some("COMPLETED")
    );
    Ok(())
}
