//! The demo's instance refresh story (issue 12): the stack of infra/template.yaml deployed in
//! a second emulator with launch readiness on and IAM enforced, both functions running as their
//! built binaries under their own roles, and a one-instance group refreshed launch-first. A new
//! instance launches into Pending:Wait; its agent registers a little later; the launch hook is
//! completed with CONTINUE only once the container instance is ACTIVE with its agent connected.
//! Then the old instance's terminate action drains it while the played ECS scheduler moves its
//! tasks, and is completed once they all stopped. AWS's events come from the emulator's own
//! records and reach a function only when one of the stack's rules routes them there
//! (`drain_testkit::delivery`), exactly as in tests/instance_refresh.rs.

use std::collections::BTreeSet;

use drain_testkit::delivery::{EcsChange, ecs_changes};
use drain_testkit::fleet::{
    FleetAction, asg_state, fleet_actions, instance_refresh_status, start_instance_refresh,
};
use drain_testkit::invoke::outcomes;
use drain_testkit::played::{Move, Played, Settled, container_instances, launch_ready_deployment};
use drain_testkit::{Deployment, EmulatorWorld, KitError, WorldSpec};

use crate::{Timeline, short};

const REPLICAS: [&str; 2] = ["web", "api"];
const DAEMON: &str = "log-router";

/// What the story left in the emulator's records, read before its emulator stops.
#[derive(Clone, Debug)]
pub struct RefreshStory {
    /// The instance the refresh replaced.
    pub old: String,
    /// The group's launch action (for the new instance).
    pub launch: FleetAction,
    /// The group's terminate action (for the old instance).
    pub terminate: FleetAction,
    /// The emulator's ECS change log, oldest first.
    pub changes: Vec<EcsChange>,
    /// The refresh's final status.
    pub status: Option<String>,
}

/// The story's world, ready to play: the deployed stack in its own emulator, the group with its
/// launch hook and one instance running web, api and log-router. The demo starts it while the
/// scale-in story plays, so that the emulator and the stack are up when this story begins.
pub async fn prepare() -> Result<Deployment, KitError> {
    launch_ready_deployment(WorldSpec::new("refresh", 1), |spec| spec, &REPLICAS, DAEMON).await
}

/// Prepares the story's world ([`prepare`]), then plays the story ([`play`]).
pub async fn instance_refresh() -> Result<RefreshStory, KitError> {
    play(prepare().await?).await
}

/// Plays the story on `deployment` (from [`prepare`]), printing it as a timeline, and returns
/// what the records say happened. The story's emulator stops when it returns.
pub async fn play(deployment: Deployment) -> Result<RefreshStory, KitError> {
    println!(
        "\necs-drain demo, part 2: an instance refresh — one new instance joins, one old \
         instance drains\n"
    );
    let world = &deployment.world;
    let old = world.instances[0].ec2_id.clone();
    println!("starting the functions (the first run builds them) ...");
    let functions = deployment.spawn_functions().await?;
    let mut played = Played::on(&deployment, &functions, &REPLICAS, DAEMON)?;
    println!(
        "AWS emulator : {} (IAM enforced; a second one, for this story)",
        deployment.emulator.endpoint()
    );
    println!(
        "stack        : infra/template.yaml with LaunchReadiness=on; on-lifecycle and \
         on-task-stopped run as their built binaries under their own roles"
    );
    println!(
        "group        : {} with 1 instance ({old}), launch hook {} and terminate hook {}",
        world.asg,
        drain_testkit::fleet::LAUNCH_HOOK,
        world.hook
    );
    println!("services     : web, api (replicas, 1 each) and log-router (daemon) on {old}");
    println!(
        "events       : AWS's, from the emulator's records, delivered where the stack's rules \
         route them\n"
    );

    let names = [
        (
            deployment.stack.on_lifecycle()?.name.clone(),
            "on-lifecycle",
        ),
        (
            deployment.stack.on_task_stopped()?.name.clone(),
            "on-task-stopped",
        ),
    ];
    let timeline = Timeline::new();
    let mut reported = BTreeSet::new();
    // Each event on the timeline, then any lifecycle action it got completed.
    let mut on_event = |settled: &Settled| {
        settled_line(&timeline, &names, settled);
        completions(&timeline, world, &mut reported);
    };
    let refresh_id = start_instance_refresh(world, Some((100, 200))).await?;
    timeline.line(
        "auto scaling",
        &format!(
            "instance refresh {}… of {} (healthy 100–200 %: launch first, then terminate)",
            &refresh_id[..8.min(refresh_id.len())],
            world.asg
        ),
    );
    for _round in 0..10 {
        let mut progress = played.settle_with(&mut on_event).await?.len();
        let known = container_instances(world).await?;
        let waiting: Vec<FleetAction> = fleet_actions(world.port, &world.asg)?
            .into_iter()
            .filter(|a| a.is_launch() && a.state == "active")
            .filter(|a| !known.iter().any(|i| i.ec2_id == a.instance_id))
            .collect();
        for action in waiting {
            timeline.line(
                "ecs agent",
                &format!(
                    "{} boots; its agent registers, ECS makes it ACTIVE, then the agent connects",
                    action.instance_id
                ),
            );
            played
                .agent_joins_with(&action.instance_id, |_, s| on_event(s))
                .await?;
            progress += 1;
        }
        for step in played.schedule().await? {
            move_line(&timeline, world, &step).await?;
            progress += 1;
        }
        progress += played.settle_with(&mut on_event).await?.len();
        if progress == 0 {
            break;
        }
    }
    let status = instance_refresh_status(world, &refresh_id).await?;
    let old_now = asg_state(&world.autoscaling, &old)
        .await?
        .unwrap_or_else(|| "terminated".to_owned());
    timeline.line(
        "auto scaling",
        &format!(
            "instance refresh {}; {old} {old_now}",
            status.as_deref().unwrap_or("not found")
        ),
    );

    let actions = fleet_actions(world.port, &world.asg)?;
    let launch = actions
        .iter()
        .find(|a| a.is_launch())
        .ok_or("no launch action")?
        .clone();
    let terminate = actions
        .iter()
        .find(|a| !a.is_launch())
        .ok_or("no terminate action")?
        .clone();
    println!(
        "\nNo instance served before it joined, and none went while a task still ran on it: \
         the launch was completed once its agent connected, the old instance's terminate action \
         once its last task had STOPPED."
    );
    Ok(RefreshStory {
        old,
        launch,
        terminate,
        changes: ecs_changes(world.port)?,
        status,
    })
}

