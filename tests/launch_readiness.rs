//! Launch readiness over the wire, in process: the real on-lifecycle handler and AWS adapters
//! (ECS, Auto Scaling, DynamoDB, Scheduler) against the emulator, whose Auto Scaling extension
//! holds launches in Pending:Wait and models the warm pool with the `Origin` / `Destination`
//! fields AWS sends. The events are built from the emulator's state in the documented shapes
//! (tests/fixtures/README.md names the sources).

use drain_aws::app::App;
use drain_core::config::LaunchSettings;
use drain_core::decision::launch::LaunchPolicy;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::handler::handle_lifecycle;
use drain_core::time::Timestamp;
use drain_testkit::fleet::{
    FleetAction, LAUNCH_HOOK, add_launch_hook, add_warm_pool, asg_state,
    container_instance_state_change_event, fleet_action, fleet_actions, lifecycle_action_event,
    set_container_instance, set_desired, set_registration,
};
use drain_testkit::invoke::record_attribute;
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::{Value, json};

type TestResult = Result<(), KitError>;

fn actions(world: &EmulatorWorld, launch: bool) -> Result<Vec<FleetAction>, KitError> {
    Ok(fleet_actions(world.port, &world.asg)?
        .into_iter()
        .filter(|action| action.is_launch() == launch)
        .collect())
}

fn active(world: &EmulatorWorld, launch: bool) -> Result<FleetAction, KitError> {
    let mut found: Vec<FleetAction> = actions(world, launch)?
        .into_iter()
        .filter(|action| action.state == "active")
        .collect();
    match (found.pop(), found.is_empty()) {
        (Some(action), true) => Ok(action),
        _ => Err("expected exactly one active action of that kind".into()),
    }
}

fn by_token(world: &EmulatorWorld, token: &str) -> Result<FleetAction, KitError> {
    fleet_action(world.port, &world.asg, token)
}

/// The launch record as stored (the `launch` attribute's JSON under `launch#<id>`).
async fn launch_record(world: &EmulatorWorld, ec2_id: &str) -> Result<Option<Value>, KitError> {
    let stored = record_attribute(world, &format!("launch#{ec2_id}"), "launch").await?;
    Ok(stored
        .as_ref()
        .and_then(|value| value.as_s().ok())
        .map(|text| serde_json::from_str(text))
        .transpose()?)
}

fn app(world: &EmulatorWorld, sdk: &aws_config::SdkConfig) -> App {
    let mut config = world.config();
    config.launch = Some(LaunchSettings {
        hook_name: LAUNCH_HOOK.into(),
        policy: LaunchPolicy::default(),
    });
    App::new(config, sdk)
}

async fn handle(app: &App, payload: &Value) -> Result<Vec<String>, KitError> {
    let report = handle_lifecycle(&app.drainer, payload, &FunctionIdentity::default()).await?;
    Ok(report.outcomes)
}

