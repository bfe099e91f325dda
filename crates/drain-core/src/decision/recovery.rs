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
        _ => ClaimRetry::GiveUp,
    }
}
