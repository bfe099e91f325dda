//! The local demo (`make demo`): starts the embedded AWS emulator on 127.0.0.1, builds a
//! cluster of three container instances in an Auto Scaling group with a terminate hook, scales
//! one instance in, and drains it with ecs-drain's real handlers and AWS adapters while this
//! program plays the ECS scheduler. Prints the drain as a timeline. Then the instance refresh
//! story (`drain_demo::refresh`): a new instance put in service only once its agent joined, the
//! old one drained before it goes, with the deployed stack's built functions.
//!
//! With `--keep` (`make demo KEEP=1`) it then scales a second instance in and leaves that drain
//! in flight, prints the endpoint, environment and drainctl commands to try against this world,
//! and keeps the emulator up until Ctrl-C (or SIGTERM), when it stops the emulator it started.

use drain_aws::DynamoDrainStore;
use drain_aws::app::App;
use drain_core::handler::{Report, handle_lifecycle, handle_task_stopped};
use drain_core::ids::ContainerInstanceArn;
use drain_core::ports::DrainStore;
use drain_demo::{Timeline, short};
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

async fn census_line(store: &DynamoDrainStore, instance: &str) -> Result<String, KitError> {
    let record = store
        .load(&ContainerInstanceArn::new(instance)?)
        .await?
        .ok_or("no drain record")?;
    let census = record.last_census.map(|census| {
        format!(
            "alive: {} replica, {} daemon, {} standalone",
            census.alive.replica, census.alive.daemon, census.alive.standalone
        )
    });
    Ok(format!(
        "record {} — {}",
        record.status.as_str(),
        census.unwrap_or_else(|| "no census yet".into())
    ))
}

fn outcome(report: &Report) -> String {
    report.outcomes.join(", ")
}

#[tokio::main]
async fn main() -> Result<(), KitError> {
    let keep = keep_requested(std::env::args().skip(1))?;
    println!(
        "ecs-drain demo: draining one ECS container instance before its Auto Scaling group \
         terminates it\n"
    );
    // The refresh story's emulator and stack come up while the scale-in story plays.
    let refresh_world = tokio::spawn(drain_demo::refresh::prepare());
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("demo", 3)).await?;
    let tasks = world.populate_standard(0).await?;
    let app = App::new(world.config(), &sdk);
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let draining = &world.instances[0];

    println!(
        "AWS emulator : {} (moto 5.2.1 + ecs-drain extension, 127.0.0.1 only)",
        emulator.endpoint()
    );
    println!(
        "cluster      : {} with 3 container instances in Auto Scaling group {}",
        world.cluster, world.asg
    );
    println!(
        "hook         : {} (terminating, heartbeat 300 s, default result CONTINUE)",
        world.hook
    );
    println!("services     : web (replica), api (replica), log-router (daemon) on every instance");
    println!(
        "standalone   : nightly-report on {}, the instance that will be scaled in\n",
        draining.ec2_id
    );

    let timeline = Timeline::new();
    let action = world.scale_in(0).await?;
    timeline.line(
        "auto scaling",
        &format!(
            "scale-in: {} → Terminating:Wait, lifecycle action {}…",
            draining.ec2_id,
            &action.token[..8]
        ),
    );
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    timeline.line(
        "on-lifecycle",
        &format!(
            "container instance {} → {}; decision: {}",
            short(&draining.container_instance_arn),
            world.instance_status(0).await?,
            outcome(&report)
        ),
    );
    timeline.line(
        "",
        &census_line(&store, &draining.container_instance_arn).await?,
    );

    let mut version = 2;
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        let target = 1 + position % 2;
        let replacement = world.start_service_task(service, target).await?;
        timeline.line(
            "ecs scheduler",
            &format!(
                "{service}: replacement {} RUNNING on {}",
                short(&replacement),
                world.instances[target].ec2_id
            ),
        );
        world.hold_task(arn, "STOPPING")?;
        timeline.line(
            "ecs scheduler",
            &format!(
                "{service}: old task {} STOPPING (containers inside their stopTimeout)",
                short(arn)
            ),
        );
        version += 1;
        let stopped = world.stopped_by_drain(arn, version).await?;
        let report = handle_task_stopped(&app.drainer, &stopped).await?;
        timeline.line(
            "on-task-stopped",
            &format!(
                "{service} task {} STOPPED; decision: {}",
                short(arn),
                outcome(&report)
            ),
        );
        timeline.line(
            "",
            &census_line(&store, &draining.container_instance_arn).await?,
        );
    }

    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&tasks.standalone).await?, 9),
    )
    .await?;
    timeline.line(
        "on-task-stopped",
        &format!(
            "nightly-report {} finished; decision: {}",
            short(&tasks.standalone),
            outcome(&report)
        ),
    );
    let daemon = world.describe_task(&tasks.daemon).await?;
    timeline.line(
        "",
        &format!(
            "log-router {} asked to stop: \"{}\"",
            short(&tasks.daemon),
            daemon.stopped_reason().unwrap_or_default()
        ),
    );

    let report = handle_task_stopped(&app.drainer, &task_state_change_event(&daemon, 12)).await?;
    timeline.line(
        "on-task-stopped",
        &format!(
            "log-router {} STOPPED; decision: {}",
            short(&tasks.daemon),
            outcome(&report)
        ),
    );
    let completed = world
        .lifecycle_actions()?
        .into_iter()
        .find(|entry| entry.token == action.token)
        .ok_or("action vanished")?;
    timeline.line(
        "auto scaling",
        &format!(
            "lifecycle action {}… {} with {} ({} completion); instance {}",
            &action.token[..8],
            completed.state,
            completed.result.as_deref().unwrap_or("-"),
            completed.completions,
            match world.lifecycle_state(0).await? {
                Some(state) => format!("still {state}"),
                None => "terminated".to_owned(),
            }
        ),
    );
    timeline.line(
        "",
        &census_line(&store, &draining.container_instance_arn).await?,
    );
    println!(
        "\nNo task was cut short: the hook completed only after the last task, then the daemon, \
         had STOPPED."
    );
    drain_demo::refresh::play(refresh_world.await??).await?;
    if keep {
        playground(&emulator, &world, &app).await?;
    }
    Ok(())
}

