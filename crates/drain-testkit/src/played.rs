//! What AWS does by itself around a deployed stack, played over the wire: the ECS agent on a
//! new instance (it registers, ECS makes it ACTIVE, then the agent connects), the ECS service
//! scheduler (a replacement placed before a task on a draining instance is stopped; a daemon
//! task on every instance that joins), and EventBridge delivering every event of what happened
//! ([`Bus`]). Used by the instance refresh tests and by the demo's refresh story, so both play
//! AWS the same way.
//!
//! Also the readings of the emulator's ECS change log that tell when an instance joined, was
//! set DRAINING, and when a task ran or stopped there: how a test proves an order from AWS's
//! own records rather than from what the functions said.

use aws_sdk_ecs::types::DesiredStatus;
use serde_json::{Value, json};

use crate::delivery::{Bus, Delivery, EcsChange};
use crate::fleet::{FleetAction, add_launch_hook, set_container_instance, set_registration};
use crate::runtime_api::FunctionProcess;
use crate::stack::StackSpec;
use crate::world::DRAINED_REASON;
use crate::{Deployment, EmulatorWorld, KitError, WorldSpec};

/// A container instance of the cluster as DescribeContainerInstances reports it.
#[derive(Clone, Debug)]
pub struct Joined {
    /// Its ARN.
    pub arn: String,
    /// Its EC2 instance.
    pub ec2_id: String,
    /// REGISTERING, ACTIVE, DRAINING, ...
    pub status: String,
    /// Whether its agent is connected.
    pub agent_connected: bool,
}

/// Every container instance of the world's cluster.
pub async fn container_instances(world: &EmulatorWorld) -> Result<Vec<Joined>, KitError> {
    let listed = world
        .ecs
        .list_container_instances()
        .cluster(&world.cluster)
        .send()
        .await?;
    if listed.container_instance_arns().is_empty() {
        return Ok(Vec::new());
    }
    let described = world
        .ecs
        .describe_container_instances()
        .cluster(&world.cluster)
        .set_container_instances(Some(listed.container_instance_arns().to_vec()))
        .send()
        .await?;
    Ok(described
        .container_instances()
        .iter()
        .map(|instance| Joined {
            arn: instance
                .container_instance_arn()
                .unwrap_or_default()
                .to_owned(),
            ec2_id: instance.ec2_instance_id().unwrap_or_default().to_owned(),
            status: instance.status().unwrap_or_default().to_owned(),
            agent_connected: instance.agent_connected(),
        })
        .collect())
}

/// A RUNNING task of the cluster.
#[derive(Clone, Debug, PartialEq)]
pub struct Running {
    /// `service:<name>` or `family:<name>`.
    pub group: String,
    /// Where it runs.
    pub container_instance_arn: String,
    /// The task.
    pub task_arn: String,
}

/// The RUNNING tasks of the world's cluster.
pub async fn running_tasks(world: &EmulatorWorld) -> Result<Vec<Running>, KitError> {
    let listed = world
        .ecs
        .list_tasks()
        .cluster(&world.cluster)
        .desired_status(DesiredStatus::Running)
        .send()
        .await?;
    if listed.task_arns().is_empty() {
        return Ok(Vec::new());
    }
    let described = world
        .ecs
        .describe_tasks()
        .cluster(&world.cluster)
        .set_tasks(Some(listed.task_arns().to_vec()))
        .send()
        .await?;
    Ok(described
        .tasks()
        .iter()
        .filter(|task| task.last_status() == Some("RUNNING"))
        .map(|task| Running {
            group: task.group().unwrap_or_default().to_owned(),
            container_instance_arn: task.container_instance_arn().unwrap_or_default().to_owned(),
            task_arn: task.task_arn().unwrap_or_default().to_owned(),
        })
        .collect())
}

/// Places a task of `service` on container instance `on`, as the service scheduler does.
/// Returns the task's ARN.
pub async fn place(world: &EmulatorWorld, service: &str, on: &str) -> Result<String, KitError> {
    let started = world
        .ecs
        .start_task()
        .cluster(&world.cluster)
        .task_definition(service)
        .container_instances(on)
        .group(format!("service:{service}"))
        .started_by(format!("ecs-svc/{:019}", service.len() * 7919))
        .send()
        .await?;
    Ok(started
        .tasks()
        .first()
        .and_then(|task| task.task_arn())
        .ok_or("StartTask returned no task")?
        .to_owned())
}

