//! What the functions would do with one event, read-only (`drainctl explain --event`).
//!
//! [`read_only`] wraps a port set: every read goes through to the live ports, every write or
//! mutating call is recorded as a [`WouldCall`] and never made. The wrappers hold no path to
//! the inner ports' mutating methods, so a preview cannot change anything whatever the
//! decision code asks for: read-only by construction, not by a mode flag the code must honour.
//! (That is why they are written out here and not built on the tests' pass-through wrapper,
//! `testing::layer::Layered`, which holds exactly that path and is not compiled into drainctl.)
//! [`preview`] runs the functions' own handlers ([`crate::handler`]) over such a port set, so
//! the decision is the one the function would reach with the same event and the same state.
//!
//! A recorded call answers as if it succeeded: a conditional write is written, a lifecycle
//! call accepted. A preview therefore shows the path of an uncontended invocation; a race
//! with a concurrent invocation is the function's to find.

use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::Value;

use crate::Drainer;
use crate::census::{ListedTasks, ServiceFacts, TaskListing};
use crate::decision::verify::FunctionIdentity;
use crate::error::DrainError;
use crate::event::{
    EventError, parse_lifecycle_payload_with_warnings, parse_task_payload_with_warnings,
};
use crate::handler::{Function, Report, handle_lifecycle, handle_task_stopped};
use crate::ids::{
    ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef, TaskArn,
};
use crate::ports::{
    ActionAnswer, AsgInstanceState, CheckScheduler, Cluster, ContainerInstance, DrainStore,
    InsertOutcome, LifecycleHooks, PortSet, WriteOutcome,
};
use crate::record::{DrainRecord, LifecycleResult, short_task_id};
use crate::time::{Clock, Timestamp};

/// Every operation through which the ports change something, as IAM names it: what a
/// read-only port set records instead of making.
pub const MUTATING_OPERATIONS: [&str; 7] = [
    "ecs:UpdateContainerInstancesState",
    "ecs:StopTask",
    "autoscaling:CompleteLifecycleAction",
    "autoscaling:RecordLifecycleActionHeartbeat",
    "dynamodb:PutItem",
    "scheduler:CreateSchedule",
    "scheduler:DeleteSchedule",
];

/// Tasks named in one recorded StopTask entry; the count is always whole.
const MAX_NAMED_TASKS: usize = 10;

/// One call the function would make, in the order it would make it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WouldCall {
    /// The AWS operation, as IAM names it (`dynamodb:PutItem`).
    pub operation: &'static str,
    /// What it would do, in a few words (never the lifecycle token).
    pub detail: String,
}

/// The calls recorded by one read-only port set, shared by its four wrappers.
#[derive(Clone, Debug, Default)]
pub struct WouldCalls {
    calls: Arc<Mutex<Vec<WouldCall>>>,
    written: Arc<Mutex<Option<DrainRecord>>>,
}

impl WouldCalls {
    fn push(&self, operation: &'static str, detail: String) {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(WouldCall { operation, detail });
    }

    fn wrote(&self, record: &DrainRecord) {
        *self.written.lock().unwrap_or_else(PoisonError::into_inner) = Some(record.clone());
    }

    /// The calls so far, in order.
    pub fn calls(&self) -> Vec<WouldCall> {
        self.calls
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The last drain record the function would have written.
    pub fn last_written(&self) -> Option<DrainRecord> {
        self.written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// One port, read-only: reads go to `inner`, writes are recorded in `calls`.
#[derive(Debug)]
pub struct Recording<T> {
    inner: T,
    calls: WouldCalls,
}

/// A port set whose writes are recorded, not made.
pub type ReadOnlyPorts<C, H, S, Q, K> =
    PortSet<Recording<C>, Recording<H>, Recording<S>, Recording<Q>, K>;

/// `ports`, read-only, and the record of the calls a drainer over them would make.
pub fn read_only<C, H, S, Q, K>(
    ports: PortSet<C, H, S, Q, K>,
) -> (ReadOnlyPorts<C, H, S, Q, K>, WouldCalls) {
    let calls = WouldCalls::default();
    let wrapped = PortSet {
        cluster: Recording {
            inner: ports.cluster,
            calls: calls.clone(),
        },
        hooks: Recording {
            inner: ports.hooks,
            calls: calls.clone(),
        },
        store: Recording {
            inner: ports.store,
            calls: calls.clone(),
        },
        scheduler: Recording {
            inner: ports.scheduler,
            calls: calls.clone(),
        },
        clock: ports.clock,
    };
    (wrapped, calls)
}

impl<C: Cluster> Cluster for Recording<C> {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2_instance_id: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        self.inner
            .find_container_instance(clusters, ec2_instance_id)
            .await
    }

    async fn set_draining(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.calls.push(
            "ecs:UpdateContainerInstancesState",
            format!("set {} DRAINING", instance.arn),
        );
        Ok(())
    }

    async fn set_active(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.calls.push(
            "ecs:UpdateContainerInstancesState",
            format!("set {} ACTIVE", instance.arn),
        );
        Ok(())
    }

    async fn list_tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<ListedTasks, DrainError> {
        self.inner.list_tasks_on(cluster, instance).await
    }

    async fn describe_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[String],
    ) -> Result<TaskListing, DrainError> {
        self.inner.describe_tasks(cluster, tasks).await
    }

    async fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        self.inner.services(cluster, names).await
    }

    async fn stop_tasks(
        &self,
        _cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        let named: Vec<&str> = tasks
            .iter()
            .take(MAX_NAMED_TASKS)
            .map(short_task_id)
            .collect();
        let more = tasks.len().saturating_sub(MAX_NAMED_TASKS);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        self.calls.push(
            "ecs:StopTask",
            format!(
                "stop {} task(s) {}{more} ({reason})",
                tasks.len(),
                named.join(", ")
            ),
        );
        Ok(())
    }
}

