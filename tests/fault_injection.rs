//! The standard drain (as in tests/scale_in_drain.rs) with ecs-drain's clients behind the
//! fault-injecting proxy: 20 % of AWS calls throttled, answered 500 / 503, reset, or (a few)
//! applied by the emulator and then failed, some delayed. The clients use the production retry
//! and timeout settings (drain_aws::sdk), and the test plays Lambda's async invocation: a
//! handler that returns Err gets the same event again, at most 3 deliveries in all, and
//! EventBridge sometimes delivers an event twice.
//!
//! Several seeds run concurrently, each with its own world and proxy; a failing seed prints
//! every delivery and every injected fault, so the run can be replayed with that seed alone.

use std::sync::Arc;

use drain_aws::DynamoDrainStore;
use drain_aws::app::App;
use drain_core::error::error_chain;
use drain_core::handler::{Report, handle_lifecycle, handle_task_stopped};
use drain_core::ids::ContainerInstanceArn;
use drain_core::ports::DrainStore;
use drain_core::record::{DrainStatus, LifecycleResult};
use drain_core::testing::Rng;
use drain_testkit::emulator::sdk_config_for;
use drain_testkit::events::{ActionEnd, lifecycle_event, task_state_change_event};
use drain_testkit::proxy::{Fault, FaultPlan, Proxy, ScriptedFault};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::Value;

/// Seeds run in the normal test run; `FAULT_SEEDS=7` or `FAULT_SEEDS=1..40` runs others. Each
/// must fault at least one call (asserted): seed 2 drew none once the notice lost two calls
/// (issue 11), so seed 6 stands in for it.
const SEEDS: [u64; 5] = [1, 3, 4, 5, 6];
/// Share of AWS calls faulted.
const FAULT_RATE: f64 = 0.20;
/// Share of events EventBridge delivers twice.
const DUPLICATE_RATE: f64 = 0.25;
/// Lambda's asynchronous invocation: the first try and 2 retries (the default).
const LAMBDA_DELIVERIES: usize = 3;

#[derive(Clone, Copy, Debug)]
enum Function {
    OnLifecycle,
    OnTaskStopped,
}

/// One seed's drain: its world, the function's app behind its proxy, and what happened.
struct Run {
    seed: u64,
    world: EmulatorWorld,
    proxy: Proxy,
    app: Arc<App>,
    /// Which events EventBridge delivers twice; a stream of its own, apart from the proxy's.
    rng: Rng,
    log: Vec<String>,
    panics: Vec<String>,
    delivered: Vec<(Function, String, Value)>,
}

impl Run {
    async fn new(emulator: &Emulator, seed: u64, plan: FaultPlan) -> Result<Run, KitError> {
        let world = EmulatorWorld::build(
            emulator,
            &emulator.sdk_config(),
            &WorldSpec::new(&format!("faults-{seed}"), 3),
        )
        .await?;
        let proxy = Proxy::start(emulator.port(), plan)?;
        // The production retry and timeout settings, pointed at the proxy.
        let sdk = sdk_config_for(&proxy.endpoint(), drain_aws::sdk::retry_config())
            .into_builder()
            .timeout_config(drain_aws::sdk::timeout_config())
            .build();
        let app = Arc::new(App::new(world.config(), &sdk));
        Ok(Run {
            seed,
            world,
            proxy,
            app,
            rng: Rng::new(seed ^ 0x5EED_F0D0_B1E5),
            log: Vec::new(),
            panics: Vec::new(),
            delivered: Vec::new(),
        })
    }

