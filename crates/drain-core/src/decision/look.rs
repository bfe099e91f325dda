//! Whether a look at a drain needs a census, and what the record keeps of one.
//!
//! A census costs two ListTasks, a DescribeTasks per 100 tasks and (for new services) a
//! DescribeServices. Most STOPPED events of a drain only tell what the record already expects:
//! a task it waits for is gone, others are still there. Those update the alive set with one
//! conditional write and no ECS call. Everything that acts (stopping daemons, enforcing the
//! deadline, completing) only ever follows a census taken in the same look: the saving never
//! trades correctness.

use serde::{Deserialize, Serialize};

use crate::census::{Census, ListedTasks, ServiceFacts, TaskKind, TaskSnapshot, TaskStatus};
use crate::decision::Trigger;
use crate::ids::TaskArn;
use crate::record::{
    AliveKind, AliveSet, AliveTask, DrainRecord, DrainStatus, KnownStopped, MAX_ALIVE_TASKS,
};
use crate::time::Timestamp;

/// A census older than this is taken again at the next STOPPED event, even for a known task.
///
/// The alive set can be wrong in one direction only: it may still hold tasks that left without
/// an event (STOPPED events are best effort, EventBridge drops some), or miss a task placed in
/// the moments before DRAINING took effect. Neither can complete a drain early (completion
/// follows a fresh census), but the first can keep a drain waiting on a task that is gone. The
/// bound caps that wait while events still flow at two minutes, the completion-tail target of
/// issue 11, and costs at most one census per two minutes of a drain (a 1,000-task drain that
/// takes ten minutes: five more censuses). The scheduled check censuses in any case.
pub const MAX_CENSUS_AGE_SECONDS: i64 = 120;

/// An instance state change without task counts takes a census only when the last one is at
/// least this old: such events come with every task placed or stopped, and the census they
/// prompt is there to catch a lost STOPPED event, not to repeat one taken seconds ago.
pub const INSTANCE_CHANGE_MIN_AGE_SECONDS: i64 = 30;

/// What prompted a look, with what it tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cue<'a> {
    /// A lifecycle notice (the drain's start, or a redelivery).
    Lifecycle,
    /// The drain's scheduled check.
    Check,
    /// This task reached STOPPED.
    TaskStopped(&'a TaskArn),
    /// The instance changed; `tasks` is its running + pending task count, when reported.
    InstanceChanged {
        /// runningTasksCount + pendingTasksCount.
        tasks: Option<u32>,
    },
}

impl Cue<'_> {
    /// The trigger this cue is (for the upkeep rules and the logs).
    pub fn trigger(self) -> Trigger {
        match self {
            Cue::Lifecycle => Trigger::Lifecycle,
            Cue::Check => Trigger::Check,
            Cue::TaskStopped(_) => Trigger::TaskStopped,
            Cue::InstanceChanged { .. } => Trigger::InstanceChanged,
        }
    }
}

/// Which census rule a deployment runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CensusRule {
    /// A census only when [`census_needed`] says so (the default).
    #[default]
    WhenNeeded,
    /// A census on every look, as before issue 11 (kept to compare costs).
    EveryLook,
}

impl CensusRule {
    /// The setting's value (`when-needed` / `every-look`).
    pub fn as_str(self) -> &'static str {
        match self {
            CensusRule::WhenNeeded => "when-needed",
            CensusRule::EveryLook => "every-look",
        }
    }

    /// Parses [`CensusRule::as_str`].
    pub fn parse(text: &str) -> Option<CensusRule> {
        match text {
            "when-needed" => Some(CensusRule::WhenNeeded),
            "every-look" => Some(CensusRule::EveryLook),
            _ => None,
        }
    }
}

