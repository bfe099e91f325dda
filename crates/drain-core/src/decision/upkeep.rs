//! Keeping a waiting drain alive: whether this look heartbeats the lifecycle action, and when
//! the next scheduled check is booked. Pure: the drainer asks once per look and applies both.
//!
//! These are the rules where the simulation found the hook-timeout bugs (seeds 47 and 55): a
//! check moved later without a heartbeat stretches the heartbeat gap past the hook's timeout,
//! so whoever books a check heartbeats first.

use crate::decision::{MIN_BOOKING_LEAD_SECONDS, next_check_at};
use crate::record::DrainRecord;
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
    let heartbeat = trigger == Trigger::Check || check_overdue;
    let book = books_checks && (heartbeat || first_booking);
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
