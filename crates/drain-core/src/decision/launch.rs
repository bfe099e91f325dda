//! Launch readiness: when a launch lifecycle action may complete, and with which result.
//!
//! The Auto Scaling group marks a launched instance InService (and an instance refresh moves
//! on to the next old instance) as soon as the launch action completes, so ecs-drain holds it
//! until the capacity is really there: the instance's container instance registered ACTIVE
//! with its agent connected in a watched cluster, and, when the operator asks, every daemon
//! service of the cluster running a task on it. An instance returning from the warm pool that
//! ecs-drain drained when it was scaled in is set back to ACTIVE first, or it would serve in
//! the group while ECS places nothing on it.
//!
//! Pure: the facts come in, the decision goes out; the caller looks again when ECS reports a
//! container instance state change or the pending launch's one-shot check fires.

use std::collections::BTreeSet;

use crate::census::TaskSnapshot;
use crate::event::fleet::Placement;
use crate::ids::ClusterArn;
use crate::ports::EcsInstanceStatus;
use crate::record::LifecycleResult;
use crate::time::Timestamp;

/// What a launch action completes with when its deadline passes before the instance is ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchDeadlinePolicy {
    /// ABANDON: the group terminates the instance and launches a replacement.
    Abandon,
    /// CONTINUE: put the instance in service anyway.
    Continue,
}

impl LaunchDeadlinePolicy {
    /// The lifecycle result this policy completes with.
    pub fn result(self) -> LifecycleResult {
        match self {
            LaunchDeadlinePolicy::Abandon => LifecycleResult::Abandon,
            LaunchDeadlinePolicy::Continue => LifecycleResult::Continue,
        }
    }
}

/// The operator's launch settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchPolicy {
    /// How long after the launch notice the instance may take to become ready, in seconds.
    pub deadline_seconds: i64,
    /// What happens at the deadline.
    pub deadline_policy: LaunchDeadlinePolicy,
    /// Also wait until every daemon service of the cluster runs a task on the instance.
    pub require_daemons: bool,
}

impl Default for LaunchPolicy {
    fn default() -> Self {
        LaunchPolicy {
            deadline_seconds: 900,
            deadline_policy: LaunchDeadlinePolicy::Abandon,
            require_daemons: false,
        }
    }
}

/// The container instance ECS reports on the launched EC2 instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    /// Its cluster.
    pub cluster_arn: ClusterArn,
    /// Whether ecs-drain watches that cluster ([`crate::Config::watches_cluster`]).
    pub watched: bool,
    /// Its status.
    pub status: EcsInstanceStatus,
    /// `agentConnected`.
    pub agent_connected: bool,
    /// ecs-drain's own drain set it DRAINING (a drain record of this container instance that
    /// ecs-drain started), as opposed to an operator or another tool.
    pub drained_by_ecs_drain: bool,
}

/// Everything the launch decision looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchFacts {
    /// The notice's `Origin`.
    pub origin: Option<Placement>,
    /// The notice's `Destination`.
    pub destination: Option<Placement>,
    /// When the pending launch was first noticed (its deadline counts from here).
    pub noticed_at: Timestamp,
    /// The container instance, or `None` when none is registered for the EC2 instance yet.
    pub registration: Option<Registration>,
    /// The daemon services of the registration's cluster (names), when daemons are required.
    pub daemon_services: Vec<String>,
    /// The tasks on the container instance (any status), when daemons are required.
    pub tasks: Vec<TaskSnapshot>,
}

/// Why a launch action completes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchCompletion {
    /// ACTIVE, agent connected, and the required daemons running.
    Ready,
    /// The instance is launched into the warm pool, not into service: ECS places nothing on
    /// it there (ECS_WARM_POOLS_CHECK keeps its agent from registering), nothing to wait for.
    EntersWarmPool,
    /// The instance joined a cluster ecs-drain does not watch.
    UnwatchedCluster {
        /// That cluster.
        cluster_arn: ClusterArn,
    },
    /// ECS reports REGISTRATION_FAILED: the instance will never join, the deadline policy
    /// applies at once.
    RegistrationFailed,
    /// The launch deadline passed first; the deadline policy applies.
    DeadlinePassed,
}

impl LaunchCompletion {
    /// A stable short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            LaunchCompletion::Ready => "ready",
            LaunchCompletion::EntersWarmPool => "enters_warm_pool",
            LaunchCompletion::UnwatchedCluster { .. } => "unwatched_cluster",
            LaunchCompletion::RegistrationFailed => "registration_failed",
            LaunchCompletion::DeadlinePassed => "deadline_passed",
        }
    }
}

