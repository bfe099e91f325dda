//! The drain decision: a pure function of the drain record, the census and the time.
//!
//! No I/O, no clock, no environment: every rule here has a plain unit test, and the simulation
//! runs exactly this code.

use serde::{Deserialize, Serialize};

use crate::census::{AliveCounts, Census, TaskKind};
use crate::ids::{LifecycleToken, TaskArn};
use crate::ports::{ActionAnswer, EcsInstanceStatus};
pub use crate::record::CompletionReason;
use crate::record::{DrainRecord, DrainStart, DrainStatus, LifecycleResult, StartPlan};
use crate::time::Timestamp;

/// What to do when the graceful phase ends with tasks still alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeadlinePolicy {
    /// Stop every task still alive, wait for them (at most one check interval), then CONTINUE.
    Continue,
    /// Complete with ABANDON at once (with an instance lifecycle policy that retains abandoned
    /// instances, the instance is kept for inspection).
    Abandon,
}

impl DeadlinePolicy {
    /// The setting's value (`continue` / `abandon`).
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlinePolicy::Continue => "continue",
            DeadlinePolicy::Abandon => "abandon",
        }
    }
}

/// The knobs of the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainPolicy {
    /// Length of the graceful phase, in seconds.
    pub deadline_seconds: i64,
    /// What happens at the deadline.
    pub deadline_policy: DeadlinePolicy,
    /// How long a COMPLETING claim is honoured before another invocation may take it over
    /// (an invocation that died between claiming and completing). Longer than a Lambda timeout.
    pub completing_lease_seconds: i64,
    /// When a look takes a census (see `look::census_needed`).
    pub census_rule: look::CensusRule,
}

impl Default for DrainPolicy {
    fn default() -> Self {
        DrainPolicy {
            deadline_seconds: 3600,
            deadline_policy: DeadlinePolicy::Continue,
            completing_lease_seconds: 180,
            census_rule: look::CensusRule::WhenNeeded,
        }
    }
}

/// What a drain is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WaitingOn {
    /// Replica or standalone tasks still alive; ECS (or their owner) moves them.
    Tasks,
    /// Only daemon tasks are left and they have been asked to stop.
    DaemonsStopping,
    /// The deadline passed and every remaining task has been asked to stop.
    DeadlineStops,
    /// An early drain with nothing left to move: no lifecycle action exists yet to complete
    /// (see `spot::awaiting`).
    LifecycleAction,
}

impl WaitingOn {
    /// What the drain waits for, in words (the record's `reason` while it waits).
    pub fn describe(self) -> &'static str {
        match self {
            WaitingOn::Tasks => "waiting for replica and standalone tasks to leave the instance",
            WaitingOn::DaemonsStopping => "waiting for daemon tasks ecs-drain stopped",
            WaitingOn::DeadlineStops => "deadline passed; waiting for the tasks ecs-drain stopped",
            WaitingOn::LifecycleAction => {
                "no lifecycle action yet; waiting for the group's terminate action"
            }
        }
    }
}

/// The decision for one look at a drain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The drain already ended; nothing to do.
    Finished {
        /// How it ended.
        status: DrainStatus,
    },
    /// Another invocation claimed the completion moments ago; leave it to finish.
    ClaimedElsewhere,
    /// Work remains; the next STOPPED event (or scheduled check) looks again.
    Wait {
        /// What is alive.
        alive: AliveCounts,
        /// Why it waits.
        waiting_on: WaitingOn,
    },
    /// Only daemon tasks are left: stop these (the ones not already stopping).
    StopDaemons {
        /// Daemon tasks to stop.
        tasks: Vec<TaskArn>,
    },
    /// The deadline passed with policy continue: stop these and note when.
    EnforceDeadline {
        /// Tasks to stop (may be empty when all are already stopping).
        tasks: Vec<TaskArn>,
    },
    /// Claim the drain and complete the lifecycle action.
    Complete {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
        /// Why.
        reason: CompletionReason,
    },
}

