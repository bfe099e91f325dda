//! The use cases both functions run: start a drain from a lifecycle notice, look again when a
//! task stops, and run a scheduled check. They read facts through the ports, ask
//! [`crate::decision`] what to do, and apply the answer with conditional writes.
//!
//! In [`Mode::DryRun`] (archive replays by default) every read still happens and every write
//! or mutating call is logged as `would_call` instead of made.

use std::future::Future;

use tracing::{debug, info, warn};

use crate::census::Census;
use crate::config::Config;
use crate::decision::announce::{completion_announcements, look_announcements};
use crate::decision::facts::{completion_fact, expiry_fact, look_facts};
use crate::decision::look::{
    CensusReason, Cue, Look, alive_set, census_needed, known_stopped_after, services_to_describe,
    tasks_to_describe,
};
use crate::decision::recovery::{
    AfterLostWrite, ClaimRetry, after_lost_claim, after_lost_start, retry_claim,
};
use crate::decision::spot::awaiting::{AwaitingLook, awaiting_look};
use crate::decision::spot::terminate_joins_drain;
use crate::decision::start::{HeartbeatTimeout, believable_notice_time, heartbeat_timeout};
use crate::decision::verify::{
    AfterExpiry, FunctionIdentity, Refusal, after_expiry, expired_undrained, verify_origin,
    verify_termination,
};
use crate::decision::{
    ActionOutcome, Admission, CompletionReason, Decision, Trigger, WaitingOn, admit,
    completion_outcome, decide, guard_claim, resume_booking, sets_draining, start_drain, upkeep,
    upkeep_while_claimed,
};
use crate::error::{DrainError, error_chain};
use crate::event::{InstanceStateChange, TaskStateChange, TerminateNotice};
use crate::ids::{ClusterArn, ContainerInstanceArn, LifecycleActionRef};
use crate::metrics::{Fact, MAX_FACTS};
use crate::ports::{
    ActionAnswer, CheckScheduler, Cluster, ContainerInstance, DrainStore, EcsInstanceStatus,
    InsertOutcome, LifecycleHooks, Ports, WriteOutcome,
};
use crate::record::{
    AliveSet, CensusSummary, DrainPhase, DrainRecord, DrainStart, DrainStatus, KnownStopped,
    LifecycleResult,
};
use crate::time::{Clock, Timestamp};

mod launch;
pub use launch::LaunchOutcome;

/// Whether mutations happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Make the calls.
    Live,
    /// Log the calls that would be made; mutate nothing.
    DryRun,
}

/// The stopped reason ecs-drain gives daemon tasks it stops.
pub const DAEMON_STOP_REASON: &str =
    "ecs-drain: only daemon tasks remain on this draining container instance";
/// The stopped reason ecs-drain gives tasks it stops at the drain deadline.
pub const DEADLINE_STOP_REASON: &str =
    "ecs-drain: drain deadline reached before the task left this container instance";

/// At most this many waiting tasks are named in one log line.
const MAX_LOGGED_TASKS: usize = 5;

/// How many times a lost completion claim is retried against a fresher record.
const CLAIM_RETRIES: usize = 2;

/// What one invocation did, for logs and tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The input asked for nothing (another hook, another cluster, not a termination).
    Ignored {
        /// Why.
        reason: String,
    },
    /// The instance has no live drain: nothing to do.
    NotDraining,
    /// The EC2 instance is not (or no longer) an ECS container instance: completed at once.
    CompletedUntracked {
        /// What the completion call found.
        outcome: ActionOutcome,
        /// Why no drain was needed.
        reason: String,
    },
    /// The notice's action already ended.
    AlreadyFinished,
    /// An older or undated notice for an instance with a known drain: ignored.
    Stale,
    /// Another invocation wrote first; it carries the drain on.
    LostRace,
    /// An early notice (Spot warning, rebalance) for an instance whose drain already runs:
    /// kept, its deadline moved to the notice's horizon when that is earlier.
    Joined {
        /// The drain's deadline moved earlier.
        deadline_moved: bool,
    },
    /// An early drain that no lifecycle action joined in time ended without a completion.
    EndedWithoutAction,
    /// The drain was looked at and this decision applied.
    Decided(Decision),
    /// The lifecycle action was already gone when ecs-drain acted: the drain is EXPIRED.
    ActionGone,
    /// The input was not confirmed (Auto Scaling does not report the termination, or it is
    /// for another account or region): nothing changed.
    Refused {
        /// Why.
        refusal: Refusal,
    },
    /// A pending launch was looked at (launch readiness).
    Launch(LaunchOutcome),
}

/// The use cases, over one bundle of ports.
#[derive(Debug)]
pub struct Drainer<P> {
    ports: P,
    config: Config,
    /// What the use cases did that an operator counts, until the handler takes it. The
    /// functions run one invocation at a time per process, so these are one invocation's.
    facts: std::sync::Mutex<Vec<Fact>>,
    /// The drain events to publish after the invocation (see `announce`), likewise.
    events: std::sync::Mutex<Vec<crate::notify::DrainEvent>>,
}

