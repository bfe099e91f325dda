//! The operator use case: force-complete, extend and cancel a drain, as drainctl asks.
//!
//! The decisions are [`crate::decision::operator`]'s; this module reads the record, writes the
//! planned record conditionally on the revision it read, and makes the calls the plan names.
//! A lost race is reported, never retried: the operator looks again and decides again.

use crate::decision::operator::{
    BookedCheck, OperatorAction, OperatorPlan, OperatorRefusal, operator_completed, plan_operator,
};
use crate::error::{DrainError, error_chain};
use crate::ids::ContainerInstanceArn;
use crate::ports::{
    CheckScheduler, Cluster, ContainerInstance, DrainStore, EcsInstanceStatus, LifecycleHooks,
    WriteOutcome,
};
use crate::record::DrainRecord;
use crate::time::Timestamp;

/// Why an operator action did not happen (or did not finish).
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// No drain is recorded for the instance.
    #[error("no drain is recorded for {0}")]
    NotFound(ContainerInstanceArn),
    /// The decision refused the action; nothing was written.
    #[error(transparent)]
    Refused(#[from] OperatorRefusal),
    /// The record changed between the read and the write (a function moved the drain).
    #[error("the drain changed while the action was being written; look again and retry")]
    Changed,
    /// An AWS call failed. If the claim had been written it was given back.
    #[error(transparent)]
    Aws(#[from] DrainError),
}

/// The ports an operator action uses, and the functions' COMPLETING lease.
#[derive(Debug)]
pub struct Operator<'a, C, H, S, Q> {
    /// ECS (cancel sets the instance ACTIVE again).
    pub cluster: &'a C,
    /// Auto Scaling (the completion).
    pub hooks: &'a H,
    /// The drain records.
    pub store: &'a S,
    /// The drains' scheduled checks (an ended drain's is deleted); None when the schedule
    /// group is not known.
    pub scheduler: Option<&'a Q>,
    /// How long an invocation's COMPLETING claim is honoured (the functions' setting).
    pub lease_seconds: i64,
}

