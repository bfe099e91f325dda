//! A small ECS-on-EC2 world in the emulator, built through the real SDK clients: an Auto
//! Scaling group whose instances are registered as ECS container instances, a terminate
//! lifecycle hook, services and tasks. The test (or the demo) plays the ECS scheduler: ECS in
//! the emulator moves nothing by itself when an instance drains.

use aws_config::SdkConfig;
use aws_sdk_autoscaling::Client as AutoScaling;
use aws_sdk_dynamodb::Client as DynamoDb;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::types::{
    ContainerDefinition, DeploymentConfiguration, DesiredStatus, SchedulingStrategy, Task,
};
use drain_core::Config;
use drain_core::config::ScheduleSettings;
use serde_json::json;

use crate::events::LifecycleAction;

/// The stopped reason ECS gives a task it moves off a draining container instance.
pub const DRAINED_REASON: &str =
    "Task stopped by ECS because the container instance is being drained.";
use crate::{Emulator, KitError};

/// What to build.
#[derive(Clone, Debug)]
pub struct WorldSpec {
    /// Prefix of every name, unique per test.
    pub name: String,
    /// Instances in the group (and container instances in the cluster).
    pub instances: usize,
    /// The terminate hook's heartbeat timeout, in seconds.
    pub heartbeat_timeout: i32,
    /// A drain table that exists already (the deployed stack's); None: the world creates one.
    pub table: Option<String>,
    /// The schedule group name the functions are configured with; None: `<name>-checks`.
    pub schedule_group: Option<String>,
    /// The terminate hook's name; None: `<name>-terminate`. Several worlds served by one
    /// stack share the stack's hook name.
    pub hook: Option<String>,
}

impl WorldSpec {
    /// `instances` instances, heartbeat timeout 300 s.
    pub fn new(name: &str, instances: usize) -> Self {
        WorldSpec {
            name: name.to_owned(),
            instances,
            heartbeat_timeout: 300,
            table: None,
            schedule_group: None,
            hook: None,
        }
    }

    /// The cluster name the world gets.
    pub fn cluster_name(&self) -> String {
        format!("{}-cluster", self.name)
    }

    /// The Auto Scaling group name the world gets.
    pub fn group_name(&self) -> String {
        format!("{}-asg", self.name)
    }

    /// The terminate hook name the world gets.
    pub fn hook_name(&self) -> String {
        self.hook
            .clone()
            .unwrap_or_else(|| format!("{}-terminate", self.name))
    }
}

/// One EC2 instance of the group, registered in the cluster.
#[derive(Clone, Debug)]
pub struct Instance {
    /// EC2 instance id.
    pub ec2_id: String,
    /// ECS container instance ARN.
    pub container_instance_arn: String,
}

/// The built world.
#[derive(Debug)]
pub struct EmulatorWorld {
    /// ECS client.
    pub ecs: Ecs,
    /// Auto Scaling client.
    pub autoscaling: AutoScaling,
    /// DynamoDB client.
    pub dynamodb: DynamoDb,
    /// The emulator's port (control endpoints).
    pub port: u16,
    /// Cluster name.
    pub cluster: String,
    /// Cluster ARN.
    pub cluster_arn: String,
    /// Auto Scaling group name.
    pub asg: String,
    /// Terminate hook name.
    pub hook: String,
    /// Drain table name.
    pub table: String,
    /// Schedule group name (created in the emulator's EventBridge Scheduler).
    pub schedule_group: String,
    /// The instances, in group order.
    pub instances: Vec<Instance>,
}

