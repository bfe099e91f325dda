//! Stories of the use cases over the in-memory ports: one drain per test, driven by notices
//! parsed from the real-shaped fixtures, asserting the final state of the fake world (drain
//! record, lifecycle action, container instance, tasks) and the AWS calls it took.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;

use super::*;
use crate::census::{AliveCounts, ServiceFacts};
use crate::config::{ECS_MANAGED_DRAINING_HOOK, ReplayMode, ScheduleSettings};
use crate::decision::DeadlinePolicy;
use crate::decision::verify::{FunctionIdentity, Refusal};
use crate::event::{LifecycleInput, TaskInput, parse_lifecycle_payload, parse_task_payload};
use crate::ids::{ClusterArn, Ec2InstanceId, HookName, LifecycleToken, TaskArn};
use crate::ports::PortSet;
use crate::testing::ManualClock;
use crate::testing::memory::{
    CallLog, MemoryAction, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};

mod announce;
mod census;

/// The fixtures' identifiers (see tests/fixtures/README.md).
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
const CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
const EC2_INSTANCE: &str = "i-0598c7d356eba48d7";
const FIXTURE_HOOK: &str = "ecs-drain-terminate";
/// The hook's heartbeat timeout: checks every 240 s (300 s minus a 60 s margin).
const HEARTBEAT_TIMEOUT: i64 = 300;
const CHECK_INTERVAL: i64 = 240;
/// The default graceful phase.
const DEADLINE: i64 = 3600;
/// The lifecycle fixture's `time` (2026-11-02T18:43:48Z).
const NOTICE_SENT: Timestamp = Timestamp(1_793_645_028);

type MemoryDrainer<S = MemoryStore> =
    Drainer<PortSet<MemoryCluster, MemoryHooks, S, MemoryScheduler, Arc<ManualClock>>>;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path)
        .map_err(|error| format!("{path}: {error}"))
        .expect("fixture readable");
    serde_json::from_str(&text)
        .map_err(|error| format!("{path}: {error}"))
        .expect("fixture is JSON")
}

fn terminate_notice(payload: &Value) -> TerminateNotice {
    let inputs = parse_lifecycle_payload(payload).expect("lifecycle fixture parses");
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    inputs
        .into_iter()
        .find_map(|input| match input {
            LifecycleInput::Terminate(notice) => Some(notice),
            _ => None,
        })
        .expect("a terminate notice")
}

fn stopped_task(payload: &Value) -> TaskStateChange {
    match parse_task_payload(payload).expect("task fixture parses") {
        TaskInput::Stopped(change) => Some(change),
        TaskInput::Ignored { .. } | TaskInput::InstanceChanged(_) => None,
    }
    .expect("a stopped task")
}

fn token(text: &str) -> LifecycleToken {
    LifecycleToken::new(text).expect("valid token")
}

fn task_arn(id: &str) -> TaskArn {
    TaskArn::new(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/{id}"
    ))
    .expect("valid task arn")
}

/// A STOPPED event for `task`: the service fixture with the task's ARN and group put in.
fn stopped_event(task: &TaskArn, group: &str) -> TaskStateChange {
    let mut payload = fixture("ecs-task-stopped-service.json");
    payload["detail"]["taskArn"] = Value::from(task.as_str());
    payload["detail"]["group"] = Value::from(group);
    stopped_task(&payload)
}

/// The fake AWS account: one ACTIVE container instance of `prod-cluster` on the fixtures' EC2
/// instance, held by the fixtures' lifecycle action (hook heartbeat timeout 300 s), scheduled
/// checks enabled. The memory ports share their state with every drainer built from the world.
struct World {
    log: CallLog,
    cluster: MemoryCluster,
    hooks: MemoryHooks,
    store: MemoryStore,
    scheduler: MemoryScheduler,
    clock: Arc<ManualClock>,
    config: Config,
    cluster_arn: ClusterArn,
    instance: ContainerInstanceArn,
    /// The fixtures' terminate notice (EventBridge), whose action the group has begun.
    notice: TerminateNotice,
    /// When the world starts: two seconds after the notice was sent.
    start: Timestamp,
}

impl World {
    fn new() -> World {
        let log = CallLog::default();
        let world = World {
            cluster: MemoryCluster::new(log.clone()),
            hooks: MemoryHooks::new(log.clone()),
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log.clone()),
            log,
            clock: Arc::new(ManualClock::new(NOTICE_SENT.plus_seconds(2))),
            config: Config {
                schedule: Some(ScheduleSettings {
                    group: "ecs-drain".into(),
                    role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
                    target_arn: None,
                    dead_letter_arn: None,
                }),
                ..Config::with_table("ecs-drain")
            },
            cluster_arn: ClusterArn::new(CLUSTER).expect("valid cluster arn"),
            instance: ContainerInstanceArn::new(CONTAINER_INSTANCE)
                .expect("valid container instance arn"),
            notice: terminate_notice(&fixture("lifecycle-terminate-eventbridge.json")),
            start: NOTICE_SENT.plus_seconds(2),
        };
        let ec2 = Ec2InstanceId::new(EC2_INSTANCE).expect("valid instance id");
        world
            .cluster
            .add_instance(&world.cluster_arn, &world.instance, &ec2);
        world
            .hooks
            .add_hook(&world.notice.action.hook, HEARTBEAT_TIMEOUT);
        world.hooks.begin(&world.notice.action);
        world
    }

    /// A drainer over the world's ports, with the world's current settings.
    fn drainer(&self) -> MemoryDrainer {
        self.drainer_over(self.store.clone())
    }

    /// A drainer whose store is `store` (a wrapper around the world's store).
    fn drainer_over<S: DrainStore>(&self, store: S) -> MemoryDrainer<S> {
        Drainer::new(
            PortSet {
                cluster: self.cluster.clone(),
                hooks: self.hooks.clone(),
                store,
                scheduler: self.scheduler.clone(),
                clock: Arc::clone(&self.clock),
            },
            self.config.clone(),
        )
    }

    /// Places a RUNNING task with `group` on the instance.
    fn run_task(&self, id: &str, group: &str) -> TaskArn {
        let arn = task_arn(id);
        self.cluster.add_task(&self.instance, &arn, group);
        arn
    }

    fn add_daemon_service(&self, name: &str) {
        let facts = ServiceFacts {
            name: name.into(),
            scheduling_strategy: Some("DAEMON".into()),
            minimum_healthy_percent: Some(0),
            maximum_percent: Some(100),
        };
        self.cluster.add_service(&self.cluster_arn, facts);
    }

    /// The task reaches lastStatus STOPPED; returns the event ECS sends about it.
    fn task_stops(&self, task: &TaskArn) -> TaskStateChange {
        self.cluster.set_task_status(task, "STOPPED");
        let group = self.cluster.with_state(|state| {
            state
                .tasks
                .iter()
                .find(|placed| &placed.snapshot.arn == task)
                .and_then(|placed| placed.snapshot.group.clone())
        });
        stopped_event(task, group.as_deref().expect("task has a group"))
    }

    fn task_status(&self, task: &TaskArn) -> String {
        self.cluster
            .with_state(|state| {
                state
                    .tasks
                    .iter()
                    .find(|placed| &placed.snapshot.arn == task)
                    .map(|placed| placed.snapshot.last_status.as_str().to_owned())
            })
            .expect("task exists")
    }

    fn set_instance_status(&self, status: &str) {
        self.cluster.with_state(|state| {
            for instance in state
                .instances
                .iter_mut()
                .filter(|instance| instance.arn == self.instance)
            {
                instance.status = EcsInstanceStatus::parse(status);
            }
        });
    }

    fn instance_status(&self) -> String {
        self.cluster
            .instance_status(&self.instance)
            .expect("instance exists")
    }

    /// The fixture notice with another token and send time (a later or earlier action).
    fn notice_with(&self, token_text: &str, sent_at: Option<Timestamp>) -> TerminateNotice {
        let mut notice = self.notice.clone();
        notice.action.token = token(token_text);
        notice.sent_at = sent_at;
        notice
    }

    /// The fixture notice for another hook of the same group.
    fn notice_for_hook(&self, hook_name: &str) -> TerminateNotice {
        let mut notice = self.notice.clone();
        notice.action.hook.hook_name = HookName::new(hook_name).expect("valid hook name");
        notice
    }

    fn record(&self) -> DrainRecord {
        self.store
            .get(&self.instance)
            .expect("a drain record exists")
    }

    /// The look completed the action with `result`, the only completion, and the record says
    /// COMPLETED.
    fn assert_completed_once(&self, outcome: &Outcome, result: LifecycleResult) {
        assert!(is_complete(outcome, result), "{outcome:?}");
        assert_eq!(self.action().completions, 1);
        assert_eq!(self.record().status, DrainStatus::Completed);
    }

    /// The fixture notice's lifecycle action as the group holds it.
    fn action(&self) -> MemoryAction {
        self.hooks
            .action(&self.notice.action.token)
            .expect("the action was begun")
    }

    fn booked_check(&self) -> Option<Timestamp> {
        self.scheduler.booked(&self.instance)
    }

    async fn deliver(&self, notice: &TerminateNotice) -> Result<Outcome, DrainError> {
        let drainer = self.drainer();
        drainer
            .on_terminate(notice, drainer.mode_for(notice.replay_name.as_deref()))
            .await
    }

    async fn terminate(&self) -> Outcome {
        self.deliver(&self.notice)
            .await
            .expect("lifecycle notice handled")
    }

    async fn task_stopped(&self, change: &TaskStateChange) -> Outcome {
        let drainer = self.drainer();
        drainer
            .on_task_stopped(change, drainer.mode_for(change.replay_name.as_deref()))
            .await
            .expect("task event handled")
    }

    /// Books the drain's check at `at`, then fires it.
    async fn fire_check_at(&self, at: Timestamp) -> Outcome {
        self.scheduler
            .schedule(&self.instance, at)
            .await
            .expect("booked");
        self.fire_next_check().await
    }

    /// The look completed the action with `result` for `reason`, the only completion, and the
    /// record says COMPLETED with the result the hook received.
    fn assert_completed_with(
        &self,
        outcome: &Outcome,
        result: LifecycleResult,
        reason: CompletionReason,
    ) {
        assert_eq!(
            outcome,
            &Outcome::Decided(Decision::Complete { result, reason })
        );
        assert_eq!(self.action().completions, 1);
        assert_eq!(self.action().result, Some(result));
        assert_eq!(self.record().status, DrainStatus::Completed);
        assert_eq!(self.record().result, Some(result));
    }

    /// Moves the clock to the booked check and lets the scheduler fire it.
    async fn fire_next_check(&self) -> Outcome {
        self.fire_next_check_with(&self.drainer()).await
    }

    /// [`World::fire_next_check`] through `drainer` (one warm function across steps).
    async fn fire_next_check_with(&self, drainer: &MemoryDrainer) -> Outcome {
        let at = self.booked_check().expect("a check is booked");
        self.clock.set(at);
        assert_eq!(self.scheduler.take_due(at), vec![self.instance.clone()]);
        drainer
            .on_check(&self.instance, Mode::Live)
            .await
            .expect("check handled")
    }
}

