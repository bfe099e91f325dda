//! The properties every run must keep, and the statistics gathered over many runs.
//!
//! Safety is judged while the run goes (at each StopTask and CompleteLifecycleAction, see
//! [`crate::ports`]); liveness, exactly-once and record consistency at the end of the run.

use std::fmt;

use drain_core::record::{DrainStatus, LifecycleResult};
use drain_core::testing::memory::MemoryStore;

use crate::violation::ViolationKind;
use crate::world::{ActionKind, InstanceStatus, SimAction, SimWorld, StopCause, TaskKind, secs};
use drain_core::decision::launch::plan_launch;
use drain_core::decision::spot::SPOT_WARNING_LEAD_SECONDS;
use drain_core::event::fleet::Placement;
use drain_core::launch_record::LaunchStatus;
use drain_core::time::Timestamp;

/// How one drain went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DrainSummary {
    /// The drained instance's index.
    pub instance: usize,
    /// The result ecs-drain sent, if it completed the action.
    pub result: Option<LifecycleResult>,
    /// The drain reached its deadline (enforced or abandoned).
    pub hit_deadline: bool,
    /// Seconds from the drain's start to its completion.
    pub duration: Option<i64>,
    /// For drains that emptied: seconds from the last non-daemon task's STOPPED (or the drain's
    /// start, if later) to the completion.
    pub delay_after_last_task: Option<i64>,
    /// The part of [`DrainSummary::delay_after_last_task`] that is ecs-drain's: without the
    /// seconds the daemon tasks it stopped took to reach STOPPED (their containers' own
    /// stopTimeout, ECS's time, not ecs-drain's).
    pub own_delay_after_last_task: Option<i64>,
}

