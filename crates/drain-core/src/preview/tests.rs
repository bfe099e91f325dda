//! A preview over the in-memory ports changes nothing, and the calls it records are the ones
//! the real handler then makes with the same event on the same state.

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::census::SchedulingStrategy;
use crate::config::Config;
use crate::handler::handle_lifecycle;
use crate::ids::{HookName, LifecycleToken};
use crate::record::DrainStatus;
use crate::testing::ManualClock;
use crate::testing::memory::{CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore};
use crate::testing::sample;

/// The fixtures' identifiers (tests/fixtures/README.md).
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
const CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
const EC2_INSTANCE: &str = "i-0598c7d356eba48d7";
const TASK: &str =
    "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/0a1b2c3d4e5f60718293a4b5c6d7e8f9";

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

type Memory = PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>;

/// The fixtures' instance ACTIVE with one replica task of `web`, held by the fixture notice's
/// lifecycle action; checks scheduled.
fn world() -> (Memory, CallLog, Value) {
    let log = CallLog::default();
    let notice = fixture("lifecycle-terminate-eventbridge.json");
    let ports = PortSet {
        cluster: MemoryCluster::new(log.clone()),
        hooks: MemoryHooks::new(log.clone()),
        store: MemoryStore::new(log.clone()),
        scheduler: MemoryScheduler::new(log.clone()),
        clock: Arc::new(ManualClock::new(Timestamp(1_793_645_030))),
    };
    let cluster = ClusterArn::new(CLUSTER).expect("arn");
    let instance = ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn");
    ports.cluster.add_instance(
        &cluster,
        &instance,
        &Ec2InstanceId::new(EC2_INSTANCE).expect("id"),
    );
    ports.cluster.add_service(
        &cluster,
        ServiceFacts {
            name: "web".into(),
            scheduling_strategy: Some(SchedulingStrategy::Replica),
            minimum_healthy_percent: Some(50),
            maximum_percent: Some(200),
        },
    );
    ports
        .cluster
        .add_task(&instance, &TaskArn::new(TASK).expect("arn"), "service:web");
    let detail = &notice["detail"];
    let text = |field: &str| detail[field].as_str().expect("fixture field").to_owned();
    let action = LifecycleActionRef {
        hook: crate::ids::HookRef {
            asg_name: crate::ids::AsgName::new(text("AutoScalingGroupName")).expect("name"),
            hook_name: HookName::new(text("LifecycleHookName")).expect("name"),
        },
        instance_id: Ec2InstanceId::new(text("EC2InstanceId")).expect("id"),
        token: LifecycleToken::new(text("LifecycleActionToken")).expect("token"),
    };
    ports.hooks.add_hook(&action.hook, 300);
    ports.hooks.begin(&action);
    log.clear();
    (ports, log, notice)
}

fn config() -> Config {
    Config {
        clusters: vec!["prod-cluster".into()],
        ..sample::config()
    }
}

fn mutations(log: &CallLog) -> Vec<&'static str> {
    let mut calls: Vec<&'static str> = log
        .calls()
        .into_iter()
        .filter(|call| MUTATING_OPERATIONS.contains(call))
        .collect();
    // The memory port logs one StopTask per task; a preview names a batch in one entry.
    calls.dedup_by(|a, b| *a == "ecs:StopTask" && a == b);
    calls
}

