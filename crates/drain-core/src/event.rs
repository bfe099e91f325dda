//! Parsing at the edge: the payloads AWS delivers to the two functions, turned into typed
//! notices. Unknown fields are ignored (AWS adds fields); unknown shapes are refused with a
//! reason, never a panic.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef, InvalidId, LifecycleActionRef, LifecycleToken, TaskArn,
};
use crate::time::Timestamp;

/// The EventBridge detail-type of a terminate lifecycle action.
pub const TERMINATE_DETAIL_TYPE: &str = "EC2 Instance-terminate Lifecycle Action";
/// The EventBridge detail-type of ECS task state changes.
pub const TASK_STATE_CHANGE_DETAIL_TYPE: &str = "ECS Task State Change";
/// The terminating transition.
pub const TERMINATING_TRANSITION: &str = "autoscaling:EC2_INSTANCE_TERMINATING";
/// The top-level key of the scheduled check payload ecs-drain sends itself via EventBridge Scheduler.
pub const CHECK_KEY: &str = "ecsDrainCheck";

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// Not JSON of any shape we know.
    #[error("unrecognised event shape: {0}")]
    UnknownShape(String),
    /// The right shape, but a field could not be read.
    #[error("malformed {what}")]
    Malformed {
        /// Which payload.
        what: &'static str,
        /// The serde error.
        #[source]
        source: serde_json::Error,
    },
    /// A required field is absent or empty.
    #[error("{what} lacks {field}")]
    MissingField {
        /// Which payload.
        what: &'static str,
        /// Which field.
        field: &'static str,
    },
    /// A field holds something that is not a valid identifier.
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
}

/// How the notice arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Channel {
    /// An EventBridge rule.
    EventBridge,
    /// An SNS topic (the hook's notification target).
    Sns,
}

/// A terminate lifecycle action for one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminateNotice {
    /// Group, hook, instance and token.
    pub action: LifecycleActionRef,
    /// When AWS sent it, if the payload says.
    pub sent_at: Option<Timestamp>,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub origin: Option<String>,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub destination: Option<String>,
    /// EventBridge or SNS.
    pub channel: Channel,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// A scheduled check of one drain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckRequest {
    /// The drain to check.
    pub container_instance_arn: ContainerInstanceArn,
}

/// What the lifecycle function was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LifecycleInput {
    /// Drain this instance.
    Terminate(TerminateNotice),
    /// Look at this drain again.
    Check(CheckRequest),
    /// Nothing to do, and why (test notification, another transition).
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Lifecycle fields, shared by the EventBridge detail and the SNS message. Everything optional:
/// the caller decides what is required for which event.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LifecycleFields {
    lifecycle_action_token: Option<String>,
    auto_scaling_group_name: Option<String>,
    lifecycle_hook_name: Option<String>,
    #[serde(rename = "EC2InstanceId")]
    ec2_instance_id: Option<String>,
    lifecycle_transition: Option<String>,
    origin: Option<String>,
    destination: Option<String>,
    /// SNS only: `autoscaling:TEST_NOTIFICATION` and friends.
    event: Option<String>,
    /// SNS only: when the message was sent.
    time: Option<String>,
}

impl LifecycleFields {
    fn into_input(self, channel: Channel, sent_at: Option<Timestamp>, replay_name: Option<String>) -> Result<LifecycleInput, EventError> {
        const WHAT: &str = "lifecycle action";
        if let Some(event) = self.event.as_deref().filter(|event| !event.is_empty())
            && self.lifecycle_transition.is_none()
        {
            return Ok(LifecycleInput::Ignored { reason: format!("auto scaling notification {event} is not a lifecycle action") });
        }
        let transition = self.lifecycle_transition.ok_or(EventError::MissingField { what: WHAT, field: "LifecycleTransition" })?;
        if transition != TERMINATING_TRANSITION {
            return Ok(LifecycleInput::Ignored { reason: format!("transition {transition} is not a termination") });
        }
        let required =
            |value: Option<String>, field: &'static str| value.filter(|text| !text.is_empty()).ok_or(EventError::MissingField { what: WHAT, field });
        let action = LifecycleActionRef {
            hook: HookRef {
                asg_name: AsgName::new(required(self.auto_scaling_group_name, "AutoScalingGroupName")?)?,
                hook_name: HookName::new(required(self.lifecycle_hook_name, "LifecycleHookName")?)?,
            },
            instance_id: Ec2InstanceId::new(required(self.ec2_instance_id, "EC2InstanceId")?)?,
            token: LifecycleToken::new(required(self.lifecycle_action_token, "LifecycleActionToken")?)?,
        };
        let sent_at = sent_at.or_else(|| self.time.as_deref().and_then(Timestamp::parse_rfc3339));
        Ok(LifecycleInput::Terminate(TerminateNotice { action, sent_at, origin: self.origin, destination: self.destination, channel, replay_name }))
    }
}