/// The deployed stack with launch readiness (then adjusted by `adjust`) for a world of `spec`,
/// the launch hook on its group, and the services a played scheduler keeps: `replicas`
/// (minimum healthy 100 %, maximum 200 %, one task per instance) and `daemon`, with a task of
/// each on every instance of the world.
pub async fn launch_ready_deployment(
    spec: WorldSpec,
    adjust: impl FnOnce(StackSpec) -> StackSpec,
    replicas: &[&str],
    daemon: &str,
) -> Result<Deployment, KitError> {
    let deployment =
        Deployment::start_with(spec, |stack| adjust(stack.with_launch_readiness())).await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    for service in replicas {
        world.create_service(service, false, 100, 200).await?;
    }
    world.create_service(daemon, true, 0, 100).await?;
    for index in 0..world.instances.len() {
        for service in replicas.iter().chain([&daemon]) {
            world.start_service_task(service, index).await?;
        }
    }
    Ok(deployment)
}

/// One event AWS put on the bus, and the deliveries the stack's rules made of it (none: no
/// rule routes it).
#[derive(Clone, Debug)]
pub struct Settled {
    /// The event, in AWS's shape.
    pub event: Value,
    /// What each function it reached answered.
    pub deliveries: Vec<Delivery>,
}

impl Settled {
    /// The event's detail-type.
    pub fn kind(&self) -> &str {
        self.event["detail-type"].as_str().unwrap_or_default()
    }
}

/// The outcomes of the deliveries of events of one detail-type.
pub fn of_kind(seen: &[Settled], kind: &str) -> Vec<String> {
    seen.iter()
        .filter(|settled| settled.kind() == kind)
        .flat_map(|settled| &settled.deliveries)
        .flat_map(|delivery| crate::invoke::outcomes(&delivery.report))
        .collect()
}

/// One thing the played scheduler did.
#[derive(Clone, Debug, PartialEq)]
pub enum Move {
    /// A daemon task placed on an instance that had none.
    DaemonPlaced {
        /// The daemon service.
        service: String,
        /// Its new task.
        task: String,
        /// The instance (container instance ARN).
        on: String,
    },
    /// A replica moved off a DRAINING instance: the replacement placed, then the old task
    /// stopped with ECS's draining reason.
    ReplicaMoved {
        /// The replica service.
        service: String,
        /// The task stopped.
        old: String,
        /// The replacement.
        new: String,
        /// Where the replacement runs (container instance ARN).
        to: String,
    },
}

/// The played world: the deployed stack's bus, the services the played scheduler keeps
/// running, and the replica services' desired counts sampled after every step (each event
/// delivered, each task placed or stopped).
pub struct Played<'a> {
    /// The world.
    pub world: &'a EmulatorWorld,
    /// The deployed stack's bus.
    pub bus: Bus<'a>,
    /// Replica services the scheduler moves off draining instances.
    pub replicas: Vec<String>,
    /// The daemon service it puts on every joined instance.
    pub daemon: String,
    /// Samples taken so far.
    pub steps: usize,
}

impl<'a> Played<'a> {
    /// The played world of `bus`, scheduling `replicas` and `daemon`.
    pub fn new(world: &'a EmulatorWorld, bus: Bus<'a>, replicas: &[&str], daemon: &str) -> Self {
        Played {
            world,
            bus,
            replicas: replicas.iter().map(|s| (*s).to_owned()).collect(),
            daemon: daemon.to_owned(),
            steps: 0,
        }
    }

    /// The played world of `deployment`, its bus delivering to `functions` (on-lifecycle,
    /// on-task-stopped, as [`Deployment::spawn_functions`] runs them).
    pub fn on(
        deployment: &'a Deployment,
        functions: &'a (FunctionProcess, FunctionProcess),
        replicas: &[&str],
        daemon: &str,
    ) -> Result<Self, KitError> {
        let bus = Bus::new(deployment, &functions.0, &functions.1)?;
        Ok(Played::new(&deployment.world, bus, replicas, daemon))
    }

