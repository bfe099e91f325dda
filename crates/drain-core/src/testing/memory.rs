//! In-memory implementations of every port: real implementations (conditions honoured, errors
//! where AWS errs), used by unit tests and the simulation. Each keeps a log of the calls made
//! so tests can count AWS calls per event.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::census::{
    ListedTasks, SchedulingStrategy, ServiceFacts, TaskFailure, TaskListing, TaskSnapshot,
    TaskStatus,
};
use crate::error::DrainError;
use crate::ids::{
    ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, LifecycleToken,
    TaskArn,
};
use crate::launch_record::LaunchRecord;
use crate::ports::{
    ActionAnswer, AsgInstanceState, CheckScheduler, Cluster, ContainerInstance, DrainStore,
    EcsInstanceStatus, GroupHooks, InsertOutcome, LifecycleHooks, LifecycleState, PortSet,
    WriteOutcome,
};
use crate::record::{DrainRecord, LifecycleResult};
use crate::testing::calls::{CallCounts, add};
use crate::time::Timestamp;

/// ListTasks and DescribeTasks take at most 100 tasks per call.
const LISTED_PER_CALL: usize = 100;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking test thread must not hide the state from the assertions that follow.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The calls made through in-memory ports, in order (`service:Operation`).
#[derive(Clone, Debug, Default)]
pub struct CallLog(Arc<Mutex<Vec<&'static str>>>);

impl CallLog {
    fn push(&self, call: &'static str) {
        lock(&self.0).push(call);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<&'static str> {
        lock(&self.0).clone()
    }

    /// The calls so far per operation, in the call-cost model's form (so a test can compare
    /// them with [`crate::testing::calls`]).
    pub fn counts(&self) -> CallCounts {
        let mut counts = CallCounts::new();
        for call in lock(&self.0).iter() {
            add(&mut counts, call, 1);
        }
        counts
    }

    /// How many calls of `operation`.
    pub fn count(&self, operation: &str) -> usize {
        lock(&self.0)
            .iter()
            .filter(|call| **call == operation)
            .count()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}

/// A task placed on an in-memory container instance.
#[derive(Clone, Debug)]
pub struct PlacedTask {
    /// Where it runs.
    pub instance: ContainerInstanceArn,
    /// Its state.
    pub snapshot: TaskSnapshot,
    /// The stopped reason given by whoever stopped it.
    pub stopped_reason: Option<String>,
}

/// The in-memory ECS world.
#[derive(Clone, Debug, Default)]
pub struct EcsState {
    /// Container instances.
    pub instances: Vec<ContainerInstance>,
    /// Tasks, alive and stopped.
    pub tasks: Vec<PlacedTask>,
    /// Services by cluster.
    pub services: Vec<(ClusterArn, ServiceFacts)>,
    /// The tasks the last census described (its DescribeTasks calls together): what a test
    /// reads to see which tasks a census described. Only the last, so a long run stays small.
    pub last_described: Vec<String>,
}

/// In-memory ECS. StopTask sets desiredStatus STOPPED and lastStatus STOPPING, as ECS does
/// while containers get their stopTimeout; the test (or simulation) finishes the stop.
#[derive(Clone, Debug, Default)]
pub struct MemoryCluster {
    state: Arc<Mutex<EcsState>>,
    log: CallLog,
}

impl MemoryCluster {
    /// An empty world writing to `log`.
    pub fn new(log: CallLog) -> Self {
        MemoryCluster {
            state: Arc::default(),
            log,
        }
    }

    /// Reads or changes the world.
    pub fn with_state<R>(&self, change: impl FnOnce(&mut EcsState) -> R) -> R {
        change(&mut lock(&self.state))
    }

    /// An ECS read: logs `operation` and answers what `read` finds in the world.
    fn answer<R>(
        &self,
        operation: &'static str,
        read: impl FnOnce(&EcsState) -> R,
    ) -> Result<R, DrainError> {
        self.log.push(operation);
        Ok(read(&lock(&self.state)))
    }

    /// UpdateContainerInstancesState as ECS answers it: ACTIVE and DRAINING move to `status`,
    /// anything else (INACTIVE, deregistering) is refused.
    fn set_status(
        &self,
        target: &ContainerInstance,
        status: EcsInstanceStatus,
    ) -> Result<(), DrainError> {
        self.log.push("ecs:UpdateContainerInstancesState");
        self.with_state(|state| {
            let instance = state
                .instances
                .iter_mut()
                .find(|instance| instance.arn == target.arn)
                .ok_or_else(|| {
                    DrainError::permanent(
                        "ecs:UpdateContainerInstancesState",
                        "container instance not found",
                    )
                })?;
            if matches!(
                instance.status,
                EcsInstanceStatus::Active | EcsInstanceStatus::Draining
            ) {
                instance.status = status;
                Ok(())
            } else {
                Err(DrainError::permanent(
                    "ecs:UpdateContainerInstancesState",
                    format!("instance is {}", instance.status),
                ))
            }
        })
    }

    /// Adds an ACTIVE container instance.
    pub fn add_instance(
        &self,
        cluster: &ClusterArn,
        arn: &ContainerInstanceArn,
        ec2: &Ec2InstanceId,
    ) {
        self.with_state(|state| {
            state.instances.push(ContainerInstance {
                arn: arn.clone(),
                cluster_arn: cluster.clone(),
                ec2_instance_id: ec2.clone(),
                status: EcsInstanceStatus::Active,
                agent_connected: true,
            })
        });
    }

    /// Registers a container instance in `status` with its agent connected or not (the ECS
    /// agent of a launched instance registering), or changes the one registered on `ec2`.
    pub fn register(
        &self,
        cluster: &ClusterArn,
        arn: &ContainerInstanceArn,
        ec2: &Ec2InstanceId,
        status: EcsInstanceStatus,
        agent_connected: bool,
    ) {
        self.with_state(|state| {
            state
                .instances
                .retain(|instance| &instance.ec2_instance_id != ec2);
            state.instances.push(ContainerInstance {
                arn: arn.clone(),
                cluster_arn: cluster.clone(),
                ec2_instance_id: ec2.clone(),
                status,
                agent_connected,
            })
        });
    }

    /// Adds a service.
    pub fn add_service(&self, cluster: &ClusterArn, facts: ServiceFacts) {
        self.with_state(|state| state.services.push((cluster.clone(), facts)));
    }

    /// Places a RUNNING task on `instance`.
    pub fn add_task(&self, instance: &ContainerInstanceArn, arn: &TaskArn, group: &str) {
        self.with_state(|state| {
            state.tasks.push(PlacedTask {
                instance: instance.clone(),
                snapshot: TaskSnapshot {
                    arn: arn.clone(),
                    group: Some(group.to_owned()),
                    started_by: None,
                    last_status: TaskStatus::Running,
                    desired_status: TaskStatus::Running,
                },
                stopped_reason: None,
            })
        });
    }

    /// Sets a task's lastStatus (and desiredStatus STOPPED once it is shutting down).
    pub fn set_task_status(&self, arn: &TaskArn, last_status: &str) {
        self.with_state(|state| {
            for task in state
                .tasks
                .iter_mut()
                .filter(|task| &task.snapshot.arn == arn)
            {
                task.snapshot.last_status = TaskStatus::parse(last_status);
                if !task.snapshot.last_status.is_starting_or_running() {
                    task.snapshot.desired_status = TaskStatus::Stopped;
                }
            }
        });
    }

    /// The status of the instance on `ec2`.
    pub fn instance_status(&self, arn: &ContainerInstanceArn) -> Option<String> {
        self.with_state(|state| {
            state
                .instances
                .iter()
                .find(|instance| &instance.arn == arn)
                .map(|instance| instance.status.as_str().to_owned())
        })
    }

    /// The stopped reason of a task, if someone stopped it.
    pub fn stopped_reason(&self, arn: &TaskArn) -> Option<String> {
        self.with_state(|state| {
            state
                .tasks
                .iter()
                .find(|task| &task.snapshot.arn == arn)
                .and_then(|task| task.stopped_reason.clone())
        })
    }
}

impl Cluster for MemoryCluster {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        self.answer("ecs:ListContainerInstances", |state| {
            state
                .instances
                .iter()
                .filter(|instance| {
                    clusters.is_empty()
                        || clusters.iter().any(|c| {
                            c == instance.cluster_arn.as_str() || c == instance.cluster_arn.name()
                        })
                })
                .find(|instance| &instance.ec2_instance_id == ec2)
                .cloned()
        })
    }

    async fn set_draining(&self, target: &ContainerInstance) -> Result<(), DrainError> {
        self.set_status(target, EcsInstanceStatus::Draining)
    }

    async fn set_active(&self, target: &ContainerInstance) -> Result<(), DrainError> {
        self.set_status(target, EcsInstanceStatus::Active)
    }

    async fn list_tasks_on(
        &self,
        _cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<ListedTasks, DrainError> {
        // RUNNING first, then STOPPED, a ListTasks call per page of 100 (at least one each),
        // as ECS lists them.
        let (running, stopped): (Vec<String>, Vec<String>) = self.with_state(|state| {
            let on_instance = state.tasks.iter().filter(|task| &task.instance == instance);
            let (running, stopped): (Vec<&PlacedTask>, Vec<&PlacedTask>) =
                on_instance.partition(|task| task.snapshot.desired_status != TaskStatus::Stopped);
            let arns = |tasks: Vec<&PlacedTask>| {
                tasks.iter().map(|t| t.snapshot.arn.to_string()).collect()
            };
            (arns(running), arns(stopped))
        });
        for listed in [&running, &stopped] {
            for _ in 0..listed.len().div_ceil(LISTED_PER_CALL).max(1) {
                self.log.push("ecs:ListTasks");
            }
        }
        Ok(ListedTasks { running, stopped })
    }

    async fn describe_tasks(
        &self,
        _cluster: &ClusterArn,
        tasks: &[String],
    ) -> Result<TaskListing, DrainError> {
        for _ in tasks.chunks(LISTED_PER_CALL) {
            self.log.push("ecs:DescribeTasks");
        }
        let mut listing = TaskListing::default();
        self.with_state(|state| {
            state.last_described = tasks.to_vec();
            for arn in tasks {
                match state
                    .tasks
                    .iter()
                    .find(|task| task.snapshot.arn.as_str() == arn)
                {
                    Some(task) => listing.tasks.push(task.snapshot.clone().into()),
                    None => listing.failures.push(TaskFailure {
                        arn: Some(arn.clone()),
                        reason: Some("MISSING".to_owned()),
                        detail: None,
                    }),
                }
            }
        });
        Ok(listing)
    }

    async fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        self.answer("ecs:DescribeServices", |state| {
            state
                .services
                .iter()
                .filter(|(owner, facts)| owner == cluster && names.contains(&facts.name))
                .map(|(_, facts)| facts.clone())
                .collect()
        })
    }

    async fn daemon_services(&self, cluster: &ClusterArn) -> Result<Vec<String>, DrainError> {
        self.answer("ecs:ListServices", |state| {
            state
                .services
                .iter()
                .filter(|(owner, facts)| {
                    owner == cluster
                        && facts.scheduling_strategy == Some(SchedulingStrategy::Daemon)
                })
                .map(|(_, facts)| facts.name.clone())
                .collect()
        })
    }

    async fn stop_tasks(
        &self,
        _cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        for arn in tasks {
            self.log.push("ecs:StopTask");
            self.with_state(|state| {
                for task in state.tasks.iter_mut().filter(|task| {
                    &task.snapshot.arn == arn && !task.snapshot.last_status.is_gone()
                }) {
                    task.snapshot.desired_status = TaskStatus::Stopped;
                    task.snapshot.last_status = TaskStatus::Stopping;
                    task.stopped_reason.get_or_insert_with(|| reason.to_owned());
                }
            });
        }
        Ok(())
    }
}

/// One lifecycle action held by the in-memory Auto Scaling group.
#[derive(Clone, Debug)]
pub struct MemoryAction {
    /// The action.
    pub action: LifecycleActionRef,
    /// Still waiting for completion.
    pub active: bool,
    /// Successful CompleteLifecycleAction calls (must end at 1).
    pub completions: u32,
    /// The result sent.
    pub result: Option<LifecycleResult>,
    /// Heartbeats recorded.
    pub heartbeats: u32,
}

/// In-memory Auto Scaling lifecycle actions, and where the group has each instance: an instance
/// whose action begins is `Terminating:Wait`, `Terminating:Proceed` once no action holds it.
#[derive(Clone, Debug, Default)]
pub struct MemoryHooks {
    actions: Arc<Mutex<Vec<MemoryAction>>>,
    /// EC2 instance id → (group, lifecycle state).
    instances: Arc<Mutex<BTreeMap<String, (String, String)>>>,
    timeouts: Arc<Mutex<BTreeMap<(String, String), i64>>>,
    next_complete_error: Arc<Mutex<Option<DrainError>>>,
    log: CallLog,
}

impl MemoryHooks {
    /// No actions, writing to `log`.
    pub fn new(log: CallLog) -> Self {
        MemoryHooks {
            log,
            ..MemoryHooks::default()
        }
    }

    /// Declares a hook and its heartbeat timeout.
    pub fn add_hook(&self, hook: &HookRef, heartbeat_timeout_seconds: i64) {
        lock(&self.timeouts).insert(
            (hook.asg_name.to_string(), hook.hook_name.to_string()),
            heartbeat_timeout_seconds,
        );
    }

    /// Starts a lifecycle action (the group began terminating an instance): the instance is
    /// `Terminating:Wait` in the action's group.
    pub fn begin(&self, action: &LifecycleActionRef) {
        self.start(action, "Terminating:Wait");
    }

    /// Starts a launch lifecycle action: the instance is `Pending:Wait` in the action's group
    /// (`Warmed:Pending:Wait` when it enters the warm pool).
    pub fn begin_launch(&self, action: &LifecycleActionRef, lifecycle_state: &str) {
        self.start(action, lifecycle_state);
    }

    /// An active action holding its instance in `lifecycle_state`.
    fn start(&self, action: &LifecycleActionRef, lifecycle_state: &str) {
        lock(&self.actions).push(MemoryAction {
            action: action.clone(),
            active: true,
            completions: 0,
            result: None,
            heartbeats: 0,
        });
        self.set_lifecycle_state(
            action.instance_id.as_str(),
            action.hook.asg_name.as_str(),
            lifecycle_state,
        );
    }

    /// Puts an instance in `group` in `lifecycle_state` (e.g. `InService`), as Auto Scaling
    /// would report it.
    pub fn set_lifecycle_state(&self, instance_id: &str, group: &str, lifecycle_state: &str) {
        lock(&self.instances).insert(
            instance_id.to_owned(),
            (group.to_owned(), lifecycle_state.to_owned()),
        );
    }

    /// The lifecycle state Auto Scaling reports for an instance (no call logged).
    pub fn lifecycle_state(&self, instance_id: &str) -> Option<String> {
        lock(&self.instances)
            .get(instance_id)
            .map(|(_, state)| state.clone())
    }

    /// Forgets an instance (it left its group, or was terminated).
    pub fn remove_instance(&self, instance_id: &str) {
        lock(&self.instances).remove(instance_id);
    }

    /// Ends an action as if its timeout ran out (the hook's default result applies).
    pub fn expire(&self, token: &LifecycleToken) {
        let ended: Vec<LifecycleActionRef> = lock(&self.actions)
            .iter_mut()
            .filter(|entry| &entry.action.token == token && entry.active)
            .map(|entry| {
                entry.active = false;
                entry.action.clone()
            })
            .collect();
        for action in ended {
            self.proceed_if_released(&action.instance_id);
        }
    }

    /// Once no action holds the instance any more, Auto Scaling moves it on to termination.
    fn proceed_if_released(&self, instance: &Ec2InstanceId) {
        let held = lock(&self.actions)
            .iter()
            .any(|entry| entry.active && &entry.action.instance_id == instance);
        let mut instances = lock(&self.instances);
        if let Some((_, state)) = instances.get_mut(instance.as_str())
            && !held
            && state.ends_with("Terminating:Wait")
        {
            *state = state.replace("Terminating:Wait", "Terminating:Proceed");
        }
    }

    /// Makes the next CompleteLifecycleAction call fail with `error` and change nothing, as a
    /// throttled or timed-out call does (fault injection for tests).
    pub fn fail_next_complete(&self, error: DrainError) {
        *lock(&self.next_complete_error) = Some(error);
    }

    /// The state of the action with `token`.
    pub fn action(&self, token: &LifecycleToken) -> Option<MemoryAction> {
        lock(&self.actions)
            .iter()
            .find(|entry| &entry.action.token == token)
            .cloned()
    }

    fn act(
        &self,
        action: &LifecycleActionRef,
        change: impl FnOnce(&mut MemoryAction),
    ) -> ActionAnswer {
        let mut actions = lock(&self.actions);
        match actions
            .iter_mut()
            .find(|entry| entry.active && entry.action == *action)
        {
            Some(entry) => {
                change(entry);
                ActionAnswer::Accepted
            }
            None => ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            },
        }
    }
}

