//! What a look counts for the operator's metrics. Some facts are counted once per drain (the
//! first census that finds stuck services, the first enforcement of the deadline), so a drain
//! looked at a hundred times still counts once; these rules say when. Pure: the drainer notes
//! what they return.

use crate::census::Census;
use crate::decision::{ActionOutcome, Decision, Trigger};
use crate::metrics::Fact;
use crate::record::{CompletionReason, DrainRecord, LifecycleResult};
use crate::time::Timestamp;

/// The facts of one look at a drain, by when they are noted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookFacts {
    /// Noted as soon as the decision is made.
    pub decided: Vec<Fact>,
    /// Noted once the decision's ECS calls (stopping tasks) succeeded: a failed call is retried
    /// with the same record, and the retry counts it then.
    pub applied: Vec<Fact>,
}

/// What a look at `before` (the record as read) with `census` and `decision` counts.
/// Stuck services count on the first census that finds them; a scheduled check reports how
/// long the hook has left; the deadline's enforcement counts the first time only.
pub fn look_facts(
    before: &DrainRecord,
    census: &Census,
    decision: &Decision,
    trigger: Trigger,
    now: Timestamp,
) -> LookFacts {
    let mut decided = Vec::new();
    if crate::decision::announce::first_finds_stuck_services(before, census) {
        decided.push(Fact::StuckServices);
    }
    if let (Trigger::Check, Some(expires_at)) = (trigger, before.hook_expires_at) {
        decided.push(Fact::HookSecondsLeft(expires_at.seconds_since(now)));
    }
    let applied = match decision {
        Decision::EnforceDeadline { .. } if before.enforced_at.is_none() => {
            vec![Fact::DeadlineEnforced]
        }
        _ => Vec::new(),
    };
    LookFacts { decided, applied }
}

/// A completion counts as a completed drain unless the action turned out to be gone (then the
/// expiry follow-up counts it, see [`expiry_fact`]).
pub fn completion_fact(
    outcome: ActionOutcome,
    result: LifecycleResult,
    reason: CompletionReason,
    started_at: Timestamp,
    now: Timestamp,
) -> Option<Fact> {
    match outcome {
        ActionOutcome::NoActiveAction => None,
        ActionOutcome::Done | ActionOutcome::DoneUnconfirmed => Some(Fact::DrainCompleted {
            result,
            reason,
            duration_seconds: now.seconds_since(started_at),
        }),
    }
}

/// An expired drain counts as a drain lost only when the instance goes undrained
/// (`verify::expired_undrained`); an action that never existed for an instance that stays is not.
pub fn expiry_fact(undrained: bool) -> Option<Fact> {
    undrained.then_some(Fact::DrainExpired)
}