fn is_complete(outcome: &Outcome, expected: LifecycleResult) -> bool {
    matches!(outcome, Outcome::Decided(Decision::Complete { result, .. }) if *result == expected)
}

/// A store that yields to the runtime before every call, so joined invocations interleave at
/// each DynamoDB round trip the way concurrent Lambda invocations do.
struct YieldingStore(MemoryStore);

impl DrainStore for YieldingStore {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        tokio::task::yield_now().await;
        self.0.load(instance).await
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        tokio::task::yield_now().await;
        self.0.insert(record).await
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        tokio::task::yield_now().await;
        self.0.replace(record, expected_revision).await
    }
}

/// A store in which another invocation may write just before each write of this one:
/// `interfere` is given the world's store and the record about to be written, and writes
/// what a concurrent invocation would (with the memory store's plain `put`).
struct InterferingStore<F> {
    inner: MemoryStore,
    interfere: F,
}

impl<F: Fn(&MemoryStore, &DrainRecord) + Send + Sync> DrainStore for InterferingStore<F> {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        self.inner.load(instance).await
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        (self.interfere)(&self.inner, record);
        self.inner.insert(record).await
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        (self.interfere)(&self.inner, record);
        self.inner.replace(record, expected_revision).await
    }
}

/// A store in which another invocation's progress write (a look that still saw a task alive)
/// lands between this invocation's read and its first completion claim.
fn progress_race_store(inner: &MemoryStore) -> impl DrainStore {
    let raced = AtomicBool::new(false);
    InterferingStore {
        inner: inner.clone(),
        interfere: move |store: &MemoryStore, record: &DrainRecord| {
            if record.status == DrainStatus::Completing && !raced.swap(true, Ordering::SeqCst) {
                let mut other = store
                    .get(&record.container_instance_arn)
                    .expect("the record exists");
                other.revision += 1;
                other.reason = Some("a concurrent look still saw a task alive".into());
                store.put(other);
            }
        },
    }
}

#[tokio::test]
async fn starts_a_drain_for_an_instance_with_running_tasks() {
    // GIVEN an instance running a replica task and a standalone task
    let world = World::new();
    world.run_task("web-1", "service:web");
    world.run_task("report-1", "family:nightly-report");

    // WHEN the terminate lifecycle action arrives
    let outcome = world.terminate().await;

    // THEN the drain waits for the tasks, with everything a later look needs on record
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::Wait {
            alive: AliveCounts {
                replica: 1,
                daemon: 0,
                standalone: 1
            },
            waiting_on: WaitingOn::Tasks
        })
    );
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Draining);
    assert_eq!(record.phase, DrainPhase::Graceful);
    assert_eq!(record.token, world.notice.action.token);
    assert_eq!(record.hook.asg_name.as_str(), "prod-ecs-asg");
    assert_eq!(record.hook.hook_name.as_str(), FIXTURE_HOOK);
    assert_eq!(record.ec2_instance_id.as_str(), EC2_INSTANCE);
    assert_eq!(record.cluster_arn, world.cluster_arn);
    assert_eq!(record.noticed_at, NOTICE_SENT);
    assert_eq!(record.started_at, world.start);
    assert_eq!(record.heartbeat_timeout_seconds, Some(HEARTBEAT_TIMEOUT));
    assert_eq!(record.check_interval_seconds, CHECK_INTERVAL);
    assert_eq!(record.deadline_at, world.start.plus_seconds(DEADLINE));
    assert_eq!(
        record.hook_expires_at,
        Some(world.start.plus_seconds(100 * HEARTBEAT_TIMEOUT))
    );
    assert_eq!(
        record
            .last_census
            .as_ref()
            .map(|census| census.alive.total()),
        Some(2)
    );
    // AND the instance is DRAINING while the lifecycle action still holds it
    assert_eq!(world.instance_status(), "DRAINING");
    let action = world.action();
    assert!(action.active);
    assert_eq!(action.completions, 0);
    // AND the first check is booked one interval on, and noted on the record
    // (planned from the notice's send time: the hook's heartbeat timer started then)
    assert_eq!(
        world.booked_check(),
        Some(NOTICE_SENT.plus_seconds(CHECK_INTERVAL))
    );
    assert_eq!(record.next_check_at, world.booked_check());
    // AND Auto Scaling confirms before anything changes, the census comes before the one
    // write (the record with the census and its check, inserted conditionally), and the check
    // is booked only once that insert is in
    assert_eq!(
        world.log.calls(),
        vec![
            "ecs:ListContainerInstances",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeLifecycleHooks",
            "ecs:UpdateContainerInstancesState",
            "ecs:ListTasks",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "ecs:DescribeServices",
            "dynamodb:PutItem",
            "scheduler:CreateSchedule",
        ]
    );
    assert_eq!(record.revision, 0, "one write: the insert");
}

#[tokio::test]
async fn books_no_check_when_scheduled_checks_are_disabled() {
    // GIVEN a stack without a schedule group, and an instance running a task
    let mut world = World::new();
    world.config.schedule = None;
    world.run_task("web-1", "service:web");

    // WHEN the terminate lifecycle action arrives
    world.terminate().await;

    // THEN the drain is recorded but no check is booked
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert_eq!(world.record().next_check_at, None);
    assert_eq!(world.log.count("scheduler:CreateSchedule"), 0);
}