impl EmulatorWorld {
    /// Creates the drain table, the group with its hook, the cluster and its container
    /// instances.
    pub async fn build(
        emulator: &Emulator,
        sdk: &SdkConfig,
        spec: &WorldSpec,
    ) -> Result<EmulatorWorld, KitError> {
        let ecs = Ecs::new(sdk);
        let autoscaling = AutoScaling::new(sdk);
        let dynamodb = DynamoDb::new(sdk);
        let name = &spec.name;
        let mut world = EmulatorWorld {
            ecs,
            autoscaling,
            dynamodb,
            port: emulator.port(),
            cluster: spec.cluster_name(),
            cluster_arn: String::new(),
            asg: spec.group_name(),
            hook: spec.hook_name(),
            table: spec
                .table
                .clone()
                .unwrap_or_else(|| format!("{name}-drains")),
            schedule_group: spec
                .schedule_group
                .clone()
                .unwrap_or_else(|| format!("{name}-checks")),
            instances: Vec::new(),
        };
        if spec.table.is_none() {
            world.create_table().await?;
        }
        let scheduler = aws_sdk_scheduler::Client::new(sdk);
        scheduler
            .create_schedule_group()
            .name(&world.schedule_group)
            .send()
            .await?;

        let launch_configuration = format!("{name}-lc");
        world
            .autoscaling
            .create_launch_configuration()
            .launch_configuration_name(&launch_configuration)
            .image_id("ami-12c6146b")
            .instance_type("m6g.large")
            .send()
            .await?;
        let size = spec.instances as i32;
        world
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&world.asg)
            .launch_configuration_name(&launch_configuration)
            .min_size(0)
            .max_size(size + 2)
            .desired_capacity(size)
            .availability_zones("us-east-1a")
            .send()
            .await?;
        world
            .autoscaling
            .put_lifecycle_hook()
            .auto_scaling_group_name(&world.asg)
            .lifecycle_hook_name(&world.hook)
            .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
            .heartbeat_timeout(spec.heartbeat_timeout)
            .default_result("CONTINUE")
            .send()
            .await?;

        let created = world
            .ecs
            .create_cluster()
            .cluster_name(&world.cluster)
            .send()
            .await?;
        world.cluster_arn = created
            .cluster()
            .and_then(|cluster| cluster.cluster_arn())
            .ok_or("no cluster ARN")?
            .to_owned();

