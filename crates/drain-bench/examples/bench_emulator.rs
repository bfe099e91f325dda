//! The benchmarks that need the local AWS emulator (moto + extension on 127.0.0.1), the
//! Runtime API emulator and the counting proxy of the test kit:
//!
//! - `cold-start [--starts N] [--bin-dir DIR]`: release function binaries spawned under the
//!   Runtime API emulator; spawn → first `GET /invocation/next`, and the first invocation.
//! - `calls`: AWS calls per event, real adapters → counting proxy → emulator, observed next to
//!   the formula they should follow.
//! - `rss [--events N] [--bin-dir DIR]`: peak RSS (VmHWM) of each release binary after N
//!   mixed events, and the deployment zip sizes.
//! - `scale [--full] [--instances N --tasks-per-instance N --drains N --events N --concurrency N]`:
//!   STOPPED events through the warm handler (in process, real adapters, counting proxy)
//!   against the emulator.
//!
//! `scripts/bench.sh` builds the release binaries first and runs each part. Figures are
//! printed, never asserted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_ecs::types::Task;
use drain_aws::app::App;
use drain_bench::args::flag;
use drain_bench::measure::{
    Stats, human, human_kib, human_ns, process_cpu_ns, process_user_sys, status_kib,
};
use drain_bench::table::{Table, scale_parameters};
use drain_core::config::{ENV_SCHEDULE_GROUP, ENV_SCHEDULE_ROLE_ARN};
use drain_core::decision::look::CensusRule;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::testing::calls::{self, CallCounts, merged, total};
use drain_testkit::emulator::sdk_config_for;
use drain_testkit::events::{lifecycle_event, lifecycle_sns_event, task_state_change_event};
use drain_testkit::proxy::{FaultPlan, Proxy};
use drain_testkit::runtime_api::FunctionProcess;
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec, project_root};
use serde_json::{Value, json};

type BenchResult<T = ()> = Result<T, KitError>;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> BenchResult {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("cold-start") => cold_start(rest).await,
        Some("calls") => calls().await,
        Some("rss") => rss(rest).await,
        Some("scale") => scale(rest).await,
        _ => Err(
            "usage: bench-emulator cold-start | calls | rss | scale [--full] (see the module docs \
             for flags)"
                .into(),
        ),
    }
}

/// `--bin-dir`, or `<target dir>/release`.
fn bin_dir(args: &[String]) -> PathBuf {
    if let Some(index) = args.iter().position(|arg| arg == "--bin-dir")
        && let Some(dir) = args.get(index + 1)
    {
        return PathBuf::from(dir);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| project_root().join("target"), PathBuf::from);
    target.join("release")
}

fn binary(dir: &Path, name: &str) -> BenchResult<PathBuf> {
    let path = dir.join(name);
    if !path.is_file() {
        return Err(format!(
            "{} not built: run cargo build --release -p {name}",
            path.display()
        )
        .into());
    }
    // The function runs in a working directory of its own: the path must not be relative.
    Ok(std::fs::canonicalize(path)?)
}

/// The stack's environment for each function: on-task-stopped does not get the schedule
/// settings (as in infra/template.yaml).
/// A process environment.
type Env = Vec<(String, String)>;

fn function_envs(emulator: &Emulator, world: &EmulatorWorld) -> (Env, Env) {
    let mut lifecycle = world.function_env();
    lifecycle.extend(emulator.function_env());
    let task = lifecycle
        .iter()
        .filter(|(name, _)| name != ENV_SCHEDULE_GROUP && name != ENV_SCHEDULE_ROLE_ARN)
        .cloned()
        .collect();
    (lifecycle, task)
}