#[tokio::test]
async fn completes_at_once_when_the_instance_is_already_empty() {
    // GIVEN an instance with nothing on it but a task that stopped an hour ago
    let world = World::new();
    let old = world.run_task("old-1", "service:web");
    world.cluster.set_task_status(&old, "STOPPED");

    // WHEN the terminate lifecycle action arrives
    let outcome = world.terminate().await;

    // THEN the action is completed once, with CONTINUE, and the drain is over
    assert!(
        is_complete(&outcome, LifecycleResult::Continue),
        "{outcome:?}"
    );
    let action = world.action();
    assert!(!action.active);
    assert_eq!(action.completions, 1);
    assert_eq!(action.result, Some(LifecycleResult::Continue));
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 1);
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Completed);
    assert_eq!(record.result, Some(LifecycleResult::Continue));
    assert_eq!(
        record.reason.as_deref(),
        Some(CompletionReason::Drained.describe())
    );
    assert_eq!(record.finished_at, Some(world.start));
    assert_eq!(record.next_check_at, None);
    // AND the check booked before the claim (to take over a claim whose invocation dies
    // before recording the end) is left to fire: the completion deletes nothing
    assert!(world.booked_check().is_some());
    assert_eq!(world.log.count("scheduler:CreateSchedule"), 1);
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
}

#[tokio::test]
async fn completes_only_when_the_last_task_has_stopped() {
    // GIVEN a drain waiting for two replica tasks and a standalone task
    let world = World::new();
    let web_1 = world.run_task("web-1", "service:web");
    let web_2 = world.run_task("web-2", "service:web");
    let report = world.run_task("report-1", "family:nightly-report");
    world.terminate().await;

    // WHEN web-1 stops
    let outcome = world.task_stopped(&world.task_stops(&web_1)).await;
    // THEN the drain keeps waiting
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert!(world.action().active);

    // WHEN web-2 is deregistering from its load balancer and the standalone task stops
    world.cluster.set_task_status(&web_2, "DEACTIVATING");
    let outcome = world.task_stopped(&world.task_stops(&report)).await;
    // THEN a task shutting down still counts as alive
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::Wait {
            alive: AliveCounts {
                replica: 1,
                daemon: 0,
                standalone: 0
            },
            waiting_on: WaitingOn::Tasks
        })
    );
    assert!(world.action().active);

    // WHEN web-2 is inside its stop timeout and a duplicate event for report-1 arrives
    world.cluster.set_task_status(&web_2, "STOPPING");
    world
        .task_stopped(&stopped_event(&report, "family:nightly-report"))
        .await;
    // THEN still nothing completes
    assert!(world.action().active);
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
    assert_eq!(world.record().status, DrainStatus::Draining);

    // WHEN web-2 finally reaches STOPPED
    let pending = world.booked_check();
    world.log.clear();
    let outcome = world.task_stopped(&world.task_stops(&web_2)).await;

    // THEN the action completes with CONTINUE, once
    assert!(
        is_complete(&outcome, LifecycleResult::Continue),
        "{outcome:?}"
    );
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.action().result, Some(LifecycleResult::Continue));
    assert_eq!(world.record().status, DrainStatus::Completed);
    // AND the completion made no scheduler call: 7 calls, the pending check left to fire
    assert_eq!(
        world.log.calls(),
        vec![
            "dynamodb:GetItem",
            "ecs:ListTasks",
            "ecs:ListTasks",
            "ecs:DescribeTasks",
            "dynamodb:PutItem",
            "autoscaling:CompleteLifecycleAction",
            "dynamodb:PutItem",
        ]
    );
    assert!(pending.is_some());
    assert_eq!(world.booked_check(), pending);
}

#[tokio::test]
async fn a_stopped_task_on_an_instance_that_is_not_draining_costs_one_read() {
    // GIVEN an instance nobody is draining
    let world = World::new();
    let web = world.run_task("web-1", "service:web");

    // WHEN one of its tasks stops
    let outcome = world.task_stopped(&world.task_stops(&web)).await;

    // THEN the only call is the keyed read of the drain record
    assert_eq!(outcome, Outcome::NotDraining);
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
    assert!(world.store.all().is_empty());
}

#[tokio::test]
async fn a_stopped_task_after_the_drain_ended_costs_one_read() {
    // GIVEN a drain that has completed
    let world = World::new();
    world.terminate().await;
    world.log.clear();

    // WHEN a late STOPPED event for the instance arrives
    let outcome = world
        .task_stopped(&stopped_event(&task_arn("late-1"), "service:web"))
        .await;

    // THEN it reads the record and stops there
    assert_eq!(outcome, Outcome::NotDraining);
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
    assert_eq!(world.action().completions, 1);
}

#[tokio::test]
async fn stops_daemon_tasks_last_and_completes_once_they_have_stopped() {
    // GIVEN a drain waiting for a replica task, with a daemon task on the instance too
    let world = World::new();
    world.add_daemon_service("log-router");
    let web = world.run_task("web-1", "service:web");
    let daemon = world.run_task("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a", "service:log-router");
    let outcome = world.terminate().await;
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::Wait {
            alive: AliveCounts {
                replica: 1,
                daemon: 1,
                standalone: 0
            },
            waiting_on: WaitingOn::Tasks
        })
    );
    // THEN the daemon is left alone while the replica runs
    assert_eq!(world.task_status(&daemon), "RUNNING");
    assert_eq!(world.log.count("ecs:StopTask"), 0);

    // WHEN the replica task stops
    let outcome = world.task_stopped(&world.task_stops(&web)).await;

    // THEN ecs-drain stops the daemon task, with its reason, and waits for it
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::StopDaemons {
            tasks: vec![daemon.clone()]
        })
    );
    assert_eq!(world.log.count("ecs:StopTask"), 1);
    assert_eq!(
        world.cluster.stopped_reason(&daemon).as_deref(),
        Some(DAEMON_STOP_REASON)
    );
    assert_eq!(world.task_status(&daemon), "STOPPING");
    assert!(world.action().active);
    let record = world.record();
    assert_eq!(record.daemons_stopped_at, Some(world.start));
    assert_eq!(record.status, DrainStatus::Draining);

    // WHEN the daemon task's STOPPED event arrives (the daemon fixture itself)
    world.cluster.set_task_status(&daemon, "STOPPED");
    let change = stopped_task(&fixture("ecs-task-stopped-daemon.json"));
    assert_eq!(change.task_arn, daemon);
    let outcome = world.task_stopped(&change).await;

    // THEN the action completes with CONTINUE, and the daemon was asked to stop only once
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
    assert_eq!(world.log.count("ecs:StopTask"), 1);
}

