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

use crate::census::{TaskSnapshot, TaskStatus};
use crate::decision::upkeep::Upkeep;
use crate::decision::{ActionOutcome, Admission, admit_action, answer_outcome, completion_outcome};
use crate::decision::{
    DEADLINE_MERGE_SECONDS, MIN_BOOKING_LEAD_SECONDS, hook_global_timeout_seconds,
    plan_check_interval, plan_deadline,
};
use crate::event::fleet::Placement;
use crate::ids::{ClusterArn, LifecycleActionRef, LifecycleToken};
use crate::launch_record::{LaunchRecord, LaunchStatus};
use crate::ports::{ActionAnswer, EcsInstanceStatus};
use crate::record::{DrainRecord, DrainStatus, LifecycleResult};
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
    /// The launch hook's heartbeat timeout (DescribeLifecycleHooks), when known.
    pub heartbeat_timeout_seconds: Option<i64>,
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
    /// A look claimed this completion (COMPLETING) and its invocation ended before recording
    /// the end: the claimed result is sent again ([`honour_launch_claim`]).
    SentAgain,
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
            LaunchCompletion::SentAgain => "sent_again",
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

/// The timing of a pending launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchPlan {
    /// Seconds between the pending launch's safety-net checks, each heartbeating the hook, so
    /// the hook's heartbeat timeout never applies its DefaultResult before our deadline does.
    pub check_interval_seconds: i64,
    /// When the deadline policy applies: the configured deadline, capped so that completing
    /// still happens before the hook's global timeout (min(48 h, 100 × heartbeat timeout))
    /// would end the action on its own.
    pub deadline: Timestamp,
}

/// Plans a pending launch noticed at `noticed_at` with the same timing rules as a drain.
pub fn plan_launch(
    noticed_at: Timestamp,
    heartbeat_timeout_seconds: Option<i64>,
    policy: &LaunchPolicy,
) -> LaunchPlan {
    let check_interval_seconds = plan_check_interval(heartbeat_timeout_seconds);
    let hook_expires_at = heartbeat_timeout_seconds
        .map(|timeout| noticed_at.plus_seconds(hook_global_timeout_seconds(timeout)));
    LaunchPlan {
        check_interval_seconds,
        // plan_deadline keeps a negative setting from putting the deadline before the notice.
        deadline: plan_deadline(
            noticed_at,
            policy.deadline_seconds,
            hook_expires_at,
            check_interval_seconds,
        ),
    }
}

/// When the next safety-net check of a pending launch fires after a look at `now` leaves it
/// waiting: one interval on, but never past the deadline (a check that would land just before
/// it is merged into the deadline's), and never less than [`MIN_BOOKING_LEAD_SECONDS`] ahead.
/// The look that books it heartbeats the hook first, as for drains.
pub fn next_launch_check_at(plan: &LaunchPlan, now: Timestamp) -> Timestamp {
    launch_check_after(plan, now, now)
}

/// When the first safety-net check of a pending launch fires: one interval after the launch
/// notice was sent (`noticed_at`, the lifecycle action's start, when the hook's heartbeat timer
/// started), not after `now`: a late or redelivered notice must not push the first check, and
/// so the first heartbeat, past the hook's heartbeat timeout. Merged into the deadline and
/// never less than [`MIN_BOOKING_LEAD_SECONDS`] ahead, as [`next_launch_check_at`].
pub fn first_launch_check_at(
    plan: &LaunchPlan,
    noticed_at: Timestamp,
    now: Timestamp,
) -> Timestamp {
    // max/min rather than clamp: a corrupt stored interval must not panic the handler.
    let base = noticed_at
        .max(now.plus_seconds(-plan.check_interval_seconds))
        .min(now);
    launch_check_after(plan, base, now)
}

/// One interval after `base`, merged into the deadline, at least the booking lead after `now`.
fn launch_check_after(plan: &LaunchPlan, base: Timestamp, now: Timestamp) -> Timestamp {
    let next = base.plus_seconds(plan.check_interval_seconds);
    let at = if now < plan.deadline && next.plus_seconds(DEADLINE_MERGE_SECONDS) >= plan.deadline {
        plan.deadline
    } else {
        next
    };
    at.max(now.plus_seconds(MIN_BOOKING_LEAD_SECONDS))
}

/// What prompted a look at a pending launch: it decides whether the hook is heartbeated and
/// the check rebooked ([`launch_upkeep`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchPrompt {
    /// The launch notice (the first look, or a redelivery).
    Notice,
    /// A container instance state change.
    Change,
    /// The pending launch's scheduled check.
    Check,
}

