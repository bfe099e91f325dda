//! The drain-core ports over the simulated world: what ECS, Auto Scaling, DynamoDB and
//! EventBridge Scheduler answer. Every call first yields a random number of times, so two
//! invocations running "at the same time" interleave between their reads and writes.
//!
//! The safety oracles sit here, at the moment of the side effect: a StopTask or a
//! CompleteLifecycleAction is judged against the true state of the world, not against what
//! ecs-drain believed.

use drain_core::census::{ListedTasks, ServiceFacts, TaskFailure, TaskListing, TaskStatus};
use drain_core::decision::launch::{LaunchDeadlinePolicy, plan_launch};
use drain_core::error::DrainError;
use drain_core::ids::{
    ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, TaskArn,
};
use drain_core::launch_record::LaunchRecord;
use drain_core::ports::{
    ActionAnswer, AsgInstanceState, CheckScheduler, Cluster, ContainerInstance, DrainStore,
    InsertOutcome, LifecycleHooks, LifecycleState, WriteOutcome,
};
use drain_core::record::{DrainRecord, LifecycleResult};
use drain_core::testing::memory::MemoryStore;
use drain_core::time::Timestamp;

use crate::faults::Fault;
use crate::violation::ViolationKind;
use crate::world::{
    ActionKind, CheckKind, Event, InstanceStatus, SharedSimWorld, SimWorld, StopCause, TaskKind,
    lock, pause, secs,
};

/// ECS over the simulated world.
#[derive(Clone, Debug)]
pub struct SimCluster {
    world: SharedSimWorld,
    /// The drain records, for [`Fault::CensusTrustsTheSet`].
    records: MemoryStore,
}

impl SimCluster {
    /// ECS of `world`; `records` are the drain records (read only by a planted fault).
    pub fn new(world: SharedSimWorld, records: MemoryStore) -> SimCluster {
        SimCluster { world, records }
    }
}

/// The index of the container instance an UpdateContainerInstancesState call names.
fn state_change_target(
    world: &crate::world::SimWorld,
    target: &ContainerInstance,
) -> Result<usize, DrainError> {
    world.instance_index(&target.arn).ok_or_else(|| {
        DrainError::permanent(
            "ecs:UpdateContainerInstancesState",
            "container instance not found",
        )
    })
}

