//! Deliberately broken port wrappers. They exist to prove the checks have teeth: with one of
//! these between ecs-drain and the world, some seed must fail. With [`Fault::None`] they pass
//! every call through untouched.

use drain_core::census::{SchedulingStrategy, ServiceFacts, TaskListing, TaskStatus};
use drain_core::error::DrainError;
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, TaskArn};
use drain_core::launch_record::LaunchRecord;
use drain_core::ports::{CheckScheduler, Cluster, ContainerInstance, DrainStore, WriteOutcome};
use drain_core::record::DrainRecord;
use drain_core::testing::memory::MemoryStore;
use drain_core::time::Timestamp;

/// Which bug to plant.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fault {
    /// Honest ports.
    #[default]
    None,
    /// The census lists only desiredStatus=RUNNING tasks (ListTasks' default), missing tasks
    /// still DEACTIVATING / STOPPING inside their stopTimeout: the peer tools' classic bug.
    CensusIgnoresStopping,
    /// DescribeServices reports every service as DAEMON, so replicas get stopped early.
    ServicesLookLikeDaemons,
    /// Conditional writes always succeed: a stale record goes through.
    StoreIgnoresRevision,
    /// CreateSchedule answers OK and books nothing: no heartbeats, no safety net.
    SchedulerLosesChecks,
    /// The census only looks at the tasks the record's alive set already knows: a policy that
    /// stops daemons or completes on a stale set (tasks placed after the first census are
    /// never seen).
    CensusTrustsTheSet,
    /// DescribeContainerInstances reports every agent connected: a launch looks ready as soon
    /// as its container instance is ACTIVE.
    AgentLooksConnected,
    /// UpdateContainerInstancesState to ACTIVE answers OK and changes nothing: a warm-pool
    /// return stays DRAINING.
    ReactivationLost,
    /// A conditional insert overwrites whatever record is already there.
    InsertOverwrites,
}

impl Fault {
    /// Every fault, honest first.
    pub const ALL: [Fault; 9] = [
        Fault::None,
        Fault::CensusIgnoresStopping,
        Fault::ServicesLookLikeDaemons,
        Fault::StoreIgnoresRevision,
        Fault::SchedulerLosesChecks,
        Fault::CensusTrustsTheSet,
        Fault::AgentLooksConnected,
        Fault::ReactivationLost,
        Fault::InsertOverwrites,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::CensusIgnoresStopping => "census-ignores-stopping",
            Fault::ServicesLookLikeDaemons => "services-look-like-daemons",
            Fault::StoreIgnoresRevision => "store-ignores-revision",
            Fault::SchedulerLosesChecks => "scheduler-loses-checks",
            Fault::CensusTrustsTheSet => "census-trusts-the-set",
            Fault::AgentLooksConnected => "agent-looks-connected",
            Fault::ReactivationLost => "reactivation-lost",
            Fault::InsertOverwrites => "insert-overwrites",
        }
    }

    /// Parses a command-line name.
    pub fn parse(text: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|fault| fault.name() == text)
    }
}

/// A [`Cluster`] that may lie about the census.
#[derive(Clone, Debug)]
pub struct FaultyCluster<C> {
    inner: C,
    fault: Fault,
    /// The drain records, for [`Fault::CensusTrustsTheSet`].
    records: Option<MemoryStore>,
}

impl<C> FaultyCluster<C> {
    /// Wraps `inner`.
    pub fn new(inner: C, fault: Fault) -> Self {
        FaultyCluster {
            inner,
            fault,
            records: None,
        }
    }

    /// Lets [`Fault::CensusTrustsTheSet`] read the drain records.
    pub fn reading(self, records: MemoryStore) -> Self {
        FaultyCluster {
            records: Some(records),
            ..self
        }
    }
}

