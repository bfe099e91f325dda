//! The drainer's queue of drain events (crate::notify): what `decision::announce` says a
//! step announces is built into events from the record and the census, and queued next to
//! the step's facts. The caller publishes the queue after the invocation (best effort, see
//! [`crate::notify::publish_batches_best_effort`]); a dry run queues nothing.

use crate::census::Census;
use crate::decision::announce::Announcement;
use crate::metrics::Fact;
use crate::notify::{
    self, DrainEvent, DrainSubject, DrainTimes, StuckCause, WaitingKind, WaitingTasks,
};
use crate::ports::Ports;
use crate::record::{AliveKind, AliveSet, DrainRecord};
use crate::time::Timestamp;

use super::{Drainer, Mode, locked};

/// Most events one invocation queues: one PutEvents batch. One input announces at most three
/// (started, stuck and a completion with its deadline); an overflow is counted as not
/// published.
const MAX_QUEUED_EVENTS: usize = notify::MAX_BATCH_ENTRIES;

/// The instance a record drains, as an event names it.
fn subject(record: &DrainRecord) -> DrainSubject {
    DrainSubject {
        ec2_instance_id: record.ec2_instance_id.to_string(),
        container_instance_arn: record.container_instance_arn.to_string(),
        cluster_arn: record.cluster_arn.to_string(),
        auto_scaling_group_name: record.hook.asg_name.to_string(),
        lifecycle_hook_name: record.hook.hook_name.to_string(),
    }
}

fn times(record: &DrainRecord) -> DrainTimes {
    DrainTimes {
        started_at: record.started_at,
        deadline_at: record.deadline_at,
        hook_expires_at: record.hook_expires_at,
    }
}

/// What the record's alive set says the drain waits for (an expired drain's last view).
fn waiting_of_set(alive: Option<&AliveSet>) -> WaitingTasks {
    let Some(set) = alive else {
        return WaitingTasks::none();
    };
    WaitingTasks::summarize(set.tasks.iter().map(|task| {
        let kind = match task.kind {
            AliveKind::Replica => WaitingKind::Replica,
            AliveKind::Daemon => WaitingKind::Daemon,
            AliveKind::Standalone => WaitingKind::Standalone,
        };
        (kind, task.group.as_deref())
    }))
}

/// The event of `announcement` for the drain `record` at `now`; `census` is the look's, when
/// the step took one.
fn event_of(
    announcement: Announcement,
    record: &DrainRecord,
    census: Option<&Census>,
    now: Timestamp,
) -> DrainEvent {
    let subject = subject(record);
    let times = times(record);
    let waiting = || match census {
        Some(census) => WaitingTasks::of_live_tasks(&census.alive),
        None => waiting_of_set(record.alive.as_ref()),
    };
    match announcement {
        Announcement::Started => notify::drain_started(&subject, times, waiting(), now),
        Announcement::StuckServices => notify::drain_stuck(
            &subject,
            times,
            StuckCause::ServicesCannotMove,
            census.map_or(&[][..], |census| census.stuck_services.as_slice()),
            waiting(),
            now,
        ),
        Announcement::StuckOverdue(overdue) => {
            let mut event =
                notify::drain_stuck(&subject, times, StuckCause::Overdue, &[], waiting(), now);
            event.detail.reason = Some(overdue.describe(now));
            event
        }
        Announcement::DeadlineEnforced {
            enforcement,
            tasks_stopped,
        } => notify::deadline_enforced(&subject, times, enforcement, tasks_stopped, waiting(), now),
        Announcement::Completed { result, reason } => {
            notify::drain_completed(&subject, times, result, reason.describe(), now)
        }
        Announcement::Expired => notify::drain_expired(&subject, times, waiting(), now),
    }
}

impl<P: Ports> Drainer<P> {
    /// Queues the events of `announcements` for the drain `record` (live runs only).
    pub(super) fn announce(
        &self,
        mode: Mode,
        record: &DrainRecord,
        census: Option<&Census>,
        announcements: impl IntoIterator<Item = Announcement>,
        now: Timestamp,
    ) {
        if mode != Mode::Live {
            return;
        }
        for announcement in announcements {
            let event = event_of(announcement, record, census, now);
            let mut queue = locked(&self.events);
            if queue.len() < MAX_QUEUED_EVENTS {
                queue.push(event);
            } else {
                drop(queue);
                self.note_fact(Fact::EventsNotPublished);
            }
        }
    }

    /// The drain events queued since the last call, oldest first, for the caller to publish.
    pub fn take_events(&self) -> Vec<DrainEvent> {
        std::mem::take(&mut *locked(&self.events))
    }
}