    /// One asynchronous invocation as Lambda runs it: while the handler returns Err, the same
    /// event again, at most [`LAMBDA_DELIVERIES`] times. A panic is recorded (and ends it).
    async fn invoke(&mut self, function: Function, label: &str, event: &Value) -> Option<Report> {
        for attempt in 1..=LAMBDA_DELIVERIES {
            let app = Arc::clone(&self.app);
            let payload = event.clone();
            let joined = tokio::spawn(async move {
                match function {
                    Function::OnLifecycle => {
                        handle_lifecycle(
                            &app.drainer,
                            &payload,
                            &drain_core::decision::verify::FunctionIdentity::default(),
                        )
                        .await
                    }
                    Function::OnTaskStopped => handle_task_stopped(&app.drainer, &payload).await,
                }
            })
            .await;
            match joined {
                Err(join) => {
                    self.panics
                        .push(format!("{label} delivery {attempt}: {join}"));
                    return None;
                }
                Ok(Ok(report)) => {
                    self.log
                        .push(format!("{label} delivery {attempt}: {:?}", report.outcomes));
                    return Some(report);
                }
                Ok(Err(error)) => self.log.push(format!(
                    "{label} delivery {attempt}: Err({})",
                    error_chain(&error)
                )),
            }
        }
        self.log.push(format!(
            "{label}: Lambda gave up after {LAMBDA_DELIVERIES} deliveries"
        ));
        None
    }

    /// An event through EventBridge: invoked, and sometimes invoked again as a duplicate.
    async fn deliver(&mut self, function: Function, label: &str, event: Value) {
        self.invoke(function, label, &event).await;
        if self.rng.chance(DUPLICATE_RATE) {
            self.invoke(function, &format!("{label} (duplicate)"), &event)
                .await;
        }
        self.delivered.push((function, label.to_owned(), event));
        self.log.push(format!(
            "  after {label}: {}",
            self.state()
                .await
                .unwrap_or_else(|error| format!("state unreadable: {error}"))
        ));
    }

    /// The hook's completions, the drain record's status and the daemon-stop invariant, for
    /// the log.
    async fn state(&self) -> Result<String, KitError> {
        let actions = self.world.lifecycle_actions()?;
        let record = self.record().await?;
        Ok(format!(
            "actions {:?}, record {:?}",
            actions
                .iter()
                .map(|action| (
                    action.state.as_str(),
                    action.result.as_deref(),
                    action.completions
                ))
                .collect::<Vec<_>>(),
            record.map(|record| (record.status.as_str(), record.revision)),
        ))
    }

    async fn record(&self) -> Result<Option<drain_core::record::DrainRecord>, KitError> {
        let store = DynamoDrainStore::new(self.world.dynamodb.clone(), &self.world.table);
        Ok(store
            .load(&ContainerInstanceArn::new(
                self.world.instances[0].container_instance_arn.clone(),
            )?)
            .await?)
    }

    /// The completed-only-after-the-daemon-stopped invariant, checked after every delivery.
    async fn completions_before_the_daemon_stopped(&self, daemon: &str) -> Result<u64, KitError> {
        let completions: u64 = self
            .world
            .lifecycle_actions()?
            .iter()
            .map(|action| action.completions)
            .sum();
        let daemon_stopped =
            self.world.describe_task(daemon).await?.last_status() == Some("STOPPED");
        Ok(if daemon_stopped { 0 } else { completions })
    }

    fn story(&self) -> String {
        let faults: Vec<String> = self
            .proxy
            .fault_log()
            .iter()
            .map(|fault| format!("#{} {} {:?}", fault.call, fault.operation, fault.fault))
            .collect();
        format!(
            "seed {}:\n  {}\n  faults injected: {}",
            self.seed,
            self.log.join("\n  "),
            faults.join(", ")
        )
    }
}