        let groups = world
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&world.asg)
            .send()
            .await?;
        let ec2_ids: Vec<String> = groups
            .auto_scaling_groups()
            .first()
            .map(|group| {
                group
                    .instances()
                    .iter()
                    .filter_map(|instance| instance.instance_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if ec2_ids.len() != spec.instances {
            return Err(format!(
                "group launched {} instances, expected {}",
                ec2_ids.len(),
                spec.instances
            )
            .into());
        }
        for ec2_id in ec2_ids {
            let arn = world
                .register_container_instance(&world.cluster, &ec2_id)
                .await?;
            world.instances.push(Instance {
                ec2_id,
                container_instance_arn: arn,
            });
        }
        Ok(world)
    }

    /// Registers EC2 instance `ec2_id` as a container instance of `cluster`, as its ECS agent
    /// does (the instance identity document names it). Returns the container instance ARN.
    pub async fn register_container_instance(
        &self,
        cluster: &str,
        ec2_id: &str,
    ) -> Result<String, KitError> {
        let document =
            json!({ "instanceId": ec2_id, "region": "us-east-1", "accountId": "123456789012" })
                .to_string();
        let registered = self
            .ecs
            .register_container_instance()
            .cluster(cluster)
            .instance_identity_document(document)
            .send()
            .await?;
        Ok(registered
            .container_instance()
            .and_then(|instance| instance.container_instance_arn())
            .ok_or("no container instance ARN")?
            .to_owned())
    }

    async fn create_table(&self) -> Result<(), KitError> {
        self.dynamodb
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("container_instance_arn")
                    .attribute_type(ScalarAttributeType::S)
                    .build()?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("container_instance_arn")
                    .key_type(KeyType::Hash)
                    .build()?,
            )
            .send()
            .await?;
        Ok(())
    }

    /// The settings the stack would give the functions for this world.
    pub fn config(&self) -> Config {
        let mut config = Config::with_table(&self.table);
        config.clusters = vec![self.cluster.clone()];
        config.hook_name = Some(self.hook.clone());
        config.schedule = Some(ScheduleSettings {
            group: self.schedule_group.clone(),
            role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
            target_arn: Some(
                "arn:aws:lambda:us-east-1:123456789012:function:ecs-drain-on-lifecycle".into(),
            ),
            dead_letter_arn: None,
        });
        config
    }

    /// The same settings as the environment variables the stack sets on the functions.
    pub fn function_env(&self) -> Vec<(String, String)> {
        use drain_core::config::*;
        vec![
            (ENV_TABLE.into(), self.table.clone()),
            (ENV_CLUSTERS.into(), self.cluster.clone()),
            (ENV_HOOK_NAME.into(), self.hook.clone()),
            (ENV_DEADLINE_SECONDS.into(), "3600".into()),
            (ENV_DEADLINE_POLICY.into(), "continue".into()),
            (ENV_REPLAY_MODE.into(), "dry-run".into()),
            (ENV_SCHEDULE_GROUP.into(), self.schedule_group.clone()),
            (
                ENV_SCHEDULE_ROLE_ARN.into(),
                "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
            ),
        ]
    }

    /// Registers a one-container task definition.
    pub async fn register_task_definition(&self, family: &str) -> Result<(), KitError> {
        self.ecs
            .register_task_definition()
            .family(family)
            .container_definitions(
                ContainerDefinition::builder()
                    .name(family)
                    .image(format!("public.ecr.aws/example/{family}:1"))
                    .cpu(128)
                    .memory(128)
                    .essential(true)
                    .build(),
            )
            .send()
            .await?;
        Ok(())
    }

    /// Creates a service (REPLICA or DAEMON) with its deployment limits. The emulator starts no
    /// tasks for it: [`Self::start_service_task`] does.
    pub async fn create_service(
        &self,
        name: &str,
        daemon: bool,
        minimum_healthy_percent: i32,
        maximum_percent: i32,
    ) -> Result<(), KitError> {
        self.register_task_definition(name).await?;
        let mut request = self
            .ecs
            .create_service()
            .cluster(&self.cluster)
            .service_name(name)
            .task_definition(name)
            .deployment_configuration(
                DeploymentConfiguration::builder()
                    .minimum_healthy_percent(minimum_healthy_percent)
                    .maximum_percent(maximum_percent)
                    .build(),
            );
        request = if daemon {
            request.scheduling_strategy(SchedulingStrategy::Daemon)
        } else {
            request
                .scheduling_strategy(SchedulingStrategy::Replica)
                .desired_count(self.instances.len() as i32)
        };
        request.send().await?;
        Ok(())
    }

    /// Starts a task of `service` on instance `index`, as the service scheduler would
    /// (`group` = `service:<name>`, `startedBy` = a deployment id).
    pub async fn start_service_task(
        &self,
        service: &str,
        index: usize,
    ) -> Result<String, KitError> {
        self.start_task(
            service,
            index,
            &format!("service:{service}"),
            Some(&format!("ecs-svc/{:019}", service.len() * 7919)),
        )
        .await
    }

    /// Starts a standalone task of `family` on instance `index` (`group` = `family:<name>`).
    pub async fn start_standalone_task(
        &self,
        family: &str,
        index: usize,
    ) -> Result<String, KitError> {
        self.start_task(family, index, &format!("family:{family}"), None)
            .await
    }

    async fn start_task(
        &self,
        definition: &str,
        index: usize,
        group: &str,
        started_by: Option<&str>,
    ) -> Result<String, KitError> {
        let instance = self.instances.get(index).ok_or("no such instance")?;
        let mut request = self
            .ecs
            .start_task()
            .cluster(&self.cluster)
            .task_definition(definition)
            .container_instances(&instance.container_instance_arn)
            .group(group);
        if let Some(started_by) = started_by {
            request = request.started_by(started_by);
        }
        let started = request.send().await?;
        Ok(started
            .tasks()
            .first()
            .and_then(|task| task.task_arn())
            .ok_or("StartTask returned no task")?
            .to_owned())
    }

    /// Every task listed on instance `index` (desiredStatus RUNNING and STOPPED), described.
    pub async fn tasks_on(&self, index: usize) -> Result<Vec<Task>, KitError> {
        let instance = &self.instances[index].container_instance_arn;
        let mut arns = Vec::new();
        for desired in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let listed = self
                .ecs
                .list_tasks()
                .cluster(&self.cluster)
                .container_instance(instance)
                .desired_status(desired)
                .send()
                .await?;
            arns.extend(listed.task_arns().iter().cloned());
        }
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .set_tasks(Some(arns))
            .send()
            .await?;
        Ok(described.tasks().to_vec())
    }

    /// One task, described.
    pub async fn describe_task(&self, arn: &str) -> Result<Task, KitError> {
        let described = self
            .ecs
            .describe_tasks()
            .cluster(&self.cluster)
            .tasks(arn)
            .send()
            .await?;
        Ok(described.tasks().first().ok_or("task not found")?.clone())
    }

    /// Holds a task in a shutdown state (DEACTIVATING / STOPPING / DEPROVISIONING), as ECS does
    /// while its containers get their stopTimeout. Test-only endpoint of the extension.
    pub fn hold_task(&self, arn: &str, last_status: &str) -> Result<(), KitError> {
        crate::emulator::control_request(
            self.port,
            "POST",
            "/_ecs_drain/ecs/task-status",
            Some(&json!({
                "cluster": self.cluster,
                "task": arn,
                "lastStatus": last_status,
                "desiredStatus": "STOPPED"
            })),
        )?;
        Ok(())
    }

    /// StopTask through the API (lastStatus STOPPED at once in the emulator).
    pub async fn stop_task(&self, arn: &str, reason: &str) -> Result<(), KitError> {
        self.ecs
            .stop_task()
            .cluster(&self.cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await?;
        Ok(())
    }

    /// ECS moves replica `arn` of `service` off a draining instance: a new task starts on
    /// instance `to`, then `arn` is stopped with the draining reason. Returns the STOPPED
    /// event ECS sends about it (`version` is the event's).
    pub async fn replica_moves(
        &self,
        service: &str,
        arn: &str,
        to: usize,
        version: i64,
    ) -> Result<serde_json::Value, KitError> {
        self.start_service_task(service, to).await?;
        self.stopped_by_drain(arn, version).await
    }

    /// ECS stops task `arn` off a draining instance (StopTask with ECS's draining reason).
    /// Returns the STOPPED event ECS sends about it (`version` is the event's).
    pub async fn stopped_by_drain(
        &self,
        arn: &str,
        version: i64,
    ) -> Result<serde_json::Value, KitError> {
        self.stop_task(arn, DRAINED_REASON).await?;
        Ok(crate::events::task_state_change_event(
            &self.describe_task(arn).await?,
            version,
        ))
    }

    /// The container instance's status (ACTIVE / DRAINING / ...).
    pub async fn instance_status(&self, index: usize) -> Result<String, KitError> {
        let described = self
            .ecs
            .describe_container_instances()
            .cluster(&self.cluster)
            .container_instances(&self.instances[index].container_instance_arn)
            .send()
            .await?;
        Ok(described
            .container_instances()
            .first()
            .and_then(|instance| instance.status())
            .unwrap_or("MISSING")
            .to_owned())
    }

    /// Scales the group in by terminating instance `index`: the instance enters
    /// Terminating:Wait and the hook's lifecycle action starts. Returns that action.
    pub async fn scale_in(&self, index: usize) -> Result<LifecycleAction, KitError> {
        let ec2_id = &self.instances[index].ec2_id;
        self.autoscaling
            .terminate_instance_in_auto_scaling_group()
            .instance_id(ec2_id)
            .should_decrement_desired_capacity(true)
            .send()
            .await?;
        self.lifecycle_actions()?
            .into_iter()
            .rev()
            .find(|action| &action.instance_id == ec2_id && action.hook == self.hook)
            .ok_or_else(|| "no lifecycle action started".into())
    }

    /// Every lifecycle action the emulator has seen for this world's group.
    pub fn lifecycle_actions(&self) -> Result<Vec<LifecycleAction>, KitError> {
        Ok(crate::fleet::lifecycle_action_listing(self.port)?
            .iter()
            .filter_map(LifecycleAction::from_json)
            .filter(|action| action.asg == self.asg)
            .collect())
    }

    /// Where the group's one lifecycle action stands; an error when it has none or several.
    pub fn sole_action_end(&self) -> Result<crate::events::ActionEnd, KitError> {
        match self.lifecycle_actions()?.as_slice() {
            [action] => Ok(action.end()),
            other => Err(format!("expected one lifecycle action, found {other:?}").into()),
        }
    }

    /// The lifecycle state of an instance in the group (InService, Terminating:Wait, ...), or
    /// None once it left the group.
    pub async fn lifecycle_state(&self, index: usize) -> Result<Option<String>, KitError> {
        let groups = self
            .autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(&self.asg)
            .send()
            .await?;
        let ec2_id = &self.instances[index].ec2_id;
        Ok(groups
            .auto_scaling_groups()
            .first()
            .and_then(|group| {
                group
                    .instances()
                    .iter()
                    .find(|instance| instance.instance_id() == Some(ec2_id.as_str()))
            })
            .and_then(|instance| instance.lifecycle_state())
            .map(|state| state.as_str().to_owned()))
    }
}

