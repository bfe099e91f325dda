//! The drain record: one DynamoDB item per container instance, the only state ecs-drain keeps.
//!
//! Every change is written conditionally on the `revision` the writer read, so two concurrent
//! invocations can never both move a drain forward: the loser sees a lost race and stops.

use serde::{Deserialize, Serialize};

use crate::census::{AliveCounts, ServiceFacts};
use crate::ids::{
    ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, LifecycleToken,
    TaskArn,
};
use crate::time::Timestamp;

mod kind;
mod stopped;
pub use kind::DrainKind;
pub use stopped::{KnownStopped, MAX_KNOWN_STOPPED, PackedTaskId};

/// Where a drain is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DrainStatus {
    /// Waiting for tasks to leave the instance.
    Draining,
    /// One invocation has claimed the completion and is calling CompleteLifecycleAction.
    Completing,
    /// The lifecycle action was completed by ecs-drain.
    Completed,
    /// The lifecycle action was already gone (completed elsewhere, or timed out).
    Expired,
}

impl DrainStatus {
    /// Completed and Expired drains never move again.
    pub fn is_terminal(self) -> bool {
        matches!(self, DrainStatus::Completed | DrainStatus::Expired)
    }

    /// The name stored in DynamoDB.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainStatus::Draining => "DRAINING",
            DrainStatus::Completing => "COMPLETING",
            DrainStatus::Completed => "COMPLETED",
            DrainStatus::Expired => "EXPIRED",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<DrainStatus> {
        match text {
            "DRAINING" => Some(DrainStatus::Draining),
            "COMPLETING" => Some(DrainStatus::Completing),
            "COMPLETED" => Some(DrainStatus::Completed),
            "EXPIRED" => Some(DrainStatus::Expired),
            _ => None,
        }
    }
}

/// Graceful until the drain deadline, then enforcing the deadline policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DrainPhase {
    /// Waiting for ECS to move tasks.
    Graceful,
    /// Past the deadline: ecs-drain has stopped what was left.
    Enforcing,
}

impl DrainPhase {
    /// The name stored in DynamoDB.
    pub fn as_str(self) -> &'static str {
        match self {
            DrainPhase::Graceful => "GRACEFUL",
            DrainPhase::Enforcing => "ENFORCING",
        }
    }

    /// Parses the stored name.
    pub fn parse(text: &str) -> Option<DrainPhase> {
        match text {
            "GRACEFUL" => Some(DrainPhase::Graceful),
            "ENFORCING" => Some(DrainPhase::Enforcing),
            _ => None,
        }
    }
}

/// The result sent with CompleteLifecycleAction. For a terminating hook both terminate the
/// instance; ABANDON skips the group's remaining hooks (and an instance lifecycle policy with
/// `TerminateHookAbandon: retain` keeps the instance instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LifecycleResult {
    /// Proceed.
    Continue,
    /// Abandon.
    Abandon,
}

impl LifecycleResult {
    /// The value the Auto Scaling API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleResult::Continue => "CONTINUE",
            LifecycleResult::Abandon => "ABANDON",
        }
    }

    /// Parses the API value.
    pub fn parse(text: &str) -> Option<LifecycleResult> {
        match text {
            "CONTINUE" => Some(LifecycleResult::Continue),
            "ABANDON" => Some(LifecycleResult::Abandon),
            _ => None,
        }
    }
}

/// Why a drain ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompletionReason {
    /// Nothing is alive on the instance.
    Drained,
    /// The deadline passed and the policy is abandon.
    DeadlineAbandoned,
    /// The deadline passed, remaining tasks were stopped one check interval ago.
    DeadlineEnforced,
    /// A claim whose invocation died (its lease lapsed) was taken over: its result, recorded
    /// with the claim and perhaps already sent, is sent again.
    SentAgain,
}

impl CompletionReason {
    /// A short phrase for logs and the record.
    pub fn describe(self) -> &'static str {
        match self {
            CompletionReason::Drained => "no task alive on the instance",
            CompletionReason::DeadlineAbandoned => "drain deadline passed, policy abandon",
            CompletionReason::DeadlineEnforced => {
                "drain deadline passed, remaining tasks were stopped"
            }
            CompletionReason::SentAgain => {
                "a lapsed completion claim taken over, its result sent again"
            }
        }
    }
}

/// The last census a drain saw, for operators asking "why is this instance still waiting?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CensusSummary {
    /// When it was taken.
    pub taken_at: Timestamp,
    /// What was alive.
    pub alive: AliveCounts,
    /// Services that can never move their tasks (min 100 % / max 100 %).
    pub stuck_services: Vec<String>,
}

