//! The ports: narrow, role-named interfaces to the outside world. Each has one AWS adapter
//! (crate `drain-aws`) and one in-memory implementation (`testing::memory`, feature `test-util`).
//! No SDK type
//! crosses them.

use std::future::Future;

use crate::census::{ListedTasks, ServiceFacts, TaskListing};
use crate::error::DrainError;
use crate::ids::{
    ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, TaskArn,
};
use crate::launch_record::LaunchRecord;
use crate::record::{DrainRecord, LifecycleResult};
use crate::time::{Clock, Timestamp};

/// An ECS container instance as ListContainerInstances / DescribeContainerInstances report it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerInstance {
    /// Its ARN.
    pub arn: ContainerInstanceArn,
    /// Its cluster.
    pub cluster_arn: ClusterArn,
    /// The EC2 instance under it.
    pub ec2_instance_id: Ec2InstanceId,
    /// Its status, read at the edge.
    pub status: EcsInstanceStatus,
    /// `agentConnected`: whether its ECS agent is connected (false when ECS does not say).
    pub agent_connected: bool,
}

impl ContainerInstance {
    /// INACTIVE / DEREGISTERING instances run nothing and never will again.
    pub fn is_gone(&self) -> bool {
        matches!(
            self.status,
            EcsInstanceStatus::Inactive | EcsInstanceStatus::Deregistering
        )
    }
}

/// Longest unknown status kept (for logs and the record); ECS's own are far shorter.
const MAX_STATUS_CHARS: usize = 64;

/// A container instance's status, as DescribeContainerInstances names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EcsInstanceStatus {
    /// `ACTIVE`: accepts tasks.
    Active,
    /// `DRAINING`: ECS moves its service tasks away and places nothing new.
    Draining,
    /// `REGISTERING`.
    Registering,
    /// `DEREGISTERING`.
    Deregistering,
    /// `REGISTRATION_FAILED`.
    RegistrationFailed,
    /// `INACTIVE`: deregistered.
    Inactive,
    /// A status this version does not know (or none reported), kept as text (bounded).
    Other(String),
}

impl EcsInstanceStatus {
    /// Reads ECS's name; anything else is [`EcsInstanceStatus::Other`].
    pub fn parse(text: &str) -> EcsInstanceStatus {
        match text {
            "ACTIVE" => EcsInstanceStatus::Active,
            "DRAINING" => EcsInstanceStatus::Draining,
            "REGISTERING" => EcsInstanceStatus::Registering,
            "DEREGISTERING" => EcsInstanceStatus::Deregistering,
            "REGISTRATION_FAILED" => EcsInstanceStatus::RegistrationFailed,
            "INACTIVE" => EcsInstanceStatus::Inactive,
            other => EcsInstanceStatus::Other(other.chars().take(MAX_STATUS_CHARS).collect()),
        }
    }

    /// ECS's name.
    pub fn as_str(&self) -> &str {
        match self {
            EcsInstanceStatus::Active => "ACTIVE",
            EcsInstanceStatus::Draining => "DRAINING",
            EcsInstanceStatus::Registering => "REGISTERING",
            EcsInstanceStatus::Deregistering => "DEREGISTERING",
            EcsInstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
            EcsInstanceStatus::Inactive => "INACTIVE",
            EcsInstanceStatus::Other(text) => text,
        }
    }
}

