//! Talking to a running function and reading what it left: its report for one invocation, and
//! a drain record's attributes as DynamoDB stores them.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::runtime_api::FunctionProcess;
use crate::{EmulatorWorld, KitError};

/// Invokes `function` and expects a response (not an error document).
pub async fn respond(function: &FunctionProcess, payload: &Value) -> Result<Value, KitError> {
    let invocation = function.invoke(payload).await?;
    invocation.result.map_err(|error| {
        format!(
            "{} answered an error for {payload}: {:?}",
            function.name(),
            error.document
        )
        .into()
    })
}

/// The outcome names of a handler's report.
pub fn outcomes(report: &Value) -> Vec<String> {
    report["outcomes"]
        .as_array()
        .map(|outcomes| {
            outcomes
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The string attribute `name` of instance `index`'s drain record (consistent read), if the
/// record and the attribute exist.
pub async fn record_text(
    world: &EmulatorWorld,
    index: usize,
    name: &str,
) -> Result<Option<String>, KitError> {
    let key = &world.instances[index].container_instance_arn;
    Ok(record_attribute(world, key, name)
        .await?
        .and_then(|value| value.as_s().ok().cloned()))
}

/// Attribute `name` of the drain table's item under `key` (a container instance ARN, or
/// `launch#<instance id>` for a launch record), consistent read, if both exist.
pub async fn record_attribute(
    world: &EmulatorWorld,
    key: &str,
    name: &str,
) -> Result<Option<AttributeValue>, KitError> {
    let item = world
        .dynamodb
        .get_item()
        .table_name(&world.table)
        .key("container_instance_arn", AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await?;
    Ok(item.item().and_then(|item| item.get(name)).cloned())
}

/// The sum of the values of `metric` over the EMF lines `function` has logged so far.
pub fn metric_total(function: &FunctionProcess, metric: &str) -> f64 {
    function
        .json_logs()
        .into_iter()
        .filter(|line| line.get("_aws").is_some())
        .filter_map(|line| line.get(metric).and_then(Value::as_f64))
        .sum()
}