impl Cluster for SimCluster {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        pause(&self.world).await;
        let world = lock(&self.world);
        let watched = clusters.is_empty()
            || clusters
                .iter()
                .any(|c| c == world.cluster_arn.as_str() || c == world.cluster_arn.name());
        Ok(world
            .instances
            .iter()
            .position(|instance| watched && instance.registered && &instance.ec2 == ec2)
            .map(|index| {
                world
                    .settings
                    .fault
                    .container_instance(world.container_instance(index))
            }))
    }

    async fn set_draining(&self, target: &ContainerInstance) -> Result<(), DrainError> {
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let index = state_change_target(&world, target)?;
        match world.instances[index].status {
            InstanceStatus::Active => {
                world.on_draining(index);
                Ok(())
            }
            InstanceStatus::Draining => Ok(()),
            InstanceStatus::Registering | InstanceStatus::RegistrationFailed => {
                Err(DrainError::permanent(
                    "ecs:UpdateContainerInstancesState",
                    "container instance is not registered",
                ))
            }
            InstanceStatus::Inactive => Err(DrainError::permanent(
                "ecs:UpdateContainerInstancesState",
                "container instance is INACTIVE",
            )),
        }
    }

    async fn set_active(&self, target: &ContainerInstance) -> Result<(), DrainError> {
        if lock(&self.world).settings.fault == Fault::ReactivationLost {
            return Ok(());
        }
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let index = state_change_target(&world, target)?;
        // Capacity may come back only on an instance the group launches (back from the warm
        // pool) or keeps in service: anywhere else it is given to a dying instance.
        let asg = world.instances[index].asg.clone();
        if !asg.is_launch_wait() && asg != LifecycleState::InService {
            let message = format!(
                "ecs-drain set ci-{index} back to ACTIVE while the group has it {}",
                asg.as_str()
            );
            world.violate(ViolationKind::Safety, message);
        }
        world.note(|_| format!("ecs:UpdateContainerInstancesState ci-{index} ACTIVE"));
        match world.instances[index].status {
            InstanceStatus::Inactive => Err(DrainError::permanent(
                "ecs:UpdateContainerInstancesState",
                "container instance is INACTIVE",
            )),
            _ => {
                world.instances[index].status = InstanceStatus::Active;
                world.became_ready(index);
                Ok(())
            }
        }
    }

    async fn list_tasks_on(
        &self,
        _cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<ListedTasks, DrainError> {
        pause(&self.world).await;
        let world = lock(&self.world);
        let Some(index) = world.instance_index(instance) else {
            return Ok(ListedTasks::default());
        };
        // Both ListTasks passes (desiredStatus RUNNING and STOPPED) see every task, each in the
        // listing of its desiredStatus: stopped tasks stay listed for an hour, longer than any
        // drain here needs them. Both passes are read at once (one yield, as before), so no
        // task moves between them.
        let tasks = (0..world.tasks.len())
            .filter(|&task| world.tasks[task].instance == index)
            .map(|task| world.snapshot(task).into())
            .collect();
        let listing = TaskListing {
            tasks,
            failures: Vec::new(),
        };
        let record = self.records.get(instance);
        let listing = world.settings.fault.census(listing, record.as_ref());
        let mut listed = ListedTasks::default();
        for task in listing.tasks {
            let Some(arn) = task.arn else { continue };
            if task.desired_status == Some(TaskStatus::Stopped) {
                listed.stopped.push(arn);
            } else {
                listed.running.push(arn);
            }
        }
        Ok(listed)
    }

    async fn describe_tasks(
        &self,
        _cluster: &ClusterArn,
        tasks: &[String],
    ) -> Result<TaskListing, DrainError> {
        // No pause of its own: the census yields once, at its listing, as it did when it was one
        // port call, so every seed keeps the interleavings (and the stories) it had.
        let world = lock(&self.world);
        let mut listing = TaskListing::default();
        for arn in tasks {
            let found = TaskArn::new(arn.as_str())
                .ok()
                .and_then(|arn| world.task_index(&arn));
            match found {
                Some(task) => listing.tasks.push(world.snapshot(task).into()),
                None => listing.failures.push(TaskFailure {
                    arn: Some(arn.clone()),
                    reason: Some("MISSING".to_owned()),
                    detail: None,
                }),
            }
        }
        Ok(listing)
    }

    async fn services(
        &self,
        _cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        pause(&self.world).await;
        let world = lock(&self.world);
        let services = world
            .services
            .iter()
            .filter(|service| names.contains(&service.name))
            .map(|service| world.service_facts(service))
            .collect();
        Ok(world.settings.fault.services(services))
    }

    async fn stop_tasks(
        &self,
        _cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let now = world.now();
        for arn in tasks {
            let Some(task) = world.task_index(arn) else {
                return Err(DrainError::permanent(
                    "ecs:StopTask",
                    format!("task {arn} not found"),
                ));
            };
            let instance = world.tasks[task].instance;
            let before_deadline = world
                .deadline_of(instance)
                .is_none_or(|deadline| now < deadline);
            let stops_something = world.tasks[task].is_alive() && world.tasks[task].desired_running;
            if before_deadline && stops_something {
                let alive_non_daemon: Vec<usize> = (0..world.tasks.len())
                    .filter(|&other| {
                        let other = &world.tasks[other];
                        other.instance == instance
                            && other.is_alive()
                            && !matches!(other.kind, TaskKind::Daemon(_))
                    })
                    .collect();
                match world.tasks[task].kind {
                    TaskKind::Daemon(_) if !alive_non_daemon.is_empty() => {
                        let message = format!(
                            "ecs-drain stopped {} before the deadline while {} is alive",
                            world.describe_task(task),
                            world.describe_task(alive_non_daemon[0])
                        );
                        world.violate(ViolationKind::Safety, message);
                    }
                    TaskKind::Daemon(_) => {}
                    TaskKind::Replica(_) | TaskKind::Standalone => {
                        let message = format!(
                            "ecs-drain stopped non-daemon {} before the drain deadline",
                            world.describe_task(task)
                        );
                        world.violate(ViolationKind::Safety, message);
                    }
                }
            }
            world.note(|_| format!("ecs:StopTask {} ({reason})", arn.id()));
            world.begin_stop(task, StopCause::EcsDrain);
        }
        Ok(())
    }
}

/// Auto Scaling's lifecycle hook over the simulated world.
#[derive(Clone, Debug)]
pub struct SimHooks {
    world: SharedSimWorld,
}

impl SimHooks {
    /// The hook of `world`.
    pub fn new(world: SharedSimWorld) -> SimHooks {
        SimHooks { world }
    }
}

