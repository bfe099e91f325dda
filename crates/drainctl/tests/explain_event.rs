//! `drainctl explain --event` as the built binary against the emulator, its calls through the
//! counting proxy: it makes no write over the wire (the table, the container instance, the
//! lifecycle action and the schedules are as they were), and what it says the function would
//! decide and call is what the real handler then decides and calls with the same event.

mod common;

use std::collections::BTreeMap;
use std::process::Output;

use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use drain_aws::DynamoDrainStore;
use drain_aws::app::App;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::ids::ContainerInstanceArn;
use drain_core::ports::DrainStore;
use drain_core::preview::MUTATING_OPERATIONS;
use drain_testkit::emulator::sdk_config_for;
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::proxy::{FaultPlan, Proxy};
use drain_testkit::world::schedule_names;
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

/// What the world looks like to an operator: the drain record, the container instance's
/// status, the lifecycle action and the booked checks.
#[derive(Debug, PartialEq)]
struct Snapshot {
    record: Option<(String, u64)>,
    instance: String,
    action: (String, u64, u64),
    schedules: Vec<String>,
}

async fn snapshot(world: &EmulatorWorld, sdk: &SdkConfig) -> Result<Snapshot, KitError> {
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let arn = ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?;
    let record = store
        .load(&arn)
        .await?
        .map(|record| (record.status.as_str().to_owned(), record.revision));
    let action = &world.lifecycle_actions()?[0];
    Ok(Snapshot {
        record,
        instance: world.instance_status(0).await?,
        action: (action.state.clone(), action.heartbeats, action.completions),
        schedules: schedule_names(sdk, &world.schedule_group).await?,
    })
}