impl Decision {
    /// A stable short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Finished { .. } => "finished",
            Decision::ClaimedElsewhere => "claimed_elsewhere",
            Decision::Wait { .. } => "wait",
            Decision::StopDaemons { .. } => "stop_daemons",
            Decision::EnforceDeadline { .. } => "enforce_deadline",
            Decision::Complete { .. } => "complete",
        }
    }
}

/// Decides what one look at a drain should do.
pub fn decide(
    record: &DrainRecord,
    census: &Census,
    now: Timestamp,
    policy: &DrainPolicy,
) -> Decision {
    match record.status {
        DrainStatus::Completed | DrainStatus::Expired => {
            return Decision::Finished {
                status: record.status,
            };
        }
        DrainStatus::Completing
            if now.seconds_since(record.updated_at) < policy.completing_lease_seconds =>
        {
            return Decision::ClaimedElsewhere;
        }
        DrainStatus::Completing | DrainStatus::Draining => {}
    }
    // A lapsed claim: its result may have reached Auto Scaling before its invocation died, so
    // the takeover sends (and records) that result, never a new decision. (A claim given back
    // after an unclear answer is decided afresh: its heartbeat tells whether the send landed.)
    if let Some(result) = claimed_result(record) {
        return Decision::Complete {
            result,
            reason: CompletionReason::SentAgain,
        };
    }

    let alive = census.counts();
    if alive.total() == 0 {
        return Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained,
        };
    }

    if now >= record.deadline_at {
        return match policy.deadline_policy {
            DeadlinePolicy::Abandon => Decision::Complete {
                result: LifecycleResult::Abandon,
                reason: CompletionReason::DeadlineAbandoned,
            },
            DeadlinePolicy::Continue => {
                let not_yet_stopping = not_yet_stopping(census, |_| true);
                match record.enforced_at {
                    Some(enforced_at)
                        if now.seconds_since(enforced_at) >= record.check_interval_seconds =>
                    {
                        Decision::Complete {
                            result: LifecycleResult::Continue,
                            reason: CompletionReason::DeadlineEnforced,
                        }
                    }
                    Some(_) if not_yet_stopping.is_empty() => Decision::Wait {
                        alive,
                        waiting_on: WaitingOn::DeadlineStops,
                    },
                    _ => Decision::EnforceDeadline {
                        tasks: not_yet_stopping,
                    },
                }
            }
        };
    }

    if alive.non_daemon() > 0 {
        return Decision::Wait {
            alive,
            waiting_on: WaitingOn::Tasks,
        };
    }

    // Only daemon tasks are left: they go last, once nothing they serve remains.
    let daemons = not_yet_stopping(census, |kind| matches!(kind, TaskKind::Daemon { .. }));
    if daemons.is_empty() {
        Decision::Wait {
            alive,
            waiting_on: WaitingOn::DaemonsStopping,
        }
    } else {
        Decision::StopDaemons { tasks: daemons }
    }
}

fn not_yet_stopping(census: &Census, include: impl Fn(&TaskKind) -> bool) -> Vec<TaskArn> {
    census
        .alive
        .iter()
        .filter(|task| include(&task.kind) && !task.snapshot.is_stopping())
        .map(|task| task.snapshot.arn.clone())
        .collect()
}

/// What a CompleteLifecycleAction call achieved, as ecs-drain reads Auto Scaling's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionOutcome {
    /// The call took effect.
    Done,
    /// `No active Lifecycle Action found`: completed elsewhere or timed out. Terminal.
    NoActiveAction,
    /// A completion was sent before without a clear answer and the action is gone now: that
    /// send most likely took effect. Terminal.
    DoneUnconfirmed,
}