/// At most this many alive tasks are kept in a record. ECS places far fewer tasks on one
/// instance in practice (the ENI, port and memory limits stop it well before), so a real drain
/// keeps its whole set; a set this large still stores in about 70 KB, far below DynamoDB's
/// 400 KB item limit. Tasks past the bound are counted in [`AliveSet::truncated`], and an
/// incomplete set is never trusted to skip a census.
pub const MAX_ALIVE_TASKS: usize = 1_000;

/// What kind of task an alive task is, which decides when a drain may stop it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AliveKind {
    /// A replica service task: ECS moves it.
    Replica,
    /// A daemon service task: stopped by ecs-drain last.
    Daemon,
    /// A RunTask / StartTask task: waited for up to the deadline.
    Standalone,
}

impl AliveKind {
    /// The name shown to operators.
    pub fn as_str(self) -> &'static str {
        match self {
            AliveKind::Replica => "replica",
            AliveKind::Daemon => "daemon",
            AliveKind::Standalone => "standalone",
        }
    }

    /// Parses [`AliveKind::as_str`].
    pub fn parse(text: &str) -> Option<AliveKind> {
        match text {
            "replica" => Some(AliveKind::Replica),
            "daemon" => Some(AliveKind::Daemon),
            "standalone" => Some(AliveKind::Standalone),
            _ => None,
        }
    }
}

/// One task a drain waits for, as its censuses saw it: what an operator asking "why is this
/// instance still draining?" reads (`drainctl explain` / `status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveTask {
    /// The task.
    pub task_arn: TaskArn,
    /// `service:<name>` or `family:<name>`, as ECS reported it (None when it reported none).
    pub group: Option<String>,
    /// Replica, daemon or standalone.
    pub kind: AliveKind,
    /// Its lastStatus at the last census (RUNNING, DEACTIVATING, STOPPING, ...).
    pub last_status: String,
    /// The first census that saw it alive during this drain.
    pub alive_since: Timestamp,
}

/// The first 8 characters of a task's id (the last part of its ARN): enough to find it in the
/// console, short enough for a log line.
pub fn short_task_id(task: &TaskArn) -> &str {
    let id = task.as_str().rsplit('/').next().unwrap_or_default();
    id.get(..8).unwrap_or(id)
}

/// The tasks alive on the instance at the drain's last census, kept up to date by STOPPED
/// events between censuses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveSet {
    /// When the census it comes from was taken.
    pub taken_at: Timestamp,
    /// The tasks (at most [`MAX_ALIVE_TASKS`]).
    pub tasks: Vec<AliveTask>,
    /// Alive tasks the census found past the bound, not kept.
    pub truncated: u32,
}

impl AliveSet {
    /// Whether `task` is in the set.
    pub fn knows(&self, task: &TaskArn) -> bool {
        self.tasks.iter().any(|alive| &alive.task_arn == task)
    }

    /// The set once `task` stopped.
    pub fn without(&self, task: &TaskArn) -> AliveSet {
        AliveSet {
            tasks: self
                .tasks
                .iter()
                .filter(|alive| &alive.task_arn != task)
                .cloned()
                .collect(),
            ..self.clone()
        }
    }

    /// The first `max` tasks for a log line or a report, each as `group/short-id lastStatus
    /// for Ns`, then how many more: bounded whatever the set holds.
    pub fn summary(&self, now: Timestamp, max: usize) -> String {
        self.lines(now, max, crate::ids::quoted).join(", ")
    }

    /// The first `max` tasks, each as `group/short-id lastStatus for Ns` with the group and
    /// status shown by `show`, then `and N more` when the set holds more (or the census found
    /// more than it kept).
    pub fn lines(&self, now: Timestamp, max: usize, show: fn(&str) -> String) -> Vec<String> {
        let mut lines: Vec<String> = self
            .tasks
            .iter()
            .take(max)
            .map(|task| {
                format!(
                    "{}/{} {} for {}s",
                    show(task.group.as_deref().unwrap_or("-")),
                    short_task_id(&task.task_arn),
                    show(&task.last_status),
                    now.seconds_since(task.alive_since).max(0)
                )
            })
            .collect();
        let more = self.tasks.len().saturating_sub(max) + self.truncated as usize;
        if more > 0 {
            lines.push(format!("and {more} more"));
        }
        lines
    }

    /// Alive tasks by kind (the kept ones).
    pub fn counts(&self) -> AliveCounts {
        let mut counts = AliveCounts::default();
        for task in &self.tasks {
            match task.kind {
                AliveKind::Replica => counts.replica += 1,
                AliveKind::Daemon => counts.daemon += 1,
                AliveKind::Standalone => counts.standalone += 1,
            }
        }
        counts
    }
}

