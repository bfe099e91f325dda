//! on-lifecycle: receives EC2 Auto Scaling terminate lifecycle actions (EventBridge or SNS)
//! and the per-drain scheduled checks, and starts or advances the drain.
//!
//! Wiring only: settings, SDK clients and adapters are built once here; the behaviour lives in
//! `drain_core::handler::handle_lifecycle`.

use drain_aws::app::App;
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = App::from_env().await?;
    let app = &app;
    // The function's own region, against which a notice's `region` is checked.
    let region = std::env::var("AWS_REGION").ok();
    let region = region.as_deref();
    // Raw payload: duplicated keys must still be visible to the parser (drain_core::event).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| async move {
        if let Some(scheduler) = &app.scheduler {
            // Checks invoke this very function unless a target was configured.
            scheduler.default_target(&event.context.invoked_function_arn);
        }
        let own = drain_core::decision::verify::FunctionIdentity::from_function_arn(&event.context.invoked_function_arn, region);
        match drain_core::handler::handle_lifecycle(&app.drainer, &*event.payload, &own).await {
            Ok(report) => Ok(serde_json::to_value(report).unwrap_or(Value::Null)),
            Err(error) => Err(Diagnostic { error_type: "TransientAwsError".into(), error_message: drain_core::error::error_chain(&error) }),
        }
    }))
    .await
}
