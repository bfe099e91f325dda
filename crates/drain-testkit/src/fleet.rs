//! The instance-lifecycle side of the emulator for tests: launch and warm-pool lifecycle
//! actions as the extension lists them (with `Origin` / `Destination`), the events AWS would
//! deliver for them and for Spot interruptions and rebalance recommendations (the shapes of
//! tests/fixtures, which follow the AWS documentation), and the test-only controls of a
//! container instance's registration and agent.

use drain_core::time::Timestamp;
use serde_json::{Value, json};

use crate::emulator::control_request;
use crate::events::ActionEnd;
use crate::{EmulatorWorld, KitError};

/// A lifecycle action of either transition, as `GET /_ecs_drain/autoscaling/lifecycle-actions`
/// lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetAction {
    /// The token.
    pub token: String,
    /// The group.
    pub asg: String,
    /// The hook.
    pub hook: String,
    /// The instance.
    pub instance_id: String,
    /// `autoscaling:EC2_INSTANCE_LAUNCHING` or `autoscaling:EC2_INSTANCE_TERMINATING`.
    pub transition: String,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub origin: String,
    /// EC2 | AutoScalingGroup | WarmPool.
    pub destination: String,
    /// The wait state it holds the instance in (Pending:Wait, Warmed:Pending:Wait, ...).
    pub lifecycle_state: String,
    /// active | completed | expired.
    pub state: String,
    /// CONTINUE / ABANDON once completed or expired.
    pub result: Option<String>,
    /// Creation time (epoch seconds).
    pub created_at: f64,
    /// When it was completed or expired (epoch seconds, emulator time).
    pub completed_at: Option<f64>,
    /// Successful CompleteLifecycleAction calls.
    pub completions: u64,
}

impl FleetAction {
    /// Reads one listed action.
    pub fn from_json(value: &Value) -> Option<FleetAction> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        Some(FleetAction {
            token: text("token")?,
            asg: text("asg")?,
            hook: text("hook")?,
            instance_id: text("instanceId")?,
            transition: text("transition")?,
            origin: text("origin")?,
            destination: text("destination")?,
            lifecycle_state: text("lifecycleState")?,
            state: text("state")?,
            result: text("result"),
            created_at: value["createdAt"].as_f64().unwrap_or(0.0),
            completed_at: value["completedAt"].as_f64(),
            completions: value["completions"].as_u64().unwrap_or(0),
        })
    }

    /// Whether this is a launch action.
    pub fn is_launch(&self) -> bool {
        self.transition == "autoscaling:EC2_INSTANCE_LAUNCHING"
    }

    /// Where it stands: state, result, successful completions.
    pub fn end(&self) -> ActionEnd {
        ActionEnd {
            state: self.state.clone(),
            result: self.result.clone(),
            completions: self.completions,
        }
    }
}

/// The lifecycle action of group `asg` with token `token`.
pub fn fleet_action(port: u16, asg: &str, token: &str) -> Result<FleetAction, KitError> {
    fleet_actions(port, asg)?
        .into_iter()
        .find(|action| action.token == token)
        .ok_or_else(|| format!("no lifecycle action {token} in {asg}").into())
}

/// Every lifecycle action the emulator lists, of every group, oldest first, as it lists them
/// (`GET /_ecs_drain/autoscaling/lifecycle-actions`).
pub fn lifecycle_action_listing(port: u16) -> Result<Vec<Value>, KitError> {
    let listed = control_request(
        port,
        "GET",
        "/_ecs_drain/autoscaling/lifecycle-actions",
        None,
    )?;
    Ok(listed["lifecycleActions"]
        .as_array()
        .ok_or("lifecycle-actions answered no list")?
        .clone())
}

/// Every lifecycle action of group `asg`, oldest first.
pub fn fleet_actions(port: u16, asg: &str) -> Result<Vec<FleetAction>, KitError> {
    lifecycle_action_listing(port)?
        .iter()
        .map(|value| {
            FleetAction::from_json(value)
                .ok_or_else(|| KitError::from(format!("unreadable lifecycle action {value}")))
        })
        .filter(|action| action.as_ref().map_or(true, |action| action.asg == asg))
        .collect()
}