/// The end-of-run checks: every drain ended through ecs-drain within deadline + one check
/// interval (plus twice the scheduler's firing latency), CompleteLifecycleAction succeeded exactly
/// once, and the record says COMPLETED
/// with the result the hook received.
pub fn final_checks(world: &mut SimWorld, store: &MemoryStore) -> Vec<DrainSummary> {
    let mut summaries = Vec::new();
    spot_only_checks(world, store);
    for index in 0..world.actions.len() {
        let action = world.actions[index].clone();
        if let ActionKind::Launch { origin } = action.kind {
            launch_checks(world, store, &action, origin);
            continue;
        }
        let instance = action.instance;
        let record = store.get(&world.instances[instance].arn);
        let fail = |world: &mut SimWorld, kind, message: String| {
            world.violate(kind, format!("ci-{instance}: {message}"))
        };

        // A Spot warning may have started the drain the terminate action joins.
        let spot_started = world.spot_delivered.get(&instance).copied();
        let Some(started) = action
            .drain_started_at
            .map(|at| spot_started.map_or(at, |spot| spot.min(at)))
        else {
            fail(
                world,
                ViolationKind::Liveness,
                "the lifecycle notice never reached ecs-drain".into(),
            );
            continue;
        };
        ended_once_by_ecs_drain(world, &action, &format!("ci-{instance}"));
        let Some(record) = record else {
            let survivors = world.notice_survivors.get(&instance).copied().unwrap_or(0);
            if record_could_not_exist(&action, survivors) {
                world.counters.reclaimed_before_any_survivor += 1;
                world.note(|_| {
                    format!(
                        "ci-{instance}: no drain record: EC2 reclaimed it before any invocation \
                         for its notices survived"
                    )
                });
            } else {
                fail(world, ViolationKind::Consistency, "no drain record".into());
            }
            continue;
        };
        // The drain starts at the first delivery that wrote its record: a delivery whose
        // invocation died before the write is retried, and the retry starts it.
        if record.started_at < started {
            fail(
                world,
                ViolationKind::Consistency,
                format!(
                    "the record started at t={}s, before the notice first arrived (t={}s)",
                    secs(record.started_at),
                    secs(started)
                ),
            );
        }
        let own_deadline = record
            .started_at
            .plus_seconds(world.scenario.deadline_seconds);
        // A Spot warning that started the drain (before the terminate notice came) set its
        // deadline to the horizon; one that reached it while it was open may have moved it there.
        let horizon = world
            .spot_warned
            .get(&instance)
            .map(|sent| sent.plus_seconds(SPOT_WARNING_LEAD_SECONDS));
        let deadline = match horizon {
            Some(horizon) if record.started_at < action.drain_started_at.unwrap_or(started) => {
                horizon
            }
            Some(horizon) if record.deadline_at == horizon.min(own_deadline) => {
                horizon.min(own_deadline)
            }
            _ => own_deadline,
        };
        if let Some(completed_at) = action.completed_at {
            // The check at the deadline and the one an interval later may each fire late.
            // An invocation that died holding the completion claim is taken over once its lease
            // lapsed, after Lambda's retry (up to three minutes) or the next check.
            let crash_slack = if world.counters.crashes > 0 {
                record.check_interval_seconds.max(180) + 180
            } else {
                0
            };
            let slack = 2 * world.settings.scheduler_latency_max + crash_slack;
            let latest = deadline.plus_seconds(record.check_interval_seconds + slack);
            if completed_at > latest {
                fail(
                    world,
                    ViolationKind::Liveness,
                    format!(
                        "completed at t={}s, after deadline + one check interval + scheduler \
                         latency (t={}s)",
                        secs(completed_at),
                        secs(latest)
                    ),
                );
            }
        }
        if record.deadline_at != deadline {
            fail(
                world,
                ViolationKind::Consistency,
                format!(
                    "record deadline t={}s, expected t={}s",
                    secs(record.deadline_at),
                    secs(deadline)
                ),
            );
        }
        if action.completions == 1
            && (record.status != DrainStatus::Completed || record.result != action.result)
        {
            fail(
                world,
                ViolationKind::Consistency,
                format!(
                    "the record ends {} / {:?} but the hook received {:?}",
                    record.status.as_str(),
                    record.result,
                    action.result
                ),
            );
        }

        let hit_deadline =
            record.enforced_at.is_some() || action.result == Some(LifecycleResult::Abandon);
        let last_task_stopped = world
            .tasks
            .iter()
            .filter(|task| task.instance == instance && !matches!(task.kind, TaskKind::Daemon(_)))
            .filter_map(|task| task.stopped_at)
            .max()
            .map_or(started, |at| at.max(started));
        let delay_after_last_task = action
            .completed_at
            .filter(|_| !hit_deadline)
            .map(|at| at.seconds_since(last_task_stopped));
        let own_delay_after_last_task =
            action
                .completed_at
                .filter(|_| !hit_deadline)
                .map(|completed| {
                    let stopping = daemon_stopping(world, instance);
                    completed.seconds_since(last_task_stopped)
                        - stopping.map_or(0, |(asked, done)| {
                            overlap((asked, done), (last_task_stopped, completed))
                        })
                });
        summaries.push(DrainSummary {
            instance,
            result: action.result,
            hit_deadline,
            duration: action.completed_at.map(|at| at.seconds_since(started)),
            delay_after_last_task,
            own_delay_after_last_task,
        });
    }
    summaries
}

/// A Spot drain no terminate action joined must still end: the instance is gone, and a drain
/// record left open would hold its booked checks (and the operator's view) forever.
fn spot_only_checks(world: &mut SimWorld, store: &MemoryStore) {
    let spot_only: Vec<usize> = world
        .spot_delivered
        .keys()
        .copied()
        .filter(|&instance| world.action_of(instance).is_none())
        .collect();
    for instance in spot_only {
        if let Some(record) = store.get(&world.instances[instance].arn)
            && !record.status.is_terminal()
        {
            world.violate(
                ViolationKind::Liveness,
                format!(
                    "ci-{instance}: the Spot drain no lifecycle action joined ends {}, not ended",
                    record.status.as_str()
                ),
            );
        }
    }
}