impl<P: Ports> Drainer<P> {
    /// The use cases over `ports`, with these settings.
    pub fn new(ports: P, config: Config) -> Self {
        Drainer {
            ports,
            config,
            facts: std::sync::Mutex::new(Vec::new()),
            events: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Records a fact for the metrics (at most [`MAX_FACTS`] until taken).
    pub fn note_fact(&self, fact: Fact) {
        let mut facts = locked(&self.facts);
        if facts.len() < MAX_FACTS {
            facts.push(fact);
        }
    }

    /// The facts recorded since the last call.
    pub fn take_facts(&self) -> Vec<Fact> {
        std::mem::take(&mut *locked(&self.facts))
    }

    /// A dry run changes nothing, so it counts nothing.
    fn note(&self, mode: Mode, facts: impl IntoIterator<Item = Fact>) {
        if mode == Mode::Live {
            facts.into_iter().for_each(|fact| self.note_fact(fact));
        }
    }

    /// The ports this drainer runs over.
    pub fn ports(&self) -> &P {
        &self.ports
    }

    fn cluster(&self) -> &P::Cluster {
        self.ports.cluster()
    }

    fn hooks(&self) -> &P::Hooks {
        self.ports.hooks()
    }

    fn store(&self) -> &P::Store {
        self.ports.store()
    }

    fn scheduler(&self) -> &P::Scheduler {
        self.ports.scheduler()
    }

    fn now(&self) -> Timestamp {
        self.ports.clock().now()
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The mode for an event that may be an archive replay.
    pub fn mode_for(&self, replay_name: Option<&str>) -> Mode {
        match (replay_name, self.config.replay_mode) {
            (Some(_), crate::config::ReplayMode::DryRun) => Mode::DryRun,
            _ => Mode::Live,
        }
    }

    /// on-lifecycle: a terminate lifecycle action arrived at the function `own`. A notice for
    /// another account or region is refused before anything is read.
    pub async fn on_notice(
        &self,
        notice: &TerminateNotice,
        mode: Mode,
        own: &FunctionIdentity,
    ) -> Result<Outcome, DrainError> {
        let (account, region) = (notice.account.as_deref(), notice.region.as_deref());
        let use_case = Box::pin(self.on_terminate(notice, mode));
        self.if_own_origin(account, region, own, use_case).await
    }

    /// Runs `use_case` for an input from `account` and `region`, unless they are not the
    /// function `own`'s: then the input is refused before anything is read (a future does
    /// nothing until awaited). Callers box the use case: the nested use-case futures are deep
    /// enough to hit the compiler's layout recursion limit in the binaries otherwise.
    async fn if_own_origin(
        &self,
        account: Option<&str>,
        region: Option<&str>,
        own: &FunctionIdentity,
        use_case: impl Future<Output = Result<Outcome, DrainError>>,
    ) -> Result<Outcome, DrainError> {
        if let Err(refusal) = verify_origin(account, region, own) {
            return Ok(refuse(refusal));
        }
        use_case.await
    }

    /// on-lifecycle: a scheduled check arrived at the function `own`. A check naming a container
    /// instance of another account or region is refused before anything is read.
    pub async fn on_scheduled_check(
        &self,
        instance: &ContainerInstanceArn,
        own: &FunctionIdentity,
    ) -> Result<Outcome, DrainError> {
        let parts = instance.parts();
        let (account, region) = (
            parts.map(|parts| parts.account),
            parts.map(|parts| parts.region),
        );
        let use_case = Box::pin(self.on_check(instance, Mode::Live));
        self.if_own_origin(account, region, own, use_case).await
    }

    /// on-lifecycle: a terminate lifecycle action arrived. Nothing changes unless Auto Scaling
    /// confirms that the instance is in the notice's group and waiting on a terminate hook.
    /// A drain then starts with one write (issue 11): DRAINING, the census, the conditional
    /// insert of the record with that census, and only once it is in, the first check. A
    /// record already on file comes back from the failed insert and is admitted as before.
    #[tracing::instrument(skip_all, fields(
        ec2_instance_id = %notice.action.instance_id,
        asg = %notice.action.hook.asg_name,
        hook = %notice.action.hook.hook_name,
        token_prefix = %notice.action.token.prefix(),
        container_instance_arn = tracing::field::Empty,
        cluster = tracing::field::Empty,
        dry_run = mode == Mode::DryRun,
    ))]
    pub async fn on_terminate(
        &self,
        notice: &TerminateNotice,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        if !self
            .config
            .handles_hook(notice.action.hook.hook_name.as_str())
        {
            let reason = format!(
                "hook {} is not handled by this stack",
                notice.action.hook.hook_name
            );
            info!(decision = "ignored", reason = %reason, "lifecycle action ignored");
            return Ok(Outcome::Ignored { reason });
        }
        let instance = self
            .cluster()
            .find_container_instance(&self.config.clusters, &notice.action.instance_id)
            .await?;
        let instance = match instance {
            None => {
                if let Some(refused) = self.unconfirmed(notice).await? {
                    return Ok(refused);
                }
                return self
                    .complete_untracked(
                        &notice.action,
                        mode,
                        "the EC2 instance is not an ECS container instance",
                    )
                    .await;
            }
            Some(instance) if instance.is_gone() => {
                if let Some(refused) = self.unconfirmed(notice).await? {
                    return Ok(refused);
                }
                let reason = format!("the container instance is {}", instance.status);
                return self.complete_untracked(&notice.action, mode, &reason).await;
            }
            Some(instance) => instance,
        };
        tracing::Span::current().record("container_instance_arn", instance.arn.as_str());
        tracing::Span::current().record("cluster", instance.cluster_arn.as_str());

        // Trust no notice: nothing is written unless Auto Scaling confirms the termination. No
        // record is read first: the conditional insert below answers the one on file, if any.
        if let Some(refused) = self.unconfirmed(notice).await? {
            return Ok(refused);
        }
        let mut fresh = self.new_record(notice, &instance).await?;
        crate::logs::record_drain(&tracing::Span::current(), &fresh);
        // Before the insert: an invocation that dies between the two is retried, finds the
        // instance DRAINING (no second update) and inserts.
        let instance = if sets_draining(&instance.status) {
            self.set_draining(&instance, mode).await?;
            ContainerInstance {
                status: EcsInstanceStatus::Draining,
                ..instance
            }
        } else {
            info!(status = %instance.status, "container instance already draining");
            instance
        };
        let census = self.census(&mut fresh).await?;
        let now = self.now();
        let decision = decide(&fresh, &census, now, &self.config.policy);
        let first = self.first_record(&fresh, &census, &decision, now);
        // Boxed, both: the look's future is deep, and a debug build's test thread overflows its
        // stack with it inline.
        match self.insert_drain(&first, mode).await? {
            InsertOutcome::Inserted => {
                self.started(mode, &first);
                let first_check = first.next_check_at;
                Box::pin(self.act_on_first_census(fresh, first_check, census, decision, now, mode))
                    .await
            }
            InsertOutcome::Exists(on_file) => {
                Box::pin(self.notice_meets_record(notice, &instance, *on_file, fresh, census, mode))
                    .await
            }
        }
    }

    /// The drain record a confirmed notice writes first, before anything of the drain is
    /// applied: `fresh` with what its first census (`census`, decided `decision` at `now`)
    /// found and, when the drain waits, the first check it books once the record is written.
    fn first_record(
        &self,
        fresh: &DrainRecord,
        census: &Census,
        decision: &Decision,
        now: Timestamp,
    ) -> DrainRecord {
        let mut first = with_census(fresh.clone(), census, now);
        if let Decision::Wait { waiting_on, .. } = decision {
            first.reason = Some(waiting_on.describe().to_owned());
            let books = self.config.schedule.is_some();
            first.next_check_at = upkeep(&first, now, Trigger::Lifecycle, books).book_check_at;
        }
        first
    }

    /// The new drain `written` is on file: counted, once.
    fn started(&self, mode: Mode, written: &DrainRecord) {
        self.note(mode, [Fact::DrainStarted]);
        if written.coexistence_warned {
            self.note(mode, [Fact::ManagedDrainingCoexists]);
        }
    }

    /// The first census's decision, applied to the drain just written (`fresh`: the record as it
    /// was before the census, at the written revision). A drain that waits only books the check
    /// the written record names (`first_check`); any other decision is applied as any look
    /// applies it.
    async fn act_on_first_census(
        &self,
        fresh: DrainRecord,
        first_check: Option<Timestamp>,
        census: Census,
        decision: Decision,
        now: Timestamp,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let written = match &decision {
            Decision::Wait { .. } => Written::Booking(first_check),
            _ => Written::Progress,
        };
        let look = Looked {
            trigger: Trigger::Lifecycle,
            reason: CensusReason::DrainStart,
            now,
        };
        self.act_on_census(fresh, census, decision, look, mode, written)
            .await
    }