/// One drain of one container instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrainRecord {
    /// The key.
    pub container_instance_arn: ContainerInstanceArn,
    /// The instance's cluster.
    pub cluster_arn: ClusterArn,
    /// The EC2 instance.
    pub ec2_instance_id: Ec2InstanceId,
    /// The group and hook holding the instance.
    pub hook: HookRef,
    /// The lifecycle action token.
    pub token: LifecycleToken,
    /// Life stage.
    pub status: DrainStatus,
    /// Graceful or enforcing.
    pub phase: DrainPhase,
    /// The result sent, once completed; from the completion claim on, the result claimed
    /// (sent, or about to be: see [`DrainRecord::claimed`]).
    pub result: Option<LifecycleResult>,
    /// Why the drain ended (or what it is waiting on), in words.
    pub reason: Option<String>,
    /// When the lifecycle notice was sent (the event's time), to tell stale replays apart.
    pub noticed_at: Timestamp,
    /// When ecs-drain started the drain.
    pub started_at: Timestamp,
    /// Last write.
    pub updated_at: Timestamp,
    /// When the graceful phase ends.
    pub deadline_at: Timestamp,
    /// When the hook itself gives up (min(48 h, 100 × heartbeat timeout) after the start).
    pub hook_expires_at: Option<Timestamp>,
    /// The hook's heartbeat timeout, in seconds, when known.
    pub heartbeat_timeout_seconds: Option<i64>,
    /// The planned interval between scheduled checks, in seconds.
    pub check_interval_seconds: i64,
    /// When the next scheduled check fires, if one is scheduled.
    pub next_check_at: Option<Timestamp>,
    /// Lifecycle heartbeats recorded so far.
    pub heartbeats_sent: u32,
    /// When ecs-drain stopped the daemon tasks (only daemons were left).
    pub daemons_stopped_at: Option<Timestamp>,
    /// When ecs-drain stopped everything left at the deadline.
    pub enforced_at: Option<Timestamp>,
    /// When the drain ended.
    pub finished_at: Option<Timestamp>,
    /// The last census.
    pub last_census: Option<CensusSummary>,
    /// The tasks the drain waits for: the last census's alive tasks, less those whose STOPPED
    /// event came since. None before the first census.
    pub alive: Option<AliveSet>,
    /// The scheduling facts of the services seen on the instance, looked up once per drain
    /// (a service's scheduling strategy cannot change).
    pub service_kinds: Vec<ServiceFacts>,
    /// Who holds the COMPLETING claim: an id unique to the claiming invocation, so a claim
    /// whose write succeeded but whose answer was lost is still recognised as its own.
    pub claim_id: Option<String>,
    /// When CompleteLifecycleAction was last sent without a clear answer: a later
    /// "No active Lifecycle Action" then most likely means that call took effect.
    pub completion_sent_at: Option<Timestamp>,
    /// DynamoDB TTL: when the item may be deleted.
    pub expires_at: Timestamp,
    /// Optimistic-concurrency revision; every write requires the revision it read.
    pub revision: u64,
    /// What operators did to this drain (drainctl), oldest first.
    #[serde(default)]
    pub audit: Vec<crate::decision::operator::AuditEntry>,
    /// What started the drain (absent in older records: a lifecycle action).
    #[serde(default)]
    pub kind: DrainKind,
    /// No lifecycle action holds the instance yet (an early drain): `hook` and `token` are
    /// placeholders ([`LifecycleToken::none_yet`]) until the group's terminate action joins.
    #[serde(default)]
    pub awaiting_action: bool,
    /// Replica services that cannot move within an interruption's horizon
    /// (minimumHealthyPercent of 100 or more), recorded once.
    #[serde(default)]
    pub immovable_services: Vec<String>,
    /// The drain already warned that the group also carries ECS managed draining's hook.
    #[serde(default)]
    pub coexistence_warned: bool,
    /// Tasks this drain knows are STOPPED (a census described them so, or their STOPPED event
    /// took them out of the alive set): later censuses do not describe them again while ECS
    /// lists them as desired STOPPED, and always do while it lists them as desired RUNNING
    /// (see [`KnownStopped`]). Empty in records written before it existed.
    #[serde(default)]
    pub known_stopped: KnownStopped,
}

