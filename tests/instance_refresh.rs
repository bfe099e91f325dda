//! The whole instance lifecycle over the wire, with the built binaries as deployed
//! (infra/template.yaml in the emulator with LaunchReadiness on, IAM enforced, each function
//! under its own execution role). AWS's events come from the emulator's own records (its ECS
//! change log and its lifecycle actions, in the shapes of tests/fixtures) and reach a function
//! only when one of the deployed stack's rules routes them there (`drain_testkit::delivery`).
//! The test plays what AWS does by itself: the ECS agent on a new instance, and the ECS service
//! scheduler, which places a replacement before it stops a task on a draining instance and puts
//! a daemon task on every instance that joins.

use std::time::Duration;

use aws_sdk_ecs::types::DesiredStatus;
use drain_core::time::Timestamp;
use drain_testkit::delivery::{Bus, EcsChange};
use drain_testkit::fleet::{
    FleetAction, LAUNCH_HOOK, add_launch_hook, asg_state, fleet_actions, set_container_instance,
    set_desired, set_registration,
};
use drain_testkit::invoke::{metric_total, outcomes, respond};
use drain_testkit::stack::StackSpec;
use drain_testkit::world::DRAINED_REASON;
use drain_testkit::{Deployment, EmulatorWorld, KitError, WorldSpec};
use serde_json::{Value, json};

type TestResult = Result<(), KitError>;

const REPLICAS: [&str; 2] = ["web", "api"];
const DAEMON: &str = "log-router";

/// The stack with launch readiness on (the test puts the launch hook on the group itself: moto
/// has no CloudFormation model of a lifecycle hook).
fn launch_readiness(spec: StackSpec) -> StackSpec {
    spec.with_parameter("LaunchReadiness", "on")
        .with_parameter("CreateLaunchHooks", "false")
        .with_parameter("LaunchHookName", LAUNCH_HOOK)
}

/// A container instance of the cluster as DescribeContainerInstances reports it.
#[derive(Clone, Debug)]
struct Joined {
    arn: String,
    ec2_id: String,
    status: String,
    agent_connected: bool,
}