    /// The conditional insert of a new drain record; a dry run reads the record on file
    /// instead, so it decides as the live insert would and writes nothing.
    async fn insert_drain(
        &self,
        record: &DrainRecord,
        mode: Mode,
    ) -> Result<InsertOutcome, DrainError> {
        match mode {
            Mode::Live => self.store().insert(record).await,
            Mode::DryRun => {
                info!(
                    would_call = "dynamodb:PutItem",
                    what = "insert drain record",
                    "dry run: call not made"
                );
                let on_file = self.store().load(&record.container_instance_arn).await?;
                Ok(on_file.map_or(InsertOutcome::Inserted, |found| {
                    InsertOutcome::Exists(Box::new(found))
                }))
            }
        }
    }

    /// The confirmed notice's insert found `on_file`: today's admission of a notice against the
    /// record it meets. An early drain is joined; the same action carries on (the check it
    /// names booked again, never moved); a newer action replaces an older drain; a stale
    /// notice or an ended action ends here. `fresh` (the drain the notice would start, before
    /// its census) and `census` (taken moments ago) are used, not taken again.
    async fn notice_meets_record(
        &self,
        notice: &TerminateNotice,
        instance: &ContainerInstance,
        on_file: DrainRecord,
        fresh: DrainRecord,
        census: Census,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        if terminate_joins_drain(&on_file) {
            info!("an early drain is on record; the terminate action joins it");
            return self
                .join_early(notice, instance, on_file, &fresh, census, mode)
                .await;
        }
        let admission = admit(Some(&on_file), &notice.action.token, notice.sent_at);
        match admitted(admission, Some(&on_file), Kept::Drain)? {
            Admitted::Done(outcome) => Ok(outcome),
            Admitted::Resume(record) => {
                info!(
                    decision = "resume",
                    "the drain is on record for this action; carrying on"
                );
                self.resume_drain(record, &fresh, census, mode).await
            }
            Admitted::Write => {
                // A newer action supersedes the one on record: replace it, conditionally.
                info!(old_token_prefix = %on_file.token.prefix(), old_status = on_file.status.as_str(), "a newer lifecycle action replaces the drain on record");
                let fresh = DrainRecord {
                    revision: on_file.revision + 1,
                    ..fresh
                };
                let now = self.now();
                let decision = decide(&fresh, &census, now, &self.config.policy);
                let first = self.first_record(&fresh, &census, &decision, now);
                let write = self
                    .replace_drain(mode, "replace drain record", &first, on_file.revision)
                    .await?;
                if write == WriteOutcome::Written {
                    self.started(mode, &first);
                    let first_check = first.next_check_at;
                    return self
                        .act_on_first_census(fresh, first_check, census, decision, now, mode)
                        .await;
                }
                // Either a concurrent delivery recorded it, or this very write took effect and
                // its answer was lost (the SDK's retry then lost to it). Same action: carry on.
                let current = self.store().load(&instance.arn).await?;
                if let Some(early) = current.clone().filter(terminate_joins_drain) {
                    // A Spot warning handled at the same moment recorded its drain first.
                    info!("an early drain was recorded first; the terminate action joins it");
                    return self
                        .join_early(notice, instance, early, &fresh, census, mode)
                        .await;
                }
                match (
                    after_lost_start(current.as_ref(), &notice.action.token),
                    current,
                ) {
                    (AfterLostWrite::CarryOn, Some(current)) => {
                        info!(
                            decision = "resume",
                            "the drain was already recorded for this action; carrying on"
                        );
                        self.resume_drain(current, &fresh, census, mode).await
                    }
                    _ => {
                        info!(
                            decision = "lost_race",
                            "another invocation recorded a drain first"
                        );
                        Ok(Outcome::LostRace)
                    }
                }
            }
        }
    }

    /// The notice's own action's drain `record` is on file: its recorded check is booked
    /// again at its own time ([`resume_booking`]: the insert's invocation may have died before
    /// booking it), then the census just taken is decided on it like any look's.
    async fn resume_drain(
        &self,
        record: DrainRecord,
        fresh: &DrainRecord,
        census: Census,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        crate::logs::record_drain(&tracing::Span::current(), &record);
        let now = self.now();
        if let Some(at) = resume_booking(
            &record,
            now,
            self.config.schedule.is_some(),
            self.config.policy.completing_lease_seconds,
        ) {
            let why = "book the recorded check again at its own time";
            self.book_check(&record.container_instance_arn, at, why, mode)
                .await?;
        }
        let record = with_service_kinds_of(record, fresh);
        self.look_on_census(
            record,
            census,
            mode,
            Trigger::Lifecycle,
            CensusReason::DrainStart,
        )
        .await
    }

