//! Early drains: what a Spot interruption warning (and, when enabled, a rebalance
//! recommendation) does to an instance before any lifecycle action exists, and how a terminate
//! action for the same instance joins that drain (one drain, one completion).
//!
//! A Spot warning comes about two minutes before EC2 interrupts the instance (none for
//! hibernation, which begins at once: EC2 user guide, "Spot Instance interruption notices"),
//! so the instance is set DRAINING at once and the drain's deadline is the warning's horizon.
//! Replica services whose minimumHealthyPercent is 100 or more stop a task only after its
//! replacement runs, which rarely fits in two minutes (the ECS documentation warns of it): they
//! are named so the operator can see why tasks were cut off.

use crate::census::ServiceFacts;
use crate::event::fleet::{InstanceAction, RebalanceRecommendation, SpotInterruption};
use crate::ids::ClusterArn;
use crate::ports::EcsInstanceStatus;
use crate::record::{DrainRecord, DrainStatus};
use crate::time::Timestamp;

/// How long EC2 waits between a Spot interruption warning and the interruption.
pub const SPOT_WARNING_LEAD_SECONDS: i64 = 120;

/// Why ecs-drain drains an instance ahead of any lifecycle action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlyDrainKind {
    /// A Spot interruption warning: the instance goes away at the horizon whatever we do.
    Interruption,
    /// A rebalance recommendation: elevated risk, no interruption scheduled.
    Rebalance,
}

impl EarlyDrainKind {
    /// A stable short name for the record, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            EarlyDrainKind::Interruption => "interruption",
            EarlyDrainKind::Rebalance => "rebalance",
        }
    }
}

/// An early-drain notice, whichever event it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyNotice {
    /// What it announces.
    pub kind: EarlyDrainKind,
    /// The interruption behaviour (Spot warnings only).
    pub action: Option<InstanceAction>,
    /// When EC2 sent it, if the event said.
    pub sent_at: Option<Timestamp>,
}

impl From<&SpotInterruption> for EarlyNotice {
    fn from(warning: &SpotInterruption) -> Self {
        EarlyNotice {
            kind: EarlyDrainKind::Interruption,
            action: Some(warning.action),
            sent_at: warning.sent_at,
        }
    }
}

impl From<&RebalanceRecommendation> for EarlyNotice {
    fn from(recommendation: &RebalanceRecommendation) -> Self {
        EarlyNotice {
            kind: EarlyDrainKind::Rebalance,
            action: None,
            sent_at: recommendation.sent_at,
        }
    }
}

/// The operator's settings for early drains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyDrainPolicy {
    /// Drain on rebalance recommendations too (default off: most never become interruptions).
    pub drain_on_rebalance: bool,
    /// The deadline of a rebalance drain, in seconds (it has no horizon of its own).
    pub rebalance_deadline_seconds: i64,
}

impl Default for EarlyDrainPolicy {
    fn default() -> Self {
        EarlyDrainPolicy {
            drain_on_rebalance: false,
            rebalance_deadline_seconds: 3600,
        }
    }
}

/// The container instance on the EC2 instance the notice names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EarlyInstance {
    /// Its cluster.
    pub cluster_arn: ClusterArn,
    /// Whether ecs-drain watches that cluster.
    pub watched: bool,
    /// Its status.
    pub status: EcsInstanceStatus,
}

/// A drain record that already exists for the container instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExistingDrain {
    /// Its deadline.
    pub deadline: Timestamp,
    /// It has completed (or expired): the instance is on its way out.
    pub finished: bool,
}

/// Why an early-drain notice changes nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EarlyIgnore {
    /// A rebalance recommendation while rebalance draining is off.
    RebalanceDisabled,
    /// No container instance on the EC2 instance in the clusters searched.
    NotAnEcsInstance,
    /// The instance belongs to a cluster ecs-drain does not watch.
    UnwatchedCluster {
        /// That cluster.
        cluster_arn: ClusterArn,
    },
    /// INACTIVE / DEREGISTERING (or a status ECS cannot drain from): nothing to move.
    NotDrainable {
        /// The status seen.
        status: EcsInstanceStatus,
    },
    /// The instance's drain already finished.
    DrainFinished,
}

