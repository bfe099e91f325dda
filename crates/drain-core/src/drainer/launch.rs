//! Launch readiness, the use case: hold a launch lifecycle action until the new instance's
//! container instance is ACTIVE with its agent connected in a watched cluster (and, when asked,
//! runs every daemon service), then complete it with CONTINUE; at the deadline apply the
//! operator's result. A warm-pool return that ecs-drain drained is set ACTIVE first.
//!
//! What prompts a look: the launch notice itself, ECS's "ECS Container Instance State Change"
//! (an instance with no pending launch costs one keyed read) and the pending launch's one-shot
//! scheduled check, the safety net when an event is lost. The rules are
//! [`crate::decision::launch`]'s; this file reads facts, asks, and applies the answer with
//! conditional writes, as the drains do.

use tracing::{info, warn};

use super::{Admitted, Drainer, Kept, Mode, Outcome, admitted, refuse};
use crate::decision::ActionOutcome;
use crate::decision::launch::{
    LaunchCompletion, LaunchDecision, LaunchFacts, LaunchPolicy, LaunchPrompt, LaunchStart,
    LaunchWaitingOn, Registration, admit_launch, decide_launch, honour_launch_claim,
    launch_completion_outcome, launch_upkeep, start_launch, warm_return_drain_end,
    warm_return_ends_drain,
};
use crate::decision::start::{HeartbeatTimeout, believable_notice_time, heartbeat_timeout};
use crate::decision::verify::{FunctionIdentity, verify_launch};
use crate::error::{DrainError, error_chain};
use crate::event::fleet::{LaunchNotice, Placement};
use crate::event::launch::ContainerInstanceChange;
use crate::ids::Ec2InstanceId;
use crate::launch_record::{LaunchRecord, LaunchStatus};
use crate::metrics::Fact;
use crate::metrics::launch::LaunchFact;
use crate::ports::{
    ActionAnswer, CheckScheduler, Cluster, ContainerInstance, DrainStore, EcsInstanceStatus,
    LifecycleHooks, Ports, WriteOutcome,
};
use crate::record::{DrainRecord, LifecycleResult};
use crate::time::Timestamp;

/// What a look at a pending launch did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LaunchOutcome {
    /// Not ready yet: the action stays pending.
    Waiting {
        /// What is missing.
        waiting_on: LaunchWaitingOn,
    },
    /// The launch action was completed.
    Completed {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
        /// Why.
        reason: LaunchCompletion,
        /// What Auto Scaling answered.
        action: ActionOutcome,
    },
    /// A heartbeat found the action gone after ecs-drain's own completion, claimed before and
    /// its answer lost: that completion was done, and the record ends COMPLETED with its result.
    CompletedBefore {
        /// The claimed result, the one sent.
        result: LifecycleResult,
    },
    /// The launch action was gone (completed elsewhere, or timed out) when ecs-drain acted.
    Expired,
    /// The EC2 instance has no pending launch: nothing to do.
    NoPendingLaunch,
}

impl LaunchOutcome {
    /// A stable short name for logs and the function's report.
    pub fn name(&self) -> &'static str {
        match self {
            LaunchOutcome::Waiting { .. } => "launch_waiting",
            LaunchOutcome::Completed {
                result: LifecycleResult::Continue,
                ..
            } => "launch_continued",
            LaunchOutcome::Completed {
                result: LifecycleResult::Abandon,
                ..
            } => "launch_abandoned",
            LaunchOutcome::CompletedBefore { .. } => "launch_completed_before",
            LaunchOutcome::Expired => "launch_expired",
            LaunchOutcome::NoPendingLaunch => "no_pending_launch",
        }
    }
}

impl<P: Ports> Drainer<P> {
    /// on-lifecycle: a launch lifecycle action arrived at the function `own`. A notice for
    /// another account or region is refused before anything is read; a hook other than the
    /// configured launch hook (or launch readiness off) is ignored.
    pub async fn on_launch(
        &self,
        notice: &LaunchNotice,
        mode: Mode,
        own: &FunctionIdentity,
    ) -> Result<Outcome, DrainError> {
        let (account, region) = (notice.account.as_deref(), notice.region.as_deref());
        let use_case = Box::pin(self.on_launch_notice(notice, mode));
        self.if_own_origin(account, region, own, use_case).await
    }