async fn container_instances(world: &EmulatorWorld) -> Result<Vec<Joined>, KitError> {
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

/// The RUNNING tasks of the cluster as (group, container instance ARN, task ARN).
async fn running_tasks(world: &EmulatorWorld) -> Result<Vec<(String, String, String)>, KitError> {
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
        .map(|task| {
            (
                task.group().unwrap_or_default().to_owned(),
                task.container_instance_arn().unwrap_or_default().to_owned(),
                task.task_arn().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

/// Places a task of `service` on container instance `on`, as the service scheduler does.
async fn place(world: &EmulatorWorld, service: &str, on: &str) -> Result<String, KitError> {
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

/// The played world: the deployed stack's bus and the services' desired counts, sampled after
/// every step (each event delivered, each task the scheduler places or stops).
struct Played<'a> {
    world: &'a EmulatorWorld,
    bus: Bus<'a>,
    steps: usize,
}

impl Played<'_> {
    /// No replica service runs fewer RUNNING tasks than its desired count.
    async fn sample(&mut self, step: &str) -> TestResult {
        self.steps += 1;
        let running = running_tasks(self.world).await?;
        let described = self
            .world
            .ecs
            .describe_services()
            .cluster(&self.world.cluster)
            .set_services(Some(REPLICAS.iter().map(|s| (*s).to_owned()).collect()))
            .send()
            .await?;
        for service in described.services() {
            let name = service.service_name().unwrap_or_default();
            let group = format!("service:{name}");
            let count = running.iter().filter(|(g, _, _)| *g == group).count();
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
    /// functions do in answer), sampling after each. Returns the reports, per detail-type.
    async fn settle(&mut self) -> Result<Vec<(String, Vec<String>)>, KitError> {
        let mut seen = Vec::new();
        while let Some(event) = self.bus.next_event().await? {
            let kind = event["detail-type"].as_str().unwrap_or_default().to_owned();
            for delivery in self.bus.deliver(&event).await? {
                seen.push((kind.clone(), outcomes(&delivery.report)));
            }
            self.sample(&kind).await?;
        }
        Ok(seen)
    }

    /// One round of the played ECS scheduler: a daemon task on every joined instance that lacks
    /// one, and each replica on a DRAINING instance moved (replacement first, on the joined
    /// instance running fewest of its service; then the old task stopped). Returns how many
    /// tasks it placed or stopped.
    async fn schedule(&mut self) -> Result<usize, KitError> {
        let instances = container_instances(self.world).await?;
        let joined: Vec<&Joined> = instances
            .iter()
            .filter(|i| i.status == "ACTIVE" && i.agent_connected)
            .collect();
        let mut moved = 0;
        let daemon_group = format!("service:{DAEMON}");
        for instance in &joined {
            let running = running_tasks(self.world).await?;
            if !running
                .iter()
                .any(|(g, on, _)| *g == daemon_group && *on == instance.arn)
            {
                place(self.world, DAEMON, &instance.arn).await?;
                moved += 1;
                self.sample("daemon placed").await?;
            }
        }
        for draining in instances.iter().filter(|i| i.status == "DRAINING") {
            for service in REPLICAS {
                let group = format!("service:{service}");
                let running = running_tasks(self.world).await?;
                for (_, _, old) in running
                    .iter()
                    .filter(|(g, on, _)| *g == group && *on == draining.arn)
                {
                    let running = running_tasks(self.world).await?;
                    let Some(target) = joined.iter().min_by_key(|i| {
                        running
                            .iter()
                            .filter(|(g, on, _)| *g == group && *on == i.arn)
                            .count()
                    }) else {
                        continue;
                    };
                    place(self.world, service, &target.arn).await?;
                    self.sample("replacement placed").await?;
                    self.world.stop_task(old, DRAINED_REASON).await?;
                    self.sample("old task stopped").await?;
                    moved += 2;
                }
            }
        }
        Ok(moved)
    }
}

/// The played ECS agent on a new instance: it registers (REGISTERING, not connected), ECS makes
/// it ACTIVE, then the agent connects; the events of each step are delivered before the next.
/// Returns the outcomes on-lifecycle gave at each step.
async fn agent_joins(
    played: &mut Played<'_>,
    ec2_id: &str,
) -> Result<Vec<Vec<(String, Vec<String>)>>, KitError> {
    let world = played.world;
    set_registration(world.port, "REGISTERING", false)?;
    world
        .ecs
        .register_container_instance()
        .cluster(&world.cluster)
        .instance_identity_document(
            json!({ "instanceId": ec2_id, "region": "us-east-1", "accountId": "123456789012" })
                .to_string(),
        )
        .send()
        .await?;
    let mut steps = vec![played.settle().await?];
    set_container_instance(world.port, &world.cluster, ec2_id, Some("ACTIVE"), None)?;
    steps.push(played.settle().await?);
    set_container_instance(world.port, &world.cluster, ec2_id, None, Some(true))?;
    steps.push(played.settle().await?);
    Ok(steps)
}

/// The outcomes of the deliveries of one detail-type.
fn of_kind(seen: &[(String, Vec<String>)], kind: &str) -> Vec<String> {
    seen.iter()
        .filter(|(k, _)| k == kind)
        .flat_map(|(_, outcomes)| outcomes.clone())
        .collect()
}

fn first_joined_at(changes: &[EcsChange], ec2_id: &str) -> Option<f64> {
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

fn container_instance_of(changes: &[EcsChange], ec2_id: &str) -> Option<String> {
    changes.iter().find_map(|change| match change {
        EcsChange::ContainerInstance { detail, .. } if detail["ec2InstanceId"] == json!(ec2_id) => {
            detail["containerInstanceArn"].as_str().map(str::to_owned)
        }
        _ => None,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_refresh_puts_each_new_instance_in_service_only_once_joined_and_drains_each_old_one()
-> TestResult {
    // GIVEN the deployed stack with launch readiness waiting for daemons, a 3-instance group
    // with its launch hook, and web, api (replicas, one per instance) and log-router (daemon)
    let deployment = Deployment::start_with(WorldSpec::new("refresh", 3), |spec| {
        launch_readiness(spec).with_parameter("LaunchWaitForDaemons", "true")
    })
    .await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    for service in REPLICAS {
        world.create_service(service, false, 100, 200).await?;
    }
    world.create_service(DAEMON, true, 0, 100).await?;
    for index in 0..world.instances.len() {
        for service in REPLICAS.iter().chain([&DAEMON]) {
            world.start_service_task(service, index).await?;
        }
    }
    let old: Vec<String> = world.instances.iter().map(|i| i.ec2_id.clone()).collect();
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;
    let mut played = Played {
        world,
        bus: Bus::new(&deployment, &on_lifecycle, &on_task_stopped)?,
        steps: 0,
    };

    // WHEN an instance refresh replaces the group's instances (default preferences: one at a
    // time, each old instance terminated while its replacement launches) and AWS, the agents
    // and the ECS scheduler play their parts until nothing is left to do
    let refresh = world
        .autoscaling
        .start_instance_refresh()
        .auto_scaling_group_name(&world.asg)
        .send()
        .await?;
    let refresh_id = refresh.instance_refresh_id().ok_or("no refresh id")?;
    let mut joined_steps = Vec::new();
    for _round in 0..30 {
        let mut progress = played.settle().await?.len();
        let waiting: Vec<FleetAction> = fleet_actions(world.port, &world.asg)?
            .into_iter()
            .filter(|a| a.is_launch() && a.state == "active")
            .collect();
        let known = container_instances(world).await?;
        for action in waiting {
            if !known.iter().any(|i| i.ec2_id == action.instance_id) {
                joined_steps.push(agent_joins(&mut played, &action.instance_id).await?);
                progress += 1;
            }
        }
        progress += played.schedule().await?;
        progress += played.settle().await?.len();
        if progress == 0 {
            break;
        }
    }

    // THEN the refresh succeeded: three new instances InService, none of the old ones left
    let described = world
        .autoscaling
        .describe_instance_refreshes()
        .auto_scaling_group_name(&world.asg)
        .instance_refresh_ids(refresh_id)
        .send()
        .await?;
    let status = described
        .instance_refreshes()
        .first()
        .and_then(|r| r.status())
        .map(|s| s.as_str().to_owned());
    assert_eq!(status.as_deref(), Some("Successful"));
    let actions = fleet_actions(world.port, &world.asg)?;
    let launches: Vec<&FleetAction> = actions.iter().filter(|a| a.is_launch()).collect();
    let terminations: Vec<&FleetAction> = actions.iter().filter(|a| !a.is_launch()).collect();
    assert_eq!((launches.len(), terminations.len()), (3, 3));
    for ec2_id in &old {
        assert_eq!(
            asg_state(&world.autoscaling, ec2_id).await?,
            None,
            "{ec2_id}"
        );
    }

    // AND while each new instance waited, the events that said it was not ready (registering;
    // ACTIVE with the agent not yet connected) reached no function, and the one that said it
    // joined found it still waiting for its log-router daemon
    assert_eq!(joined_steps.len(), 3);
    for steps in &joined_steps {
        let states = "ECS Container Instance State Change";
        assert_eq!(
            of_kind(&steps[0], states),
            Vec::<String>::new(),
            "{steps:?}"
        );
        assert_eq!(
            of_kind(&steps[1], states),
            Vec::<String>::new(),
            "{steps:?}"
        );
        assert!(
            of_kind(&steps[2], states).contains(&"launch_waiting".to_owned()),
            "{steps:?}"
        );
    }

    // AND by the emulator's own records, each launch was completed once with CONTINUE, only
    // after its container instance was ACTIVE with its agent connected and its daemon placed
    let changes = drain_testkit::delivery::ecs_changes(world.port)?;
    for launch in &launches {
        assert_eq!(
            (
                launch.state.as_str(),
                launch.result.as_deref(),
                launch.completions
            ),
            ("completed", Some("CONTINUE"), 1),
            "{launch:?}"
        );
        let completed_at = launch.completed_at.ok_or("no completion time")?;
        let joined_at = first_joined_at(&changes, &launch.instance_id).ok_or("never joined")?;
        assert!(
            joined_at < completed_at,
            "{launch:?} completed before it joined"
        );
        let arn = container_instance_of(&changes, &launch.instance_id).ok_or("no instance")?;
        let daemon_at = changes.iter().find_map(|change| match change {
            EcsChange::Task {
                at,
                group,
                container_instance_arn,
                cause,
                ..
            } if cause == "StartTask"
                && group.as_deref() == Some("service:log-router")
                && container_instance_arn.as_deref() == Some(arn.as_str()) =>
            {
                Some(*at)
            }
            _ => None,
        });
        assert!(
            daemon_at.is_some_and(|at| at < completed_at),
            "{launch:?} completed before its daemon ran"
        );
    }

    // AND each old instance was set DRAINING, and every task on it had stopped, before its
    // terminate action was completed (once, CONTINUE)
    for termination in &terminations {
        assert!(old.contains(&termination.instance_id));
        assert_eq!(
            (
                termination.state.as_str(),
                termination.result.as_deref(),
                termination.completions
            ),
            ("completed", Some("CONTINUE"), 1),
            "{termination:?}"
        );
        let completed_at = termination.completed_at.ok_or("no completion time")?;
        let arn = container_instance_of(&changes, &termination.instance_id).ok_or("no instance")?;
        let drained_at = changes.iter().find_map(|change| match change {
            EcsChange::ContainerInstance { at, detail, cause }
                if cause == "UpdateContainerInstancesState"
                    && detail["containerInstanceArn"] == json!(arn)
                    && detail["status"] == json!("DRAINING") =>
            {
                Some(*at)
            }
            _ => None,
        });
        assert!(
            drained_at.is_some_and(|at| at < completed_at),
            "{termination:?}"
        );
        let placed: Vec<&String> = changes
            .iter()
            .filter_map(|change| match change {
                EcsChange::Task {
                    task_arn,
                    container_instance_arn,
                    cause,
                    ..
                } if cause == "StartTask"
                    && container_instance_arn.as_deref() == Some(arn.as_str()) =>
                {
                    Some(task_arn)
                }
                _ => None,
            })
            .collect();
        assert!(placed.len() >= 3, "web, api and log-router ran there");
        for task in placed {
            let stopped_at = changes.iter().find_map(|change| match change {
                EcsChange::Task {
                    at,
                    task_arn,
                    last_status,
                    ..
                } if task_arn == task && last_status == "STOPPED" => Some(*at),
                _ => None,
            });
            assert!(
                stopped_at.is_some_and(|at| at < completed_at),
                "{task} was alive when {} was terminated",
                termination.instance_id
            );
        }
    }

    // AND no replica service ever ran below its desired count (sampled after every step), and
    // the functions ran under their own roles with nothing denied, ecs:ListServices (the
    // daemons-running check) included
    assert!(played.steps > 30, "only {} steps sampled", played.steps);
    let decisions = deployment.emulator.iam_decisions()?;
    let denied: Vec<_> = decisions.iter().filter(|d| !d.allowed).collect();
    assert!(denied.is_empty(), "{denied:?}");
    let role = deployment.stack.on_lifecycle()?.role_name().to_owned();
    assert!(
        decisions
            .iter()
            .any(|d| d.action == "ecs:ListServices" && d.role.as_deref() == Some(role.as_str())),
        "ListServices ran under on-lifecycle's role"
    );
    Ok(())
}

/// The time of a schedule's `at(...)` expression (UTC).
fn at_time(expression: &str) -> Option<Timestamp> {
    let inner = expression.strip_prefix("at(")?.strip_suffix(')')?;
    Timestamp::parse_rfc3339(&format!("{inner}Z"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_that_never_joins_is_abandoned_by_its_one_shot_check_at_the_deadline() -> TestResult
{
    // GIVEN the deployed stack with launch readiness and the shortest launch deadline (60 s)
    let deployment = Deployment::start_with(WorldSpec::new("never", 1), |spec| {
        launch_readiness(spec).with_parameter("LaunchDeadlineSeconds", "60")
    })
    .await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;
    let mut played = Played {
        world,
        bus: Bus::new(&deployment, &on_lifecycle, &on_task_stopped)?,
        steps: 0,
    };

    // WHEN the group scales out and the new instance's agent never registers
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let seen = played.settle().await?;
    assert_eq!(
        of_kind(&seen, "EC2 Instance-launch Lifecycle Action"),
        vec!["launch_waiting"]
    );
    let action = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.is_launch())
        .ok_or("no launch action")?;

    // THEN one check is booked, at the deadline, for the deployed on-lifecycle
    let schedule = deployment.booked_launch_check(&action.instance_id).await?;
    let at = at_time(schedule.schedule_expression().unwrap_or_default())
        .ok_or("the check is not a one-shot at(...) schedule")?;
    let noticed = Timestamp(action.created_at as i64);
    assert_eq!(at.seconds_since(noticed), 60, "{schedule:?}");
    let input: Value = serde_json::from_str(
        schedule
            .target()
            .and_then(|target| target.input())
            .ok_or("no input")?,
    )?;

    // WHEN EventBridge Scheduler fires it at its time
    let now = drain_core::time::Clock::now(&drain_core::time::SystemClock);
    let wait = at.seconds_since(now).max(0) as u64 + 1;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let report = respond(&on_lifecycle, &input).await?;

    // THEN the launch action is ABANDONed: the group terminates the instance and launches a
    // replacement; the deadline is counted for the alarm and the check is gone
    assert_eq!(outcomes(&report), vec!["launch_abandoned"], "{report}");
    let done = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.token == action.token)
        .ok_or("action vanished")?;
    assert_eq!(
        (
            done.state.as_str(),
            done.result.as_deref(),
            done.completions
        ),
        ("completed", Some("ABANDON"), 1)
    );
    assert_eq!(
        asg_state(&world.autoscaling, &action.instance_id).await?,
        None
    );
    assert!(
        fleet_actions(world.port, &world.asg)?
            .iter()
            .any(|a| a.is_launch() && a.state == "active" && a.instance_id != action.instance_id),
        "a replacement is launching"
    );
    assert_eq!(metric_total(&on_lifecycle, "LaunchDeadlinesPassed"), 1.0);
    assert!(
        deployment
            .booked_launch_check(&action.instance_id)
            .await
            .is_err(),
        "the one-shot check was removed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_pool_round_trip_drains_the_instance_and_brings_it_back_active() -> TestResult {
    // GIVEN the deployed stack with launch readiness, a 2-instance group with its launch hook
    // and a warm pool that takes instances back on scale-in, and a web replica on each
    let deployment = Deployment::start_with(WorldSpec::new("warm", 2), launch_readiness).await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    world
        .autoscaling
        .put_warm_pool()
        .auto_scaling_group_name(&world.asg)
        .max_group_prepared_capacity(2)
        .instance_reuse_policy(
            aws_sdk_autoscaling::types::InstanceReusePolicy::builder()
                .reuse_on_scale_in(true)
                .build(),
        )
        .send()
        .await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service(DAEMON, true, 0, 100).await?;
    for index in 0..world.instances.len() {
        world.start_service_task("web", index).await?;
        world.start_service_task(DAEMON, index).await?;
    }
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;
    let mut played = Played {
        world,
        bus: Bus::new(&deployment, &on_lifecycle, &on_task_stopped)?,
        steps: 0,
    };

    // WHEN the group scales in to the warm pool
    set_desired(&world.autoscaling, &world.asg, 1).await?;
    let mut seen = played.settle().await?;
    let terminate = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| !a.is_launch())
        .ok_or("no terminate action")?;
    assert_eq!(terminate.destination, "WarmPool");
    let index = world
        .instances
        .iter()
        .position(|i| i.ec2_id == terminate.instance_id)
        .ok_or("not a world instance")?;
    // THEN the instance drains as any other: its web replica moves, then its daemon stops
    assert_eq!(world.instance_status(index).await?, "DRAINING");
    played.schedule().await?;
    seen.extend(played.settle().await?);
    assert_eq!(
        of_kind(&seen, "EC2 Instance-terminate Lifecycle Action"),
        vec!["wait"]
    );
    let done = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.token == terminate.token)
        .ok_or("action vanished")?;
    assert_eq!(
        (done.state.as_str(), done.result.as_deref()),
        ("completed", Some("CONTINUE"))
    );
    // AND it enters the pool (its launch action into the pool completed at once), stopped,
    // its container instance still DRAINING
    assert!(
        of_kind(&seen, "EC2 Instance-launch Lifecycle Action")
            .contains(&"launch_continued".to_owned()),
        "{seen:?}"
    );
    assert_eq!(
        asg_state(&world.autoscaling, &terminate.instance_id)
            .await?
            .as_deref(),
        Some("Warmed:Stopped")
    );
    assert_eq!(world.instance_status(index).await?, "DRAINING");

    // WHEN the group scales out again and the instance leaves the pool (Origin WarmPool)
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let seen = played.settle().await?;
    let back = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.is_launch() && a.state == "active")
        .ok_or("no return launch")?;
    assert_eq!(
        (back.instance_id.as_str(), back.origin.as_str()),
        (terminate.instance_id.as_str(), "WarmPool")
    );
    // THEN ecs-drain, which drained it, sets it ACTIVE and waits for its agent
    assert_eq!(
        of_kind(&seen, "EC2 Instance-launch Lifecycle Action"),
        vec!["launch_waiting"]
    );
    assert_eq!(world.instance_status(index).await?, "ACTIVE");
    assert_eq!(
        asg_state(&world.autoscaling, &back.instance_id)
            .await?
            .as_deref(),
        Some("Pending:Wait")
    );

    // WHEN its agent reconnects
    set_container_instance(
        world.port,
        &world.cluster,
        &back.instance_id,
        None,
        Some(true),
    )?;
    let seen = played.settle().await?;
    // THEN the launch completes and the instance serves again, ACTIVE
    assert_eq!(
        of_kind(&seen, "ECS Container Instance State Change"),
        vec!["launch_continued"]
    );
    assert_eq!(
        asg_state(&world.autoscaling, &back.instance_id)
            .await?
            .as_deref(),
        Some("InService")
    );
    assert_eq!(world.instance_status(index).await?, "ACTIVE");
    let denied: Vec<_> = deployment
        .emulator
        .iam_decisions()?
        .into_iter()
        .filter(|d| !d.allowed)
        .collect();
    assert!(denied.is_empty(), "{denied:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_that_joins_a_cluster_the_stack_does_not_watch_is_completed_at_once_with_the_reason()
-> TestResult {
    // GIVEN the deployed stack with launch readiness, and a cluster it does not watch
    let deployment =
        Deployment::start_with(WorldSpec::new("elsewhere", 1), launch_readiness).await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    let unwatched = format!("{}-unwatched", world.cluster);
    world
        .ecs
        .create_cluster()
        .cluster_name(&unwatched)
        .send()
        .await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;
    let mut played = Played {
        world,
        bus: Bus::new(&deployment, &on_lifecycle, &on_task_stopped)?,
        steps: 0,
    };
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let seen = played.settle().await?;
    assert_eq!(
        of_kind(&seen, "EC2 Instance-launch Lifecycle Action"),
        vec!["launch_waiting"]
    );
    let action = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.is_launch())
        .ok_or("no launch action")?;

    // WHEN its agent registers it, ACTIVE and connected, in the unwatched cluster
    world
        .ecs
        .register_container_instance()
        .cluster(&unwatched)
        .instance_identity_document(
            json!({ "instanceId": action.instance_id, "region": "us-east-1", "accountId": "123456789012" })
                .to_string(),
        )
        .send()
        .await?;
    let seen = played.settle().await?;

    // THEN its state change reaches on-lifecycle (the rule does not filter clusters) and the
    // launch is completed at once with CONTINUE, saying why
    assert_eq!(
        of_kind(&seen, "ECS Container Instance State Change"),
        vec!["launch_continued"]
    );
    let done = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.token == action.token)
        .ok_or("action vanished")?;
    assert_eq!(
        (
            done.state.as_str(),
            done.result.as_deref(),
            done.completions
        ),
        ("completed", Some("CONTINUE"), 1)
    );
    assert!(
        on_lifecycle
            .logs()
            .contains("the instance joined a cluster ecs-drain does not watch"),
        "the reason is logged"
    );
    assert_eq!(
        asg_state(&world.autoscaling, &action.instance_id)
            .await?
            .as_deref(),
        Some("InService")
    );
    Ok(())
}