/// What a look that leaves a pending launch waiting does to keep it alive, decided once per
/// look at `now`; `books_checks` is whether checks are configured.
///
/// A check heartbeats and books the next one. A notice always books (its record may be new to
/// this look); a state change books only when no check is booked ahead (the booked one was
/// lost or is late). Whoever books the check later than the record proves safe
/// ([`launch_check_safe_until`]) heartbeats first, or the hook applies its default result
/// before the check fires.
pub fn launch_upkeep(
    record: &LaunchRecord,
    policy: &LaunchPolicy,
    now: Timestamp,
    prompt: LaunchPrompt,
    books_checks: bool,
) -> Upkeep {
    let plan = plan_launch(record.noticed_at, record.heartbeat_timeout_seconds, policy);
    let booked_ahead = record.next_check_at.is_some_and(|at| at > now);
    let book = books_checks && (prompt != LaunchPrompt::Change || !booked_ahead);
    let book_check_at = book.then(|| match record.next_check_at {
        None => first_launch_check_at(&plan, record.noticed_at, now),
        Some(_) => next_launch_check_at(&plan, now),
    });
    let heartbeat = prompt == LaunchPrompt::Check
        || book_check_at.is_some_and(|at| at > launch_check_safe_until(record, &plan));
    Upkeep {
        heartbeat,
        book_check_at,
    }
}

/// The latest a check of the pending launch may fire without another heartbeat: the booked
/// check or, before any booking, the first check planned from the notice. Either is at most one
/// interval (or the deadline merge) after the hook's timer last started, because every later
/// booking heartbeats first; the plan keeps that interval a margin below the heartbeat timeout
/// for a late check. A check moved later, even one still inside the timeout, eats that margin:
/// moved to the timeout itself (simulation seed 58), the hook times out as the check fires.
fn launch_check_safe_until(record: &LaunchRecord, plan: &LaunchPlan) -> Timestamp {
    record
        .next_check_at
        .unwrap_or_else(|| launch_check_after(plan, record.noticed_at, record.noticed_at))
}