#[tokio::test]
async fn a_duplicate_lifecycle_notice_neither_restarts_nor_completes_twice() {
    // GIVEN a drain waiting for one task
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let first = world.record();

    // WHEN the same notice is delivered again a minute later
    world.clock.advance(60);
    let outcome = world.terminate().await;

    // THEN the existing drain carries on: same start, not re-inserted, instance untouched
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    let record = world.record();
    assert_eq!(record.started_at, first.started_at);
    assert_eq!(record.deadline_at, first.deadline_at);
    assert!(record.revision > first.revision);
    assert_eq!(world.log.count("ecs:UpdateContainerInstancesState"), 1);
    // (the redelivery reads the hook again before its insert finds the drain on file)
    assert_eq!(world.log.count("autoscaling:DescribeLifecycleHooks"), 2);
    // AND its check stays where the first notice booked it
    assert_eq!(world.booked_check(), first.next_check_at);
    assert_eq!(record.next_check_at, first.next_check_at);

    // WHEN the task stops, and the notice is delivered a third time after completion
    world.task_stopped(&world.task_stops(&web)).await;
    world.log.clear();
    let outcome = world.terminate().await;

    // THEN Auto Scaling, asked first, no longer holds the instance for the action: refused,
    // one completion in all, no write
    assert!(
        matches!(
            outcome,
            Outcome::Refused {
                refusal: Refusal::NotTerminating { .. }
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.record().status, DrainStatus::Completed);
    assert_eq!(
        world.log.calls(),
        vec![
            "ecs:ListContainerInstances",
            "autoscaling:DescribeAutoScalingInstances"
        ]
    );
}

#[tokio::test]
async fn a_redelivered_notice_of_an_ended_drain_still_held_by_auto_scaling_is_already_finished() {
    // GIVEN a drain that completed, its instance still reported waiting on the hook (Auto
    // Scaling's view can lag the completion)
    let world = World::new();
    world.terminate().await;
    let finished = world.record();
    assert_eq!(finished.status, DrainStatus::Completed);
    world.hooks.set_lifecycle_state(
        EC2_INSTANCE,
        world.notice.action.hook.asg_name.as_str(),
        "Terminating:Wait",
    );
    // (the completion left the drain's one-shot check to fire: it stays as it is)
    let left_booked = world.booked_check();
    world.log.clear();

    // WHEN the notice is delivered again
    let outcome = world.terminate().await;

    // THEN its insert finds the ended drain: nothing more is written or booked
    assert_eq!(outcome, Outcome::AlreadyFinished);
    assert_eq!(world.record(), finished);
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.log.count("dynamodb:PutItem"), 1, "the failed insert");
    assert_eq!(world.log.count("scheduler:CreateSchedule"), 0);
    assert_eq!(world.booked_check(), left_booked);
}

#[tokio::test]
async fn a_stale_lifecycle_token_never_restarts_a_finished_drain() {
    // GIVEN a drain that completed
    let world = World::new();
    world.terminate().await;
    let finished = world.record();
    assert_eq!(finished.status, DrainStatus::Completed);
    world.log.clear();

    // WHEN an older action for the instance arrives, and then one with no send time
    let older = world.notice_with(
        "01d01d01-48eb-45e7-aba6-799ea6093a0f",
        Some(NOTICE_SENT.plus_seconds(-3600)),
    );
    let undated = world.notice_with("0da7ed00-48eb-45e7-aba6-799ea6093a0f", None);
    let older_outcome = world.deliver(&older).await.expect("handled");
    let undated_outcome = world.deliver(&undated).await.expect("handled");

    // THEN Auto Scaling, asked first, holds the instance for neither: both refused
    for outcome in [&older_outcome, &undated_outcome] {
        assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    }

    // WHEN the instance waits on the terminate hook again (a newer action, whose notice has
    // not come) and both old notices are delivered again
    world.hooks.set_lifecycle_state(
        EC2_INSTANCE,
        world.notice.action.hook.asg_name.as_str(),
        "Terminating:Wait",
    );
    let older_outcome = world.deliver(&older).await.expect("handled");
    let undated_outcome = world.deliver(&undated).await.expect("handled");

    // THEN their inserts find the finished drain and both are stale: the record, the
    // instance and the hooks are untouched, nothing is written but the two failed inserts
    assert_eq!(older_outcome, Outcome::Stale);
    assert_eq!(undated_outcome, Outcome::Stale);
    assert_eq!(world.record(), finished);
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.log.count("dynamodb:PutItem"), 2);
    assert_eq!(world.log.count("dynamodb:GetItem"), 0);
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
    assert_eq!(world.log.count("scheduler:CreateSchedule"), 0);
}

#[tokio::test]
async fn a_newer_lifecycle_token_after_completion_starts_a_new_drain() {
    // GIVEN a drain that completed, and the instance back in service (e.g. from a warm pool)
    let world = World::new();
    world.terminate().await;
    let old = world.record();
    world.set_instance_status("ACTIVE");
    let web = world.run_task("web-1", "service:web");

    // WHEN a newer action for the instance arrives an hour later
    world.clock.advance(3600);
    let newer = world.notice_with(
        "9e3c5a71-0b2d-4f6e-8a9c-1d2e3f4a5b6c",
        Some(NOTICE_SENT.plus_seconds(3600)),
    );
    world.hooks.begin(&newer.action);
    let outcome = world.deliver(&newer).await.expect("handled");

    // THEN it replaces the record with a new drain of the new action
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    let record = world.record();
    assert_eq!(record.token, newer.action.token);
    assert_eq!(record.status, DrainStatus::Draining);
    assert_eq!(record.started_at, world.start.plus_seconds(3600));
    assert_eq!(record.noticed_at, NOTICE_SENT.plus_seconds(3600));
    assert_eq!(record.finished_at, None);
    assert!(record.revision > old.revision);
    assert_eq!(world.instance_status(), "DRAINING");

    // WHEN its task stops
    world.task_stopped(&world.task_stops(&web)).await;

    // THEN the new action completes, and the old one was completed once only
    let new_action = world.hooks.action(&newer.action.token).expect("begun");
    assert_eq!(new_action.completions, 1);
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.record().status, DrainStatus::Completed);
}

#[tokio::test]
async fn continues_at_once_when_the_instance_is_not_in_ecs() {
    // GIVEN an EC2 instance that never registered with ECS
    let world = World::new();
    world.cluster.with_state(|state| state.instances.clear());

    // WHEN its terminate lifecycle action arrives
    let outcome = world.terminate().await;

    // THEN the action completes with CONTINUE and no drain is recorded
    assert!(
        matches!(
            outcome,
            Outcome::CompletedUntracked {
                outcome: ActionOutcome::Done,
                ..
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.action().result, Some(LifecycleResult::Continue));
    assert!(world.store.all().is_empty());
    assert_eq!(
        world.log.calls(),
        vec![
            "ecs:ListContainerInstances",
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:CompleteLifecycleAction"
        ]
    );
}

#[tokio::test]
async fn continues_at_once_when_the_container_instance_is_inactive() {
    // GIVEN a container instance already deregistered
    let world = World::new();
    world.set_instance_status("INACTIVE");

    // WHEN its terminate lifecycle action arrives
    let outcome = world.terminate().await;

    // THEN the action completes with CONTINUE, nothing is drained or recorded
    assert!(
        matches!(&outcome, Outcome::CompletedUntracked { reason, .. } if reason.contains("INACTIVE")),
        "{outcome:?}"
    );
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.action().result, Some(LifecycleResult::Continue));
    assert!(world.store.all().is_empty());
    assert_eq!(world.instance_status(), "INACTIVE");
    assert_eq!(world.log.count("ecs:UpdateContainerInstancesState"), 0);
}

#[tokio::test]
async fn a_replayed_notice_is_a_dry_run_by_default() {
    // GIVEN an instance where only a daemon task is left (a live drain would stop it)
    let world = World::new();
    world.add_daemon_service("log-router");
    let daemon = world.run_task("d-1", "service:log-router");

    // WHEN the terminate event is replayed from an archive
    let replayed = terminate_notice(&fixture("lifecycle-terminate-eventbridge-replayed.json"));
    assert!(replayed.replay_name.is_some());
    assert_eq!(
        world.drainer().mode_for(replayed.replay_name.as_deref()),
        Mode::DryRun
    );
    let outcome = world.deliver(&replayed).await.expect("handled");

    // THEN the decision is made from real reads...
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::StopDaemons {
            tasks: vec![daemon.clone()]
        })
    );
    for read in [
        "ecs:ListContainerInstances",
        "dynamodb:GetItem",
        "ecs:ListTasks",
        "ecs:DescribeTasks",
        "ecs:DescribeServices",
    ] {
        assert!(world.log.count(read) > 0, "{read} should have been called");
    }
    // ...and nothing is changed
    for write in [
        "dynamodb:PutItem",
        "ecs:UpdateContainerInstancesState",
        "ecs:StopTask",
        "autoscaling:CompleteLifecycleAction",
        "scheduler:CreateSchedule",
    ] {
        assert_eq!(
            world.log.count(write),
            0,
            "{write} must not be called in a dry run"
        );
    }
    assert!(world.store.all().is_empty());
    assert_eq!(world.instance_status(), "ACTIVE");
    assert_eq!(world.task_status(&daemon), "RUNNING");
    assert!(world.action().active);
    assert_eq!(world.booked_check(), None);
}

#[tokio::test]
async fn a_replayed_stopped_task_does_not_complete_a_live_drain_by_default() {
    // GIVEN a live drain waiting for its last task, which has now stopped
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let before = world.record();
    world.cluster.set_task_status(&web, "STOPPED");

    // WHEN the STOPPED event reaches the function as an archive replay
    let mut payload = fixture("ecs-task-stopped-service.json");
    payload["detail"]["taskArn"] = Value::from(web.as_str());
    payload["replay-name"] = Value::from("debug-drain-2026-11-03");
    let change = stopped_task(&payload);
    let outcome = world.task_stopped(&change).await;

    // THEN it says it would complete, but the action and the record are untouched
    assert!(
        is_complete(&outcome, LifecycleResult::Continue),
        "{outcome:?}"
    );
    assert!(world.action().active);
    assert_eq!(world.action().completions, 0);
    assert_eq!(world.record(), before);
}

