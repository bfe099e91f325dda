//! An ECS-on-EC2 account over drain-core's in-memory ports, shaped for benchmarks: one cluster
//! of `instances` container instances with `tasks_per_instance` tasks each (replica tasks of
//! five services, and the last task of every instance a daemon), one terminate hook, scheduled
//! checks enabled as the stack configures them. Events are the real-shaped fixtures of
//! tests/fixtures with identifiers put in, so parsing costs what a real event costs.
//!
//! The in-memory cluster finds tasks and instances by scanning vectors: on a large world that
//! scan, not the handler, is most of an event's cost. Figures say which world they ran on.

use std::sync::Arc;

use drain_core::Config;
use drain_core::census::ServiceFacts;
use drain_core::config::ScheduleSettings;
use drain_core::drainer::Drainer;
use drain_core::event::{LifecycleInput, parse_lifecycle_payload};
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, LifecycleToken, TaskArn};
use drain_core::ports::PortSet;
use drain_core::testing::ManualClock;
use drain_core::testing::memory::{
    CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore, port_set,
};
use drain_core::time::Timestamp;
use serde_json::{Value, json};

/// The cluster's name.
pub const CLUSTER: &str = "bench";
/// The Auto Scaling group's name.
pub const ASG: &str = "bench-asg";
/// The terminate hook ecs-drain handles.
pub const HOOK: &str = "ecs-drain-terminate";
/// The hook's heartbeat timeout, seconds.
pub const HEARTBEAT_TIMEOUT: i64 = 300;
/// Replica services the tasks belong to.
pub const SERVICES: usize = 5;
/// The daemon service (one task on every instance).
pub const DAEMON: &str = "agent";
/// When the lifecycle notices are sent (the fixtures' time).
pub const NOTICE_SENT: Timestamp = Timestamp(1_793_645_028);

const TASK_FIXTURE: &str = include_str!("../../../tests/fixtures/ecs-task-stopped-service.json");
const LIFECYCLE_FIXTURE: &str =
    include_str!("../../../tests/fixtures/lifecycle-terminate-eventbridge.json");

/// Something in the world could not be built.
pub type WorldError = Box<dyn std::error::Error + Send + Sync>;

/// The drainer over the in-memory ports.
pub type MemoryDrainer =
    Drainer<PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>>;

/// The account.
#[derive(Debug)]
pub struct MemoryWorld {
    /// Every call made through the ports.
    pub log: CallLog,
    /// ECS.
    pub cluster: MemoryCluster,
    /// Auto Scaling lifecycle actions.
    pub hooks: MemoryHooks,
    /// The drain table.
    pub store: MemoryStore,
    /// EventBridge Scheduler.
    pub scheduler: MemoryScheduler,
    /// The clock (stands two seconds after the notices were sent).
    pub clock: Arc<ManualClock>,
    /// The functions' settings.
    pub config: Config,
    /// Container instances.
    pub instances: usize,
    /// Tasks on each.
    pub tasks_per_instance: usize,
    cluster_arn: ClusterArn,
    task_template: Value,
    lifecycle_template: Value,
}

/// The cluster's ARN.
pub fn cluster_arn() -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:cluster/{CLUSTER}")
}

/// Container instance `index`'s ARN (long format, naming the cluster).
pub fn instance_arn(index: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:container-instance/{CLUSTER}/{index:032x}")
}

/// The EC2 instance id under container instance `index`.
pub fn ec2_id(index: usize) -> String {
    format!("i-{index:017x}")
}

/// Task `task` of instance `index`.
pub fn task_arn(index: usize, task: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/{CLUSTER}/{index:016x}{task:016x}")
}

