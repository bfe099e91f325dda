//! on-task-stopped: receives ECS Task State Change events with lastStatus STOPPED; for an
//! instance that is draining, takes the census and completes the lifecycle action once
//! nothing is alive. For any other instance it makes one keyed DynamoDB read.
//!
//! Wiring only: the behaviour lives in `drain_core::handler::handle_task_stopped`.

// The drain and launch use-case futures nest deeper than the default limit of 128 layout
// queries allows for the handler's future.
#![recursion_limit = "256"]

use drain_aws::app::App;
use lambda_runtime::{LambdaEvent, service_fn};
use serde_json::value::RawValue;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    drain_aws::logging::init_subscriber();
    let app = App::from_env().await?;
    let app = &app;
    // Raw payload: duplicated keys must still be visible to the parser (drain_core::event).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Box<RawValue>>| {
        app.on_task_stopped(event)
    }))
    .await
}
