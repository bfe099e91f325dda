//! `drain-bench`: the in-process benchmarks, over drain-core's in-memory ports.
//!
//! - `drain-bench warm`: handler cost per event, warm (what one more event costs a function
//!   instance that is already running), wall and CPU time, with tracing off and with JSON logs
//!   formatted into a sink (what the functions do in Lambda).
//! - `drain-bench scale-memory [--instances N --tasks-per-instance N --drains N --events N
//!   --census-rule when-needed|every-look]`:
//!   the full-size scale shape (1,000 instances, 20,000 tasks, 50 drains, 50,000 STOPPED
//!   events by default) through one warm drainer.
//!
//! - `drain-bench scale-calls [the same sizes]`: the same shape under both census rules, side
//!   by side: AWS and ECS calls in all, and the peak of ECS calls per second on a virtual
//!   timeline (counts, not timings).
//!
//! Build it in release (`cargo build --release -p drain-bench`); `scripts/bench.sh` does.

use std::future::Future;
use std::hint::black_box;
use std::time::{Duration, Instant};

use drain_bench::args::flag;
use drain_bench::measure::{Stats, human, human_ns, process_user_sys, thread_cpu_ns};
use drain_bench::memory_world::{MemoryDrainer, MemoryWorld};
use drain_bench::table::{Table, scale_parameters};
use drain_core::decision::look::CensusRule;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::handler::{Report, handle_lifecycle, handle_task_stopped};
use drain_core::record::{DrainStatus, LifecycleResult};
use drain_core::testing::calls;

type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// Measured rounds per case (after one warm-up round).
const ROUNDS: usize = 20;
/// Target length of one round: long enough to average out timer and scheduler noise.
const ROUND_TARGET: Duration = Duration::from_millis(40);

fn main() -> Result<(), BenchError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("warm") => warm(),
        Some("scale-memory") => scale_memory(&args[1..], None).map(|_| ()),
        Some("scale-calls") => scale_calls(&args[1..]),
        _ => Err(
            "usage: drain-bench warm | scale-memory [--instances N] [--tasks-per-instance N] \
             [--drains N] [--events N] [--census-rule when-needed|every-look] | scale-calls \
             [the same sizes]"
                .into(),
        ),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, BenchError> {
    // One thread, as in a Lambda function instance handling one event at a time; the
    // thread's own CPU clock then covers all the handler's work.
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Per-event wall and CPU time of one round.
#[derive(Clone, Copy, Debug)]
struct Round {
    wall_ns: f64,
    cpu_ns: f64,
}

/// Runs `call` in rounds of a calibrated size; returns the rounds and the events run.
fn measure<F, Fut>(
    runtime: &tokio::runtime::Runtime,
    mut call: F,
) -> Result<(Vec<Round>, usize), BenchError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Report, drain_core::DrainError>>,
{
    let mut run = |iterations: usize| -> Result<Round, BenchError> {
        runtime.block_on(async {
            let cpu_start = thread_cpu_ns().ok_or("no /proc/thread-self/schedstat")?;
            let start = Instant::now();
            for _ in 0..iterations {
                black_box(call().await?);
            }
            let wall = start.elapsed().as_nanos() as f64;
            let cpu = thread_cpu_ns()
                .ok_or("no /proc/thread-self/schedstat")?
                .saturating_sub(cpu_start) as f64;
            Ok::<Round, BenchError>(Round {
                wall_ns: wall / iterations as f64,
                cpu_ns: cpu / iterations as f64,
            })
        })
    };
    let warm_up = run(200)?;
    let iterations =
        ((ROUND_TARGET.as_nanos() as f64 / warm_up.wall_ns.max(1.0)) as usize).clamp(50, 200_000);
    let mut rounds = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        rounds.push(run(iterations)?);
    }
    Ok((rounds, 200 + iterations * ROUNDS))
}

/// What one case measured.
struct CaseResult {
    outcome: String,
    calls: String,
    rounds: Vec<Round>,
    rusage_per_event: Duration,
}