impl<C: Cluster> Cluster for FaultyCluster<C> {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        let mut found = self.inner.find_container_instance(clusters, ec2).await?;
        if self.fault == Fault::AgentLooksConnected
            && let Some(found) = found.as_mut()
        {
            found.agent_connected = true;
        }
        Ok(found)
    }

    async fn set_draining(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.inner.set_draining(instance).await
    }

    async fn set_active(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        if self.fault == Fault::ReactivationLost {
            return Ok(());
        }
        self.inner.set_active(instance).await
    }

    async fn tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<TaskListing, DrainError> {
        let mut listing = self.inner.tasks_on(cluster, instance).await?;
        let known = match (self.fault, &self.records) {
            (Fault::CensusTrustsTheSet, Some(records)) => {
                records.get(instance).and_then(|record| record.alive)
            }
            _ => None,
        };
        if let Some(known) = known {
            // Only the tasks the set already knows are looked at.
            listing.tasks.retain(|task| {
                task.arn
                    .as_deref()
                    .is_some_and(|arn| known.tasks.iter().any(|t| t.task_arn.as_str() == arn))
            });
        }
        if self.fault == Fault::CensusIgnoresStopping {
            listing
                .tasks
                .retain(|task| task.desired_status == Some(TaskStatus::Running));
        }
        Ok(listing)
    }

    async fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        let mut services = self.inner.services(cluster, names).await?;
        if self.fault == Fault::ServicesLookLikeDaemons {
            for service in &mut services {
                service.scheduling_strategy = Some(SchedulingStrategy::Daemon);
            }
        }
        Ok(services)
    }

    async fn stop_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        self.inner.stop_tasks(cluster, tasks, reason).await
    }
}

/// A [`DrainStore`] that may ignore the revision condition.
#[derive(Clone, Debug)]
pub struct FaultyStore<S> {
    inner: S,
    fault: Fault,
}

impl<S> FaultyStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, fault: Fault) -> Self {
        FaultyStore { inner, fault }
    }
}

impl<S: DrainStore> DrainStore for FaultyStore<S> {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        self.inner.load(instance).await
    }

    async fn insert(&self, record: &DrainRecord) -> Result<WriteOutcome, DrainError> {
        if self.fault == Fault::InsertOverwrites {
            return put_anyway(&self.inner, record).await;
        }
        self.inner.insert(record).await
    }

    async fn load_launch(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<LaunchRecord>, DrainError> {
        self.inner.load_launch(instance).await
    }

    async fn insert_launch(&self, record: &LaunchRecord) -> Result<WriteOutcome, DrainError> {
        if self.fault != Fault::InsertOverwrites {
            return self.inner.insert_launch(record).await;
        }
        match self.inner.load_launch(&record.instance_id).await? {
            Some(stored) => self.inner.replace_launch(record, stored.revision).await,
            None => self.inner.insert_launch(record).await,
        }
    }

    async fn replace_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.inner.replace_launch(record, expected_revision).await
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        if self.fault != Fault::StoreIgnoresRevision {
            return self.inner.replace(record, expected_revision).await;
        }
        put_anyway(&self.inner, record).await
    }
}

/// An unconditional put of a drain record: whatever revision is stored now is taken as the
/// expected one.
async fn put_anyway<S: DrainStore>(
    store: &S,
    record: &DrainRecord,
) -> Result<WriteOutcome, DrainError> {
    match store.load(&record.container_instance_arn).await? {
        Some(stored) => store.replace(record, stored.revision).await,
        None => store.insert(record).await,
    }
}

/// A [`CheckScheduler`] that may lose every booking.
#[derive(Clone, Debug)]
pub struct FaultyScheduler<Q> {
    inner: Q,
    fault: Fault,
}

impl<Q> FaultyScheduler<Q> {
    /// Wraps `inner`.
    pub fn new(inner: Q, fault: Fault) -> Self {
        FaultyScheduler { inner, fault }
    }
}

impl<Q: CheckScheduler> CheckScheduler for FaultyScheduler<Q> {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        if self.fault == Fault::SchedulerLosesChecks {
            return Ok(());
        }
        self.inner.schedule(instance, at).await
    }

    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        self.inner.cancel(instance).await
    }

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        if self.fault == Fault::SchedulerLosesChecks {
            return Ok(());
        }
        self.inner.schedule_launch(instance, at).await
    }

    async fn cancel_launch(&self, instance: &Ec2InstanceId) -> Result<(), DrainError> {
        self.inner.cancel_launch(instance).await
    }
}