impl std::fmt::Display for EcsInstanceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    fn set_draining(
        &self,
        instance: &ContainerInstance,
    ) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// Sets the instance back to ACTIVE (UpdateContainerInstancesState, the same IAM action):
    /// only called for a DRAINING instance whose lifecycle action turned out not to terminate it.
    fn set_active(
        &self,
        instance: &ContainerInstance,
    ) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// The ARNs of every task listed on the instance with desiredStatus RUNNING, then those
    /// with desiredStatus STOPPED (ListTasks, every page, the RUNNING pass first), each listing
    /// apart, as ECS answered: possibly in both (a task can move between the two listings),
    /// unchecked.
    fn list_tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> impl Future<Output = Result<ListedTasks, DrainError>> + Send;

    /// DescribeTasks of `tasks` (at most 100 per call; no call for none), as ECS answered
    /// ([`TaskListing::read`] says what the answer means).
    fn describe_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[String],
    ) -> impl Future<Output = Result<TaskListing, DrainError>> + Send;

    /// Every task listed on the instance ([`Cluster::list_tasks_on`]), each described once: for
    /// a look that knows nothing of the tasks yet (launch readiness). A drain's census chooses
    /// what to describe itself (`decision::look::tasks_to_describe`).
    fn tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> impl Future<Output = Result<TaskListing, DrainError>> + Send {
        async move {
            let listed = self.list_tasks_on(cluster, instance).await?;
            let all = crate::decision::look::tasks_to_describe(&listed, &Default::default());
            self.describe_tasks(cluster, &all).await
        }
    }

    /// Scheduling facts of the named services of `cluster`.
    fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<ServiceFacts>, DrainError>> + Send;

    /// Stops the tasks with `reason` (shown in the ECS console as the stopped reason).
    fn stop_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// The names of the cluster's daemon services (ListServices, schedulingStrategy DAEMON):
    /// what launch readiness waits for when the operator asks for daemons. Only launch
    /// readiness calls it; a port that cannot answer says so as a permanent error.
    fn daemon_services(
        &self,
        cluster: &ClusterArn,
    ) -> impl Future<Output = Result<Vec<String>, DrainError>> + Send {
        let _ = cluster;
        std::future::ready(Err(unsupported("ecs:ListServices")))
    }
}

/// What a port without launch support answers when launch readiness calls it: a permanent
/// error naming the call, never a silent success.
fn unsupported(operation: &'static str) -> DrainError {
    DrainError::permanent(operation, "this port does not support launch readiness")
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
    pub lifecycle_state: LifecycleState,
}

/// An instance's `LifecycleState` as Auto Scaling reports it (Amazon EC2 Auto Scaling User
/// Guide, "Amazon EC2 Auto Scaling instance lifecycle"). Parsed once, where the answer is
/// read, so that the rules compare variants, not text. Only the states a rule needs have a
/// variant; any other text is kept as [`LifecycleState::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LifecycleState {
    /// InService.
    InService,
    /// Terminating: on its way to a terminate hook or termination.
    Terminating,
    /// Terminating:Wait: a terminate lifecycle hook holds the instance.
    TerminatingWait,
    /// Terminating:Proceed: the hook was completed (or timed out); termination goes on.
    TerminatingProceed,
    /// Terminated.
    Terminated,
    /// Warmed:Terminating: a warm-pool instance being terminated.
    WarmedTerminating,
    /// Warmed:Terminating:Wait: a terminate lifecycle hook holds the warm-pool instance.
    WarmedTerminatingWait,
    /// Warmed:Terminating:Proceed.
    WarmedTerminatingProceed,
    /// Warmed:Terminated.
    WarmedTerminated,
    /// Pending:Wait: a launch lifecycle hook holds the new instance.
    PendingWait,
    /// Warmed:Pending:Wait: a launch lifecycle hook holds an instance entering the warm pool.
    WarmedPendingWait,
    /// Any other text (matched exactly), or none (empty).
    Other(String),
}

impl LifecycleState {
    /// Reads Auto Scaling's text (exact, as the API writes it).
    pub fn parse(text: &str) -> LifecycleState {
        match text {
            "InService" => LifecycleState::InService,
            "Terminating" => LifecycleState::Terminating,
            "Terminating:Wait" => LifecycleState::TerminatingWait,
            "Terminating:Proceed" => LifecycleState::TerminatingProceed,
            "Terminated" => LifecycleState::Terminated,
            "Warmed:Terminating" => LifecycleState::WarmedTerminating,
            "Warmed:Terminating:Wait" => LifecycleState::WarmedTerminatingWait,
            "Warmed:Terminating:Proceed" => LifecycleState::WarmedTerminatingProceed,
            "Warmed:Terminated" => LifecycleState::WarmedTerminated,
            "Pending:Wait" => LifecycleState::PendingWait,
            "Warmed:Pending:Wait" => LifecycleState::WarmedPendingWait,
            other => LifecycleState::Other(other.to_owned()),
        }
    }