fn outcomes(response: Option<&Value>) -> String {
    response
        .and_then(|report| report["outcomes"].as_array())
        .map(|outcomes| {
            outcomes
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "error".into())
}

/// A STOPPED task as DescribeTasks would show it, without asking the emulator.
fn stopped_task(
    world: &EmulatorWorld,
    arn: &str,
    instance: &str,
    group: &str,
    started_by: Option<&str>,
    reason: &str,
) -> Task {
    let family = group.rsplit(':').next().unwrap_or_default();
    Task::builder()
        .task_arn(arn)
        .cluster_arn(&world.cluster_arn)
        .container_instance_arn(instance)
        .group(group)
        .set_started_by(started_by.map(str::to_owned))
        .last_status("STOPPED")
        .desired_status("STOPPED")
        .task_definition_arn(format!(
            "arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:1"
        ))
        .stopped_reason(reason)
        .build()
}

const MOVED: &str = "Task stopped by ECS because the container instance is being drained.";

// ---------------------------------------------------------------------------------------------
// 1. Cold start

struct Start {
    init: Duration,
    first: Duration,
    cpu_ns: u64,
    hwm_kib: u64,
    outcome: String,
}

async fn one_start(binary: &Path, env: &[(String, String)], event: &Value) -> BenchResult<Start> {
    let function = FunctionProcess::spawn(binary, env.to_vec())?;
    let init = function.wait_ready(Duration::from_secs(30)).await?;
    let invocation = function.invoke(event).await?;
    let pid = function.pid();
    Ok(Start {
        init,
        first: invocation.duration(),
        cpu_ns: process_cpu_ns(pid).unwrap_or_default(),
        hwm_kib: status_kib(pid, "VmHWM").unwrap_or_default(),
        outcome: outcomes(invocation.response()),
    })
}

async fn cold_start(args: &[String]) -> BenchResult {
    let starts = flag(args, "--starts", 20)?;
    let dir = bin_dir(args);
    let on_lifecycle = binary(&dir, "on-lifecycle")?;
    let on_task_stopped = binary(&dir, "on-task-stopped")?;
    let emulator = Emulator::start()?;
    // One fresh instance to scale in per on-lifecycle start, each running a replica task and a
    // daemon task (the first invocation then takes the whole start-of-drain path).
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("cold", starts + 1),
    )
    .await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service("log-router", true, 0, 100).await?;
    world.register_task_definition("nightly-report").await?;
    for index in 0..=starts {
        world.start_service_task("web", index).await?;
        world.start_service_task("log-router", index).await?;
    }
    let report = world
        .start_standalone_task("nightly-report", starts)
        .await?;
    world
        .stop_task(&report, "Essential container in task exited")
        .await?;
    let unrelated = task_state_change_event(&world.describe_task(&report).await?, 2);
    let (lifecycle_env, task_env) = function_envs(&emulator, &world);

    let mut table = Table::new(
        &format!(
            "Cold start: release host binaries under the Runtime API emulator, {starts} starts each"
        ),
        &[
            "function",
            "first event",
            "outcome",
            "init median",
            "init p95",
            "1st invocation median",
            "1st invocation p95",
            "CPU init+1st (median)",
            "VmHWM after 1st",
        ],
    );
    let mut warm_row = None;
    for (name, path) in [
        ("on-task-stopped", &on_task_stopped),
        ("on-lifecycle", &on_lifecycle),
    ] {
        let mut samples = Vec::new();
        for start in 0..starts {
            let sample = if name == "on-task-stopped" {
                one_start(path, &task_env, &unrelated).await?
            } else {
                let action = world.scale_in(start).await?;
                one_start(path, &lifecycle_env, &lifecycle_event(&action)).await?
            };
            samples.push(sample);
        }
        let stats =
            |pick: &dyn Fn(&Start) -> f64| Stats::of(&samples.iter().map(pick).collect::<Vec<_>>());
        let init = stats(&|start| start.init.as_nanos() as f64).ok_or("no starts")?;
        let first = stats(&|start| start.first.as_nanos() as f64).ok_or("no starts")?;
        let cpu = stats(&|start| start.cpu_ns as f64).ok_or("no starts")?;
        let hwm = stats(&|start| start.hwm_kib as f64).ok_or("no starts")?;
        let mut seen: Vec<&str> = samples.iter().map(|start| start.outcome.as_str()).collect();
        seen.dedup();
        table.row(vec![
            name.into(),
            if name == "on-task-stopped" {
                "unrelated STOPPED (1 GetItem)".into()
            } else {
                "terminate notice, 2 tasks (12 calls)".into()
            },
            seen.join(" / "),
            human_ns(init.median),
            human_ns(init.p95),
            human_ns(first.median),
            human_ns(first.p95),
            human_ns(cpu.median),
            human_kib(hwm.median as u64),
        ]);
        if name == "on-task-stopped" {
            // The same event to a process that has already answered one: the warm figure.
            let function = FunctionProcess::spawn(path, task_env.clone())?;
            function.wait_ready(Duration::from_secs(30)).await?;
            function.invoke(&unrelated).await?;
            let mut warm = Vec::new();
            for _ in 0..starts {
                warm.push(function.invoke(&unrelated).await?.duration().as_nanos() as f64);
            }
            warm_row = Stats::of(&warm);
        }
    }
    if let Some(warm) = warm_row {
        table.note(format!(
            "For comparison, on-task-stopped's 2nd..{}th invocation of the same event in one \
             process (warm): median {}, p95 {}.",
            starts + 1,
            human_ns(warm.median),
            human_ns(warm.p95)
        ));
    }
    table.note(
        "init = process spawn → its first GET /2018-06-01/runtime/invocation/next (tracing set up, \
         settings read, SDK config loaded, clients built). 1st invocation = event delivered → \
         response posted; it includes the SDK's first connection to the emulator (plain HTTP on \
         127.0.0.1: no DNS, no TLS handshake, unlike real AWS) and moto's own time per call. CPU = \
         all threads of the process (/proc/<pid>/task/*/schedstat) from spawn to the first \
         response. Host (x86_64) release build, not the arm64 zip.",
    );
    table.print();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 3. AWS calls per event

// What each event should cost comes from the call-cost model the call-count test checks at
// the wire (drain_core::testing::calls); this part reports it next to what was observed.
type Counts = CallCounts;

/// The terminate notice that starts a drain of `tasks` running tasks.
fn predicted_lifecycle(tasks: u64) -> Counts {
    calls::drain_start(&calls::census(tasks, 0, tasks > 0))
}

fn short(counts: &Counts) -> String {
    counts
        .iter()
        .map(|(operation, count)| {
            format!(
                "{}×{count}",
                operation.split(':').nth(1).unwrap_or(operation)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A row of the calls table: what was sent, its outcome, the calls observed against those
/// predicted, and the operations observed.
fn calls_row(what: String, outcome: &str, observed: &Counts, predicted: &Counts) -> Vec<String> {
    vec![
        what,
        outcome.to_owned(),
        total(observed).to_string(),
        total(predicted).to_string(),
        verdict(observed, predicted),
        short(observed),
    ]
}

fn verdict(observed: &Counts, predicted: &Counts) -> String {
    if observed == predicted {
        "yes".into()
    } else {
        format!("NO: observed {}", short(observed))
    }
}

async fn calls() -> BenchResult {
    let emulator = Emulator::start()?;
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    // One attempt per call: a retry would be counted as a call and hide a failure.
    let through_proxy = sdk_config_for(
        &proxy.endpoint(),
        RetryConfig::standard().with_max_attempts(1),
    );
    let mut table = Table::new(
        "AWS calls per event (real adapters → counting proxy → emulator)",
        &[
            "event",
            "outcome",
            "calls observed",
            "formula",
            "formula matches",
            "by operation (observed)",
        ],
    );

    // An unrelated STOPPED event.
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("calls-idle", 2),
    )
    .await?;
    world.register_task_definition("nightly-report").await?;
    let app = App::new(world.config(), &through_proxy);
    let task = world.start_standalone_task("nightly-report", 1).await?;
    world
        .stop_task(&task, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&world.describe_task(&task).await?, 2);
    proxy.reset_counts();
    let report = handle_task_stopped(&app.drainer, &event).await?;
    let observed = proxy.counts();
    let predicted = calls::unrelated_stopped();
    table.row(vec![
        "STOPPED, instance not draining".into(),
        report.outcomes.join(","),
        total(&observed).to_string(),
        "GetItem = 1".into(),
        verdict(&observed, &predicted),
        short(&observed),
    ]);

    // Full drains of N tasks (N-1 replicas of one service, one daemon task), under today's
    // census rule and, side by side in the same run, the census-per-event rule before issue 11.
    let mut side_by_side = Table::new(
        "Whole drain of N tasks: today's rule next to every-look (same run)",
        &[
            "tasks",
            "rule",
            "AWS calls",
            "ECS calls",
            "formula",
            "formula matches",
            "target 2N+20 / ECS 16 + DescribeTasks",
            "completed CONTINUE",
        ],
    );
    let mut per_event = Vec::new();
    for tasks in [5u64, 20, 150, 1_000] {
        for rule in [CensusRule::WhenNeeded, CensusRule::EveryLook] {
            if rule == CensusRule::EveryLook && tasks > EVERY_LOOK_MAX_TASKS {
                // About 18,500 calls, most of them ListTasks pages and DescribeTasks of the tasks
                // still running: most of an hour of the emulator's time. The model's figure is
                // shown instead, marked as such.
                let predicted = calls::whole_drain(tasks, rule);
                side_by_side.row(vec![
                    tasks.to_string(),
                    rule.as_str().into(),
                    format!("{} (model, not run)", total(&predicted)),
                    format!("{} (model)", total(&calls::ecs_only(&predicted))),
                    total(&predicted).to_string(),
                    "not run".into(),
                    format!("missed ({})", 2 * tasks + 20),
                    "not run".into(),
                ]);
                continue;
            }
            let drain = whole_drain(&emulator, &through_proxy, &proxy, tasks, rule).await?;
            eprintln!(
                "calls: whole drain of {tasks} tasks under {}: {} calls",
                rule.as_str(),
                total(&merged(&drain.lifecycle, &drain.stopped))
            );
            let predicted_start = predicted_lifecycle(tasks);
            let predicted_stopped = merged(
                &calls::stopped_events_of_a_drain(tasks - 1, rule),
                &calls::check_after_the_end(),
            );
            let predicted = calls::whole_drain(tasks, rule);
            if rule == CensusRule::WhenNeeded {
                table.row(calls_row(
                    format!("terminate notice, {tasks} tasks"),
                    &drain.first_outcome,
                    &drain.lifecycle,
                    &predicted_start,
                ));
                table.row(calls_row(
                    format!("all {tasks} STOPPED events of that drain, and its late check"),
                    &drain.last_outcomes,
                    &drain.stopped,
                    &predicted_stopped,
                ));
                per_event.push((tasks, drain.first_stopped.clone()));
            }
            let whole = merged(&drain.lifecycle, &drain.stopped);
            let ecs = total(&calls::ecs_only(&whole));
            // One DescribeTasks per 100 tasks per census: three censuses in this shape.
            let ecs_target = 16 + 3 * tasks.div_ceil(100);
            side_by_side.row(vec![
                tasks.to_string(),
                rule.as_str().into(),
                total(&whole).to_string(),
                ecs.to_string(),
                total(&predicted).to_string(),
                verdict(&whole, &predicted),
                format!(
                    "{} / {}",
                    if total(&whole) <= 2 * tasks + 20 {
                        format!("met ({})", 2 * tasks + 20)
                    } else {
                        format!("missed ({})", 2 * tasks + 20)
                    },
                    if ecs <= ecs_target {
                        format!("met ({ecs_target})")
                    } else {
                        format!("missed ({ecs_target})")
                    }
                ),
                if drain.completed == 1 { "yes" } else { "NO" }.into(),
            ]);
        }
    }
    for (tasks, first) in per_event {
        table.note(format!(
            "first STOPPED event of the {tasks}-task drain alone: {} calls ({})",
            total(&first),
            short(&first)
        ));
    }
    table.note(
        "Formula (drain_core::testing::calls; d = tasks listed on the instance, running + stopped, \
         that the drain does not already know are STOPPED: all of them at its first census; \
         pages(x) = max(1, ceil(x/100))):\n\
         - unrelated STOPPED = GetItem = 1\n\
         - lifecycle (start of a drain) = ListContainerInstances + DescribeContainerInstances + \
         DescribeAutoScalingInstances + DescribeLifecycleHooks + UpdateContainerInstancesState + \
         census + PutItem (conditional insert with the census; a record on file comes back in \
         the failed condition) + CreateSchedule = 7 + census\n\
         - census = pages(running) + pages(stopped) ListTasks + ceil(d/100) DescribeTasks (d = listed tasks the record does not know are STOPPED) + \
         DescribeServices (1 per ≤ 10 services the drain has not looked up yet: once per drain)\n\
         - STOPPED of a task the record's alive set knows, replica or standalone tasks left = \
         GetItem + PutItem = 2, no ECS call\n\
         - STOPPED that leaves only daemons = GetItem + census + StopTask per daemon + PutItem\n\
         - STOPPED that completes = GetItem + census + PutItem (claim) + CompleteLifecycleAction + \
         PutItem (COMPLETED) = 4 + census (no scheduler call: the drain's pending check is left \
         to fire)\n\
         - that check, firing after the end = GetItem = 1 (counted with the STOPPED events; the \
         one-shot schedule deletes itself)\n\
         - so a whole drain of N ≤ 100 tasks (N - 1 replicas, 1 daemon) = (7 + 4) + 2(N - 2) + \
         (3 + 3) + (4 + 3) + 1 = 2N + 21, 14 of them ECS calls; past 100 tasks each of its three \
         censuses adds one ListTasks page per 100 tasks, and the first one DescribeTasks per 100 \
         tasks (the two confirming censuses describe only the 2, then 1, tasks not known \
         STOPPED). Every look (ECS_DRAIN_CENSUS_RULE=every-look) = 5N + 15 up to 100 tasks.\n\
         Scheduled checks (one per check interval, at most 900 s, while a drain waits) add GetItem + census + \
         RecordLifecycleActionHeartbeat + CreateSchedule + PutItem each.",
    );
    table.print();
    side_by_side.note(
        "The target (issue 11) is a whole drain of N tasks in ≤ 2N + 20 AWS calls, of which ≤ 16 \
         ECS calls plus one DescribeTasks per 100 tasks per census. Every STOPPED event costs its \
         GetItem and one conditional PutItem (2N); the rest is fixed: the notice's 11 calls besides \
         its census and progress write, three censuses (the start; the confirmations before \
         stopping the daemons and before completing), one StopTask, the completion's \
         CompleteLifecycleAction and COMPLETED write, and the GetItem of the drain's check \
         firing after the end.",
    );
    side_by_side.print();
    Ok(())
}

/// Past this many tasks the every-look drain is not run against the emulator (see `calls`).
const EVERY_LOOK_MAX_TASKS: u64 = 150;

/// What one whole drain cost, event by event.
struct DrainCalls {
    lifecycle: Counts,
    stopped: Counts,
    first_stopped: Counts,
    first_outcome: String,
    last_outcomes: String,
    completed: usize,
}

/// Drains one instance of `tasks` tasks (`tasks - 1` replicas of one service, one daemon) under
/// `rule`, counting the calls at the proxy.
async fn whole_drain(
    emulator: &Emulator,
    through_proxy: &aws_config::SdkConfig,
    proxy: &Proxy,
    tasks: u64,
    rule: CensusRule,
) -> BenchResult<DrainCalls> {
    let name = format!("calls-{tasks}-{}", rule.as_str());
    let world =
        EmulatorWorld::build(emulator, &emulator.sdk_config(), &WorldSpec::new(&name, 2)).await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service("log-router", true, 0, 100).await?;
    let mut replicas = Vec::new();
    for _ in 1..tasks {
        replicas.push(world.start_service_task("web", 0).await?);
    }
    let daemon = world.start_service_task("log-router", 0).await?;
    let mut config = world.config();
    config.policy.census_rule = rule;
    let app = App::new(config, through_proxy);
    let instance = world.instances[0].container_instance_arn.clone();

    let action = world.scale_in(0).await?;
    proxy.reset_counts();
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    let lifecycle = proxy.counts();
    let first_outcome = report.outcomes.join(",");

    proxy.reset_counts();
    let mut last_outcomes = Vec::new();
    let mut first_stopped = Counts::new();
    for (version, arn) in replicas.iter().enumerate() {
        world.stop_task(arn, MOVED).await?;
        let task = stopped_task(
            &world,
            arn,
            &instance,
            "service:web",
            Some("ecs-svc/0000000000000023757"),
            MOVED,
        );
        let report = handle_task_stopped(
            &app.drainer,
            &task_state_change_event(&task, version as i64 + 2),
        )
        .await?;
        last_outcomes = report.outcomes;
        if version == 0 {
            first_stopped = proxy.counts();
        }
    }
    let task = stopped_task(
        &world,
        &daemon,
        &instance,
        "service:log-router",
        None,
        drain_core::drainer::DAEMON_STOP_REASON,
    );
    let report = handle_task_stopped(&app.drainer, &task_state_change_event(&task, 9)).await?;
    // The check the notice booked is left pending by the completion: EventBridge Scheduler
    // fires it (the test kit plays the firing and the one-shot schedule's deletion, uncounted)
    // and it finds the drain ended with one GetItem. It is counted with the STOPPED events, the
    // drain's part after the notice.
    let arn = drain_core::ids::ContainerInstanceArn::new(instance.clone())?;
    let late_check =
        drain_testkit::world::fire_booked_check(&emulator.sdk_config(), &world, &arn).await?;
    if let Some(check) = late_check {
        handle_lifecycle(
            &app.drainer,
            &check,
            &drain_core::decision::verify::FunctionIdentity::default(),
        )
        .await?;
    }
    let stopped = proxy.counts();
    let completed = world
        .lifecycle_actions()?
        .iter()
        .filter(|found| found.token == action.token && found.result.as_deref() == Some("CONTINUE"))
        .count();
    Ok(DrainCalls {
        lifecycle,
        stopped,
        first_stopped,
        first_outcome,
        last_outcomes: format!(
            "{} … {}",
            last_outcomes.join(","),
            report.outcomes.join(",")
        ),
        completed,
    })
}

// ---------------------------------------------------------------------------------------------
// 4. Peak RSS

async fn rss(args: &[String]) -> BenchResult {
    let events = flag(args, "--events", 1_000)?;
    let dir = bin_dir(args);
    let emulator = Emulator::start()?;
    let world =
        EmulatorWorld::build(&emulator, &emulator.sdk_config(), &WorldSpec::new("rss", 4)).await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service("log-router", true, 0, 100).await?;
    // Instance 0 drains with 20 tasks (19 replicas, 1 daemon); instances 1..3 run tasks whose
    // STOPPED events are unrelated.
    let mut draining_tasks = Vec::new();
    for _ in 0..19 {
        draining_tasks.push(world.start_service_task("web", 0).await?);
    }
    draining_tasks.push(world.start_service_task("log-router", 0).await?);
    let mut quiet_tasks = Vec::new();
    for index in 1..4 {
        for _ in 0..5 {
            quiet_tasks.push((index, world.start_service_task("web", index).await?));
        }
    }
    let (mut lifecycle_env, mut task_env) = function_envs(&emulator, &world);
    // `--log-level ERROR` shows what the INFO logs cost (the stack runs at INFO).
    let log_level = args
        .iter()
        .position(|arg| arg == "--log-level")
        .and_then(|index| args.get(index + 1))
        .cloned();
    if let Some(level) = &log_level {
        for env in [&mut lifecycle_env, &mut task_env] {
            env.push(("AWS_LAMBDA_LOG_LEVEL".into(), level.to_uppercase()));
            env.push(("RUST_LOG".into(), level.to_lowercase()));
        }
    }
    let action = world.scale_in(0).await?;
    let instance0 = world.instances[0].container_instance_arn.clone();

    let mut table = Table::new(
        &format!(
            "Peak RSS after {events} mixed events (release host binaries, Runtime API emulator, \
             local AWS emulator, logs at {})",
            log_level.as_deref().unwrap_or("INFO")
        ),
        &[
            "function",
            "events (mix)",
            "errors",
            "VmHWM after 1st event",
            "VmHWM after all",
            "VmRSS at end",
            "CPU user+sys (per event)",
            "wall",
            "zip (arm64)",
        ],
    );

    // on-lifecycle: the notice that starts the drain, then duplicates of it (EventBridge and
    // SNS) and scheduled checks, a third each.
    let function = FunctionProcess::spawn(&binary(&dir, "on-lifecycle")?, lifecycle_env)?;
    function.wait_ready(Duration::from_secs(30)).await?;
    let bridge = lifecycle_event(&action);
    let sns = lifecycle_sns_event(&action);
    let check = json!({ "ecsDrainCheck": { "containerInstanceArn": instance0 } });
    let row = memory_row(
        "on-lifecycle",
        "⅓ EventBridge notice, ⅓ SNS notice, ⅓ scheduled check",
        &function,
        events,
        |event| match event % 3 {
            0 => &bridge,
            1 => &sns,
            _ => &check,
        },
    );
    table.row(row.await?);
    drop(function);

    // on-task-stopped: 70 % unrelated STOPPED (1 GetItem), 30 % STOPPED on the draining
    // instance (GetItem + census of 20 tasks + PutItem).
    let function = FunctionProcess::spawn(&binary(&dir, "on-task-stopped")?, task_env)?;
    function.wait_ready(Duration::from_secs(30)).await?;
    let quiet_events: Vec<Value> = quiet_tasks
        .iter()
        .map(|(index, arn)| {
            let instance = &world.instances[*index].container_instance_arn;
            task_state_change_event(
                &stopped_task(&world, arn, instance, "service:web", None, MOVED),
                2,
            )
        })
        .collect();
    world.stop_task(&draining_tasks[0], MOVED).await?;
    let draining_event = task_state_change_event(
        &stopped_task(
            &world,
            &draining_tasks[0],
            &instance0,
            "service:web",
            None,
            MOVED,
        ),
        2,
    );
    let row = memory_row(
        "on-task-stopped",
        "70 % unrelated STOPPED, 30 % STOPPED on a draining 20-task instance",
        &function,
        events,
        |event| {
            if event % 10 < 3 {
                &draining_event
            } else {
                &quiet_events[event % quiet_events.len()]
            }
        },
    );
    table.row(row.await?);
    table.note(
        "VmHWM = the kernel's peak resident set of the process (/proc/<pid>/status), read while it \
         still runs. Lambda bills memory by the configured size (the stack sets 128 MB); this is \
         the headroom figure. Zip = target/lambda/<fn>/bootstrap.zip from `bash scripts/package.sh \
         arm64`, if present.",
    );
    table.print();
    Ok(())
}

/// Invokes `function` with `payload(event)` for each of `events` events, then its row of the
/// memory table (`name` is the function's, `mix` says what the payloads are).
async fn memory_row<'a>(
    name: &str,
    mix: &str,
    function: &FunctionProcess,
    events: usize,
    payload: impl Fn(usize) -> &'a Value,
) -> BenchResult<Vec<String>> {
    let start = Instant::now();
    let mut errors = 0;
    let mut first_hwm = 0;
    for event in 0..events {
        if function.invoke(payload(event)).await?.error().is_some() {
            errors += 1;
        }
        if event == 0 {
            first_hwm = status_kib(function.pid(), "VmHWM").unwrap_or_default();
        }
    }
    let wall = start.elapsed();
    let pid = function.pid();
    let cpu = process_user_sys(pid)
        .map(|(user, system)| {
            format!(
                "{} ({})",
                human(user + system),
                human((user + system) / events.max(1) as u32)
            )
        })
        .unwrap_or_else(|| "?".into());
    let zip = project_root()
        .join("target/lambda")
        .join(name)
        .join("bootstrap.zip");
    let zip = match std::fs::metadata(&zip) {
        Ok(meta) => format!("{:.2} MiB", meta.len() as f64 / 1_048_576.0),
        Err(_) => "not built".into(),
    };
    Ok(vec![
        name.into(),
        mix.into(),
        errors.to_string(),
        human_kib(first_hwm),
        human_kib(status_kib(pid, "VmHWM").unwrap_or_default()),
        human_kib(status_kib(pid, "VmRSS").unwrap_or_default()),
        cpu,
        human(wall),
        zip,
    ])
}

// ---------------------------------------------------------------------------------------------
// 5. Scale run

struct Placement {
    /// Task ARNs by instance index, in slot order (the last slot is the daemon's).
    tasks: Vec<Vec<String>>,
}

const SERVICES: usize = 5;

fn slot_group(slot: usize, per_instance: usize) -> (String, Option<String>) {
    if slot + 1 == per_instance {
        ("service:agent".into(), None)
    } else {
        let service = format!("svc-{}", slot % SERVICES);
        (
            "service:".to_owned() + &service,
            Some(format!("ecs-svc/{:019}", slot % SERVICES)),
        )
    }
}

async fn place_tasks(world: &EmulatorWorld, per_instance: usize) -> BenchResult<Placement> {
    for service in 0..SERVICES {
        world
            .create_service(&format!("svc-{service}"), false, 50, 200)
            .await?;
    }
    world.create_service("agent", true, 0, 100).await?;
    let mut tasks = vec![Vec::with_capacity(per_instance); world.instances.len()];
    let index_of: BTreeMap<&str, usize> = world
        .instances
        .iter()
        .enumerate()
        .map(|(index, instance)| (instance.container_instance_arn.as_str(), index))
        .collect();
    for slot in 0..per_instance {
        let (group, started_by) = slot_group(slot, per_instance);
        let family = group.trim_start_matches("service:").to_owned();
        // StartTask places one task on each of up to 10 listed container instances.
        for chunk in world.instances.chunks(10) {
            let started = world
                .ecs
                .start_task()
                .cluster(&world.cluster)
                .task_definition(&family)
                .set_container_instances(Some(
                    chunk
                        .iter()
                        .map(|instance| instance.container_instance_arn.clone())
                        .collect(),
                ))
                .group(&group)
                .set_started_by(started_by.clone())
                .send()
                .await?;
            for task in started.tasks() {
                let index = task
                    .container_instance_arn()
                    .and_then(|arn| index_of.get(arn))
                    .ok_or("StartTask placed a task nowhere")?;
                tasks[*index].push(task.task_arn().ok_or("task without ARN")?.to_owned());
            }
        }
    }
    Ok(Placement { tasks })
}

async fn scale(args: &[String]) -> BenchResult {
    let full = args.iter().any(|arg| arg == "--full");
    let (instances, drains, events) = if full {
        (1_000, 50, 50_000)
    } else {
        (100, 10, 5_000)
    };
    let instances = flag(args, "--instances", instances)?;
    let per_instance = flag(args, "--tasks-per-instance", 20)?;
    let drains = flag(args, "--drains", drains)?;
    let events = flag(args, "--events", events)?;
    let concurrency = flag(args, "--concurrency", 8)?;
    if drains == 0 || drains > instances || per_instance < 2 || events < drains * per_instance {
        return Err(
            "need 1 ≤ drains ≤ instances, ≥ 2 tasks per instance, and events ≥ drains × tasks per \
             instance"
                .into(),
        );
    }

    let setup_start = Instant::now();
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("scale", instances),
    )
    .await?;
    let placement = place_tasks(&world, per_instance).await?;
    let setup = setup_start.elapsed();
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    // The functions' own retry policy (3 attempts): a busy emulator may throttle nothing, but a
    // slow answer must not fail the run.
    let app = Arc::new(App::new(
        world.config(),
        &sdk_config_for(
            &proxy.endpoint(),
            RetryConfig::standard().with_max_attempts(3),
        ),
    ));

    // What the emulator sustains: sequential keyed reads through the proxy, the cost of an
    // unrelated STOPPED event.
    let probe_event = {
        let arn = &placement.tasks[instances - 1][0];
        let instance = &world.instances[instances - 1].container_instance_arn;
        task_state_change_event(
            &stopped_task(&world, arn, instance, "service:svc-0", None, MOVED),
            2,
        )
    };
    let probe_start = Instant::now();
    for _ in 0..200 {
        handle_task_stopped(&app.drainer, &probe_event).await?;
    }
    let probe_rate = 200.0 / probe_start.elapsed().as_secs_f64();
    proxy.reset_counts();

    // The drains start: one lifecycle event each, concurrently.
    let draining: Vec<usize> = (0..drains)
        .map(|drain| drain * (instances / drains))
        .collect();
    let lifecycle_start = Instant::now();
    let mut tokens = Vec::new();
    let mut starting = tokio::task::JoinSet::new();
    for index in &draining {
        let action = world.scale_in(*index).await?;
        tokens.push(action.token.clone());
        let app = Arc::clone(&app);
        starting.spawn(async move {
            handle_lifecycle(
                &app.drainer,
                &lifecycle_event(&action),
                &drain_core::decision::verify::FunctionIdentity::default(),
            )
            .await
        });
    }
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    while let Some(joined) = starting.join_next().await {
        for outcome in joined??.outcomes {
            *outcomes.entry(format!("lifecycle:{outcome}")).or_default() += 1;
        }
    }
    let lifecycle_wall = lifecycle_start.elapsed();
    let lifecycle_calls = proxy.counts();
    proxy.reset_counts();

    // The STOPPED events: every task of a draining instance once (each drain in order, the
    // daemon last after ecs-drain stopped it), the rest tasks on other instances, all through
    // `concurrency` concurrent handler calls.
    let world = Arc::new(world);
    let placement = Arc::new(placement);
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let unrelated = events - drains * per_instance;
    let quiet: Arc<Vec<usize>> = Arc::new(
        (0..instances)
            .filter(|index| !draining.contains(index))
            .collect(),
    );
    let cpu_start = process_user_sys(std::process::id())
        .map(|(user, system)| user + system)
        .unwrap_or_default();
    let start = Instant::now();
    let mut running = tokio::task::JoinSet::new();
    for index in draining.iter().copied() {
        let (app, world, placement, permits) = (
            Arc::clone(&app),
            Arc::clone(&world),
            Arc::clone(&placement),
            Arc::clone(&permits),
        );
        running.spawn(async move {
            let mut seen = Vec::new();
            let instance = world.instances[index].container_instance_arn.clone();
            for (slot, arn) in placement.tasks[index].iter().enumerate() {
                let (group, started_by) = slot_group(slot, per_instance);
                let daemon = slot + 1 == per_instance;
                if !daemon {
                    world.stop_task(arn, MOVED).await?; // ECS moving the task: not counted
                }
                let reason = if daemon {
                    drain_core::drainer::DAEMON_STOP_REASON
                } else {
                    MOVED
                };
                let event = task_state_change_event(
                    &stopped_task(
                        &world,
                        arn,
                        &instance,
                        &group,
                        started_by.as_deref(),
                        reason,
                    ),
                    3,
                );
                let _permit = permits.acquire().await?;
                seen.extend(handle_task_stopped(&app.drainer, &event).await?.outcomes);
            }
            Ok::<Vec<String>, KitError>(seen)
        });
    }
    let next = Arc::new(AtomicUsize::new(0));
    for _ in 0..concurrency {
        let (app, world, placement, permits, quiet, next) = (
            Arc::clone(&app),
            Arc::clone(&world),
            Arc::clone(&placement),
            Arc::clone(&permits),
            Arc::clone(&quiet),
            Arc::clone(&next),
        );
        running.spawn(async move {
            let mut seen = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= unrelated {
                    return Ok::<Vec<String>, KitError>(seen);
                }
                let index = quiet[n % quiet.len()];
                let slot = (n / quiet.len()) % (per_instance - 1);
                let (group, started_by) = slot_group(slot, per_instance);
                let instance = &world.instances[index].container_instance_arn;
                let event = task_state_change_event(
                    &stopped_task(
                        &world,
                        &placement.tasks[index][slot],
                        instance,
                        &group,
                        started_by.as_deref(),
                        MOVED,
                    ),
                    2,
                );
                let _permit = permits.acquire().await?;
                seen.extend(handle_task_stopped(&app.drainer, &event).await?.outcomes);
            }
        });
    }
    let mut failures = 0;
    while let Some(joined) = running.join_next().await {
        match joined? {
            Ok(seen) => {
                for outcome in seen {
                    *outcomes.entry(outcome).or_default() += 1;
                }
            }
            Err(error) => {
                failures += 1;
                eprintln!("scale run: a handler failed: {error}");
            }
        }
    }
    let wall = start.elapsed();
    let cpu = process_user_sys(std::process::id())
        .map(|(user, system)| user + system)
        .unwrap_or_default()
        .saturating_sub(cpu_start);
    let stopped_calls = proxy.counts();

    let actions = world.lifecycle_actions()?;
    let completed = tokens
        .iter()
        .filter(|token| {
            actions.iter().any(|action| {
                &action.token == *token
                    && action.state == "completed"
                    && action.result.as_deref() == Some("CONTINUE")
                    && action.completions == 1
            })
        })
        .count();

    let mut table = Table::figures(&format!(
        "Scale run through the warm handler (in process, real adapters → counting proxy → \
             local emulator){}",
        if full {
            ", FULL size"
        } else {
            ", scaled-down default"
        }
    ));
    table
        .figure(
            "parameters",
            format!(
                "{} ({} on draining instances, {unrelated} unrelated), {concurrency} concurrent \
                 handlers",
                scale_parameters(instances, instances * per_instance, drains, events),
                drains * per_instance
            ),
        )
        .figure(
            "setup (emulator start, world, tasks; not counted)",
            human(setup),
        )
        .figure(
            "emulator capacity probe: sequential unrelated STOPPED events/s",
            format!("{probe_rate:.0}"),
        )
        .figure(
            format!("{drains} lifecycle events"),
            format!(
                "{} wall, {} AWS calls",
                human(lifecycle_wall),
                total(&lifecycle_calls)
            ),
        )
        .figure("STOPPED events: wall", human(wall))
        .figure(
            "STOPPED events/s",
            format!("{:.0}", events as f64 / wall.as_secs_f64()),
        )
        .figure(
            "bench process CPU user+sys (handler + SDK + proxy + driver; moto excluded)",
            format!(
                "{} ({} per event)",
                human(cpu),
                human_ns(cpu.as_nanos() as f64 / events as f64)
            ),
        )
        .figure(
            "AWS calls during the STOPPED events",
            format!(
                "{} ({:.2} per event): {}",
                total(&stopped_calls),
                total(&stopped_calls) as f64 / events as f64,
                short(&stopped_calls)
            ),
        )
        .figure("outcomes", format!("{outcomes:?}"))
        .figure("handler failures", failures.to_string())
        .figure(
            "drains completed (CONTINUE exactly once)",
            format!("{completed} / {drains}"),
        );
    let seconds_per_call = wall.as_secs_f64() / total(&stopped_calls).max(1) as f64;
    let full_calls = 50 * (per_instance * 6 + 15) + (50_000 - 50 * per_instance);
    table.note(format!(
        "The emulator (moto, one Python process, GIL-bound) sets the pace: ~{:.1} ms of \
         event-phase wall time per AWS call here; the bench process's own CPU is the debug-profile \
         SDK, the proxy and the driver. Re-booking an overdue check (a drain older than its check \
         interval) costs RecordLifecycleActionHeartbeat + CreateSchedule (409 Conflict) + \
         UpdateSchedule.",
        seconds_per_call * 1000.0,
    ));
    if !full {
        table.note(format!(
            "Scaled down: the full size (1,000 instances, 20,000 tasks, 50 drains, 50,000 events ≈ \
             {full_calls} calls, plus ~3,000 calls of setup against a 20,000-task moto whose \
             ListTasks scans every task) would need roughly {:.0} min of event phase at this rate \
             (a measured full run took ~15 min in all); run it with \
             `bash scripts/bench.sh --full`.",
            seconds_per_call * full_calls as f64 / 60.0
        ));
    }
    table.print();
    Ok(())
}
