//! What AWS delivers by itself, played over the wire: the emulator's own record of what changed
//! (its ECS change log: container instance changes and tasks placed or stopped, with the
//! emulator's time; its lifecycle actions as they open) turned into the events ECS and Auto
//! Scaling put on the default bus, in the shapes of tests/fixtures, and each event delivered
//! only to the functions the deployed stack's rules route it to (the emulator matches the rules'
//! patterns, `POST /_ecs_drain/events/matching-targets`). moto emits no events, and PutEvents
//! refuses `aws.*` sources, so this is how a test sends AWS's events where the stack sends them.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Value, json};

use crate::emulator::control_request;
use crate::fleet::{
    FleetAction, container_instance_state_change_event, lifecycle_action_event,
    lifecycle_action_listing,
};
use crate::invoke::respond;
use crate::runtime_api::FunctionProcess;
use crate::{Deployment, KitError};

/// One entry of the emulator's ECS change log (`GET /_ecs_drain/ecs/changes`).
#[derive(Clone, Debug, PartialEq)]
pub enum EcsChange {
    /// A container instance after a change: `detail` is what its state change event carries
    /// (containerInstanceArn, clusterArn, ec2InstanceId, status, agentConnected, version, ...).
    ContainerInstance {
        /// Emulator time (epoch seconds).
        at: f64,
        /// What changed it (RegisterContainerInstance, UpdateContainerInstancesState, StartTask,
        /// StopTask, ecs, agent).
        cause: String,
        /// The event detail.
        detail: Value,
    },
    /// A task placed or stopped.
    Task {
        /// Emulator time (epoch seconds).
        at: f64,
        /// StartTask, RunTask or StopTask.
        cause: String,
        /// The task.
        task_arn: String,
        /// Its cluster.
        cluster_arn: String,
        /// Where it runs.
        container_instance_arn: Option<String>,
        /// `service:<name>` or `family:<name>`.
        group: Option<String>,
        /// Its lastStatus right after the change.
        last_status: String,
    },
}

impl EcsChange {
    /// When it happened (emulator time, epoch seconds).
    pub fn at(&self) -> f64 {
        match self {
            EcsChange::ContainerInstance { at, .. } | EcsChange::Task { at, .. } => *at,
        }
    }

    fn from_json(value: &Value) -> Option<EcsChange> {
        let text = |key: &str| value[key].as_str().map(str::to_owned);
        let at = value["at"].as_f64()?;
        let cause = text("cause")?;
        match value["kind"].as_str()? {
            "containerInstance" => {
                let mut detail = value.clone();
                if let Some(map) = detail.as_object_mut() {
                    for key in ["at", "kind", "cause"] {
                        map.remove(key);
                    }
                }
                Some(EcsChange::ContainerInstance { at, cause, detail })
            }
            "task" => Some(EcsChange::Task {
                at,
                cause,
                task_arn: text("taskArn")?,
                cluster_arn: text("clusterArn")?,
                container_instance_arn: text("containerInstanceArn"),
                group: text("group"),
                last_status: text("lastStatus")?,
            }),
            _ => None,
        }
    }
}

/// The emulator's ECS change log, oldest first.
pub fn ecs_changes(port: u16) -> Result<Vec<EcsChange>, KitError> {
    let answer = control_request(port, "GET", "/_ecs_drain/ecs/changes", None)?;
    answer["changes"]
        .as_array()
        .ok_or("ecs/changes answered no list")?
        .iter()
        .map(|value| {
            EcsChange::from_json(value)
                .ok_or_else(|| KitError::from(format!("unreadable ECS change {value}")))
        })
        .collect()
}

/// The ARNs of the targets the default bus's enabled rules deliver `event` to. The rules
/// EventBridge keeps for itself (an archive's, `managedBy` set) are left out: they deliver to
/// EventBridge, not to a consumer.
pub fn matching_targets(port: u16, event: &Value) -> Result<Vec<String>, KitError> {
    let answer = control_request(
        port,
        "POST",
        "/_ecs_drain/events/matching-targets",
        Some(&json!({ "event": event })),
    )?;
    Ok(answer["targets"]
        .as_array()
        .ok_or("matching-targets answered no list")?
        .iter()
        .filter(|target| target["managedBy"].is_null())
        .filter_map(|target| target["arn"].as_str().map(str::to_owned))
        .collect())
}

/// One event delivered to one function, and what it answered.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The event's detail-type.
    pub detail_type: String,
    /// The function's name.
    pub function: String,
    /// Its report.
    pub report: Value,
}

