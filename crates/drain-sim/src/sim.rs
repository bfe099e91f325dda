//! The discrete-event loop: pops everything due at the earliest virtual instant, runs it one by
//! one or interleaved, and repeats until nothing is left; then the end-of-run checks.

use std::sync::{Arc, Mutex};

use drain_core::decision::spot::UnbelievedNotice;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::decision::verify::Refusal;
use drain_core::drainer::{Drainer, Mode, Outcome};
use drain_core::ports::PortSet;
use drain_core::testing::ManualClock;
use drain_core::testing::memory::{CallLog, MemoryStore};

use crate::Settings;
use crate::check::{DrainSummary, Summary, final_checks};
use crate::exec::{Job, block_on, join_all};
use crate::faults::Fault;
use crate::ports::{SimCluster, SimHooks, SimScheduler, SimStore};
use crate::violation::{Violation, ViolationKind};
use crate::world::{
    CheckKind, Counters, EPOCH, Event, InstanceStatus, Scenario, SharedSimWorld, SimWorld, lock,
    pause, secs,
};
use drain_core::testing::Rng;

/// The function's own identity: the simulated notices name no account or region.
const OWN: FunctionIdentity = FunctionIdentity {
    account: None,
    region: None,
};

/// A run gives up (as a harness failure) past this much virtual time.
const HORIZON_SECONDS: i64 = 7 * 86_400;

type SimDrainer = Drainer<PortSet<SimCluster, SimHooks, SimStore, SimScheduler, Arc<ManualClock>>>;

/// What one seed did.
#[derive(Clone, Debug)]
pub struct RunReport {
    /// The seed.
    pub seed: u64,
    /// The planted bug.
    pub fault: Fault,
    /// The run's knobs.
    pub scenario: Scenario,
    /// Failed checks.
    pub violations: Vec<Violation>,
    /// How each drain went.
    pub drains: Vec<DrainSummary>,
    /// Counters.
    pub counters: Counters,
    /// The event log, when traced.
    pub trace: Option<Vec<String>>,
}

impl RunReport {
    /// No check failed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The command that replays this seed with its event log.
    pub fn replay_command(&self) -> String {
        let fault = if self.fault == Fault::None {
            String::new()
        } else {
            format!(" --fault {}", self.fault.name())
        };
        format!("cargo run -p drain-sim -- --seed {}{fault}", self.seed)
    }

    /// The seed, its knobs, the event log, the violations and the replay command.
    pub fn render(&self) -> String {
        let mut text = format!(
            "seed {} (fault: {})\n{:?}\n",
            self.seed,
            self.fault.name(),
            self.scenario
        );
        for line in self.trace.iter().flatten() {
            text.push_str(line);
            text.push('\n');
        }
        for drain in &self.drains {
            text.push_str(&format!("drain {drain:?}\n"));
        }
        if self.passed() {
            text.push_str("all checks passed\n");
        }
        for violation in &self.violations {
            text.push_str(&format!("{violation}\n"));
        }
        text.push_str(&format!("replay: {}\n", self.replay_command()));
        text
    }
}