#[tokio::test]
async fn a_replayed_notice_acts_when_live_replay_is_allowed() {
    // GIVEN a stack configured to handle replays live, and an instance with only a daemon task
    let mut world = World::new();
    world.config.replay_mode = ReplayMode::Live;
    world.add_daemon_service("log-router");
    let daemon = world.run_task("d-1", "service:log-router");

    // WHEN the terminate event is replayed from an archive
    let replayed = terminate_notice(&fixture("lifecycle-terminate-eventbridge-replayed.json"));
    assert_eq!(
        world.drainer().mode_for(replayed.replay_name.as_deref()),
        Mode::Live
    );
    let outcome = world.deliver(&replayed).await.expect("handled");

    // THEN it drains like a live event
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::StopDaemons {
            tasks: vec![daemon.clone()]
        })
    );
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert_eq!(world.instance_status(), "DRAINING");
    assert_eq!(
        world.cluster.stopped_reason(&daemon).as_deref(),
        Some(DAEMON_STOP_REASON)
    );
    assert!(world.booked_check().is_some());
}

#[tokio::test]
async fn two_concurrent_stopped_events_for_the_last_tasks_complete_once() {
    // GIVEN a drain waiting for two tasks, which both stop at the same moment
    let world = World::new();
    let web_1 = world.run_task("web-1", "service:web");
    let web_2 = world.run_task("web-2", "service:web");
    world.terminate().await;
    let first = world.task_stops(&web_1);
    let second = world.task_stops(&web_2);

    // WHEN both events are handled concurrently, interleaving at every DynamoDB call
    let drainer = world.drainer_over(YieldingStore(world.store.clone()));
    let (one, two) = tokio::join!(
        drainer.on_task_stopped(&first, Mode::Live),
        drainer.on_task_stopped(&second, Mode::Live)
    );
    let outcomes = [one.expect("handled"), two.expect("handled")];

    // THEN exactly one of them completes the action; the other loses the claim, or (the first
    // of the two, for a task the record knows with another still alive) only updated the set
    let completions = outcomes
        .iter()
        .filter(|outcome| is_complete(outcome, LifecycleResult::Continue))
        .count();
    assert_eq!(completions, 1, "{outcomes:?}");
    assert!(
        outcomes.iter().any(|outcome| matches!(
            outcome,
            Outcome::LostRace
                | Outcome::Decided(Decision::Wait {
                    waiting_on: WaitingOn::Tasks,
                    ..
                })
        )),
        "{outcomes:?}"
    );
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 1);
    assert_eq!(world.record().status, DrainStatus::Completed);
}

/// A store in which another invocation's COMPLETING claim of the same drain lands between this
/// invocation's read and its own claim; that invocation then dies before completing.
fn claim_race_store(inner: &MemoryStore) -> impl DrainStore {
    let raced = AtomicBool::new(false);
    InterferingStore {
        inner: inner.clone(),
        interfere: move |store: &MemoryStore, record: &DrainRecord| {
            if record.status == DrainStatus::Completing && !raced.swap(true, Ordering::SeqCst) {
                let current = store
                    .get(&record.container_instance_arn)
                    .expect("the record exists");
                store.put(current.claimed(
                    record.updated_at,
                    "a-claim-whose-holder-dies".into(),
                    LifecycleResult::Continue,
                ));
            }
        },
    }
}

#[tokio::test]
async fn a_check_that_loses_its_claim_books_the_check_that_takes_the_claim_over() {
    // GIVEN a drain whose last task stopped without an event, so its check is what finds it
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let _lost = world.task_stops(&web);

    // WHEN the check fires, and another invocation claims the completion between the check's
    // read and its claim, then dies before completing (seed 63733 of the long simulation)
    let at = world.booked_check().expect("a check is booked");
    world.clock.set(at);
    assert_eq!(world.scheduler.take_due(at), vec![world.instance.clone()]);
    let outcome = world
        .drainer_over(claim_race_store(&world.store))
        .on_check(&world.instance, Mode::Live)
        .await
        .expect("check handled");

    // THEN the check leaves the claim alone but books a check for after the claim's lease
    assert_eq!(outcome, Outcome::LostRace);
    assert_eq!(world.record().status, DrainStatus::Completing);
    assert_eq!(world.action().completions, 0);
    let takeover = world.booked_check().expect("the claim stays watched");
    assert!(takeover > at, "{takeover} > {at}");
    // AND that check takes the lapsed claim over and completes with the claimed result
    let outcome = world.fire_next_check().await;
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
}

#[tokio::test]
async fn a_concurrent_progress_write_does_not_strand_the_completion() {
    // GIVEN a drain whose last task has stopped
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let change = world.task_stops(&web);

    // WHEN another invocation (whose census still saw the task) writes progress between this
    // invocation's read and its completion claim
    let store = progress_race_store(&world.store);
    let outcome = world
        .drainer_over(store)
        .on_task_stopped(&change, Mode::Live)
        .await
        .expect("handled");

    // THEN this invocation, whose census is the newer one, still completes the action
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
}

#[tokio::test]
async fn a_scheduled_check_while_tasks_remain_heartbeats_and_books_the_next() {
    // GIVEN a drain waiting for a standalone task
    let world = World::new();
    world.run_task("report-1", "family:nightly-report");
    world.terminate().await;

    // WHEN its scheduled check fires
    let outcome = world.fire_next_check().await;

    // THEN the hook gets a heartbeat and the next check is booked one interval on
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    let now = world.clock.now();
    assert_eq!(now, NOTICE_SENT.plus_seconds(CHECK_INTERVAL));
    assert_eq!(world.action().heartbeats, 1);
    assert!(world.action().active);
    let record = world.record();
    assert_eq!(record.heartbeats_sent, 1);
    assert_eq!(record.status, DrainStatus::Draining);
    assert_eq!(world.booked_check(), Some(now.plus_seconds(CHECK_INTERVAL)));
    assert_eq!(record.next_check_at, world.booked_check());

    // WHEN checks keep firing until the deadline
    while world
        .booked_check()
        .is_some_and(|at| at < record.deadline_at)
    {
        world.fire_next_check().await;
    }

    // THEN the last graceful check is booked exactly at the deadline, never past it
    assert_eq!(world.booked_check(), Some(record.deadline_at));
    assert_eq!(world.record().heartbeats_sent, world.action().heartbeats);
}

#[tokio::test]
async fn a_check_after_the_action_expired_ends_the_drain_as_expired() {
    // GIVEN a drain waiting for a task, whose lifecycle action then timed out
    let world = World::new();
    world.run_task("web-1", "service:web");
    world.terminate().await;
    world.hooks.expire(&world.notice.action.token);

    // WHEN the scheduled check fires
    let outcome = world.fire_next_check().await;

    // THEN the drain is marked EXPIRED, and no further check is booked
    assert_eq!(outcome, Outcome::ActionGone);
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Expired);
    assert_eq!(record.finished_at, Some(world.clock.now()));
    assert_eq!(record.heartbeats_sent, 0);
    assert_eq!(record.next_check_at, None);
    assert_eq!(
        world.booked_check(),
        None,
        "the check that fired was its last"
    );
    assert_eq!(
        world.log.count("scheduler:CreateSchedule"),
        1,
        "the first only"
    );
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
    assert_eq!(world.action().completions, 0);
}

#[tokio::test]
async fn the_check_a_completed_drain_left_pending_costs_one_read_and_changes_nothing() {
    // GIVEN a drain that completed when its last task stopped, its first check still pending
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    world.task_stopped(&world.task_stops(&web)).await;
    let ended = world.record();
    assert_eq!(ended.status, DrainStatus::Completed);
    world.log.clear();

    // WHEN EventBridge Scheduler fires it at its time (and, as a one-shot schedule with
    // ActionAfterCompletion=DELETE, deletes it after that one invocation)
    let outcome = world.fire_next_check().await;

    // THEN it reads the record once, finds the drain ended, and deletes or writes nothing
    assert_eq!(outcome, Outcome::NotDraining);
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
    assert_eq!(world.record(), ended);
    assert_eq!(world.action().completions, 1);
    // AND no check is left
    assert_eq!(world.booked_check(), None);
}

#[tokio::test]
async fn a_check_that_finds_no_record_costs_one_read_and_deletes_nothing() {
    // GIVEN no drain on record for the instance (its record expired by TTL, say)
    let world = World::new();

    // WHEN a check for it fires
    let outcome = world.fire_check_at(world.start.plus_seconds(60)).await;

    // THEN it reads the record once and does nothing else
    assert_eq!(outcome, Outcome::NotDraining);
    assert_eq!(
        world.log.calls(),
        vec!["scheduler:CreateSchedule", "dynamodb:GetItem"],
        "the test's own booking, then the check's one read"
    );
    assert!(world.store.all().is_empty());
}

