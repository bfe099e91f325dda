//! What a lost conditional write means. A write can lose because another invocation wrote
//! first, or because this very write took effect and its answer was lost (the SDK's retry then
//! lost to it). Both look the same to the writer; these rules read the record stored now and
//! say whether to carry on. Pure: the drainer loads the record and applies the answer.

use crate::census::Census;
use crate::decision::{Decision, DrainPolicy, decide};
use crate::ids::LifecycleToken;
use crate::record::{CompletionReason, DrainRecord, DrainStatus, LifecycleResult};
use crate::time::Timestamp;

/// Whether to go on after a lost write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLostWrite {
    /// The stored record is what this invocation meant to write (or carries it on): go on.
    CarryOn,
    /// Another invocation owns the next step: stop here.
    GiveUp,
}

/// A new drain record for the action `token` could not be written. If the stored record is a
/// live drain of the same action, a concurrent delivery (or this very write) recorded it: carry
/// on with it. Anything else (another action, an ended drain, nothing) belongs to someone else.
pub fn after_lost_start(current: Option<&DrainRecord>, token: &LifecycleToken) -> AfterLostWrite {
    match current {
        Some(current) if &current.token == token && !current.status.is_terminal() => {
            AfterLostWrite::CarryOn
        }
        _ => AfterLostWrite::GiveUp,
    }
}

/// How many times the terminate action joins an early drain again after losing the write to
/// a concurrent one (a look's progress, a duplicate warning) before failing the invocation.
pub const JOIN_RETRIES: usize = 3;

/// What to do after the terminate action's join of an early drain lost its conditional write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinRetry {
    /// The stored drain holds this action already (a concurrent delivery, or this very write
    /// whose answer was lost): go on with it.
    CarryOn,
    /// The early drain only moved on: join the stored one again.
    Retry,
    /// It kept moving on [`JOIN_RETRIES`] times: fail the invocation so the event is delivered
    /// again, rather than leave the action unjoined.
    Exhausted,
    /// The record is another action's, or gone: it is not this action's to join.
    GiveUp,
}

/// The join of the action `token` lost after `retries` retries; `current` is the record stored
/// now. An early drain still on record (open, or ended meanwhile, which the next join starts
/// afresh over) is joined again, at most [`JOIN_RETRIES`] times.
pub fn after_lost_join(
    current: Option<&DrainRecord>,
    token: &LifecycleToken,
    retries: usize,
) -> JoinRetry {
    match current {
        Some(current) if &current.token == token => JoinRetry::CarryOn,
        Some(current) if current.awaiting_action && retries < JOIN_RETRIES => JoinRetry::Retry,
        Some(current) if current.awaiting_action => JoinRetry::Exhausted,
        _ => JoinRetry::GiveUp,
    }
}

/// A COMPLETING claim could not be written. It is this invocation's after all when the stored
/// record is exactly that claim (its write took effect, the answer was lost).
pub fn after_lost_claim(current: Option<&DrainRecord>, claim: &DrainRecord) -> AfterLostWrite {
    match current {
        Some(current) if current.holds_claim(claim) => AfterLostWrite::CarryOn,
        _ => AfterLostWrite::GiveUp,
    }
}

/// What to do after another invocation's write beat this one's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClaimRetry {
    /// Claim again on the fresh record, with this result and reason.
    Claim {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
        /// Why.
        reason: CompletionReason,
    },
    /// Another invocation claimed the completion of this very drain first. Its claim is left
    /// alone, but kept watched: the look that lost may have been the drain's check, and if the
    /// claim's holder dies before its final write, only a check booked for after the lease
    /// takes the claim over (decision::upkeep::upkeep_while_claimed).
    WatchClaim,
    /// The drain moved on in a way this invocation must not override.
    GiveUp,
}

/// A lost claim means another invocation wrote after this one read. When that write was only
/// progress (the drain is still DRAINING under the same action, e.g. a look whose census still
/// saw a task), this invocation's census is the newer one: decide again on the fresh record
/// with it. Giving up there would leave the drain waiting for a STOPPED event that already
/// came, or for a check that may never be booked. Any other fresh record (a claim, an ended
/// drain, another action, none) is left alone.
pub fn retry_claim(
    mine: &DrainRecord,
    fresh: Option<&DrainRecord>,
    census: &Census,
    now: Timestamp,
    policy: &DrainPolicy,
) -> ClaimRetry {
    match fresh {
        Some(fresh) if fresh.status == DrainStatus::Draining && fresh.token == mine.token => {
            match decide(fresh, census, now, policy) {
                Decision::Complete { result, reason } => ClaimRetry::Claim { result, reason },
                _ => ClaimRetry::GiveUp,
            }
        }
        Some(fresh) if fresh.status == DrainStatus::Completing && fresh.token == mine.token => {
            ClaimRetry::WatchClaim
        }
        _ => ClaimRetry::GiveUp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_join_is_retried_over_the_early_drain_at_most_three_times() {
        let mine = LifecycleToken::new("00000000-0000-4000-8000-000000000001").expect("token");
        let early = DrainRecord {
            token: LifecycleToken::none_yet(),
            awaiting_action: true,
            ..crate::testing::sample::drain_record()
        };
        let ended_early = early.ended(early.started_at, DrainStatus::Completed, None, "-".into());
        let joined = DrainRecord {
            token: mine.clone(),
            awaiting_action: false,
            ..early.clone()
        };
        let other_action = DrainRecord {
            token: LifecycleToken::new("00000000-0000-4000-8000-000000000002").expect("token"),
            awaiting_action: false,
            ..early.clone()
        };
        #[rustfmt::skip]
        let rows = [
            ("a concurrent delivery (or this write) joined it", Some(&joined), 0, JoinRetry::CarryOn),
            ("joined, found on the last retry", Some(&joined), JOIN_RETRIES, JoinRetry::CarryOn),
            ("the early drain only moved on", Some(&early), 0, JoinRetry::Retry),
            ("it moved on again, third retry", Some(&early), JOIN_RETRIES - 1, JoinRetry::Retry),
            ("it moved on after three retries", Some(&early), JOIN_RETRIES, JoinRetry::Exhausted),
            ("it ended meanwhile: join (start afresh) over it", Some(&ended_early), 1, JoinRetry::Retry),
            ("another action holds it", Some(&other_action), 0, JoinRetry::GiveUp),
            ("nothing stored", None, 0, JoinRetry::GiveUp),
        ];
        for (row, current, retries, expected) in rows {
            assert_eq!(after_lost_join(current, &mine, retries), expected, "{row}");
        }
    }
}