/// What a refused or ignored input must leave untouched in a world: its container instances'
/// statuses, its group's lifecycle actions and the number of drain records.
#[derive(Clone, Debug, PartialEq)]
pub struct WorldSnapshot {
    /// Each instance's container instance status, in group order.
    pub instance_statuses: Vec<String>,
    /// The group's lifecycle actions.
    pub lifecycle_actions: Vec<LifecycleAction>,
    /// Items in the drain table (consistent scan).
    pub records: usize,
}

impl EmulatorWorld {
    /// The world as a refused input must leave it.
    pub async fn snapshot(&self) -> Result<WorldSnapshot, KitError> {
        let mut instance_statuses = Vec::new();
        for index in 0..self.instances.len() {
            instance_statuses.push(self.instance_status(index).await?);
        }
        let scanned = self
            .dynamodb
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .send()
            .await?;
        Ok(WorldSnapshot {
            instance_statuses,
            lifecycle_actions: self.lifecycle_actions()?,
            records: scanned.items().len(),
        })
    }
}

/// The tasks of the standard scenario on the instance that will drain.
#[derive(Clone, Debug)]
pub struct StandardTasks {
    /// Replica tasks of the two replica services (`web`, `api`) on the draining instance.
    pub replicas: Vec<(String, String)>,
    /// The daemon task (`log-router`) on the draining instance.
    pub daemon: String,
    /// The standalone task (`nightly-report`) on the draining instance.
    pub standalone: String,
}

