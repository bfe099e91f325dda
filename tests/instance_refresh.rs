//! The whole instance lifecycle over the wire, with the built binaries as deployed
//! (infra/template.yaml in the emulator with LaunchReadiness on, IAM enforced, each function
//! under its own execution role). AWS's events come from the emulator's own records (its ECS
//! change log and its lifecycle actions, in the shapes of tests/fixtures) and reach a function
//! only when one of the deployed stack's rules routes them there (`drain_testkit::delivery`).
//! The test plays what AWS does by itself: the ECS agent on a new instance, and the ECS service
//! scheduler, which places a replacement before it stops a task on a draining instance and puts
//! a daemon task on every instance that joins.

use std::time::Duration;

use drain_core::time::Timestamp;
use drain_testkit::events::ActionEnd;
use drain_testkit::fleet::{
    FleetAction, add_launch_hook, add_warm_pool, asg_state, fleet_action, fleet_actions,
    instance_refresh_status, set_container_instance, set_desired, start_instance_refresh,
};
use drain_testkit::invoke::{metric_total, outcomes, respond};
use drain_testkit::played::{
    Played, container_instance_of, container_instances, launch_completed_once_joined,
    launch_ready_deployment, of_kind, placed_on, terminate_completed_once_drained,
};
use drain_testkit::stack::StackSpec;
use drain_testkit::{Deployment, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

const REPLICAS: [&str; 2] = ["web", "api"];
const DAEMON: &str = "log-router";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_refresh_puts_each_new_instance_in_service_only_once_joined_and_drains_each_old_one()
-> TestResult {
    // GIVEN the deployed stack with launch readiness waiting for daemons, a 3-instance group
    // with its launch hook, and web, api (replicas, one per instance) and log-router (daemon)
    let deployment = launch_ready_deployment(
        WorldSpec::new("refresh", 3),
        |spec| spec.with_parameter("LaunchWaitForDaemons", "true"),
        &REPLICAS,
        DAEMON,
    )
    .await?;
    let world = &deployment.world;
    let old: Vec<String> = world.instances.iter().map(|i| i.ec2_id.clone()).collect();
    let functions = deployment.spawn_functions().await?;
    let mut played = Played::on(&deployment, &functions, &REPLICAS, DAEMON)?;

    // WHEN an instance refresh replaces the group's instances (default preferences: one at a
    // time, each old instance terminated while its replacement launches) and AWS, the agents
    // and the ECS scheduler play their parts until nothing is left to do
    let refresh_id = start_instance_refresh(world, None).await?;
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
                joined_steps.push(played.agent_joins(&action.instance_id).await?);
                progress += 1;
            }
        }
        progress += played.schedule().await?.len();
        progress += played.settle().await?.len();
        if progress == 0 {
            break;
        }
    }

    // THEN the refresh succeeded: three new instances InService, none of the old ones left
    let status = instance_refresh_status(world, &refresh_id).await?;
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
        let completed_at = launch_completed_once_joined(&changes, launch)?;
        let arn = container_instance_of(&changes, &launch.instance_id).ok_or("no instance")?;
        let daemon_at = placed_on(&changes, &arn)
            .into_iter()
            .find(|(_, group, _)| group.as_deref() == Some("service:log-router"))
            .map(|(_, _, at)| at);
        assert!(
            daemon_at.is_some_and(|at| at < completed_at),
            "{launch:?} completed before its daemon ran"
        );
    }

    // AND each old instance was set DRAINING, and every task on it had stopped, before its
    // terminate action was completed (once, CONTINUE)
    for termination in &terminations {
        assert!(old.contains(&termination.instance_id));
        let placed = terminate_completed_once_drained(&changes, termination)?;
        assert!(placed.len() >= 3, "web, api and log-router ran there");
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

/// The group scales out to two instances: on-lifecycle finds the new one not yet joined and
/// waits. Returns its launch action.
async fn scale_out_to_two(played: &mut Played<'_>) -> Result<FleetAction, KitError> {
    let world = played.world;
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let seen = played.settle().await?;
    assert_eq!(
        of_kind(&seen, "EC2 Instance-launch Lifecycle Action"),
        vec!["launch_waiting"]
    );
    Ok(fleet_actions(world.port, &world.asg)?
        .into_iter()
        .find(|a| a.is_launch())
        .ok_or("no launch action")?)
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
        spec.with_launch_readiness()
            .with_parameter("LaunchDeadlineSeconds", "60")
    })
    .await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    let functions = deployment.spawn_functions().await?;
    let mut played = Played::on(&deployment, &functions, &REPLICAS, DAEMON)?;

    // WHEN the group scales out and the new instance's agent never registers
    let action = scale_out_to_two(&mut played).await?;

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

    // WHEN EventBridge Scheduler fires it at its time (the one-shot schedule is gone after its
    // one invocation: ActionAfterCompletion=DELETE, played by the test kit)
    let now = drain_core::time::Clock::now(&drain_core::time::SystemClock);
    let wait = at.seconds_since(now).max(0) as u64 + 1;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let fired = deployment
        .fire_booked_launch_check(action.instance_id.as_str())
        .await?;
    assert_eq!(fired, input, "the scheduler sends the booked input");
    let report = respond(&functions.0, &fired).await?;

    // THEN the launch action is ABANDONed: the group terminates the instance and launches a
    // replacement; the deadline is counted for the alarm and the check is gone
    assert_eq!(outcomes(&report), vec!["launch_abandoned"], "{report}");
    let done = fleet_action(world.port, &world.asg, &action.token)?;
    assert_eq!(done.end(), ActionEnd::completed_once("ABANDON"));
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
    assert_eq!(metric_total(&functions.0, "LaunchDeadlinesPassed"), 1.0);
    assert!(
        deployment
            .booked_launch_check(&action.instance_id)
            .await
            .is_err(),
        "the one-shot check is gone after firing"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_pool_round_trip_drains_the_instance_and_brings_it_back_active() -> TestResult {
    // GIVEN the deployed stack with launch readiness, a 2-instance group with its launch hook
    // and a warm pool that takes instances back on scale-in, and a web replica on each
    let deployment =
        Deployment::start_with(WorldSpec::new("warm", 2), StackSpec::with_launch_readiness).await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    add_warm_pool(world).await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service(DAEMON, true, 0, 100).await?;
    for index in 0..world.instances.len() {
        world.start_service_task("web", index).await?;
        world.start_service_task(DAEMON, index).await?;
    }
    let functions = deployment.spawn_functions().await?;
    let mut played = Played::on(&deployment, &functions, &REPLICAS, DAEMON)?;

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
    let done = fleet_action(world.port, &world.asg, &terminate.token)?;
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
    let deployment = Deployment::start_with(
        WorldSpec::new("elsewhere", 1),
        StackSpec::with_launch_readiness,
    )
    .await?;
    let world = &deployment.world;
    add_launch_hook(world).await?;
    let unwatched = format!("{}-unwatched", world.cluster);
    world
        .ecs
        .create_cluster()
        .cluster_name(&unwatched)
        .send()
        .await?;
    let functions = deployment.spawn_functions().await?;
    let mut played = Played::on(&deployment, &functions, &REPLICAS, DAEMON)?;
    let action = scale_out_to_two(&mut played).await?;

    // WHEN its agent registers it, ACTIVE and connected, in the unwatched cluster
    world
        .register_container_instance(&unwatched, &action.instance_id)
        .await?;
    let seen = played.settle().await?;

    // THEN its state change reaches on-lifecycle (the rule does not filter clusters) and the
    // launch is completed at once with CONTINUE, saying why
    assert_eq!(
        of_kind(&seen, "ECS Container Instance State Change"),
        vec!["launch_continued"]
    );
    let done = fleet_action(world.port, &world.asg, &action.token)?;
    assert_eq!(done.end(), ActionEnd::completed_once("CONTINUE"));
    assert!(
        functions
            .0
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
