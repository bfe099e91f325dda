//! Deliberately planted bugs. They exist to prove the checks have teeth: with one of them in
//! the simulated ports ([`crate::ports`] applies them where the call answers), some seed must
//! fail. With [`Fault::None`] every answer is the world's own.

use drain_core::census::{SchedulingStrategy, ServiceFacts, TaskListing, TaskStatus};
use drain_core::ports::ContainerInstance;
use drain_core::record::DrainRecord;

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

impl Fault {
    /// What DescribeContainerInstances answers under this fault.
    pub fn container_instance(self, mut found: ContainerInstance) -> ContainerInstance {
        if self == Fault::AgentLooksConnected {
            found.agent_connected = true;
        }
        found
    }

    /// What the census lists under this fault, given the instance's drain record.
    pub fn census(self, mut listing: TaskListing, record: Option<&DrainRecord>) -> TaskListing {
        if self == Fault::CensusTrustsTheSet
            && let Some(known) = record.and_then(|record| record.alive.as_ref())
        {
            // Only the tasks the set already knows are looked at.
            listing.tasks.retain(|task| {
                task.arn
                    .as_deref()
                    .is_some_and(|arn| known.tasks.iter().any(|t| t.task_arn.as_str() == arn))
            });
        }
        if self == Fault::CensusIgnoresStopping {
            listing
                .tasks
                .retain(|task| task.desired_status == Some(TaskStatus::Running));
        }
        listing
    }

    /// What DescribeServices answers under this fault.
    pub fn services(self, mut services: Vec<ServiceFacts>) -> Vec<ServiceFacts> {
        if self == Fault::ServicesLookLikeDaemons {
            for service in &mut services {
                service.scheduling_strategy = Some(SchedulingStrategy::Daemon);
            }
        }
        services
    }
}