    /// Fails when a replica service runs fewer RUNNING tasks than its desired count.
    pub async fn sample(&mut self, step: &str) -> Result<(), KitError> {
        self.steps += 1;
        let running = running_tasks(self.world).await?;
        let described = self
            .world
            .ecs
            .describe_services()
            .cluster(&self.world.cluster)
            .set_services(Some(self.replicas.clone()))
            .send()
            .await?;
        for service in described.services() {
            let name = service.service_name().unwrap_or_default();
            let group = format!("service:{name}");
            let count = running.iter().filter(|task| task.group == group).count();
            if (count as i32) < service.desired_count() {
                return Err(format!(
                    "step {} ({step}): {name} runs {count} tasks, below its desired {}",
                    self.steps,
                    service.desired_count()
                )
                .into());
            }
        }
        Ok(())
    }

    /// Delivers every event AWS would send for what happened so far (and for what the
    /// functions do in answer), sampling after each; `each` sees every event as it settles.
    pub async fn settle_with(
        &mut self,
        mut each: impl FnMut(&Settled),
    ) -> Result<Vec<Settled>, KitError> {
        let mut seen = Vec::new();
        while let Some(event) = self.bus.next_event().await? {
            let deliveries = self.bus.deliver(&event).await?;
            let settled = Settled { event, deliveries };
            each(&settled);
            self.sample(settled.kind()).await?;
            seen.push(settled);
        }
        Ok(seen)
    }

    /// [`Played::settle_with`], silently.
    pub async fn settle(&mut self) -> Result<Vec<Settled>, KitError> {
        self.settle_with(|_| {}).await
    }

    /// One round of the played ECS scheduler: a daemon task on every joined instance (ACTIVE,
    /// agent connected) that lacks one, and each replica on a DRAINING instance moved
    /// (replacement first, on the joined instance running fewest of its service; then the old
    /// task stopped). Returns what it did, in order.
    pub async fn schedule(&mut self) -> Result<Vec<Move>, KitError> {
        let instances = container_instances(self.world).await?;
        let joined: Vec<&Joined> = instances
            .iter()
            .filter(|i| i.status == "ACTIVE" && i.agent_connected)
            .collect();
        let mut moves = Vec::new();
        let daemon_group = format!("service:{}", self.daemon);
        for instance in &joined {
            let running = running_tasks(self.world).await?;
            if !running.iter().any(|task| {
                task.group == daemon_group && task.container_instance_arn == instance.arn
            }) {
                let task = place(self.world, &self.daemon, &instance.arn).await?;
                moves.push(Move::DaemonPlaced {
                    service: self.daemon.clone(),
                    task,
                    on: instance.arn.clone(),
                });
                self.sample("daemon placed").await?;
            }
        }
        for draining in instances.iter().filter(|i| i.status == "DRAINING") {
            for service in self.replicas.clone() {
                let group = format!("service:{service}");
                let on_it: Vec<Running> = running_tasks(self.world)
                    .await?
                    .into_iter()
                    .filter(|task| {
                        task.group == group && task.container_instance_arn == draining.arn
                    })
                    .collect();
                for old in on_it {
                    let running = running_tasks(self.world).await?;
                    let Some(target) = joined.iter().min_by_key(|i| {
                        running
                            .iter()
                            .filter(|task| {
                                task.group == group && task.container_instance_arn == i.arn
                            })
                            .count()
                    }) else {
                        continue;
                    };
                    let new = place(self.world, &service, &target.arn).await?;
                    self.sample("replacement placed").await?;
                    self.world.stop_task(&old.task_arn, DRAINED_REASON).await?;
                    self.sample("old task stopped").await?;
                    moves.push(Move::ReplicaMoved {
                        service: service.clone(),
                        old: old.task_arn,
                        new,
                        to: target.arn.clone(),
                    });
                }
            }
        }
        Ok(moves)
    }

    /// The played ECS agent on a new instance: it registers (REGISTERING, not connected), ECS
    /// makes it ACTIVE, then the agent connects; the events of each step are delivered before
    /// the next (`each` sees them, with the step's name). Returns the events of each step.
    pub async fn agent_joins_with(
        &mut self,
        ec2_id: &str,
        mut each: impl FnMut(&str, &Settled),
    ) -> Result<Vec<Vec<Settled>>, KitError> {
        let world = self.world;
        set_registration(world.port, "REGISTERING", false)?;
        world
            .register_container_instance(&world.cluster, ec2_id)
            .await?;
        let mut steps = vec![self.settle_with(|s| each("registered", s)).await?];
        set_container_instance(world.port, &world.cluster, ec2_id, Some("ACTIVE"), None)?;
        steps.push(self.settle_with(|s| each("active", s)).await?);
        set_container_instance(world.port, &world.cluster, ec2_id, None, Some(true))?;
        steps.push(self.settle_with(|s| each("connected", s)).await?);
        Ok(steps)
    }

