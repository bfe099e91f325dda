//! on-lifecycle's early drains: a Spot interruption warning (and, when enabled, a rebalance
//! recommendation) drains an instance before any lifecycle action exists, and the group's
//! terminate action for the same instance joins that drain, so there is one drain and one
//! completion. The rules are `decision::spot` and `decision::spot::awaiting`; this file reads
//! the facts and applies their answers with the same conditional writes as any drain.

use tracing::{info, warn};

use super::{Drainer, Mode, Outcome, refuse};
use crate::census::Census;
use crate::decision::coexistence::{Coexistence, managed_draining_coexistence};
use crate::decision::look::{CensusReason, Cue};
use crate::decision::plan_check_interval;
use crate::decision::recovery::{JOIN_RETRIES, JoinRetry, after_lost_join};
use crate::decision::spot::awaiting::after_awaiting;
use crate::decision::spot::{
    EarlyDecision, EarlyDrainKind, EarlyDrainPolicy, EarlyIgnore, EarlyInstance, EarlyNotice,
    ExistingDrain, TerminateJoin, believe_early_notice, decide_early_drain, early_join_rewrites,
    immovable_within_horizon, terminate_meets_early_drain,
};
use crate::decision::start::believable_notice_time;
use crate::decision::upkeep::{Trigger, upkeep};
use crate::decision::verify::{AfterExpiry, FunctionIdentity, Refusal};
use crate::decision::{MIN_BOOKING_LEAD_SECONDS, sets_draining};
use crate::error::DrainError;
use crate::event::TerminateNotice;
use crate::event::fleet::{RebalanceRecommendation, SpotInterruption};
use crate::ids::{
    AsgName, Ec2InstanceId, HookName, HookRef, LifecycleActionRef, LifecycleToken, quoted,
};
use crate::metrics::Fact;
use crate::ports::{
    CheckScheduler, Cluster, ContainerInstance, DrainStore, EcsInstanceStatus, LifecycleHooks,
    Ports, WriteOutcome,
};
use crate::record::{DrainRecord, DrainStart, DrainStatus, StartPlan};
use crate::time::Timestamp;

/// At most this many service names go into one log line.
const MAX_LOGGED_SERVICES: usize = 10;

/// Placeholder group of a drain that no lifecycle action holds yet (the EC2 notice names only
/// the instance); the terminate action that joins brings the real one.
const NO_GROUP_YET: &str = "-";

/// An early notice with what is needed to handle it.
struct Early<'a> {
    notice: EarlyNotice,
    instance_id: &'a Ec2InstanceId,
    replay_name: Option<&'a str>,
}

/// Hands an early notice event (a Spot warning or a rebalance recommendation: the same fields
/// under the same names) to [`Drainer::on_early`], unless it is from another account or region.
macro_rules! handle_early {
    ($drainer:expr, $event:expr, $own:expr) => {{
        let event = $event;
        let early = Early {
            notice: EarlyNotice::from(event),
            instance_id: &event.instance_id,
            replay_name: event.replay_name.as_deref(),
        };
        let (account, region) = (event.account.as_deref(), event.region.as_deref());
        let use_case = Box::pin($drainer.on_early(early));
        $drainer
            .if_own_origin(account, region, $own, use_case)
            .await
    }};
}

impl<P: Ports> Drainer<P> {
    /// on-lifecycle: an EC2 Spot Instance Interruption Warning arrived at the function `own`.
    pub async fn on_spot_warning(
        &self,
        warning: &SpotInterruption,
        own: &FunctionIdentity,
    ) -> Result<Outcome, DrainError> {
        handle_early!(self, warning, own)
    }

    /// on-lifecycle: an EC2 Instance Rebalance Recommendation arrived at the function `own`
    /// (ignored, with the reason, unless rebalance draining is on).
    pub async fn on_rebalance(
        &self,
        recommendation: &RebalanceRecommendation,
        own: &FunctionIdentity,
    ) -> Result<Outcome, DrainError> {
        handle_early!(self, recommendation, own)
    }

    fn early_policy(&self) -> EarlyDrainPolicy {
        EarlyDrainPolicy {
            drain_on_rebalance: self.config.drain_on_rebalance,
            // A recommendation has no horizon: the operator's own graceful phase is the limit.
            rebalance_deadline_seconds: self.config.policy.deadline_seconds,
        }
    }