/// Liveness and exactly-once of any lifecycle action: the hook's timeout did not end it (its
/// DefaultResult did not decide), and CompleteLifecycleAction did not succeed twice. (Zero
/// completions is the hook's timeout, or an instance EC2 reclaimed first.)
fn ended_once_by_ecs_drain(world: &mut SimWorld, action: &SimAction, whose: &str) {
    if let Some((at, which)) = action.timed_out {
        let (hook, default) = match action.kind {
            ActionKind::Terminate { .. } => ("hook", LifecycleResult::Continue),
            ActionKind::Launch { .. } => ("launch hook", LifecycleResult::Abandon),
        };
        world.violate(
            ViolationKind::Liveness,
            format!(
                "{whose}: the {hook}'s {which} ended the action at t={}s (DefaultResult {}), not \
                 ecs-drain",
                secs(at),
                default.as_str()
            ),
        );
    }
    if action.completions > 1 {
        world.violate(
            ViolationKind::ExactlyOnce,
            format!(
                "{whose}: CompleteLifecycleAction succeeded {} times",
                action.completions
            ),
        );
    }
}

/// A terminate action may end without a drain record only when no drain tool could have
/// written one: EC2 reclaimed its Spot instance (which ended the action) and, before that, every
/// invocation for the instance's terminate notice or Spot warning died or was refused as stale
/// (`survivors` counts the others). A stale warning must never start a drain, so its refusal
/// writes nothing by design.
pub fn record_could_not_exist(action: &SimAction, survivors: u32) -> bool {
    action.reclaimed && survivors == 0
}

/// The end-of-run checks of one launch action: it ended through ecs-drain (never the hook's
/// timeout), exactly once, in time; an instance ready well before the deadline was put in
/// service (CONTINUE), and one back from the warm pool does not stay DRAINING; the launch
/// record ends with the result the hook received.
fn launch_checks(world: &mut SimWorld, store: &MemoryStore, action: &SimAction, origin: Placement) {
    let instance = action.instance;
    let fail = |world: &mut SimWorld, kind, message: String| {
        world.violate(kind, format!("ci-{instance} (launch): {message}"))
    };
    if action.drain_started_at.is_none() {
        fail(
            world,
            ViolationKind::Liveness,
            "the launch notice never reached ecs-drain".into(),
        );
        return;
    }
    ended_once_by_ecs_drain(world, action, &format!("ci-{instance} (launch)"));
    let policy = world.scenario.launch_policy;
    let plan = plan_launch(action.began_at, Some(action.heartbeat_timeout), &policy);
    let crash_slack = if world.counters.crashes > 0 { 360 } else { 0 };
    let slack =
        plan.check_interval_seconds + 2 * world.settings.scheduler_latency_max + crash_slack;
    if let Some(completed_at) = action.completed_at
        && completed_at > plan.deadline.plus_seconds(slack)
    {
        fail(
            world,
            ViolationKind::Liveness,
            format!(
                "completed at t={}s, after the launch deadline + one check interval (t={}s)",
                secs(completed_at),
                secs(plan.deadline.plus_seconds(slack))
            ),
        );
    }
    // Ready with a check interval (and the events' delays) to spare: it must go in service.
    let ready_in_time = world.instances[instance]
        .ready_at
        .is_some_and(|ready| ready.plus_seconds(slack) < plan.deadline);
    if ready_in_time && action.completions == 1 && action.result != Some(LifecycleResult::Continue)
    {
        fail(
            world,
            ViolationKind::Liveness,
            format!(
                "ready at t={}s, long before the launch deadline (t={}s), yet the launch ended {:?}",
                world.instances[instance].ready_at.map_or(0, secs),
                secs(plan.deadline),
                action.result
            ),
        );
    }
    // Back from the warm pool: ecs-drain's DRAINING must not outlive the launch, whatever
    // ended it, once the agent was back in time (a drained instance in service takes no task).
    let sim = &world.instances[instance];
    let in_service = sim.status != InstanceStatus::Inactive;
    if origin == Placement::WarmPool
        && (action.ended_draining || (in_service && sim.status == InstanceStatus::Draining))
        && (ready_in_time || action.result == Some(LifecycleResult::Continue))
    {
        fail(
            world,
            ViolationKind::Liveness,
            format!(
                "back from the warm pool (launch ended {:?}), but its container instance stayed \
                 DRAINING",
                action
                    .result
                    .or(action.timed_out.map(|_| LifecycleResult::Abandon))
            ),
        );
    }
    let record = store.launch(&world.instances[instance].ec2);
    match record {
        None => fail(world, ViolationKind::Consistency, "no launch record".into()),
        Some(record) if record.action.token != action.action.token => {}
        Some(record) => {
            if action.completions == 1
                && (record.status != LaunchStatus::Completed || record.result != action.result)
            {
                fail(
                    world,
                    ViolationKind::Consistency,
                    format!(
                        "the launch record ends {} / {:?} but the hook received {:?}",
                        record.status.as_str(),
                        record.result,
                        action.result
                    ),
                );
            }
        }
    }
}