impl LifecycleHooks for MemoryHooks {
    async fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> Result<ActionAnswer, DrainError> {
        self.log.push("autoscaling:CompleteLifecycleAction");
        if let Some(error) = lock(&self.next_complete_error).take() {
            return Err(error);
        }
        let outcome = self.act(action, |entry| {
            entry.active = false;
            entry.completions += 1;
            entry.result = Some(result);
        });
        self.proceed_if_released(&action.instance_id);
        Ok(outcome)
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionAnswer, DrainError> {
        self.log.push("autoscaling:RecordLifecycleActionHeartbeat");
        Ok(self.act(action, |entry| entry.heartbeats += 1))
    }

    async fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<AsgInstanceState>, DrainError> {
        self.log.push("autoscaling:DescribeAutoScalingInstances");
        Ok(lock(&self.instances)
            .get(instance.as_str())
            .map(|(group, lifecycle_state)| AsgInstanceState {
                group: group.clone(),
                lifecycle_state: LifecycleState::parse(lifecycle_state),
            }))
    }

    async fn heartbeat_timeout(&self, hook: &HookRef) -> Result<Option<i64>, DrainError> {
        self.log.push("autoscaling:DescribeLifecycleHooks");
        Ok(lock(&self.timeouts)
            .get(&(hook.asg_name.to_string(), hook.hook_name.to_string()))
            .copied())
    }

    async fn group_hooks(&self, hook: &HookRef) -> Result<GroupHooks, DrainError> {
        self.log.push("autoscaling:DescribeLifecycleHooks");
        let timeouts = lock(&self.timeouts);
        Ok(GroupHooks {
            heartbeat_timeout_seconds: timeouts
                .get(&(hook.asg_name.to_string(), hook.hook_name.to_string()))
                .copied(),
            hook_names: timeouts
                .keys()
                .filter(|(group, _)| group == hook.asg_name.as_str())
                .map(|(_, name)| name.clone())
                .collect(),
        })
    }
}

/// A record kept in a [`Table`]: its key, and the revision its conditional writes compare.
trait Item: Clone {
    /// The key the record is stored under.
    type Key: Ord + Clone;
    fn key(&self) -> &Self::Key;
    fn revision(&self) -> u64;
}

/// Implements [`Item`] for a record stored under its field `$key` of type `$key_type`.
macro_rules! item {
    ($record:ty, $key:ident: $key_type:ty) => {
        impl Item for $record {
            type Key = $key_type;
            fn key(&self) -> &$key_type {
                &self.$key
            }
            fn revision(&self) -> u64 {
                self.revision
            }
        }
    };
}

item!(DrainRecord, container_instance_arn: ContainerInstanceArn);
item!(LaunchRecord, instance_id: Ec2InstanceId);

/// One kind of record, keyed, with DynamoDB's conditional put: the one home of the write
/// condition for drain and launch records alike.
#[derive(Debug)]
struct Table<R: Item>(Arc<Mutex<BTreeMap<R::Key, R>>>);

impl<R: Item> Clone for Table<R> {
    fn clone(&self) -> Self {
        Table(Arc::clone(&self.0))
    }
}

impl<R: Item> Default for Table<R> {
    fn default() -> Self {
        Table(Arc::default())
    }
}

impl<R: Item> Table<R> {
    fn get(&self, key: &R::Key) -> Option<R> {
        lock(&self.0).get(key).cloned()
    }