fn calls_per_event(world: &MemoryWorld, events: usize) -> String {
    let counts = world.log.counts();
    let total = calls::total(&counts) as f64 / events as f64;
    let parts: Vec<String> = counts
        .iter()
        .map(|(operation, count)| {
            format!("{operation}×{}", fmt_ratio(*count as f64 / events as f64))
        })
        .collect();
    format!("{} ({})", fmt_ratio(total), parts.join(", "))
}

fn fmt_ratio(value: f64) -> String {
    if (value - value.round()).abs() < 0.005 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

fn self_rusage() -> Duration {
    process_user_sys(std::process::id())
        .map(|(user, system)| user + system)
        .unwrap_or_default()
}

/// One STOPPED event handled once (its outcome), then measured over and over.
fn stopped_case(
    runtime: &tokio::runtime::Runtime,
    world: &MemoryWorld,
    drainer: &MemoryDrainer,
    event: &serde_json::Value,
) -> Result<CaseResult, BenchError> {
    let outcome = runtime
        .block_on(handle_task_stopped(drainer, event))?
        .outcomes
        .join(",");
    world.log.clear();
    let before = self_rusage();
    let (rounds, events) = measure(runtime, || handle_task_stopped(drainer, event))?;
    let rusage_per_event = (self_rusage() - before) / events as u32;
    Ok(CaseResult {
        outcome,
        calls: calls_per_event(world, events),
        rounds,
        rusage_per_event,
    })
}

/// (a) STOPPED for an instance that is not draining.
fn case_unrelated(runtime: &tokio::runtime::Runtime) -> Result<CaseResult, BenchError> {
    let world = MemoryWorld::new(1, 20)?;
    world.stop(0, 0)?;
    let drainer = world.drainer();
    let event = world.stopped_event(0, 0, 3);
    stopped_case(runtime, &world, &drainer, &event)
}

/// (b) STOPPED for a draining instance with 20 tasks (one stopped, 19 alive).
fn case_draining(runtime: &tokio::runtime::Runtime) -> Result<CaseResult, BenchError> {
    let world = MemoryWorld::new(1, 20)?;
    let drainer = world.drainer();
    let (lifecycle, _) = world.scale_in(0, 0)?;
    runtime.block_on(handle_lifecycle(
        &drainer,
        &lifecycle,
        &FunctionIdentity::default(),
    ))?;
    world.stop(0, 0)?;
    let event = world.stopped_event(0, 0, 3);
    stopped_case(runtime, &world, &drainer, &event)
}

/// One prepared event of the lifecycle case: its own world, the drainer over it, the notice.
type Prepared = (MemoryWorld, MemoryDrainer, serde_json::Value);

/// (c) A terminate notice for an instance with 20 tasks: each event starts a new drain (a
/// fresh world per event, built outside the timed loop).
fn case_lifecycle(runtime: &tokio::runtime::Runtime) -> Result<CaseResult, BenchError> {
    let prepare = |count: usize| -> Result<Vec<Prepared>, BenchError> {
        (0..count)
            .map(|serial| {
                let world = MemoryWorld::new(1, 20)?;
                let drainer = world.drainer();
                let (event, _) = world.scale_in(0, serial)?;
                Ok((world, drainer, event))
            })
            .collect()
    };
    let run = |batch: &[Prepared]| -> Result<(Round, String), BenchError> {
        runtime.block_on(async {
            let cpu_start = thread_cpu_ns().ok_or("no /proc/thread-self/schedstat")?;
            let start = Instant::now();
            let mut outcome = String::new();
            for (_, drainer, event) in batch {
                outcome = black_box(
                    handle_lifecycle(drainer, event, &FunctionIdentity::default()).await?,
                )
                .outcomes
                .join(",");
            }
            let wall = start.elapsed().as_nanos() as f64;
            let cpu = thread_cpu_ns()
                .ok_or("no /proc/thread-self/schedstat")?
                .saturating_sub(cpu_start) as f64;
            let count = batch.len() as f64;
            Ok::<_, BenchError>((
                Round {
                    wall_ns: wall / count,
                    cpu_ns: cpu / count,
                },
                outcome,
            ))
        })
    };
    let warm_up = prepare(100)?;
    let (first, outcome) = run(&warm_up)?;
    let calls = calls_per_event(&warm_up[0].0, 1);
    let iterations =
        ((ROUND_TARGET.as_nanos() as f64 / first.wall_ns.max(1.0)) as usize).clamp(50, 5_000);
    let mut rounds = Vec::with_capacity(ROUNDS);
    let mut spent = Duration::ZERO;
    for _ in 0..ROUNDS {
        let batch = prepare(iterations)?;
        let before = self_rusage();
        rounds.push(run(&batch)?.0);
        spent += self_rusage() - before;
    }
    Ok(CaseResult {
        outcome,
        calls,
        rounds,
        rusage_per_event: spent / (iterations * ROUNDS) as u32,
    })
}

fn json_logs() -> impl tracing::Subscriber + Send + Sync {
    // What the functions run with in Lambda (AWS_LAMBDA_LOG_FORMAT=JSON, level INFO), writing
    // into a sink: the formatting is paid, no I/O is.
    tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish()
}

fn warm() -> Result<(), BenchError> {
    let runtime = runtime()?;
    let mut table = Table::new(
        "Warm handler cost per event (in process, in-memory ports, release build)",
        &[
            "event",
            "logs",
            "outcome",
            "wall median",
            "wall p95",
            "CPU median",
            "CPU min",
            "user+sys (rusage)",
            "port calls / event",
        ],
    );
    type Case = fn(&tokio::runtime::Runtime) -> Result<CaseResult, BenchError>;
    let cases: [(&str, Case); 3] = [
        ("(a) STOPPED, instance not draining", case_unrelated),
        ("(b) STOPPED, draining instance, 20 tasks", case_draining),
        (
            "(c) terminate notice, instance with 20 tasks",
            case_lifecycle,
        ),
    ];
    for (name, case) in cases {
        for logs in ["off", "JSON → sink"] {
            let result = if logs == "off" {
                case(&runtime)?
            } else {
                tracing::subscriber::with_default(json_logs(), || case(&runtime))?
            };
            let stats = |of: fn(&Round) -> f64| {
                Stats::of(&result.rounds.iter().map(of).collect::<Vec<_>>()).ok_or("no rounds")
            };
            let wall = stats(|round| round.wall_ns)?;
            let cpu = stats(|round| round.cpu_ns)?;
            table.row(vec![
                name.to_owned(),
                logs.to_owned(),
                result.outcome,
                human_ns(wall.median),
                human_ns(wall.p95),
                human_ns(cpu.median),
                human_ns(cpu.min),
                human(result.rusage_per_event),
                result.calls,
            ]);
        }
    }
    table.note(format!(
        "{ROUNDS} rounds of ~{} ms each after a warm-up round; figures are per event, statistics \
         over the rounds' per-event means. CPU = the benchmark thread's scheduler clock \
         (/proc/thread-self/schedstat, ns); user+sys = the process's utime+stime (/proc/self/stat, \
         10 ms ticks) over all rounds divided by the events. The ports are in memory, so this is \
         the handler's own cost: parsing, the decision, record building, tracing. Each call to AWS \
         adds its network round trip on top (see the AWS-calls table).",
        ROUND_TARGET.as_millis()
    ));
    table.print();
    Ok(())
}

/// Wall and CPU time spent in some part of a loop.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    wall: Duration,
    cpu_ns: u64,
}