impl LifecycleHooks for SimHooks {
    async fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> Result<ActionAnswer, DrainError> {
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let now = world.now();
        let Some(index) = world.actions.iter().position(|sim| &sim.action == action) else {
            world.note(|_| {
                format!(
                    "autoscaling:CompleteLifecycleAction {} → no such action",
                    result.as_str()
                )
            });
            return Ok(ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            });
        };
        world.actions[index].complete_calls += 1;
        let instance = world.actions[index].instance;
        if !world.actions[index].active {
            world.note(|_| {
                format!(
                    "autoscaling:CompleteLifecycleAction {} ci-{instance} → No active Lifecycle \
                     Action found",
                    result.as_str()
                )
            });
            return Ok(ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            });
        }
        if let ActionKind::Launch { .. } = world.actions[index].kind {
            judge_launch_completion(&mut world, index, result);
        }
        // Safety: before the deadline the instance may go only once nothing is alive on it.
        let before_deadline = world
            .deadline_of(instance)
            .is_none_or(|deadline| now < deadline);
        if before_deadline && matches!(world.actions[index].kind, ActionKind::Terminate { .. }) {
            let alive: Vec<usize> = (0..world.tasks.len())
                .filter(|&task| {
                    world.tasks[task].instance == instance && world.tasks[task].is_alive()
                })
                .collect();
            if let Some(&task) = alive
                .iter()
                .find(|&&task| !matches!(world.tasks[task].kind, TaskKind::Daemon(_)))
                .or(alive.first())
            {
                let message = format!(
                    "CompleteLifecycleAction {} for ci-{instance} before the drain deadline while \
                     {} is alive ({} alive)",
                    result.as_str(),
                    world.describe_task(task),
                    alive.len()
                );
                world.violate(ViolationKind::Safety, message);
            }
        }
        let sim = &mut world.actions[index];
        sim.active = false;
        sim.completions += 1;
        sim.result = Some(result);
        sim.completed_at = Some(now);
        world.note(|_| {
            format!(
                "autoscaling:CompleteLifecycleAction {} ci-{instance} → done",
                result.as_str()
            )
        });
        world.action_ended(index, result);
        Ok(ActionAnswer::Accepted)
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionAnswer, DrainError> {
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let now = world.now();
        let Some(index) = world
            .actions
            .iter()
            .position(|sim| &sim.action == action && sim.active)
        else {
            world.note(|_| {
                "autoscaling:RecordLifecycleActionHeartbeat → No active Lifecycle Action found"
                    .to_owned()
            });
            return Ok(ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            });
        };
        let sim = &mut world.actions[index];
        sim.heartbeat_due = now.plus_seconds(sim.heartbeat_timeout).min(sim.global_due);
        sim.heartbeats += 1;
        let (due, instance) = (sim.heartbeat_due, sim.instance);
        world.push(due, Event::HookTimer { action: index });
        world.note(|_| {
            format!("autoscaling:RecordLifecycleActionHeartbeat ci-{instance} → timer reset")
        });
        Ok(ActionAnswer::Accepted)
    }

    async fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<AsgInstanceState>, DrainError> {
        pause(&self.world).await;
        let world = lock(&self.world);
        let Some(index) = world.ec2_index(instance) else {
            return Ok(None);
        };
        if world.instances[index].status == InstanceStatus::Inactive {
            return Ok(None);
        }
        Ok(Some(AsgInstanceState {
            group: crate::world::ASG_NAME.to_owned(),
            lifecycle_state: world.instances[index].asg.clone(),
        }))
    }

    async fn heartbeat_timeout(&self, hook: &HookRef) -> Result<Option<i64>, DrainError> {
        pause(&self.world).await;
        let world = lock(&self.world);
        if hook.asg_name.as_str() != crate::world::ASG_NAME {
            return Ok(None);
        }
        Ok(match hook.hook_name.as_str() {
            crate::world::HOOK_NAME => Some(world.scenario.heartbeat_timeout),
            crate::world::LAUNCH_HOOK_NAME => Some(world.scenario.launch_heartbeat_timeout),
            _ => None,
        })
    }
}

/// DynamoDB: drain-core's in-memory store (real conditional writes), with interleaving points.
#[derive(Clone, Debug)]
pub struct SimStore {
    inner: MemoryStore,
    world: SharedSimWorld,
}

impl SimStore {
    /// The table of `world`, kept in `inner`.
    pub fn new(inner: MemoryStore, world: SharedSimWorld) -> SimStore {
        SimStore { inner, world }
    }
}