    /// With no expected revision, writes only if no item has the key; with one, only if the
    /// stored item's revision is that one.
    fn put_if(&self, record: &R, expected_revision: Option<u64>) -> WriteOutcome {
        let mut items = lock(&self.0);
        let holds = match (items.get(record.key()), expected_revision) {
            (None, None) => true,
            (Some(stored), Some(expected)) => stored.revision() == expected,
            _ => false,
        };
        if !holds {
            return WriteOutcome::LostRace;
        }
        items.insert(record.key().clone(), record.clone());
        WriteOutcome::Written
    }

    /// Writes only if no item has the key; otherwise answers the stored item, read under the
    /// same lock (DynamoDB's `ReturnValuesOnConditionCheckFailure=ALL_OLD`).
    fn insert_or_stored(&self, record: &R) -> Option<R> {
        let mut items = lock(&self.0);
        if let Some(stored) = items.get(record.key()) {
            return Some(stored.clone());
        }
        items.insert(record.key().clone(), record.clone());
        None
    }
}

/// In-memory drain and launch records with DynamoDB's conditional-write semantics.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    records: Table<DrainRecord>,
    launches: Table<LaunchRecord>,
    log: CallLog,
}

impl MemoryStore {
    /// No records, writing to `log`.
    pub fn new(log: CallLog) -> Self {
        MemoryStore {
            log,
            ..MemoryStore::default()
        }
    }

