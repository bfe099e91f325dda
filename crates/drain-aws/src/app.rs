//! The wiring both binaries share: settings from the environment, one SDK configuration, the
//! adapters, and the drainer over them.

use std::sync::Arc;

use aws_config::SdkConfig;
use drain_core::time::SystemClock;
use drain_core::{Config, Drainer};

use crate::{AsgLifecycleHooks, AwsClients, DynamoDrainStore, EcsCluster, EventBridgeCheckScheduler};

/// The drainer over the AWS adapters.
pub type AwsDrainer = Drainer<EcsCluster, AsgLifecycleHooks, DynamoDrainStore, Option<Arc<EventBridgeCheckScheduler>>, SystemClock>;

/// The drainer and a handle on its scheduler (to set the check target on first invocation).
#[derive(Debug)]
pub struct App {
    /// The use cases.
    pub drainer: AwsDrainer,
    /// The scheduled-check adapter, when checks are configured.
    pub scheduler: Option<Arc<EventBridgeCheckScheduler>>,
}

impl App {
    /// Builds every adapter once from `config` and `sdk`.
    pub fn new(config: Config, sdk: &SdkConfig) -> App {
        let clients = AwsClients::new(sdk);
        let scheduler = config.schedule.as_ref().map(|settings| {
            let scheduler = EventBridgeCheckScheduler::new(clients.scheduler.clone(), &settings.group, &settings.role_arn);
            Arc::new(match &settings.target_arn {
                Some(arn) => scheduler.target(arn),
                None => scheduler,
            })
        });
        let drainer = Drainer::new(
            EcsCluster::new(clients.ecs.clone()),
            AsgLifecycleHooks::new(clients.autoscaling.clone()),
            DynamoDrainStore::new(clients.dynamodb.clone(), &config.table_name),
            scheduler.clone(),
            SystemClock,
            config,
        );
        App { drainer, scheduler }
    }

    /// Reads the settings from the process environment and loads the SDK configuration.
    pub async fn from_env() -> Result<App, drain_core::config::ConfigError> {
        let config = Config::from_lookup(|name| std::env::var(name).ok())?;
        let sdk = crate::load_sdk_config().await;
        Ok(App::new(config, &sdk))
    }
}