/// Runs one seed.
pub fn run_seed(seed: u64, settings: &Settings) -> RunReport {
    let (world, config) = SimWorld::generate(seed, settings);
    let clock = Arc::clone(&world.clock);
    let mut interleave = Rng::new(seed ^ 0xA5A5_5A5A_F00D_BEEF);
    let world: SharedSimWorld = Arc::new(Mutex::new(world));
    let store = MemoryStore::new(CallLog::default());
    let drainer: SimDrainer = Drainer::new(
        PortSet {
            cluster: SimCluster::new(Arc::clone(&world), store.clone()),
            hooks: SimHooks::new(Arc::clone(&world)),
            store: SimStore::new(store.clone(), Arc::clone(&world)),
            scheduler: SimScheduler::new(Arc::clone(&world)),
            clock: Arc::clone(&clock),
        },
        config,
    );

    loop {
        let Some((at, events)) = lock(&world).pop_due() else {
            break;
        };
        if at.seconds_since(EPOCH) > HORIZON_SECONDS {
            lock(&world).violate(
                ViolationKind::Harness,
                "the run did not settle within the horizon".into(),
            );
            break;
        }
        clock.set(at);
        let settled = if events.len() > 1 && interleave.chance(settings.concurrency) {
            lock(&world).counters.concurrent_batches += 1;
            let jobs: Vec<Job<'_>> = events
                .into_iter()
                .map(|event| Box::pin(step(&world, &drainer, event, true)) as Job<'_>)
                .collect();
            join_all(jobs, &mut interleave)
        } else {
            events
                .into_iter()
                .all(|event| block_on(step(&world, &drainer, event, false)).is_some())
        };
        if !settled {
            lock(&world).violate(
                ViolationKind::Harness,
                "an invocation never finished".into(),
            );
            break;
        }
    }

    let mut world = lock(&world);
    let drains = final_checks(&mut world, &store);
    RunReport {
        seed,
        fault: settings.fault,
        scenario: world.scenario.clone(),
        violations: std::mem::take(&mut world.violations),
        drains,
        counters: world.counters.clone(),
        trace: world.trace.take(),
    }
}

/// One event: a world change, or an invocation of ecs-drain.
async fn step(world: &SharedSimWorld, drainer: &SimDrainer, event: Event, concurrent: bool) {
    if !event.invokes_drainer() {
        if concurrent {
            pause(world).await;
        }
        lock(world).apply(event);
        return;
    }
    // Some invocations die between two of their calls (Lambda's timeout, out of memory):
    // dropped at a yield point, which every port call passes before it acts.
    // Scheduled checks are left out: a check that dies before its heartbeat waits for Lambda's
    // retry (a minute or more), longer than the margin a short heartbeat timeout leaves (one
    // minute at 120 s), and no drain logic can heartbeat without being invoked.
    let dies_after = {
        let mut world = lock(world);
        let rate = match event {
            Event::CheckFires { .. } => 0.0,
            // Likewise a notice whose invocations die before one books the first check: the
            // hook must outlast Lambda's two retries (up to three minutes each here).
            Event::DeliverNotice { .. } if world.scenario.heartbeat_timeout < 600 => 0.0,
            Event::DeliverLaunchNotice { .. } if world.scenario.launch_heartbeat_timeout < 600 => {
                0.0
            }
            _ => world.scenario.crash_rate,
        };
        world.rng.chance(rate).then(|| world.rng.below(12) as u32)
    };
    // The instance whose terminate notice or Spot warning this invocation handles, if EC2 has
    // not reclaimed it yet: a survivor of those could have written its drain record.
    let notice_for = {
        let world = lock(world);
        let instance = match event {
            Event::DeliverNotice { action } => Some(world.actions[action].instance),
            Event::DeliverSpotWarning { instance } => Some(instance),
            _ => None,
        };
        instance.filter(|&instance| world.instances[instance].status != InstanceStatus::Inactive)
    };
    let invocation = async {
        match event {
            Event::DeliverNotice { action } => {
                let notice = delivered(
                    world,
                    |_| format!("deliver lifecycle notice {action} → on_terminate"),
                    |world| world.arrives(action).notice(action),
                );
                Some(drainer.on_terminate(&notice, Mode::Live).await)
            }
            Event::DeliverStopped { task, version } => {
                let change = delivered(
                    world,
                    |w| {
                        format!(
                            "deliver STOPPED task {} v{version} → on_task_stopped",
                            w.tasks[task].arn.id()
                        )
                    },
                    |world| world.stopped_event(task, version),
                );
                Some(drainer.on_task_stopped(&change, Mode::Live).await)
            }
            Event::DeliverInstanceChange {
                instance,
                tasks,
                version,
            } => {
                let change = delivered(
                    world,
                    |_| {
                        format!(
                            "deliver instance change ci-{instance} ({tasks} tasks) → \
                             on_instance_changed"
                        )
                    },
                    |world| world.instance_change(instance, tasks, version),
                );
                Some(drainer.on_instance_changed(&change, Mode::Live).await)
            }
            Event::CheckFires {
                kind,
                instance,
                booked,
            } => {
                {
                    let mut world = lock(world);
                    if world.bookings.get(&(kind, instance)) != Some(&booked) {
                        world.note(|_| {
                            format!(
                                "{}check of ci-{instance} booked at t={}s was moved or cancelled",
                                kind.label(),
                                secs(booked)
                            )
                        });
                        return None;
                    }
                    world.bookings.remove(&(kind, instance));
                }
                let (arn, ec2) = delivered(
                    world,
                    |_| format!("scheduled {}check ci-{instance} → on_check", kind.label()),
                    |world| {
                        let sim = &world.instances[instance];
                        (sim.arn.clone(), sim.ec2.clone())
                    },
                );
                Some(match kind {
                    CheckKind::Drain => drainer.on_check(&arn, Mode::Live).await,
                    CheckKind::Launch => drainer.on_launch_check(&ec2, Mode::Live).await,
                })
            }
            Event::DeliverSpotWarning { instance } => {
                let warning = delivered(
                    world,
                    |_| format!("deliver Spot warning ci-{instance} → on_spot_warning"),
                    |world| {
                        let now = world.now();
                        world.spot_delivered.entry(instance).or_insert(now);
                        world.spot_notice(instance)
                    },
                );
                Some(drainer.on_spot_warning(&warning, &OWN).await)
            }
            Event::DeliverLaunchNotice { action } => {
                let notice = delivered(
                    world,
                    |_| format!("deliver launch notice {action} → on_launch"),
                    |world| world.arrives(action).launch_notice(action),
                );
                Some(drainer.on_launch(&notice, Mode::Live, &OWN).await)
            }
            Event::DeliverJoinChange {
                instance,
                status,
                connected,
                version,
            } => {
                let change = delivered(
                    world,
                    |_| {
                        format!(
                            "deliver state change ci-{instance} {} connected={connected} → \
                             on_instance_joined",
                            status.as_str()
                        )
                    },
                    |world| world.join_change(instance, status, connected, version),
                );
                Some(drainer.on_instance_joined(&change, Mode::Live).await)
            }
            _ => None,
        }
    };
    let outcome = match dies_after {
        None => invocation.await,
        Some(polls) => match (DiesAfter {
            inner: Box::pin(invocation),
            polls,
        })
        .await
        {
            Some(outcome) => outcome,
            None => {
                let mut world = lock(world);
                world.counters.crashes += 1;
                world.note(|_| {
                    format!("  ⇒ the invocation dies after {polls} polls; Lambda retries it")
                });
                // Lambda retries a failed asynchronous invocation after about one, then two minutes.
                let at = world.now().plus_seconds(world.rng.range(60, 180));
                if let Event::CheckFires {
                    kind,
                    instance,
                    booked,
                } = event
                {
                    // The retried check is still this booking unless one was made since.
                    world.bookings.entry((kind, instance)).or_insert(booked);
                }
                world.push(at, event);
                return;
            }
        },
    };
    let Some(outcome) = outcome else {
        return;
    };
    let mut world = lock(world);
    if let Some(instance) = notice_for {
        let stale = matches!(
            outcome,
            Ok(Outcome::Refused {
                refusal: Refusal::Unbelieved(UnbelievedNotice::Stale { .. })
            })
        );
        if !stale {
            *world.notice_survivors.entry(instance).or_insert(0) += 1;
        }
    }
    match outcome {
        Ok(outcome) => world.note(|_| format!("  ⇒ {outcome:?}")),
        Err(error) => {
            let message = format!("handler error: {}", drain_core::error::error_chain(&error));
            world.violate(ViolationKind::Harness, message);
        }
    }
}

/// An input reaches ecs-drain: counted, logged with `line`, and built by `input` from the world
/// as it is at that moment.
fn delivered<T>(
    world: &SharedSimWorld,
    line: impl FnOnce(&SimWorld) -> String,
    input: impl FnOnce(&mut SimWorld) -> T,
) -> T {
    let mut world = lock(world);
    world.counters.invocations += 1;
    world.note(line);
    input(&mut world)
}

/// Runs seeds `first..first + count` on `threads` threads and sums them up.
pub fn run_many(first: u64, count: u64, threads: usize, settings: &Settings) -> Summary {
    let threads = threads.max(1) as u64;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|thread| {
                scope.spawn(move || {
                    let mut summary = Summary::default();
                    let mut seed = first + thread;
                    while seed < first + count {
                        summary.add(&run_seed(seed, settings));
                        seed += threads;
                    }
                    summary
                })
            })
            .collect();
        let mut total = Summary::default();
        for handle in handles {
            if let Ok(summary) = handle.join() {
                total.merge(summary);
            }
        }
        total
    })
}

/// Polls an invocation at most `polls` times, then drops it where it stands: None when it died.
struct DiesAfter<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: u32,
}

impl<F: std::future::Future> std::future::Future for DiesAfter<F> {
    type Output = Option<F::Output>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        if self.polls == 0 {
            return std::task::Poll::Ready(None);
        }
        self.polls -= 1;
        self.inner.as_mut().poll(cx).map(Some)
    }
}
