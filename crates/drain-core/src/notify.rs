//! Drain events: what ecs-drain tells other teams' automations, as EventBridge events on the
//! account's default bus (`source: ecs-drain`), one per drain transition — started, stuck,
//! deadline enforced, completed, expired.
//!
//! The detail is a versioned, documented schema (docs/drain-events.md, checked by
//! docs/drain-events.schema.json): [`SCHEMA_VERSION`] changes only when a field is removed,
//! renamed or changes meaning; new fields are added under the same version, so a consumer
//! ignores what it does not know. Every field is always present (`null` when unknown) so a
//! rule can match on it.
//!
//! Each transition has a pure builder ([`drain_started`], [`drain_stuck`],
//! [`deadline_enforced`], [`drain_completed`], [`drain_expired`]) taking plain inputs, and
//! every list and text is capped so an entry stays far below EventBridge's 256 KB limit
//! ([`MAX_ENTRY_BYTES`]). Publishing is best effort: the [`DrainNotifier`] port returns a
//! result the caller only counts (metric [`crate::metrics::EVENTS_NOT_PUBLISHED`]); a failed
//! publish never changes a drain.

use std::future::Future;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::census::{LiveTask, TaskKind};
use crate::config::ConfigError;
use crate::error::BoxError;
use crate::record::LifecycleResult;
use crate::time::Timestamp;

/// The `source` of every drain event.
pub const SOURCE: &str = "ecs-drain";
/// The detail schema's version (`detail.schemaVersion`).
pub const SCHEMA_VERSION: u32 = 1;
/// Env var: `on` (default) or `off`; off publishes nothing.
pub const ENV_EVENTS: &str = "ECS_DRAIN_EVENTS";

/// EventBridge's limit on one PutEvents entry (detail, detail-type, source, resources, time).
pub const MAX_ENTRY_BYTES: usize = 256 * 1024;
/// Most task groups listed in `waiting.groups` (the largest first); the rest are counted in
/// `waiting.groupsOmitted`.
pub const MAX_WAITING_GROUPS: usize = 25;
/// Most services listed in `stuckServices`; the rest are counted in `stuckServicesOmitted`.
pub const MAX_STUCK_SERVICES: usize = 25;
/// Longest name kept (groups, hooks, services, task groups: AWS allows 255).
pub const MAX_NAME_CHARS: usize = 255;
/// Longest ARN kept.
pub const MAX_ARN_CHARS: usize = 1600;
/// Longest `reason` kept.
pub const MAX_REASON_CHARS: usize = 512;

/// A drain transition; each is one `detail-type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transition {
    /// A drain record was written for a terminate notice.
    Started,
    /// The drain cannot finish by itself: services that can never move, or overdue.
    Stuck,
    /// The deadline passed: remaining tasks were stopped, or the action abandoned.
    DeadlineEnforced,
    /// The lifecycle action was completed.
    Completed,
    /// The lifecycle action was gone before ecs-drain completed it.
    Expired,
}

impl Transition {
    /// Every transition, in drain order.
    pub const ALL: [Transition; 5] = [
        Transition::Started,
        Transition::Stuck,
        Transition::DeadlineEnforced,
        Transition::Completed,
        Transition::Expired,
    ];

    /// The event's `detail-type`.
    pub fn detail_type(self) -> &'static str {
        match self {
            Transition::Started => "ECS Drain Started",
            Transition::Stuck => "ECS Drain Stuck",
            Transition::DeadlineEnforced => "ECS Drain Deadline Enforced",
            Transition::Completed => "ECS Drain Completed",
            Transition::Expired => "ECS Drain Expired",
        }
    }

    /// `detail.transition`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Started => "started",
            Transition::Stuck => "stuck",
            Transition::DeadlineEnforced => "deadline-enforced",
            Transition::Completed => "completed",
            Transition::Expired => "expired",
        }
    }
}

/// Why a drain is stuck.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StuckCause {
    /// Services whose deployment settings (min 100 % / max 100 %) never let ECS move a task.
    ServicesCannotMove,
    /// A check or the deadline is past and nothing happened.
    Overdue,
}

/// What the deadline did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Enforcement {
    /// Policy `continue`: the remaining tasks were stopped.
    StopTasks,
    /// Policy `abandon`: the lifecycle action was completed with ABANDON.
    Abandon,
}

/// The kind of a task a drain waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WaitingKind {
    /// A replica service task.
    Replica,
    /// A daemon service task.
    Daemon,
    /// A RunTask / StartTask task.
    Standalone,
}