impl EmulatorWorld {
    /// The standard scenario: two replica services (`web`, `api`) with one task on every
    /// instance, one daemon service (`log-router`) with one task on every instance, and one
    /// standalone task (`nightly-report`) on instance `draining`.
    pub async fn populate_standard(&self, draining: usize) -> Result<StandardTasks, KitError> {
        self.create_service("web", false, 50, 200).await?;
        self.create_service("api", false, 100, 200).await?;
        self.create_service("log-router", true, 0, 100).await?;
        self.register_task_definition("nightly-report").await?;
        let mut tasks = StandardTasks {
            replicas: Vec::new(),
            daemon: String::new(),
            standalone: String::new(),
        };
        for index in 0..self.instances.len() {
            for service in ["web", "api"] {
                let arn = self.start_service_task(service, index).await?;
                if index == draining {
                    tasks.replicas.push((service.to_owned(), arn));
                }
            }
            let daemon = self.start_service_task("log-router", index).await?;
            if index == draining {
                tasks.daemon = daemon;
            }
        }
        tasks.standalone = self
            .start_standalone_task("nightly-report", draining)
            .await?;
        Ok(tasks)
    }
}

impl EmulatorWorld {
    /// Instance `index` as a drain left it whose lifecycle action never existed (a forged
    /// notice acted on before notices were verified): its container instance DRAINING and a
    /// drain on record for lifecycle token `token`. Returns the container instance ARN.
    pub async fn drain_without_action(
        &self,
        index: usize,
        token: &str,
    ) -> Result<drain_core::ids::ContainerInstanceArn, KitError> {
        use drain_core::decision::start_drain;
        use drain_core::ids::{
            AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef,
            LifecycleActionRef, LifecycleToken,
        };
        use drain_core::ports::DrainStore;
        use drain_core::record::DrainStart;
        use drain_core::time::{Clock, SystemClock};

        let instance = &self.instances[index];
        let arn = ContainerInstanceArn::new(instance.container_instance_arn.clone())?;
        self.ecs
            .update_container_instances_state()
            .cluster(&self.cluster)
            .container_instances(arn.as_str())
            .status(aws_sdk_ecs::types::ContainerInstanceStatus::Draining)
            .send()
            .await?;
        let now = SystemClock.now();
        let record = start_drain(DrainStart {
            container_instance_arn: arn.clone(),
            cluster_arn: ClusterArn::new(self.cluster_arn.clone())?,
            action: LifecycleActionRef {
                hook: HookRef {
                    asg_name: AsgName::new(self.asg.clone())?,
                    hook_name: HookName::new(self.hook.clone())?,
                },
                instance_id: Ec2InstanceId::new(instance.ec2_id.clone())?,
                token: LifecycleToken::new(token)?,
            },
            noticed_at: now,
            started_at: now,
            heartbeat_timeout_seconds: Some(300),
            deadline_seconds: 3600,
            retention_seconds: 86_400,
        });
        drain_aws::DynamoDrainStore::new(self.dynamodb.clone(), &self.table)
            .insert(&record)
            .await?;
        Ok(arn)
    }
}