impl EarlyIgnore {
    /// Why, in words (bounded: a status is at most what ECS reports, cut by the parser).
    pub fn describe(&self) -> String {
        match self {
            EarlyIgnore::RebalanceDisabled => {
                "rebalance recommendations are not drained (ECS_DRAIN_ON_REBALANCE is not true)"
                    .to_owned()
            }
            EarlyIgnore::NotAnEcsInstance => {
                "the EC2 instance is not a container instance of the clusters searched".to_owned()
            }
            EarlyIgnore::UnwatchedCluster { cluster_arn } => {
                format!("cluster {} is not watched", cluster_arn.name())
            }
            EarlyIgnore::NotDrainable { status } => {
                format!("the container instance is {status}: nothing to drain")
            }
            EarlyIgnore::DrainFinished => "the instance's drain already finished".to_owned(),
        }
    }
}

/// The decision for an early-drain notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EarlyDecision {
    /// Nothing to do, and why.
    Ignore(EarlyIgnore),
    /// Record a new drain without a lifecycle action (the group's terminate action, if one
    /// comes, joins it).
    Start {
        /// Interruption or rebalance.
        kind: EarlyDrainKind,
        /// The drain's deadline.
        deadline: Timestamp,
        /// Set the container instance DRAINING (false when it already is).
        set_draining: bool,
        /// Replica services on the instance that cannot move within the horizon.
        immovable_services: Vec<String>,
    },
    /// A drain already runs (a terminate action came first): keep it, move its deadline to
    /// the earlier of the two.
    Join {
        /// The joined drain's deadline.
        deadline: Timestamp,
        /// The deadline moved earlier.
        tightened: bool,
        /// As for [`EarlyDecision::Start`].
        immovable_services: Vec<String>,
    },
}

/// When a drain for this notice must be over.
///
/// A Spot warning's clock starts when EC2 sent it (a late delivery does not buy time), never
/// later than `now` (a clock ahead of ours does not either); hibernation has no lead time.
pub fn early_deadline(
    notice: &EarlyNotice,
    policy: &EarlyDrainPolicy,
    now: Timestamp,
) -> Timestamp {
    let sent = notice.sent_at.map_or(now, |sent| sent.min(now));
    match notice.kind {
        EarlyDrainKind::Interruption => match notice.action {
            Some(InstanceAction::Hibernate) => sent,
            _ => sent.plus_seconds(SPOT_WARNING_LEAD_SECONDS),
        },
        EarlyDrainKind::Rebalance => sent.plus_seconds(policy.rebalance_deadline_seconds.max(0)),
    }
}