fn iso(epoch: f64) -> String {
    Timestamp(epoch as i64).to_rfc3339()
}

/// The EventBridge lifecycle action event for `action` (launch or terminate), with the
/// `Origin` / `Destination` the emulator gave it.
pub fn lifecycle_action_event(action: &FleetAction) -> Value {
    let detail_type = if action.is_launch() {
        "EC2 Instance-launch Lifecycle Action"
    } else {
        "EC2 Instance-terminate Lifecycle Action"
    };
    json!({
        "version": "0",
        "id": format!("lifecycle-{}", action.token),
        "detail-type": detail_type,
        "source": "aws.autoscaling",
        "account": "123456789012",
        "time": iso(action.created_at),
        "region": "us-east-1",
        "resources": [format!("arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/{}", action.asg)],
        "detail": {
            "LifecycleActionToken": action.token,
            "AutoScalingGroupName": action.asg,
            "LifecycleHookName": action.hook,
            "EC2InstanceId": action.instance_id,
            "LifecycleTransition": action.transition,
            "NotificationMetadata": "",
            "Origin": action.origin,
            "Destination": action.destination
        }
    })
}

/// An "EC2 Spot Instance Interruption Warning" for `instance_id` (`instance_action`:
/// terminate, stop or hibernate) sent at `sent_at`.
pub fn spot_interruption_event(
    instance_id: &str,
    instance_action: &str,
    sent_at: Timestamp,
) -> Value {
    json!({
        "version": "0",
        "id": format!("spot-{instance_id}"),
        "detail-type": "EC2 Spot Instance Interruption Warning",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": sent_at.to_rfc3339(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1a:instance/{instance_id}")],
        "detail": { "instance-id": instance_id, "instance-action": instance_action }
    })
}

/// An "EC2 Instance Rebalance Recommendation" for `instance_id` sent at `sent_at`.
pub fn rebalance_event(instance_id: &str, sent_at: Timestamp) -> Value {
    json!({
        "version": "0",
        "id": format!("rebalance-{instance_id}"),
        "detail-type": "EC2 Instance Rebalance Recommendation",
        "source": "aws.ec2",
        "account": "123456789012",
        "time": sent_at.to_rfc3339(),
        "region": "us-east-1",
        "resources": [format!("arn:aws:ec2:us-east-1a:instance/{instance_id}")],
        "detail": { "instance-id": instance_id }
    })
}

/// How RegisterContainerInstance starts instances from now on (`REGISTERING` or `ACTIVE`).
pub fn set_registration(port: u16, status: &str, agent_connected: bool) -> Result<(), KitError> {
    let body = json!({ "status": status, "agentConnected": agent_connected });
    control_request(port, "POST", "/_ecs_drain/ecs/registration", Some(&body))?;
    Ok(())
}

/// What ECS and the agent do by themselves to the container instance on `ec2_id`: a documented
/// status change and/or the agent connecting or disconnecting. Returns the instance as the
/// emulator reports it (status, agentConnected, version, ...).
pub fn set_container_instance(
    port: u16,
    cluster: &str,
    ec2_id: &str,
    status: Option<&str>,
    agent_connected: Option<bool>,
) -> Result<Value, KitError> {
    let mut body = json!({ "cluster": cluster, "ec2InstanceId": ec2_id });
    if let Some(status) = status {
        body["status"] = Value::from(status);
    }
    if let Some(agent_connected) = agent_connected {
        body["agentConnected"] = Value::from(agent_connected);
    }
    let answer = control_request(
        port,
        "POST",
        "/_ecs_drain/ecs/container-instance",
        Some(&body),
    )?;
    Ok(answer["containerInstance"].clone())
}