    /// The stored launch record (no call logged).
    pub fn launch(&self, instance: &Ec2InstanceId) -> Option<LaunchRecord> {
        self.launches.get(instance)
    }

    /// Stores a drain record as it is, unconditionally (test set-up, no call logged).
    pub fn put(&self, record: DrainRecord) {
        lock(&self.records.0).insert(record.container_instance_arn.clone(), record);
    }

    /// The stored record (no call logged).
    pub fn get(&self, instance: &ContainerInstanceArn) -> Option<DrainRecord> {
        self.records.get(instance)
    }

    /// Every stored record.
    pub fn all(&self) -> Vec<DrainRecord> {
        lock(&self.records.0).values().cloned().collect()
    }

    /// GetItem on `table`.
    fn read<R: Item>(&self, table: &Table<R>, key: &R::Key) -> Result<Option<R>, DrainError> {
        self.log.push("dynamodb:GetItem");
        Ok(table.get(key))
    }

    /// The conditional PutItem on `table`.
    fn write<R: Item>(
        &self,
        table: &Table<R>,
        record: &R,
        expected_revision: Option<u64>,
    ) -> Result<WriteOutcome, DrainError> {
        self.log.push("dynamodb:PutItem");
        Ok(table.put_if(record, expected_revision))
    }
}

