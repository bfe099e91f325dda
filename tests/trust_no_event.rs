//! Issue 9 over the wire: the built binaries, behind the Runtime API emulator, against the AWS
//! emulator (whose Auto Scaling extension reports `Terminating:Wait` while a terminate action
//! holds an instance and `InService` otherwise, through DescribeAutoScalingInstances). Every
//! story sends what a forger could send (an SNS message, a direct invoke, a scheduled-check
//! payload) and asserts that nothing changed in ECS, Auto Scaling, DynamoDB or the scheduler.

use aws_sdk_dynamodb::types::AttributeValue;
use drain_aws::{DynamoDrainStore, EventBridgeCheckScheduler};
use drain_core::config::{ENV_SCHEDULE_GROUP, ENV_SCHEDULE_ROLE_ARN};
use drain_core::ids::ContainerInstanceArn;
use drain_core::ports::DrainStore;
use drain_core::time::{Clock, SystemClock};
use drain_testkit::events::{LifecycleAction, lifecycle_event, lifecycle_sns_event};
use drain_testkit::runtime_api::{FunctionProcess, function_binary};
use drain_testkit::world::{WorldSnapshot, schedule_names};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::{Value, json};

type TestResult = Result<(), KitError>;

/// A token Auto Scaling never issued.
const FORGED_TOKEN: &str = "d0d0d0d0-1111-4222-8333-444455556666";

/// on-lifecycle with the stack's environment (schedule settings included).
fn on_lifecycle(emulator: &Emulator, world: &EmulatorWorld) -> Result<FunctionProcess, KitError> {
    let mut env = world.function_env();
    env.extend(emulator.function_env());
    env.push(("RUST_LOG".into(), "info".into()));
    FunctionProcess::spawn(&function_binary("on-lifecycle")?, env)
}

/// on-task-stopped as the stack runs it: no schedule settings.
fn on_task_stopped(
    emulator: &Emulator,
    world: &EmulatorWorld,
) -> Result<FunctionProcess, KitError> {
    let mut env = world.function_env();
    env.extend(emulator.function_env());
    env.push(("RUST_LOG".into(), "info".into()));
    env.retain(|(name, _)| name != ENV_SCHEDULE_GROUP && name != ENV_SCHEDULE_ROLE_ARN);
    FunctionProcess::spawn(&function_binary("on-task-stopped")?, env)
}

async fn respond_bytes(function: &FunctionProcess, payload: Vec<u8>) -> Result<Value, KitError> {
    let shown = String::from_utf8_lossy(&payload)
        .chars()
        .take(300)
        .collect::<String>();
    let invocation = function.invoke_bytes(payload).await?;
    invocation.result.map_err(|error| {
        format!(
            "{} answered an error for {shown}: {:?}",
            function.name(),
            error.document
        )
        .into()
    })
}

async fn respond(function: &FunctionProcess, payload: &Value) -> Result<Value, KitError> {
    respond_bytes(function, payload.to_string().into_bytes()).await
}