/// Why a look takes a census.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CensusReason {
    /// The deployment runs [`CensusRule::EveryLook`].
    EveryLook,
    /// A lifecycle notice: the start of a drain (after DRAINING is set), or its redelivery.
    DrainStart,
    /// The drain's scheduled check.
    ScheduledCheck,
    /// An instance state change reports more tasks than the set holds (one it does not know),
    /// or, without counts, the census is [`INSTANCE_CHANGE_MIN_AGE_SECONDS`] old.
    InstanceChanged,
    /// The drain is not plainly DRAINING (a claim may have lapsed): let the census decide.
    NotDraining,
    /// No census yet.
    NoAliveSet,
    /// The last census found more tasks than the record keeps.
    IncompleteSet,
    /// The last census is older than [`MAX_CENSUS_AGE_SECONDS`].
    StaleSet,
    /// The deadline passed: enforcement follows a fresh census.
    DeadlinePassed,
    /// A task the set does not know stopped (placed after the census, or never seen).
    UnknownTask,
    /// Only daemon tasks or nothing would be left (or an instance state change counts no more
    /// tasks than the set's daemons): confirm before stopping daemons or completing.
    OnlyDaemonsLeft,
}

impl CensusReason {
    /// A stable short name for logs.
    pub fn name(self) -> &'static str {
        match self {
            CensusReason::EveryLook => "every_look",
            CensusReason::DrainStart => "drain_start",
            CensusReason::ScheduledCheck => "scheduled_check",
            CensusReason::InstanceChanged => "instance_changed",
            CensusReason::NotDraining => "not_draining",
            CensusReason::NoAliveSet => "no_alive_set",
            CensusReason::IncompleteSet => "incomplete_set",
            CensusReason::StaleSet => "stale_set",
            CensusReason::DeadlinePassed => "deadline_passed",
            CensusReason::UnknownTask => "unknown_task",
            CensusReason::OnlyDaemonsLeft => "only_daemons_left",
        }
    }
}

/// What a look does first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Look {
    /// Take a census, then decide on it.
    Census(CensusReason),
    /// No census: the stopped task leaves the set, replica or standalone tasks remain, the
    /// drain keeps waiting with this set.
    Skip {
        /// The set once the stopped task left.
        alive: AliveSet,
        /// The record's known STOPPED tasks with the stopped one added: its event is for
        /// lastStatus STOPPED, which a task never leaves.
        known_stopped: KnownStopped,
    },
    /// No census and nothing to write: the instance state change tells nothing the set does not.
    Unchanged,
}

/// Decides whether a look at `record` at `now`, prompted by `cue`, needs a census.
pub fn census_needed(record: &DrainRecord, cue: Cue<'_>, now: Timestamp, rule: CensusRule) -> Look {
    let census = |reason| Look::Census(reason);
    if rule == CensusRule::EveryLook {
        return census(CensusReason::EveryLook);
    }
    match cue {
        Cue::Lifecycle => return census(CensusReason::DrainStart),
        Cue::Check => return census(CensusReason::ScheduledCheck),
        Cue::TaskStopped(_) | Cue::InstanceChanged { .. } => {}
    }
    if record.status != DrainStatus::Draining {
        return census(CensusReason::NotDraining);
    }
    let Some(alive) = &record.alive else {
        return census(CensusReason::NoAliveSet);
    };
    if alive.truncated > 0 {
        return census(CensusReason::IncompleteSet);
    }
    let age = now.seconds_since(alive.taken_at);
    if age > MAX_CENSUS_AGE_SECONDS {
        return census(CensusReason::StaleSet);
    }
    if now >= record.deadline_at {
        return census(CensusReason::DeadlinePassed);
    }
    let daemons = alive.counts().daemon;
    match cue {
        Cue::TaskStopped(stopped) if !alive.knows(stopped) => census(CensusReason::UnknownTask),
        Cue::TaskStopped(stopped) => {
            let left = alive.without(stopped);
            if left.counts().non_daemon() == 0 {
                census(CensusReason::OnlyDaemonsLeft)
            } else {
                Look::Skip {
                    alive: left,
                    known_stopped: record.known_stopped.with([stopped]),
                }
            }
        }
        Cue::InstanceChanged { tasks: Some(tasks) } if tasks <= daemons => {
            census(CensusReason::OnlyDaemonsLeft)
        }
        Cue::InstanceChanged { tasks: Some(tasks) } if tasks as usize > alive.tasks.len() => {
            census(CensusReason::InstanceChanged)
        }
        Cue::InstanceChanged { tasks: None } if age >= INSTANCE_CHANGE_MIN_AGE_SECONDS => {
            census(CensusReason::InstanceChanged)
        }
        Cue::InstanceChanged { .. } | Cue::Lifecycle | Cue::Check => Look::Unchanged,
    }
}