#[tokio::test]
async fn a_leftover_check_firing_into_a_new_drain_of_the_instance_is_an_ordinary_look() {
    // GIVEN a drain that completed at once with its check pending, the instance back in
    // service (a warm pool) and scaled in again: a new drain of the same container instance
    let world = World::new();
    world.terminate().await;
    assert!(
        world.booked_check().is_some(),
        "the old drain's check is pending"
    );
    world.set_instance_status("ACTIVE");
    let web = world.run_task("web-1", "service:web");
    world.clock.advance(60);
    let newer = world.notice_with(
        "9e3c5a71-0b2d-4f6e-8a9c-1d2e3f4a5b6c",
        Some(NOTICE_SENT.plus_seconds(60)),
    );
    world.hooks.begin(&newer.action);
    world.deliver(&newer).await.expect("handled");
    let started = world.record();
    assert_eq!(started.status, DrainStatus::Draining);
    // (the new drain's booking moved the one schedule the instance has: same name)
    assert_eq!(world.booked_check(), started.next_check_at);
    world.log.clear();

    // WHEN the old drain's check is delivered anyway (it fired just before the new drain moved
    // it, and Lambda retried the invocation late)
    world.clock.advance(30);
    let outcome = world
        .drainer()
        .on_check(&world.instance, Mode::Live)
        .await
        .expect("handled");

    // THEN it is an ordinary check of the new drain: a census, which finds the task still
    // running, a heartbeat of the new action, and its one check moved one interval on
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.count("ecs:ListTasks"), 2);
    let new_action = world.hooks.action(&newer.action.token).expect("begun");
    assert_eq!(new_action.heartbeats, 1);
    let now = world.clock.now();
    assert_eq!(world.booked_check(), Some(now.plus_seconds(CHECK_INTERVAL)));
    // AND nothing else: no completion, no stop, the new drain as it was started
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
    assert_eq!(world.log.count("ecs:StopTask"), 0);
    assert!(new_action.active);
    assert_eq!(new_action.completions, 0);
    assert_eq!(world.action().completions, 1, "the old action, once");
    let record = world.record();
    assert_eq!(record.token, newer.action.token);
    assert_eq!(record.status, DrainStatus::Draining);
    assert_eq!(record.started_at, started.started_at);
    assert_eq!(record.deadline_at, started.deadline_at);
    assert_eq!(record.next_check_at, world.booked_check());
    assert_eq!(world.task_status(&web), "RUNNING");
}

#[tokio::test]
async fn at_the_deadline_remaining_tasks_are_stopped_then_the_action_continues() {
    // GIVEN a drain whose replica, standalone and daemon tasks never leave
    let world = World::new();
    world.add_daemon_service("log-router");
    let web = world.run_task("web-1", "service:web");
    let report = world.run_task("report-1", "family:nightly-report");
    let daemon = world.run_task("d-1", "service:log-router");
    world.terminate().await;
    let deadline = world.record().deadline_at;

    // WHEN the scheduled checks run up to the deadline
    let mut outcome = Outcome::NotDraining;
    while world.clock.now() < deadline {
        outcome = world.fire_next_check().await;
    }

    // THEN the check at the deadline stops every remaining task with the deadline reason
    assert_eq!(world.clock.now(), deadline);
    assert!(
        matches!(&outcome, Outcome::Decided(Decision::EnforceDeadline { tasks }) if tasks.len() == 3),
        "{outcome:?}"
    );
    for task in [&web, &report, &daemon] {
        assert_eq!(
            world.cluster.stopped_reason(task).as_deref(),
            Some(DEADLINE_STOP_REASON)
        );
        assert_eq!(world.task_status(task), "STOPPING");
    }
    let record = world.record();
    assert_eq!(record.phase, DrainPhase::Enforcing);
    assert_eq!(record.enforced_at, Some(deadline));
    assert_eq!(record.status, DrainStatus::Draining);
    assert!(world.action().active);
    assert_eq!(
        world.booked_check(),
        Some(deadline.plus_seconds(CHECK_INTERVAL))
    );

    // WHEN two of them stop but the standalone task is still inside its stop timeout
    world.cluster.set_task_status(&web, "STOPPED");
    world.cluster.set_task_status(&daemon, "STOPPED");
    let outcome = world.fire_next_check().await;

    // THEN one interval after enforcing, the action completes with CONTINUE anyway
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::Complete {
            result: LifecycleResult::Continue,
            reason: CompletionReason::DeadlineEnforced
        })
    );
    assert_eq!(world.task_status(&report), "STOPPING");
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.action().result, Some(LifecycleResult::Continue));
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Completed);
    assert_eq!(
        record.reason.as_deref(),
        Some(CompletionReason::DeadlineEnforced.describe())
    );
    assert_eq!(world.booked_check(), None);
    // AND each task was asked to stop exactly once
    assert_eq!(world.log.count("ecs:StopTask"), 3);
}

#[tokio::test]
async fn at_the_deadline_policy_abandon_completes_with_abandon() {
    // GIVEN a stack with deadline policy abandon, and a drain whose task never leaves
    let mut world = World::new();
    world.config.policy.deadline_policy = DeadlinePolicy::Abandon;
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let deadline = world.record().deadline_at;

    // WHEN the scheduled check runs at the deadline
    let outcome = world.fire_check_at(deadline).await;

    // THEN the action completes with ABANDON and the task is left as it was
    world.assert_completed_with(
        &outcome,
        LifecycleResult::Abandon,
        CompletionReason::DeadlineAbandoned,
    );
    assert_eq!(world.task_status(&web), "RUNNING");
    assert_eq!(world.log.count("ecs:StopTask"), 0);
}

#[tokio::test]
async fn the_ecs_managed_draining_hook_is_left_to_ecs() {
    // GIVEN a stack handling any hook, and an instance with a running task
    let world = World::new();
    world.run_task("web-1", "service:web");

    // WHEN ECS managed draining's own hook sends a terminate action
    let outcome = world
        .deliver(&world.notice_for_hook(ECS_MANAGED_DRAINING_HOOK))
        .await
        .expect("handled");

    // THEN it is ignored without a single call
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
    assert_eq!(world.instance_status(), "ACTIVE");
}

#[tokio::test]
async fn a_hook_other_than_the_configured_one_is_ignored() {
    // GIVEN a stack handling only the ecs-drain-terminate hook
    let mut world = World::new();
    world.config.hook_name = Some(FIXTURE_HOOK.into());

    // WHEN another hook of the group sends a terminate action
    let outcome = world
        .deliver(&world.notice_for_hook("backup-before-terminate"))
        .await
        .expect("handled");

    // THEN it is ignored without a single call
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
    assert!(world.store.all().is_empty());
}

#[tokio::test]
async fn a_task_event_from_an_unwatched_cluster_makes_no_call() {
    // GIVEN a stack watching only prod-cluster
    let mut world = World::new();
    world.config.clusters = vec!["prod-cluster".into()];

    // WHEN a task stops in staging-cluster
    let change = stopped_task(&fixture("ecs-task-stopped-other-cluster.json"));
    let outcome = world.task_stopped(&change).await;

    // THEN it is ignored without a single call
    assert!(matches!(outcome, Outcome::Ignored { .. }), "{outcome:?}");
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
}

#[tokio::test]
async fn an_instance_already_draining_by_hand_is_drained_without_setting_it_again() {
    // GIVEN an operator already set the container instance DRAINING
    let world = World::new();
    world.set_instance_status("DRAINING");
    world.run_task("web-1", "service:web");

    // WHEN the terminate lifecycle action arrives
    world.terminate().await;

    // THEN the drain is recorded, without another UpdateContainerInstancesState
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert_eq!(world.instance_status(), "DRAINING");
    assert_eq!(world.log.count("ecs:UpdateContainerInstancesState"), 0);
}