impl WaitingKind {
    /// The kind of a classified task.
    pub fn of(kind: &TaskKind) -> WaitingKind {
        match kind {
            TaskKind::Replica { .. } => WaitingKind::Replica,
            TaskKind::Daemon { .. } => WaitingKind::Daemon,
            TaskKind::Standalone => WaitingKind::Standalone,
        }
    }
}

/// The instance a drain is about: plain names, as the record holds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainSubject {
    /// The EC2 instance id.
    pub ec2_instance_id: String,
    /// The ECS container instance ARN.
    pub container_instance_arn: String,
    /// The cluster's ARN.
    pub cluster_arn: String,
    /// The Auto Scaling group.
    pub auto_scaling_group_name: String,
    /// The lifecycle hook.
    pub lifecycle_hook_name: String,
}

/// When the drain started and when it must end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainTimes {
    /// When ecs-drain started the drain.
    pub started_at: Timestamp,
    /// When the graceful phase ends.
    pub deadline_at: Timestamp,
    /// When the hook itself gives up, when known.
    pub hook_expires_at: Option<Timestamp>,
}

/// Tasks of one group (`service:<name>` or `family:<name>`) the drain waits for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingGroup {
    /// The task group, as ECS names it (capped at [`MAX_NAME_CHARS`]).
    pub group: String,
    /// Its kind.
    pub kind: WaitingKind,
    /// How many of its tasks are alive on the instance.
    pub tasks: u32,
}

/// The tasks a drain waits for: counts per kind and the largest groups.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaitingTasks {
    /// Alive tasks of every kind.
    pub total: u32,
    /// Replica service tasks.
    pub replica: u32,
    /// Daemon service tasks.
    pub daemon: u32,
    /// Standalone tasks.
    pub standalone: u32,
    /// At most [`MAX_WAITING_GROUPS`] groups, most tasks first, then by name.
    pub groups: Vec<WaitingGroup>,
    /// Groups left out of `groups`.
    pub groups_omitted: u32,
}

impl WaitingTasks {
    /// Nothing left: what a completed or expired drain waits for.
    pub fn none() -> WaitingTasks {
        WaitingTasks::default()
    }

    /// Summarizes `(kind, group)` pairs, one per alive task (`group` is ECS's task group;
    /// `None` is listed as `unknown`).
    pub fn summarize<'a>(
        tasks: impl IntoIterator<Item = (WaitingKind, Option<&'a str>)>,
    ) -> WaitingTasks {
        let mut summary = WaitingTasks::default();
        let mut groups: std::collections::BTreeMap<(String, WaitingKind), u32> =
            std::collections::BTreeMap::new();
        for (kind, group) in tasks {
            summary.total = summary.total.saturating_add(1);
            let counter = match kind {
                WaitingKind::Replica => &mut summary.replica,
                WaitingKind::Daemon => &mut summary.daemon,
                WaitingKind::Standalone => &mut summary.standalone,
            };
            *counter = counter.saturating_add(1);
            let name = capped(group.unwrap_or("unknown"), MAX_NAME_CHARS);
            let tasks = groups.entry((name, kind)).or_insert(0);
            *tasks = tasks.saturating_add(1);
        }
        let mut listed: Vec<WaitingGroup> = groups
            .into_iter()
            .map(|((group, kind), tasks)| WaitingGroup { group, kind, tasks })
            .collect();
        // Most tasks first: the groups holding the drain are what an on-call reads first.
        listed.sort_by(|a, b| b.tasks.cmp(&a.tasks).then_with(|| a.group.cmp(&b.group)));
        summary.groups_omitted = count_u32(listed.len().saturating_sub(MAX_WAITING_GROUPS));
        listed.truncate(MAX_WAITING_GROUPS);
        summary.groups = listed;
        summary
    }

    /// Summarizes a census's live tasks.
    pub fn of_live_tasks(tasks: &[LiveTask]) -> WaitingTasks {
        WaitingTasks::summarize(
            tasks
                .iter()
                .map(|task| (WaitingKind::of(&task.kind), task.snapshot.group.as_deref())),
        )
    }
}