/// Whether the arguments ask for the playground: none, or `--keep` (anything else is refused,
/// so a typo does not silently run the plain demo).
fn keep_requested(mut args: impl Iterator<Item = String>) -> Result<bool, KitError> {
    match (args.next(), args.next()) {
        (None, _) => Ok(false),
        (Some(flag), None) if flag == "--keep" => Ok(true),
        (Some(flag), _) => Err(format!("usage: demo [--keep] (unexpected {flag:?})").into()),
    }
}

/// `make demo KEEP=1`: a second drain left in flight, what to try against the world, and the
/// emulator kept up until the operator stops the demo.
async fn playground(emulator: &Emulator, world: &EmulatorWorld, app: &App) -> Result<(), KitError> {
    let waiting = &world.instances[1];
    let action = world.scale_in(1).await?;
    let notice = lifecycle_event(&action);
    let report = handle_lifecycle(
        &app.drainer,
        &notice,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    // The notice as EventBridge delivered it, for `drainctl explain --event`; in a directory
    // of our own, removed when the demo stops.
    let dir = std::env::temp_dir().join(format!("ecs-drain-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let notice_file = dir.join("lifecycle-notice.json");
    std::fs::write(&notice_file, serde_json::to_string_pretty(&notice)?)?;

    let done = &world.instances[0].ec2_id;
    let live = &waiting.ec2_id;
    let endpoint = emulator.endpoint();
    println!(
        "\nKEEP=1: a second drain is left in flight: {live} ({}) — decision: {}.",
        short(&waiting.container_instance_arn),
        outcome(&report)
    );
    // The functions' own settings (table first), so that `explain --event` decides as they do.
    let settings: String = world
        .function_env()
        .iter()
        .map(|(name, value)| format!("  export {name}={value}\n"))
        .collect();
    println!(
        "The emulator stays up at {endpoint} until Ctrl-C. From another shell in this checkout:\n
  export AWS_ENDPOINT_URL={endpoint} AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 \\
         AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
{settings}  cargo install --path crates/drainctl    # or: alias drainctl='cargo run -q -p drainctl --'\n"
    );
    let commands = [
        (
            "drainctl status".to_owned(),
            format!("both drains: {done} COMPLETED, {live} DRAINING"),
        ),
        (
            "drainctl status --active --output json".to_owned(),
            "the live one, as JSON".to_owned(),
        ),
        (
            format!("drainctl explain {done}"),
            "how the finished drain went".to_owned(),
        ),
        (
            format!("drainctl explain {live}"),
            "what the live drain waits for".to_owned(),
        ),
        (
            format!("drainctl explain --event {}", notice_file.display()),
            "its notice, decided again, read-only".to_owned(),
        ),
        (
            format!(
                "drainctl doctor --cluster {} --asg {}",
                world.cluster, world.asg
            ),
            "preflight findings".to_owned(),
        ),
        (
            format!("drainctl extend {live} --by 30m"),
            "a later deadline".to_owned(),
        ),
        (
            format!("drainctl force-complete {live} --result CONTINUE"),
            "finish it now".to_owned(),
        ),
    ];
    let width = commands
        .iter()
        .map(|(command, _)| command.len())
        .max()
        .unwrap_or(0);
    for (command, what) in &commands {
        println!("  {command:<width$}  # {what}");
    }
    println!(
        "\n  table {}, cluster {}, group {}, hook {}\n  (the CLI of issue 13; a drainctl that lacks a command says so)",
        world.table, world.cluster, world.asg, world.hook
    );
    wait_for_stop().await?;
    println!("\nstopping the emulator (pid {})", emulator.pid());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Returns on Ctrl-C (SIGINT) or SIGTERM.
async fn wait_for_stop() -> Result<(), KitError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        interrupted = tokio::signal::ctrl_c() => interrupted?,
        _ = terminate.recv() => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::keep_requested;

    fn args(list: &[&str]) -> impl Iterator<Item = String> {
        list.iter()
            .map(|arg| (*arg).to_owned())
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn no_argument_runs_the_plain_demo() {
        assert!(!keep_requested(args(&[])).unwrap());
    }

    #[test]
    fn keep_asks_for_the_playground() {
        assert!(keep_requested(args(&["--keep"])).unwrap());
    }

    #[test]
    fn anything_else_is_refused_rather_than_ignored() {
        for wrong in [&["--kep"][..], &["keep"], &["--keep", "--keep"], &["-k"]] {
            assert!(keep_requested(args(wrong)).is_err(), "{wrong:?}");
        }
    }
}
