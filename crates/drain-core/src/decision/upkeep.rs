//! Keeping a waiting drain alive: whether this look heartbeats the lifecycle action, and when
//! the next scheduled check is booked. Pure: the drainer asks once per look and applies both.
//!
//! These are the rules where the simulation found the hook-timeout bugs (seeds 47 and 55): a
//! check moved later without a heartbeat stretches the heartbeat gap past the hook's timeout,
//! so whoever books a check heartbeats first.

use crate::decision::{MIN_BOOKING_LEAD_SECONDS, next_check_at};
use crate::record::{DrainRecord, DrainStatus};
use crate::time::Timestamp;

/// What started this look at a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// A lifecycle notice (the first look, or a redelivery).
    Lifecycle,
    /// A task stopped on the instance.
    TaskStopped,
    /// The drain's scheduled check fired.
    Check,
    /// ECS reported that the instance's running or pending task counts changed.
    InstanceChanged,
}

/// What a look that leaves the drain waiting does to keep it alive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Upkeep {
    /// Record a lifecycle heartbeat (before booking, so the heartbeat gap never exceeds one
    /// check interval).
    pub heartbeat: bool,
    /// Book (create or move) the drain's check to this time.
    pub book_check_at: Option<Timestamp>,
}

/// Decides the upkeep of a drain that keeps waiting after a look at `now`.
///
/// `books_checks` is whether this function books checks (on-lifecycle with schedule settings).
/// on-task-stopped does not, and (least privilege) may not heartbeat either, so it never
/// rescues an overdue check: only a check, or a booking function's look that finds the booked
/// check overdue (lost or late), heartbeats and books the next one. The first look books the
/// first check, based on when the notice was sent: the hook's heartbeat timer started then,
/// not when the notice arrived. Every booking is at least [`MIN_BOOKING_LEAD_SECONDS`] ahead,
/// since a one-shot schedule in the past never fires.
pub fn upkeep(
    record: &DrainRecord,
    now: Timestamp,
    trigger: Trigger,
    books_checks: bool,
) -> Upkeep {
    let check_overdue = books_checks && record.next_check_at.is_some_and(|at| at <= now);
    let first_booking = record.next_check_at.is_none();
    let rebook = trigger == Trigger::Check || check_overdue;
    // An early drain has no lifecycle action to heartbeat until the terminate action joins;
    // its checks are booked all the same (they end it if no action ever comes).
    let heartbeat = rebook && !record.awaiting_action;
    let book = books_checks && (rebook || first_booking);
    let book_check_at = book.then(|| {
        // max/min rather than clamp: a corrupt stored interval must not panic the handler.
        let base = if first_booking {
            record
                .noticed_at
                .max(now.plus_seconds(-record.check_interval_seconds))
                .min(now)
        } else {
            now
        };
        next_check_at(record, base).max(now.plus_seconds(MIN_BOOKING_LEAD_SECONDS))
    });
    Upkeep {
        heartbeat,
        book_check_at,
    }
}

/// A lifecycle notice found its own action's live drain on file (a duplicate delivery, a
/// concurrent one, or the retry of an invocation that died after inserting the record and
/// before booking the check it names): the check is booked again at the very time the record
/// names, never another, since that time keeps the hook's heartbeat in time. Booking it again
/// is harmless when it is booked (the same schedule at the same time) and needed when it is
/// not: nothing tells the two apart without a read.
///
/// A DRAINING record names its booked check. A time already due is the look's to rescue
/// ([`upkeep`]: overdue, with a heartbeat first); one due within [`MIN_BOOKING_LEAD_SECONDS`]
/// is booked that far ahead, as every booking is.
///
/// A COMPLETING record's recorded time may not be its booked check's: a claim's guard check
/// (just after the lease) is not recorded, and the look that meets a fresh claim books nothing
/// ([`upkeep_while_claimed`]). But the record may name a check that was never booked (the
/// notice's invocation died after its insert, and the claim's holder died too: drain-sim seed
/// 58379), and then nothing would ever take the lapsed claim over. So the check is booked for
/// whichever comes first, the recorded time or just after the claim's lease (`lease_seconds`)
/// lapses, and never in the past. Earlier than any booked check is always heartbeat-safe.
pub fn resume_booking(
    record: &DrainRecord,
    now: Timestamp,
    books_checks: bool,
    lease_seconds: i64,
) -> Option<Timestamp> {
    if !books_checks {
        return None;
    }
    let lead = now.plus_seconds(MIN_BOOKING_LEAD_SECONDS);
    match record.status {
        DrainStatus::Draining => record
            .next_check_at
            .filter(|at| *at > now)
            .map(|at| at.max(lead)),
        DrainStatus::Completing => {
            let lapses_at = record.updated_at.plus_seconds(lease_seconds.max(0) + 1);
            let at = record
                .next_check_at
                .map_or(lapses_at, |at| at.min(lapses_at));
            Some(at.max(lead))
        }
        DrainStatus::Completed | DrainStatus::Expired => None,
    }
}

/// The upkeep of a look that finds another invocation's fresh COMPLETING claim. It writes no
/// record (the claim's holder writes next, conditionally on its claim), but a booking function
/// keeps the safety net the holder may never get to use: a check consumed by this look is
/// booked again for just after the claim's lease lapses (or one interval on, whichever comes
/// first), so a claim whose invocation
/// died between claiming and completing is taken over by that check. A check heartbeats as
/// always, keeping the hook alive until then.
pub fn upkeep_while_claimed(
    record: &DrainRecord,
    now: Timestamp,
    trigger: Trigger,
    books_checks: bool,
    lease_seconds: i64,
) -> Upkeep {
    // Only the check itself rebooks: the record's `next_check_at` is not kept up to date while
    // claimed, and any other look moving the booked check later without a heartbeat would
    // stretch the heartbeat gap past the hook's timeout (the seeds 47 and 55 bug class).
    let check_consumed = trigger == Trigger::Check;
    let book = books_checks && check_consumed;
    // No later than one interval on: the hook's heartbeat timeout may be shorter than the lease.
    let lapses_at = record
        .updated_at
        .plus_seconds(lease_seconds.max(0) + 1)
        .min(now.plus_seconds(record.check_interval_seconds));
    Upkeep {
        heartbeat: check_consumed,
        book_check_at: book.then(|| lapses_at.max(now.plus_seconds(MIN_BOOKING_LEAD_SECONDS))),
    }
}

/// Before claiming a completion, a booking function makes sure a check is booked: a drain
/// that completes on its first look has none yet, and if the invocation dies between its claim
/// and its final write, that check (just after the claim's lease) is what takes the claim over
/// and records how the drain ended. The completion leaves it to fire: it then finds the drain
/// ended (one GetItem), and the one-shot schedule deletes itself.
pub fn guard_claim(
    record: &DrainRecord,
    now: Timestamp,
    books_checks: bool,
    lease_seconds: i64,
) -> Option<Timestamp> {
    (books_checks && record.next_check_at.is_none()).then(|| {
        now.plus_seconds(
            (lease_seconds.max(0) + 1)
                .min(record.check_interval_seconds)
                .max(MIN_BOOKING_LEAD_SECONDS),
        )
    })
}