    /// on-task-stopped: a task stopped somewhere.
    #[tracing::instrument(skip_all, fields(
        container_instance_arn = %change.container_instance_arn,
        cluster = %change.cluster_arn,
        ec2_instance_id = tracing::field::Empty,
        token_prefix = tracing::field::Empty,
        task_arn = %change.task_arn,
        event_version = change.version,
        dry_run = mode == Mode::DryRun,
    ))]
    pub async fn on_task_stopped(
        &self,
        change: &TaskStateChange,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let cue = Cue::TaskStopped(&change.task_arn);
        let (cluster, instance) = (&change.cluster_arn, &change.container_instance_arn);
        Box::pin(self.look_if_draining(cluster, instance, cue, mode)).await
    }

    /// on-task-stopped: a DRAINING container instance changed (a second, independent prompt
    /// beside STOPPED events: it catches a drain whose last STOPPED event was lost). An instance
    /// with no live drain costs one keyed read.
    #[tracing::instrument(skip_all, fields(
        container_instance_arn = %change.container_instance_arn,
        cluster = %change.cluster_arn,
        ec2_instance_id = tracing::field::Empty,
        token_prefix = tracing::field::Empty,
        tasks = ?change.tasks,
        event_version = change.version,
        dry_run = mode == Mode::DryRun,
    ))]
    pub async fn on_instance_changed(
        &self,
        change: &InstanceStateChange,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let cue = Cue::InstanceChanged {
            tasks: change.tasks,
        };
        let (cluster, instance) = (&change.cluster_arn, &change.container_instance_arn);
        Box::pin(self.look_if_draining(cluster, instance, cue, mode)).await
    }

    /// on-task-stopped's two prompts: a look at the instance's drain if one is live, else one
    /// keyed read (nothing at all for a cluster this stack does not watch).
    async fn look_if_draining(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
        cue: Cue<'_>,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        if !self.config.watches_cluster(cluster) {
            let reason = format!("cluster {} is not watched", cluster.name());
            return Ok(Outcome::Ignored { reason });
        }
        match self.store().load(instance).await? {
            Some(record) if !record.status.is_terminal() => self.evaluate(record, mode, cue).await,
            _ => Ok(Outcome::NotDraining),
        }
    }

    /// on-lifecycle: the drain's scheduled check fired.
    #[tracing::instrument(skip_all, fields(
        container_instance_arn = %instance,
        cluster = tracing::field::Empty,
        ec2_instance_id = tracing::field::Empty,
        token_prefix = tracing::field::Empty,
        dry_run = mode == Mode::DryRun,
    ))]
    pub async fn on_check(
        &self,
        instance: &ContainerInstanceArn,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let loaded = self.store().load(instance).await?;
        if let Some(record) = &loaded {
            // An ended drain's line names it too.
            crate::logs::record_drain(&tracing::Span::current(), record);
        }
        match loaded {
            Some(record) if !record.status.is_terminal() => {
                self.evaluate(record, mode, Cue::Check).await
            }
            // The drain ended (or was never recorded) before this check's time: the end
            // no longer deletes the check (that was GetSchedule + DeleteSchedule on every
            // completion), so it fires once and costs this one GetItem. Nothing is deleted
            // here either: every check is a one-shot `at(...)` schedule booked with
            // ActionAfterCompletion=DELETE, which EventBridge Scheduler deletes itself after
            // its one invocation ("For one-time schedules, this occurs after the schedule has
            // invoked its target once": EventBridge Scheduler User Guide, "Deleting a
            // schedule", and CreateSchedule's ActionAfterCompletion in the API reference).
            ended => {
                let status = ended
                    .as_ref()
                    .map_or("none", |record| record.status.as_str());
                info!(
                    decision = "not_draining",
                    record = status,
                    "scheduled check for a drain that has ended; nothing to do"
                );
                Ok(Outcome::NotDraining)
            }
        }
    }

    /// Trust no notice: an SNS message or a direct invoke can name any instance and token.
    /// Some(refused outcome) unless Auto Scaling reports the instance in the notice's group and
    /// waiting on a terminate hook.
    async fn unconfirmed(&self, notice: &TerminateNotice) -> Result<Option<Outcome>, DrainError> {
        let state = self
            .hooks()
            .instance_state(&notice.action.instance_id)
            .await?;
        Ok(
            verify_termination(&notice.action.hook.asg_name, state.as_ref())
                .err()
                .map(refuse),
        )
    }

    async fn new_record(
        &self,
        notice: &TerminateNotice,
        instance: &ContainerInstance,
    ) -> Result<DrainRecord, DrainError> {
        let answer = self.hooks().group_hooks(&notice.action.hook).await;
        let hook_names = answer
            .as_ref()
            .map(|hooks| hooks.hook_names.clone())
            .unwrap_or_default();
        let answer = answer.map(|hooks| hooks.heartbeat_timeout_seconds);
        let heartbeat_timeout_seconds = match heartbeat_timeout(answer) {
            HeartbeatTimeout::Known(timeout) => timeout,
            HeartbeatTimeout::Fail(error) => return Err(error),
            HeartbeatTimeout::FallBack(error) => {
                warn!(error = %error_chain(&error), "could not read the hook's heartbeat timeout; checks fall back to every minute");
                None
            }
        };
        let now = self.now();
        let coexistence_warned = self.warn_coexistence(&hook_names, false);
        let record = start_drain(DrainStart {
            container_instance_arn: instance.arn.clone(),
            cluster_arn: instance.cluster_arn.clone(),
            action: notice.action.clone(),
            noticed_at: believable_notice_time(notice.sent_at, now),
            started_at: now,
            heartbeat_timeout_seconds,
            deadline_seconds: self.config.policy.deadline_seconds,
            retention_seconds: self.config.retention_seconds,
        });
        Ok(DrainRecord {
            coexistence_warned,
            ..record
        })
    }

    async fn complete_untracked(
        &self,
        action: &LifecycleActionRef,
        mode: Mode,
        reason: &str,
    ) -> Result<Outcome, DrainError> {
        let answer = self
            .effect(
                mode,
                "autoscaling:CompleteLifecycleAction",
                "CONTINUE (nothing to drain)",
                ActionAnswer::Accepted,
                self.hooks().complete(action, LifecycleResult::Continue),
            )
            .await?;
        let outcome = completion_outcome(answer, None);
        info!(decision = "complete_untracked", reason, action_outcome = ?outcome, "nothing to drain; lifecycle action completed with CONTINUE");
        Ok(Outcome::CompletedUntracked {
            outcome,
            reason: reason.to_owned(),
        })
    }

    /// The census: both ListTasks passes, every task of the RUNNING listing described and those
    /// of the STOPPED listing not known STOPPED (see [`tasks_to_describe`]: the record's word
    /// never hides a task ECS lists as desired RUNNING), classified with the services' strategy. Services the drain has
    /// not looked up yet are described (see [`services_to_describe`]); the facts it knows, and
    /// the tasks it saw STOPPED, are kept in `record`.
    async fn census(&self, record: &mut DrainRecord) -> Result<Census, DrainError> {
        let listed = self
            .cluster()
            .list_tasks_on(&record.cluster_arn, &record.container_instance_arn)
            .await?;
        let described = tasks_to_describe(&listed, &record.known_stopped);
        debug!(
            listed_running = listed.running.len(),
            listed_stopped = listed.stopped.len(),
            described = described.len(),
            known_stopped = record.known_stopped.len(),
            "census: tasks known STOPPED and listed as desired STOPPED are not described again"
        );
        let tasks = self
            .cluster()
            .describe_tasks(&record.cluster_arn, &described)
            .await?
            .read()?;
        record.known_stopped = known_stopped_after(&record.known_stopped, &tasks);
        let names = services_to_describe(&Census::service_names_of(&tasks), &record.service_kinds);
        if !names.is_empty() {
            let described = self.cluster().services(&record.cluster_arn, &names).await?;
            record.service_kinds.extend(described);
        }
        Ok(Census::classify(tasks, &record.service_kinds))
    }

    /// One look at a live drain: a census when [`census_needed`] says so, else the alive set
    /// updated from the STOPPED event alone (or, for an instance change, nothing at all).
    async fn evaluate(
        &self,
        record: DrainRecord,
        mode: Mode,
        cue: Cue<'_>,
    ) -> Result<Outcome, DrainError> {
        // Every line of the look names the drain under the same keys (crate::logs).
        crate::logs::record_drain(&tracing::Span::current(), &record);
        let now = self.now();
        let trigger = cue.trigger();
        match census_needed(&record, cue, now, self.config.policy.census_rule) {
            Look::Census(reason) => self.look_with_census(record, mode, trigger, reason).await,
            Look::Unchanged => {
                let alive = record
                    .alive
                    .as_ref()
                    .map(AliveSet::counts)
                    .unwrap_or_default();
                info!(
                    decision = "wait",
                    census = "skipped",
                    trigger = ?trigger,
                    alive_replica = alive.replica,
                    alive_daemon = alive.daemon,
                    alive_standalone = alive.standalone,
                    "drain decision: the instance change tells nothing new"
                );
                Ok(Outcome::Decided(Decision::Wait {
                    alive,
                    waiting_on: WaitingOn::Tasks,
                }))
            }
            Look::Skip {
                alive,
                known_stopped,
            } => {
                self.look_without_census(record, alive, known_stopped, mode, trigger, now)
                    .await
            }
        }
    }

    /// A STOPPED event of a known task with replica or standalone tasks left: one conditional
    /// write, no ECS call; the task joins the record's known STOPPED tasks (`known_stopped`), so
    /// later censuses do not describe it while ECS lists it as desired STOPPED (a forged event
    /// for a task still desired RUNNING hides nothing: see [`tasks_to_describe`]). If another invocation wrote first, its record may
    /// still hold the task: look again on the fresh record with a census, which is the truth.
    async fn look_without_census(
        &self,
        mut record: DrainRecord,
        alive: AliveSet,
        known_stopped: KnownStopped,
        mode: Mode,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<Outcome, DrainError> {
        let counts = alive.counts();
        info!(
            decision = "wait",
            census = "skipped",
            trigger = ?trigger,
            cluster = %record.cluster_arn,
            ec2_instance_id = %record.ec2_instance_id,
            token_prefix = %record.token.prefix(),
            alive_replica = counts.replica,
            alive_daemon = counts.daemon,
            alive_standalone = counts.standalone,
            waiting = %alive.summary(now, MAX_LOGGED_TASKS),
            waiting_tasks = %crate::logs::waiting_tasks(&alive, now, MAX_LOGGED_TASKS),
            census_taken_at = %alive.taken_at,
            "drain decision"
        );
        record.alive = Some(alive);
        record.known_stopped = known_stopped;
        record.reason = Some(WaitingOn::Tasks.describe().to_owned());
        let decision = Decision::Wait {
            alive: counts,
            waiting_on: WaitingOn::Tasks,
        };
        if let Some(outcome) = self
            .keep_waiting(record.clone(), decision, mode, trigger, now)
            .await?
        {
            return Ok(outcome);
        }
        match self.store().load(&record.container_instance_arn).await? {
            Some(fresh) if !fresh.status.is_terminal() => {
                self.look_with_census(fresh, mode, trigger, CensusReason::UnknownTask)
                    .await
            }
            _ => Ok(Outcome::NotDraining),
        }
    }

    async fn look_with_census(
        &self,
        mut record: DrainRecord,
        mode: Mode,
        trigger: Trigger,
        census_reason: CensusReason,
    ) -> Result<Outcome, DrainError> {
        let census = self.census(&mut record).await?;
        self.look_on_census(record, census, mode, trigger, census_reason)
            .await
    }

    /// A look on a census just taken (`census`): decided on `record` (which keeps the facts
    /// the census learnt) and acted on, the record on file as it is.
    async fn look_on_census(
        &self,
        record: DrainRecord,
        census: Census,
        mode: Mode,
        trigger: Trigger,
        census_reason: CensusReason,
    ) -> Result<Outcome, DrainError> {
        let now = self.now();
        let decision = decide(&record, &census, now, &self.config.policy);
        // An early drain has no lifecycle action to complete yet (decision::spot::awaiting).
        let decision = match awaiting_look(&record, decision, census.counts(), now) {
            AwaitingLook::Proceed(decision) => decision,
            AwaitingLook::End => return self.end_awaiting(record, mode).await,
        };
        let look = Looked {
            trigger,
            reason: census_reason,
            now,
        };
        self.act_on_census(record, census, decision, look, mode, Written::Progress)
            .await
    }

    /// Applies `decision`, taken on `census` at `look.now`, to the drain `record` (as it was
    /// before the census); `written` says whether the record on file already holds the census.
    async fn act_on_census(
        &self,
        record: DrainRecord,
        census: Census,
        decision: Decision,
        look: Looked,
        mode: Mode,
        written: Written,
    ) -> Result<Outcome, DrainError> {
        let Looked {
            trigger,
            reason: census_reason,
            now,
        } = look;
        let alive = census.counts();
        info!(
            decision = decision.name(),
            trigger = ?trigger,
            cluster = %record.cluster_arn,
            ec2_instance_id = %record.ec2_instance_id,
            token_prefix = %record.token.prefix(),
            alive_replica = alive.replica,
            alive_daemon = alive.daemon,
            alive_standalone = alive.standalone,
            census = census_reason.name(),
            deadline_at = %record.deadline_at,
            "drain decision"
        );
        let facts = look_facts(&record, &census, &decision, trigger, now);
        self.note(mode, facts.decided);
        let overdue = crate::decision::operator::overdue(
            &record,
            now,
            self.config.policy.completing_lease_seconds,
        );
        let announced = look_announcements(&record, &census, &decision, overdue);
        self.announce(mode, &record, Some(&census), announced.decided, now);
        if !census.stuck_services.is_empty() {
            warn!(services = %crate::logs::services(&census.stuck_services), "services with minimumHealthyPercent 100 and maximumPercent 100 can never move their tasks off this instance; the drain will wait for its deadline");
        }
        let mut record = with_census(record, &census, now);
        if let Some(set) = record.alive.as_ref().filter(|set| !set.tasks.is_empty()) {
            info!(waiting = %set.summary(now, MAX_LOGGED_TASKS), waiting_tasks = %crate::logs::waiting_tasks(set, now, MAX_LOGGED_TASKS), truncated = set.truncated, "tasks the drain waits for");
        }

        match &decision {
            Decision::Finished { .. } => return Ok(Outcome::Decided(decision)),
            Decision::ClaimedElsewhere => {
                self.keep_claim_watched(&record, mode, trigger, now).await?;
                return Ok(Outcome::Decided(decision));
            }
            Decision::Complete { result, reason } => {
                return match self
                    .complete(record.clone(), *result, *reason, mode)
                    .await?
                {
                    Outcome::LostRace => {
                        self.retry_lost_claim(record, &census, mode, trigger).await
                    }
                    outcome => Ok(outcome),
                };
            }
            Decision::Wait { waiting_on, .. } => {
                record.reason = Some(waiting_on.describe().to_owned());
                if let Written::Booking(first_check) = written {
                    // The record on file is this very one: only its check is left to book.
                    if let Some(at) = first_check {
                        let why = "book the first check";
                        self.book_check(&record.container_instance_arn, at, why, mode)
                            .await?;
                    }
                    return Ok(Outcome::Decided(decision));
                }
            }
            Decision::StopDaemons { tasks } => {
                self.effect(
                    mode,
                    "ecs:StopTask",
                    "stop daemon tasks",
                    (),
                    self.cluster()
                        .stop_tasks(&record.cluster_arn, tasks, DAEMON_STOP_REASON),
                )
                .await?;
                let (task_arns, task_arns_omitted) = crate::logs::task_arns(tasks);
                info!(tasks = tasks.len(), task_arns = %task_arns, task_arns_omitted, "daemon tasks asked to stop");
                record.daemons_stopped_at.get_or_insert(now);
                record.reason = Some(WaitingOn::DaemonsStopping.describe().to_owned());
            }
            Decision::EnforceDeadline { tasks } => {
                if !tasks.is_empty() {
                    self.effect(
                        mode,
                        "ecs:StopTask",
                        "stop remaining tasks",
                        (),
                        self.cluster()
                            .stop_tasks(&record.cluster_arn, tasks, DEADLINE_STOP_REASON),
                    )
                    .await?;
                }
                let (task_arns, task_arns_omitted) = crate::logs::task_arns(tasks);
                warn!(
                    tasks = tasks.len(),
                    task_arns = %task_arns,
                    task_arns_omitted,
                    "drain deadline reached; remaining tasks asked to stop"
                );
                self.note(mode, facts.applied.iter().cloned());
                self.announce(mode, &record, Some(&census), announced.applied, now);
                record.enforced_at.get_or_insert(now);
                record.phase = DrainPhase::Enforcing;
                record.reason = Some(WaitingOn::DeadlineStops.describe().to_owned());
            }
        }

        // A lost progress write: a newer look already wrote, and it carries the drain on.
        Ok(self
            .keep_waiting(record, decision.clone(), mode, trigger, now)
            .await?
            .unwrap_or(Outcome::Decided(decision)))
    }

    /// Still waiting: keep the hook alive and the next check booked (see `decision::upkeep`),
    /// then write the progress. None when that write lost to a concurrent invocation's.
    async fn keep_waiting(
        &self,
        mut record: DrainRecord,
        decision: Decision,
        mode: Mode,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<Option<Outcome>, DrainError> {
        let upkeep = upkeep(&record, now, trigger, self.config.schedule.is_some());
        if upkeep.heartbeat {
            match self
                .effect(
                    mode,
                    "autoscaling:RecordLifecycleActionHeartbeat",
                    "heartbeat",
                    ActionAnswer::Accepted,
                    self.hooks().heartbeat(&record.action()),
                )
                .await?
            {
                ActionAnswer::Accepted => record.heartbeats_sent += 1,
                ActionAnswer::NoActiveAction { .. } => {
                    // The one rule for an action found gone: a completion sent before whose
                    // answer was unclear was done. The heartbeat's own retry tells nothing.
                    let gone = ActionAnswer::NoActiveAction {
                        after_unclear_attempt: false,
                    };
                    let gone = completion_outcome(gone, Some(&record));
                    let ended = self.end_at_gone_heartbeat(record, gone, mode, now).await;
                    return ended.map(Some);
                }
            }
        }
        if let Some(at) = upkeep.book_check_at {
            self.book_check(
                &record.container_instance_arn,
                at,
                "book the next check",
                mode,
            )
            .await?;
            record.next_check_at = Some(at);
        }
        Ok(match self.save(record, mode, now).await? {
            WriteOutcome::Written => Some(Outcome::Decided(decision)),
            WriteOutcome::LostRace => None,
        })
    }

    /// Another invocation holds a fresh claim: no record write, but the check stays booked
    /// (see [`upkeep_while_claimed`]).
    async fn keep_claim_watched(
        &self,
        record: &DrainRecord,
        mode: Mode,
        trigger: Trigger,
        now: Timestamp,
    ) -> Result<(), DrainError> {
        let upkeep = upkeep_while_claimed(
            record,
            now,
            trigger,
            self.config.schedule.is_some(),
            self.config.policy.completing_lease_seconds,
        );
        if upkeep.heartbeat {
            // Either answer books the check: an action found gone may have been completed by a
            // holder that died before recording it, and the check after the lease records it.
            self.effect(
                mode,
                "autoscaling:RecordLifecycleActionHeartbeat",
                "heartbeat",
                ActionAnswer::Accepted,
                self.hooks().heartbeat(&record.action()),
            )
            .await?;
        }
        if let Some(at) = upkeep.book_check_at {
            self.book_check(
                &record.container_instance_arn,
                at,
                "book the check that takes over a lapsed claim",
                mode,
            )
            .await?;
        }
        Ok(())
    }

    async fn complete(
        &self,
        record: DrainRecord,
        result: LifecycleResult,
        reason: CompletionReason,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let now = self.now();
        if let Some(at) = guard_claim(
            &record,
            now,
            self.config.schedule.is_some(),
            self.config.policy.completing_lease_seconds,
        ) {
            self.book_check(
                &record.container_instance_arn,
                at,
                "book the check that takes over a lapsed claim",
                mode,
            )
            .await?;
        }
        let claimed = record.claimed(now, new_claim_id(now), result);
        let claim = self
            .replace_drain(mode, "claim the completion", &claimed, record.revision)
            .await?;
        if claim == WriteOutcome::LostRace {
            // The claim may be ours after all: written, answer lost, the SDK's retry then lost.
            let current = self.store().load(&record.container_instance_arn).await?;
            match after_lost_claim(current.as_ref(), &claimed) {
                AfterLostWrite::GiveUp => {
                    info!(
                        decision = "lost_race",
                        "another invocation claimed the completion"
                    );
                    return Ok(Outcome::LostRace);
                }
                AfterLostWrite::CarryOn => info!(
                    "the completion claim was written though its answer was lost; carrying on"
                ),
            }
        }
        let action = claimed.action();
        let completed = self
            .effect(
                mode,
                "autoscaling:CompleteLifecycleAction",
                result.as_str(),
                ActionAnswer::Accepted,
                self.hooks().complete(&action, result),
            )
            .await;
        let answer = match completed {
            Ok(answer) => answer,
            Err(error) => {
                // Give the claim back so the retry (or the next event) can complete at once.
                if let Err(release_error) = self
                    .store()
                    .replace(&claimed.released(now), claimed.revision)
                    .await
                {
                    warn!(error = %error_chain(&release_error), "could not release the completion claim; it lapses after the lease");
                }
                return Err(error);
            }
        };
        let decision = Decision::Complete { result, reason };
        // A completion may already have been sent for this drain (see `completion_outcome`).
        let outcome = completion_outcome(answer, Some(&record));
        self.note(
            mode,
            completion_fact(outcome, result, reason, claimed.started_at, now),
        );
        let announced = completion_announcements(outcome, result, reason);
        self.announce(mode, &claimed, None, announced, now);
        let finished = match outcome {
            ActionOutcome::Done => {
                info!(
                    decision = "complete",
                    result = result.as_str(),
                    reason = reason.describe(),
                    "lifecycle action completed"
                );
                claimed.ended(
                    now,
                    DrainStatus::Completed,
                    Some(result),
                    reason.describe().to_owned(),
                )
            }
            ActionOutcome::DoneUnconfirmed => {
                info!(
                    decision = "complete",
                    result = result.as_str(),
                    reason = reason.describe(),
                    "lifecycle action completed (answer lost, action gone)"
                );
                let why = format!(
                    "{} (confirmed by the action being gone: an earlier answer was lost)",
                    reason.describe()
                );
                claimed.ended(now, DrainStatus::Completed, Some(result), why)
            }
            ActionOutcome::NoActiveAction => {
                warn!(
                    decision = "action_gone",
                    "no active lifecycle action: it was completed elsewhere or timed out"
                );
                // The claim is written: a failed follow-up is logged, not retried from here
                // (a retry would find the claim and could no longer tell what happened).
                let (reason, undrained) = match self.after_expiry(&claimed, mode).await {
                    Ok(followed) => followed,
                    Err(error) => {
                        warn!(error = %error_chain(&error), "could not check whether the expired drain's instance stays in service");
                        // Unknown: counted as lost, so the alarm looks rather than stays quiet.
                        (
                            "the lifecycle action was already completed or had expired".to_owned(),
                            true,
                        )
                    }
                };
                self.note(mode, expiry_fact(undrained));
                claimed.ended(now, DrainStatus::Expired, None, reason)
            }
        };
        // The drain's pending check is left to fire: it finds the drain ended and returns
        // after one GetItem (see `on_check`), and the one-shot schedule deletes itself. So the
        // completing event costs 7 calls instead of 9 (no GetSchedule + DeleteSchedule), plus
        // that one GetItem later when the check fires.
        self.replace_drain(mode, finished.status.as_str(), &finished, claimed.revision)
            .await?;
        Ok(if outcome == ActionOutcome::NoActiveAction {
            Outcome::ActionGone
        } else {
            Outcome::Decided(decision)
        })
    }

    /// A lost claim: claim again on the fresh record when [`retry_claim`] says so, or keep another
    /// invocation's claim of this very drain watched (a check booked for after its lease).
    async fn retry_lost_claim(
        &self,
        mine: DrainRecord,
        census: &Census,
        mode: Mode,
        trigger: Trigger,
    ) -> Result<Outcome, DrainError> {
        for _ in 0..CLAIM_RETRIES {
            let fresh = self.store().load(&mine.container_instance_arn).await?;
            let now = self.now();
            let retry = retry_claim(&mine, fresh.as_ref(), census, now, &self.config.policy);
            let (result, reason, fresh) = match (retry, fresh) {
                (ClaimRetry::Claim { result, reason }, Some(fresh)) => (result, reason, fresh),
                (ClaimRetry::WatchClaim, Some(fresh)) => {
                    info!(
                        decision = "claimed_elsewhere",
                        "another invocation claimed the completion first; its claim stays watched"
                    );
                    self.keep_claim_watched(&fresh, mode, trigger, now).await?;
                    break;
                }
                _ => break,
            };
            info!(
                decision = "retry_claim",
                "the drain only moved on in progress; claiming the completion again"
            );
            let fresh = DrainRecord {
                last_census: mine.last_census.clone(),
                alive: mine.alive.clone(),
                service_kinds: mine.service_kinds.clone(),
                ..fresh
            };
            match self.complete(fresh, result, reason, mode).await? {
                Outcome::LostRace => continue,
                outcome => return Ok(outcome),
            }
        }
        Ok(Outcome::LostRace)
    }

    /// A heartbeat found no active lifecycle action: the drain is over. After a completion
    /// whose answer was lost (`gone` is [`ActionOutcome::DoneUnconfirmed`]) that completion was
    /// done, and the drain ends COMPLETED; else the action expired, and so does the drain.
    async fn end_at_gone_heartbeat(
        &self,
        record: DrainRecord,
        gone: ActionOutcome,
        mode: Mode,
        now: Timestamp,
    ) -> Result<Outcome, DrainError> {
        let (ended, outcome) = if gone == ActionOutcome::DoneUnconfirmed {
            info!(
                decision = "complete",
                "heartbeat found no active lifecycle action after a completion whose answer was \
                 lost: that completion was done"
            );
            let why = "the lifecycle action is gone after a completion whose answer was lost: \
                       that completion was done";
            let completed = record.ended(now, DrainStatus::Completed, None, why.to_owned());
            let finished = Decision::Finished {
                status: DrainStatus::Completed,
            };
            (completed, Outcome::Decided(finished))
        } else {
            warn!(
                decision = "action_gone",
                "heartbeat found no active lifecycle action; the drain is over"
            );
            let (follow_up, undrained) = self.after_expiry(&record, mode).await?;
            self.note(mode, expiry_fact(undrained));
            let expired = record.ended(now, DrainStatus::Expired, None, follow_up);
            self.announce(
                mode,
                &record,
                None,
                [crate::decision::announce::Announcement::Expired],
                now,
            );
            (expired, Outcome::ActionGone)
        };
        // This look is the drain's check or came between two: the check still booked (if
        // any) fires once and finds the drain ended, as after a completion.
        self.replace_drain(mode, ended.status.as_str(), &ended, record.revision)
            .await?;
        Ok(outcome)
    }

    /// The lifecycle action of `record` is gone. If Auto Scaling is not terminating the instance
    /// (the action never existed, or the instance stays in service), the DRAINING container
    /// instance would never run tasks again: put it back to ACTIVE. Returns the reason to record
    /// and whether the instance goes undrained ([`expired_undrained`]).
    async fn after_expiry(
        &self,
        record: &DrainRecord,
        mode: Mode,
    ) -> Result<(String, bool), DrainError> {
        let state = self.hooks().instance_state(&record.ec2_instance_id).await?;
        let undrained = expired_undrained(state.as_ref());
        let rule = |status: Option<&EcsInstanceStatus>| after_expiry(state.as_ref(), status);
        match self.restore_active_if_staying(record, mode, rule).await? {
            AfterExpiry::Leave { reason } => {
                info!(decision = "leave_instance", reason = %reason, "expired drain: the container instance is left as it is");
                Ok((reason, undrained))
            }
            AfterExpiry::RestoreActive { reason } => {
                warn!(decision = "restore_active", reason = %reason, "expired drain: the instance stays in service; container instance set back to ACTIVE");
                Ok((reason, undrained))
            }
        }
    }

    /// A drain that ends without ecs-drain's completion (expired, or an early drain no action
    /// joined): `rule`, given the container instance's status, says whether an instance that
    /// stays in service gets its DRAINING container instance back to ACTIVE. The container
    /// instance is looked up only when that can matter (the rule asked with DRAINING), then set
    /// ACTIVE when the rule says so for what was found. Returns the rule's answer.
    async fn restore_active_if_staying(
        &self,
        record: &DrainRecord,
        mode: Mode,
        rule: impl Fn(Option<&EcsInstanceStatus>) -> AfterExpiry,
    ) -> Result<AfterExpiry, DrainError> {
        let container = match rule(Some(&EcsInstanceStatus::Draining)) {
            AfterExpiry::Leave { .. } => None,
            AfterExpiry::RestoreActive { .. } => self
                .cluster()
                .find_container_instance(
                    std::slice::from_ref(&record.cluster_arn.to_string()),
                    &record.ec2_instance_id,
                )
                .await?
                .filter(|found| found.arn == record.container_instance_arn),
        };
        let after = rule(container.as_ref().map(|found| &found.status));
        if let (AfterExpiry::RestoreActive { .. }, Some(container)) = (&after, &container) {
            let update = self.cluster().set_active(container);
            self.update_instance_state(mode, "set ACTIVE", update)
                .await?;
        }
        Ok(after)
    }

    /// Writes the record's progress; losing the race means a newer look already wrote.
    async fn save(
        &self,
        record: DrainRecord,
        mode: Mode,
        now: Timestamp,
    ) -> Result<WriteOutcome, DrainError> {
        let progressed = record.progressed(now);
        let written = self
            .replace_drain(mode, "drain progress", &progressed, record.revision)
            .await?;
        if written == WriteOutcome::LostRace {
            info!("drain progress not written: a concurrent invocation wrote first");
        }
        Ok(written)
    }

    /// A conditional DynamoDB write (`write`, of a drain or launch record), made live or only
    /// logged in a dry run (as written); `what` names it for the logs.
    async fn put_item(
        &self,
        mode: Mode,
        what: &str,
        write: impl Future<Output = Result<WriteOutcome, DrainError>>,
    ) -> Result<WriteOutcome, DrainError> {
        self.effect(mode, "dynamodb:PutItem", what, WriteOutcome::Written, write)
            .await
    }

    /// Writes `record` if the stored drain record is still at `expected_revision` (a lost race
    /// is a value); `what` names the write for the logs (a dry run only logs it).
    async fn replace_drain(
        &self,
        mode: Mode,
        what: &str,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.put_item(mode, what, self.store().replace(record, expected_revision))
            .await
    }

    /// Books (creates or moves) the drain's check at `at`; `what` says why, for the logs.
    pub(super) async fn book_check(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
        what: &str,
        mode: Mode,
    ) -> Result<(), DrainError> {
        self.effect(
            mode,
            "scheduler:CreateSchedule",
            what,
            (),
            self.scheduler().schedule(instance, at),
        )
        .await
    }

    /// Writes a new early drain record: an insert (a record on file is a lost race), or a
    /// replacement of the finished record `old` (conditional on its revision).
    async fn write_new(
        &self,
        record: &DrainRecord,
        old: Option<&DrainRecord>,
        mode: Mode,
    ) -> Result<WriteOutcome, DrainError> {
        match old {
            Some(old) => {
                self.replace_drain(mode, "replace drain record", record, old.revision)
                    .await
            }
            None => {
                let insert = async {
                    Ok(match self.store().insert(record).await? {
                        InsertOutcome::Inserted => WriteOutcome::Written,
                        InsertOutcome::Exists(_) => WriteOutcome::LostRace,
                    })
                };
                self.put_item(mode, "insert drain record", insert).await
            }
        }
    }

    /// UpdateContainerInstancesState DRAINING (an ACTIVE instance: see [`sets_draining`]).
    async fn set_draining(
        &self,
        instance: &ContainerInstance,
        mode: Mode,
    ) -> Result<(), DrainError> {
        let update = self.cluster().set_draining(instance);
        self.update_instance_state(mode, "set DRAINING", update)
            .await?;
        info!(cluster = %instance.cluster_arn, "container instance set to DRAINING");
        Ok(())
    }

    /// UpdateContainerInstancesState (`update`, to DRAINING or back to ACTIVE), made live or
    /// only logged in a dry run; `what` names it for the logs.
    async fn update_instance_state(
        &self,
        mode: Mode,
        what: &str,
        update: impl Future<Output = Result<(), DrainError>>,
    ) -> Result<(), DrainError> {
        self.effect(mode, "ecs:UpdateContainerInstancesState", what, (), update)
            .await
    }

    async fn effect<T>(
        &self,
        mode: Mode,
        call: &'static str,
        what: &str,
        dry_run_result: T,
        operation: impl Future<Output = Result<T, DrainError>>,
    ) -> Result<T, DrainError> {
        match mode {
            Mode::Live => operation.await,
            Mode::DryRun => {
                info!(would_call = call, what, "dry run: call not made");
                Ok(dry_run_result)
            }
        }
    }
}

/// When and why a look decided (its log line and its upkeep).
#[derive(Clone, Copy)]
struct Looked {
    trigger: Trigger,
    reason: CensusReason,
    now: Timestamp,
}

/// Where the drain record a look acts on stands.
#[derive(Clone, Copy)]
enum Written {
    /// On file as it was before the look: a look that keeps waiting writes its progress.
    Progress,
    /// Just written with the look's census (a notice's first record): a look that keeps
    /// waiting only books the check that record names, if any.
    Booking(Option<Timestamp>),
}

/// `record` with what the census `census`, taken at `now`, found: its summary and the alive
/// set (each task's first-seen time carried over from the set it had).
fn with_census(record: DrainRecord, census: &Census, now: Timestamp) -> DrainRecord {
    let alive = alive_set(census, record.alive.as_ref(), now);
    DrainRecord {
        last_census: Some(CensusSummary {
            taken_at: now,
            alive: census.counts(),
            stuck_services: census.stuck_services.clone(),
        }),
        alive: Some(alive),
        ..record
    }
}

/// `record` knowing also the services `fresh` looked up (a census taken for `fresh`, then
/// used for `record`), so later censuses of the drain do not describe them again.
fn with_service_kinds_of(mut record: DrainRecord, fresh: &DrainRecord) -> DrainRecord {
    for facts in &fresh.service_kinds {
        if !record
            .service_kinds
            .iter()
            .any(|known| known.name == facts.name)
        {
            record.service_kinds.push(facts.clone());
        }
    }
    record
}

/// An id unique to one claim: the time, the process and a counter, hashed with this process's
/// random hasher keys (no extra dependency for randomness).
fn new_claim_id(now: Timestamp) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_i64(now.epoch_seconds());
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    format!(
        "{:016x}-{}",
        hasher.finish(),
        COUNTER.load(Ordering::Relaxed)
    )
}