#[tokio::test]
async fn a_completion_claim_left_by_a_crashed_invocation_is_taken_over_after_the_lease() {
    // GIVEN a drain whose last task stopped, claimed by an invocation that then died
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let change = world.task_stops(&web);
    let mut claimed = world.record();
    claimed.status = DrainStatus::Completing;
    claimed.updated_at = world.clock.now();
    claimed.revision += 1;
    world
        .store
        .replace(&claimed, claimed.revision - 1)
        .await
        .expect("claimed");

    // WHEN the STOPPED event arrives within the lease
    let outcome = world.task_stopped(&change).await;

    // THEN it leaves the claim alone
    assert_eq!(outcome, Outcome::Decided(Decision::ClaimedElsewhere));
    assert!(world.action().active);

    // WHEN the scheduled check fires after the lease has run out
    assert!(CHECK_INTERVAL > world.config.policy.completing_lease_seconds);
    let outcome = world.fire_next_check().await;

    // THEN it takes the claim over and completes the action, once
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
}

#[tokio::test]
async fn a_takeover_of_a_claim_whose_abandon_was_accepted_sends_and_records_abandon() {
    // GIVEN a drain at its deadline (policy abandon) with a task still running, claimed for
    // ABANDON by an invocation whose completion Auto Scaling accepted before it died
    let mut world = World::new();
    world.config.policy.deadline_policy = DeadlinePolicy::Abandon;
    let web = world.run_task("web-1", "service:web");
    world.terminate().await;
    let draining = world.record();
    world.clock.set(draining.deadline_at);
    let claimed = draining.claimed(
        world.clock.now(),
        "dead-invocation".into(),
        LifecycleResult::Abandon,
    );
    world
        .store
        .replace(&claimed, draining.revision)
        .await
        .expect("claimed");
    world
        .hooks
        .complete(&world.notice.action, LifecycleResult::Abandon)
        .await
        .expect("completion accepted");
    // AND the instance's task is gone by the time anyone looks again
    world.task_stops(&web);

    // WHEN the check fires after the claim's lease has run out
    let lease = world.config.policy.completing_lease_seconds;
    let outcome = world
        .fire_check_at(draining.deadline_at.plus_seconds(lease))
        .await;

    // THEN it sends the claimed ABANDON, not a new CONTINUE, and records what the hook got
    world.assert_completed_with(
        &outcome,
        LifecycleResult::Abandon,
        CompletionReason::SentAgain,
    );
}

#[tokio::test]
async fn a_transient_completion_error_is_retried_and_completes_on_the_retry() {
    // GIVEN an empty instance, and Auto Scaling throttling the next completion
    let world = World::new();
    world.hooks.fail_next_complete(DrainError::transient(
        "autoscaling:CompleteLifecycleAction",
        "Throttling: Rate exceeded",
    ));

    // WHEN the terminate lifecycle action arrives
    let error = world
        .deliver(&world.notice)
        .await
        .expect_err("the completion failed");

    // THEN the handler fails retryably, and the claim is given back
    assert!(error.is_retryable());
    assert_eq!(error.operation(), "autoscaling:CompleteLifecycleAction");
    assert_eq!(world.record().status, DrainStatus::Draining);
    assert!(world.action().active);
    assert_eq!(world.action().completions, 0);

    // WHEN Lambda retries the same event at once
    let outcome = world.terminate().await;

    // THEN the retry completes the action, once
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 2);
}

#[tokio::test]
async fn a_stopped_task_finding_the_check_overdue_heartbeats_before_booking_the_next() {
    // GIVEN a drain whose booked check never fired (lost), and a task still running
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.run_task("web-2", "service:web");
    world.terminate().await;
    let booked = world.booked_check().expect("a check is booked");
    world.scheduler.take_due(booked);
    world.clock.set(booked.plus_seconds(30));

    // WHEN a task stops after the check was due
    world.cluster.set_task_status(&web, "STOPPED");
    world
        .task_stopped(&stopped_event(&web, "service:web"))
        .await;

    // THEN the hook gets its heartbeat before the next check is booked, one interval on
    assert_eq!(world.action().heartbeats, 1);
    assert_eq!(
        world.booked_check(),
        Some(booked.plus_seconds(30 + CHECK_INTERVAL))
    );
}

#[tokio::test]
async fn a_function_without_schedule_settings_never_heartbeats_or_books() {
    // GIVEN a drain started by on-lifecycle (which books checks), whose check is overdue
    let mut world = World::new();
    let web = world.run_task("web-1", "service:web");
    world.run_task("web-2", "service:web");
    world.terminate().await;
    let booked = world.booked_check().expect("a check is booked");
    world.clock.set(booked.plus_seconds(30));
    world.log.clear();

    // WHEN on-task-stopped, configured as the stack configures it (no schedule settings, no
    // heartbeat permission), handles a STOPPED event
    world.config.schedule = None;
    world.cluster.set_task_status(&web, "STOPPED");
    world
        .task_stopped(&stopped_event(&web, "service:web"))
        .await;

    // THEN it leaves the hook and the schedule to on-lifecycle
    assert_eq!(
        world
            .log
            .count("autoscaling:RecordLifecycleActionHeartbeat"),
        0
    );
    assert_eq!(world.log.count("scheduler:CreateSchedule"), 0);
    assert_eq!(world.action().heartbeats, 0);
}

// ---- Trust no notice (issue 9) ----

/// The world after a forged notice: nothing written, nothing drained, nothing completed.
fn assert_nothing_changed(world: &World) {
    assert!(world.store.all().is_empty(), "no drain record");
    assert_eq!(world.instance_status(), "ACTIVE");
    assert!(world.scheduler.all().is_empty(), "no check booked");
    for call in world.log.calls() {
        assert!(
            matches!(
                call,
                "ecs:ListContainerInstances"
                    | "dynamodb:GetItem"
                    | "autoscaling:DescribeAutoScalingInstances"
            ),
            "only reads, got {call}"
        );
    }
}

#[tokio::test]
async fn a_forged_notice_for_an_instance_in_service_changes_nothing() {
    // GIVEN an instance Auto Scaling reports InService: no action holds it
    let world = World::new();
    world.hooks.expire(&world.notice.action.token);
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "InService");
    world.log.clear();

    // WHEN a well-formed notice with a token Auto Scaling never issued arrives
    let forged = world.notice_with("d0d0d0d0-1111-4222-8333-444455556666", Some(NOTICE_SENT));
    let outcome = world.deliver(&forged).await.expect("handled");

    // THEN it is refused with the reason, and the instance keeps running tasks
    assert!(
        matches!(&outcome, Outcome::Refused { refusal: Refusal::NotTerminating { state } } if state.contains("InService")),
        "{outcome:?}"
    );
    assert_nothing_changed(&world);
}

#[tokio::test]
async fn a_notice_naming_another_group_or_an_unknown_instance_changes_nothing() {
    for (reported_group, expected) in [
        (Some("other-asg"), "other_group"),
        (None, "not_in_any_group"),
    ] {
        // GIVEN the instance is terminating in another group, or Auto Scaling does not know it
        let world = World::new();
        match reported_group {
            Some(group) => world
                .hooks
                .set_lifecycle_state(EC2_INSTANCE, group, "Terminating:Wait"),
            None => world.hooks.remove_instance(EC2_INSTANCE),
        }
        world.log.clear();
        // WHEN the notice arrives
        let outcome = world.terminate().await;
        // THEN nothing changes
        assert!(
            matches!(&outcome, Outcome::Refused { refusal } if refusal.name() == expected),
            "{outcome:?}"
        );
        assert_nothing_changed(&world);
    }
}

#[tokio::test]
async fn a_notice_for_an_instance_outside_ecs_is_not_completed_unless_auto_scaling_confirms_it() {
    // GIVEN an EC2 instance that is not in ECS and that Auto Scaling reports InService
    let world = World::new();
    world.cluster.with_state(|state| state.instances.clear());
    world.hooks.expire(&world.notice.action.token);
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "InService");
    world.log.clear();
    // WHEN a notice for it arrives
    let outcome = world.terminate().await;
    // THEN CompleteLifecycleAction is never called
    assert!(matches!(outcome, Outcome::Refused { .. }), "{outcome:?}");
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
}

