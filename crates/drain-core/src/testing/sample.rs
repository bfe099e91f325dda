//! One sample drain, the same everywhere a test needs "some drain": the instance, cluster,
//! hook and token of a production-shaped ARN set, started at a round time.

use crate::config::{Config, ScheduleSettings};
use crate::decision::start_drain;
use crate::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef,
    LifecycleActionRef, LifecycleToken,
};
use crate::record::{DrainRecord, DrainStart};
use crate::time::Timestamp;

/// When the sample drain's notice was sent and its drain started (seconds since the epoch).
pub const STARTED_AT: Timestamp = Timestamp(1_000_000);

/// The sample container instance, in the long ARN format (cluster name inside).
pub const CONTAINER_INSTANCE_ARN: &str =
    "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc";

/// The sample drain's cluster.
pub const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod";

/// The sample drain's EC2 instance.
pub const EC2_INSTANCE_ID: &str = "i-0123456789abcdef0";

/// The sample lifecycle action's token (36 characters, UUID form, as Auto Scaling sends it).
pub const LIFECYCLE_TOKEN: &str = "00000000-0000-4000-8000-000000000001";

/// The fields every lifecycle action's `detail` must carry, by the name Auto Scaling gives
/// them: what a test breaks one at a time to see the notice refused.
pub const LIFECYCLE_ACTION_FIELDS: [&str; 5] = [
    "LifecycleActionToken",
    "AutoScalingGroupName",
    "LifecycleHookName",
    "EC2InstanceId",
    "LifecycleTransition",
];

/// The facts that start the sample drain: a 300-second heartbeat timeout, a one-hour deadline
/// and a day of retention. Change a field to tell a story about it.
pub fn drain_start() -> DrainStart {
    DrainStart {
        container_instance_arn: ContainerInstanceArn::new(CONTAINER_INSTANCE_ARN)
            .expect("the sample ARN is valid"),
        cluster_arn: ClusterArn::new(CLUSTER_ARN).expect("the sample ARN is valid"),
        action: lifecycle_action(),
        noticed_at: STARTED_AT,
        started_at: STARTED_AT,
        heartbeat_timeout_seconds: Some(300),
        deadline_seconds: 3600,
        retention_seconds: 86_400,
    }
}

/// The sample drain's lifecycle action (group `asg`, hook `hook`).
pub fn lifecycle_action() -> LifecycleActionRef {
    LifecycleActionRef {
        hook: HookRef {
            asg_name: AsgName::new("asg").expect("the sample name is valid"),
            hook_name: HookName::new("hook").expect("the sample name is valid"),
        },
        instance_id: Ec2InstanceId::new(EC2_INSTANCE_ID).expect("the sample id is valid"),
        token: LifecycleToken::new(LIFECYCLE_TOKEN).expect("the sample token is valid"),
    }
}

/// The sample deployment's check schedules: group `ecs-drain-checks`, the stack's scheduler
/// role, the function itself as target, no dead-letter queue.
pub fn schedule_settings() -> ScheduleSettings {
    ScheduleSettings {
        group: "ecs-drain-checks".into(),
        role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
        target_arn: None,
        dead_letter_arn: None,
    }
}

/// The sample deployment's settings: table `ecs-drain-state`, every cluster watched, checks
/// scheduled with [`schedule_settings`], the default drain policy.
pub fn config() -> Config {
    Config {
        schedule: Some(schedule_settings()),
        ..Config::with_table("ecs-drain-state")
    }
}

/// The record the sample drain starts with, as the drain policy plans it.
pub fn drain_record() -> DrainRecord {
    start_drain(drain_start())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_drain_is_the_one_its_constants_describe() {
        let record = drain_record();
        assert_eq!(
            record.container_instance_arn.as_str(),
            CONTAINER_INSTANCE_ARN
        );
        assert_eq!(record.cluster_arn.as_str(), CLUSTER_ARN);
        assert_eq!(record.token.expose(), LIFECYCLE_TOKEN);
        assert_eq!(record.started_at, STARTED_AT);
    }
}