/// The daemon services without a RUNNING task on the instance, sorted and without repeats.
pub fn missing_daemons(daemon_services: &[String], tasks: &[TaskSnapshot]) -> Vec<String> {
    let running: BTreeSet<&str> = tasks
        .iter()
        .filter(|task| task.last_status == TaskStatus::Running)
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
    let deadline = plan_launch(facts.noticed_at, facts.heartbeat_timeout_seconds, policy).deadline;
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

/// The decision of a look at `record`: `decided` from the facts, except that a completion the
/// record holds a claim of (COMPLETING, its result recorded with the claim) is sent again with
/// that result, never a new one: it may have reached Auto Scaling before its invocation died,
/// and a new decision (a ready instance's CONTINUE after the deadline's ABANDON, say) would be
/// recorded against a result the hook never got. A look that waits instead heartbeats, and the
/// heartbeat tells whether the claimed completion landed ([`launch_completion_outcome`]).
pub fn honour_launch_claim(record: &LaunchRecord, decided: LaunchDecision) -> LaunchDecision {
    let claimed = record
        .result
        .filter(|_| record.status == LaunchStatus::Completing);
    match (decided, claimed) {
        (LaunchDecision::Complete { .. }, Some(result)) => LaunchDecision::Complete {
            result,
            reason: LaunchCompletion::SentAgain,
        },
        (decided, _) => decided,
    }
}

/// Reads the answer to a pending launch's CompleteLifecycleAction by the drains' rule
/// ([`crate::decision::completion_outcome`]): "No active Lifecycle Action" after a completion
/// that may have been sent before without a clear answer (an earlier attempt of this call, or
/// an invocation whose claim on `record`, the launch before this claim, is `Completing`) means
/// that completion took effect.
pub fn launch_completion_outcome(answer: ActionAnswer, record: &LaunchRecord) -> ActionOutcome {
    answer_outcome(answer, record.status == LaunchStatus::Completing)
}

/// Why a warm-pool return ends the drain its terminate action left open (the record's reason).
pub const WARM_RETURN_ENDS_DRAIN: &str =
    "the instance came back from the warm pool: the terminate action of this drain is over";

/// Whether the pending launch `launch` ends the drain on record for its container instance: a
/// return from the warm pool means the terminate action that sent the instance there is over,
/// so that drain, if it is still open (its action timed out, or its last write was lost), is
/// history. Left open, its check would look at an instance back in service, and a later
/// terminate would meet a stale drain. A drain noticed after the launch is not this one's.
pub fn warm_return_ends_drain(launch: &LaunchRecord, drain: &DrainRecord) -> bool {
    launch.origin == Some(Placement::WarmPool)
        && !drain.status.is_terminal()
        && drain.ec2_instance_id == launch.instance_id
        && drain.noticed_at <= launch.noticed_at
}

/// Why a warm-pool return ends the drain COMPLETED (the record's reason).
pub const WARM_RETURN_COMPLETES_DRAIN: &str = "the instance came back from the warm pool after a \
     completion whose answer was lost: that completion ended the terminate action";

/// How a warm-pool return ends the drain [`warm_return_ends_drain`] says it ends: with the
/// status and the reason to record. The instance back from the pool says what an answer "no
/// active lifecycle action" says, that the terminate action is over, so the drains' one rule
/// for that answer ([`crate::decision::completion_outcome`]) reads it: after a completion
/// sent without a clear answer (a claim left COMPLETING, an answer lost) that completion ended
/// the action, COMPLETED with the result on record (the claimed one); otherwise it timed out,
/// EXPIRED.
pub fn warm_return_drain_end(drain: &DrainRecord) -> (DrainStatus, &'static str) {
    let gone = ActionAnswer::NoActiveAction {
        after_unclear_attempt: false,
    };
    match completion_outcome(gone, Some(drain)) {
        ActionOutcome::DoneUnconfirmed => (DrainStatus::Completed, WARM_RETURN_COMPLETES_DRAIN),
        ActionOutcome::Done | ActionOutcome::NoActiveAction => {
            (DrainStatus::Expired, WARM_RETURN_ENDS_DRAIN)
        }
    }
}

/// Whether a launch notice starts, resumes or replaces the pending launch on record, by the
/// drains' rule ([`crate::decision::admit_action`]): the same token resumes (or is already
/// finished), a newer notice with another token replaces it, an older or undated one is stale.
///
/// One difference: a notice with another token sent in the same second as a finished launch
/// replaces it. An instance entering the warm pool has its launch action completed at once,
/// and it may come back from the pool within that second (event times have whole seconds);
/// a finished launch has nothing a replacement could clobber.
pub fn admit_launch(
    existing: Option<&LaunchRecord>,
    token: &LifecycleToken,
    noticed_at: Option<Timestamp>,
) -> Admission {
    if let (Some(record), Some(at)) = (existing, noticed_at)
        && record.status.is_terminal()
        && &record.action.token != token
        && at == record.noticed_at
    {
        return Admission::Replace;
    }
    admit_action(
        existing.map(|record| {
            (
                &record.action.token,
                record.status.is_terminal(),
                record.noticed_at,
            )
        }),
        token,
        noticed_at,
    )
}

/// What a new pending launch records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchStart {
    /// The action.
    pub action: LifecycleActionRef,
    /// The notice's `Origin`.
    pub origin: Option<Placement>,
    /// The notice's `Destination`.
    pub destination: Option<Placement>,
    /// When the notice was sent (believable).
    pub noticed_at: Timestamp,
    /// Now.
    pub started_at: Timestamp,
    /// The hook's heartbeat timeout, when known.
    pub heartbeat_timeout_seconds: Option<i64>,
    /// How long finished records are kept, in seconds.
    pub retention_seconds: i64,
}

/// The record of a new pending launch, its deadline planned by [`plan_launch`].
pub fn start_launch(start: LaunchStart, policy: &LaunchPolicy) -> LaunchRecord {
    let plan = plan_launch(start.noticed_at, start.heartbeat_timeout_seconds, policy);
    LaunchRecord {
        instance_id: start.action.instance_id.clone(),
        action: start.action,
        origin: start.origin,
        destination: start.destination,
        status: LaunchStatus::Pending,
        noticed_at: start.noticed_at,
        started_at: start.started_at,
        updated_at: start.started_at,
        heartbeat_timeout_seconds: start.heartbeat_timeout_seconds,
        deadline: plan.deadline,
        next_check_at: None,
        container_instance_arn: None,
        cluster_arn: None,
        reactivated: false,
        result: None,
        reason: None,
        revision: 0,
        expires_at: plan.deadline.plus_seconds(start.retention_seconds),
    }
}

#[cfg(test)]
mod tests;
