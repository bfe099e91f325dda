//! The ports: narrow, role-named interfaces to the outside world. Each has one AWS adapter
//! (crate `drain-aws`) and one in-memory implementation ([`crate::memory`]). No SDK type
//! crosses them.

use std::future::Future;

use crate::census::{ServiceFacts, TaskListing};
use crate::error::DrainError;
use crate::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, TaskArn};
use crate::record::{DrainRecord, LifecycleResult};
use crate::time::Timestamp;

/// An ECS container instance as ListContainerInstances / DescribeContainerInstances report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInstance {
    /// Its ARN.
    pub arn: ContainerInstanceArn,
    /// Its cluster.
    pub cluster_arn: ClusterArn,
    /// The EC2 instance under it.
    pub ec2_instance_id: Ec2InstanceId,
    /// ACTIVE, DRAINING, INACTIVE, REGISTERING, DEREGISTERING, ...
    pub status: String,
}

impl ContainerInstance {
    /// INACTIVE / DEREGISTERING instances run nothing and never will again.
    pub fn is_gone(&self) -> bool {
        matches!(self.status.as_str(), "INACTIVE" | "DEREGISTERING")
    }
}

/// The ECS side: finding instances, draining them, and the census.
pub trait Cluster: Send + Sync {
    /// Finds the container instance on `ec2_instance_id` in `clusters` (names or ARNs; all
    /// clusters of the account when empty).
    fn find_container_instance(
        &self,
        clusters: &[String],
        ec2_instance_id: &Ec2InstanceId,
    ) -> impl Future<Output = Result<Option<ContainerInstance>, DrainError>> + Send;

    /// Sets the instance DRAINING (only called while it is ACTIVE).
    fn set_draining(&self, instance: &ContainerInstance) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// Sets the instance back to ACTIVE (UpdateContainerInstancesState, the same IAM action):
    /// only called for a DRAINING instance whose lifecycle action turned out not to terminate it.
    fn set_active(&self, instance: &ContainerInstance) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// Every task listed on the instance with desiredStatus RUNNING or STOPPED, described, as
    /// ECS answered ([`TaskListing::read`] says what the answer means).
    fn tasks_on(&self, cluster: &ClusterArn, instance: &ContainerInstanceArn) -> impl Future<Output = Result<TaskListing, DrainError>> + Send;

    /// Scheduling facts of the named services of `cluster`.
    fn services(&self, cluster: &ClusterArn, names: &[String]) -> impl Future<Output = Result<Vec<ServiceFacts>, DrainError>> + Send;

    /// Stops the tasks with `reason` (shown in the ECS console as the stopped reason).
    fn stop_tasks(&self, cluster: &ClusterArn, tasks: &[TaskArn], reason: &str) -> impl Future<Output = Result<(), DrainError>> + Send;
}

/// What Auto Scaling answered a lifecycle action call: a fact; the decision layer
/// (`decision::completion_outcome`) says what it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionAnswer {
    /// The call took effect.
    Accepted,
    /// `No active Lifecycle Action found`: the action is gone (completed, or timed out).
    NoActiveAction {
        /// An earlier attempt of this same call got no clear answer (5xx, reset, timeout after
        /// sending), so it may have taken effect. Never true for a throttled attempt (a clean
        /// refusal), nor for a heartbeat.
        after_unclear_attempt: bool,
    },
}

/// Where Auto Scaling has an EC2 instance, as DescribeAutoScalingInstances reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsgInstanceState {
    /// The group the instance is in (as Auto Scaling names it, unvalidated).
    pub group: String,
    /// `InService`, `Terminating:Wait`, `Warmed:Terminating:Wait`, `Terminating:Proceed`, ...
    pub lifecycle_state: String,
}

/// The Auto Scaling side: the lifecycle hook holding the instance.
pub trait LifecycleHooks: Send + Sync {
    /// CompleteLifecycleAction.
    fn complete(&self, action: &LifecycleActionRef, result: LifecycleResult) -> impl Future<Output = Result<ActionAnswer, DrainError>> + Send;

    /// RecordLifecycleActionHeartbeat.
    fn heartbeat(&self, action: &LifecycleActionRef) -> impl Future<Output = Result<ActionAnswer, DrainError>> + Send;

    /// Where Auto Scaling has the instance (DescribeAutoScalingInstances, read-only); None when
    /// no group holds it. This is what a notice is checked against before anything changes.
    fn instance_state(&self, instance: &Ec2InstanceId) -> impl Future<Output = Result<Option<AsgInstanceState>, DrainError>> + Send;

    /// The hook's heartbeat timeout in seconds (DescribeLifecycleHooks); None if the hook is unknown.
    fn heartbeat_timeout(&self, hook: &HookRef) -> impl Future<Output = Result<Option<i64>, DrainError>> + Send;
}

/// What a conditional write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The write happened.
    Written,
    /// Its condition failed: another writer got there first. Expected; never an error.
    LostRace,
}

/// The drain records.
pub trait DrainStore: Send + Sync {
    /// The record of an instance, if any (one keyed read).
    fn load(&self, instance: &ContainerInstanceArn) -> impl Future<Output = Result<Option<DrainRecord>, DrainError>> + Send;

    /// Writes a new record, only if none exists for the instance.
    fn insert(&self, record: &DrainRecord) -> impl Future<Output = Result<WriteOutcome, DrainError>> + Send;

    /// Writes `record`, only if the stored record's revision is still `expected_revision`.
    fn replace(&self, record: &DrainRecord, expected_revision: u64) -> impl Future<Output = Result<WriteOutcome, DrainError>> + Send;
}

/// One-shot scheduled checks, one per live drain.
pub trait CheckScheduler: Send + Sync {
    /// Creates or moves the drain's check to `at`.
    fn schedule(&self, instance: &ContainerInstanceArn, at: Timestamp) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// Deletes the drain's check; a missing one is fine.
    fn cancel(&self, instance: &ContainerInstanceArn) -> impl Future<Output = Result<(), DrainError>> + Send;
}

/// No scheduler configured: the drainer does not book checks (it never calls this when
/// `Config::schedule` is None), and a stray call does nothing.
impl<T: CheckScheduler> CheckScheduler for Option<T> {
    async fn schedule(&self, instance: &ContainerInstanceArn, at: Timestamp) -> Result<(), DrainError> {
        match self {
            Some(scheduler) => scheduler.schedule(instance, at).await,
            None => Ok(()),
        }
    }

    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        match self {
            Some(scheduler) => scheduler.cancel(instance).await,
            None => Ok(()),
        }
    }
}

/// Ports shared behind an `Arc` (the binaries keep a handle to set the check target).
impl<T: CheckScheduler> CheckScheduler for std::sync::Arc<T> {
    async fn schedule(&self, instance: &ContainerInstanceArn, at: Timestamp) -> Result<(), DrainError> {
        (**self).schedule(instance, at).await
    }

    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        (**self).cancel(instance).await
    }
}