/// `detail` of a drain event (schema version [`SCHEMA_VERSION`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DrainEventDetail {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The transition (`started`, `stuck`, `deadline-enforced`, `completed`, `expired`).
    pub transition: Transition,
    /// The EC2 instance id.
    pub ec2_instance_id: String,
    /// The container instance ARN.
    pub container_instance_arn: String,
    /// The cluster ARN.
    pub cluster_arn: String,
    /// The Auto Scaling group.
    pub auto_scaling_group_name: String,
    /// The lifecycle hook.
    pub lifecycle_hook_name: String,
    /// Why, in words (capped at [`MAX_REASON_CHARS`]); `null` when there is nothing to say.
    pub reason: Option<String>,
    /// The lifecycle result sent (`completed`, and `deadline-enforced` with abandon).
    pub result: Option<LifecycleResult>,
    /// `stuck` only: why.
    pub stuck_cause: Option<StuckCause>,
    /// `stuck` only: services that can never move (at most [`MAX_STUCK_SERVICES`]).
    pub stuck_services: Vec<String>,
    /// Stuck services left out of `stuckServices`.
    pub stuck_services_omitted: u32,
    /// `deadline-enforced` only: what the deadline did.
    pub enforcement: Option<Enforcement>,
    /// `deadline-enforced` with `stop-tasks` only: tasks ecs-drain asked ECS to stop.
    pub tasks_stopped: Option<u32>,
    /// What the drain waits for at this transition.
    pub waiting: WaitingTasks,
    /// When the transition happened (RFC 3339, UTC).
    pub occurred_at: String,
    /// When the drain started.
    pub started_at: String,
    /// When the graceful phase ends.
    pub deadline_at: String,
    /// When the hook itself gives up, when known.
    pub hook_expires_at: Option<String>,
}

/// One drain event, ready for PutEvents.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainEvent {
    /// [`SOURCE`].
    pub source: &'static str,
    /// The `detail-type`.
    pub detail_type: &'static str,
    /// The container instance ARN: what the event is about.
    pub resources: Vec<String>,
    /// When the transition happened.
    pub time: Timestamp,
    /// The detail.
    pub detail: DrainEventDetail,
}

impl DrainEvent {
    /// The detail as the JSON text PutEvents sends.
    pub fn detail_json(&self) -> String {
        // A struct of strings, numbers and enums always serializes; the fallback only keeps
        // the signature total.
        serde_json::to_string(&self.detail).unwrap_or_else(|_| String::from("{}"))
    }

    /// The entry's size as EventBridge counts it (UTF-8 bytes of detail, detail-type,
    /// source, resources, and 14 for the time).
    pub fn entry_bytes(&self) -> usize {
        self.detail_json().len()
            + self.detail_type.len()
            + self.source.len()
            + self.resources.iter().map(String::len).sum::<usize>()
            + 14
    }
}

