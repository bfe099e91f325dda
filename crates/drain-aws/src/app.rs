//! The wiring both binaries share: settings from the environment, one SDK configuration, the
//! adapters, the drainer over them, the one place a handler's error becomes the Lambda error
//! response, the one place the invocation's drain events are published (best effort, after
//! the handler) and the one place its metrics are written (EMF lines on stdout).

use std::io::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::event::Payload;
use drain_core::handler::{Function, error_response};
use drain_core::ports::PortSet;
use drain_core::time::SystemClock;
use drain_core::{Config, DrainError, Drainer};
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::Value;
use serde_json::value::RawValue;
use tracing::warn;

use crate::{
    AsgLifecycleHooks, AwsClients, DrainEventsNotifier, DynamoDrainStore, EcsCluster,
    EventBridgeCheckScheduler,
};

/// The drainer over the AWS adapters.
pub type AwsDrainer = Drainer<
    PortSet<
        EcsCluster,
        AsgLifecycleHooks,
        DynamoDrainStore,
        Option<Arc<EventBridgeCheckScheduler>>,
        SystemClock,
    >,
>;

/// The drainer and a handle on its scheduler (to set the check target on first invocation).
#[derive(Debug)]
pub struct App {
    /// The use cases.
    pub drainer: AwsDrainer,
    /// The scheduled-check adapter, when checks are configured.
    pub scheduler: Option<Arc<EventBridgeCheckScheduler>>,
    /// The function's own region (the SDK's), against which a notice's `region` is checked.
    pub region: Option<String>,
    /// Where the drain events the drainer queued go after each invocation.
    pub notifier: DrainEventsNotifier,
}

impl App {
    /// Builds every adapter once from `config` and `sdk`, drain events on.
    pub fn new(config: Config, sdk: &SdkConfig) -> App {
        App::with_events(config, sdk, true)
    }

    /// Builds every adapter once from `config` and `sdk`; drain events are published when
    /// `events` (`ECS_DRAIN_EVENTS`), their client built at the first publish.
    pub fn with_events(config: Config, sdk: &SdkConfig, events: bool) -> App {
        let clients = AwsClients::new(sdk);
        let scheduler = config.schedule.as_ref().map(|settings| {
            let mut scheduler = EventBridgeCheckScheduler::new(
                clients.scheduler.clone(),
                &settings.group,
                &settings.role_arn,
            );
            if let Some(queue) = &settings.dead_letter_arn {
                scheduler = scheduler.dead_letter(queue);
            }
            Arc::new(match &settings.target_arn {
                Some(arn) => scheduler.target(arn),
                None => scheduler,
            })
        });
        let drainer = Drainer::new(
            PortSet {
                cluster: EcsCluster::new(clients.ecs.clone()),
                hooks: AsgLifecycleHooks::new(clients.autoscaling.clone()),
                store: DynamoDrainStore::new(clients.dynamodb.clone(), &config.table_name),
                scheduler: scheduler.clone(),
                clock: SystemClock,
            },
            config,
        );
        App {
            drainer,
            scheduler,
            region: sdk.region().map(ToString::to_string),
            notifier: DrainEventsNotifier::lazy(sdk, events),
        }
    }

    /// Reads the settings from the process environment and loads the SDK configuration.
    pub async fn from_env() -> Result<App, drain_core::config::ConfigError> {
        let config = Config::from_lookup(|name| std::env::var(name).ok())?;
        let events = drain_core::notify::events_enabled(|name| std::env::var(name).ok())?;
        let sdk = crate::load_sdk_config().await;
        Ok(App::with_events(config, &sdk, events))
    }
}

/// A handler's error, read into the Lambda error response where the failing function and the
/// settings (which name what to fix) are known: `error_type` `DeploymentError` (with what to fix
/// in the message) or `TransientAwsError`, the message bounded. Both functions return it, and
/// the runtime turns it into the response through `From`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FailedInvocation {
    error_type: &'static str,
    error_message: String,
}

impl FailedInvocation {
    /// The response for `error` of `function` deployed with `config`.
    pub fn new(error: &DrainError, function: Function, config: &Config) -> FailedInvocation {
        let (error_type, error_message) = error_response(error, function, config);
        FailedInvocation {
            error_type,
            error_message,
        }
    }

    /// `DeploymentError`, `TransientAwsError` or `PermanentError`.
    pub fn error_type(&self) -> &str {
        self.error_type
    }

    /// The failed operation with its cause and, for a deployment error, what to fix.
    pub fn error_message(&self) -> &str {
        &self.error_message
    }
}

impl From<FailedInvocation> for Diagnostic {
    fn from(failed: FailedInvocation) -> Diagnostic {
        Diagnostic {
            error_type: failed.error_type.to_owned(),
            error_message: failed.error_message,
        }
    }
}