/// The facts a new drain starts from.
#[derive(Clone, Debug)]
pub struct DrainStart {
    /// The container instance being drained.
    pub container_instance_arn: ContainerInstanceArn,
    /// Its cluster.
    pub cluster_arn: ClusterArn,
    /// The lifecycle action holding the instance.
    pub action: LifecycleActionRef,
    /// When the lifecycle notice was sent (the event's time, or now when it had none).
    pub noticed_at: Timestamp,
    /// Now.
    pub started_at: Timestamp,
    /// The hook's heartbeat timeout, when DescribeLifecycleHooks told it.
    pub heartbeat_timeout_seconds: Option<i64>,
    /// The configured graceful phase (read by the plan, not by the record).
    pub deadline_seconds: i64,
    /// How long the record is kept after the drain ends (DynamoDB TTL).
    pub retention_seconds: i64,
}

/// What the decision layer planned for a new drain (`decision::plan_start`): the record only
/// stores it, so the constructor holds no policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StartPlan {
    /// The interval between scheduled checks, in seconds.
    pub check_interval_seconds: i64,
    /// When the hook itself gives up, when its heartbeat timeout is known.
    pub hook_expires_at: Option<Timestamp>,
    /// When the graceful phase ends.
    pub deadline_at: Timestamp,
}

impl DrainRecord {
    /// A new DRAINING record from the start's facts and the plan made for them.
    pub fn start(start: DrainStart, plan: StartPlan) -> DrainRecord {
        let StartPlan {
            check_interval_seconds,
            hook_expires_at,
            deadline_at,
        } = plan;
        let LifecycleActionRef {
            hook,
            instance_id,
            token,
        } = start.action;
        DrainRecord {
            container_instance_arn: start.container_instance_arn,
            cluster_arn: start.cluster_arn,
            ec2_instance_id: instance_id,
            hook,
            token,
            status: DrainStatus::Draining,
            phase: DrainPhase::Graceful,
            result: None,
            reason: None,
            noticed_at: start.noticed_at,
            started_at: start.started_at,
            updated_at: start.started_at,
            deadline_at,
            hook_expires_at,
            heartbeat_timeout_seconds: start.heartbeat_timeout_seconds,
            check_interval_seconds,
            next_check_at: None,
            heartbeats_sent: 0,
            daemons_stopped_at: None,
            enforced_at: None,
            finished_at: None,
            last_census: None,
            alive: None,
            service_kinds: Vec::new(),
            claim_id: None,
            completion_sent_at: None,
            // Kept at least until the hook could no longer act, then the retention period.
            expires_at: hook_expires_at
                .unwrap_or(deadline_at)
                .max(deadline_at)
                .plus_seconds(start.retention_seconds),
            revision: 0,
            audit: Vec::new(),
            kind: DrainKind::Lifecycle,
            awaiting_action: false,
            immovable_services: Vec::new(),
            coexistence_warned: false,
            known_stopped: KnownStopped::default(),
        }
    }

    /// The next revision of this record, written at `now` (progress of a look).
    pub fn progressed(&self, now: Timestamp) -> DrainRecord {
        DrainRecord {
            revision: self.revision + 1,
            updated_at: now,
            ..self.clone()
        }
    }

    /// The COMPLETING claim of this drain by the invocation `claim_id`, to complete with
    /// `result`. The result is recorded with the claim: once the claim is written, that result
    /// may reach Auto Scaling, so whoever finishes the drain after this invocation (a takeover
    /// of a lapsed claim, a warm-pool return) records and sends that one, never a new decision.
    pub fn claimed(
        &self,
        now: Timestamp,
        claim_id: String,
        result: LifecycleResult,
    ) -> DrainRecord {
        DrainRecord {
            status: DrainStatus::Completing,
            claim_id: Some(claim_id),
            result: Some(result),
            ..self.progressed(now)
        }
    }

    /// Whether `self` (as stored now) is exactly the claim `claim` wrote: a claim whose write
    /// took effect though its answer was lost.
    pub fn holds_claim(&self, claim: &DrainRecord) -> bool {
        self.status == DrainStatus::Completing
            && self.claim_id == claim.claim_id
            && self.revision == claim.revision
    }

    /// The claim given back after CompleteLifecycleAction failed at `now` without a clear
    /// answer: DRAINING again, with the send noted (`completion_sent_at`).
    pub fn released(&self, now: Timestamp) -> DrainRecord {
        DrainRecord {
            status: DrainStatus::Draining,
            claim_id: None,
            completion_sent_at: Some(now),
            ..self.progressed(now)
        }
    }