/// The "ECS Container Instance State Change" EventBridge delivers for `instance` (the detail
/// [`set_container_instance`] returns, the shape of
/// tests/fixtures/ecs-container-instance-state-change-active.json) sent at `sent_at`.
pub fn container_instance_state_change_event(instance: &Value, sent_at: Timestamp) -> Value {
    json!({
        "version": "0",
        "id": format!("instance-change-{}-{}", instance["ec2InstanceId"].as_str().unwrap_or_default(), instance["version"]),
        "detail-type": "ECS Container Instance State Change",
        "source": "aws.ecs",
        "account": "123456789012",
        "time": sent_at.to_rfc3339(),
        "region": "us-east-1",
        "resources": [instance["containerInstanceArn"].clone()],
        "detail": instance
    })
}

/// The launch hook the launch-readiness tests put on the group.
pub const LAUNCH_HOOK: &str = "ecs-drain-launch";

/// Puts the launch hook [`LAUNCH_HOOK`] on the world's group (default result ABANDON).
pub async fn add_launch_hook(world: &EmulatorWorld) -> Result<(), KitError> {
    world
        .autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(&world.asg)
        .lifecycle_hook_name(LAUNCH_HOOK)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_LAUNCHING")
        .heartbeat_timeout(300)
        .default_result("ABANDON")
        .send()
        .await?;
    Ok(())
}

/// Puts a warm pool on the world's group (up to 2 prepared instances) that takes instances
/// back on scale-in instead of terminating them.
pub async fn add_warm_pool(world: &EmulatorWorld) -> Result<(), KitError> {
    world
        .autoscaling
        .put_warm_pool()
        .auto_scaling_group_name(&world.asg)
        .max_group_prepared_capacity(2)
        .instance_reuse_policy(
            aws_sdk_autoscaling::types::InstanceReusePolicy::builder()
                .reuse_on_scale_in(true)
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// Sets the group's desired capacity (the emulator opens the launch or terminate actions).
pub async fn set_desired(
    autoscaling: &aws_sdk_autoscaling::Client,
    asg: &str,
    desired: i32,
) -> Result<(), KitError> {
    autoscaling
        .set_desired_capacity()
        .auto_scaling_group_name(asg)
        .desired_capacity(desired)
        .send()
        .await?;
    Ok(())
}

/// The instance's Auto Scaling lifecycle state, if the group has it.
pub async fn asg_state(
    autoscaling: &aws_sdk_autoscaling::Client,
    ec2_id: &str,
) -> Result<Option<String>, KitError> {
    let described = autoscaling
        .describe_auto_scaling_instances()
        .instance_ids(ec2_id)
        .send()
        .await?;
    Ok(described
        .auto_scaling_instances()
        .first()
        .and_then(|instance| instance.lifecycle_state())
        .map(str::to_owned))
}

/// Starts an instance refresh of the world's group; with `preferences` (minimum and maximum
/// healthy percentage), else AWS's defaults. Returns its id.
pub async fn start_instance_refresh(
    world: &EmulatorWorld,
    preferences: Option<(i32, i32)>,
) -> Result<String, KitError> {
    let mut request = world
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(&world.asg);
    if let Some((min, max)) = preferences {
        request = request.preferences(
            aws_sdk_autoscaling::types::RefreshPreferences::builder()
                .min_healthy_percentage(min)
                .max_healthy_percentage(max)
                .build(),
        );
    }
    let started = request.send().await?;
    Ok(started
        .instance_refresh_id()
        .ok_or("no instance refresh id")?
        .to_owned())
}

/// The status of the world's group's instance refresh `id` (Pending, InProgress, Successful,
/// ...), if the group has it.
pub async fn instance_refresh_status(
    world: &EmulatorWorld,
    id: &str,
) -> Result<Option<String>, KitError> {
    let described = world
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(&world.asg)
        .instance_refresh_ids(id)
        .send()
        .await?;
    Ok(described
        .instance_refreshes()
        .first()
        .and_then(|refresh| refresh.status())
        .map(|status| status.as_str().to_owned()))
}
