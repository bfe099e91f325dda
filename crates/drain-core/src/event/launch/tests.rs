//! The launch-readiness inputs of on-lifecycle, read from the real-shaped fixtures.

use serde_json::Value;

use crate::event::{LifecycleInput, parse_lifecycle_payload};
use crate::ports::EcsInstanceStatus;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

fn change(value: &Value) -> super::ContainerInstanceChange {
    match parse_lifecycle_payload(value).expect("parses").as_slice() {
        [LifecycleInput::InstanceJoined(change)] => change.clone(),
        other => panic!("not one state change: {other:?}"),
    }
}

#[test]
fn container_instance_state_changes_of_every_status_are_read() {
    for (name, status, connected) in [
        (
            "ecs-container-instance-state-change-registering.json",
            EcsInstanceStatus::Registering,
            false,
        ),
        (
            "ecs-container-instance-state-change-active.json",
            EcsInstanceStatus::Active,
            true,
        ),
        (
            "ecs-container-instance-state-change.json",
            EcsInstanceStatus::Draining,
            true,
        ),
    ] {
        let change = change(&fixture(name));
        assert_eq!(
            (change.status.clone(), change.agent_connected),
            (status, connected),
            "{name}"
        );
    }
    let active = change(&fixture("ecs-container-instance-state-change-active.json"));
    assert_eq!(active.ec2_instance_id.as_str(), "i-0c3d2e1f0a9b8c7d6");
    assert_eq!(active.version, Some(2));
    assert_eq!(active.cluster_arn.name(), "prod-cluster");
}

#[test]
fn a_state_change_without_an_instance_id_is_refused_by_name() {
    let mut event = fixture("ecs-container-instance-state-change-active.json");
    event["detail"]
        .as_object_mut()
        .expect("object")
        .remove("ec2InstanceId");
    let refused = parse_lifecycle_payload(&event).expect_err("refused");
    assert!(refused.to_string().contains("ec2InstanceId"), "{refused}");
}

#[test]
fn a_mistyped_agent_connected_is_read_as_disconnected() {
    let mut event = fixture("ecs-container-instance-state-change-active.json");
    event["detail"]["agentConnected"] = Value::from("true");
    assert!(!change(&event).agent_connected);
}

#[test]
fn launch_actions_and_launch_checks_reach_on_lifecycle() {
    for name in [
        "lifecycle-launch-eventbridge-ecs-drain.json",
        "lifecycle-launch-eventbridge-from-warm-pool.json",
        "lifecycle-launch-sns.json",
    ] {
        let inputs = parse_lifecycle_payload(&fixture(name)).expect("parses");
        assert!(
            matches!(inputs.as_slice(), [LifecycleInput::Launch(_)]),
            "{name}: {inputs:?}"
        );
    }
    let check =
        serde_json::json!({ "ecsDrainLaunchCheck": { "ec2InstanceId": "i-0c3d2e1f0a9b8c7d6" } });
    assert!(matches!(
        parse_lifecycle_payload(&check).expect("parses").as_slice(),
        [LifecycleInput::LaunchCheck(id)] if id.as_str() == "i-0c3d2e1f0a9b8c7d6"
    ));
    let bad = serde_json::json!({ "ecsDrainLaunchCheck": { "ec2InstanceId": "web-1" } });
    assert!(parse_lifecycle_payload(&bad).is_err());
}