#[tokio::test]
async fn a_previewed_notice_changes_nothing_and_names_the_calls_the_function_then_makes() {
    let (ports, log, notice) = world();
    let (read_only_ports, calls) = read_only(ports.clone());
    let drainer = Drainer::new(read_only_ports, config());
    let own = FunctionIdentity::default();

    let previewed = preview(&drainer, &calls, &notice, &own)
        .await
        .expect("previewed");

    // nothing changed: no mutating call reached the ports, no record, no check, the instance
    // ACTIVE and the action untouched
    assert_eq!(mutations(&log), Vec::<&str>::new(), "{:?}", log.calls());
    assert!(
        log.calls().contains(&"ecs:ListTasks"),
        "the reads went through"
    );
    assert!(ports.store.all().is_empty());
    assert!(ports.scheduler.all().is_empty());
    let instance = ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn");
    assert_eq!(
        ports.cluster.instance_status(&instance).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(previewed.function, Function::OnLifecycle);
    assert_eq!(previewed.report.outcomes, vec!["wait".to_owned()]);
    let record = previewed.record.clone().expect("a record it would write");
    assert_eq!(record.status, DrainStatus::Draining);
    assert!(
        previewed
            .calls
            .iter()
            .all(|call| !call.detail.contains(record.token.expose())),
        "the token is a credential: {:?}",
        previewed.calls
    );

    // WHEN the real handler gets the same event on the same state
    log.clear();
    let real = Drainer::new(ports.clone(), config());
    let report = handle_lifecycle(&real, &notice, &own)
        .await
        .expect("handled");

    // THEN it decided the same and made exactly the calls the preview named, in order
    assert_eq!(report, previewed.report);
    let named: Vec<&str> = previewed.calls.iter().map(|call| call.operation).collect();
    assert_eq!(mutations(&log), named);
    assert_eq!(
        named,
        vec![
            "ecs:UpdateContainerInstancesState",
            "dynamodb:PutItem",
            "scheduler:CreateSchedule",
        ]
    );
    let stored = ports.store.get(&instance).expect("stored");
    assert_eq!(
        (
            stored.status,
            stored.reason.as_deref(),
            stored.next_check_at
        ),
        (
            record.status,
            record.reason.as_deref(),
            record.next_check_at
        )
    );
}

#[tokio::test]
async fn a_previewed_completion_names_every_write_and_makes_none() {
    // GIVEN a drain whose last replica task has stopped (the real handler started it)
    let (ports, log, notice) = world();
    let own = FunctionIdentity::default();
    let real = Drainer::new(ports.clone(), config());
    handle_lifecycle(&real, &notice, &own)
        .await
        .expect("started");
    let task = TaskArn::new(TASK).expect("arn");
    ports.cluster.set_task_status(&task, "STOPPED");
    let mut stopped = fixture("ecs-task-stopped-service.json");
    stopped["detail"]["taskArn"] = Value::from(TASK);
    let instance = ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn");
    let before = ports.store.get(&instance).expect("stored");
    log.clear();

    // WHEN its STOPPED event is previewed
    let (read_only_ports, calls) = read_only(ports.clone());
    let previewed = preview(
        &Drainer::new(read_only_ports, config()),
        &calls,
        &stopped,
        &own,
    )
    .await
    .expect("previewed");

    // THEN it would complete with CONTINUE, and nothing changed
    assert_eq!(previewed.function, Function::OnTaskStopped);
    assert_eq!(previewed.report.outcomes, vec!["complete".to_owned()]);
    assert_eq!(mutations(&log), Vec::<&str>::new());
    assert_eq!(ports.store.get(&instance), Some(before));
    let action = ports
        .hooks
        .action(&LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("token"))
        .expect("action");
    assert_eq!((action.active, action.completions), (true, 0));
    assert!(
        previewed.calls.iter().any(
            |call| call.operation == "autoscaling:CompleteLifecycleAction"
                && call.detail.starts_with("CONTINUE for i-0598c7d356eba48d7")
        ),
        "{:?}",
        previewed.calls
    );
    assert_eq!(
        previewed.record.map(|record| record.status),
        Some(DrainStatus::Completed)
    );

    // ... and the real handler then makes the same calls
    log.clear();
    let report = crate::handler::handle_task_stopped(&real, &stopped)
        .await
        .expect("handled");
    assert_eq!(report, previewed.report);
    let named: Vec<&str> = previewed.calls.iter().map(|call| call.operation).collect();
    assert_eq!(mutations(&log), named);
}

#[tokio::test]
async fn a_malformed_event_is_an_error_naming_the_field() {
    let (ports, _log, mut notice) = world();
    let (read_only_ports, calls) = read_only(ports);
    let drainer = Drainer::new(read_only_ports, config());
    if let Some(detail) = notice["detail"].as_object_mut() {
        detail.remove("LifecycleActionToken");
    }
    let failed = preview(&drainer, &calls, &notice, &FunctionIdentity::default()).await;
    let Err(PreviewError::BadEvent(error)) = failed else {
        unreachable!("a bad event: {failed:?}");
    };
    assert!(
        error.to_string().contains("LifecycleActionToken"),
        "{error}"
    );
    assert!(calls.calls().is_empty());
}

#[test]
fn a_failure_queue_record_is_read_as_the_payload_it_carries() {
    let notice = fixture("lifecycle-terminate-eventbridge.json");
    let record = serde_json::json!({
        "version": "1.0",
        "timestamp": "2026-11-02T18:44:50.000Z",
        "requestContext": {"requestId": "e4b46cbf", "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": notice.clone(),
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorType": "TransientAwsError"}
    });
    assert_eq!(unwrap_captured(record), notice);
    assert_eq!(unwrap_captured(notice.clone()), notice);
    assert_eq!(function_for(&notice), Function::OnLifecycle);
    assert_eq!(
        function_for(&fixture("ecs-container-instance-state-change-counts.json")),
        Function::OnTaskStopped
    );
    assert_eq!(
        function_for(&fixture("scheduled-check.json")),
        Function::OnLifecycle
    );
}