/// `text` in file `name` of this test run's directory; its path.
fn write_file(name: &str, text: &str) -> Result<String, KitError> {
    let dir = std::env::temp_dir().join(format!("drainctl-explain-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.to_string_lossy().into_owned())
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// `explain --event` of `event` as JSON, through `proxy`, with the functions' settings.
fn explain(proxy: &Proxy, world: &EmulatorWorld, path: &str) -> Result<Value, KitError> {
    let output = common::drainctl(
        &proxy.endpoint(),
        None,
        &world.function_env(),
        &["explain", "--event", path, "--output", "json"],
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The mutating calls the proxy counted since its last reset.
fn mutations(proxy: &Proxy) -> BTreeMap<String, u64> {
    let counts = proxy
        .counts()
        .into_iter()
        .filter(|(operation, _)| MUTATING_OPERATIONS.contains(&operation.as_str()))
        .collect();
    proxy.reset_counts();
    counts
}

/// The calls explain named, counted per operation (a StopTask entry per task).
fn named(explained: &Value) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for call in explained["calls"].as_array().into_iter().flatten() {
        let operation = call["operation"].as_str().unwrap_or_default().to_owned();
        *counts.entry(operation).or_insert(0) += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_event_changes_nothing_and_names_what_the_function_then_does() -> TestResult {
    // GIVEN the standard tasks on instance 0, instance 0 scaled in, and the lifecycle event
    // Auto Scaling sent, captured in a file
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("ctl-event", 3)).await?;
    let tasks = world.populate_standard(0).await?;
    let action = world.scale_in(0).await?;
    let notice = lifecycle_event(&action);
    let path = write_file("notice.json", &notice.to_string())?;
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    let before = snapshot(&world, &sdk).await?;

    // WHEN drainctl explains it
    let explained = explain(&proxy, &world, &path)?;

    // THEN it made no write over the wire, and nothing changed
    assert_eq!(mutations(&proxy), BTreeMap::new());
    assert_eq!(snapshot(&world, &sdk).await?, before);
    assert_eq!(before.record, None);
    assert_eq!(before.instance, "ACTIVE");
    // ... and it said what on-lifecycle would do: start the drain and wait
    assert_eq!(explained["function"], "on-lifecycle");
    assert_eq!(explained["outcomes"], serde_json::json!(["wait"]));
    assert_eq!(explained["record"]["status"], "DRAINING");
    let calls: Vec<&str> = explained["calls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|call| call["operation"].as_str())
        .collect();
    assert_eq!(
        calls,
        vec![
            "ecs:UpdateContainerInstancesState",
            "dynamodb:PutItem",
            "scheduler:CreateSchedule",
        ],
        "{explained}"
    );

    // WHEN the real on-lifecycle handler gets the same event
    let app = App::new(
        world.config(),
        &sdk_config_for(
            &proxy.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
        ),
    );
    let report = handle_lifecycle(&app.drainer, &notice, &FunctionIdentity::default()).await?;

    // THEN it decided and called what explain said
    assert_eq!(serde_json::json!(report.outcomes), explained["outcomes"]);
    assert_eq!(mutations(&proxy), named(&explained));
    let after = snapshot(&world, &sdk).await?;
    assert_eq!(
        after.record.map(|(status, _)| status).as_deref(),
        Some("DRAINING")
    );
    assert_eq!(after.instance, "DRAINING");
    assert_eq!(after.schedules.len(), 1);

    // GIVEN a replica task of the draining instance then stopped (ECS moved it)
    let (_, web) = tasks.replicas.first().cloned().ok_or("no replica task")?;
    world
        .stop_task(&web, "Scaling activity initiated by deployment")
        .await?;
    let stopped = task_state_change_event(&world.describe_task(&web).await?, 3);
    let path = write_file("stopped.json", &stopped.to_string())?;
    let before = snapshot(&world, &sdk).await?;

    // WHEN drainctl explains its STOPPED event, THEN nothing changes and on-task-stopped would
    // wait, with one write and no ECS call (the record's alive set knows the task)
    let explained = explain(&proxy, &world, &path)?;
    assert_eq!(mutations(&proxy), BTreeMap::new());
    assert_eq!(snapshot(&world, &sdk).await?, before);
    assert_eq!(explained["function"], "on-task-stopped");
    assert_eq!(explained["outcomes"], serde_json::json!(["wait"]));
    assert_eq!(
        named(&explained),
        BTreeMap::from([("dynamodb:PutItem".to_owned(), 1)]),
        "{explained}"
    );
    // ... and the real handler does just that
    let report = handle_task_stopped(&app.drainer, &stopped).await?;
    assert_eq!(serde_json::json!(report.outcomes), explained["outcomes"]);
    assert_eq!(mutations(&proxy), named(&explained));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_file_or_a_bad_event_is_a_usage_error_of_one_line() -> TestResult {
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("ctl-event-bad", 1),
    )
    .await?;
    let endpoint = emulator.endpoint();
    let env = world.function_env();
    let run = |file: &str| common::drainctl(&endpoint, None, &env, &["explain", "--event", file]);

    let output = run("/nonexistent/event.json")?;
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(
        text.starts_with("drainctl: cannot read /nonexistent/event.json"),
        "{text}"
    );

    let path = write_file("not-json.json", "{\"detail-type\": ")?;
    let output = run(&path)?;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("is not JSON"),
        "{}",
        stderr(&output)
    );

    // an event that lacks its lifecycle action token: the one line names the field
    let mut notice = lifecycle_event(&drain_testkit::events::LifecycleAction {
        token: "630aa23f-48eb-45e7-aba6-799ea6093a0f".into(),
        asg: world.asg.clone(),
        hook: world.hook.clone(),
        instance_id: world.instances[0].ec2_id.clone(),
        state: "active".into(),
        result: None,
        completions: 0,
        heartbeats: 0,
        created_at: 0.0,
    });
    if let Some(detail) = notice["detail"].as_object_mut() {
        detail.remove("LifecycleActionToken");
    }
    let path = write_file("no-token.json", &notice.to_string())?;
    let output = run(&path)?;
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains("lacks LifecycleActionToken"), "{text}");
    Ok(())
}