/// The drain of instance 0, event by event, as in tests/scale_in_drain.rs.
async fn drain_under_faults(
    emulator: Arc<Emulator>,
    seed: u64,
    plan: FaultPlan,
) -> Result<Run, KitError> {
    let mut run = Run::new(&emulator, seed, plan).await?;
    let tasks = run.world.populate_standard(0).await?;
    let mut early_completions = 0;

    let action = run.world.scale_in(0).await?;
    run.deliver(Function::OnLifecycle, "lifecycle", lifecycle_event(&action))
        .await;
    // Whatever the faults did, a drain on record means the instance is DRAINING: ECS moves
    // nothing off an ACTIVE instance, so a record without it would wait for its deadline.
    if run.record().await?.is_some() {
        assert_eq!(
            run.world.instance_status(0).await?,
            "DRAINING",
            "a drain is on record but the instance is not draining\n{}",
            run.story()
        );
    }
    early_completions += run
        .completions_before_the_daemon_stopped(&tasks.daemon)
        .await?;

    let mut version = 10;
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        run.world
            .start_service_task(service, 1 + position % 2)
            .await?;
        run.world.hold_task(arn, "STOPPING")?;
        let other = run.world.start_standalone_task("nightly-report", 2).await?;
        run.world
            .stop_task(&other, "Essential container in task exited")
            .await?;
        let event = task_state_change_event(&run.world.describe_task(&other).await?, 1);
        run.deliver(Function::OnTaskStopped, "STOPPED elsewhere", event)
            .await;
        early_completions += run
            .completions_before_the_daemon_stopped(&tasks.daemon)
            .await?;
        run.world
            .stop_task(
                arn,
                "Task stopped by ECS because the container instance is being drained.",
            )
            .await?;
        version += 1;
        let event = task_state_change_event(&run.world.describe_task(arn).await?, version);
        run.deliver(
            Function::OnTaskStopped,
            &format!("{service} STOPPED"),
            event,
        )
        .await;
        early_completions += run
            .completions_before_the_daemon_stopped(&tasks.daemon)
            .await?;
    }

    run.world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&run.world.describe_task(&tasks.standalone).await?, 20);
    run.deliver(Function::OnTaskStopped, "nightly-report STOPPED", event)
        .await;
    early_completions += run
        .completions_before_the_daemon_stopped(&tasks.daemon)
        .await?;
    assert_eq!(
        early_completions,
        0,
        "completed before the daemon stopped\n{}",
        run.story()
    );

    let daemon = run.world.describe_task(&tasks.daemon).await?;
    assert_eq!(
        daemon.desired_status(),
        Some("STOPPED"),
        "ecs-drain did not stop the daemon\n{}",
        run.story()
    );
    run.deliver(
        Function::OnTaskStopped,
        "log-router STOPPED",
        task_state_change_event(&daemon, 30),
    )
    .await;

    // EventBridge delivers every event once more, late: nothing may move again.
    for (function, label, event) in run.delivered.clone() {
        run.invoke(function, &format!("{label} (late duplicate)"), &event)
            .await;
    }
    Ok(run)
}

/// The seeds' plans; `FAULT_SCRIPT=autoscaling:CompleteLifecycleAction#1=ResetAfterForward,...`
/// instead runs one drain with exactly those faults (to replay a failing seed's key fault).
fn plans_to_run() -> Vec<(u64, FaultPlan)> {
    if let Ok(script) = std::env::var("FAULT_SCRIPT") {
        return vec![(0, scripted(&script))];
    }
    let seeds: Vec<u64> = match std::env::var("FAULT_SEEDS") {
        Err(_) => SEEDS.to_vec(),
        Ok(text) => match text.split_once("..") {
            Some((from, to)) => (from.trim().parse().expect("FAULT_SEEDS from")
                ..to.trim().parse().expect("FAULT_SEEDS to"))
                .collect(),
            None => text
                .split(',')
                .map(|seed| seed.trim().parse().expect("FAULT_SEEDS seed"))
                .collect(),
        },
    };
    seeds
        .into_iter()
        .map(|seed| (seed, FaultPlan::mixed(seed, FAULT_RATE)))
        .collect()
}