    /// [`Played::agent_joins_with`], silently.
    pub async fn agent_joins(&mut self, ec2_id: &str) -> Result<Vec<Vec<Settled>>, KitError> {
        self.agent_joins_with(ec2_id, |_, _| {}).await
    }
}

/// When the container instance on `ec2_id` first was ACTIVE with its agent connected
/// (emulator time).
pub fn first_joined_at(changes: &[EcsChange], ec2_id: &str) -> Option<f64> {
    changes.iter().find_map(|change| match change {
        EcsChange::ContainerInstance { at, detail, .. }
            if detail["ec2InstanceId"] == json!(ec2_id)
                && detail["status"] == json!("ACTIVE")
                && detail["agentConnected"] == json!(true) =>
        {
            Some(*at)
        }
        _ => None,
    })
}

/// The container instance ARN the change log reports on `ec2_id`.
pub fn container_instance_of(changes: &[EcsChange], ec2_id: &str) -> Option<String> {
    changes.iter().find_map(|change| match change {
        EcsChange::ContainerInstance { detail, .. } if detail["ec2InstanceId"] == json!(ec2_id) => {
            detail["containerInstanceArn"].as_str().map(str::to_owned)
        }
        _ => None,
    })
}

/// When container instance `arn` was first set DRAINING through the API (by ecs-drain).
pub fn drained_at(changes: &[EcsChange], arn: &str) -> Option<f64> {
    changes.iter().find_map(|change| match change {
        EcsChange::ContainerInstance { at, detail, cause }
            if cause == "UpdateContainerInstancesState"
                && detail["containerInstanceArn"] == json!(arn)
                && detail["status"] == json!("DRAINING") =>
        {
            Some(*at)
        }
        _ => None,
    })
}

/// Every task placed (StartTask) on container instance `arn`, with its group.
pub fn placed_on(changes: &[EcsChange], arn: &str) -> Vec<(String, Option<String>, f64)> {
    changes
        .iter()
        .filter_map(|change| match change {
            EcsChange::Task {
                at,
                task_arn,
                container_instance_arn,
                group,
                cause,
                ..
            } if cause == "StartTask" && container_instance_arn.as_deref() == Some(arn) => {
                Some((task_arn.clone(), group.clone(), *at))
            }
            _ => None,
        })
        .collect()
}

/// When task `task` was STOPPED, if it was.
pub fn stopped_at(changes: &[EcsChange], task: &str) -> Option<f64> {
    changes.iter().find_map(|change| match change {
        EcsChange::Task {
            at,
            task_arn,
            last_status,
            ..
        } if task_arn == task && last_status == "STOPPED" => Some(*at),
        _ => None,
    })
}

/// By the change log: launch `action` was completed once, with CONTINUE, and only after its
/// container instance was ACTIVE with its agent connected. Returns when it was completed.
pub fn launch_completed_once_joined(
    changes: &[EcsChange],
    action: &FleetAction,
) -> Result<f64, KitError> {
    completed_once_with_continue(action)?;
    let completed_at = action.completed_at.ok_or("no completion time")?;
    let joined_at = first_joined_at(changes, &action.instance_id)
        .ok_or_else(|| format!("{} never joined", action.instance_id))?;
    if joined_at >= completed_at {
        return Err(format!("{action:?} completed before it joined (at {joined_at})").into());
    }
    Ok(completed_at)
}