impl SimStore {
    fn fault(&self) -> Fault {
        lock(&self.world).settings.fault
    }

    /// One conditional write (`put`, expecting `expected_revision`, or no item when None),
    /// after an interleaving point, then logged and held to the store oracle.
    async fn write(
        &self,
        what: RecordWrite,
        expected_revision: Option<u64>,
        put: impl Future<Output = Result<WriteOutcome, DrainError>>,
    ) -> Result<WriteOutcome, DrainError> {
        pause(&self.world).await;
        let outcome = put.await?;
        written(&self.world, &what, expected_revision, outcome);
        Ok(outcome)
    }

    /// The conditional insert, after an interleaving point, logged and held to the store
    /// oracle; a record on file is answered as DynamoDB answers it (the failed condition
    /// returns the item).
    async fn conditional_insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        pause(&self.world).await;
        let outcome = self.inner.insert(record).await?;
        let write = match outcome {
            InsertOutcome::Inserted => WriteOutcome::Written,
            InsertOutcome::Exists(_) => WriteOutcome::LostRace,
        };
        written(&self.world, &drain_write(record), None, write);
        Ok(outcome)
    }

    async fn conditional_replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        let put = self.inner.replace(record, expected_revision);
        self.write(drain_write(record), Some(expected_revision), put)
            .await
    }

    /// The planted unconditional put: whatever revision is stored now is taken as the
    /// expected one.
    async fn put_anyway(&self, record: &DrainRecord) -> Result<WriteOutcome, DrainError> {
        match self.load(&record.container_instance_arn).await? {
            Some(stored) => self.conditional_replace(record, stored.revision).await,
            None => Ok(match self.conditional_insert(record).await? {
                InsertOutcome::Inserted => WriteOutcome::Written,
                InsertOutcome::Exists(_) => WriteOutcome::LostRace,
            }),
        }
    }
}

impl DrainStore for SimStore {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        pause(&self.world).await;
        self.inner.load(instance).await
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        if self.fault() == Fault::InsertOverwrites {
            // The planted bug overwrites; a put that still lost answers the record on file.
            return match self.put_anyway(record).await? {
                WriteOutcome::Written => Ok(InsertOutcome::Inserted),
                WriteOutcome::LostRace => self
                    .inner
                    .get(&record.container_instance_arn)
                    .map(|stored| InsertOutcome::Exists(Box::new(stored)))
                    .ok_or_else(|| {
                        DrainError::transient("dynamodb:PutItem", "the record on file vanished")
                    }),
            };
        }
        self.conditional_insert(record).await
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        if self.fault() == Fault::StoreIgnoresRevision {
            return self.put_anyway(record).await;
        }
        self.conditional_replace(record, expected_revision).await
    }

    async fn load_launch(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<LaunchRecord>, DrainError> {
        pause(&self.world).await;
        self.inner.load_launch(instance).await
    }

    async fn insert_launch(&self, record: &LaunchRecord) -> Result<WriteOutcome, DrainError> {
        if self.fault() == Fault::InsertOverwrites
            && let Some(stored) = self.load_launch(&record.instance_id).await?
        {
            return self.replace_launch(record, stored.revision).await;
        }
        self.write(launch_write(record), None, self.inner.insert_launch(record))
            .await
    }

    async fn replace_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        let put = self.inner.replace_launch(record, expected_revision);
        self.write(launch_write(record), Some(expected_revision), put)
            .await
    }
}

/// One record write, as the store oracle and the event log see it.
struct RecordWrite {
    /// The item's key (drain and launch records never share one).
    key: String,
    /// How the log names the item ("" for a drain record, as before launches).
    label: String,
    /// The status written.
    status: &'static str,
    /// The revision written.
    revision: u64,
}

fn drain_write(record: &DrainRecord) -> RecordWrite {
    RecordWrite {
        key: record.container_instance_arn.as_str().to_owned(),
        label: String::new(),
        status: record.status.as_str(),
        revision: record.revision,
    }
}

fn launch_write(record: &LaunchRecord) -> RecordWrite {
    RecordWrite {
        key: LaunchRecord::key(&record.instance_id),
        label: format!("launch {} ", record.instance_id),
        status: record.status.as_str(),
        revision: record.revision,
    }
}