/// `s` cut to `max` characters.
fn capped(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn base(
    transition: Transition,
    subject: &DrainSubject,
    times: DrainTimes,
    waiting: WaitingTasks,
    at: Timestamp,
) -> DrainEvent {
    let container_instance_arn = capped(&subject.container_instance_arn, MAX_ARN_CHARS);
    DrainEvent {
        source: SOURCE,
        detail_type: transition.detail_type(),
        resources: vec![container_instance_arn.clone()],
        time: at,
        detail: DrainEventDetail {
            schema_version: SCHEMA_VERSION,
            transition,
            ec2_instance_id: capped(&subject.ec2_instance_id, MAX_NAME_CHARS),
            container_instance_arn,
            cluster_arn: capped(&subject.cluster_arn, MAX_ARN_CHARS),
            auto_scaling_group_name: capped(&subject.auto_scaling_group_name, MAX_NAME_CHARS),
            lifecycle_hook_name: capped(&subject.lifecycle_hook_name, MAX_NAME_CHARS),
            reason: None,
            result: None,
            stuck_cause: None,
            stuck_services: Vec::new(),
            stuck_services_omitted: 0,
            enforcement: None,
            tasks_stopped: None,
            waiting,
            occurred_at: at.to_rfc3339(),
            started_at: times.started_at.to_rfc3339(),
            deadline_at: times.deadline_at.to_rfc3339(),
            hook_expires_at: times.hook_expires_at.map(Timestamp::to_rfc3339),
        },
    }
}

fn reason_text(reason: &str) -> Option<String> {
    let reason = reason.trim();
    (!reason.is_empty()).then(|| capped(reason, MAX_REASON_CHARS))
}

/// `started`: a drain record was written; `waiting` is the first census.
pub fn drain_started(
    subject: &DrainSubject,
    times: DrainTimes,
    waiting: WaitingTasks,
    at: Timestamp,
) -> DrainEvent {
    base(Transition::Started, subject, times, waiting, at)
}

/// `stuck`: the drain cannot finish by itself. `stuck_services` are the services that can
/// never move (sorted, deduplicated, capped at [`MAX_STUCK_SERVICES`]).
pub fn drain_stuck(
    subject: &DrainSubject,
    times: DrainTimes,
    cause: StuckCause,
    stuck_services: &[String],
    waiting: WaitingTasks,
    at: Timestamp,
) -> DrainEvent {
    let mut event = base(Transition::Stuck, subject, times, waiting, at);
    let mut services: Vec<String> = stuck_services
        .iter()
        .map(|name| capped(name, MAX_NAME_CHARS))
        .collect();
    services.sort();
    services.dedup();
    event.detail.stuck_services_omitted =
        count_u32(services.len().saturating_sub(MAX_STUCK_SERVICES));
    services.truncate(MAX_STUCK_SERVICES);
    event.detail.reason = Some(match cause {
        StuckCause::ServicesCannotMove => {
            "services whose deployment settings never let ECS move a task".to_owned()
        }
        StuckCause::Overdue => "a check or the deadline is past and nothing happened".to_owned(),
    });
    event.detail.stuck_cause = Some(cause);
    event.detail.stuck_services = services;
    event
}

/// `deadline-enforced`: the graceful phase ended. With [`Enforcement::StopTasks`],
/// `tasks_stopped` tasks were asked to stop and `waiting` is what was alive before; with
/// [`Enforcement::Abandon`] the action was completed with ABANDON.
pub fn deadline_enforced(
    subject: &DrainSubject,
    times: DrainTimes,
    enforcement: Enforcement,
    tasks_stopped: u32,
    waiting: WaitingTasks,
    at: Timestamp,
) -> DrainEvent {
    let mut event = base(Transition::DeadlineEnforced, subject, times, waiting, at);
    event.detail.enforcement = Some(enforcement);
    match enforcement {
        Enforcement::StopTasks => {
            event.detail.tasks_stopped = Some(tasks_stopped);
            event.detail.reason = Some("the deadline passed: remaining tasks stopped".to_owned());
        }
        Enforcement::Abandon => {
            event.detail.result = Some(LifecycleResult::Abandon);
            event.detail.reason = Some("the deadline passed: policy abandon".to_owned());
        }
    }
    event
}

/// `completed`: the lifecycle action was completed with `result`, for `reason`.
pub fn drain_completed(
    subject: &DrainSubject,
    times: DrainTimes,
    result: LifecycleResult,
    reason: &str,
    at: Timestamp,
) -> DrainEvent {
    let mut event = base(
        Transition::Completed,
        subject,
        times,
        WaitingTasks::none(),
        at,
    );
    event.detail.result = Some(result);
    event.detail.reason = reason_text(reason);
    event
}

/// `expired`: the lifecycle action was gone before ecs-drain completed it; the hook's default
/// result applied. `waiting` is what was still alive, when known.
pub fn drain_expired(
    subject: &DrainSubject,
    times: DrainTimes,
    waiting: WaitingTasks,
    at: Timestamp,
) -> DrainEvent {
    let mut event = base(Transition::Expired, subject, times, waiting, at);
    event.detail.reason =
        Some("the lifecycle action was gone before ecs-drain completed it".to_owned());
    event
}

/// Reads [`ENV_EVENTS`] through `lookup`: unset or empty is on.
pub fn events_enabled(lookup: impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    let Some(value) = lookup(ENV_EVENTS).map(|value| value.trim().to_ascii_lowercase()) else {
        return Ok(true);
    };
    match value.as_str() {
        "" | "on" | "true" | "1" => Ok(true),
        "off" | "false" | "0" => Ok(false),
        _ => Err(ConfigError::Invalid {
            name: ENV_EVENTS,
            value,
            expected: "on or off",
        }),
    }
}

/// Why an event was not published.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The call failed (network, throttling, a denied permission, ...).
    #[error("events:PutEvents failed")]
    Call {
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// EventBridge accepted the call but refused the entry (`FailedEntryCount` > 0).
    #[error("EventBridge refused the entry: {code}: {message}")]
    Refused {
        /// The entry's error code (capped).
        code: String,
        /// The entry's error message (capped).
        message: String,
    },
}

impl NotifyError {
    /// A refusal, with code and message capped for the log line.
    pub fn refused(code: &str, message: &str) -> NotifyError {
        NotifyError::Refused {
            code: capped(code, 64),
            message: capped(message, 256),
        }
    }
}

impl NotifyError {
    /// The error and its causes on one line, capped at [`MAX_ERROR_CHARS`] characters: what
    /// the warning of a failed publish logs.
    pub fn describe(&self) -> String {
        let mut text = self.to_string();
        let mut cause = std::error::Error::source(self);
        while let Some(error) = cause {
            text.push_str(": ");
            text.push_str(&error.to_string());
            cause = error.source();
        }
        capped(&text, MAX_ERROR_CHARS)
    }
}

/// Longest error text [`NotifyError::describe`] gives.
pub const MAX_ERROR_CHARS: usize = 512;

/// Most entries one PutEvents call takes.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Most bytes one PutEvents call takes (its entries counted as in [`DrainEvent::entry_bytes`]).
pub const MAX_BATCH_BYTES: usize = 256 * 1024;

/// `events` cut into PutEvents batches, in order: at most [`MAX_BATCH_ENTRIES`] entries and
/// [`MAX_BATCH_BYTES`] bytes each (an entry is far smaller, see [`MAX_ENTRY_BYTES`]). A drain
/// step's few events are one batch. Pure.
pub fn batches(events: &[DrainEvent]) -> Vec<&[DrainEvent]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (index, event) in events.iter().enumerate() {
        let size = event.entry_bytes();
        let full = index - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES;
        if full && index > start {
            batches.push(&events[start..index]);
            start = index;
            bytes = 0;
        }
        bytes += size;
    }
    if start < events.len() {
        batches.push(&events[start..]);
    }
    batches
}