    #[tracing::instrument(skip_all, fields(
        ec2_instance_id = %early.instance_id,
        kind = early.notice.kind.as_str(),
        container_instance_arn = tracing::field::Empty,
    ))]
    async fn on_early(&self, early: Early<'_>) -> Result<Outcome, DrainError> {
        let mode = self.mode_for(early.replay_name);
        let policy = self.early_policy();
        let now = self.now();
        // Nothing is read for a notice that is ignored whatever the instance.
        if let EarlyDecision::Ignore(why @ EarlyIgnore::RebalanceDisabled) =
            decide_early_drain(&early.notice, None, None, &[], &policy, now)
        {
            return Ok(ignore_early(&why));
        }
        // Nor for one whose own time says it is history (or from no clock of AWS's).
        if let Err(why) = believe_early_notice(&early.notice, &policy, now) {
            return Ok(refuse(Refusal::Unbelieved(why)));
        }
        let found = self
            .cluster()
            .find_container_instance(&self.config.clusters, early.instance_id)
            .await?;
        let existing = match &found {
            Some(instance) => {
                tracing::Span::current().record("container_instance_arn", instance.arn.as_str());
                self.store().load(&instance.arn).await?
            }
            None => None,
        };
        let facts = found.as_ref().map(|instance| EarlyInstance {
            cluster_arn: instance.cluster_arn.clone(),
            watched: self.config.watches_cluster(&instance.cluster_arn),
            status: instance.status.clone(),
        });
        let known = existing.as_ref().map(|record| ExistingDrain {
            deadline: record.deadline_at,
            finished: record.status.is_terminal(),
        });
        let decision = decide_early_drain(
            &early.notice,
            facts.as_ref(),
            known.as_ref(),
            &[],
            &policy,
            now,
        );
        match (decision, found) {
            (EarlyDecision::Ignore(why), _) => Ok(ignore_early(&why)),
            (
                EarlyDecision::Start {
                    kind,
                    deadline,
                    set_draining,
                    ..
                },
                Some(instance),
            ) => {
                let start = EarlyStart {
                    kind,
                    deadline,
                    set_draining,
                    noticed_at: believable_notice_time(early.notice.sent_at, now),
                };
                self.start_early(start, &instance, existing, mode).await
            }
            (EarlyDecision::Join { deadline, .. }, Some(_)) => match existing {
                Some(record) => self.early_joins_drain(record, deadline, mode).await,
                None => Ok(Outcome::LostRace),
            },
            // The decision starts or joins only for an instance it was given.
            (_, None) => Ok(ignore_early(&EarlyIgnore::NotAnEcsInstance)),
        }
    }

    async fn start_early(
        &self,
        start: EarlyStart,
        instance: &ContainerInstance,
        finished: Option<DrainRecord>,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let mut record = self.early_record(&start, instance)?;
        if let Some(old) = &finished {
            // A finished drain of an instance back in service: this one replaces it.
            record.revision = old.revision + 1;
        }
        // The first check is booked before the record is written: an invocation that dies
        // between the two leaves a check that finds the drain and carries it on (or ends it
        // when no action joins), or finds none and cancels itself. The other order could leave
        // a drain no check ever looks at, and a retry of its warning past the warning's horizon
        // is refused as stale, so nothing would start it again (sim seed 3604).
        let now = self.now();
        let books_checks = self.config.schedule.is_some();
        if let Some(at) = upkeep(&record, now, Trigger::Lifecycle, books_checks).book_check_at {
            let why = "book the early drain's first check";
            self.book_check(&record.container_instance_arn, at, why, mode)
                .await?;
            record.next_check_at = Some(at);
        }
        let write = self.write_new(&record, finished.as_ref(), mode).await?;
        if write == WriteOutcome::LostRace {
            // A duplicate delivery (or the terminate action) recorded a drain first: it goes on.
            info!(
                decision = "lost_race",
                "another invocation recorded this instance's drain first"
            );
            return Ok(Outcome::LostRace);
        }
        self.note(mode, [Fact::EarlyDrainStarted(start.kind)]);
        info!(decision = "early_drain", kind = start.kind.as_str(), deadline_at = %start.deadline, "drain started ahead of any lifecycle action");
        if start.set_draining {
            self.set_draining(instance, mode).await?;
        }
        if start.kind == EarlyDrainKind::Interruption {
            // The census describes the services on the instance; the record keeps their facts.
            self.census(&mut record).await?;
            record.immovable_services = immovable_within_horizon(&record.service_kinds);
            if !record.immovable_services.is_empty() {
                self.note(mode, [Fact::ImmovableWithinHorizon]);
                warn!(
                    services = %capped_names(&record.immovable_services),
                    "services with minimumHealthyPercent 100 or more start a replacement before \
                     stopping a task, which rarely fits in the two-minute interruption horizon"
                );
            }
        }
        self.evaluate(record, mode, Cue::Lifecycle).await
    }

    /// The record of a new early drain: no action yet (placeholder hook and token), checks a
    /// minute apart (no heartbeat timeout to plan with), the notice's deadline.
    fn early_record(
        &self,
        start: &EarlyStart,
        instance: &ContainerInstance,
    ) -> Result<DrainRecord, DrainError> {
        let placeholder = |error: crate::ids::InvalidId| {
            DrainError::permanent("start early drain", error.to_string())
        };
        let hook = HookRef {
            asg_name: AsgName::new(NO_GROUP_YET).map_err(placeholder)?,
            hook_name: HookName::new(self.config.hook_name.as_deref().unwrap_or(NO_GROUP_YET))
                .map_err(placeholder)?,
        };
        let now = self.now();
        let record = DrainRecord::start(
            DrainStart {
                container_instance_arn: instance.arn.clone(),
                cluster_arn: instance.cluster_arn.clone(),
                action: LifecycleActionRef {
                    hook,
                    instance_id: instance.ec2_instance_id.clone(),
                    token: LifecycleToken::none_yet(),
                },
                noticed_at: start.noticed_at,
                started_at: now,
                heartbeat_timeout_seconds: None,
                deadline_seconds: start.deadline.seconds_since(now).max(0),
                retention_seconds: self.config.retention_seconds,
            },
            StartPlan {
                check_interval_seconds: plan_check_interval(None),
                hook_expires_at: None,
                deadline_at: start.deadline,
            },
        );
        Ok(DrainRecord {
            kind: start.kind.into(),
            awaiting_action: true,
            ..record
        })
    }

    /// A drain already runs for the instance (a terminate action came first, or this notice
    /// is a duplicate): keep it, with the earlier deadline, and book its check for it; a drain
    /// whose completion is under way is left as it is ([`early_join_rewrites`]).
    async fn early_joins_drain(
        &self,
        record: DrainRecord,
        deadline: Timestamp,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let rewrites = early_join_rewrites(record.status, record.completion_sent_at.is_some());
        if deadline >= record.deadline_at || !rewrites {
            info!(
                decision = "joined",
                completing = !rewrites,
                "the instance's drain already runs; nothing changes"
            );
            return Ok(Outcome::Joined {
                deadline_moved: false,
            });
        }
        let now = self.now();
        let mut joined = DrainRecord {
            deadline_at: deadline,
            ..record.progressed(now)
        };
        if self.config.schedule.is_some() {
            // Earlier, never later: a check moved earlier never stretches the heartbeat gap.
            let at = deadline.max(now.plus_seconds(MIN_BOOKING_LEAD_SECONDS));
            if record.next_check_at.is_none_or(|booked| at < booked) {
                self.effect(
                    mode,
                    "scheduler:CreateSchedule",
                    "book the check at the earlier deadline",
                    (),
                    self.scheduler()
                        .schedule(&record.container_instance_arn, at),
                )
                .await?;
                joined.next_check_at = Some(at);
            }
        }
        let write = self
            .replace_drain(mode, "earlier deadline", &joined, record.revision)
            .await?;
        if write == WriteOutcome::LostRace {
            return Ok(Outcome::LostRace);
        }
        info!(decision = "joined", deadline_at = %deadline, "the instance's drain already runs; its deadline moved to the notice's horizon");
        Ok(Outcome::Joined {
            deadline_moved: true,
        })
    }

    /// Attaches the confirmed terminate action (`fresh`: the drain it would start) to the
    /// early drain `early`, or starts its drain over one that ended; a lost write joins the
    /// stored drain again ([`after_lost_join`]). The joined drain is decided on `census`, the
    /// notice's own, taken moments ago.
    pub(super) async fn join_early(
        &self,
        notice: &TerminateNotice,
        instance: &ContainerInstance,
        early: DrainRecord,
        fresh: &DrainRecord,
        census: Census,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let mut early = early;
        let mut retries = 0;
        let record = loop {
            let known = ExistingDrain {
                deadline: early.deadline_at,
                finished: early.status.is_terminal(),
            };
            let joined = match terminate_meets_early_drain(&known, fresh.deadline_at) {
                TerminateJoin::Attach { deadline } => DrainRecord {
                    hook: fresh.hook.clone(),
                    token: fresh.token.clone(),
                    noticed_at: fresh.noticed_at,
                    heartbeat_timeout_seconds: fresh.heartbeat_timeout_seconds,
                    check_interval_seconds: fresh.check_interval_seconds,
                    hook_expires_at: fresh.hook_expires_at,
                    deadline_at: deadline,
                    expires_at: early.expires_at.max(fresh.expires_at),
                    awaiting_action: false,
                    coexistence_warned: fresh.coexistence_warned,
                    ..early.progressed(self.now())
                },
                TerminateJoin::StartAfresh => DrainRecord {
                    kind: early.kind,
                    revision: early.revision + 1,
                    ..fresh.clone()
                },
            };
            let write = self
                .replace_drain(mode, "join the early drain", &joined, early.revision)
                .await?;
            if write == WriteOutcome::Written {
                if known.finished {
                    self.note(mode, [Fact::DrainStarted]);
                }
                if fresh.coexistence_warned {
                    self.note(mode, [Fact::ManagedDrainingCoexists]);
                }
                info!(decision = "joined", kind = early.kind.as_str(), deadline_at = %joined.deadline_at, "the terminate action joins the early drain");
                break joined;
            }
            let current = self.store().load(&instance.arn).await?;
            match (
                after_lost_join(current.as_ref(), &notice.action.token, retries),
                current,
            ) {
                (JoinRetry::CarryOn, Some(current)) => break current,
                (JoinRetry::Retry, Some(current)) => {
                    retries += 1;
                    info!(
                        retry = retries,
                        "the early drain moved on meanwhile; joining it again"
                    );
                    early = current;
                }
                (JoinRetry::Exhausted, _) => {
                    return Err(DrainError::transient(
                        "dynamodb:PutItem",
                        format!(
                            "joining the early drain lost the conditional write, then lost it \
                             again on each of {JOIN_RETRIES} retries; the delivery is retried"
                        ),
                    ));
                }
                _ => {
                    info!(
                        decision = "lost_race",
                        "another invocation moved the early drain on first"
                    );
                    return Ok(Outcome::LostRace);
                }
            }
        };
        if sets_draining(&instance.status) {
            self.set_draining(instance, mode).await?;
        }
        let record = super::with_service_kinds_of(record, fresh);
        let reason = CensusReason::DrainStart;
        self.look_on_census(record, census, mode, Trigger::Lifecycle, reason)
            .await
    }

    /// No lifecycle action joined the early drain in time: end it without a completion, and
    /// give an instance that stays in its group back to ECS.
    pub(super) async fn end_awaiting(
        &self,
        record: DrainRecord,
        mode: Mode,
    ) -> Result<Outcome, DrainError> {
        let state = self.hooks().instance_state(&record.ec2_instance_id).await?;
        let rule = |status: Option<&EcsInstanceStatus>| {
            after_awaiting(record.kind, state.as_ref(), status)
        };
        let (AfterExpiry::Leave { reason } | AfterExpiry::RestoreActive { reason }) =
            self.restore_active_if_staying(&record, mode, rule).await?;
        warn!(decision = "ended_without_action", reason = %reason, "no lifecycle action joined the early drain");
        let now = self.now();
        let ended = record.ended(now, DrainStatus::Completed, None, reason);
        let write = self
            .replace_drain(mode, "end the early drain", &ended, record.revision)
            .await?;
        if write == WriteOutcome::LostRace {
            // The terminate action joined meanwhile: its drain goes on.
            return Ok(Outcome::LostRace);
        }
        // The early drain's check is left to fire and find it ended, as after a completion.
        Ok(Outcome::EndedWithoutAction)
    }

    /// Whether a new drain warns that its group also carries ECS managed draining's hook
    /// (`hook_names` from the DescribeLifecycleHooks answer the drain reads anyway).
    pub(super) fn warn_coexistence(&self, hook_names: &[String], already_warned: bool) -> bool {
        match managed_draining_coexistence(hook_names, already_warned) {
            Coexistence::WarnNow => {
                warn!(
                    hook = crate::config::ECS_MANAGED_DRAINING_HOOK,
                    "the group also carries ECS managed draining's hook: two tools drain its \
                     instances; ecs-drain never acts on that hook's actions, but remove one of \
                     the two (README, Coexistence)"
                );
                true
            }
            Coexistence::AlreadyWarned => true,
            Coexistence::Alone => false,
        }
    }
}

/// What starts an early drain.
struct EarlyStart {
    kind: EarlyDrainKind,
    deadline: Timestamp,
    set_draining: bool,
    noticed_at: Timestamp,
}

fn ignore_early(why: &EarlyIgnore) -> Outcome {
    let reason = why.describe();
    info!(decision = "ignored", reason = %reason, "early notice ignored");
    Outcome::Ignored { reason }
}

/// The first names, quoted, then how many more: bounded whatever the list holds.
fn capped_names(names: &[String]) -> String {
    let mut shown: Vec<String> = names
        .iter()
        .take(MAX_LOGGED_SERVICES)
        .map(|name| quoted(name))
        .collect();
    if names.len() > MAX_LOGGED_SERVICES {
        shown.push(format!("and {} more", names.len() - MAX_LOGGED_SERVICES));
    }
    shown.join(", ")
}