    /// The drain ended at `now` with `status` (COMPLETED or EXPIRED), the result sent (if any)
    /// and why: no check is booked any more. COMPLETED without a result given keeps the claimed
    /// one; EXPIRED keeps none (no completion of this drain ended the action).
    pub fn ended(
        &self,
        now: Timestamp,
        status: DrainStatus,
        result: Option<LifecycleResult>,
        reason: String,
    ) -> DrainRecord {
        DrainRecord {
            status,
            result: match status {
                DrainStatus::Completed => result.or(self.result),
                _ => result,
            },
            reason: Some(reason),
            finished_at: Some(now),
            next_check_at: None,
            ..self.progressed(now)
        }
    }

    /// The lifecycle action this drain holds.
    pub fn action(&self) -> LifecycleActionRef {
        LifecycleActionRef {
            hook: self.hook.clone(),
            instance_id: self.ec2_instance_id.clone(),
            token: self.token.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for status in [
            DrainStatus::Draining,
            DrainStatus::Completing,
            DrainStatus::Completed,
            DrainStatus::Expired,
        ] {
            assert_eq!(DrainStatus::parse(status.as_str()), Some(status));
        }
        for phase in [DrainPhase::Graceful, DrainPhase::Enforcing] {
            assert_eq!(DrainPhase::parse(phase.as_str()), Some(phase));
        }
        for result in [LifecycleResult::Continue, LifecycleResult::Abandon] {
            assert_eq!(LifecycleResult::parse(result.as_str()), Some(result));
        }
        assert_eq!(DrainStatus::parse("draining"), None);
    }

    #[test]
    fn only_completed_and_expired_are_terminal() {
        assert!(!DrainStatus::Draining.is_terminal());
        assert!(!DrainStatus::Completing.is_terminal());
        assert!(DrainStatus::Completed.is_terminal());
        assert!(DrainStatus::Expired.is_terminal());
    }

    /// The sample drain without a heartbeat timeout, with its plan given here: the record
    /// alone, not the planning rules, is under test.
    fn sample() -> DrainRecord {
        DrainRecord::start(
            DrainStart {
                heartbeat_timeout_seconds: None,
                ..crate::testing::sample::drain_start()
            },
            StartPlan {
                check_interval_seconds: 60,
                hook_expires_at: None,
                deadline_at: Timestamp(1_003_600),
            },
        )
    }

    #[test]
    fn the_record_stores_its_plan_and_expires_after_the_deadline_and_retention() {
        let record = sample();
        assert_eq!(
            (
                record.check_interval_seconds,
                record.deadline_at,
                record.hook_expires_at
            ),
            (60, Timestamp(1_003_600), None)
        );
        assert_eq!(record.expires_at, Timestamp(1_003_600 + 86_400));
        assert_eq!(
            (record.status, record.phase, record.revision),
            (DrainStatus::Draining, DrainPhase::Graceful, 0)
        );
    }

    #[test]
    fn a_claim_is_recognised_as_its_own_and_given_back_with_the_send_noted() {
        let now = Timestamp(1_000_500);
        let claim = sample().claimed(now, "c-1".into(), LifecycleResult::Continue);
        assert_eq!(
            (claim.status, claim.revision, claim.updated_at),
            (DrainStatus::Completing, 1, now)
        );
        assert!(claim.holds_claim(&claim));
        assert!(
            !sample()
                .claimed(now, "c-2".into(), LifecycleResult::Continue)
                .holds_claim(&claim),
            "another invocation's claim"
        );
        assert!(!claim.progressed(now).holds_claim(&claim), "a later write");
        let released = claim.released(now);
        assert_eq!(
            (
                released.status,
                released.claim_id.clone(),
                released.completion_sent_at,
                released.revision
            ),
            (DrainStatus::Draining, None, Some(now), 2)
        );
    }

    #[test]
    fn an_ended_drain_books_no_check_and_keeps_a_result_only_when_one_was_sent() {
        let now = Timestamp(1_000_900);
        let waiting = DrainRecord {
            next_check_at: Some(Timestamp(1_000_960)),
            ..sample()
        };
        let completed = waiting.ended(
            now,
            DrainStatus::Completed,
            Some(LifecycleResult::Continue),
            "drained".into(),
        );
        assert_eq!(
            (
                completed.status,
                completed.result,
                completed.finished_at,
                completed.next_check_at
            ),
            (
                DrainStatus::Completed,
                Some(LifecycleResult::Continue),
                Some(now),
                None
            )
        );
        assert_eq!(
            (completed.revision, completed.reason.as_deref()),
            (1, Some("drained"))
        );
        let expired = waiting.ended(now, DrainStatus::Expired, None, "gone".into());
        assert_eq!(
            (expired.status, expired.result, expired.next_check_at),
            (DrainStatus::Expired, None, None)
        );
    }
}