/// From the first StopTask ecs-drain sent a daemon task of `instance` to the last of those
/// daemon tasks reaching STOPPED: the daemons' own shutdown, ECS's time.
fn daemon_stopping(world: &SimWorld, instance: usize) -> Option<(Timestamp, Timestamp)> {
    let stopped_by_us = || {
        world.tasks.iter().filter(move |task| {
            task.instance == instance
                && matches!(task.kind, TaskKind::Daemon(_))
                && task.stop_cause == Some(StopCause::EcsDrain)
        })
    };
    let asked = stopped_by_us()
        .filter_map(|task| task.stop_asked_at)
        .min()?;
    let done = stopped_by_us().filter_map(|task| task.stopped_at).max()?;
    Some((asked, done))
}

/// Seconds two time spans share.
fn overlap(a: (Timestamp, Timestamp), b: (Timestamp, Timestamp)) -> i64 {
    let start = a.0.max(b.0);
    let end = a.1.min(b.1);
    end.seconds_since(start).max(0)
}

/// Statistics over many runs.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds with a violation (at most the first 20 are kept).
    pub failed_seeds: Vec<u64>,
    /// Number of failed seeds.
    pub failures: u64,
    /// Drains run.
    pub drains: u64,
    /// Drains that reached their deadline.
    pub deadline_hits: u64,
    /// Completion delays after the last non-daemon task stopped, for drains that emptied.
    pub delays: Vec<i64>,
    /// The same delays without the daemons' own shutdown (see
    /// [`DrainSummary::own_delay_after_last_task`]).
    pub own_delays: Vec<i64>,
    /// Lost event copies.
    pub dropped: u64,
    /// Extra event copies.
    pub duplicated: u64,
    /// Handler invocations.
    pub invocations: u64,
    /// Same-instant batches run interleaved.
    pub concurrent_batches: u64,
}

impl Summary {
    /// Adds one run.
    pub fn add(&mut self, report: &crate::RunReport) {
        self.seeds += 1;
        if !report.passed() {
            self.failures += 1;
            if self.failed_seeds.len() < 20 {
                self.failed_seeds.push(report.seed);
            }
        }
        self.drains += report.drains.len() as u64;
        self.deadline_hits += report
            .drains
            .iter()
            .filter(|drain| drain.hit_deadline)
            .count() as u64;
        self.delays.extend(
            report
                .drains
                .iter()
                .filter_map(|drain| drain.delay_after_last_task),
        );
        self.own_delays.extend(
            report
                .drains
                .iter()
                .filter_map(|drain| drain.own_delay_after_last_task),
        );
        self.dropped += report.counters.dropped;
        self.duplicated += report.counters.duplicated;
        self.invocations += report.counters.invocations;
        self.concurrent_batches += report.counters.concurrent_batches;
    }

    /// Merges another summary (from another thread).
    pub fn merge(&mut self, other: Summary) {
        self.seeds += other.seeds;
        self.failures += other.failures;
        self.failed_seeds.extend(other.failed_seeds);
        self.failed_seeds.sort_unstable();
        self.failed_seeds.truncate(20);
        self.drains += other.drains;
        self.deadline_hits += other.deadline_hits;
        self.delays.extend(other.delays);
        self.own_delays.extend(other.own_delays);
        self.dropped += other.dropped;
        self.duplicated += other.duplicated;
        self.invocations += other.invocations;
        self.concurrent_batches += other.concurrent_batches;
    }

    /// (median, p99, worst) completion delay after the last non-daemon task stopped.
    pub fn delay_figures(&self) -> Option<(i64, i64, i64)> {
        figures(&self.delays)
    }

