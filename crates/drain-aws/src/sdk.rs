//! Loading the SDK configuration once and building the clients from it.
//!
//! The standard `AWS_ENDPOINT_URL` (and per-service `AWS_ENDPOINT_URL_<SERVICE>`) variables are
//! honoured by aws-config, which is how tests point the real clients at the local emulator.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

/// SDK retries inside one invocation: standard mode, 3 attempts (exponential backoff with
/// jitter). Anything still failing returns a transient error and Lambda's async retry runs the
/// whole (idempotent) handler again later, so long in-invocation retry loops buy nothing.
pub const SDK_MAX_ATTEMPTS: u32 = 3;

/// The retry settings of every client: standard mode (exponential backoff with full jitter,
/// retry quota), [`SDK_MAX_ATTEMPTS`] attempts.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(SDK_MAX_ATTEMPTS)
}

/// The timeouts of every client: 3 s to connect, 10 s per attempt, 25 s per operation (all
/// attempts and backoff), well inside the functions' 60 s timeout.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(25))
        .build()
}

/// Loads the SDK configuration (region, credentials, endpoint) with ecs-drain's
/// [`retry_config`] and [`timeout_config`].
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config())
        .load()
        .await
}

/// Every client a drain uses on every path, built once from one configuration (the
/// EventBridge client of drain events is built at its first use, see
/// [`crate::events::DrainEventsNotifier::lazy`]).
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// ECS.
    pub ecs: aws_sdk_ecs::Client,
    /// EC2 Auto Scaling.
    pub autoscaling: aws_sdk_autoscaling::Client,
    /// DynamoDB.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// EventBridge Scheduler.
    pub scheduler: aws_sdk_scheduler::Client,
}

impl AwsClients {
    /// Builds the clients from `config`.
    pub fn new(config: &SdkConfig) -> Self {
        AwsClients {
            ecs: aws_sdk_ecs::Client::new(config),
            autoscaling: aws_sdk_autoscaling::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            scheduler: aws_sdk_scheduler::Client::new(config),
        }
    }
}
