//! The events AWS would deliver, built from the emulator's state in the shapes of the
//! fixtures in tests/fixtures (which follow the AWS documentation). moto emits no events.

use serde_json::{Value, json};

/// A lifecycle action as the emulator extension lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct LifecycleAction {
    /// The token.
    pub token: String,
    /// The group.
    pub asg: String,
    /// The hook.
    pub hook: String,
    /// The instance.
    pub instance_id: String,
    /// active | completed | expired.
    pub state: String,
    /// CONTINUE / ABANDON once completed.
    pub result: Option<String>,
    /// Successful CompleteLifecycleAction calls.
    pub completions: u64,
    /// Heartbeats recorded.
    pub heartbeats: u64,
    /// Creation time (epoch seconds).
    pub created_at: f64,
}

impl LifecycleAction {
    /// Reads one entry of `GET /_ecs_drain/autoscaling/lifecycle-actions`.
    pub fn from_json(value: &Value) -> Option<LifecycleAction> {
        Some(LifecycleAction {
            token: value["token"].as_str()?.to_owned(),
            asg: value["asg"].as_str()?.to_owned(),
            hook: value["hook"].as_str()?.to_owned(),
            instance_id: value["instanceId"].as_str()?.to_owned(),
            state: value["state"].as_str()?.to_owned(),
            result: value["result"].as_str().map(str::to_owned),
            completions: value["completions"].as_u64().unwrap_or(0),
            heartbeats: value["heartbeats"].as_u64().unwrap_or(0),
            created_at: value["createdAt"].as_f64().unwrap_or(0.0),
        })
    }
}

impl LifecycleAction {
    /// Where it stands: state, result, successful completions.
    pub fn end(&self) -> ActionEnd {
        ActionEnd {
            state: self.state.clone(),
            result: self.result.clone(),
            completions: self.completions,
        }
    }
}

/// Where a lifecycle action stands, compared whole so that a failed assertion shows all of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionEnd {
    /// active | completed | expired.
    pub state: String,
    /// CONTINUE / ABANDON once completed.
    pub result: Option<String>,
    /// Successful CompleteLifecycleAction calls.
    pub completions: u64,
}

impl ActionEnd {
    /// Completed exactly once, with `result`.
    pub fn completed_once(result: &str) -> ActionEnd {
        ActionEnd {
            state: "completed".to_owned(),
            result: Some(result.to_owned()),
            completions: 1,
        }
    }
}

fn iso(epoch: f64) -> String {
    drain_core::time::Timestamp(epoch as i64).to_rfc3339()
}

/// The EventBridge "EC2 Instance-terminate Lifecycle Action" event for `action`.
pub fn lifecycle_event(action: &LifecycleAction) -> Value {
    json!({
        "version": "0",
        "id": format!("lifecycle-{}", action.token),
        "detail-type": "EC2 Instance-terminate Lifecycle Action",
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": iso(action.created_at),
        "region": "us-east-1",
        "resources": [format!(
            "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:\
             00000000-0000-0000-0000-000000000000:autoScalingGroupName/{}",
            action.asg
        )],
        "detail": {
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": action.asg,
            "LifecycleHookName": action.hook,
            "EC2InstanceId": action.instance_id,
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
            "NotificationMetadata": "",
            "Origin": "AutoScalingGroup",
            "Destination": "EC2"
        }
    })
}

/// The same action as Auto Scaling publishes it to an SNS topic, as Lambda receives it.
pub fn lifecycle_sns_event(action: &LifecycleAction) -> Value {
    let message = json!({
        "Origin": "AutoScalingGroup",
        "Destination": "EC2",
        "Service": "AWS Auto Scaling",
        "Time": iso(action.created_at),
        "RequestId": format!("request-{}", action.token),
        "LifecycleActionToken": action.token,
        "AccountId": "123456789012",
        "AutoScalingGroupName": action.asg,
        "LifecycleHookName": action.hook,
        "EC2InstanceId": action.instance_id,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "NotificationMetadata": ""
    });
    json!({"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": "arn:aws:sns:us-east-1:123456789012:ecs-drain-lifecycle:2bcfbf39-\
                                 05c3-41de-beaa-fcfcc21c8f55",
        "Sns": {
            "Type": "Notification",
            "MessageId": format!("message-{}", action.token),
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:ecs-drain-lifecycle",
            "Subject": format!(
                "Auto Scaling:  Lifecycle action 'TERMINATING' for instance {} in progress.",
                action.instance_id
            ),
            "Message": message.to_string(),
            "Timestamp": iso(action.created_at),
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-\
                               0000000000000000000000.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {}
        }
    }]})
}

/// The EventBridge "ECS Task State Change" event for a task as DescribeTasks reports it.
/// `version` is detail.version (ECS increments it with each change).
pub fn task_state_change_event(task: &aws_sdk_ecs::types::Task, version: i64) -> Value {
    let task_arn = task.task_arn().unwrap_or_default();
    let last_status = task.last_status().unwrap_or("STOPPED");
    let mut detail = json!({
        "attachments": [],
        "availabilityZone": "us-east-1a",
        "clusterArn": task.cluster_arn(),
        "containerInstanceArn": task.container_instance_arn(),
        "containers": [],
        "createdAt": "2026-11-02T10:12:01.402Z",
        "desiredStatus": task.desired_status(),
        "group": task.group(),
        "launchType": "EC2",
        "lastStatus": last_status,
        "overrides": {"containerOverrides": []},
        "taskArn": task_arn,
        "taskDefinitionArn": task.task_definition_arn(),
        "updatedAt": "2026-11-02T18:44:31.266Z",
        "version": version
    });
    if let Some(started_by) = task.started_by() {
        detail["startedBy"] = json!(started_by);
    }
    if let Some(reason) = task.stopped_reason().filter(|reason| !reason.is_empty()) {
        detail["stoppedReason"] = json!(reason);
        detail["stopCode"] = json!(if reason.starts_with("ecs-drain") {
            "UserInitiated"
        } else {
            "ServiceSchedulerInitiated"
        });
    }
    json!({
        "version": "0",
        "id": format!("task-{}-{version}", task_arn.rsplit('/').next().unwrap_or_default()),
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": "2026-11-02T18:44:31Z",
        "region": "us-east-1",
        "resources": [task_arn],
        "detail": detail
    })
}

/// Marks an event as re-sent by an archive replay.
pub fn as_replay(mut event: Value, replay_name: &str) -> Value {
    event["replay-name"] = json!(replay_name);
    event
}