/// EventBridge for the deployed stack: AWS's events from the emulator's records, routed by the
/// stack's rules to the running functions.
pub struct Bus<'a> {
    port: u16,
    ecs: aws_sdk_ecs::Client,
    functions: Vec<(String, &'a FunctionProcess)>,
    changes_seen: usize,
    actions_seen: BTreeSet<String>,
    task_versions: HashMap<String, i64>,
    queue: Vec<Value>,
    /// Every delivery so far, in order.
    pub deliveries: Vec<Delivery>,
}

impl<'a> Bus<'a> {
    /// The bus of `deployment`, delivering to its two functions running as `on_lifecycle` and
    /// `on_task_stopped`. What happened before it was made is not delivered.
    pub fn new(
        deployment: &Deployment,
        on_lifecycle: &'a FunctionProcess,
        on_task_stopped: &'a FunctionProcess,
    ) -> Result<Bus<'a>, KitError> {
        let port = deployment.emulator.port();
        let mut bus = Bus {
            port,
            ecs: deployment.world.ecs.clone(),
            functions: vec![
                (deployment.stack.on_lifecycle()?.arn.clone(), on_lifecycle),
                (
                    deployment.stack.on_task_stopped()?.arn.clone(),
                    on_task_stopped,
                ),
            ],
            changes_seen: ecs_changes(port)?.len(),
            actions_seen: BTreeSet::new(),
            task_versions: HashMap::new(),
            queue: Vec::new(),
            deliveries: Vec::new(),
        };
        bus.actions_seen = bus.actions()?.into_iter().map(|a| a.token).collect();
        Ok(bus)
    }

    fn actions(&self) -> Result<Vec<FleetAction>, KitError> {
        Ok(lifecycle_action_listing(self.port)?
            .iter()
            .filter_map(FleetAction::from_json)
            .collect())
    }

    /// The next event AWS would have put on the bus since the last one taken (ECS changes and
    /// lifecycle actions, merged in emulator time), or None when nothing new happened.
    pub async fn next_event(&mut self) -> Result<Option<Value>, KitError> {
        if self.queue.is_empty() {
            self.refill().await?;
        }
        Ok(if self.queue.is_empty() {
            None
        } else {
            Some(self.queue.remove(0))
        })
    }

    async fn refill(&mut self) -> Result<(), KitError> {
        let mut timed: Vec<(f64, Value)> = Vec::new();
        let changes = ecs_changes(self.port)?;
        for change in changes.iter().skip(self.changes_seen) {
            timed.push((change.at(), self.event_of(change).await?));
        }
        self.changes_seen = changes.len();
        for action in self.actions()? {
            if self.actions_seen.insert(action.token.clone()) {
                timed.push((action.created_at, lifecycle_action_event(&action)));
            }
        }
        // Stable: entries of one log keep their order at equal times.
        timed.sort_by(|a, b| a.0.total_cmp(&b.0));
        self.queue = timed.into_iter().map(|(_, event)| event).collect();
        Ok(())
    }

    async fn event_of(&mut self, change: &EcsChange) -> Result<Value, KitError> {
        let sent_at = |at: f64| drain_core::time::Timestamp(at as i64);
        match change {
            EcsChange::ContainerInstance { at, detail, .. } => {
                Ok(container_instance_state_change_event(detail, sent_at(*at)))
            }
            EcsChange::Task {
                at,
                task_arn,
                cluster_arn,
                last_status,
                ..
            } => {
                let described = self
                    .ecs
                    .describe_tasks()
                    .cluster(cluster_arn)
                    .tasks(task_arn)
                    .send()
                    .await?;
                let task = described.tasks().first().ok_or("task not found")?;
                let version = self.task_versions.entry(task_arn.clone()).or_insert(0);
                *version += 1;
                let mut event = crate::events::task_state_change_event(task, *version);
                // The task as it was at this change, not as it is now.
                event["detail"]["lastStatus"] = json!(last_status);
                if last_status == "RUNNING" {
                    event["detail"]["desiredStatus"] = json!("RUNNING");
                }
                event["time"] = json!(sent_at(*at).to_rfc3339());
                Ok(event)
            }
        }
    }

    /// Delivers `event` to every function a stack rule routes it to (none: nothing happens).
    pub async fn deliver(&mut self, event: &Value) -> Result<Vec<Delivery>, KitError> {
        let mut delivered = Vec::new();
        for target in matching_targets(self.port, event)? {
            let function = self
                .functions
                .iter()
                .find(|(arn, _)| target == *arn || target.starts_with(&format!("{arn}:")))
                .map(|(_, function)| *function)
                .ok_or_else(|| format!("a rule targets {target}, not a function of the stack"))?;
            let report = respond(function, event).await?;
            delivered.push(Delivery {
                detail_type: event["detail-type"].as_str().unwrap_or_default().to_owned(),
                function: function.name().to_owned(),
                report,
            });
        }
        self.deliveries.extend(delivered.iter().cloned());
        Ok(delivered)
    }
}