/// The kind of record a lifecycle action keeps, for [`admitted`]'s logs and error.
#[derive(Clone, Copy)]
enum Kept {
    Drain,
    Launch,
}

impl Kept {
    fn name(self) -> &'static str {
        match self {
            Kept::Drain => "drain",
            Kept::Launch => "launch",
        }
    }

    fn resume_operation(self) -> &'static str {
        match self {
            Kept::Drain => "resume drain",
            Kept::Launch => "resume launch",
        }
    }
}

/// What an [`Admission`] leaves to the use case once the arms that a drain and a pending launch
/// handle alike are applied.
enum Admitted<R> {
    /// The notice ends here (stale, or its action already ended), with this outcome.
    Done(Outcome),
    /// The same action again: carry on with the record on file.
    Resume(R),
    /// Start a record, or replace the one on file: the use case's own arm.
    Write,
}

/// Applies the arms of `admission` every lifecycle action shares: a stale notice and an ended
/// action are logged and end here, a resumed action carries on with `existing` (the record on
/// file, of the `kept` kind).
fn admitted<R: Clone>(
    admission: Admission,
    existing: Option<&R>,
    kept: Kept,
) -> Result<Admitted<R>, DrainError> {
    let kind = kept.name();
    match admission {
        Admission::Stale => {
            info!(
                decision = "stale",
                "lifecycle notice is older than the {kind} on record; ignored"
            );
            Ok(Admitted::Done(Outcome::Stale))
        }
        Admission::AlreadyFinished => {
            info!(
                decision = "already_finished",
                "this lifecycle action's {kind} already ended"
            );
            Ok(Admitted::Done(Outcome::AlreadyFinished))
        }
        Admission::Resume => existing
            .cloned()
            .map(Admitted::Resume)
            .ok_or_else(|| DrainError::permanent(kept.resume_operation(), "record vanished")),
        Admission::Start | Admission::Replace => Ok(Admitted::Write),
    }
}

/// The value `mutex` guards, even if a thread panicked holding it: the queues it guards here
/// (facts, events) stay whole whatever the panic interrupted, and a handler never panics.
fn locked<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Logs a refused input (with its bounded reason) and says so.
fn refuse(refusal: Refusal) -> Outcome {
    warn!(decision = "refused", refusal = refusal.name(), reason = %refusal.describe(), "lifecycle input refused; nothing changed");
    Outcome::Refused { refusal }
}

mod announce;
mod early;
#[cfg(test)]
mod tests;
