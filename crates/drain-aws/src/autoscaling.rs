//! The Auto Scaling adapter: the lifecycle hook holding an instance.

use aws_sdk_autoscaling::Client;
use drain_core::DrainError;
use drain_core::ids::{Ec2InstanceId, HookRef, LifecycleActionRef};
use drain_core::ports::{ActionOutcome, AsgInstanceState, LifecycleHooks};
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
    error: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
) -> bool {
    code_of(error) == Some("ValidationError") && message_of(error).is_some_and(|message| message.contains("No active Lifecycle Action found"))
}

impl LifecycleHooks for AsgLifecycleHooks {
    async fn complete(&self, action: &LifecycleActionRef, result: LifecycleResult) -> Result<ActionOutcome, DrainError> {
        // Retried here rather than by the SDK, to know whether an earlier attempt may have taken
        // effect: after an unclear failure (5xx, reset, timeout) the retry's "No active Lifecycle
        // Action" most likely means that attempt completed it. Throttling is a clean refusal.
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
                .config_override(aws_sdk_autoscaling::config::Builder::default().retry_config(RetryConfig::disabled()))
                .send()
                .await;
            match sent {
                Ok(_) => return Ok(ActionOutcome::Done),
                Err(error) if no_active_action(&error) => {
                    return Ok(if unclear_before { ActionOutcome::DoneUnconfirmed } else { ActionOutcome::NoActiveAction });
                }
                Err(error) if is_transient(&error) && attempt < crate::sdk::SDK_MAX_ATTEMPTS => {
                    unclear_before |= !is_throttling(&error);
                    tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
                }
                Err(error) => return Err(classify("autoscaling:CompleteLifecycleAction", error)),
            }
        }
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionOutcome, DrainError> {
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
            Ok(_) => Ok(ActionOutcome::Done),
            Err(error) if no_active_action(&error) => Ok(ActionOutcome::NoActiveAction),
            Err(error) => Err(classify("autoscaling:RecordLifecycleActionHeartbeat", error)),
        }
    }

    async fn instance_state(&self, instance: &Ec2InstanceId) -> Result<Option<AsgInstanceState>, DrainError> {
        let described = self
            .client
            .describe_auto_scaling_instances()
            .instance_ids(instance.as_str())
            .send()
            .await
            .map_err(|error| classify("autoscaling:DescribeAutoScalingInstances", error))?;
        // The call names one instance: any other in the answer is ignored, not trusted.
        Ok(described.auto_scaling_instances().iter().find(|found| found.instance_id() == Some(instance.as_str())).map(|found| AsgInstanceState {
            group: found.auto_scaling_group_name().unwrap_or_default().to_owned(),
            lifecycle_state: found.lifecycle_state().unwrap_or_default().to_owned(),
        }))
    }

    async fn heartbeat_timeout(&self, hook: &HookRef) -> Result<Option<i64>, DrainError> {
        let described = self
            .client
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(hook.asg_name.as_str())
            .lifecycle_hook_names(hook.hook_name.as_str())
            .send()
            .await
            .map_err(|error| classify("autoscaling:DescribeLifecycleHooks", error))?;
        Ok(described
            .lifecycle_hooks()
            .iter()
            .find(|found| found.lifecycle_hook_name() == Some(hook.hook_name.as_str()))
            .and_then(|found| found.heartbeat_timeout())
            .map(i64::from))
    }
}
