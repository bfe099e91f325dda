//! `force-complete`, `extend`, `cancel`: drain-core's operator use case over the AWS adapters,
//! signed by the caller's identity (STS GetCallerIdentity) in the record's audit trail. A drain
//! an operator ends has its booked check deleted when the schedule group is known (the stack's
//! ScheduleGroupName output, or `--schedule-group`).

use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster, EventBridgeCheckScheduler};
use drain_core::decision::operator::OperatorAction;
use drain_core::operator::{Operator, OperatorError};
use drain_core::time::{Clock, SystemClock};

use crate::failure::{Exit, Failure};
use crate::status::lease_seconds;
use crate::{Output, Printed, find, print, records};

/// A claim id no invocation uses: `drainctl-<pid>-<nanos>`.
fn claim_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_nanos());
    format!("drainctl-{}-{nanos}", std::process::id())
}

/// Where an operator action runs.
pub(crate) struct Scope<'a> {
    /// How to print the result.
    pub(crate) output: Output,
    /// The SDK configuration.
    pub(crate) sdk: &'a SdkConfig,
    /// The drain table.
    pub(crate) table: String,
    /// The group of the drains' checks, when known.
    pub(crate) schedule_group: Option<String>,
}

/// Runs `action` on the drain `instance` names and prints the record as written.
pub(crate) async fn act(
    scope: &Scope<'_>,
    instance: &str,
    action: OperatorAction,
) -> Result<Exit, Failure> {
    let Scope {
        output,
        sdk,
        table,
        schedule_group,
    } = scope;
    let table = table.as_str();
    let store = &DynamoDrainStore::new(aws_sdk_dynamodb::Client::new(sdk), table);
    let record = find(records(store, table).await?, instance)?;
    let who = crate::aws::caller_arn(sdk).await?;
    let cluster = EcsCluster::new(aws_sdk_ecs::Client::new(sdk));
    let hooks = AsgLifecycleHooks::new(aws_sdk_autoscaling::Client::new(sdk));
    // Only deletes are made: the scheduler role is what a new schedule would need, never used.
    let scheduler = schedule_group.as_deref().map(|group| {
        EventBridgeCheckScheduler::new(aws_sdk_scheduler::Client::new(sdk), group, "")
    });
    let operator = Operator {
        cluster: &cluster,
        hooks: &hooks,
        store,
        scheduler: scheduler.as_ref(),
        lease_seconds: lease_seconds(),
    };
    let now = SystemClock.now();
    let written = operator
        .act(
            &record.container_instance_arn,
            action,
            &who,
            now,
            claim_id(),
        )
        .await
        .map_err(|error| match error {
            OperatorError::NotFound(_) => Failure::new(
                Exit::NotFound,
                format!("no drain recorded for {instance}"),
                "drainctl status lists the recorded drains",
            ),
            OperatorError::Refused(refusal) => Failure::new(
                Exit::Aws,
                format!("{} refused: {refusal}", action.describe()),
                "drainctl explain tells the drain's state",
            ),
            OperatorError::Changed => Failure::new(
                Exit::Aws,
                "the drain changed while drainctl wrote it",
                "look again (drainctl explain) and retry",
            ),
            OperatorError::Aws(error) => Failure::aws(&error, &format!("table {table}")),
        })?;
    // The audit entry as written: the action and what became of the booked check.
    let what = written
        .audit
        .last()
        .map_or_else(|| action.describe(), |entry| entry.what.clone());
    let text = format!(
        "{}: {what} by {who}; now {} {}, deadline {}{}",
        written.ec2_instance_id,
        written.status.as_str(),
        written.phase.as_str(),
        written.deadline_at.to_rfc3339(),
        written
            .reason
            .as_deref()
            .filter(|_| written.status.is_terminal())
            .map_or_else(String::new, |reason| format!(" ({reason})")),
    );
    print(
        *output,
        &Printed {
            text,
            json: crate::status::json(&written, now),
        },
    );
    Ok(Exit::Ok)
}