/// Reads the answer to CompleteLifecycleAction. "No active Lifecycle Action" means ecs-drain's
/// own completion took effect when one may have been sent before without a clear answer: by an
/// earlier attempt of this call (the adapter says so), or, for a drain, by an invocation whose
/// claim lapsed (`Completing`) or whose answer was lost (`completion_sent_at`). Otherwise the
/// action was completed elsewhere or timed out. `drain` is the record before this claim (None
/// for an instance with nothing to drain).
pub fn completion_outcome(answer: ActionAnswer, drain: Option<&DrainRecord>) -> ActionOutcome {
    let sent_before = drain.is_some_and(|record| {
        record.status == DrainStatus::Completing || record.completion_sent_at.is_some()
    });
    answer_outcome(answer, sent_before)
}

/// The result of the completion claim `record` holds (COMPLETING), recorded with the claim:
/// whoever takes the claim over sends that one again.
pub fn claimed_result(record: &DrainRecord) -> Option<LifecycleResult> {
    record
        .result
        .filter(|_| record.status == DrainStatus::Completing)
}

/// [`completion_outcome`]'s rule over what any record of a lifecycle action tells (drain or
/// launch): whether a completion may have been sent before without a clear answer.
pub fn answer_outcome(answer: ActionAnswer, sent_before: bool) -> ActionOutcome {
    match answer {
        ActionAnswer::Accepted => ActionOutcome::Done,
        ActionAnswer::NoActiveAction {
            after_unclear_attempt,
        } if after_unclear_attempt || sent_before => ActionOutcome::DoneUnconfirmed,
        ActionAnswer::NoActiveAction { .. } => ActionOutcome::NoActiveAction,
    }
}

/// How a lifecycle notice relates to what the store already holds for the instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// No drain known: start one.
    Start,
    /// The same action again (duplicate delivery or a retried invocation): carry on with the
    /// existing drain; every step is idempotent.
    Resume,
    /// The same action, already ended: nothing to do.
    AlreadyFinished,
    /// A newer action for an instance whose earlier drain is known (the instance came back,
    /// e.g. from a warm pool, or the old action is gone): replace the record.
    Replace,
    /// An older or unordered action (e.g. an archive replay): never restarts anything.
    Stale,
}

impl Admission {
    /// Whether the admission writes or resumes a drain, so Auto Scaling must first confirm that
    /// the instance is in the notice's group and waiting on a terminate hook.
    pub fn needs_confirmation(self) -> bool {
        matches!(
            self,
            Admission::Start | Admission::Replace | Admission::Resume
        )
    }
}

/// Only an ACTIVE container instance is set DRAINING: a DRAINING one already is, and any other
/// status is not one UpdateContainerInstancesState moves to DRAINING.
pub fn sets_draining(status: &EcsInstanceStatus) -> bool {
    *status == EcsInstanceStatus::Active
}

/// Decides what a lifecycle notice means given the existing record. A notice with another
/// token replaces a record only when it is provably newer: its send time is strictly after
/// the time of the notice that created the record. Without a send time it is stale.
pub fn admit(
    existing: Option<&DrainRecord>,
    token: &LifecycleToken,
    noticed_at: Option<Timestamp>,
) -> Admission {
    admit_action(
        existing.map(|record| {
            (
                &record.token,
                record.status.is_terminal(),
                record.noticed_at,
            )
        }),
        token,
        noticed_at,
    )
}

/// [`admit`]'s rule over what any record of a lifecycle action keeps (drain or launch): the
/// recorded token, whether the record is finished, and when its notice was sent.
pub fn admit_action(
    recorded: Option<(&LifecycleToken, bool, Timestamp)>,
    token: &LifecycleToken,
    noticed_at: Option<Timestamp>,
) -> Admission {
    let Some((recorded_token, finished, recorded_at)) = recorded else {
        return Admission::Start;
    };
    if recorded_token == token {
        return if finished {
            Admission::AlreadyFinished
        } else {
            Admission::Resume
        };
    }
    match noticed_at {
        Some(at) if at > recorded_at => Admission::Replace,
        _ => Admission::Stale,
    }
}