/// Replica services that stop a task only after its replacement runs (minimumHealthyPercent
/// 100 or more), sorted, without repeats: they cannot be counted on to move within a Spot
/// warning's two minutes.
pub fn immovable_within_horizon(services: &[ServiceFacts]) -> Vec<String> {
    let mut names: Vec<String> = services
        .iter()
        .filter(|service| !service.is_daemon())
        .filter(|service| {
            service
                .minimum_healthy_percent
                .is_some_and(|min| min >= 100)
        })
        .map(|service| service.name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// How far a notice's `time` may lie past its horizon, or ahead of the function's clock, and
/// still be believed. `time` has one-second granularity and both EventBridge's and Lambda's
/// clocks are kept by AWS's time sync service, so seconds cover an honest difference; more than
/// this is a notice that did not come straight from EC2.
pub const CLOCK_SKEW_SECONDS: i64 = 10;

/// How long a rebalance recommendation is believed at most. A recommendation has no horizon,
/// but the stack's `RebalanceRule` gives up delivering one after an hour (its target's
/// `MaximumEventAgeInSeconds`), so an older one reached the function some other way: an
/// archive replay, a re-sent copy, a direct invoke. Its risk may well be over by then (the
/// instance was interrupted, or rebalanced away through the terminate hook, which drains it).
pub const REBALANCE_BELIEVED_SECONDS: i64 = 3600;

/// Why an early notice's own `time` says it is not about the instance's present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnbelievedNotice {
    /// No readable `time`: EventBridge always sets one, so only a hand-made payload lacks it,
    /// and its age cannot be known.
    Undated {
        /// Interruption or rebalance.
        kind: EarlyDrainKind,
    },
    /// Sent further ahead of the function's clock than clock skew explains.
    Ahead {
        /// Interruption or rebalance.
        kind: EarlyDrainKind,
        /// Seconds the notice's `time` lies ahead of `now`.
        ahead_seconds: i64,
    },
    /// Older than its horizon: history. A Spot warning this old means the instance is gone,
    /// or it was never interrupted; a drain for it would start past its deadline and stop
    /// every task of a live instance at once.
    Stale {
        /// Interruption or rebalance.
        kind: EarlyDrainKind,
        /// Seconds since the notice's `time`.
        age_seconds: i64,
        /// The horizon it is past, in seconds.
        horizon_seconds: i64,
    },
}

impl UnbelievedNotice {
    /// A stable short name for logs and the invocation report.
    pub fn name(&self) -> &'static str {
        match self {
            UnbelievedNotice::Undated { .. } => "undated_notice",
            UnbelievedNotice::Ahead { .. } => "notice_ahead_of_clock",
            UnbelievedNotice::Stale { .. } => "stale_notice",
        }
    }

    /// Why, in words (bounded: a fixed text and at most three numbers).
    pub fn describe(&self) -> String {
        match self {
            UnbelievedNotice::Undated { kind } => {
                format!(
                    "the {} notice has no readable time: its age cannot be known",
                    kind.as_str()
                )
            }
            UnbelievedNotice::Ahead {
                kind,
                ahead_seconds,
            } => format!(
                "the {} notice is dated {ahead_seconds} s ahead of this function's clock \
                 (more than the {CLOCK_SKEW_SECONDS} s skew allowed)",
                kind.as_str()
            ),
            UnbelievedNotice::Stale {
                kind,
                age_seconds,
                horizon_seconds,
            } => format!(
                "the {} notice is {age_seconds} s old, past its {horizon_seconds} s horizon: \
                 history, not the instance's present",
                kind.as_str()
            ),
        }
    }
}

/// How long after its `time` a notice of `kind` still speaks for the instance: a Spot
/// warning, its two-minute lead (hibernation included: the instance is hibernated by then); a
/// rebalance recommendation, [`REBALANCE_BELIEVED_SECONDS`] or its drain's deadline if that is
/// shorter (an older one would start a drain already over).
pub fn notice_horizon_seconds(kind: EarlyDrainKind, policy: &EarlyDrainPolicy) -> i64 {
    match kind {
        EarlyDrainKind::Interruption => SPOT_WARNING_LEAD_SECONDS,
        EarlyDrainKind::Rebalance => REBALANCE_BELIEVED_SECONDS
            .min(policy.rebalance_deadline_seconds)
            .max(0),
    }
}

/// Whether an early notice's `time` may be believed at `now`, before anything is read for it.
///
/// An archive replay, a late redelivery or a direct invoke can name any instance; the time is
/// the one claim that can be checked without a call. A time ahead of `now` within the skew
/// counts as `now` (as [`crate::decision::start::believable_notice_time`] has it), so a
/// notice can never buy time by being dated later.
pub fn believe_early_notice(
    notice: &EarlyNotice,
    policy: &EarlyDrainPolicy,
    now: Timestamp,
) -> Result<(), UnbelievedNotice> {
    let kind = notice.kind;
    let Some(sent) = notice.sent_at else {
        return Err(UnbelievedNotice::Undated { kind });
    };
    let ahead_seconds = sent.seconds_since(now);
    if ahead_seconds > CLOCK_SKEW_SECONDS {
        return Err(UnbelievedNotice::Ahead {
            kind,
            ahead_seconds,
        });
    }
    let age_seconds = now.seconds_since(sent.min(now));
    let horizon_seconds = notice_horizon_seconds(kind, policy);
    if age_seconds > horizon_seconds.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(UnbelievedNotice::Stale {
            kind,
            age_seconds,
            horizon_seconds,
        });
    }
    Ok(())
}

