//! The Auto Scaling adapter: the lifecycle hook holding an instance.

use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::operation::describe_auto_scaling_instances as describe_instances;
use drain_core::DrainError;
use drain_core::ids::{Ec2InstanceId, HookRef, LifecycleActionRef};
use drain_core::ports::{
    ActionAnswer, AsgInstanceState, GroupHooks, LifecycleHooks, LifecycleState,
};
use drain_core::record::LifecycleResult;

use std::time::Duration;

use aws_config::retry::RetryConfig;

use crate::error::{classify, code_of, is_throttling, is_transient, message_of};

/// [`LifecycleHooks`] over the EC2 Auto Scaling API.
#[derive(Clone, Debug)]
pub struct AsgLifecycleHooks {
    client: Client,
}

impl AsgLifecycleHooks {
    /// Wraps an Auto Scaling client.
    pub fn new(client: Client) -> Self {
        AsgLifecycleHooks { client }
    }
}

/// `ValidationError: No active Lifecycle Action found with token ...` is what Auto Scaling
/// answers once an action was completed or timed out: terminal, never a retry.
fn no_active_action<E: aws_sdk_autoscaling::error::ProvideErrorMetadata>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool {
    code_of(error) == Some("ValidationError")
        && message_of(error)
            .is_some_and(|message| message.contains("No active Lifecycle Action found"))
}

/// Where the answer of DescribeAutoScalingInstances puts `instance`. The call names one
/// instance: any other in the answer is ignored, not trusted.
fn state_of(
    described: &describe_instances::DescribeAutoScalingInstancesOutput,
    instance: &Ec2InstanceId,
) -> Option<AsgInstanceState> {
    described
        .auto_scaling_instances()
        .iter()
        .find(|found| found.instance_id() == Some(instance.as_str()))
        .map(|found| AsgInstanceState {
            group: found
                .auto_scaling_group_name()
                .unwrap_or_default()
                .to_owned(),
            lifecycle_state: LifecycleState::parse(found.lifecycle_state().unwrap_or_default()),
        })
}

impl LifecycleHooks for AsgLifecycleHooks {
    async fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> Result<ActionAnswer, DrainError> {
        // Retried here rather than by the SDK, to report whether an earlier attempt got no clear
        // answer (5xx, reset, timeout) and so may have taken effect; drain-core decides what a
        // later "No active Lifecycle Action" then means. Throttling is a clean refusal.
        let mut unclear_before = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let sent = self
                .client
                .complete_lifecycle_action()
                .auto_scaling_group_name(action.hook.asg_name.as_str())
                .lifecycle_hook_name(action.hook.hook_name.as_str())
                .instance_id(action.instance_id.as_str())
                .lifecycle_action_token(action.token.expose())
                .lifecycle_action_result(result.as_str())
                .customize()
                .config_override(
                    aws_sdk_autoscaling::config::Builder::default()
                        .retry_config(RetryConfig::disabled()),
                )
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(ActionAnswer::Accepted),
                Err(error) if no_active_action(&error) => {
                    return Ok(ActionAnswer::NoActiveAction {
                        after_unclear_attempt: unclear_before,
                    });
                }
                Err(error) if is_transient(&error) && attempt < crate::sdk::SDK_MAX_ATTEMPTS => {
                    unclear_before |= !is_throttling(&error);
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(error) => return Err(classify("autoscaling:CompleteLifecycleAction", error)),
            }
        }
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionAnswer, DrainError> {
        let sent = self
            .client
            .record_lifecycle_action_heartbeat()
            .auto_scaling_group_name(action.hook.asg_name.as_str())
            .lifecycle_hook_name(action.hook.hook_name.as_str())
            .instance_id(action.instance_id.as_str())
            .lifecycle_action_token(action.token.expose())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(ActionAnswer::Accepted),
            Err(error) if no_active_action(&error) => Ok(ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            }),
            Err(error) => Err(classify(
                "autoscaling:RecordLifecycleActionHeartbeat",
                error,
            )),
        }
    }

    async fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<AsgInstanceState>, DrainError> {
        let described = self
            .client
            .describe_auto_scaling_instances()
            .instance_ids(instance.as_str())
            .send()
            .await
            .map_err(|error| classify("autoscaling:DescribeAutoScalingInstances", error))?;
        Ok(state_of(&described, instance))
    }

    async fn heartbeat_timeout(&self, hook: &HookRef) -> Result<Option<i64>, DrainError> {
        Ok(self.group_hooks(hook).await?.heartbeat_timeout_seconds)
    }

    /// One DescribeLifecycleHooks for the whole group (no name filter): the drain's hook's
    /// timeout and every hook's name, so coexistence with ECS managed draining costs no call.
    async fn group_hooks(&self, hook: &HookRef) -> Result<GroupHooks, DrainError> {
        let described = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(hook.asg_name.as_str())
            .send()
            .await
            .map_err(|error| classify("autoscaling:DescribeLifecycleHooks", error))?;
        Ok(GroupHooks {
            heartbeat_timeout_seconds: described
                .lifecycle_hooks()
                .iter()
                .find(|found| found.lifecycle_hook_name() == Some(hook.hook_name.as_str()))
                .and_then(|found| found.heartbeat_timeout())
                .map(i64::from),
            hook_names: described
                .lifecycle_hooks()
                .iter()
                .filter_map(|found| found.lifecycle_hook_name())
                .take(MAX_GROUP_HOOKS)
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// Auto Scaling allows 50 lifecycle hooks per group; more in an answer is not believed.
const MAX_GROUP_HOOKS: usize = 50;

#[cfg(test)]
mod tests {
    use aws_sdk_autoscaling::types::AutoScalingInstanceDetails;

    use super::*;

    fn details(instance: &str, group: &str, state: &str) -> AutoScalingInstanceDetails {
        AutoScalingInstanceDetails::builder()
            .instance_id(instance)
            .auto_scaling_group_name(group)
            .lifecycle_state(state)
            .availability_zone("us-east-1b")
            .health_status("HEALTHY")
            .protected_from_scale_in(false)
            .build()
    }

    #[test]
    fn the_state_of_the_named_instance_is_read_and_no_other() {
        let instance = Ec2InstanceId::new("i-0598c7d356eba48d7").expect("id");
        let described = describe_instances::DescribeAutoScalingInstancesOutput::builder()
            .auto_scaling_instances(details(
                "i-0123456789abcdef0",
                "other-asg",
                "Terminating:Wait",
            ))
            .auto_scaling_instances(details(
                "i-0598c7d356eba48d7",
                "prod-ecs-asg",
                "Warmed:Terminating:Wait",
            ))
            .build();
        assert_eq!(
            state_of(&described, &instance),
            Some(AsgInstanceState {
                group: "prod-ecs-asg".into(),
                lifecycle_state: LifecycleState::WarmedTerminatingWait
            })
        );
        let elsewhere = describe_instances::DescribeAutoScalingInstancesOutput::builder()
            .auto_scaling_instances(details(
                "i-0123456789abcdef0",
                "prod-ecs-asg",
                "Terminating:Wait",
            ))
            .build();
        assert_eq!(
            state_of(&elsewhere, &instance),
            None,
            "an answer about another instance is not trusted"
        );
        assert_eq!(
            state_of(
                &describe_instances::DescribeAutoScalingInstancesOutput::builder().build(),
                &instance
            ),
            None
        );
    }
}