impl<C: Cluster, H: LifecycleHooks, S: DrainStore, Q: CheckScheduler> Operator<'_, C, H, S, Q> {
    /// Runs `action` by `who` at `now` on the drain of `instance`; `claim_id` names the
    /// completion claim. Returns the record as written last.
    pub async fn act(
        &self,
        instance: &ContainerInstanceArn,
        action: OperatorAction,
        who: &str,
        now: Timestamp,
        claim_id: String,
    ) -> Result<DrainRecord, OperatorError> {
        let record = self
            .store
            .load(instance)
            .await?
            .ok_or_else(|| OperatorError::NotFound(instance.clone()))?;
        match plan_operator(&record, action, who, now, claim_id, self.lease_seconds)? {
            OperatorPlan::Extend { record: extended } => {
                self.write(&extended, record.revision).await?;
                Ok(extended)
            }
            OperatorPlan::Complete {
                claim,
                result,
                reactivate,
            } => {
                self.write(&claim, record.revision).await?;
                if reactivate {
                    let container_instance = ContainerInstance {
                        arn: claim.container_instance_arn.clone(),
                        cluster_arn: claim.cluster_arn.clone(),
                        ec2_instance_id: claim.ec2_instance_id.clone(),
                        status: EcsInstanceStatus::Draining,
                        // Not read by set_active: only the ARN and cluster go on the wire.
                        agent_connected: false,
                    };
                    if let Err(error) = self.cluster.set_active(&container_instance).await {
                        // Nothing was sent to Auto Scaling: give the claim back as it was.
                        let mut back = claim.progressed(now);
                        back.status = record.status;
                        back.claim_id = None;
                        self.write(&back, claim.revision).await?;
                        return Err(error.into());
                    }
                }
                let answer = match self.hooks.complete(&claim.action(), result).await {
                    Ok(answer) => answer,
                    Err(error) => {
                        // The call may have taken effect: released() notes the send, as the
                        // functions do, so the next look reads "no active action" correctly.
                        self.write(&claim.released(now), claim.revision).await?;
                        return Err(error.into());
                    }
                };
                // The drain is over: its booked check has nothing left to do. Deleted before
                // the last write so that the audit entry says what became of it.
                let check = self.delete_check(&claim.container_instance_arn).await;
                let ended = operator_completed(&claim, action, result, answer, &check, now);
                self.write(&ended, claim.revision).await?;
                Ok(ended)
            }
        }
    }

    /// Deletes the drain's check; a failure is recorded, never fatal (the action is done, and
    /// a leftover check finds the drain ended and deletes itself).
    async fn delete_check(&self, instance: &ContainerInstanceArn) -> BookedCheck {
        let Some(scheduler) = self.scheduler else {
            return BookedCheck::GroupUnknown;
        };
        match scheduler.cancel(instance).await {
            Ok(()) => BookedCheck::Deleted,
            Err(error) => BookedCheck::NotDeleted(error_chain(&error)),
        }
    }

    async fn write(&self, record: &DrainRecord, expected: u64) -> Result<(), OperatorError> {
        match self.store.replace(record, expected).await? {
            WriteOutcome::Written => Ok(()),
            WriteOutcome::LostRace => Err(OperatorError::Changed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::operator::AuditEntry;
    use crate::record::{DrainStatus, LifecycleResult};
    use crate::testing::memory::{
        CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
    };
    use crate::testing::sample;

    const WHO: &str = "arn:aws:iam::123456789012:user/alice";

    /// `seconds` after the sample drain started.
    fn at(seconds: i64) -> Timestamp {
        sample::STARTED_AT.plus_seconds(seconds)
    }

    struct Fake {
        cluster: MemoryCluster,
        hooks: MemoryHooks,
        store: MemoryStore,
        scheduler: MemoryScheduler,
        record: DrainRecord,
    }

    /// The sample drain on record, its action begun, its check booked.
    async fn fake() -> Fake {
        let log = CallLog::default();
        let fake = Fake {
            cluster: MemoryCluster::new(log.clone()),
            hooks: MemoryHooks::new(log.clone()),
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log),
            record: sample::drain_record(),
        };
        fake.cluster.add_instance(
            &fake.record.cluster_arn,
            &fake.record.container_instance_arn,
            &fake.record.ec2_instance_id,
        );
        fake.hooks.begin(&fake.record.action());
        assert_eq!(
            fake.store.insert(&fake.record).await.ok(),
            Some(crate::ports::InsertOutcome::Inserted)
        );
        assert!(
            fake.scheduler
                .schedule(&fake.record.container_instance_arn, at(240))
                .await
                .is_ok()
        );
        fake
    }

    impl Fake {
        fn operator(
            &self,
        ) -> Operator<'_, MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler> {
            Operator {
                cluster: &self.cluster,
                hooks: &self.hooks,
                store: &self.store,
                scheduler: Some(&self.scheduler),
                lease_seconds: 180,
            }
        }

        /// `action` by WHO at `at(seconds)` on the sample drain.
        async fn act(
            &self,
            action: OperatorAction,
            seconds: i64,
        ) -> Result<DrainRecord, OperatorError> {
            self.operator()
                .act(
                    &self.record.container_instance_arn,
                    action,
                    WHO,
                    at(seconds),
                    format!("op-{seconds}"),
                )
                .await
        }

        fn booked(&self) -> Option<Timestamp> {
            self.scheduler.booked(&self.record.container_instance_arn)
        }
    }

    #[tokio::test]
    async fn force_complete_completes_the_action_once_deletes_the_check_and_records_it() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        let done = fake
            .act(
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Abandon,
                },
                1_000,
            )
            .await
            .expect("completed");
        let action = fake.hooks.action(&fake.record.token).expect("action");
        assert_eq!(
            (action.active, action.completions, action.result),
            (false, 1, Some(LifecycleResult::Abandon))
        );
        let stored = fake.store.get(&arn).expect("stored");
        assert_eq!(stored, done);
        assert_eq!(stored.status, DrainStatus::Completed);
        assert_eq!(
            stored.audit,
            vec![AuditEntry {
                who: WHO.into(),
                at: at(1_000),
                what: "force-complete ABANDON; booked check deleted".into()
            }]
        );
        assert_eq!(fake.booked(), None, "the ended drain's check is deleted");
        // a second force-complete is refused, and completes nothing again
        let again = fake
            .act(
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Continue,
                },
                1_010,
            )
            .await;
        assert!(
            matches!(
                again,
                Err(OperatorError::Refused(OperatorRefusal::Finished { .. }))
            ),
            "{again:?}"
        );
        assert_eq!(
            fake.hooks.action(&fake.record.token).map(|a| a.completions),
            Some(1)
        );
    }

    #[tokio::test]
    async fn without_a_known_schedule_group_the_check_is_left_and_the_audit_says_so() {
        let fake = fake().await;
        let operator = Operator::<_, _, _, MemoryScheduler> {
            scheduler: None,
            ..fake.operator()
        };
        let done = operator
            .act(
                &fake.record.container_instance_arn,
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Continue,
                },
                WHO,
                at(1_000),
                "op".into(),
            )
            .await
            .expect("completed");
        assert_eq!(
            done.audit[0].what,
            "force-complete CONTINUE; booked check left (schedule group unknown): it finds the \
             drain ended"
        );
        assert_eq!(fake.booked(), Some(at(240)));
    }

    #[tokio::test]
    async fn cancel_sets_the_instance_active_before_completing() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        fake.cluster.with_state(|state| {
            for instance in &mut state.instances {
                instance.status = EcsInstanceStatus::Draining;
            }
        });
        let done = fake
            .act(
                OperatorAction::Cancel {
                    result: LifecycleResult::Abandon,
                },
                1_000,
            )
            .await
            .expect("cancelled");
        assert_eq!(
            fake.cluster.instance_status(&arn).as_deref(),
            Some("ACTIVE")
        );
        assert_eq!(
            fake.hooks.action(&fake.record.token).and_then(|a| a.result),
            Some(LifecycleResult::Abandon)
        );
        assert_eq!(fake.booked(), None);
        assert_eq!(
            done.audit[0].what,
            "cancel: ACTIVE again, complete ABANDON; booked check deleted"
        );
    }

    #[tokio::test]
    async fn a_failed_completion_gives_the_claim_back_noting_the_send_and_keeps_the_check() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        fake.hooks.fail_next_complete(DrainError::Transient {
            operation: "autoscaling:CompleteLifecycleAction",
            source: "connection reset".into(),
        });
        let failed = fake
            .act(
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Continue,
                },
                1_000,
            )
            .await;
        assert!(matches!(failed, Err(OperatorError::Aws(_))), "{failed:?}");
        let stored = fake.store.get(&arn).expect("stored");
        assert_eq!(
            (stored.status, stored.claim_id, stored.completion_sent_at),
            (DrainStatus::Draining, None, Some(at(1_000)))
        );
        assert_eq!(stored.audit.len(), 1, "the attempt stays on the record");
        assert_eq!(
            fake.booked(),
            Some(at(240)),
            "the drain goes on: so does its check"
        );
    }

    #[tokio::test]
    async fn extend_writes_the_new_deadline_keeps_the_check_and_an_unknown_instance_is_not_found() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        let extended = fake
            .act(OperatorAction::Extend { by_seconds: 1_800 }, 1_000)
            .await
            .expect("extended");
        assert_eq!(
            fake.store.get(&arn).map(|r| r.deadline_at),
            Some(fake.record.deadline_at.plus_seconds(1_800))
        );
        assert_eq!(extended.revision, 1);
        assert_eq!(fake.booked(), Some(at(240)));
        let other = ContainerInstanceArn::new(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/other",
        )
        .expect("arn");
        let missing = fake
            .operator()
            .act(
                &other,
                OperatorAction::Extend { by_seconds: 60 },
                WHO,
                at(1_000),
                "op".into(),
            )
            .await;
        assert!(
            matches!(missing, Err(OperatorError::NotFound(_))),
            "{missing:?}"
        );
    }
}