    /// (median, p99, worst) of the part of that delay that is ecs-drain's own.
    pub fn own_delay_figures(&self) -> Option<(i64, i64, i64)> {
        figures(&self.own_delays)
    }
}

/// (median, p99, worst) of `values`.
fn figures(values: &[i64]) -> Option<(i64, i64, i64)> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |fraction: f64| sorted[((sorted.len() - 1) as f64 * fraction).round() as usize];
    (!sorted.is_empty()).then(|| (at(0.5), at(0.99), at(1.0)))
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seeds run:            {}", self.seeds)?;
        writeln!(
            f,
            "failed seeds:         {} {:?}",
            self.failures, self.failed_seeds
        )?;
        writeln!(
            f,
            "drains:               {} ({} hit the deadline)",
            self.drains, self.deadline_hits
        )?;
        if let Some((median, p99, worst)) = self.delay_figures() {
            writeln!(
                f,
                "completion delay after the last non-daemon task stopped (virtual s): median \
                 {median}, p99 {p99}, worst {worst} (over {} drains that emptied)",
                self.delays.len()
            )?;
        }
        if let Some((median, p99, worst)) = self.own_delay_figures() {
            writeln!(
                f,
                "  of which ecs-drain's own (without the daemons' shutdown): median {median}, \
                 p99 {p99}, worst {worst}"
            )?;
        }
        write!(
            f,
            "events: {} handler invocations, {} copies dropped, {} duplicated, {} interleaved \
             batches",
            self.invocations, self.dropped, self.duplicated, self.concurrent_batches
        )
    }
}

#[cfg(test)]
mod tests {
    use drain_core::event::fleet::Placement;
    use drain_core::testing::memory::{CallLog, MemoryStore};

    use super::final_checks;
    use crate::Settings;
    use crate::world::{ActionKind, SimWorld};

    /// Seed 140079's shape at the end of its run: the terminate action of a Spot instance that
    /// reached ecs-drain and ended with EC2's reclaim, no drain record in the store, and
    /// `survivors` invocations for the instance's notices that could have written one.
    fn reclaimed_without_record(reclaimed: bool, survivors: u32) -> Vec<String> {
        let (mut world, _) = SimWorld::generate(140079, &Settings::default());
        let instance = 2;
        let destination = Placement::Ec2;
        let action = world.begin_action(ActionKind::Terminate { destination }, instance, 7);
        let now = world.now();
        world.actions[action].drain_started_at = Some(now);
        world.actions[action].active = false;
        world.actions[action].reclaimed = reclaimed;
        if survivors > 0 {
            world.notice_survivors.insert(instance, survivors);
        }
        final_checks(&mut world, &MemoryStore::new(CallLog::default()));
        world
            .violations
            .iter()
            .map(|violation| violation.message.clone())
            .collect()
    }

    #[test]
    fn a_reclaim_before_any_invocation_survived_needs_no_drain_record() {
        // GIVEN a reclaimed Spot instance whose every invocation died or was refused as stale
        // WHEN the run ends with no drain record for it
        let violations = reclaimed_without_record(true, 0);
        // THEN no drain tool could have written one, and the oracle accepts it
        assert!(violations.is_empty(), "{violations:?}");
    }

    #[test]
    fn a_surviving_invocation_that_wrote_nothing_before_the_reclaim_is_caught() {
        // GIVEN the same reclaimed instance, but one invocation for its notices survived
        // (a planted bug that makes it write nothing)
        // WHEN the run ends with no drain record for it
        let violations = reclaimed_without_record(true, 1);
        // THEN the missing record is a violation: that invocation should have written it
        assert_eq!(violations, ["ci-2: no drain record"]);
    }

    #[test]
    fn a_missing_record_of_an_action_ec2_did_not_reclaim_is_caught() {
        // GIVEN an action that ended otherwise (no reclaim), with no surviving invocation
        // WHEN the run ends with no drain record for it
        let violations = reclaimed_without_record(false, 0);
        // THEN the missing record is a violation, as before
        assert_eq!(violations, ["ci-2: no drain record"]);
    }
}