/// The names of the schedules in `group` (EventBridge Scheduler ListSchedules with `sdk`): the
/// drains' booked checks, when `group` is a world's schedule group.
pub async fn schedule_names(
    sdk: &aws_config::SdkConfig,
    group: &str,
) -> Result<Vec<String>, KitError> {
    let listed = aws_sdk_scheduler::Client::new(sdk)
        .list_schedules()
        .group_name(group)
        .send()
        .await?;
    Ok(listed
        .schedules()
        .iter()
        .filter_map(|schedule| schedule.name().map(str::to_owned))
        .collect())
}

/// The drain check booked for container instance `instance` in `world`'s schedule group
/// (EventBridge Scheduler GetSchedule with `sdk`), or None when none is booked.
pub async fn booked_check(
    sdk: &aws_config::SdkConfig,
    world: &EmulatorWorld,
    instance: &drain_core::ids::ContainerInstanceArn,
) -> Result<Option<aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput>, KitError> {
    let found = aws_sdk_scheduler::Client::new(sdk)
        .get_schedule()
        .group_name(&world.schedule_group)
        .name(drain_aws::EventBridgeCheckScheduler::schedule_name(
            instance,
        ))
        .send()
        .await;
    match found {
        Ok(schedule) => Ok(Some(schedule)),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|service| service.is_resource_not_found_exception()) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// EventBridge Scheduler firing the drain check booked for container instance `instance` in
/// `world`'s schedule group (with `sdk`): the input it would send its target (None when no
/// check is booked), the schedule then gone as [`after_firing`] says. The caller invokes the
/// lifecycle handler with that input, as the scheduler would.
pub async fn fire_booked_check(
    sdk: &aws_config::SdkConfig,
    world: &EmulatorWorld,
    instance: &drain_core::ids::ContainerInstanceArn,
) -> Result<Option<serde_json::Value>, KitError> {
    let Some(schedule) = booked_check(sdk, world, instance).await? else {
        return Ok(None);
    };
    let client = aws_sdk_scheduler::Client::new(sdk);
    Ok(Some(
        after_firing(&client, &world.schedule_group, &schedule).await?,
    ))
}

/// What EventBridge Scheduler does with one-shot `schedule` of `group` once it has invoked its
/// target: with ActionAfterCompletion=DELETE it deletes it ("For one-time schedules, this
/// occurs after the schedule has invoked its target once": EventBridge Scheduler User Guide,
/// "Deleting a schedule"); with NONE it keeps it. Returns the schedule's input, the payload of
/// that invocation. The deletion is played at the firing, before the target runs, as the
/// simulation plays it: a booking the invoked function makes is then its own new schedule.
pub async fn after_firing(
    client: &aws_sdk_scheduler::Client,
    group: &str,
    schedule: &aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
) -> Result<serde_json::Value, KitError> {
    let expression = schedule.schedule_expression().unwrap_or_default();
    if !expression.starts_with("at(") {
        return Err(format!("not a one-shot at(...) schedule: {expression}").into());
    }
    let input = schedule
        .target()
        .and_then(|target| target.input())
        .ok_or("schedule without input")?;
    let payload = serde_json::from_str(input)?;
    if schedule.action_after_completion()
        == Some(&aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
    {
        client
            .delete_schedule()
            .group_name(group)
            .name(schedule.name().ok_or("schedule without name")?)
            .send()
            .await?;
    }
    Ok(payload)
}
