//! Fixture and refusal tests of the launch, warm-pool and EC2 notice parsing.

use super::*;
use crate::event::{LifecycleInput, parse_lifecycle_payload};

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
    serde_json::from_str(&text).unwrap_or_else(|error| panic!("parse {path}: {error}"))
}

fn one(inputs: Vec<FleetInput>) -> FleetInput {
    match <[FleetInput; 1]>::try_from(inputs) {
        Ok([input]) => input,
        Err(inputs) => panic!("expected one input, got {inputs:?}"),
    }
}

fn launch(name: &str) -> LaunchNotice {
    match one(parse_fleet_payload(&fixture(name)).expect("parses")) {
        FleetInput::Launch(notice) => notice,
        other => panic!("{name}: expected a launch notice, got {other:?}"),
    }
}

fn refusal(payload: &Value) -> EventError {
    parse_fleet_payload(payload).expect_err("must be refused")
}

#[test]
fn reads_a_launch_action_of_a_new_instance() {
    let notice = launch("lifecycle-launch-eventbridge-ecs-drain.json");
    assert_eq!(notice.action.instance_id.as_str(), "i-0c3d2e1f0a9b8c7d6");
    assert_eq!(notice.action.hook.asg_name.as_str(), "prod-ecs-asg");
    assert_eq!(notice.action.hook.hook_name.as_str(), "ecs-drain-launch");
    assert_eq!(
        notice.action.token.expose(),
        "9f1c2b3a-4d5e-4f60-8a7b-9c0d1e2f3a4b"
    );
    assert_eq!(notice.origin, Some(Placement::Ec2));
    assert_eq!(notice.destination, Some(Placement::AutoScalingGroup));
    assert!(!notice.returns_from_warm_pool());
    assert!(!notice.enters_warm_pool());
    assert_eq!(notice.channel, Channel::EventBridge);
    assert_eq!(notice.account.as_deref(), Some("123456789012"));
    assert_eq!(notice.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        notice.sent_at,
        Timestamp::parse_rfc3339("2026-11-02T18:40:02Z")
    );
}

#[test]
fn reads_warm_pool_origin_and_destination_of_launch_actions() {
    let back = launch("lifecycle-launch-eventbridge-from-warm-pool.json");
    assert_eq!(back.origin, Some(Placement::WarmPool));
    assert_eq!(back.destination, Some(Placement::AutoScalingGroup));
    assert!(back.returns_from_warm_pool());
    assert!(!back.enters_warm_pool());
    assert_eq!(
        back.sent_at.map(Timestamp::epoch_seconds),
        Timestamp::parse_rfc3339("2026-11-02T19:05:11Z").map(Timestamp::epoch_seconds)
    );
    let into = launch("lifecycle-launch-eventbridge-to-warm-pool.json");
    assert_eq!(into.origin, Some(Placement::Ec2));
    assert_eq!(into.destination, Some(Placement::WarmPool));
    assert!(into.enters_warm_pool());
    assert!(!into.returns_from_warm_pool());
}

#[test]
fn reads_a_launch_action_wrapped_in_sns() {
    let notice = launch("lifecycle-launch-sns.json");
    assert_eq!(notice.channel, Channel::Sns);
    assert!(notice.returns_from_warm_pool());
    assert_eq!(notice.account.as_deref(), Some("123456789012"));
    assert_eq!(
        notice.action.token.expose(),
        "6e8a0c2d-4f6b-4d8f-a0c2-5e7a9c1b3d5f"
    );
    // The message's own Time wins over the SNS envelope's Timestamp, as for terminate actions.
    assert_eq!(
        notice.sent_at,
        Timestamp::parse_rfc3339("2026-11-02T19:05:11.498Z")
    );
}

#[test]
fn a_launch_action_of_another_hook_is_still_a_launch_notice() {
    // Which hooks ecs-drain serves is configuration, decided after parsing.
    let notice = launch("lifecycle-launch-eventbridge.json");
    assert_eq!(notice.action.hook.hook_name.as_str(), "warm-up-hook");
}

#[test]
fn an_older_launch_action_without_origin_or_destination_parses() {
    let mut payload = fixture("lifecycle-launch-eventbridge-ecs-drain.json");
    let detail = payload["detail"].as_object_mut().expect("object");
    detail.remove("Origin");
    detail.remove("Destination");
    let FleetInput::Launch(notice) = one(parse_fleet_payload(&payload).expect("parses")) else {
        panic!("expected a launch notice");
    };
    assert_eq!((notice.origin, notice.destination), (None, None));
    assert!(!notice.returns_from_warm_pool());
}