#[tokio::test]
async fn a_notice_for_another_account_or_region_changes_nothing() {
    let own = FunctionIdentity {
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
    };
    for (account, region, expected) in [
        ("210987654321", "us-east-1", "foreign_account"),
        ("123456789012", "eu-west-1", "foreign_region"),
    ] {
        // GIVEN a terminating instance of the same id here
        let world = World::new();
        world.log.clear();
        // WHEN a notice for another account or region arrives
        let mut notice = world.notice.clone();
        notice.account = Some(account.into());
        notice.region = Some(region.into());
        let outcome = world
            .drainer()
            .on_notice(&notice, Mode::Live, &own)
            .await
            .expect("handled");
        // THEN it is refused before anything is read
        assert!(
            matches!(&outcome, Outcome::Refused { refusal } if refusal.name() == expected),
            "{outcome:?}"
        );
        assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
        assert_eq!(world.instance_status(), "ACTIVE");
    }
    // AND the function's own notice drains
    let world = World::new();
    let outcome = world
        .drainer()
        .on_notice(&world.notice, Mode::Live, &own)
        .await
        .expect("handled");
    assert!(matches!(outcome, Outcome::Decided(_)), "{outcome:?}");
    assert_eq!(world.instance_status(), "DRAINING");
}

#[tokio::test]
async fn an_expired_drain_of_an_instance_that_stays_in_service_gives_its_capacity_back() {
    // GIVEN a drain that started while the instance was Terminating:Wait, with a task left
    let world = World::new();
    world.run_task("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a", "family:batch");
    assert!(matches!(world.terminate().await, Outcome::Decided(_)));
    assert_eq!(world.instance_status(), "DRAINING");
    // AND the action then turns out gone with the instance back in service (it never existed:
    // a token the group did not issue, or an action abandoned while the instance stays)
    world.hooks.expire(&world.notice.action.token);
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "InService");

    // WHEN the drain's check fires
    let outcome = world.fire_next_check().await;

    // THEN the drain is EXPIRED, the container instance ACTIVE again, and the record says why
    assert_eq!(outcome, Outcome::ActionGone);
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Expired);
    assert_eq!(world.instance_status(), "ACTIVE");
    assert!(
        record.reason.as_deref().is_some_and(
            |reason| reason.contains("put back to ACTIVE") && reason.contains("InService")
        ),
        "{record:?}"
    );
}

#[tokio::test]
async fn an_expired_drain_of_an_instance_being_terminated_is_left_alone() {
    // GIVEN a drain with a task left, whose action then timed out (the instance proceeds)
    let world = World::new();
    world.run_task("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a", "family:batch");
    assert!(matches!(world.terminate().await, Outcome::Decided(_)));
    world.hooks.expire(&world.notice.action.token);

    // WHEN the drain's check fires
    let outcome = world.fire_next_check().await;

    // THEN the drain is EXPIRED and the instance stays DRAINING: it is going away
    assert_eq!(outcome, Outcome::ActionGone);
    assert_eq!(world.record().status, DrainStatus::Expired);
    assert_eq!(world.instance_status(), "DRAINING");
    assert!(
        world
            .record()
            .reason
            .as_deref()
            .is_some_and(|reason| reason.contains("Terminating:Proceed")),
        "{:?}",
        world.record()
    );
    assert_eq!(
        world.log.count("ecs:ListContainerInstances"),
        1,
        "no lookup for an instance that goes"
    );
}

#[tokio::test]
async fn an_empty_drain_whose_action_never_existed_gives_its_capacity_back_on_completion() {
    // GIVEN a drain that started with a task left; the action then vanishes, instance InService
    let world = World::new();
    let task = world.run_task("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a", "family:batch");
    assert!(matches!(world.terminate().await, Outcome::Decided(_)));
    world.hooks.expire(&world.notice.action.token);
    world
        .hooks
        .set_lifecycle_state(EC2_INSTANCE, "prod-ecs-asg", "InService");

    // WHEN the last task stops and the completion finds no action
    let outcome = world.task_stopped(&world.task_stops(&task)).await;

    // THEN the drain is EXPIRED and the container instance ACTIVE again
    assert_eq!(outcome, Outcome::ActionGone);
    assert_eq!(world.record().status, DrainStatus::Expired);
    assert_eq!(world.instance_status(), "ACTIVE");
}

#[tokio::test]
async fn a_notice_dated_in_the_future_is_recorded_as_sent_now() {
    // GIVEN a notice whose send time lies a day ahead
    let world = World::new();
    world.run_task("0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a", "family:batch");
    let mut notice = world.notice.clone();
    notice.sent_at = Some(world.start.plus_seconds(86_400));
    // WHEN it starts the drain
    assert!(matches!(
        world.deliver(&notice).await.expect("handled"),
        Outcome::Decided(_)
    ));
    // THEN the record takes it as sent now, so a real later notice is never judged stale by it
    assert_eq!(world.record().noticed_at, world.start);
}

#[tokio::test]
async fn a_stopped_event_for_a_known_task_with_tasks_left_makes_no_ecs_call() {
    // GIVEN a drain whose census saw two web tasks and a daemon
    let world = World::new();
    world.add_daemon_service("log-router");
    let web_1 = world.run_task("web-1", "service:web");
    let web_2 = world.run_task("web-2", "service:web");
    world.run_task("d-1", "service:log-router");
    world.terminate().await;
    let alive = world.record().alive.expect("the start's census is kept");
    assert_eq!(
        (alive.counts().replica, alive.counts().daemon),
        (2, 1),
        "{alive:?}"
    );

    // WHEN the first web task stops
    world.log.clear();
    world.clock.advance(5);
    let first = world.task_stops(&web_1);
    let outcome = world.task_stopped(&first).await;

    // THEN the drain keeps waiting on one read and one conditional write, no ECS call
    assert!(
        matches!(
            outcome,
            Outcome::Decided(Decision::Wait {
                waiting_on: WaitingOn::Tasks,
                ..
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(
        world.log.calls(),
        vec!["dynamodb:GetItem", "dynamodb:PutItem"]
    );
    let record = world.record();
    let alive = record.alive.expect("set kept");
    assert!(!alive.knows(&web_1) && alive.knows(&web_2), "{alive:?}");

    // WHEN the last web task stops: only the daemon would be left, so a census confirms it,
    // without describing the services again (looked up once per drain)
    world.log.clear();
    let second = world.task_stops(&web_2);
    let outcome = world.task_stopped(&second).await;
    assert!(
        matches!(outcome, Outcome::Decided(Decision::StopDaemons { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.count("ecs:ListTasks"), 2);
    assert_eq!(world.log.count("ecs:DescribeServices"), 0);
}

#[tokio::test]
async fn today_s_rule_takes_a_census_on_every_stopped_event() {
    // GIVEN a drain of two web tasks, run with the census rule before issue 11
    let mut world = World::new();
    world.config.policy.census_rule = crate::decision::look::CensusRule::EveryLook;
    let web_1 = world.run_task("web-1", "service:web");
    world.run_task("web-2", "service:web");
    world.terminate().await;

    // WHEN the first task stops THEN it takes a full census
    world.log.clear();
    let first = world.task_stops(&web_1);
    world.task_stopped(&first).await;
    assert_eq!(world.log.count("ecs:ListTasks"), 2);
    assert_eq!(world.log.count("ecs:DescribeTasks"), 1);
}

#[tokio::test]
async fn an_instance_change_catches_a_lost_stopped_event() {
    // GIVEN a drain waiting for one web task next to a daemon
    let world = World::new();
    world.add_daemon_service("log-router");
    let web = world.run_task("web-1", "service:web");
    world.run_task("d-1", "service:log-router");
    world.terminate().await;
    let change = |tasks| crate::event::InstanceStateChange {
        cluster_arn: world.cluster_arn.clone(),
        container_instance_arn: world.instance.clone(),
        tasks: Some(tasks),
        version: Some(2),
        replay_name: None,
    };

    // WHEN the instance reports both tasks still there
    world.log.clear();
    let outcome = world
        .drainer()
        .on_instance_changed(&change(2), Mode::Live)
        .await
        .expect("handled");
    // THEN it tells nothing new: one read, nothing written
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);

    // WHEN the web task stops, its STOPPED event is lost, and the instance reports one task
    world.cluster.set_task_status(&web, "STOPPED");
    world.log.clear();
    let outcome = world
        .drainer()
        .on_instance_changed(&change(1), Mode::Live)
        .await
        .expect("handled");
    // THEN only the daemon can be left: a census confirms it and the daemon is stopped
    assert!(
        matches!(outcome, Outcome::Decided(Decision::StopDaemons { .. })),
        "{outcome:?}"
    );
    assert_eq!(world.log.count("ecs:ListTasks"), 2);
}

mod early;
mod lost_answer;
mod notice;