/// What a pending launch still waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchWaitingOn {
    /// No container instance yet, or one still REGISTERING (or in a status this version does
    /// not know).
    Registration,
    /// ACTIVE, but its agent is not connected.
    AgentConnection,
    /// DRAINING, and not by ecs-drain: an operator's choice, left alone; the deadline decides.
    DrainedByOthers,
    /// These daemon services have no RUNNING task on the instance yet.
    Daemons {
        /// Their names, sorted.
        missing: Vec<String>,
    },
}

/// The launch decision for one look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchDecision {
    /// Complete the launch action.
    Complete {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
        /// Why.
        reason: LaunchCompletion,
    },
    /// The instance is back from the warm pool and still DRAINING from ecs-drain's drain: set
    /// its container instance ACTIVE, then look again (the next look completes once ready).
    Reactivate,
    /// Not ready yet: keep the action pending until the next state change or the check.
    Wait {
        /// What is missing.
        waiting_on: LaunchWaitingOn,
        /// When the deadline policy applies.
        deadline: Timestamp,
    },
}

impl LaunchDecision {
    /// A stable short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            LaunchDecision::Complete { .. } => "complete",
            LaunchDecision::Reactivate => "reactivate",
            LaunchDecision::Wait { .. } => "wait",
        }
    }
}

/// When the deadline policy of a launch noticed at `noticed_at` applies.
pub fn launch_deadline(noticed_at: Timestamp, policy: &LaunchPolicy) -> Timestamp {
    // A negative setting must not put the deadline before the notice.
    noticed_at.plus_seconds(policy.deadline_seconds.max(0))
}

/// The daemon services without a RUNNING task on the instance, sorted and without repeats.
pub fn missing_daemons(daemon_services: &[String], tasks: &[TaskSnapshot]) -> Vec<String> {
    let running: BTreeSet<&str> = tasks
        .iter()
        .filter(|task| task.last_status == "RUNNING")
        .filter_map(TaskSnapshot::service_name)
        .collect();
    daemon_services
        .iter()
        .map(String::as_str)
        .filter(|service| !running.contains(service))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

/// Decides one look at a pending launch at `now`.
///
/// Order matters: an instance going into the warm pool or into an unwatched cluster is
/// completed at once; a warm-pool return ecs-drain drained is reactivated even past the
/// deadline (an instance in service must never stay DRAINING); readiness wins over the
/// deadline (a ready instance is never abandoned); only then does the deadline apply.
pub fn decide_launch(facts: &LaunchFacts, policy: &LaunchPolicy, now: Timestamp) -> LaunchDecision {
    let deadline = launch_deadline(facts.noticed_at, policy);
    let on_deadline = |reason| LaunchDecision::Complete {
        result: policy.deadline_policy.result(),
        reason,
    };
    if facts.destination == Some(Placement::WarmPool) {
        return LaunchDecision::Complete {
            result: LifecycleResult::Continue,
            reason: LaunchCompletion::EntersWarmPool,
        };
    }
    let waiting_on = match &facts.registration {
        None => LaunchWaitingOn::Registration,
        Some(registration) if !registration.watched => {
            return LaunchDecision::Complete {
                result: LifecycleResult::Continue,
                reason: LaunchCompletion::UnwatchedCluster {
                    cluster_arn: registration.cluster_arn.clone(),
                },
            };
        }
        Some(registration) => match registration.status {
            EcsInstanceStatus::Draining
                if facts.origin == Some(Placement::WarmPool)
                    && registration.drained_by_ecs_drain =>
            {
                return LaunchDecision::Reactivate;
            }
            EcsInstanceStatus::Draining => LaunchWaitingOn::DrainedByOthers,
            EcsInstanceStatus::RegistrationFailed => {
                return on_deadline(LaunchCompletion::RegistrationFailed);
            }
            EcsInstanceStatus::Active if !registration.agent_connected => {
                LaunchWaitingOn::AgentConnection
            }
            EcsInstanceStatus::Active => {
                let missing = if policy.require_daemons {
                    missing_daemons(&facts.daemon_services, &facts.tasks)
                } else {
                    Vec::new()
                };
                if missing.is_empty() {
                    return LaunchDecision::Complete {
                        result: LifecycleResult::Continue,
                        reason: LaunchCompletion::Ready,
                    };
                }
                LaunchWaitingOn::Daemons { missing }
            }
            // REGISTERING, or INACTIVE / DEREGISTERING left over while the agent registers
            // anew, or a status this version does not know: not ready, not hopeless.
            _ => LaunchWaitingOn::Registration,
        },
    };
    if now >= deadline {
        return on_deadline(LaunchCompletion::DeadlinePassed);
    }
    LaunchDecision::Wait {
        waiting_on,
        deadline,
    }
}

#[cfg(test)]
mod tests;