#[test]
fn terminate_actions_and_other_events_are_not_fleet_inputs() {
    for name in [
        "lifecycle-terminate-eventbridge.json",
        "lifecycle-terminate-sns.json",
        "lifecycle-test-notification-sns.json",
        "ecs-task-stopped-service.json",
        "ec2-instance-state-change.json",
        "scheduled-event.json",
    ] {
        let input = one(parse_fleet_payload(&fixture(name)).expect("parses"));
        assert!(
            matches!(input, FleetInput::Other { .. }),
            "{name}: {input:?}"
        );
    }
}

#[test]
fn types_the_destination_of_terminate_actions() {
    let notice = |name: &str| match parse_lifecycle_payload(&fixture(name))
        .expect("parses")
        .as_slice()
    {
        [LifecycleInput::Terminate(notice)] => notice.clone(),
        other => panic!("{name}: {other:?}"),
    };
    let to_pool = notice("lifecycle-terminate-eventbridge-to-warm-pool.json");
    assert!(to_pool.goes_to_warm_pool());
    assert_eq!(
        to_pool.origin_placement(),
        Some(Placement::AutoScalingGroup)
    );
    let from_pool = notice("lifecycle-terminate-eventbridge-from-warm-pool.json");
    assert!(!from_pool.goes_to_warm_pool());
    assert_eq!(from_pool.origin_placement(), Some(Placement::WarmPool));
    assert_eq!(from_pool.destination_placement(), Some(Placement::Ec2));
    let plain = notice("lifecycle-terminate-eventbridge-no-origin.json");
    assert_eq!(plain.destination_placement(), None);
    assert!(!plain.goes_to_warm_pool());
}

#[test]
fn reads_spot_interruption_warnings() {
    let FleetInput::SpotInterruption(warning) =
        one(parse_fleet_payload(&fixture("ec2-spot-interruption-warning.json")).expect("parses"))
    else {
        panic!("expected a Spot warning");
    };
    assert_eq!(warning.instance_id.as_str(), "i-0598c7d356eba48d7");
    assert_eq!(warning.action, InstanceAction::Terminate);
    assert_eq!(
        warning.sent_at,
        Timestamp::parse_rfc3339("2026-11-02T18:41:48Z")
    );
    assert_eq!(warning.account.as_deref(), Some("123456789012"));
    assert_eq!(warning.replay_name, None);
    let FleetInput::SpotInterruption(hibernate) = one(parse_fleet_payload(&fixture(
        "ec2-spot-interruption-warning-hibernate.json",
    ))
    .expect("parses")) else {
        panic!("expected a Spot warning");
    };
    assert_eq!(hibernate.action, InstanceAction::Hibernate);
    let mut stop = fixture("ec2-spot-interruption-warning.json");
    stop["detail"]["instance-action"] = Value::from("stop");
    stop["replay-name"] = Value::from("spot-replay");
    let FleetInput::SpotInterruption(stop) = one(parse_fleet_payload(&stop).expect("parses"))
    else {
        panic!("expected a Spot warning");
    };
    assert_eq!(stop.action, InstanceAction::Stop);
    assert_eq!(stop.replay_name.as_deref(), Some("spot-replay"));
}

#[test]
fn reads_rebalance_recommendations() {
    let FleetInput::Rebalance(recommendation) =
        one(parse_fleet_payload(&fixture("ec2-rebalance-recommendation.json")).expect("parses"))
    else {
        panic!("expected a rebalance recommendation");
    };
    assert_eq!(recommendation.instance_id.as_str(), "i-0598c7d356eba48d7");
    assert_eq!(
        recommendation.sent_at,
        Timestamp::parse_rfc3339("2026-11-02T18:30:02Z")
    );
}

#[test]
fn ec2_detail_types_from_another_source_are_not_trusted() {
    for name in [
        "ec2-spot-interruption-warning.json",
        "ec2-rebalance-recommendation.json",
    ] {
        let mut payload = fixture(name);
        payload["source"] = Value::from("custom.ec2");
        let input = one(parse_fleet_payload(&payload).expect("parses"));
        assert!(
            matches!(input, FleetInput::Other { .. }),
            "{name}: {input:?}"
        );
    }
}