impl std::ops::AddAssign<(Duration, u64)> for Cost {
    fn add_assign(&mut self, (wall, cpu_ns): (Duration, u64)) {
        self.wall += wall;
        self.cpu_ns += cpu_ns;
    }
}

/// The scale shape over the in-memory ports.
/// What one scale run cost in calls, event by event on a virtual timeline: the notices all in
/// the first second (a scale-in of that many instances at once), then the STOPPED events
/// evenly over [`SCALE_SECONDS`] in the run's order.
#[derive(Debug, Default)]
struct ScaleCalls {
    /// Every call of the run, per operation (notices and STOPPED events).
    all: calls::CallCounts,
    /// ECS calls of the notices, all in the first second.
    lifecycle_ecs: u64,
    /// ECS calls per virtual second of the STOPPED events.
    ecs_per_second: std::collections::BTreeMap<u64, u64>,
}

/// The virtual seconds the STOPPED events of a scale run are spread over: about what the
/// full-size run took against the emulator (BENCHMARKS.md §5), and what an instance refresh of
/// 50 instances takes.
const SCALE_SECONDS: u64 = 600;

/// The calls logged since the last look, added to `into`; the ECS ones returned.
fn take_calls(world: &MemoryWorld, into: &mut calls::CallCounts) -> u64 {
    let taken = world.log.counts();
    world.log.clear();
    let ecs = calls::total(&calls::ecs_only(&taken));
    *into = calls::merged(into, &taken);
    ecs
}