/// A batch that was not wholly published.
#[derive(Debug, thiserror::Error)]
#[error("{not_published} drain event(s) not published")]
pub struct BatchError {
    /// How many of the batch's events were not published.
    pub not_published: u32,
    /// The first failure, for the log line.
    #[source]
    pub first: NotifyError,
}

/// Publishes `events` through `notifier`, best effort, one call per batch ([`batches`]): a
/// failure is logged (one bounded warning per batch, naming the transitions of the first
/// event and the instance) and counted in the answer, how many events were not published,
/// for the caller to count as [`crate::metrics::EVENTS_NOT_PUBLISHED`]. Never fails and
/// never panics.
pub async fn publish_best_effort(notifier: &impl DrainNotifier, events: &[DrainEvent]) -> u32 {
    let mut not_published = 0u32;
    for batch in batches(events) {
        if let Err(error) = notifier.publish_batch(batch).await {
            let first = batch.first().map(|event| &event.detail);
            tracing::warn!(
                not_published = error.not_published,
                transition = first.map(|detail| detail.transition.as_str()),
                ec2_instance_id = first.map(|detail| detail.ec2_instance_id.as_str()),
                container_instance_arn =
                    first.map(|detail| detail.container_instance_arn.as_str()),
                error = %error.first.describe(),
                "drain events not published"
            );
            not_published = not_published.saturating_add(error.not_published);
        }
    }
    not_published
}

/// Publishes drain events. Best effort: the caller counts an error
/// ([`crate::metrics::EVENTS_NOT_PUBLISHED`]) and logs it, and the drain goes on.
pub trait DrainNotifier: Send + Sync {
    /// Publishes one event.
    fn publish(&self, event: &DrainEvent) -> impl Future<Output = Result<(), NotifyError>> + Send;

    /// Publishes one batch (at most [`MAX_BATCH_ENTRIES`] events, [`MAX_BATCH_BYTES`] bytes).
    /// By default one event at a time; an adapter sends the batch in one call.
    fn publish_batch(
        &self,
        events: &[DrainEvent],
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        async move {
            let mut failure: Option<BatchError> = None;
            for event in events {
                if let Err(error) = self.publish(event).await {
                    match &mut failure {
                        Some(failed) => failed.not_published += 1,
                        None => {
                            failure = Some(BatchError {
                                not_published: 1,
                                first: error,
                            });
                        }
                    }
                }
            }
            failure.map_or(Ok(()), Err)
        }
    }
}

/// The notifier when [`ENV_EVENTS`] is off: publishes nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoNotifier;

impl DrainNotifier for NoNotifier {
    async fn publish(&self, _event: &DrainEvent) -> Result<(), NotifyError> {
        Ok(())
    }
}

/// In-memory notifier for tests and the simulation: keeps what it published; can be told to
/// refuse every publish.
#[derive(Debug, Default)]
pub struct MemoryNotifier {
    published: Mutex<Vec<DrainEvent>>,
    failing: Mutex<bool>,
}

impl MemoryNotifier {
    /// An empty notifier that accepts everything.
    pub fn new() -> MemoryNotifier {
        MemoryNotifier::default()
    }

    /// Makes every later publish fail (`true`) or succeed (`false`).
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap_or_else(|e| e.into_inner()) = failing;
    }

    /// What was published, in order.
    pub fn published(&self) -> Vec<DrainEvent> {
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl DrainNotifier for MemoryNotifier {
    async fn publish(&self, event: &DrainEvent) -> Result<(), NotifyError> {
        if *self.failing.lock().unwrap_or_else(|e| e.into_inner()) {
            return Err(NotifyError::refused(
                "InternalFailure",
                "the in-memory notifier is set to fail",
            ));
        }
        self.published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(event.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
