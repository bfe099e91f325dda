//! The operator use case: force-complete, extend and cancel a drain, as drainctl asks.
//!
//! The decisions are [`crate::decision::operator`]'s; this module reads the record, writes the
//! planned record conditionally on the revision it read, and makes the calls the plan names.
//! A lost race is reported, never retried: the operator looks again and decides again.

use crate::decision::operator::{
    OperatorAction, OperatorPlan, OperatorRefusal, operator_completed, plan_operator,
};
use crate::error::DrainError;
use crate::ids::ContainerInstanceArn;
use crate::ports::{
    Cluster, ContainerInstance, DrainStore, EcsInstanceStatus, LifecycleHooks, WriteOutcome,
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
pub struct Operator<'a, C, H, S> {
    /// ECS (cancel sets the instance ACTIVE again).
    pub cluster: &'a C,
    /// Auto Scaling (the completion).
    pub hooks: &'a H,
    /// The drain records.
    pub store: &'a S,
    /// How long an invocation's COMPLETING claim is honoured (the functions' setting).
    pub lease_seconds: i64,
}

impl<C: Cluster, H: LifecycleHooks, S: DrainStore> Operator<'_, C, H, S> {
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
                let ended = operator_completed(&claim, action, result, answer, now);
                self.write(&ended, claim.revision).await?;
                Ok(ended)
            }
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
    use crate::decision::start_drain;
    use crate::ids::{
        AsgName, ClusterArn, Ec2InstanceId, HookName, HookRef, LifecycleActionRef, LifecycleToken,
    };
    use crate::record::{DrainStart, DrainStatus, LifecycleResult};
    use crate::testing::memory::{CallLog, MemoryCluster, MemoryHooks, MemoryStore};

    const WHO: &str = "arn:aws:iam::123456789012:user/alice";

    struct Fake {
        cluster: MemoryCluster,
        hooks: MemoryHooks,
        store: MemoryStore,
        record: DrainRecord,
    }

    async fn fake() -> Fake {
        let log = CallLog::default();
        let record = start_drain(DrainStart {
            container_instance_arn: ContainerInstanceArn::new(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc",
            )
            .expect("arn"),
            cluster_arn: ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod")
                .expect("arn"),
            action: LifecycleActionRef {
                hook: HookRef {
                    asg_name: AsgName::new("asg").expect("name"),
                    hook_name: HookName::new("hook").expect("name"),
                },
                instance_id: Ec2InstanceId::new("i-0123456789abcdef0").expect("id"),
                token: LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("token"),
            },
            noticed_at: Timestamp(1_000),
            started_at: Timestamp(1_000),
            heartbeat_timeout_seconds: Some(300),
            deadline_seconds: 3600,
            retention_seconds: 86_400,
        });
        let fake = Fake {
            cluster: MemoryCluster::new(log.clone()),
            hooks: MemoryHooks::new(log.clone()),
            store: MemoryStore::new(log),
            record,
        };
        fake.cluster.add_instance(
            &fake.record.cluster_arn,
            &fake.record.container_instance_arn,
            &fake.record.ec2_instance_id,
        );
        fake.hooks.begin(&fake.record.action());
        assert_eq!(
            fake.store.insert(&fake.record).await.ok(),
            Some(WriteOutcome::Written)
        );
        fake
    }

    impl Fake {
        fn operator(&self) -> Operator<'_, MemoryCluster, MemoryHooks, MemoryStore> {
            Operator {
                cluster: &self.cluster,
                hooks: &self.hooks,
                store: &self.store,
                lease_seconds: 180,
            }
        }
    }

    #[tokio::test]
    async fn force_complete_completes_the_action_once_and_records_the_operator() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        let done = fake
            .operator()
            .act(
                &arn,
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Abandon,
                },
                WHO,
                Timestamp(2_000),
                "op-1".into(),
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
                at: Timestamp(2_000),
                what: "force-complete ABANDON".into()
            }]
        );
        // a second force-complete is refused, and completes nothing again
        let again = fake
            .operator()
            .act(
                &arn,
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Continue,
                },
                WHO,
                Timestamp(2_010),
                "op-2".into(),
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
    async fn cancel_sets_the_instance_active_before_completing() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        fake.cluster.with_state(|state| {
            for instance in &mut state.instances {
                instance.status = EcsInstanceStatus::Draining;
            }
        });
        fake.operator()
            .act(
                &arn,
                OperatorAction::Cancel {
                    result: LifecycleResult::Abandon,
                },
                WHO,
                Timestamp(2_000),
                "op".into(),
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
    }

    #[tokio::test]
    async fn a_failed_completion_gives_the_claim_back_noting_the_send() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        fake.hooks.fail_next_complete(DrainError::Transient {
            operation: "autoscaling:CompleteLifecycleAction",
            source: "connection reset".into(),
        });
        let failed = fake
            .operator()
            .act(
                &arn,
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Continue,
                },
                WHO,
                Timestamp(2_000),
                "op".into(),
            )
            .await;
        assert!(matches!(failed, Err(OperatorError::Aws(_))), "{failed:?}");
        let stored = fake.store.get(&arn).expect("stored");
        assert_eq!(
            (stored.status, stored.claim_id, stored.completion_sent_at),
            (DrainStatus::Draining, None, Some(Timestamp(2_000)))
        );
        assert_eq!(stored.audit.len(), 1, "the attempt stays on the record");
    }

    #[tokio::test]
    async fn extend_writes_the_new_deadline_and_an_unknown_instance_is_not_found() {
        let fake = fake().await;
        let arn = fake.record.container_instance_arn.clone();
        let extended = fake
            .operator()
            .act(
                &arn,
                OperatorAction::Extend { by_seconds: 1_800 },
                WHO,
                Timestamp(2_000),
                "op".into(),
            )
            .await
            .expect("extended");
        assert_eq!(
            fake.store.get(&arn).map(|r| r.deadline_at),
            Some(fake.record.deadline_at.plus_seconds(1_800))
        );
        assert_eq!(extended.revision, 1);
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
                Timestamp(2_000),
                "op".into(),
            )
            .await;
        assert!(
            matches!(missing, Err(OperatorError::NotFound(_))),
            "{missing:?}"
        );
    }
}