fn now() -> Timestamp {
    drain_core::time::Clock::now(&drain_core::time::SystemClock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_instance_is_put_in_service_only_once_active_with_its_agent_connected() -> TestResult
{
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("launch", 1)).await?;
    add_launch_hook(&world).await?;
    set_registration(world.port, "REGISTERING", false)?;
    let app = app(&world, &sdk);

    // GIVEN a scale-out whose new instance waits in Pending:Wait
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let action = active(&world, true)?;
    assert_eq!(action.lifecycle_state, "Pending:Wait");
    let ec2_id = action.instance_id.clone();

    // WHEN its launch notice reaches on-lifecycle before any agent registered
    let notice = lifecycle_action_event(&action);
    assert_eq!(handle(&app, &notice).await?, vec!["launch_waiting"]);
    // THEN the launch is pending: recorded, a check booked, the action held
    let record = launch_record(&world, &ec2_id)
        .await?
        .ok_or("no launch record")?;
    assert_eq!(record["status"], json!("PENDING"));
    assert!(record["next_check_at"].is_number(), "{record}");
    assert_eq!(by_token(&world, &action.token)?.state, "active");

    // WHEN the agent registers (REGISTERING, disconnected), then ECS makes it ACTIVE first
    world
        .register_container_instance(&world.cluster, &ec2_id)
        .await?;
    let changed =
        set_container_instance(world.port, &world.cluster, &ec2_id, Some("ACTIVE"), None)?;
    assert_eq!(changed["agentConnected"], json!(false));
    let outcomes = handle(
        &app,
        &container_instance_state_change_event(&changed, now()),
    )
    .await?;
    // THEN it still waits, for the agent
    assert_eq!(outcomes, vec!["launch_waiting"]);
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("Pending:Wait")
    );

    // WHEN the agent connects and ECS reports it
    let connected = set_container_instance(world.port, &world.cluster, &ec2_id, None, Some(true))?;
    let event = container_instance_state_change_event(&connected, now());
    assert_eq!(handle(&app, &event).await?, vec!["launch_continued"]);
    // THEN the launch action is completed once with CONTINUE and the instance is InService
    let done = by_token(&world, &action.token)?;
    assert_eq!(
        (done.state.as_str(), done.result.as_deref()),
        ("completed", Some("CONTINUE"))
    );
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("InService")
    );
    let record = launch_record(&world, &ec2_id)
        .await?
        .ok_or("no launch record")?;
    assert_eq!(
        (record["status"].clone(), record["reason"].clone()),
        (json!("COMPLETED"), json!("ready"))
    );

    // WHEN EventBridge delivers both again THEN nothing is completed a second time
    assert_eq!(handle(&app, &notice).await?, vec!["already_finished"]);
    assert_eq!(handle(&app, &event).await?, vec!["no_pending_launch"]);
    assert_eq!(
        by_token(&world, &action.token)?.result.as_deref(),
        Some("CONTINUE")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_pool_round_trip_ends_with_the_container_instance_active() -> TestResult {
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("warm", 2)).await?;
    add_launch_hook(&world).await?;
    add_warm_pool(&world).await?;
    let app = app(&world, &sdk);

    // GIVEN a scale-in to the warm pool: the terminate action (Destination WarmPool) drains
    // the instance as today; nothing runs on it, so it completes at once
    set_desired(&world.autoscaling, &world.asg, 1).await?;
    let terminate = active(&world, false)?;
    assert_eq!(terminate.destination, "WarmPool");
    let ec2_id = terminate.instance_id.clone();
    let index = world
        .instances
        .iter()
        .position(|instance| instance.ec2_id == ec2_id)
        .ok_or("not a world instance")?;
    assert_eq!(
        handle(&app, &lifecycle_action_event(&terminate)).await?,
        vec!["complete"]
    );
    assert_eq!(world.instance_status(index).await?, "DRAINING");

    // It enters the pool through Warmed:Pending:Wait: completed at once, nothing to wait for
    let warming = active(&world, true)?;
    assert_eq!(warming.lifecycle_state, "Warmed:Pending:Wait");
    assert_eq!(
        handle(&app, &lifecycle_action_event(&warming)).await?,
        vec!["launch_continued"]
    );
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("Warmed:Stopped")
    );

    // WHEN the group scales out again and the instance comes back (Origin WarmPool), still
    // DRAINING with its agent disconnected
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let back = active(&world, true)?;
    assert_eq!(
        (back.instance_id.as_str(), back.origin.as_str()),
        (ec2_id.as_str(), "WarmPool")
    );
    assert_eq!(
        handle(&app, &lifecycle_action_event(&back)).await?,
        vec!["launch_waiting"]
    );
    // THEN ecs-drain, which drained it, sets it ACTIVE and waits for the agent
    assert_eq!(world.instance_status(index).await?, "ACTIVE");
    assert_eq!(by_token(&world, &back.token)?.state, "active");

    // WHEN its agent reconnects THEN the launch completes and the instance serves again
    let connected = set_container_instance(world.port, &world.cluster, &ec2_id, None, Some(true))?;
    let event = container_instance_state_change_event(&connected, now());
    assert_eq!(handle(&app, &event).await?, vec!["launch_continued"]);
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("InService")
    );
    assert_eq!(world.instance_status(index).await?, "ACTIVE");
    let record = launch_record(&world, &ec2_id)
        .await?
        .ok_or("no launch record")?;
    assert_eq!(record["reactivated"], json!(true));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_that_never_joins_is_abandoned_at_its_deadline_and_replaced() -> TestResult {
    use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster};
    use drain_core::Drainer;
    use drain_core::drainer::{LaunchOutcome, Mode, Outcome};
    use drain_core::ids::Ec2InstanceId;
    use drain_core::ports::PortSet;
    use drain_core::record::LifecycleResult;
    use drain_core::testing::ManualClock;
    use std::sync::Arc;

    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("never", 1)).await?;
    add_launch_hook(&world).await?;
    set_registration(world.port, "REGISTERING", false)?;
    // The real adapters, with a clock the test moves to the deadline (no scheduler: the test
    // fires the check itself).
    let mut config = app(&world, &sdk).drainer.config().clone();
    config.schedule = None;
    let clock = Arc::new(ManualClock::new(now()));
    let drainer = Drainer::new(
        PortSet {
            cluster: EcsCluster::new(world.ecs.clone()),
            hooks: AsgLifecycleHooks::new(world.autoscaling.clone()),
            store: DynamoDrainStore::new(world.dynamodb.clone(), &world.table),
            scheduler: None::<drain_aws::EventBridgeCheckScheduler>,
            clock: Arc::clone(&clock),
        },
        config,
    );

    // GIVEN a scale-out whose new instance's agent never registers
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let action = active(&world, true)?;
    let report = handle_lifecycle(
        &drainer,
        &lifecycle_action_event(&action),
        &FunctionIdentity::default(),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["launch_waiting"]);
    let record = launch_record(&world, &action.instance_id)
        .await?
        .ok_or("no launch record")?;
    let deadline = record["deadline"].as_i64().ok_or("no deadline")?;

    // WHEN the check runs a second before the deadline THEN it still waits
    let ec2_id = Ec2InstanceId::new(action.instance_id.clone())?;
    clock.set(Timestamp(deadline - 1));
    let outcome = drainer.on_launch_check(&ec2_id, Mode::Live).await?;
    assert!(
        matches!(outcome, Outcome::Launch(LaunchOutcome::Waiting { .. })),
        "{outcome:?}"
    );
    assert_eq!(by_token(&world, &action.token)?.state, "active");

    // WHEN the check runs at the deadline THEN the action is ABANDONed: the group terminates the
    // instance and launches a replacement
    clock.set(Timestamp(deadline));
    let outcome = drainer.on_launch_check(&ec2_id, Mode::Live).await?;
    assert!(
        matches!(
            &outcome,
            Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Abandon,
                ..
            })
        ),
        "{outcome:?}"
    );
    let done = by_token(&world, &action.token)?;
    assert_eq!(
        (done.state.as_str(), done.result.as_deref()),
        ("completed", Some("ABANDON"))
    );
    assert_eq!(
        asg_state(&world.autoscaling, &action.instance_id).await?,
        None
    );
    let replacement = active(&world, true)?;
    assert_ne!(replacement.instance_id, action.instance_id);
    let record = launch_record(&world, &action.instance_id)
        .await?
        .ok_or("no launch record")?;
    assert_eq!(
        (record["status"].clone(), record["reason"].clone()),
        (json!("COMPLETED"), json!("deadline_passed"))
    );
    Ok(())
}