    /// The text Auto Scaling uses for it.
    pub fn as_str(&self) -> &str {
        match self {
            LifecycleState::InService => "InService",
            LifecycleState::Terminating => "Terminating",
            LifecycleState::TerminatingWait => "Terminating:Wait",
            LifecycleState::TerminatingProceed => "Terminating:Proceed",
            LifecycleState::Terminated => "Terminated",
            LifecycleState::WarmedTerminating => "Warmed:Terminating",
            LifecycleState::WarmedTerminatingWait => "Warmed:Terminating:Wait",
            LifecycleState::WarmedTerminatingProceed => "Warmed:Terminating:Proceed",
            LifecycleState::WarmedTerminated => "Warmed:Terminated",
            LifecycleState::PendingWait => "Pending:Wait",
            LifecycleState::WarmedPendingWait => "Warmed:Pending:Wait",
            LifecycleState::Other(text) => text,
        }
    }

    /// A terminate hook holds the instance (Terminating:Wait, Warmed:Terminating:Wait): the
    /// only states in which a terminate lifecycle action can be real and still open.
    pub fn is_terminate_wait(&self) -> bool {
        matches!(
            self,
            LifecycleState::TerminatingWait | LifecycleState::WarmedTerminatingWait
        )
    }

    /// A launch hook holds the instance (Pending:Wait, Warmed:Pending:Wait): the only states in
    /// which a launch lifecycle action can be real and still open.
    pub fn is_launch_wait(&self) -> bool {
        matches!(
            self,
            LifecycleState::PendingWait | LifecycleState::WarmedPendingWait
        )
    }

    /// The instance is going away or gone: any Terminating* / Terminated state, warm pool or
    /// not. A state Auto Scaling adds later in that family (its text starts `Terminat` or
    /// `Warmed:Terminat`) is read the same way, the safe reading: a dying instance is never
    /// given back to ECS as capacity.
    pub fn is_going_away(&self) -> bool {
        match self {
            LifecycleState::Terminating
            | LifecycleState::TerminatingWait
            | LifecycleState::TerminatingProceed
            | LifecycleState::Terminated
            | LifecycleState::WarmedTerminating
            | LifecycleState::WarmedTerminatingWait
            | LifecycleState::WarmedTerminatingProceed
            | LifecycleState::WarmedTerminated => true,
            LifecycleState::InService
            | LifecycleState::PendingWait
            | LifecycleState::WarmedPendingWait => false,
            LifecycleState::Other(text) => {
                text.starts_with("Terminat") || text.starts_with("Warmed:Terminat")
            }
        }
    }
}

impl From<&str> for LifecycleState {
    fn from(text: &str) -> LifecycleState {
        LifecycleState::parse(text)
    }
}

impl std::fmt::Display for LifecycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The Auto Scaling side: the lifecycle hook holding the instance.
pub trait LifecycleHooks: Send + Sync {
    /// CompleteLifecycleAction.
    fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> impl Future<Output = Result<ActionAnswer, DrainError>> + Send;

    /// RecordLifecycleActionHeartbeat.
    fn heartbeat(
        &self,
        action: &LifecycleActionRef,
    ) -> impl Future<Output = Result<ActionAnswer, DrainError>> + Send;

    /// Where Auto Scaling has the instance (DescribeAutoScalingInstances, read-only); None when
    /// no group holds it. This is what a notice is checked against before anything changes.
    fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> impl Future<Output = Result<Option<AsgInstanceState>, DrainError>> + Send;

    /// The hook's heartbeat timeout in seconds (DescribeLifecycleHooks); None if the hook is
    /// unknown.
    fn heartbeat_timeout(
        &self,
        hook: &HookRef,
    ) -> impl Future<Output = Result<Option<i64>, DrainError>> + Send;