    #[tracing::instrument(skip_all, fields(
        ec2_instance_id = %notice.action.instance_id,
        asg = %notice.action.hook.asg_name,
        hook = %notice.action.hook.hook_name,
        token_prefix = %notice.action.token.prefix(),
        origin = notice.origin.map(Placement::as_str),
        dry_run = mode == Mode::DryRun,
    ))]
    async fn on_launch_notice(
        &self,
        notice: &LaunchNotice,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let Some(settings) = self.config.launch.as_ref() else {
            return Ok(ignored(
                "launch readiness is off (no launch hook configured)",
            ));
        };
        if notice.action.hook.hook_name.as_str() != settings.hook_name {
            return Ok(ignored(&format!(
                "hook {} is not this stack's launch hook",
                notice.action.hook.hook_name
            )));
        }
        let instance = &notice.action.instance_id;
        let existing = self.store().load_launch(instance).await?;
        let admission = admit_launch(existing.as_ref(), &notice.action.token, notice.sent_at);
        let record = match admitted(admission, existing.as_ref(), Kept::Launch)? {
            Admitted::Done(outcome) => return Ok(outcome),
            Admitted::Resume(record) => record,
            Admitted::Write => {
                // Trust no notice: nothing is written unless Auto Scaling holds the instance
                // on a launch hook in the notice's group.
                let state = self.hooks().instance_state(instance).await?;
                if let Err(refusal) = verify_launch(&notice.action.hook.asg_name, state.as_ref()) {
                    return Ok(refuse(refusal));
                }
                match self
                    .record_launch(notice, existing.as_ref(), &settings.policy, mode)
                    .await?
                {
                    Some(record) => record,
                    None => return Ok(Outcome::LostRace),
                }
            }
        };
        self.look_at_launch(record, None, LaunchPrompt::Notice, mode)
            .await
    }

    /// Writes the new pending launch (replacing an older one); None when another invocation
    /// recorded another action first.
    async fn record_launch(
        &self,
        notice: &LaunchNotice,
        existing: Option<&LaunchRecord>,
        policy: &LaunchPolicy,
        mode: Mode,
    ) -> Result<Option<LaunchRecord>, DrainError> {
        let heartbeat_timeout_seconds = match heartbeat_timeout(
            self.hooks().heartbeat_timeout(&notice.action.hook).await,
        ) {
            HeartbeatTimeout::Known(timeout) => timeout,
            HeartbeatTimeout::Fail(error) => return Err(error),
            HeartbeatTimeout::FallBack(error) => {
                warn!(error = %error_chain(&error), "could not read the launch hook's heartbeat timeout; checks fall back to every minute");
                None
            }
        };
        let now = self.now();
        let record = LaunchRecord {
            revision: existing.map_or(0, |old| old.revision + 1),
            ..start_launch(
                LaunchStart {
                    action: notice.action.clone(),
                    origin: notice.origin,
                    destination: notice.destination,
                    noticed_at: believable_notice_time(notice.sent_at, now),
                    started_at: now,
                    heartbeat_timeout_seconds,
                    retention_seconds: self.config.retention_seconds,
                },
                policy,
            )
        };
        let write = match existing {
            Some(old) => {
                self.put_item(
                    mode,
                    "replace launch record",
                    self.store().replace_launch(&record, old.revision),
                )
                .await?
            }
            None => {
                self.put_item(
                    mode,
                    "insert launch record",
                    self.store().insert_launch(&record),
                )
                .await?
            }
        };
        if write == WriteOutcome::Written {
            self.note(mode, [Fact::Launch(LaunchFact::Started)]);
            info!(deadline = %record.deadline.to_rfc3339(), "pending launch recorded");
            return Ok(Some(record));
        }
        // A concurrent delivery of the same action, or this very write answered late: carry on.
        let current = self.store().load_launch(&record.instance_id).await?;
        Ok(current.filter(|current| {
            current.action.token == notice.action.token && !current.status.is_terminal()
        }))
    }

    /// on-lifecycle: ECS reports a container instance change. Only an EC2 instance with a
    /// pending launch is looked at; any other costs one keyed read.
    #[tracing::instrument(skip_all, fields(
        ec2_instance_id = %change.ec2_instance_id,
        container_instance_arn = %change.container_instance_arn,
        status = %change.status,
        agent_connected = change.agent_connected,
        event_version = change.version,
        dry_run = mode == Mode::DryRun,
    ))]
    pub async fn on_instance_joined(
        &self,
        change: &ContainerInstanceChange,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        if self.config.launch.is_none() {
            return Ok(ignored(
                "launch readiness is off (no launch hook configured)",
            ));
        }
        match self.store().load_launch(&change.ec2_instance_id).await? {
            Some(record) if !record.status.is_terminal() => {
                Box::pin(self.look_at_launch(record, Some(change), LaunchPrompt::Change, mode))
                    .await
            }
            _ => Ok(Outcome::Launch(LaunchOutcome::NoPendingLaunch)),
        }
    }

    /// on-lifecycle: a pending launch's scheduled check fired.
    #[tracing::instrument(skip_all, fields(ec2_instance_id = %instance, dry_run = mode == Mode::DryRun))]
    pub async fn on_launch_check(
        &self,
        instance: &Ec2InstanceId,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        match self.store().load_launch(instance).await? {
            Some(record) if !record.status.is_terminal() && self.config.launch.is_some() => {
                Box::pin(self.look_at_launch(record, None, LaunchPrompt::Check, mode)).await
            }
            // The launch ended (or was never recorded): one GetItem, nothing deleted. As for a
            // drain's check, the launch's end leaves its one-shot check to fire, and
            // EventBridge Scheduler deletes the schedule itself after that one invocation
            // (ActionAfterCompletion=DELETE, see `Drainer::on_check`).
            _ => {
                info!(
                    decision = "no_pending_launch",
                    "scheduled check of a launch that ended; nothing to do"
                );
                Ok(Outcome::Launch(LaunchOutcome::NoPendingLaunch))
            }
        }
    }

    /// One look: the facts, the decision, its effect. A reactivation is followed by one more
    /// look, which sees the container instance ACTIVE.
    async fn look_at_launch(
        &self,
        mut record: LaunchRecord,
        mut change: Option<&ContainerInstanceChange>,
        prompt: LaunchPrompt,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let policy = self
            .config
            .launch
            .as_ref()
            .map(|settings| settings.policy)
            .unwrap_or_default();
        loop {
            let now = self.now();
            let (registration, found, drain) = self.registration(&record, change).await?;
            if let Some(drain) = drain.filter(|drain| warm_return_ends_drain(&record, drain)) {
                self.end_drain_left_open(drain, mode, now).await?;
            }
            if let Some(found) = &found {
                record.container_instance_arn = Some(found.arn.clone());
                record.cluster_arn = Some(found.cluster_arn.clone());
            }
            let (daemon_services, tasks) = match (&found, policy.require_daemons) {
                (Some(found), true)
                    if found.status == EcsInstanceStatus::Active && found.agent_connected =>
                {
                    let daemons = self.cluster().daemon_services(&found.cluster_arn).await?;
                    let tasks = if daemons.is_empty() {
                        Vec::new()
                    } else {
                        self.cluster()
                            .tasks_on(&found.cluster_arn, &found.arn)
                            .await?
                            .read()?
                    };
                    (daemons, tasks)
                }
                _ => (Vec::new(), Vec::new()),
            };
            let facts = LaunchFacts {
                origin: record.origin,
                destination: record.destination,
                noticed_at: record.noticed_at,
                heartbeat_timeout_seconds: record.heartbeat_timeout_seconds,
                registration,
                daemon_services,
                tasks,
            };
            let decision = honour_launch_claim(&record, decide_launch(&facts, &policy, now));
            match decision {
                LaunchDecision::Complete { result, reason } => {
                    return self
                        .complete_launch(record, result, reason, mode, now)
                        .await;
                }
                LaunchDecision::Reactivate if !record.reactivated => {
                    let Some(found) = found else {
                        return Err(DrainError::permanent(
                            "ecs:UpdateContainerInstancesState",
                            "reactivation without a container instance",
                        ));
                    };
                    // ACTIVE first, recorded second: an invocation dying between the two leaves
                    // the record saying "not yet", so the next look sets it ACTIVE again (the
                    // call is idempotent); the other order could leave it DRAINING in service.
                    let update = self.cluster().set_active(&found);
                    self.update_instance_state(
                        mode,
                        "set ACTIVE (back from the warm pool)",
                        update,
                    )
                    .await?;
                    info!(container_instance_arn = %found.arn, "container instance back from the warm pool set ACTIVE");
                    let mut next = record.next(now);
                    next.reactivated = true;
                    if self.save_launch(&next, record.revision, mode).await?
                        == WriteOutcome::LostRace
                    {
                        info!(
                            decision = "lost_race",
                            "another invocation moved the launch first"
                        );
                        return Ok(Outcome::LostRace);
                    }
                    self.note(mode, [Fact::Launch(LaunchFact::Reactivated)]);
                    record = next;
                    // The event described the instance before the change: read it afresh.
                    change = None;
                    if mode == Mode::DryRun {
                        return Ok(Outcome::Launch(LaunchOutcome::Waiting {
                            waiting_on: LaunchWaitingOn::Registration,
                        }));
                    }
                }
                // Reactivated once already and still DRAINING: someone set it so again; the
                // deadline decides, as for any instance drained by others.
                LaunchDecision::Reactivate => {
                    return self
                        .keep_launch_waiting(
                            record,
                            LaunchWaitingOn::DrainedByOthers,
                            &policy,
                            prompt,
                            mode,
                            now,
                        )
                        .await;
                }
                LaunchDecision::Wait { waiting_on, .. } => {
                    return self
                        .keep_launch_waiting(record, waiting_on, &policy, prompt, mode, now)
                        .await;
                }
            }
        }
    }

    /// The container instance on the launch's EC2 instance: read in the watched clusters; one
    /// the event reports in an unwatched cluster is taken from the event (no call). Whether
    /// ecs-drain drained it is read from its drain record (returned too) only for a warm-pool
    /// return, where it can matter.
    async fn registration(
        &self,
        record: &LaunchRecord,
        change: Option<&ContainerInstanceChange>,
    ) -> Result<
        (
            Option<Registration>,
            Option<ContainerInstance>,
            Option<DrainRecord>,
        ),
        DrainError,
    > {
        if let Some(change) = change
            && change.ec2_instance_id == record.instance_id
            && !self.config.watches_cluster(&change.cluster_arn)
        {
            let registration = Registration {
                cluster_arn: change.cluster_arn.clone(),
                watched: false,
                status: change.status.clone(),
                agent_connected: change.agent_connected,
                drained_by_ecs_drain: false,
            };
            return Ok((Some(registration), None, None));
        }
        let found = self
            .cluster()
            .find_container_instance(&self.config.clusters, &record.instance_id)
            .await?;
        let Some(found) = found else {
            return Ok((None, None, None));
        };
        // Only a warm-pool return reads the drain record: whether ecs-drain drained the
        // instance, and whether that drain was left open (see `warm_return_ends_drain`).
        let drain = if record.origin == Some(Placement::WarmPool) {
            self.store().load(&found.arn).await?
        } else {
            None
        };
        let drained_by_ecs_drain = found.status == EcsInstanceStatus::Draining
            && drain
                .as_ref()
                .is_some_and(|drain| drain.ec2_instance_id == record.instance_id);
        let registration = Registration {
            cluster_arn: found.cluster_arn.clone(),
            watched: true,
            status: found.status.clone(),
            agent_connected: found.agent_connected,
            drained_by_ecs_drain,
        };
        Ok((Some(registration), Some(found), drain))
    }

    /// Not ready: heartbeat and book the next check as [`launch_upkeep`] says, and write the
    /// record only when something it keeps changed.
    async fn keep_launch_waiting(
        &self,
        record: LaunchRecord,
        waiting_on: LaunchWaitingOn,
        policy: &LaunchPolicy,
        prompt: LaunchPrompt,
        mode: Mode,
        now: Timestamp,
    ) -> Result<Outcome, DrainError> {
        info!(decision = "launch_waiting", waiting_on = ?waiting_on, "launch not ready yet");
        let mut next = record.next(now);
        let upkeep = launch_upkeep(&record, policy, now, prompt, self.config.schedule.is_some());
        if upkeep.heartbeat {
            let answer = self
                .effect(
                    mode,
                    "autoscaling:RecordLifecycleActionHeartbeat",
                    "heartbeat the launch hook",
                    ActionAnswer::Accepted,
                    self.hooks().heartbeat(&record.action),
                )
                .await?;
            if let ActionAnswer::NoActiveAction { .. } = answer {
                // The one rule for an action found gone: a completion claimed before (its
                // answer lost with its invocation) was done. The heartbeat's retry tells nothing.
                let gone = ActionAnswer::NoActiveAction {
                    after_unclear_attempt: false,
                };
                let gone = launch_completion_outcome(gone, &record);
                return self
                    .end_launch_at_gone_heartbeat(record, gone, mode, now)
                    .await;
            }
        }
        if let Some(at) = upkeep.book_check_at {
            self.effect(
                mode,
                "scheduler:CreateSchedule",
                "book the launch's next check",
                (),
                self.scheduler().schedule_launch(&record.instance_id, at),
            )
            .await?;
            next.next_check_at = Some(at);
        }
        let unchanged = LaunchRecord {
            revision: record.revision,
            updated_at: record.updated_at,
            ..next.clone()
        } == record;
        // A state change of a pending launch whose check is booked writes nothing when it learned
        // nothing new; a notice always writes (its record may be new to this look).
        if (!unchanged || prompt != LaunchPrompt::Change)
            && self.save_launch(&next, record.revision, mode).await? == WriteOutcome::LostRace
        {
            return Ok(Outcome::LostRace);
        }
        Ok(Outcome::Launch(LaunchOutcome::Waiting { waiting_on }))
    }

    /// Claims the completion, completes the action, records the end.
    async fn complete_launch(
        &self,
        record: LaunchRecord,
        result: LifecycleResult,
        reason: LaunchCompletion,
        mode: Mode,
        now: Timestamp,
    ) -> Result<Outcome, DrainError> {
        let mut claim = record.next(now);
        claim.status = LaunchStatus::Completing;
        claim.result = Some(result);
        claim.reason = Some(reason.name().to_owned());
        if self.save_launch(&claim, record.revision, mode).await? == WriteOutcome::LostRace {
            info!(
                decision = "lost_race",
                "another invocation claimed the launch first"
            );
            return Ok(Outcome::LostRace);
        }
        let answer = self
            .effect(
                mode,
                "autoscaling:CompleteLifecycleAction",
                result.as_str(),
                ActionAnswer::Accepted,
                self.hooks().complete(&claim.action, result),
            )
            .await?;
        let action = launch_completion_outcome(answer, &record);
        let mut done = claim.next(now);
        done.status = match action {
            ActionOutcome::NoActiveAction => LaunchStatus::Expired,
            ActionOutcome::Done | ActionOutcome::DoneUnconfirmed => LaunchStatus::Completed,
        };
        done.next_check_at = None;
        // The claim is ours: a lost race here only means a retry of this very write landed.
        self.save_launch(&done, claim.revision, mode).await?;
        // The launch's pending check is left to fire and find the launch ended (one GetItem).
        if action == ActionOutcome::NoActiveAction {
            return Ok(self.launch_expired(mode));
        }
        let mut facts = vec![Fact::Launch(LaunchFact::Completed {
            result,
            reason: reason.name(),
            duration_seconds: now.seconds_since(record.noticed_at),
        })];
        if matches!(
            reason,
            LaunchCompletion::DeadlinePassed | LaunchCompletion::RegistrationFailed
        ) {
            facts.push(Fact::Launch(LaunchFact::DeadlinePassed));
        }
        self.note(mode, facts);
        match &reason {
            LaunchCompletion::UnwatchedCluster { cluster_arn } => info!(
                decision = "launch_completed",
                result = result.as_str(),
                reason = reason.name(),
                cluster = %cluster_arn,
                "the instance joined a cluster ecs-drain does not watch; launch action completed"
            ),
            _ => info!(
                decision = "launch_completed",
                result = result.as_str(),
                reason = reason.name(),
                "launch action completed"
            ),
        }
        Ok(Outcome::Launch(LaunchOutcome::Completed {
            result,
            reason,
            action,
        }))
    }

    /// The action was gone at a heartbeat: the launch record ends COMPLETED with the claimed
    /// result after a completion whose answer was lost (`gone` is DoneUnconfirmed), else EXPIRED.
    async fn end_launch_at_gone_heartbeat(
        &self,
        record: LaunchRecord,
        gone: ActionOutcome,
        mode: Mode,
        now: Timestamp,
    ) -> Result<Outcome, DrainError> {
        let completed = record
            .result
            .filter(|_| gone == ActionOutcome::DoneUnconfirmed);
        let mut done = record.next(now);
        done.status = match completed {
            Some(_) => LaunchStatus::Completed,
            None => LaunchStatus::Expired,
        };
        done.next_check_at = None;
        if self.save_launch(&done, record.revision, mode).await? == WriteOutcome::LostRace {
            return Ok(Outcome::LostRace);
        }
        let Some(result) = completed else {
            return Ok(self.launch_expired(mode));
        };
        info!(
            decision = "launch_completed",
            result = result.as_str(),
            "heartbeat found no active launch action after a completion whose answer was lost: \
             that completion was done"
        );
        Ok(Outcome::Launch(LaunchOutcome::CompletedBefore { result }))
    }

    /// The launch action was found gone and the launch record says EXPIRED: counted, logged.
    fn launch_expired(&self, mode: Mode) -> Outcome {
        self.note(mode, [Fact::Launch(LaunchFact::Expired)]);
        info!(
            decision = "launch_expired",
            "the launch action was already gone"
        );
        Outcome::Launch(LaunchOutcome::Expired)
    }

    /// Ends the drain a warm-pool return's terminate action left open: EXPIRED (the action is
    /// over, and not by ecs-drain's completion). Its check, if one is still booked, fires once
    /// and finds the drain ended; a new drain of the instance moves that same schedule. A lost
    /// race is left to the next look, which reads the drain afresh.
    async fn end_drain_left_open(
        &self,
        drain: DrainRecord,
        mode: Mode,
        now: Timestamp,
    ) -> Result<(), DrainError> {
        let (status, reason) = warm_return_drain_end(&drain);
        let ended = drain.ended(now, status, None, reason.to_owned());
        let write = self
            .replace_drain(mode, "end the drain left open", &ended, drain.revision)
            .await?;
        if write == WriteOutcome::LostRace {
            info!("the drain left open was written meanwhile; the next look ends it");
            return Ok(());
        }
        info!(
            decision = "drain_ended",
            container_instance_arn = %drain.container_instance_arn,
            drain_token_prefix = %drain.token.prefix(),
            status = status.as_str(),
            reason,
            "the drain of the terminate action that sent the instance to the warm pool ended"
        );
        Ok(())
    }

    async fn save_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
        mode: Mode,
    ) -> Result<WriteOutcome, DrainError> {
        self.put_item(
            mode,
            "update launch record",
            self.store().replace_launch(record, expected_revision),
        )
        .await
    }
}

fn ignored(reason: &str) -> Outcome {
    info!(decision = "ignored", reason, "launch input ignored");
    Outcome::Ignored {
        reason: reason.to_owned(),
    }
}

#[cfg(test)]
mod tests;