/// Decides what an early-drain notice does at `now`.
///
/// `services` are the services with tasks on the instance (DescribeServices); they matter only
/// for interruptions.
pub fn decide_early_drain(
    notice: &EarlyNotice,
    instance: Option<&EarlyInstance>,
    existing: Option<&ExistingDrain>,
    services: &[ServiceFacts],
    policy: &EarlyDrainPolicy,
    now: Timestamp,
) -> EarlyDecision {
    if notice.kind == EarlyDrainKind::Rebalance && !policy.drain_on_rebalance {
        return EarlyDecision::Ignore(EarlyIgnore::RebalanceDisabled);
    }
    let Some(instance) = instance else {
        return EarlyDecision::Ignore(EarlyIgnore::NotAnEcsInstance);
    };
    if !instance.watched {
        return EarlyDecision::Ignore(EarlyIgnore::UnwatchedCluster {
            cluster_arn: instance.cluster_arn.clone(),
        });
    }
    let immovable_services = match notice.kind {
        EarlyDrainKind::Interruption => immovable_within_horizon(services),
        EarlyDrainKind::Rebalance => Vec::new(),
    };
    let deadline = early_deadline(notice, policy, now);
    // A finished drain of an instance that is ACTIVE again (back from a warm pool, or put
    // back in service) is history: this notice starts a new drain over it.
    let existing = existing
        .filter(|existing| !(existing.finished && instance.status == EcsInstanceStatus::Active));
    if let Some(existing) = existing {
        if existing.finished {
            return EarlyDecision::Ignore(EarlyIgnore::DrainFinished);
        }
        return EarlyDecision::Join {
            deadline: existing.deadline.min(deadline),
            tightened: deadline < existing.deadline,
            immovable_services,
        };
    }
    let set_draining = match &instance.status {
        EcsInstanceStatus::Active => true,
        // Drained by hand or by another tool: the drain carries on from there.
        EcsInstanceStatus::Draining => false,
        status => {
            return EarlyDecision::Ignore(EarlyIgnore::NotDrainable {
                status: status.clone(),
            });
        }
    };
    EarlyDecision::Start {
        kind: notice.kind,
        deadline,
        set_draining,
        immovable_services,
    }
}

/// Whether an early notice that joins the drain on record may rewrite it (move its deadline):
/// not once its completion is under way, claimed (`COMPLETING`) or sent with an unclear answer
/// (`completion_sent`). The completion's next write is conditional on the revision it read, so
/// a rewrite now would make it lose, and an earlier deadline changes nothing for a drain that
/// is already completing.
pub fn early_join_rewrites(status: DrainStatus, completion_sent: bool) -> bool {
    status == DrainStatus::Draining && !completion_sent
}

/// Whether a terminate action meeting the drain record `record` of its instance joins it, be
/// it read before writing or found after the action's own insert lost to it: a drain awaiting
/// a lifecycle action is an early drain (a Spot warning's or a rebalance's, possibly handled at
/// the same moment), and the action joins it (one drain, one completion, see
/// [`terminate_meets_early_drain`]) rather than starting a drain of its own or giving up.
pub fn terminate_joins_drain(record: &DrainRecord) -> bool {
    record.awaiting_action
}

/// How a terminate lifecycle action meets an early drain of the same instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TerminateJoin {
    /// Attach the action to the running drain, whose deadline becomes this one; its
    /// completion completes the action (one drain, one completion).
    Attach {
        /// The earlier of the early drain's deadline and the one planned for the action.
        deadline: Timestamp,
    },
    /// The early drain already ended with nothing to complete (no action came in time): this
    /// action starts a drain of its own over the record, whose first census completes it at
    /// once when nothing is alive (the census, not the old record, is the proof).
    StartAfresh,
}

/// The terminate action's side of the meeting: `planned_deadline` is the deadline a fresh
/// drain for this action would get.
pub fn terminate_meets_early_drain(
    early: &ExistingDrain,
    planned_deadline: Timestamp,
) -> TerminateJoin {
    if early.finished {
        TerminateJoin::StartAfresh
    } else {
        TerminateJoin::Attach {
            deadline: early.deadline.min(planned_deadline),
        }
    }
}

pub mod awaiting;

#[cfg(test)]
mod tests;