impl MemoryWorld {
    /// Builds the world: every instance ACTIVE, every task RUNNING, no drain yet.
    pub fn new(instances: usize, tasks_per_instance: usize) -> Result<MemoryWorld, WorldError> {
        let log = CallLog::default();
        let cluster = MemoryCluster::new(log.clone());
        let hooks = MemoryHooks::new(log.clone());
        let mut config = Config::with_table("bench-drains");
        config.clusters = vec![CLUSTER.to_owned()];
        config.hook_name = Some(HOOK.to_owned());
        config.schedule = Some(ScheduleSettings {
            group: "bench-checks".into(),
            role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
            target_arn: Some(
                "arn:aws:lambda:us-east-1:123456789012:function:ecs-drain-on-lifecycle".into(),
            ),
            dead_letter_arn: None,
        });
        let world = MemoryWorld {
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log.clone()),
            clock: Arc::new(ManualClock::new(NOTICE_SENT.plus_seconds(2))),
            config,
            instances,
            tasks_per_instance,
            cluster_arn: ClusterArn::new(cluster_arn())?,
            task_template: serde_json::from_str(TASK_FIXTURE)?,
            lifecycle_template: serde_json::from_str(LIFECYCLE_FIXTURE)?,
            log,
            cluster,
            hooks,
        };
        for service in 0..SERVICES {
            world.cluster.add_service(
                &world.cluster_arn,
                ServiceFacts {
                    name: format!("svc-{service}"),
                    scheduling_strategy: Some("REPLICA".into()),
                    minimum_healthy_percent: Some(50),
                    maximum_percent: Some(200),
                },
            );
        }
        world.cluster.add_service(
            &world.cluster_arn,
            ServiceFacts {
                name: DAEMON.to_owned(),
                scheduling_strategy: Some("DAEMON".into()),
                minimum_healthy_percent: Some(0),
                maximum_percent: Some(100),
            },
        );
        let instance_arns: Vec<ContainerInstanceArn> = (0..instances)
            .map(|index| ContainerInstanceArn::new(instance_arn(index)))
            .collect::<Result<_, _>>()?;
        for (index, arn) in instance_arns.iter().enumerate() {
            world.cluster.add_instance(
                &world.cluster_arn,
                arn,
                &Ec2InstanceId::new(ec2_id(index))?,
            );
        }
        // One push per task under one lock: building a 20,000-task world stays instant.
        let mut tasks = Vec::with_capacity(instances * tasks_per_instance);
        for (index, arn) in instance_arns.iter().enumerate() {
            for task in 0..tasks_per_instance {
                tasks.push((
                    arn.clone(),
                    TaskArn::new(task_arn(index, task))?,
                    world.group(task),
                ));
            }
        }
        for (instance, task, group) in tasks {
            world.cluster.add_task(&instance, &task, &group);
        }
        Ok(world)
    }

    /// A drainer over the world's ports (what one warm function instance holds).
    pub fn drainer(&self) -> MemoryDrainer {
        let ports = port_set(
            &self.cluster,
            &self.hooks,
            &self.store,
            &self.scheduler,
            Arc::clone(&self.clock),
        );
        Drainer::new(ports, self.config.clone())
    }

    /// The `group` of task `task` (the last task of an instance is the daemon's).
    pub fn group(&self, task: usize) -> String {
        if task + 1 == self.tasks_per_instance {
            format!("service:{DAEMON}")
        } else {
            format!("service:svc-{}", task % SERVICES)
        }
    }

    /// Whether task `task` is an instance's daemon task.
    pub fn is_daemon(&self, task: usize) -> bool {
        task + 1 == self.tasks_per_instance
    }

    /// Scales instance `index` in: the group starts a lifecycle action (token unique per
    /// `serial`); returns the EventBridge event that announces it, and its token.
    pub fn scale_in(
        &self,
        index: usize,
        serial: usize,
    ) -> Result<(Value, LifecycleToken), WorldError> {
        let mut event = self.lifecycle_template.clone();
        let token = format!("{serial:08x}-0000-4000-8000-{index:012x}");
        event["id"] = json!(format!("lifecycle-{token}"));
        event["detail"]["LifecycleActionToken"] = json!(token);
        event["detail"]["AutoScalingGroupName"] = json!(ASG);
        event["detail"]["LifecycleHookName"] = json!(HOOK);
        event["detail"]["EC2InstanceId"] = json!(ec2_id(index));
        let inputs = parse_lifecycle_payload(&event)?;
        let Some(LifecycleInput::Terminate(notice)) = inputs.into_iter().next() else {
            return Err("the lifecycle fixture is not a terminate notice".into());
        };
        self.hooks.add_hook(&notice.action.hook, HEARTBEAT_TIMEOUT);
        self.hooks.begin(&notice.action);
        Ok((event, notice.action.token))
    }

    /// The "ECS Task State Change" STOPPED event of task `task` on instance `index`.
    pub fn stopped_event(&self, index: usize, task: usize, version: i64) -> Value {
        let mut event = self.task_template.clone();
        let arn = task_arn(index, task);
        let group = self.group(task);
        event["id"] = json!(format!("task-{index}-{task}-{version}"));
        event["resources"] = json!([arn]);
        let detail = &mut event["detail"];
        detail["clusterArn"] = json!(cluster_arn());
        detail["containerInstanceArn"] = json!(instance_arn(index));
        detail["taskArn"] = json!(arn);
        detail["group"] = json!(group);
        detail["version"] = json!(version);
        if let Some(container) = detail["containers"].get_mut(0) {
            container["taskArn"] = json!(arn);
        }
        event
    }

    /// ECS finishes stopping task `task` of instance `index` (lastStatus STOPPED).
    pub fn stop(&self, index: usize, task: usize) -> Result<(), WorldError> {
        self.cluster
            .set_task_status(&TaskArn::new(task_arn(index, task))?, "STOPPED");
        Ok(())
    }

    /// The container instance ARN of `index`, typed.
    pub fn instance(&self, index: usize) -> Result<ContainerInstanceArn, WorldError> {
        Ok(ContainerInstanceArn::new(instance_arn(index))?)
    }
}