/// A plan with exactly the faults of `script` (`operation#n=Fault,...`).
fn scripted(script: &str) -> FaultPlan {
    let faults = script
        .split(',')
        .map(|entry| {
            let (call, fault) = entry
                .split_once('=')
                .expect("FAULT_SCRIPT entry is operation#n=Fault");
            let (operation, nth) = call
                .split_once('#')
                .expect("FAULT_SCRIPT call is operation#n");
            let fault = match fault {
                "Throttle" => Some(Fault::Throttle),
                "ServerError" => Some(Fault::ServerError { status: 500 }),
                "Reset" => Some(Fault::Reset),
                "ServerErrorAfterForward" => Some(Fault::ServerErrorAfterForward),
                "ResetAfterForward" => Some(Fault::ResetAfterForward),
                _ => None,
            }
            .expect(
                "FAULT_SCRIPT fault is Throttle, ServerError, Reset, ServerErrorAfterForward or \
                 ResetAfterForward",
            );
            ScriptedFault {
                operation: operation.to_owned(),
                nth: nth.parse().expect("FAULT_SCRIPT n"),
                fault,
            }
        })
        .collect();
    FaultPlan::scripted(faults)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_drain_completes_once_after_the_daemon_under_injected_aws_faults()
-> Result<(), KitError> {
    // GIVEN one emulator, and per seed a world with the standard scenario whose ecs-drain
    // clients go through a proxy faulting 20 % of their calls
    drains_complete_once_under(plans_to_run()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_that_took_effect_but_whose_answer_was_lost_still_complete_the_drain_once()
-> Result<(), KitError> {
    // GIVEN the drain where AWS applied a write and the answer never came back: the insert of the
    // record (seed 47 found it: the instance was never set DRAINING), the completion claim (it
    // stayed COMPLETING), and CompleteLifecycleAction itself (the record said EXPIRED)
    drains_complete_once_under(vec![
        (1001, scripted("dynamodb:PutItem#1=ResetAfterForward")),
        (1002, scripted("dynamodb:PutItem#6=ResetAfterForward")),
        (
            1003,
            scripted("autoscaling:CompleteLifecycleAction#1=ResetAfterForward"),
        ),
        (
            1004,
            scripted("autoscaling:CompleteLifecycleAction#1=ServerErrorAfterForward"),
        ),
        (47, FaultPlan::mixed(47, FAULT_RATE)),
    ])
    .await
}

/// Runs the standard drain once per plan, concurrently, and asserts each completed exactly once.
async fn drains_complete_once_under(plans: Vec<(u64, FaultPlan)>) -> Result<(), KitError> {
    let emulator = Arc::new(Emulator::start()?);
    let mut seeds = tokio::task::JoinSet::new();
    for (seed, plan) in plans {
        seeds.spawn(drain_under_faults(Arc::clone(&emulator), seed, plan));
    }
    // WHEN each seed plays the drain to its end
    let mut runs = Vec::new();
    let mut failed = Vec::new();
    while let Some(joined) = seeds.join_next().await {
        match joined {
            Ok(run) => runs.push(run?),
            // A seed's own assertion failed: keep going so every failing seed is reported.
            Err(join) => failed.push(
                join.try_into_panic()
                    .ok()
                    .and_then(|panic| panic.downcast::<String>().ok())
                    .map_or_else(String::new, |text| *text),
            ),
        }
    }
    assert!(
        failed.is_empty(),
        "{} seed(s) failed:\n\n{}",
        failed.len(),
        failed.join("\n\n")
    );
    runs.sort_by_key(|run| run.seed);

    // THEN for every seed: no handler panicked, the lifecycle action was completed exactly
    // once with CONTINUE, and the drain record reads back COMPLETED
    for run in &runs {
        println!("{}\n", run.story());
        assert!(
            run.panics.is_empty(),
            "handler panicked: {:?}\n{}",
            run.panics,
            run.story()
        );
        assert_eq!(
            run.world.sole_action_end()?,
            ActionEnd::completed_once("CONTINUE"),
            "{}",
            run.story()
        );
        let record = run.record().await?.expect("the drain record exists");
        assert_eq!(
            (record.status, record.result),
            (DrainStatus::Completed, Some(LifecycleResult::Continue)),
            "{}",
            run.story()
        );
        assert!(
            run.proxy.faults_injected() > 0,
            "seed {} injected no fault\n{}",
            run.seed,
            run.story()
        );
    }
    let faults: u64 = runs.iter().map(|run| run.proxy.faults_injected()).sum();
    let calls: u64 = runs
        .iter()
        .map(|run| run.proxy.counts().values().sum::<u64>())
        .sum();
    println!(
        "{} seeds, {calls} AWS calls, {faults} faults injected",
        runs.len()
    );
    Ok(())
}