fn replay_name_of<T>(event: &EventBridgeEvent<T>) -> Option<String>
where
    T: Serialize + serde::de::DeserializeOwned,
{
    event.other.get("replay-name").and_then(Value::as_str).map(str::to_owned)
}

/// Parses whatever the lifecycle function was invoked with: an EventBridge lifecycle event,
/// an SNS event carrying lifecycle messages (one input per record), or a scheduled check.
pub fn parse_lifecycle_payload(payload: &Value) -> Result<Vec<LifecycleInput>, EventError> {
    let Some(object) = payload.as_object() else {
        return Err(EventError::UnknownShape("the payload is not a JSON object".into()));
    };
    if let Some(check) = object.get(CHECK_KEY) {
        let request = CheckRequest::deserialize(check).map_err(|source| EventError::Malformed { what: "scheduled check", source })?;
        return Ok(vec![LifecycleInput::Check(request)]);
    }
    if object.contains_key("Records") {
        let event = SnsEvent::deserialize(payload).map_err(|source| EventError::Malformed { what: "SNS event", source })?;
        return event
            .records
            .into_iter()
            .map(|record| {
                let fields: LifecycleFields =
                    serde_json::from_str(&record.sns.message).map_err(|source| EventError::Malformed { what: "SNS lifecycle message", source })?;
                fields.into_input(Channel::Sns, None, None)
            })
            .collect();
    }
    if object.contains_key("detail-type") {
        let event = EventBridgeEvent::<Value>::deserialize(payload).map_err(|source| EventError::Malformed { what: "EventBridge event", source })?;
        if event.source != "aws.autoscaling" {
            return Err(EventError::UnknownShape(format!("EventBridge event from {} is not an auto scaling event", event.source)));
        }
        if !event.detail_type.ends_with("Lifecycle Action") {
            return Ok(vec![LifecycleInput::Ignored { reason: format!("detail-type {:?} is not a lifecycle action", event.detail_type) }]);
        }
        let fields =
            LifecycleFields::deserialize(&event.detail).map_err(|source| EventError::Malformed { what: "lifecycle action detail", source })?;
        let sent_at = event.time.map(|time| Timestamp(time.timestamp()));
        return Ok(vec![fields.into_input(Channel::EventBridge, sent_at, replay_name_of(&event))?]);
    }
    Err(EventError::UnknownShape("neither an EventBridge event, an SNS event nor a scheduled check".into()))
}

/// The parts of an ECS Task State Change detail that ecs-drain reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskDetail {
    cluster_arn: Option<String>,
    container_instance_arn: Option<String>,
    task_arn: Option<String>,
    last_status: Option<String>,
    desired_status: Option<String>,
    group: Option<String>,
    stopped_reason: Option<String>,
    version: Option<u64>,
}

/// An ECS task state change on an EC2 container instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStateChange {
    /// The cluster.
    pub cluster_arn: ClusterArn,
    /// The instance the task ran on.
    pub container_instance_arn: ContainerInstanceArn,
    /// The task.
    pub task_arn: TaskArn,
    /// The task's lastStatus.
    pub last_status: String,
    /// The task's desiredStatus.
    pub desired_status: Option<String>,
    /// `service:<name>` or `family:<name>`.
    pub group: Option<String>,
    /// Why it stopped.
    pub stopped_reason: Option<String>,
    /// `detail.version`: grows with each change; duplicates repeat it.
    pub version: Option<u64>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// What the task function was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskInput {
    /// A task stopped on a container instance.
    Stopped(TaskStateChange),
    /// Nothing to do, and why.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// Parses an EventBridge "ECS Task State Change" event.