/// Plans the interval between scheduled checks so a heartbeat always lands before the hook's
/// heartbeat timeout: at least a minute (EventBridge Scheduler's granularity), at most
/// 15 minutes, and a margin of max(60 s, 20 %) below the timeout. An unknown timeout gets the
/// shortest interval: it keeps any heartbeat timeout of 30 s or more safe enough.
pub fn plan_check_interval(heartbeat_timeout_seconds: Option<i64>) -> i64 {
    const MIN: i64 = 60;
    const MAX: i64 = 900;
    match heartbeat_timeout_seconds {
        Some(timeout) => {
            let margin = (timeout / 5).max(60);
            (timeout - margin).clamp(MIN, MAX)
        }
        None => MIN,
    }
}

/// Plans a new drain started at `started_at`: the check interval, when the hook gives up on its
/// own, and the deadline capped below that. (The first check is booked by [`upkeep`], from
/// when the notice was sent.)
pub fn plan_start(
    started_at: Timestamp,
    heartbeat_timeout_seconds: Option<i64>,
    deadline_seconds: i64,
) -> StartPlan {
    let check_interval_seconds = plan_check_interval(heartbeat_timeout_seconds);
    let hook_expires_at = heartbeat_timeout_seconds
        .map(|timeout| started_at.plus_seconds(hook_global_timeout_seconds(timeout)));
    let deadline_at = plan_deadline(
        started_at,
        deadline_seconds,
        hook_expires_at,
        check_interval_seconds,
    );
    StartPlan {
        check_interval_seconds,
        hook_expires_at,
        deadline_at,
    }
}

/// A new DRAINING record for `start`, planned by [`plan_start`].
pub fn start_drain(start: DrainStart) -> DrainRecord {
    let plan = plan_start(
        start.started_at,
        start.heartbeat_timeout_seconds,
        start.deadline_seconds,
    );
    DrainRecord::start(start, plan)
}

/// The hook's global timeout: an action waits at most min(48 h, 100 × heartbeat timeout).
pub fn hook_global_timeout_seconds(heartbeat_timeout_seconds: i64) -> i64 {
    (heartbeat_timeout_seconds.saturating_mul(100)).min(48 * 3600)
}

/// The drain deadline: the configured graceful phase, capped so that enforcement (one check
/// interval) still finishes before the hook's global timeout would end the action on its own.
pub fn plan_deadline(
    started_at: Timestamp,
    deadline_seconds: i64,
    hook_expires_at: Option<Timestamp>,
    check_interval_seconds: i64,
) -> Timestamp {
    let wanted = started_at.plus_seconds(deadline_seconds.max(0));
    match hook_expires_at {
        Some(expires) => {
            let latest = expires
                .plus_seconds(-2 * check_interval_seconds)
                .max(started_at);
            wanted.min(latest)
        }
        None => wanted,
    }
}

/// A regular check that would land closer than this before the deadline is merged into the
/// deadline's check, so the deadline's check is never booked at the last moment.
pub const DEADLINE_MERGE_SECONDS: i64 = 30;

/// Every check is booked at least this far in the future: a one-shot schedule in the past never
/// fires. Kept small so a late check near the deadline does not push enforcement past it.
pub const MIN_BOOKING_LEAD_SECONDS: i64 = 5;

/// When the next scheduled check of a live drain should fire: one interval on, but never past
/// the deadline while the drain is graceful, so enforcement starts on time. A check that would
/// land just before the deadline is merged into the deadline's, so the one after it is never
/// booked too close to be reliable.
pub fn next_check_at(record: &DrainRecord, now: Timestamp) -> Timestamp {
    let next = now.plus_seconds(record.check_interval_seconds);
    if now < record.deadline_at && next.plus_seconds(DEADLINE_MERGE_SECONDS) >= record.deadline_at {
        record.deadline_at
    } else {
        next
    }
}

pub mod announce;
pub mod coexistence;
pub mod facts;
pub mod launch;
pub mod look;
pub mod operator;
pub mod preflight;
pub mod recovery;
pub mod spot;
pub mod start;
pub mod upkeep;
pub mod verify;

pub use upkeep::{Trigger, Upkeep, guard_claim, resume_booking, upkeep, upkeep_while_claimed};

#[cfg(test)]
mod tests;