/// `scale-calls`: the scale shape under both census rules, in calls only.
fn scale_calls(args: &[String]) -> Result<(), BenchError> {
    let mut table = Table::new(
        "Scale shape, calls under both census rules (in-memory ports, virtual timeline)",
        &[
            "census rule",
            "AWS calls",
            "ECS calls",
            "ECS calls of the notices (1st second)",
            "ECS calls/s over the STOPPED events: mean / peak",
            "drains completed",
        ],
    );
    for rule in [CensusRule::WhenNeeded, CensusRule::EveryLook] {
        let mut counted = ScaleCalls::default();
        let completed = scale_memory_with(args, Some(rule), Some(&mut counted))?;
        table.row(vec![
            rule.as_str().into(),
            calls::total(&counted.all).to_string(),
            calls::total(&calls::ecs_only(&counted.all)).to_string(),
            counted.lifecycle_ecs.to_string(),
            format!(
                "{:.1} / {}",
                counted.ecs_per_second.values().sum::<u64>() as f64 / SCALE_SECONDS as f64,
                counted
                    .ecs_per_second
                    .values()
                    .max()
                    .copied()
                    .unwrap_or_default()
            ),
            completed,
        ]);
    }
    table.note(format!(
        "Counts of port calls (the in-memory ports log each call the real adapters would make). The \
         notices all arrive in the first second; the STOPPED events then arrive evenly over \
         {SCALE_SECONDS} virtual seconds in the run's order (the draining instances' events \
         interleaved with the unrelated ones), and the peak is the most ECS calls in one of those \
         seconds."
    ));
    table.print();
    Ok(())
}

fn scale_memory(args: &[String], counted: Option<&mut ScaleCalls>) -> Result<String, BenchError> {
    scale_memory_with(args, None, counted)
}