impl DrainStore for MemoryStore {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        self.read(&self.records, instance)
    }

    async fn load_launch(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<LaunchRecord>, DrainError> {
        self.read(&self.launches, instance)
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        self.log.push("dynamodb:PutItem");
        Ok(match self.records.insert_or_stored(record) {
            None => InsertOutcome::Inserted,
            Some(stored) => InsertOutcome::Exists(Box::new(stored)),
        })
    }

    async fn insert_launch(&self, record: &LaunchRecord) -> Result<WriteOutcome, DrainError> {
        self.write(&self.launches, record, None)
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.write(&self.records, record, Some(expected_revision))
    }

    async fn replace_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.write(&self.launches, record, Some(expected_revision))
    }
}

/// One-shot checks keyed by `K`, each with the time it fires.
type Bookings<K> = Arc<Mutex<BTreeMap<K, Timestamp>>>;

/// Removes and returns the bookings due at or before `now` (the scheduler firing them).
fn take_due<K: Ord + Clone>(bookings: &Bookings<K>, now: Timestamp) -> Vec<K> {
    let mut bookings = lock(bookings);
    let due: Vec<K> = bookings
        .iter()
        .filter(|(_, at)| **at <= now)
        .map(|(key, _)| key.clone())
        .collect();
    for key in &due {
        bookings.remove(key);
    }
    due
}