/// Logs a write and holds the store to the conditional-write chain: every write that lands
/// moves its item to a revision it never had (an insert creates revision 0 once, a replace
/// goes one up). A write that lands on a revision already written means two writers each
/// believe they own the record, whatever the record says afterwards.
fn written(
    world: &SharedSimWorld,
    write: &RecordWrite,
    expected_revision: Option<u64>,
    outcome: WriteOutcome,
) {
    let mut world = lock(world);
    let expected = expected_revision.map_or_else(|| "none".to_owned(), |rev| rev.to_string());
    world.note(|_| {
        format!(
            "dynamodb:PutItem {}{} rev {expected}→{} → {outcome:?}",
            write.label, write.status, write.revision
        )
    });
    if outcome != WriteOutcome::Written {
        return;
    }
    let before = world.revisions.insert(write.key.clone(), write.revision);
    if let Some(before) = before.filter(|&before| write.revision <= before) {
        let message = format!(
            "a write of revision {} landed on {} at revision {before}: two writers own the record",
            write.revision, write.key
        );
        world.violate(ViolationKind::Consistency, message);
    }
}

/// The launch-side oracle, at the moment of CompleteLifecycleAction: CONTINUE puts the
/// instance in service, so it must be ACTIVE with its agent connected, unless the operator's
/// CONTINUE policy applies (at the deadline, or at once for a registration that failed).
fn judge_launch_completion(world: &mut SimWorld, action: usize, result: LifecycleResult) {
    if result != LifecycleResult::Continue {
        return;
    }
    let now = world.now();
    let sim = &world.actions[action];
    let instance = &world.instances[sim.instance];
    if instance.placeable() {
        return;
    }
    let policy = world.scenario.launch_policy;
    let continue_policy = policy.deadline_policy == LaunchDeadlinePolicy::Continue;
    let deadline = plan_launch(sim.began_at, Some(sim.heartbeat_timeout), &policy).deadline;
    let by_policy = continue_policy
        && (now >= deadline || instance.status == InstanceStatus::RegistrationFailed);
    if by_policy {
        return;
    }
    let message = format!(
        "launch action CONTINUE for ci-{} before it was ACTIVE with its agent connected \
         (registered: {}, {}, agent connected: {}, deadline t={}s)",
        sim.instance,
        instance.registered,
        instance.status.as_str(),
        instance.agent_connected,
        deadline.seconds_since(crate::world::EPOCH)
    );
    world.violate(ViolationKind::Safety, message);
}

/// EventBridge Scheduler: one booking per drain; reliable, but it may fire a few seconds late,
/// and a booking moved before it fired never fires at its old time.
#[derive(Clone, Debug)]
pub struct SimScheduler {
    world: SharedSimWorld,
}

impl SimScheduler {
    /// The scheduler of `world`.
    pub fn new(world: SharedSimWorld) -> SimScheduler {
        SimScheduler { world }
    }
}

impl SimScheduler {
    /// Creates or moves the `kind` check of the instance at `index` (None: unknown instance).
    async fn book(
        &self,
        kind: CheckKind,
        index: Option<usize>,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        if lock(&self.world).settings.fault == Fault::SchedulerLosesChecks {
            return Ok(()); // answers OK, books nothing
        }
        pause(&self.world).await;
        let mut world = lock(&self.world);
        let index = index
            .ok_or_else(|| DrainError::permanent("scheduler:CreateSchedule", "unknown instance"))?;
        let booked = at.max(world.now());
        let latency_max = world.settings.scheduler_latency_max;
        // The launch checks draw from the fleet stream (see `crate::fleet`).
        let latency = match kind {
            CheckKind::Drain => world.rng.range(0, latency_max),
            CheckKind::Launch => world.fleet.range(0, latency_max),
        };
        world.bookings.insert((kind, index), booked);
        world.push(
            booked.plus_seconds(latency),
            Event::CheckFires {
                kind,
                instance: index,
                booked,
            },
        );
        world.note(|_| {
            format!(
                "scheduler:CreateSchedule {}ci-{index} at t={}s",
                kind.label(),
                secs(booked)
            )
        });
        Ok(())
    }

    fn drain_index(&self, instance: &ContainerInstanceArn) -> Option<usize> {
        lock(&self.world).instance_index(instance)
    }

    fn launch_index(&self, instance: &Ec2InstanceId) -> Option<usize> {
        lock(&self.world).ec2_index(instance)
    }
}

impl CheckScheduler for SimScheduler {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.book(CheckKind::Drain, self.drain_index(instance), at)
            .await
    }

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.book(CheckKind::Launch, self.launch_index(instance), at)
            .await
    }
}