/// The scale run; with `counted`, the calls are taken after every event (which costs time: the
/// timings are then not printed) and `rule` overrides `--census-rule`.
fn scale_memory_with(
    args: &[String],
    rule: Option<CensusRule>,
    mut counted: Option<&mut ScaleCalls>,
) -> Result<String, BenchError> {
    let instances = flag(args, "--instances", 1_000)?;
    let per_instance = flag(args, "--tasks-per-instance", 20)?;
    let drains = flag(args, "--drains", 50)?;
    let events = flag(args, "--events", 50_000)?;
    if drains == 0 || drains > instances || per_instance < 2 {
        return Err("need 1 ≤ drains ≤ instances and at least 2 tasks per instance".into());
    }
    let runtime = runtime()?;
    let build_start = Instant::now();
    let mut world = MemoryWorld::new(instances, per_instance)?;
    // `--census-rule every-look` runs the rule before issue 11 (a census per event), to compare.
    if let Some(index) = args.iter().position(|arg| arg == "--census-rule") {
        let value = args.get(index + 1).ok_or("--census-rule needs a value")?;
        world.config.policy.census_rule =
            CensusRule::parse(value).ok_or("--census-rule is when-needed or every-look")?;
    }
    if let Some(rule) = rule {
        world.config.policy.census_rule = rule;
    }
    let drainer = world.drainer();
    let build = build_start.elapsed();

    // The draining instances, spread over the cluster.
    let draining: Vec<usize> = (0..drains)
        .map(|drain| drain * (instances / drains))
        .collect();
    let mut tokens = Vec::new();
    let lifecycle_start = Instant::now();
    let lifecycle_cpu = thread_cpu_ns().unwrap_or_default();
    for (serial, index) in draining.iter().enumerate() {
        let (event, token) = world.scale_in(*index, serial)?;
        runtime.block_on(handle_lifecycle(
            &drainer,
            &event,
            &FunctionIdentity::default(),
        ))?;
        tokens.push(token);
    }
    let lifecycle_wall = lifecycle_start.elapsed();
    let lifecycle_cpu = thread_cpu_ns()
        .unwrap_or_default()
        .saturating_sub(lifecycle_cpu);
    let lifecycle_calls = world.log.calls().len();
    if let Some(counted) = counted.as_deref_mut() {
        counted.lifecycle_ecs = take_calls(&world, &mut counted.all);
    }
    world.log.clear();

    // Every task of a draining instance stops once (ECS moving it; the daemon last, after
    // ecs-drain stopped it); the rest of the events are tasks stopping on other instances,
    // cycling over a pool of 1,000 pre-built events.
    let drain_events = drains * per_instance;
    if events < drain_events {
        return Err(
            format!("{events} events cannot carry {drain_events} draining-task stops").into(),
        );
    }
    let quiet: Vec<usize> = (0..instances)
        .filter(|index| !draining.contains(index))
        .collect();
    let pool: Vec<serde_json::Value> = (0..1_000.min(events - drain_events))
        .map(|n| world.stopped_event(quiet[n % quiet.len()], (n / quiet.len()) % per_instance, 2))
        .collect();
    let stride = events / drain_events;
    let mut next_task = vec![0usize; drains];
    let mut next_drain = 0usize;
    let mut handled_drain_events = 0;
    let mut outcomes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    // Time spent in the fake ECS stopping a task (scanning all 20,000 tasks) and building the
    // draining events is not the handler's: it is measured and taken out.
    let mut outside = Cost::default();
    let mut draining_cost = Cost::default();
    let cpu_start = thread_cpu_ns().unwrap_or_default();
    let rusage_start = self_rusage();
    let start = Instant::now();
    runtime.block_on(async {
        for event_index in 0..events {
            let report = if event_index % stride == 0 && handled_drain_events < drain_events {
                // Round-robin over the drains, each drain's tasks in order.
                while next_task[next_drain] >= per_instance {
                    next_drain = (next_drain + 1) % drains;
                }
                let (drain, task) = (next_drain, next_task[next_drain]);
                next_task[drain] += 1;
                next_drain = (next_drain + 1) % drains;
                handled_drain_events += 1;
                let index = draining[drain];
                let event = world.stopped_event(index, task, 3);
                let (wall_0, cpu_0) = (Instant::now(), thread_cpu_ns().unwrap_or_default());
                world.stop(index, task)?;
                let (wall_1, cpu_1) = (Instant::now(), thread_cpu_ns().unwrap_or_default());
                let report = handle_task_stopped(&drainer, &event).await?;
                let (wall_2, cpu_2) = (Instant::now(), thread_cpu_ns().unwrap_or_default());
                outside += (wall_1 - wall_0, cpu_1.saturating_sub(cpu_0));
                draining_cost += (wall_2 - wall_1, cpu_2.saturating_sub(cpu_1));
                report
            } else {
                handle_task_stopped(&drainer, &pool[event_index % pool.len()]).await?
            };
            for outcome in report.outcomes {
                *outcomes.entry(outcome).or_default() += 1;
            }
            if let Some(counted) = counted.as_deref_mut() {
                let ecs = take_calls(&world, &mut counted.all);
                let second = event_index as u64 * SCALE_SECONDS / events as u64;
                *counted.ecs_per_second.entry(second).or_default() += ecs;
            }
        }
        Ok::<(), BenchError>(())
    })?;
    let wall = start.elapsed();
    let cpu = Duration::from_nanos(
        thread_cpu_ns()
            .unwrap_or_default()
            .saturating_sub(cpu_start),
    );
    let rusage = self_rusage() - rusage_start;
    let handler_wall = wall.saturating_sub(outside.wall);
    let handler_cpu = cpu.saturating_sub(Duration::from_nanos(outside.cpu_ns));
    let unrelated = events - drain_events;
    let unrelated_cpu = handler_cpu.saturating_sub(Duration::from_nanos(draining_cost.cpu_ns));

    let completed = tokens
        .iter()
        .zip(&draining)
        .filter(|(token, index)| {
            let action = world.hooks.action(token);
            let record = world
                .instance(**index)
                .ok()
                .and_then(|arn| world.store.get(&arn));
            action.is_some_and(|action| {
                action.completions == 1
                    && action.result == Some(LifecycleResult::Continue)
                    && !action.active
            }) && record.is_some_and(|record| record.status == DrainStatus::Completed)
        })
        .count();
    let by_operation = world.log.counts();
    let completed = format!("{completed} / {drains}");
    if counted.is_some() {
        return Ok(completed);
    }

    let mut table = Table::figures(
        "Scale shape over the in-memory ports (one warm drainer, in process, release build)",
    );
    table
        .figure(
            "parameters",
            scale_parameters(instances, instances * per_instance, drains, events),
        )
        .figure("world build (not timed below)", human(build))
        .figure(
            format!("{drains} lifecycle events"),
            format!(
                "wall {}, CPU {}, {lifecycle_calls} port calls",
                human(lifecycle_wall),
                human_ns(lifecycle_cpu as f64)
            ),
        )
        .figure(
            "STOPPED events: wall, whole loop / handler only",
            format!("{} / {}", human(wall), human(handler_wall)),
        )
        .figure(
            "STOPPED events: CPU, whole loop (thread / user+sys) / handler only",
            format!(
                "{} / {} / {}",
                human(cpu),
                human(rusage),
                human(handler_cpu)
            ),
        )
        .figure(
            "events/s (handler wall time)",
            format!("{:.0}", events as f64 / handler_wall.as_secs_f64()),
        )
        .figure(
            "handler CPU per event, mean over all events",
            human_ns(handler_cpu.as_nanos() as f64 / events as f64),
        )
        .figure(
            format!(
                "handler CPU per event: {drain_events} on draining instances / {unrelated} \
                 unrelated"
            ),
            format!(
                "{} / {}",
                human_ns(draining_cost.cpu_ns as f64 / drain_events as f64),
                human_ns(unrelated_cpu.as_nanos() as f64 / unrelated.max(1) as f64)
            ),
        )
        .figure("outcomes", format!("{outcomes:?}"))
        .figure(
            "port calls during the STOPPED events",
            format!("{} {by_operation:?}", calls::total(&by_operation)),
        )
        .figure(
            "drains completed (CONTINUE exactly once, record COMPLETED)",
            completed.clone(),
        );
    table.note(
        "Logs off. \"handler only\" takes out the time the fake ECS spends stopping each draining \
         task (it scans all tasks). The in-memory cluster also scans every task of the world for \
         each census (ListTasks) and every instance for each lookup, inside the handler's time: on \
         this world that scan is most of a draining event's cost, and it is a cost of the fake, \
         not of ecs-drain (ECS answers ListTasks by container instance). The unrelated events (one \
         keyed read each) show the handler's own per-event cost.",
    );
    table.print();
    Ok(completed)
}