/// In-memory one-shot schedules.
#[derive(Clone, Debug, Default)]
pub struct MemoryScheduler {
    schedules: Bookings<ContainerInstanceArn>,
    launches: Bookings<Ec2InstanceId>,
    log: CallLog,
}

impl MemoryScheduler {
    /// No schedules, writing to `log`.
    pub fn new(log: CallLog) -> Self {
        MemoryScheduler {
            log,
            ..MemoryScheduler::default()
        }
    }

    /// When the pending launch's check fires, if booked.
    pub fn launch_booked(&self, instance: &Ec2InstanceId) -> Option<Timestamp> {
        lock(&self.launches).get(instance).copied()
    }

    /// Removes and returns the launch checks due at or before `now`.
    pub fn take_due_launches(&self, now: Timestamp) -> Vec<Ec2InstanceId> {
        take_due(&self.launches, now)
    }

    /// When the drain's check fires, if booked.
    pub fn booked(&self, instance: &ContainerInstanceArn) -> Option<Timestamp> {
        lock(&self.schedules).get(instance).copied()
    }

    /// Every booked check.
    pub fn all(&self) -> Vec<(ContainerInstanceArn, Timestamp)> {
        lock(&self.schedules)
            .iter()
            .map(|(arn, at)| (arn.clone(), *at))
            .collect()
    }