/// One event on the timeline: who it reached and what they decided, or, for a container
/// instance's change that no rule routes, that it went nowhere. A task's own RUNNING or
/// STOPPED event that no rule routes is left out (the scheduler's line says it).
fn settled_line(timeline: &Timeline, names: &[(String, &str)], settled: &Settled) {
    let detail = &settled.event["detail"];
    let text = |key: &str| detail[key].as_str().unwrap_or_default().to_owned();
    let what = match settled.kind() {
        "EC2 Instance-launch Lifecycle Action" => format!(
            "launch action {}… for {}",
            text("LifecycleActionToken")
                .chars()
                .take(8)
                .collect::<String>(),
            text("EC2InstanceId")
        ),
        "EC2 Instance-terminate Lifecycle Action" => format!(
            "terminate action {}… for {}",
            text("LifecycleActionToken")
                .chars()
                .take(8)
                .collect::<String>(),
            text("EC2InstanceId")
        ),
        "ECS Container Instance State Change" => format!(
            "container instance {} on {}: {}, agent {}",
            short(&text("containerInstanceArn")),
            text("ec2InstanceId"),
            text("status"),
            if detail["agentConnected"].as_bool() == Some(true) {
                "connected"
            } else {
                "not connected"
            }
        ),
        "ECS Task State Change" => format!(
            "{} task {} {}",
            text("group").trim_start_matches("service:"),
            short(&text("taskArn")),
            text("lastStatus")
        ),
        other => other.to_owned(),
    };
    if settled.deliveries.is_empty() {
        if settled.kind() == "ECS Container Instance State Change" {
            timeline.line("eventbridge", &format!("{what}: no rule routes it"));
        }
        return;
    }
    for delivery in &settled.deliveries {
        let function = names
            .iter()
            .find(|(name, _)| *name == delivery.function)
            .map_or(delivery.function.as_str(), |(_, short)| short);
        timeline.line(
            function,
            &format!(
                "{what}; decision: {}",
                outcomes(&delivery.report).join(", ")
            ),
        );
    }
}

/// The scheduler's move on the timeline.
async fn move_line(
    timeline: &Timeline,
    world: &EmulatorWorld,
    step: &Move,
) -> Result<(), KitError> {
    let instances = container_instances(world).await?;
    let ec2 = |arn: &str| {
        instances
            .iter()
            .find(|i| i.arn == arn)
            .map_or_else(|| short(arn), |i| i.ec2_id.clone())
    };
    let text = match step {
        Move::DaemonPlaced { service, task, on } => {
            format!(
                "{service}: daemon task {} RUNNING on {}",
                short(task),
                ec2(on)
            )
        }
        Move::ReplicaMoved {
            service,
            old,
            new,
            to,
        } => format!(
            "{service}: replacement {} RUNNING on {}, then old task {} stopped",
            short(new),
            ec2(to),
            short(old)
        ),
    };
    timeline.line("ecs scheduler", &text);
    Ok(())
}

/// Lifecycle actions completed since the last call, on the timeline, as the emulator lists
/// them. A listing that fails is said on the timeline (the story's end reads the records again).
fn completions(timeline: &Timeline, world: &EmulatorWorld, reported: &mut BTreeSet<String>) {
    let actions = match fleet_actions(world.port, &world.asg) {
        Ok(actions) => actions,
        Err(error) => {
            timeline.line(
                "auto scaling",
                &format!("(lifecycle actions unreadable: {error})"),
            );
            return;
        }
    };
    for action in actions {
        if action.state == "active" || !reported.insert(action.token.clone()) {
            continue;
        }
        let (kind, then) = match (action.is_launch(), action.result.as_deref()) {
            (true, Some("CONTINUE")) => ("launch", "goes InService"),
            (true, _) => ("launch", "is terminated"),
            (false, _) => ("terminate", "is terminated"),
        };
        timeline.line(
            "auto scaling",
            &format!(
                "{kind} action {}… {} with {}: {} {then}",
                &action.token[..8.min(action.token.len())],
                action.state,
                action.result.as_deref().unwrap_or("-"),
                action.instance_id
            ),
        );
    }
}