#[test]
fn refuses_an_undocumented_placement_naming_the_field_with_a_bounded_quote() {
    let mut payload = fixture("lifecycle-launch-eventbridge-from-warm-pool.json");
    payload["detail"]["Origin"] = Value::from("Moon");
    let error = refusal(&payload);
    assert!(
        matches!(
            error,
            EventError::InvalidField {
                field: "Origin",
                ..
            }
        ),
        "{error}"
    );
    assert_eq!(
        error.to_string(),
        "lifecycle action detail field Origin holds an invalid placement \"Moon\": EC2, AutoScalingGroup or WarmPool"
    );
    let mut huge = fixture("lifecycle-launch-eventbridge-from-warm-pool.json");
    huge["detail"]["Destination"] = Value::from("W".repeat(100_000));
    let message = refusal(&huge).to_string();
    assert!(message.contains("Destination"), "{message}");
    assert!(message.contains("(100000 characters)"), "{message}");
    assert!(
        message.len() < 600,
        "unbounded refusal: {} bytes",
        message.len()
    );
    let mut mistyped = fixture("lifecycle-launch-eventbridge-from-warm-pool.json");
    mistyped["detail"]["Origin"] = Value::from(7);
    assert!(matches!(
        refusal(&mistyped),
        EventError::WrongType {
            field: "Origin",
            ..
        }
    ));
}

#[test]
fn refuses_launch_actions_missing_or_contradicting_fields() {
    for field in [
        "LifecycleActionToken",
        "AutoScalingGroupName",
        "LifecycleHookName",
        "EC2InstanceId",
        "LifecycleTransition",
    ] {
        let mut payload = fixture("lifecycle-launch-eventbridge-ecs-drain.json");
        payload["detail"]
            .as_object_mut()
            .expect("object")
            .remove(field);
        assert_eq!(
            refusal(&payload).to_string(),
            format!("lifecycle action detail lacks {field}")
        );
    }
    let mut bad_token = fixture("lifecycle-launch-eventbridge-ecs-drain.json");
    bad_token["detail"]["LifecycleActionToken"] = Value::from("short");
    assert!(matches!(
        refusal(&bad_token),
        EventError::InvalidField {
            field: "LifecycleActionToken",
            ..
        }
    ));
    let mut disagree = fixture("lifecycle-launch-eventbridge-ecs-drain.json");
    disagree["detail"]["LifecycleTransition"] = Value::from("autoscaling:EC2_INSTANCE_TERMINATING");
    assert!(matches!(refusal(&disagree), EventError::Disagree { .. }));
    let mut terminate_says_launch = fixture("lifecycle-terminate-eventbridge.json");
    terminate_says_launch["detail"]["LifecycleTransition"] = Value::from(LAUNCHING_TRANSITION);
    assert!(matches!(
        refusal(&terminate_says_launch),
        EventError::Disagree { .. }
    ));
}

#[test]
fn refuses_ec2_notices_missing_or_mistyping_fields() {
    let mut no_instance = fixture("ec2-spot-interruption-warning.json");
    no_instance["detail"]
        .as_object_mut()
        .expect("object")
        .remove("instance-id");
    assert_eq!(
        refusal(&no_instance).to_string(),
        "Spot interruption warning detail lacks instance-id"
    );
    let mut no_action = fixture("ec2-spot-interruption-warning.json");
    no_action["detail"]
        .as_object_mut()
        .expect("object")
        .remove("instance-action");
    assert_eq!(
        refusal(&no_action).to_string(),
        "Spot interruption warning detail lacks instance-action"
    );
    let mut odd_action = fixture("ec2-spot-interruption-warning.json");
    odd_action["detail"]["instance-action"] = Value::from("reboot");
    assert_eq!(
        refusal(&odd_action).to_string(),
        "Spot interruption warning detail field instance-action holds an invalid instance action \"reboot\": terminate, stop or hibernate"
    );
    let mut bad_instance = fixture("ec2-rebalance-recommendation.json");
    bad_instance["detail"]["instance-id"] = Value::from("i-xyz");
    assert!(matches!(
        refusal(&bad_instance),
        EventError::InvalidField {
            field: "instance-id",
            ..
        }
    ));
    let mut no_detail = fixture("ec2-rebalance-recommendation.json");
    no_detail["detail"] = Value::from("text");
    assert!(matches!(
        refusal(&no_detail),
        EventError::WrongType {
            field: "detail",
            ..
        }
    ));
}

#[test]
fn refuses_a_duplicated_key() {
    let text = r#"{"version":"0","detail-type":"EC2 Spot Instance Interruption Warning",
        "source":"aws.ec2","detail":{"instance-id":"i-0598c7d356eba48d7",
        "instance-id":"i-0123456789abcdef0","instance-action":"terminate"}}"#;
    assert!(matches!(
        parse_fleet_payload(text),
        Err(EventError::InvalidJson { .. })
    ));
}