    /// The heartbeat timeout of `hook` and the names of every hook of its group, from one
    /// DescribeLifecycleHooks call for the whole group (the call a new drain makes anyway).
    /// The default asks [`LifecycleHooks::heartbeat_timeout`] and knows no other hook.
    fn group_hooks(
        &self,
        hook: &HookRef,
    ) -> impl Future<Output = Result<GroupHooks, DrainError>> + Send {
        async move {
            Ok(GroupHooks {
                heartbeat_timeout_seconds: self.heartbeat_timeout(hook).await?,
                hook_names: Vec::new(),
            })
        }
    }
}

/// What DescribeLifecycleHooks tells about a drain's group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GroupHooks {
    /// The drain's hook's heartbeat timeout, in seconds (None: the hook is not listed).
    pub heartbeat_timeout_seconds: Option<i64>,
    /// The names of the group's hooks (at most the 50 Auto Scaling allows per group).
    pub hook_names: Vec<String>,
}

/// What a conditional write did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The write happened.
    Written,
    /// Its condition failed: another writer got there first. Expected; never an error.
    LostRace,
}

/// What a conditional insert of a drain record found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InsertOutcome {
    /// No record existed for the instance: this one is stored.
    Inserted,
    /// A record exists for the instance: nothing was written. This is the record on file, as
    /// the failed condition returned it (DynamoDB's `ReturnValuesOnConditionCheckFailure`), so
    /// learning it costs no read.
    Exists(Box<DrainRecord>),
}

/// The drain records.
pub trait DrainStore: Send + Sync {
    /// The record of an instance, if any (one keyed read).
    fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> impl Future<Output = Result<Option<DrainRecord>, DrainError>> + Send;

    /// Writes a new record, only if none exists for the instance; otherwise answers the record
    /// on file (one conditional write either way, no read).
    fn insert(
        &self,
        record: &DrainRecord,
    ) -> impl Future<Output = Result<InsertOutcome, DrainError>> + Send;

    /// Writes `record`, only if the stored record's revision is still `expected_revision`.
    fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> impl Future<Output = Result<WriteOutcome, DrainError>> + Send;

    /// The pending launch of an EC2 instance, if any (one keyed read). Launch records live in
    /// the same table under their own key ([`LaunchRecord::key`]), so a launch and a drain of
    /// the same instance never touch each other's item.
    fn load_launch(
        &self,
        instance: &Ec2InstanceId,
    ) -> impl Future<Output = Result<Option<LaunchRecord>, DrainError>> + Send {
        let _ = instance;
        std::future::ready(Err(unsupported("dynamodb:GetItem")))
    }

    /// Writes a new launch record, only if none exists for the instance.
    fn insert_launch(
        &self,
        record: &LaunchRecord,
    ) -> impl Future<Output = Result<WriteOutcome, DrainError>> + Send {
        let _ = record;
        std::future::ready(Err(unsupported("dynamodb:PutItem")))
    }

    /// Writes a launch record, only if the stored one's revision is still `expected_revision`.
    fn replace_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
    ) -> impl Future<Output = Result<WriteOutcome, DrainError>> + Send {
        let _ = (record, expected_revision);
        std::future::ready(Err(unsupported("dynamodb:PutItem")))
    }
}

/// One-shot scheduled checks, one per live drain.
pub trait CheckScheduler: Send + Sync {
    /// Creates or moves the drain's check to `at`.
    fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), DrainError>> + Send;

    /// Deletes the drain's check; a missing one is fine. Only drainctl's operator actions
    /// delete a check: the functions leave an ended drain's (or launch's) one-shot check to
    /// fire once and find it ended, and EventBridge Scheduler deletes it after that invocation
    /// (ActionAfterCompletion=DELETE).
    fn cancel(
        &self,
        instance: &ContainerInstanceArn,
    ) -> impl Future<Output = Result<(), DrainError>> + Send {
        let _ = instance;
        std::future::ready(Err(unsupported("scheduler:DeleteSchedule")))
    }

    /// Creates or moves the pending launch's one-shot check of `instance` to `at`.
    fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), DrainError>> + Send {
        let _ = (instance, at);
        std::future::ready(Err(unsupported("scheduler:CreateSchedule")))
    }
}