    /// Removes and returns the checks due at or before `now` (the scheduler firing them).
    pub fn take_due(&self, now: Timestamp) -> Vec<ContainerInstanceArn> {
        take_due(&self.schedules, now)
    }

    /// CreateSchedule: books (or moves) the check of `key` in `bookings`.
    fn book<K: Ord + Clone>(
        &self,
        bookings: &Bookings<K>,
        key: &K,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.log.push("scheduler:CreateSchedule");
        lock(bookings).insert(key.clone(), at);
        Ok(())
    }

    /// DeleteSchedule: forgets the check of `key` in `bookings` (a missing one is fine).
    fn unbook<K: Ord>(&self, bookings: &Bookings<K>, key: &K) -> Result<(), DrainError> {
        self.log.push("scheduler:DeleteSchedule");
        lock(bookings).remove(key);
        Ok(())
    }
}

impl CheckScheduler for MemoryScheduler {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.book(&self.schedules, instance, at)
    }

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.book(&self.launches, instance, at)
    }

    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        self.unbook(&self.schedules, instance)
    }
}

/// The in-memory port set over these ports (clones share their state) and `clock`: what a
/// drainer over an in-memory world is built on.
pub fn port_set<K>(
    cluster: &MemoryCluster,
    hooks: &MemoryHooks,
    store: &MemoryStore,
    scheduler: &MemoryScheduler,
    clock: K,
) -> PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, K> {
    PortSet {
        cluster: cluster.clone(),
        hooks: hooks.clone(),
        store: store.clone(),
        scheduler: scheduler.clone(),
        clock,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::calls::counts;
    use crate::testing::sample;

    #[tokio::test]
    async fn the_call_log_counts_calls_per_operation_as_the_cost_model_does() {
        let log = CallLog::default();
        let store = MemoryStore::new(log.clone());
        let record = sample::drain_record();
        let instance = &record.container_instance_arn;
        assert!(matches!(store.load(instance).await, Ok(None)));
        assert!(matches!(
            store.insert(&record).await,
            Ok(InsertOutcome::Inserted)
        ));
        assert!(matches!(
            store.insert(&record).await,
            Ok(InsertOutcome::Exists(_))
        ));
        assert_eq!(
            log.counts(),
            counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 2)])
        );
    }
}