/// What the record keeps of a census taken at `now`: every alive task (up to
/// [`MAX_ALIVE_TASKS`], the rest counted), each with the time it was first seen alive (carried
/// over from `previous`).
pub fn alive_set(census: &Census, previous: Option<&AliveSet>, now: Timestamp) -> AliveSet {
    let since = |arn: &TaskArn| {
        previous
            .and_then(|set| set.tasks.iter().find(|task| &task.task_arn == arn))
            .map_or(now, |task| task.alive_since.min(now))
    };
    let tasks: Vec<AliveTask> = census
        .alive
        .iter()
        .take(MAX_ALIVE_TASKS)
        .map(|task| AliveTask {
            task_arn: task.snapshot.arn.clone(),
            group: task.snapshot.group.clone(),
            kind: match task.kind {
                TaskKind::Replica { .. } => AliveKind::Replica,
                TaskKind::Daemon { .. } => AliveKind::Daemon,
                TaskKind::Standalone => AliveKind::Standalone,
            },
            last_status: task.snapshot.last_status.as_str().to_owned(),
            alive_since: since(&task.snapshot.arn),
        })
        .collect();
    let truncated =
        u32::try_from(census.alive.len().saturating_sub(tasks.len())).unwrap_or(u32::MAX);
    AliveSet {
        taken_at: now,
        tasks,
        truncated,
    }
}

/// The services of `names` whose scheduling facts the drain does not know yet: only these are
/// described. A service's scheduling strategy (replica or daemon) is fixed when it is created,
/// so what the drain looked up once stays true for the rest of it.
pub fn services_to_describe(names: &[String], known: &[ServiceFacts]) -> Vec<String> {
    names
        .iter()
        .filter(|name| !known.iter().any(|facts| &facts.name == *name))
        .cloned()
        .collect()
}

/// The tasks a census describes, of the ARNs `listed` (both ListTasks passes, as ECS
/// answered): each once, sorted. Every task of the RUNNING listing is described, whatever
/// `known` says of it; of the STOPPED listing, only those not `known` to be STOPPED. An ARN
/// that does not read as a task ARN is described all the same (what DescribeTasks says of it
/// decides).
///
/// Why the listings are not alike: an id joins [`KnownStopped`] either from ECS's own answer
/// (a census described the task with lastStatus STOPPED) or from a STOPPED event, and an event
/// is only as true as its sender: a direct invoke of on-task-stopped by a principal of the
/// account allowed `lambda:InvokeFunction` can forge one for a task that still runs. Were
/// that enough to skip the task, every later census would miss it and the drain could stop
/// daemons or complete while it runs. ECS never lists a STOPPED task as desired RUNNING
/// (desiredStatus only moves RUNNING → STOPPED, before lastStatus can reach STOPPED), so
/// describing the whole RUNNING listing costs nothing of the saving, and a forged event can at
/// most make a census skip a task ECS is already stopping (desired STOPPED) — a task whose
/// shutdown the drain then does not wait for, which again takes an in-account principal
/// allowed to invoke the function.
pub fn tasks_to_describe(listed: &ListedTasks, known: &KnownStopped) -> Vec<String> {
    let not_known_stopped =
        |arn: &&String| !TaskArn::new(arn.as_str()).is_ok_and(|arn| known.knows(&arn));
    let mut described: Vec<String> = listed
        .running
        .iter()
        .chain(listed.stopped.iter().filter(not_known_stopped))
        .cloned()
        .collect();
    described.sort();
    described.dedup();
    described
}

/// The record's known STOPPED tasks once a census `described` these: every task it saw with
/// lastStatus STOPPED is added (as far as [`crate::record::MAX_KNOWN_STOPPED`] allows): the
/// status ECS never moves a task out of. Every other status may still move on.
pub fn known_stopped_after(known: &KnownStopped, described: &[TaskSnapshot]) -> KnownStopped {
    known.with(
        described
            .iter()
            .filter(|task| task.last_status == TaskStatus::Stopped)
            .map(|task| &task.arn),
    )
}

#[cfg(test)]
mod tests;
