//! The inputs of launch readiness that reach on-lifecycle besides the launch action itself
//! (parsed by [`super::fleet`]): ECS's "ECS Container Instance State Change" of any status
//! (the prompt to look at a pending launch: ECS sends it when an instance registers, its agent
//! connects, or its status changes) and the pending launch's own scheduled check.
//!
//! Shape: Amazon ECS developer guide, "Amazon ECS container instance state change events"
//! (the `detail` is the ContainerInstance object of DescribeContainerInstances).

use serde_json::Value;

use super::{EventError, FieldWarning, Fields};
use crate::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId};
use crate::ports::EcsInstanceStatus;

/// The top-level key of a pending launch's scheduled check payload.
pub const LAUNCH_CHECK_KEY: &str = "ecsDrainLaunchCheck";

/// A container instance changed: whatever ECS reports of it, for a pending launch to look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInstanceChange {
    /// The cluster it registered in.
    pub cluster_arn: ClusterArn,
    /// The container instance.
    pub container_instance_arn: ContainerInstanceArn,
    /// The EC2 instance under it (the pending launch's key).
    pub ec2_instance_id: Ec2InstanceId,
    /// Its status.
    pub status: EcsInstanceStatus,
    /// `agentConnected` (false when absent or not a boolean).
    pub agent_connected: bool,
    /// `detail.version`.
    pub version: Option<u64>,
    /// The archive replay that re-sent this event, if any.
    pub replay_name: Option<String>,
}

/// Reads the `detail` of a container instance state change for launch readiness. The EC2
/// instance id is required: without it no pending launch can be found.
pub(super) fn container_instance_change(
    detail: &Value,
    replay_name: Option<String>,
    warnings: &mut Vec<FieldWarning>,
) -> Result<ContainerInstanceChange, EventError> {
    let mut fields = Fields::new("ECS container instance state change", detail, warnings)?;
    let agent_connected = match fields.object.get("agentConnected") {
        Some(Value::Bool(connected)) => *connected,
        None | Some(Value::Null) => false,
        Some(_) => {
            fields.warn("agentConnected", "not a boolean (read as false)");
            false
        }
    };
    let version = match fields.object.get("version") {
        None | Some(Value::Null) => None,
        Some(value) => {
            let number = value.as_u64();
            if number.is_none() {
                fields.warn("version", "not a whole number");
            }
            number
        }
    };
    Ok(ContainerInstanceChange {
        cluster_arn: fields.id("clusterArn", ClusterArn::new)?,
        container_instance_arn: fields.id("containerInstanceArn", ContainerInstanceArn::new)?,
        ec2_instance_id: fields.id("ec2InstanceId", Ec2InstanceId::new)?,
        status: EcsInstanceStatus::parse(fields.required("status")?),
        agent_connected,
        version,
        replay_name,
    })
}

/// Reads a pending launch's scheduled check (`{"ecsDrainLaunchCheck": {"ec2InstanceId": ..}}`).
pub(super) fn launch_check(
    check: &Value,
    warnings: &mut Vec<FieldWarning>,
) -> Result<Ec2InstanceId, EventError> {
    Fields::new("scheduled launch check", check, warnings)?.id("ec2InstanceId", Ec2InstanceId::new)
}

#[cfg(test)]
mod tests;
