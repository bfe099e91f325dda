//! The launch record: one item per pending launch lifecycle action, in the same table as the
//! drain records but under its own key (`launch#<EC2 instance id>`): no container instance
//! exists when a launch is noticed, and a drain of the same instance (keyed by its container
//! instance ARN, which always starts `arn:`) can never share the item.
//!
//! Every change is written conditionally on the `revision` the writer read, as for drains.

use serde::{Deserialize, Serialize};

use crate::event::fleet::Placement;
use crate::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, LifecycleActionRef};
use crate::record::LifecycleResult;
use crate::time::Timestamp;

/// The key prefix of launch items; container instance ARNs never start with it.
pub const LAUNCH_KEY_PREFIX: &str = "launch#";

/// Where a pending launch is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LaunchStatus {
    /// Waiting for the instance to join.
    Pending,
    /// One invocation has claimed the completion and is calling CompleteLifecycleAction.
    Completing,
    /// ecs-drain completed the launch action.
    Completed,
    /// The launch action was already gone (completed elsewhere, or timed out).
    Expired,
}

impl LaunchStatus {
    /// Completed and Expired launches never move again.
    pub fn is_terminal(self) -> bool {
        matches!(self, LaunchStatus::Completed | LaunchStatus::Expired)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            LaunchStatus::Pending => "PENDING",
            LaunchStatus::Completing => "COMPLETING",
            LaunchStatus::Completed => "COMPLETED",
            LaunchStatus::Expired => "EXPIRED",
        }
    }
}

/// A pending (or finished) launch lifecycle action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchRecord {
    /// The launched EC2 instance (the record's key).
    pub instance_id: Ec2InstanceId,
    /// Group, hook, instance and token of the action.
    pub action: LifecycleActionRef,
    /// The notice's `Origin`.
    pub origin: Option<Placement>,
    /// The notice's `Destination`.
    pub destination: Option<Placement>,
    /// Where it is in its life.
    pub status: LaunchStatus,
    /// When the notice was sent (believable), the deadline counts from here.
    pub noticed_at: Timestamp,
    /// When ecs-drain recorded it.
    pub started_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
    /// The launch hook's heartbeat timeout, when known.
    pub heartbeat_timeout_seconds: Option<i64>,
    /// When the deadline policy applies.
    pub deadline: Timestamp,
    /// When the booked safety-net check fires, if one is booked.
    pub next_check_at: Option<Timestamp>,
    /// The container instance last seen on the EC2 instance.
    pub container_instance_arn: Option<ContainerInstanceArn>,
    /// Its cluster.
    pub cluster_arn: Option<ClusterArn>,
    /// ecs-drain set the container instance back to ACTIVE (a warm-pool return it drained).
    pub reactivated: bool,
    /// The result sent, once completed.
    pub result: Option<LifecycleResult>,
    /// Why it completed (a [`crate::decision::launch::LaunchCompletion`] name), once completed.
    pub reason: Option<String>,
    /// Conditional-write guard: grows by one with every write.
    pub revision: u64,
    /// When DynamoDB TTL may remove the item.
    pub expires_at: Timestamp,
}

impl LaunchRecord {
    /// The table key of an EC2 instance's launch record.
    pub fn key(instance: &Ec2InstanceId) -> String {
        format!("{LAUNCH_KEY_PREFIX}{instance}")
    }

    /// The next revision of this record, stamped `now`: what every write stores.
    pub fn next(&self, now: Timestamp) -> LaunchRecord {
        LaunchRecord {
            revision: self.revision + 1,
            updated_at: now,
            ..self.clone()
        }
    }
}

/// Whether a table key is a launch record's rather than a drain record's.
pub fn is_launch_key(key: &str) -> bool {
    key.starts_with(LAUNCH_KEY_PREFIX)
}