fn outcomes(report: &Value) -> Vec<&str> {
    report["outcomes"]
        .as_array()
        .map(|outcomes| outcomes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// What a refused input must leave untouched: ECS statuses, lifecycle actions, drain records
/// and booked schedules.
#[derive(Debug, PartialEq)]
struct Snapshot {
    world: WorldSnapshot,
    schedules: usize,
}

async fn snapshot(emulator: &Emulator, world: &EmulatorWorld) -> Result<Snapshot, KitError> {
    let schedules = schedule_names(&emulator.sdk_config(), &world.schedule_group).await?;
    Ok(Snapshot {
        world: world.snapshot().await?,
        schedules: schedules.len(),
    })
}

/// A notice for instance `index` that Auto Scaling never sent.
fn forged_action(world: &EmulatorWorld, index: usize) -> LifecycleAction {
    LifecycleAction {
        token: FORGED_TOKEN.into(),
        asg: world.asg.clone(),
        hook: world.hook.clone(),
        instance_id: world.instances[index].ec2_id.clone(),
        state: "active".into(),
        result: None,
        completions: 0,
        heartbeats: 0,
        created_at: SystemClock.now().epoch_seconds() as f64,
    }
}

/// Every log line the function wrote, each at most 16 KB.
fn assert_log_lines_bounded(function: &FunctionProcess) {
    for line in function.logs().lines() {
        assert!(
            line.len() <= 16 * 1024,
            "a log line of {} bytes: {}…",
            line.len(),
            line.chars().take(200).collect::<String>()
        );
    }
}

async fn schedule_exists(
    emulator: &Emulator,
    world: &EmulatorWorld,
    instance: &ContainerInstanceArn,
) -> Result<bool, KitError> {
    Ok(
        drain_testkit::world::booked_check(&emulator.sdk_config(), world, instance)
            .await?
            .is_some(),
    )
}

async fn world_with_a_task(emulator: &Emulator, name: &str) -> Result<EmulatorWorld, KitError> {
    let world =
        EmulatorWorld::build(emulator, &emulator.sdk_config(), &WorldSpec::new(name, 2)).await?;
    world.create_service("web", false, 50, 200).await?;
    world.start_service_task("web", 0).await?;
    Ok(world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_notice_for_an_instance_in_service_changes_nothing() -> TestResult {
    // GIVEN an instance in service running a task, Auto Scaling terminating nothing
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "forged").await?;
    assert_eq!(
        world.lifecycle_state(0).await?.as_deref(),
        Some("InService")
    );
    let function = on_lifecycle(&emulator, &world)?;
    let before = snapshot(&emulator, &world).await?;

    // WHEN a well-formed notice with an unknown token arrives, through SNS and as an
    // EventBridge-shaped direct invoke
    let forged = forged_action(&world, 0);
    for payload in [lifecycle_sns_event(&forged), lifecycle_event(&forged)] {
        let report = respond(&function, &payload).await?;
        // THEN it is refused with the reason Auto Scaling gave, and nothing changed
        assert_eq!(outcomes(&report), ["refused_not_terminating"], "{report}");
        assert!(
            report["refused"]
                .as_str()
                .is_some_and(|reason| reason.contains("InService")),
            "{report}"
        );
        assert_eq!(snapshot(&emulator, &world).await?, before);
    }
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    assert_log_lines_bounded(&function);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_for_another_account_or_region_changes_nothing() -> TestResult {
    // GIVEN an instance of this account really being scaled in
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "foreign").await?;
    let action = world.scale_in(0).await?;
    let function = on_lifecycle(&emulator, &world)?;
    let before = snapshot(&emulator, &world).await?;

    // WHEN its notice arrives carrying another account, then another region
    for (field, value, expected) in [
        ("account", "210987654321", "refused_foreign_account"),
        ("region", "eu-west-1", "refused_foreign_region"),
    ] {
        let mut event = lifecycle_event(&action);
        event[field] = json!(value);
        let report = respond(&function, &event).await?;
        // THEN it is refused and the instance keeps its tasks
        assert_eq!(outcomes(&report), [expected], "{report}");
        assert_eq!(snapshot(&emulator, &world).await?, before);
    }
    // AND the same notice for this account and region drains
    let report = respond(&function, &lifecycle_event(&action)).await?;
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_for_a_colliding_arn_leaves_the_live_drains_schedule_alone() -> TestResult {
    // GIVEN a live drain whose check is booked
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "collide").await?;
    let action = world.scale_in(0).await?;
    let function = on_lifecycle(&emulator, &world)?;
    assert_eq!(
        outcomes(&respond(&function, &lifecycle_event(&action)).await?),
        ["wait"]
    );
    let live = ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?;
    assert!(
        schedule_exists(&emulator, &world, &live).await?,
        "the live drain's check is booked"
    );

    // WHEN checks arrive for ARNs with the same container instance id: another cluster, the
    // old format without a cluster, and another account (refused before any read)
    let id = live.id().to_owned();
    let parts = live.parts().ok_or("live ARN parts")?;
    let colliding = [
        (
            format!(
                "arn:aws:ecs:{}:{}:container-instance/other-cluster/{id}",
                parts.region, parts.account
            ),
            "not_draining",
        ),
        (
            format!(
                "arn:aws:ecs:{}:{}:container-instance/{id}",
                parts.region, parts.account
            ),
            "not_draining",
        ),
        (
            format!(
                "arn:aws:ecs:{}:210987654321:container-instance/{}",
                parts.region, parts.path
            ),
            "refused_foreign_account",
        ),
    ];
    for (arn, expected) in colliding {
        let report = respond(
            &function,
            &json!({ "ecsDrainCheck": { "containerInstanceArn": arn } }),
        )
        .await?;
        assert_eq!(outcomes(&report), [expected], "{arn}: {report}");
        // THEN the live drain's schedule is still there, its record still DRAINING
        assert!(
            schedule_exists(&emulator, &world, &live).await?,
            "the check for {arn} deleted the live drain's schedule"
        );
    }
    let record = DynamoDrainStore::new(world.dynamodb.clone(), &world.table)
        .load(&live)
        .await?
        .ok_or("no record")?;
    assert_eq!(record.status.as_str(), "DRAINING");
    // AND a check payload with a NUL in the ARN is refused outright, naming the field
    let report = respond(
        &function,
        &json!({ "ecsDrainCheck": { "containerInstanceArn": format!("{live}\u{0}") } }),
    )
    .await?;
    assert_eq!(outcomes(&report), ["refused"], "{report}");
    assert!(
        report["refused"]
            .as_str()
            .is_some_and(|reason| reason.contains("containerInstanceArn")),
        "{report}"
    );
    assert!(schedule_exists(&emulator, &world, &live).await?);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_action_never_existed_leaves_the_instance_active() -> TestResult {
    // GIVEN a DRAINING container instance, in service in its group, with a drain on record for
    // a lifecycle action that never existed (as a forged notice left behind before notices
    // were verified)
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "never").await?;
    let arn = world.drain_without_action(0, FORGED_TOKEN).await?;
    let function = on_lifecycle(&emulator, &world)?;

    // WHEN its scheduled check fires and the heartbeat finds no such action
    let report = respond(
        &function,
        &json!({ "ecsDrainCheck": { "containerInstanceArn": arn.as_str() } }),
    )
    .await?;

    // THEN the drain is EXPIRED, saying why, and the container instance runs tasks again
    assert_eq!(outcomes(&report), ["action_gone"], "{report}");
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let item = world
        .dynamodb
        .get_item()
        .table_name(&world.table)
        .key("container_instance_arn", AttributeValue::S(arn.to_string()))
        .consistent_read(true)
        .send()
        .await?;
    let stored = DynamoDrainStore::new(world.dynamodb.clone(), &world.table)
        .load(&arn)
        .await?
        .ok_or("no record")?;
    assert_eq!(stored.status.as_str(), "EXPIRED", "{item:?}");
    assert!(
        stored
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("ACTIVE") && reason.contains("InService")),
        "{stored:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_keys_are_refused_in_every_channel_by_both_functions() -> TestResult {
    // GIVEN an instance really being scaled in, and both functions running
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "dupes").await?;
    let action = world.scale_in(0).await?;
    let lifecycle = on_lifecycle(&emulator, &world)?;
    let tasks = on_task_stopped(&emulator, &world)?;
    let before = snapshot(&emulator, &world).await?;

    // WHEN its notice arrives with a key given twice (the last value a valid terminate)
    let event = lifecycle_event(&action).to_string();
    let twice_detail_type = event.replacen(
        r#""detail-type":"#,
        r#""detail-type":"EC2 Instance-launch Lifecycle Action","detail-type":"#,
        1,
    );
    let twice_transition = event.replacen(
        r#""LifecycleTransition":"#,
        r#""LifecycleTransition":"autoscaling:EC2_INSTANCE_LAUNCHING","LifecycleTransition":"#,
        1,
    );
    assert_ne!(twice_detail_type, event);
    assert_ne!(twice_transition, event);
    for payload in [twice_detail_type, twice_transition] {
        let report = respond_bytes(&lifecycle, payload.clone().into_bytes()).await?;
        // THEN it is refused naming the key, and nothing changed
        assert_eq!(outcomes(&report), ["refused"], "{report}");
        assert!(
            report["refused"]
                .as_str()
                .is_some_and(|reason| reason.contains("duplicate key")),
            "{report}"
        );
        let report = respond_bytes(&tasks, payload.into_bytes()).await?;
        assert_eq!(outcomes(&report), ["refused"], "{report}");
    }
    // AND an SNS event whose Records are empty is refused with a reason
    let report = respond(&lifecycle, &json!({ "Records": [] })).await?;
    assert_eq!(outcomes(&report), ["refused"], "{report}");
    assert_eq!(report["refused"], "SNS event has no records");
    assert_eq!(snapshot(&emulator, &world).await?, before);
    assert_log_lines_bounded(&lifecycle);
    assert_log_lines_bounded(&tasks);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_identifiers_are_refused_in_short_log_lines() -> TestResult {
    // GIVEN an instance really being scaled in
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "huge").await?;
    let action = world.scale_in(0).await?;
    let function = on_lifecycle(&emulator, &world)?;
    let before = snapshot(&emulator, &world).await?;

    // WHEN notices arrive whose identifiers are megabytes long or full of control characters
    for (field, value) in [
        ("EC2InstanceId", format!("i-{}", "a".repeat(5_000_000))),
        (
            "AutoScalingGroupName",
            format!("{}\n\u{1b}[2J", "g".repeat(1_000_000)),
        ),
        ("LifecycleHookName", "h\u{0}".repeat(100_000)),
        ("LifecycleActionToken", "t".repeat(2_000_000)),
    ] {
        let mut event = lifecycle_event(&action);
        event["detail"][field] = json!(value);
        let report = respond(&function, &event).await?;
        // THEN each is refused naming the field, in a short reason and short log lines
        assert_eq!(outcomes(&report), ["refused"], "{field}");
        let reason = report["refused"].as_str().unwrap_or_default();
        assert!(
            reason.contains(field) && reason.len() < 2_000,
            "{field}: {} bytes",
            reason.len()
        );
    }
    assert_eq!(snapshot(&emulator, &world).await?, before);
    assert_log_lines_bounded(&function);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_that_finds_no_drain_deletes_no_schedule() -> TestResult {
    // GIVEN two schedules in the group: one under the name a record-less ARN maps to but
    // checking the live drain's ARN (what a name collision would look like), and the live ARN's
    // own check, provably its own
    let emulator = Emulator::start()?;
    let world = world_with_a_task(&emulator, "own").await?;
    let live = ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?;
    let parts = live.parts().ok_or("live ARN parts")?;
    let stray = ContainerInstanceArn::new(format!(
        "arn:aws:ecs:{}:{}:container-instance/other-cluster/{}",
        parts.region,
        parts.account,
        live.id()
    ))?;
    let scheduler = aws_sdk_scheduler::Client::new(&emulator.sdk_config());
    let window = aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
        .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
        .build()?;
    let target = aws_sdk_scheduler::types::Target::builder()
        .arn("arn:aws:lambda:us-east-1:123456789012:function:on-lifecycle")
        .role_arn("arn:aws:iam::123456789012:role/ecs-drain-scheduler")
        .input(json!({ "ecsDrainCheck": { "containerInstanceArn": live.as_str() } }).to_string())
        .build()?;
    for name in [&stray, &live].map(EventBridgeCheckScheduler::schedule_name) {
        scheduler
            .create_schedule()
            .name(name)
            .group_name(&world.schedule_group)
            .schedule_expression("at(2030-01-01T00:00:00)")
            .flexible_time_window(window.clone())
            .target(target.clone())
            .action_after_completion(aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
            .send()
            .await?;
    }
    let function = on_lifecycle(&emulator, &world)?;

    // WHEN a check arrives for the record-less ARN, and one for the live ARN, which has no
    // drain on record either
    for arn in [&stray, &live] {
        let report = respond(
            &function,
            &json!({ "ecsDrainCheck": { "containerInstanceArn": arn.as_str() } }),
        )
        .await?;
        // THEN each finds no drain and deletes nothing: a one-shot check that fired is deleted
        // by EventBridge Scheduler itself, never by the function
        assert_eq!(outcomes(&report), ["not_draining"], "{arn}: {report}");
    }
    assert!(
        schedule_exists(&emulator, &world, &stray).await?,
        "a schedule checking another ARN was deleted"
    );
    assert!(
        schedule_exists(&emulator, &world, &live).await?,
        "the function deleted a check schedule"
    );
    Ok(())
}