fn action_words(action: &LifecycleActionRef) -> String {
    format!(
        "{} (hook {} of group {}, token {})",
        action.instance_id,
        action.hook.hook_name,
        action.hook.asg_name,
        action.token.prefix()
    )
}

impl<H: LifecycleHooks> LifecycleHooks for Recording<H> {
    async fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> Result<ActionAnswer, DrainError> {
        self.calls.push(
            "autoscaling:CompleteLifecycleAction",
            format!("{} for {}", result.as_str(), action_words(action)),
        );
        Ok(ActionAnswer::Accepted)
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionAnswer, DrainError> {
        self.calls.push(
            "autoscaling:RecordLifecycleActionHeartbeat",
            format!("for {}", action_words(action)),
        );
        Ok(ActionAnswer::Accepted)
    }

    async fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<AsgInstanceState>, DrainError> {
        self.inner.instance_state(instance).await
    }

    async fn heartbeat_timeout(&self, hook: &HookRef) -> Result<Option<i64>, DrainError> {
        self.inner.heartbeat_timeout(hook).await
    }
}

fn record_words(record: &DrainRecord) -> String {
    let mut words = format!(
        "{} {} (revision {})",
        record.status.as_str(),
        record.phase.as_str(),
        record.revision
    );
    if let Some(reason) = &record.reason {
        words.push_str(": ");
        words.push_str(reason);
    }
    words
}

impl<S: DrainStore> DrainStore for Recording<S> {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        self.inner.load(instance).await
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        // The function's conditional insert answers the record on file when there is one: a
        // read of it here tells the preview the same, and writes nothing.
        if let Some(stored) = self.inner.load(&record.container_instance_arn).await? {
            self.calls.push(
                "dynamodb:PutItem",
                format!(
                    "new drain record, refused: the record on file is {}",
                    record_words(&stored)
                ),
            );
            return Ok(InsertOutcome::Exists(Box::new(stored)));
        }
        self.calls.push(
            "dynamodb:PutItem",
            format!("new drain record {}", record_words(record)),
        );
        self.calls.wrote(record);
        Ok(InsertOutcome::Inserted)
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.calls.push(
            "dynamodb:PutItem",
            format!(
                "drain record over revision {expected_revision}: {}",
                record_words(record)
            ),
        );
        self.calls.wrote(record);
        Ok(WriteOutcome::Written)
    }
}

/// The scheduler port has no reads: nothing of `Q` is ever called.
impl<Q: Send + Sync> CheckScheduler for Recording<Q> {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        self.calls.push(
            "scheduler:CreateSchedule",
            format!("check of {instance} at {}", at.to_rfc3339()),
        );
        Ok(())
    }
}

/// What a function would do with one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Preview {
    /// The function the event is for.
    pub function: Function,
    /// The handler's report: one outcome per input (`wait`, `complete`, `not_draining`, ...).
    pub report: Report,
    /// The calls it would make, in order.
    pub calls: Vec<WouldCall>,
    /// The drain record it would leave, if it writes one.
    pub record: Option<DrainRecord>,
}

/// Which function `event` is for: ECS events (EventBridge `source` `aws.ecs`) go to
/// on-task-stopped, everything else (lifecycle actions by EventBridge or SNS, scheduled
/// checks) to on-lifecycle.
pub fn function_for(event: &Value) -> Function {
    if event.get("source").and_then(Value::as_str) == Some("aws.ecs") {
        Function::OnTaskStopped
    } else {
        Function::OnLifecycle
    }
}

/// The event a captured payload carries: a Lambda on-failure destination record (the stack's
/// failure queue) wraps the invocation's payload in `requestPayload`; anything else is the
/// payload itself.
pub fn unwrap_captured(captured: Value) -> Value {
    match captured {
        Value::Object(mut object)
            if object.contains_key("requestContext") && object.contains_key("requestPayload") =>
        {
            object.remove("requestPayload").unwrap_or(Value::Null)
        }
        other => other,
    }
}

/// Why an event cannot be previewed.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// The event is not one the function reads (the reason names the field).
    #[error(transparent)]
    BadEvent(#[from] EventError),
    /// A read failed.
    #[error(transparent)]
    Aws(#[from] DrainError),
}

/// Runs `event` (a payload as the function receives it) through the handler of the function it
/// is for, on `drainer` over read-only ports (see [`read_only`]), `own` being the function's
/// account and region. An event the function would refuse as malformed is an error here, not
/// a decision.
pub async fn preview<C, H, S, Q, K>(
    drainer: &Drainer<ReadOnlyPorts<C, H, S, Q, K>>,
    calls: &WouldCalls,
    event: &Value,
    own: &FunctionIdentity,
) -> Result<Preview, PreviewError>
where
    C: Cluster,
    H: LifecycleHooks,
    S: DrainStore,
    Q: Send + Sync,
    K: Clock,
{
    let function = function_for(event);
    // The handler acknowledges a malformed payload; a preview says why it is malformed.
    let report = match function {
        Function::OnTaskStopped => {
            parse_task_payload_with_warnings(event)?;
            handle_task_stopped(drainer, event).await?
        }
        Function::OnLifecycle => {
            parse_lifecycle_payload_with_warnings(event)?;
            handle_lifecycle(drainer, event, own).await?
        }
    };
    // Counted facts belong to real invocations; a preview publishes none.
    drop(drainer.take_facts());
    Ok(Preview {
        function,
        report,
        calls: calls.calls(),
        record: calls.last_written(),
    })
}

#[cfg(test)]
mod tests;