/// By the change log: terminate `action` was completed once, with CONTINUE, after its container
/// instance was set DRAINING and after every task ever placed on it had STOPPED. Returns those
/// tasks (ARN, group, when placed).
pub fn terminate_completed_once_drained(
    changes: &[EcsChange],
    action: &FleetAction,
) -> Result<Vec<(String, Option<String>, f64)>, KitError> {
    completed_once_with_continue(action)?;
    let completed_at = action.completed_at.ok_or("no completion time")?;
    let arn = container_instance_of(changes, &action.instance_id)
        .ok_or_else(|| format!("no container instance on {}", action.instance_id))?;
    if !drained_at(changes, &arn).is_some_and(|at| at < completed_at) {
        return Err(format!("{action:?} completed before {arn} was set DRAINING").into());
    }
    let placed = placed_on(changes, &arn);
    for (task, _, _) in &placed {
        if !stopped_at(changes, task).is_some_and(|at| at < completed_at) {
            return Err(format!(
                "{task} was alive when {} was terminated",
                action.instance_id
            )
            .into());
        }
    }
    Ok(placed)
}

fn completed_once_with_continue(action: &FleetAction) -> Result<(), KitError> {
    if action.end() != crate::events::ActionEnd::completed_once("CONTINUE") {
        return Err(format!("{action:?}: not completed once with CONTINUE").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/c/abc";

    fn instance(at: f64, cause: &str, status: &str, connected: bool) -> EcsChange {
        EcsChange::ContainerInstance {
            at,
            cause: cause.to_owned(),
            detail: json!({
                "containerInstanceArn": ARN, "ec2InstanceId": "i-1",
                "status": status, "agentConnected": connected
            }),
        }
    }

    fn task(at: f64, cause: &str, last_status: &str) -> EcsChange {
        EcsChange::Task {
            at,
            cause: cause.to_owned(),
            task_arn: "task-1".to_owned(),
            cluster_arn: "cluster".to_owned(),
            container_instance_arn: Some(ARN.to_owned()),
            group: Some("service:web".to_owned()),
            last_status: last_status.to_owned(),
        }
    }

    fn action(launch: bool, completed_at: f64) -> FleetAction {
        FleetAction {
            token: "t".to_owned(),
            asg: "g".to_owned(),
            hook: "h".to_owned(),
            instance_id: "i-1".to_owned(),
            transition: if launch {
                "autoscaling:EC2_INSTANCE_LAUNCHING"
            } else {
                "autoscaling:EC2_INSTANCE_TERMINATING"
            }
            .to_owned(),
            origin: "EC2".to_owned(),
            destination: "AutoScalingGroup".to_owned(),
            lifecycle_state: "Pending:Wait".to_owned(),
            state: "completed".to_owned(),
            result: Some("CONTINUE".to_owned()),
            created_at: 0.0,
            completed_at: Some(completed_at),
            completions: 1,
        }
    }

    #[test]
    fn a_launch_completed_only_once_the_agent_connected_passes_and_one_completed_before_fails() {
        let changes = [
            instance(1.0, "RegisterContainerInstance", "REGISTERING", false),
            instance(2.0, "ecs", "ACTIVE", false),
            instance(3.0, "agent", "ACTIVE", true),
        ];
        assert_eq!(
            launch_completed_once_joined(&changes, &action(true, 4.0)).ok(),
            Some(4.0)
        );
        assert!(launch_completed_once_joined(&changes, &action(true, 2.5)).is_err());
        assert!(launch_completed_once_joined(&changes[..2], &action(true, 4.0)).is_err());
    }

    #[test]
    fn a_termination_passes_only_when_drained_and_every_task_stopped_before_it_completed() {
        let drained = [
            task(1.0, "StartTask", "RUNNING"),
            instance(2.0, "UpdateContainerInstancesState", "DRAINING", true),
            task(3.0, "StopTask", "STOPPED"),
        ];
        assert_eq!(
            terminate_completed_once_drained(&drained, &action(false, 4.0))
                .map(|placed| placed.len())
                .ok(),
            Some(1)
        );
        // the task still ran when the action was completed
        assert!(terminate_completed_once_drained(&drained, &action(false, 2.5)).is_err());
        // never set DRAINING by the API
        let undrained = [
            instance(0.5, "RegisterContainerInstance", "ACTIVE", true),
            drained[0].clone(),
            drained[2].clone(),
        ];
        assert!(terminate_completed_once_drained(&undrained, &action(false, 4.0)).is_err());
        // completed twice
        let mut twice = action(false, 4.0);
        twice.completions = 2;
        assert!(terminate_completed_once_drained(&drained, &twice).is_err());
    }
}