impl App {
    /// One on-lifecycle invocation: the handler's report, or the error for the error response.
    pub async fn on_lifecycle(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<Value, FailedInvocation> {
        if let Some(scheduler) = &self.scheduler {
            // Checks invoke this very function unless a target was configured.
            scheduler.default_target(&event.context.invoked_function_arn);
        }
        // The function's own account and region, against which a notice's are checked.
        let own = FunctionIdentity::from_function_arn(
            &event.context.invoked_function_arn,
            self.region.as_deref(),
        );
        let handled = self.handle_lifecycle(&*event.payload, &own).await;
        self.respond(handled, Function::OnLifecycle)
    }

    /// The on-lifecycle handler, then the drain events it queued published: what an
    /// invocation runs, without the Lambda event around the payload.
    pub async fn handle_lifecycle<P: Payload + ?Sized>(
        &self,
        payload: &P,
        own: &FunctionIdentity,
    ) -> Result<drain_core::handler::Report, DrainError> {
        // Boxed, like the drainer's use cases: the binaries' future layout stays within the
        // compiler's recursion limit.
        let handled = Box::pin(drain_core::handler::handle_lifecycle(
            &self.drainer,
            payload,
            own,
        ))
        .await;
        self.publish_events().await;
        handled
    }

    /// The on-task-stopped handler, then the drain events it queued published.
    pub async fn handle_task_stopped<P: Payload + ?Sized>(
        &self,
        payload: &P,
    ) -> Result<drain_core::handler::Report, DrainError> {
        let handled = Box::pin(drain_core::handler::handle_task_stopped(
            &self.drainer,
            payload,
        ))
        .await;
        self.publish_events().await;
        handled
    }

    /// Publishes what the drainer queued, best effort, in one PutEvents call (or more for
    /// more than [`drain_core::notify::MAX_BATCH_ENTRIES`] events): whether the handler
    /// succeeded or failed, since the transitions it queued did happen. An event not
    /// published is logged and counted (`EventsNotPublished`); it never fails the invocation.
    pub async fn publish_events(&self) {
        let events = self.drainer.take_events();
        if events.is_empty() {
            return;
        }
        let not_published = drain_core::notify::publish_best_effort(&self.notifier, &events).await;
        for _ in 0..not_published {
            self.drainer
                .note_fact(drain_core::metrics::Fact::EventsNotPublished);
        }
    }

    /// One on-task-stopped invocation: the handler's report, or the error for the error response.
    pub async fn on_task_stopped(
        &self,
        event: LambdaEvent<Box<RawValue>>,
    ) -> Result<Value, FailedInvocation> {
        let handled = self.handle_task_stopped(&*event.payload).await;
        self.respond(handled, Function::OnTaskStopped)
    }

    fn respond(
        &self,
        handled: Result<drain_core::handler::Report, DrainError>,
        function: Function,
    ) -> Result<Value, FailedInvocation> {
        self.write_metrics();
        match handled {
            Ok(report) => Ok(serde_json::to_value(report).unwrap_or(Value::Null)),
            Err(error) => Err(FailedInvocation::new(
                &error,
                function,
                self.drainer.config(),
            )),
        }
    }

    /// Writes what the invocation counted as EMF documents, one JSON object per line straight
    /// to stdout: not through tracing, whose JSON lines would nest the document under `fields`
    /// where CloudWatch does not look. Lambda passes a line that is already JSON through as is.
    fn write_metrics(&self) {
        let facts = self.drainer.take_facts();
        if facts.is_empty() {
            return;
        }
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| {
                i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
            });
        let mut stdout = std::io::stdout().lock();
        for document in drain_core::metrics::emf_documents(
            &self.drainer.config().metrics_namespace,
            now_ms,
            &facts,
        ) {
            let line = format!("{document}\n");
            if let Err(error) = stdout
                .write_all(line.as_bytes())
                .and_then(|()| stdout.flush())
            {
                warn!(error = %error, "could not write the invocation's metrics");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use drain_core::error::DeploymentProblem;

    use super::*;

    #[test]
    fn a_failed_invocation_becomes_the_error_response_with_what_to_fix() {
        let error = DrainError::Deployment {
            operation: "dynamodb:GetItem",
            problem: DeploymentProblem::MissingResource,
            source: "ResourceNotFoundException: table drains".into(),
        };
        let config = Config::with_table("drains");
        let failed = FailedInvocation::new(&error, Function::OnTaskStopped, &config);
        let response = Diagnostic::from(failed.clone());
        assert_eq!(response.error_type, "DeploymentError");
        assert_eq!(response.error_message, failed.error_message());
        assert!(
            response.error_message.contains("ResourceNotFoundException")
                && response.error_message.contains("fix:"),
            "{}",
            response.error_message
        );
        let transient = DrainError::transient("ecs:ListTasks", "Throttling");
        let response = Diagnostic::from(FailedInvocation::new(
            &transient,
            Function::OnLifecycle,
            &config,
        ));
        assert_eq!(response.error_type, "TransientAwsError");
    }
}