pub fn parse_task_payload(payload: &Value) -> Result<TaskInput, EventError> {
    const WHAT: &str = "ECS task state change";
    if !payload.is_object() || payload.get("detail-type").is_none() {
        return Err(EventError::UnknownShape("not an EventBridge event".into()));
    }
    let event = EventBridgeEvent::<Value>::deserialize(payload).map_err(|source| EventError::Malformed { what: "EventBridge event", source })?;
    if event.source != "aws.ecs" || event.detail_type != TASK_STATE_CHANGE_DETAIL_TYPE {
        return Err(EventError::UnknownShape(format!("{} / {:?} is not an ECS task state change", event.source, event.detail_type)));
    }
    let detail = TaskDetail::deserialize(&event.detail).map_err(|source| EventError::Malformed { what: WHAT, source })?;
    let last_status = detail.last_status.ok_or(EventError::MissingField { what: WHAT, field: "lastStatus" })?;
    if last_status != "STOPPED" {
        return Ok(TaskInput::Ignored { reason: format!("task lastStatus is {last_status}, not STOPPED") });
    }
    let Some(container_instance_arn) = detail.container_instance_arn.filter(|arn| !arn.is_empty()) else {
        return Ok(TaskInput::Ignored { reason: "task ran on no container instance (Fargate)".into() });
    };
    Ok(TaskInput::Stopped(TaskStateChange {
        cluster_arn: ClusterArn::new(detail.cluster_arn.ok_or(EventError::MissingField { what: WHAT, field: "clusterArn" })?)?,
        container_instance_arn: ContainerInstanceArn::new(container_instance_arn)?,
        task_arn: TaskArn::new(detail.task_arn.ok_or(EventError::MissingField { what: WHAT, field: "taskArn" })?)?,
        last_status,
        desired_status: detail.desired_status,
        group: detail.group,
        stopped_reason: detail.stopped_reason,
        version: detail.version,
        replay_name: replay_name_of(&event),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("read {path}: {error}"));
        serde_json::from_str(&text).unwrap_or_else(|error| panic!("parse {path}: {error}"))
    }

    fn terminate(inputs: Vec<LifecycleInput>) -> TerminateNotice {
        match inputs.as_slice() {
            [LifecycleInput::Terminate(notice)] => notice.clone(),
            other => panic!("expected one terminate notice, got {other:?}"),
        }
    }

    #[test]
    fn reads_the_eventbridge_terminate_action() {
        let notice = terminate(parse_lifecycle_payload(&fixture("lifecycle-terminate-eventbridge.json")).expect("parses"));
        assert_eq!(notice.action.instance_id.as_str(), "i-0598c7d356eba48d7");
        assert_eq!(notice.action.hook.asg_name.as_str(), "prod-ecs-asg");
        assert_eq!(notice.action.hook.hook_name.as_str(), "ecs-drain-terminate");
        assert_eq!(notice.action.token.expose(), "630aa23f-48eb-45e7-aba6-799ea6093a0f");
        assert_eq!(notice.sent_at, Timestamp::parse_rfc3339("2026-11-02T18:43:48Z"));
        assert_eq!(notice.channel, Channel::EventBridge);
        assert_eq!(notice.replay_name, None);
        assert_eq!(notice.destination.as_deref(), Some("EC2"));
    }

    #[test]
    fn reads_the_same_action_wrapped_in_sns() {
        let notice = terminate(parse_lifecycle_payload(&fixture("lifecycle-terminate-sns.json")).expect("parses"));
        assert_eq!(notice.action.instance_id.as_str(), "i-0598c7d356eba48d7");
        assert_eq!(notice.action.token.expose(), "71514b9d-6a40-4b26-8523-05e7ee35fa40");
        assert_eq!(notice.channel, Channel::Sns);
        assert_eq!(notice.sent_at, Timestamp::parse_rfc3339("2026-11-02T18:43:48Z"));
    }

    #[test]
    fn notes_the_replay_name_of_a_replayed_event() {
        let notice = terminate(parse_lifecycle_payload(&fixture("lifecycle-terminate-eventbridge-replayed.json")).expect("parses"));
        assert_eq!(notice.replay_name.as_deref(), Some("debug-drain-2026-11-03"));
    }

    #[test]
    fn ignores_the_test_notification_and_launch_actions() {
        let inputs = parse_lifecycle_payload(&fixture("lifecycle-test-notification-sns.json")).expect("parses");
        assert!(matches!(inputs.as_slice(), [LifecycleInput::Ignored { reason }] if reason.contains("TEST_NOTIFICATION")));
        let inputs = parse_lifecycle_payload(&fixture("lifecycle-launch-eventbridge.json")).expect("parses");
        assert!(matches!(inputs.as_slice(), [LifecycleInput::Ignored { reason }] if reason.contains("LAUNCHING")));
    }

    #[test]
    fn reads_a_scheduled_check() {
        let payload = serde_json::json!({ "ecsDrainCheck": {
            "containerInstanceArn": "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/3f1e" } });
        let inputs = parse_lifecycle_payload(&payload).expect("parses");
        assert!(matches!(inputs.as_slice(), [LifecycleInput::Check(_)]));
    }

    #[test]
    fn refuses_unknown_and_malformed_payloads_with_a_reason() {
        for payload in [
            serde_json::json!([1, 2]),
            serde_json::json!("text"),
            serde_json::json!({"hello": "world"}),
            serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}),
            serde_json::json!({"Records": "nope"}),
            serde_json::json!({"ecsDrainCheck": {"containerInstanceArn": "i-123"}}),
        ] {
            let error = parse_lifecycle_payload(&payload).expect_err("must be refused");
            assert!(!error.to_string().is_empty());
        }
        let mut missing_token = fixture("lifecycle-terminate-eventbridge.json");
        missing_token["detail"].as_object_mut().expect("object").remove("LifecycleActionToken");
        let error = parse_lifecycle_payload(&missing_token).expect_err("must be refused");
        assert_eq!(error.to_string(), "lifecycle action lacks LifecycleActionToken");
        let mut bad_instance = fixture("lifecycle-terminate-eventbridge.json");
        bad_instance["detail"]["EC2InstanceId"] = Value::from("not-an-instance");
        assert!(matches!(parse_lifecycle_payload(&bad_instance), Err(EventError::InvalidId(_))));
    }

    #[test]
    fn reads_stopped_tasks_of_every_kind() {
        for (name, group) in [
            ("ecs-task-stopped-service.json", "service:web"),
            ("ecs-task-stopped-daemon.json", "service:log-router"),
            ("ecs-task-stopped-standalone.json", "family:nightly-report"),
        ] {
            let TaskInput::Stopped(change) = parse_task_payload(&fixture(name)).expect("parses") else {
                panic!("{name} should be a stopped task");
            };
            assert_eq!(change.group.as_deref(), Some(group));
            assert_eq!(change.cluster_arn.name(), "prod-cluster");
            assert!(change.container_instance_arn.as_str().ends_with("/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b"));
            assert_eq!(change.version, Some(5));
        }
    }

    #[test]
    fn ignores_tasks_that_have_not_stopped_yet() {
        for name in ["ecs-task-running-service.json", "ecs-task-deactivating-service.json"] {
            assert!(matches!(parse_task_payload(&fixture(name)), Ok(TaskInput::Ignored { .. })), "{name}");
        }
    }

    #[test]
    fn ignores_fargate_tasks_and_refuses_other_events() {
        let mut fargate = fixture("ecs-task-stopped-service.json");
        fargate["detail"].as_object_mut().expect("object").remove("containerInstanceArn");
        assert!(matches!(parse_task_payload(&fargate), Ok(TaskInput::Ignored { .. })));
        assert!(parse_task_payload(&fixture("lifecycle-terminate-eventbridge.json")).is_err());
        assert!(parse_task_payload(&serde_json::json!({"x": 1})).is_err());
    }
}