/// No scheduler configured: the drainer does not book checks (it never calls this when
/// `Config::schedule` is None), and a stray call does nothing.
impl<T: CheckScheduler> CheckScheduler for Option<T> {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
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

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        match self {
            Some(scheduler) => scheduler.schedule_launch(instance, at).await,
            None => Ok(()),
        }
    }
}

/// Ports shared behind an `Arc` (the binaries keep a handle to set the check target).
impl<T: CheckScheduler> CheckScheduler for std::sync::Arc<T> {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        (**self).schedule(instance, at).await
    }

    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        (**self).cancel(instance).await
    }

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        (**self).schedule_launch(instance, at).await
    }
}

/// The five ports a [`crate::Drainer`] runs over, as one bundle: one type parameter names a
/// whole deployment (AWS, in-memory, simulated) instead of five.
pub trait Ports: Send + Sync {
    /// The ECS side.
    type Cluster: Cluster;
    /// The Auto Scaling side.
    type Hooks: LifecycleHooks;
    /// The drain records.
    type Store: DrainStore;
    /// The scheduled checks.
    type Scheduler: CheckScheduler;
    /// Where "now" comes from.
    type Clock: Clock;

    /// The ECS side.
    fn cluster(&self) -> &Self::Cluster;
    /// The Auto Scaling side.
    fn hooks(&self) -> &Self::Hooks;
    /// The drain records.
    fn store(&self) -> &Self::Store;
    /// The scheduled checks.
    fn scheduler(&self) -> &Self::Scheduler;
    /// Where "now" comes from.
    fn clock(&self) -> &Self::Clock;
}

/// The ports as five plain values: the bundle every deployment builds.
#[derive(Clone, Debug)]
pub struct PortSet<C, H, S, Q, K> {
    /// The ECS side.
    pub cluster: C,
    /// The Auto Scaling side.
    pub hooks: H,
    /// The drain records.
    pub store: S,
    /// The scheduled checks.
    pub scheduler: Q,
    /// Where "now" comes from.
    pub clock: K,
}

impl<C, H, S, Q, K> Ports for PortSet<C, H, S, Q, K>
where
    C: Cluster,
    H: LifecycleHooks,
    S: DrainStore,
    Q: CheckScheduler,
    K: Clock,
{
    type Cluster = C;
    type Hooks = H;
    type Store = S;
    type Scheduler = Q;
    type Clock = K;

    fn cluster(&self) -> &C {
        &self.cluster
    }
    fn hooks(&self) -> &H {
        &self.hooks
    }
    fn store(&self) -> &S {
        &self.store
    }
    fn scheduler(&self) -> &Q {
        &self.scheduler
    }
    fn clock(&self) -> &K {
        &self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_instance_statuses_are_read_by_name_and_unknown_ones_kept_bounded() {
        for name in [
            "ACTIVE",
            "DRAINING",
            "REGISTERING",
            "DEREGISTERING",
            "REGISTRATION_FAILED",
            "INACTIVE",
        ] {
            let status = EcsInstanceStatus::parse(name);
            assert!(!matches!(status, EcsInstanceStatus::Other(_)), "{name}");
            assert_eq!(status.as_str(), name);
        }
        assert_eq!(
            EcsInstanceStatus::parse("draining"),
            EcsInstanceStatus::Other("draining".into()),
            "names are case-sensitive"
        );
        assert_eq!(
            EcsInstanceStatus::parse(&"X".repeat(10_000)).as_str().len(),
            MAX_STATUS_CHARS
        );
    }

    #[test]
    fn only_inactive_and_deregistering_instances_are_gone() {
        let arn = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc";
        let instance = |status: &str| ContainerInstance {
            arn: ContainerInstanceArn::new(arn).expect("arn"),
            cluster_arn: ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod")
                .expect("arn"),
            ec2_instance_id: Ec2InstanceId::new("i-0123456789abcdef0").expect("id"),
            status: EcsInstanceStatus::parse(status),
            agent_connected: true,
        };
        for (status, gone) in [
            ("INACTIVE", true),
            ("DEREGISTERING", true),
            ("ACTIVE", false),
            ("DRAINING", false),
            ("UNKNOWN", false),
        ] {
            assert_eq!(instance(status).is_gone(), gone, "{status}");
        }
    }
}
