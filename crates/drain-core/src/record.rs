//! The drain record: one DynamoDB item per container instance, the only state ecs-drain keeps.
//!
//! Every change is written conditionally on the `revision` the writer read, so two concurrent
//! invocations can never both move a drain forward: the loser sees a lost race and stops.

use serde::{Deserialize, Serialize};

use crate::census::AliveCounts;
use crate::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, LifecycleToken};
use crate::time::Timestamp;

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
    /// The result sent, once completed.
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
        let StartPlan { check_interval_seconds, hook_expires_at, deadline_at } = plan;
        let LifecycleActionRef { hook, instance_id, token } = start.action;
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
            claim_id: None,
            completion_sent_at: None,
            // Kept at least until the hook could no longer act, then the retention period.
            expires_at: hook_expires_at.unwrap_or(deadline_at).max(deadline_at).plus_seconds(start.retention_seconds),
            revision: 0,
        }
    }

    /// The lifecycle action this drain holds.
    pub fn action(&self) -> LifecycleActionRef {
        LifecycleActionRef { hook: self.hook.clone(), instance_id: self.ec2_instance_id.clone(), token: self.token.clone() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip() {
        for status in [DrainStatus::Draining, DrainStatus::Completing, DrainStatus::Completed, DrainStatus::Expired] {
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
}
