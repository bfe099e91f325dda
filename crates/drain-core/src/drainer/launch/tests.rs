//! Stories of launch readiness over the in-memory ports, driven by the real-shaped fixtures
//! (tests/fixtures/README.md names their sources): one launch per test, asserting the final
//! state of the fake world (launch record, lifecycle action, container instance, checks).

use std::sync::Arc;

use serde_json::Value;

use super::*;
use crate::Config;
use crate::census::{ListedTasks, SchedulingStrategy, ServiceFacts, TaskListing};
use crate::config::{LaunchSettings, ScheduleSettings};
use crate::decision::launch::LaunchDeadlinePolicy;
use crate::decision::verify::Refusal;
use crate::event::{LifecycleInput, TerminateNotice, parse_lifecycle_payload};
use crate::handler::handle_lifecycle;
use crate::ids::{ClusterArn, ContainerInstanceArn, TaskArn};
use crate::ports::PortSet;
use crate::testing::ManualClock;
use crate::testing::memory::{
    CallLog, MemoryAction, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};
use crate::time::Clock;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
const OTHER_CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/batch";
/// The container instance of the state-change fixtures (REGISTERING, then ACTIVE).
const NEW_CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2";
/// The container instance of the warm-pool fixtures' instance i-0598c7d356eba48d7.
const WARM_CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
const HEARTBEAT_TIMEOUT: i64 = 300;
/// lifecycle-launch-eventbridge-ecs-drain.json's `time` (2026-11-02T18:40:02Z).
const LAUNCH_SENT: Timestamp = Timestamp(1_793_644_802);

type MemoryDrainer =
    Drainer<PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>>;

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn only_input(payload: &Value) -> LifecycleInput {
    let mut inputs = parse_lifecycle_payload(payload).expect("fixture parses");
    assert_eq!(inputs.len(), 1, "{inputs:?}");
    inputs.remove(0)
}

fn launch_notice(name: &str) -> LaunchNotice {
    match only_input(&fixture(name)) {
        LifecycleInput::Launch(notice) => notice,
        other => panic!("{name} is not a launch notice: {other:?}"),
    }
}

fn instance_change(name: &str) -> ContainerInstanceChange {
    match only_input(&fixture(name)) {
        LifecycleInput::InstanceJoined(change) => change,
        other => panic!("{name} is not a container instance change: {other:?}"),
    }
}

/// The fake account: launch readiness on for hook `ecs-drain-launch` (deadline 900 s,
/// ABANDON), cluster `prod-cluster` watched, checks enabled, the launch fixture's action begun.
struct World {
    log: CallLog,
    cluster: MemoryCluster,
    hooks: MemoryHooks,
    store: MemoryStore,
    scheduler: MemoryScheduler,
    clock: Arc<ManualClock>,
    config: Config,
    notice: LaunchNotice,
}

impl World {
    fn new() -> World {
        let log = CallLog::default();
        let notice = launch_notice("lifecycle-launch-eventbridge-ecs-drain.json");
        let world = World {
            cluster: MemoryCluster::new(log.clone()),
            hooks: MemoryHooks::new(log.clone()),
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log.clone()),
            log,
            clock: Arc::new(ManualClock::new(LAUNCH_SENT.plus_seconds(1))),
            config: Config {
                clusters: vec!["prod-cluster".into()],
                schedule: Some(ScheduleSettings {
                    group: "ecs-drain".into(),
                    role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
                    target_arn: None,
                    dead_letter_arn: None,
                }),
                launch: Some(LaunchSettings {
                    hook_name: "ecs-drain-launch".into(),
                    policy: LaunchPolicy::default(),
                }),
                ..Config::with_table("ecs-drain")
            },
            notice,
        };
        world
            .hooks
            .add_hook(&world.notice.action.hook, HEARTBEAT_TIMEOUT);
        world
            .hooks
            .begin_launch(&world.notice.action, "Pending:Wait");
        world
    }

    fn drainer(&self) -> MemoryDrainer {
        Drainer::new(
            PortSet {
                cluster: self.cluster.clone(),
                hooks: self.hooks.clone(),
                store: self.store.clone(),
                scheduler: self.scheduler.clone(),
                clock: Arc::clone(&self.clock),
            },
            self.config.clone(),
        )
    }

    /// A drainer whose ECS port is `cluster` (a wrapper around the world's).
    fn drainer_over<C: Cluster>(
        &self,
        cluster: C,
    ) -> Drainer<PortSet<C, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>> {
        Drainer::new(
            PortSet {
                cluster,
                hooks: self.hooks.clone(),
                store: self.store.clone(),
                scheduler: self.scheduler.clone(),
                clock: Arc::clone(&self.clock),
            },
            self.config.clone(),
        )
    }

    fn own() -> FunctionIdentity {
        FunctionIdentity {
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
        }
    }

    async fn notify(&self, notice: &LaunchNotice) -> Outcome {
        self.drainer()
            .on_launch(notice, Mode::Live, &World::own())
            .await
            .expect("launch notice handled")
    }

    async fn change(&self, name: &str) -> Outcome {
        self.drainer()
            .on_instance_joined(&instance_change(name), Mode::Live)
            .await
            .expect("state change handled")
    }

    /// The agent registers the new instance as the state-change fixture of `status` says.
    fn register(&self, status: EcsInstanceStatus, agent_connected: bool) {
        self.cluster.register(
            &ClusterArn::new(CLUSTER).expect("arn"),
            &ContainerInstanceArn::new(NEW_CONTAINER_INSTANCE).expect("arn"),
            &self.notice.action.instance_id,
            status,
            agent_connected,
        );
    }

    fn action_result(&self, notice: &LaunchNotice) -> (bool, u32, Option<LifecycleResult>) {
        let action = self.hooks.action(&notice.action.token).expect("action");
        (action.active, action.completions, action.result)
    }
}

fn waiting(waiting_on: LaunchWaitingOn) -> Outcome {
    Outcome::Launch(LaunchOutcome::Waiting { waiting_on })
}

#[tokio::test]
async fn a_launch_completes_continue_only_once_its_agent_is_connected() {
    let world = World::new();
    // GIVEN the launch notice of a new instance whose agent has not registered yet
    assert_eq!(
        world.notify(&world.notice).await,
        waiting(LaunchWaitingOn::Registration)
    );
    let record = world
        .store
        .launch(&world.notice.action.instance_id)
        .expect("recorded");
    assert_eq!(record.status, LaunchStatus::Pending);
    assert_eq!(record.deadline, LAUNCH_SENT.plus_seconds(900));
    assert!(
        world
            .scheduler
            .launch_booked(&world.notice.action.instance_id)
            .is_some(),
        "the safety-net check is booked"
    );
    // WHEN ECS reports it REGISTERING, then ACTIVE with its agent still disconnected
    world.register(EcsInstanceStatus::Registering, false);
    assert_eq!(
        world
            .change("ecs-container-instance-state-change-registering.json")
            .await,
        waiting(LaunchWaitingOn::Registration)
    );
    world.register(EcsInstanceStatus::Active, false);
    assert_eq!(
        world
            .change("ecs-container-instance-state-change-registering.json")
            .await,
        waiting(LaunchWaitingOn::AgentConnection)
    );
    assert_eq!(
        world.action_result(&world.notice),
        (true, 0, None),
        "still held"
    );
    // THEN the state change that shows it ACTIVE and connected completes it with CONTINUE
    world.register(EcsInstanceStatus::Active, true);
    let outcome = world
        .change("ecs-container-instance-state-change-active.json")
        .await;
    assert!(
        matches!(
            &outcome,
            Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Continue,
                reason: LaunchCompletion::Ready,
                action: ActionOutcome::Done
            })
        ),
        "{outcome:?}"
    );
    assert_eq!(
        world.action_result(&world.notice),
        (false, 1, Some(LifecycleResult::Continue))
    );
    let record = world
        .store
        .launch(&world.notice.action.instance_id)
        .expect("kept");
    assert_eq!(record.status, LaunchStatus::Completed);
    assert_eq!(record.reason.as_deref(), Some("ready"));
    assert_eq!(
        record
            .container_instance_arn
            .as_ref()
            .map(ContainerInstanceArn::as_str),
        Some(NEW_CONTAINER_INSTANCE)
    );
    // AND its safety-net check is left to fire: the completion deletes nothing
    let instance = &world.notice.action.instance_id;
    let pending = world
        .scheduler
        .launch_booked(instance)
        .expect("still pending");
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
    let facts = world.drainer().take_facts();
    assert!(facts.is_empty(), "facts are per drainer: {facts:?}");
    // WHEN it fires (a one-shot schedule, gone after its one invocation)
    world.clock.set(pending);
    assert_eq!(
        world.scheduler.take_due_launches(pending),
        vec![instance.clone()]
    );
    world.log.clear();
    let outcome = world.drainer().on_launch_check(instance, Mode::Live).await;
    // THEN it reads the launch record once, finds the launch ended, and changes nothing
    assert_eq!(
        outcome.expect("check handled"),
        Outcome::Launch(LaunchOutcome::NoPendingLaunch)
    );
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
    assert_eq!(world.store.launch(instance), Some(record));
    assert_eq!(world.scheduler.launch_booked(instance), None);
}

#[tokio::test]
async fn a_duplicate_notice_resumes_and_a_finished_one_changes_nothing() {
    let world = World::new();
    world.register(EcsInstanceStatus::Registering, false);
    world.notify(&world.notice).await;
    assert_eq!(
        world.notify(&world.notice).await,
        waiting(LaunchWaitingOn::Registration),
        "the same action again resumes the pending launch"
    );
    assert_eq!(
        world
            .store
            .launch(&world.notice.action.instance_id)
            .map(|r| r.started_at),
        Some(LAUNCH_SENT.plus_seconds(1)),
        "never recorded anew"
    );
    world.register(EcsInstanceStatus::Active, true);
    world
        .change("ecs-container-instance-state-change-active.json")
        .await;
    world.log.clear();
    assert_eq!(world.notify(&world.notice).await, Outcome::AlreadyFinished);
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
    assert_eq!(world.action_result(&world.notice).1, 1, "completed once");
}

#[tokio::test]
async fn an_unrelated_state_change_costs_one_keyed_read() {
    let world = World::new();
    let outcome = world
        .change("ecs-container-instance-state-change.json")
        .await;
    assert_eq!(outcome, Outcome::Launch(LaunchOutcome::NoPendingLaunch));
    assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"]);
}

#[tokio::test]
async fn a_launch_that_never_joins_is_abandoned_at_its_deadline() {
    let world = World::new();
    world.notify(&world.notice).await;
    let drainer = world.drainer();
    let instance = world.notice.action.instance_id.clone();
    // The scheduler plays the checks: each heartbeats the hook and books the next.
    let mut outcome = None;
    for _ in 0..20 {
        let Some(at) = world.scheduler.launch_booked(&instance) else {
            break;
        };
        world.clock.set(at);
        assert_eq!(
            world.scheduler.take_due_launches(at),
            vec![instance.clone()]
        );
        outcome = Some(
            drainer
                .on_launch_check(&instance, Mode::Live)
                .await
                .expect("check"),
        );
    }
    assert!(
        matches!(
            &outcome,
            Some(Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Abandon,
                reason: LaunchCompletion::DeadlinePassed,
                ..
            }))
        ),
        "{outcome:?}"
    );
    assert_eq!(
        world.clock.now(),
        LAUNCH_SENT.plus_seconds(900),
        "at the deadline exactly"
    );
    let (active, completions, result) = world.action_result(&world.notice);
    assert_eq!(
        (active, completions, result),
        (false, 1, Some(LifecycleResult::Abandon))
    );
    assert!(
        world
            .hooks
            .action(&world.notice.action.token)
            .expect("action")
            .heartbeats
            >= 3
    );
    let facts = drainer.take_facts();
    assert!(
        facts.contains(&Fact::Launch(LaunchFact::DeadlinePassed)),
        "{facts:?}"
    );
}

#[tokio::test]
async fn the_deadline_policy_continue_puts_a_silent_instance_in_service() {
    let mut world = World::new();
    world.config.launch = Some(LaunchSettings {
        hook_name: "ecs-drain-launch".into(),
        policy: LaunchPolicy {
            deadline_seconds: 120,
            deadline_policy: LaunchDeadlinePolicy::Continue,
            require_daemons: false,
        },
    });
    world.notify(&world.notice).await;
    world.clock.set(LAUNCH_SENT.plus_seconds(120));
    let outcome = world
        .drainer()
        .on_launch_check(&world.notice.action.instance_id, Mode::Live)
        .await
        .expect("check");
    assert!(
        matches!(
            &outcome,
            Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Continue,
                reason: LaunchCompletion::DeadlinePassed,
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn an_instance_joining_an_unwatched_cluster_is_completed_at_once_with_the_reason() {
    let world = World::new();
    world.notify(&world.notice).await;
    let mut event = fixture("ecs-container-instance-state-change-active.json");
    event["detail"]["clusterArn"] = Value::from(OTHER_CLUSTER);
    event["detail"]["containerInstanceArn"] = Value::from(
        "arn:aws:ecs:us-east-1:123456789012:container-instance/batch/7a6b5c4d3e2f41a0b9c8d7e6f5a4b3c2",
    );
    let LifecycleInput::InstanceJoined(change) = only_input(&event) else {
        panic!("a state change");
    };
    world.log.clear();
    let outcome = world
        .drainer()
        .on_instance_joined(&change, Mode::Live)
        .await
        .expect("handled");
    assert!(
        matches!(&outcome, Outcome::Launch(LaunchOutcome::Completed { result: LifecycleResult::Continue, reason: LaunchCompletion::UnwatchedCluster { cluster_arn }, .. }) if cluster_arn.as_str() == OTHER_CLUSTER),
        "{outcome:?}"
    );
    assert_eq!(
        world.log.count("ecs:ListContainerInstances"),
        0,
        "the event says enough"
    );
    let record = world
        .store
        .launch(&world.notice.action.instance_id)
        .expect("kept");
    assert_eq!(record.reason.as_deref(), Some("unwatched_cluster"));
}

#[tokio::test]
async fn daemons_are_waited_for_when_asked() {
    let mut world = World::new();
    world.config.launch = Some(LaunchSettings {
        hook_name: "ecs-drain-launch".into(),
        policy: LaunchPolicy {
            require_daemons: true,
            ..LaunchPolicy::default()
        },
    });
    let cluster = ClusterArn::new(CLUSTER).expect("arn");
    world.cluster.add_service(
        &cluster,
        ServiceFacts {
            name: "log-router".into(),
            scheduling_strategy: Some(SchedulingStrategy::Daemon),
            minimum_healthy_percent: Some(0),
            maximum_percent: Some(100),
        },
    );
    world.register(EcsInstanceStatus::Active, true);
    assert_eq!(
        world.notify(&world.notice).await,
        waiting(LaunchWaitingOn::Daemons {
            missing: vec!["log-router".into()]
        })
    );
    let task = TaskArn::new(
        "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a",
    )
    .expect("arn");
    world.cluster.add_task(
        &ContainerInstanceArn::new(NEW_CONTAINER_INSTANCE).expect("arn"),
        &task,
        "service:log-router",
    );
    let outcome = world
        .change("ecs-container-instance-state-change-active.json")
        .await;
    assert!(
        matches!(
            &outcome,
            Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Continue,
                reason: LaunchCompletion::Ready,
                ..
            })
        ),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_notice_auto_scaling_does_not_hold_on_a_launch_hook_is_refused() {
    let world = World::new();
    world.hooks.set_lifecycle_state(
        world.notice.action.instance_id.as_str(),
        "prod-ecs-asg",
        "InService",
    );
    let outcome = world.notify(&world.notice).await;
    assert!(
        matches!(&outcome, Outcome::Refused { refusal: Refusal::NotLaunching { state } } if state.contains("InService")),
        "{outcome:?}"
    );
    assert_eq!(
        world.store.launch(&world.notice.action.instance_id),
        None,
        "nothing written"
    );
}

#[tokio::test]
async fn another_hook_or_launch_readiness_off_is_ignored() {
    let mut world = World::new();
    let other = launch_notice("lifecycle-launch-eventbridge.json");
    assert!(matches!(
        world.notify(&other).await,
        Outcome::Ignored { .. }
    ));
    world.config.launch = None;
    assert!(matches!(
        world.notify(&world.notice).await,
        Outcome::Ignored { .. }
    ));
    assert!(world.log.calls().is_empty(), "{:?}", world.log.calls());
}

/// An instance scaled in to the warm pool: its terminate action drained it as today (DRAINING,
/// completed at once with nothing running), and in the pool its agent disconnected. Returns its
/// cluster, container instance and terminate notice.
async fn drained_into_the_warm_pool(
    world: &World,
) -> (ClusterArn, ContainerInstanceArn, TerminateNotice) {
    let cluster = ClusterArn::new(CLUSTER).expect("arn");
    let warm = ContainerInstanceArn::new(WARM_CONTAINER_INSTANCE).expect("arn");
    let terminate = match only_input(&fixture(
        "lifecycle-terminate-eventbridge-to-warm-pool.json",
    )) {
        LifecycleInput::Terminate(notice) => notice,
        other => panic!("{other:?}"),
    };
    assert!(terminate.goes_to_warm_pool());
    world
        .cluster
        .add_instance(&cluster, &warm, &terminate.action.instance_id);
    world
        .hooks
        .add_hook(&terminate.action.hook, HEARTBEAT_TIMEOUT);
    world.hooks.begin(&terminate.action);
    world.clock.set(Timestamp(1_793_645_030));
    let drained = world
        .drainer()
        .on_notice(&terminate, Mode::Live, &World::own())
        .await
        .expect("terminate handled");
    assert!(matches!(drained, Outcome::Decided(_)), "{drained:?}");
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("DRAINING")
    );
    assert_eq!(
        world
            .hooks
            .action(&terminate.action.token)
            .map(|a| a.result),
        Some(Some(LifecycleResult::Continue)),
        "nothing ran on it: completed at once"
    );
    // In the warm pool the instance is stopped: its agent disconnects.
    world.cluster.register(
        &cluster,
        &warm,
        &terminate.action.instance_id,
        EcsInstanceStatus::Draining,
        false,
    );
    (cluster, warm, terminate)
}

#[tokio::test]
async fn a_warm_pool_round_trip_ends_with_the_container_instance_active() {
    let mut world = World::new();
    // GIVEN an instance ecs-drain drained into the warm pool
    let (cluster, warm, terminate) = drained_into_the_warm_pool(&world).await;
    // WHEN it comes back (launch action, Origin WarmPool) and its agent reconnects
    let back = launch_notice("lifecycle-launch-eventbridge-from-warm-pool.json");
    assert!(back.returns_from_warm_pool());
    world.hooks.begin_launch(&back.action, "Pending:Wait");
    world.clock.set(Timestamp(1_793_646_312));
    world.config.launch = world.config.launch.clone();
    let outcome = world.notify(&back).await;
    // THEN ecs-drain sets it ACTIVE (it drained it) and completes once the agent is connected
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("ACTIVE")
    );
    assert_eq!(outcome, waiting(LaunchWaitingOn::AgentConnection));
    world.cluster.register(
        &cluster,
        &warm,
        &back.action.instance_id,
        EcsInstanceStatus::Active,
        true,
    );
    let mut event = fixture("ecs-container-instance-state-change-active.json");
    event["detail"]["containerInstanceArn"] = Value::from(WARM_CONTAINER_INSTANCE);
    event["detail"]["ec2InstanceId"] = Value::from(back.action.instance_id.as_str());
    let LifecycleInput::InstanceJoined(change) = only_input(&event) else {
        panic!("a state change");
    };
    let outcome = world
        .drainer()
        .on_instance_joined(&change, Mode::Live)
        .await
        .expect("ok");
    assert!(
        matches!(
            &outcome,
            Outcome::Launch(LaunchOutcome::Completed {
                result: LifecycleResult::Continue,
                reason: LaunchCompletion::Ready,
                ..
            })
        ),
        "{outcome:?}"
    );
    let record = world.store.launch(&back.action.instance_id).expect("kept");
    assert!(record.reactivated);
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("ACTIVE")
    );
    let drain = world
        .store
        .get(&warm)
        .expect("the drain record is untouched");
    assert_eq!(
        drain.token, terminate.action.token,
        "launch and drain never clobber"
    );
}

#[tokio::test]
async fn a_draining_instance_ecs_drain_did_not_drain_is_left_alone() {
    let world = World::new();
    let back = launch_notice("lifecycle-launch-eventbridge-from-warm-pool.json");
    let cluster = ClusterArn::new(CLUSTER).expect("arn");
    let warm = ContainerInstanceArn::new(WARM_CONTAINER_INSTANCE).expect("arn");
    world.cluster.register(
        &cluster,
        &warm,
        &back.action.instance_id,
        EcsInstanceStatus::Draining,
        true,
    );
    world.hooks.begin_launch(&back.action, "Pending:Wait");
    world.clock.set(Timestamp(1_793_646_312));
    assert_eq!(
        world.notify(&back).await,
        waiting(LaunchWaitingOn::DrainedByOthers)
    );
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("DRAINING")
    );
}

#[tokio::test]
async fn a_replayed_launch_is_a_dry_run_that_writes_nothing() {
    let world = World::new();
    let mut payload = fixture("lifecycle-launch-eventbridge-ecs-drain.json");
    payload["replay-name"] = Value::from("rehearsal");
    world.register(EcsInstanceStatus::Active, true);
    let report = handle_lifecycle(&world.drainer(), &payload, &World::own())
        .await
        .expect("handled");
    assert!(report.dry_run);
    assert_eq!(report.outcomes, vec!["launch_continued"]);
    assert_eq!(world.store.launch(&world.notice.action.instance_id), None);
    assert_eq!(world.action_result(&world.notice), (true, 0, None));
}

#[tokio::test]
async fn the_handler_routes_launches_state_changes_and_launch_checks() {
    let world = World::new();
    let drainer = world.drainer();
    let own = World::own();
    let report = handle_lifecycle(
        &drainer,
        &fixture("lifecycle-launch-eventbridge-ecs-drain.json"),
        &own,
    )
    .await
    .expect("launch");
    assert_eq!(report.outcomes, vec!["launch_waiting"]);
    world.register(EcsInstanceStatus::Active, false);
    let report = handle_lifecycle(
        &drainer,
        &fixture("ecs-container-instance-state-change-registering.json"),
        &own,
    )
    .await
    .expect("change");
    assert_eq!(report.outcomes, vec!["launch_waiting"]);
    world.register(EcsInstanceStatus::Active, true);
    let check = serde_json::json!({ "ecsDrainLaunchCheck": { "ec2InstanceId": world.notice.action.instance_id.as_str() } });
    let report = handle_lifecycle(&drainer, &check, &own)
        .await
        .expect("check");
    assert_eq!(report.outcomes, vec!["launch_continued"]);
    let report = handle_lifecycle(&drainer, &check, &own)
        .await
        .expect("check again");
    assert_eq!(report.outcomes, vec!["no_pending_launch"]);
}

#[tokio::test]
async fn a_late_launch_notice_books_its_first_check_from_when_the_action_began() {
    let world = World::new();
    // GIVEN a launch notice handled 200 s after Auto Scaling sent it (a slow or redelivered
    // event): the hook's 300 s heartbeat timer runs since the action began
    world.clock.set(LAUNCH_SENT.plus_seconds(200));
    // WHEN it is handled
    assert_eq!(
        world.notify(&world.notice).await,
        waiting(LaunchWaitingOn::Registration)
    );
    // THEN the first check (which heartbeats) fires one interval (240 s) after the action
    // began, before the hook times out, not one interval after the late handling
    let booked = world
        .scheduler
        .launch_booked(&world.notice.action.instance_id)
        .expect("the safety-net check is booked");
    assert_eq!(booked, LAUNCH_SENT.plus_seconds(240));
    assert!(booked < LAUNCH_SENT.plus_seconds(HEARTBEAT_TIMEOUT));
}

/// A pending launch whose first check (which heartbeats) is booked 240 s after the action
/// began, the plan's 60 s margin inside the hook's 300 s heartbeat timeout, and its notice
/// delivered again `at` seconds after the action began: the check then booked and the action.
async fn notice_redelivered_at(world: &World, at: i64) -> (Option<Timestamp>, MemoryAction) {
    let instance = &world.notice.action.instance_id;
    world.notify(&world.notice).await;
    let first = world.scheduler.launch_booked(instance);
    assert_eq!(first, Some(LAUNCH_SENT.plus_seconds(240)));
    world.clock.set(LAUNCH_SENT.plus_seconds(at));
    let outcome = world.notify(&world.notice).await;
    assert_eq!(outcome, waiting(LaunchWaitingOn::Registration));
    let action = world.hooks.action(&world.notice.action.token);
    (
        world.scheduler.launch_booked(instance),
        action.expect("action"),
    )
}

#[tokio::test]
async fn a_redelivered_notice_that_moves_the_check_later_heartbeats_first() {
    // (redelivered at, check moved to, story) in seconds after the action began
    let cases = [
        (
            200,
            440,
            "past when the hook would time out without a heartbeat",
        ),
        (
            50,
            290,
            "inside the timeout, 10 s to spare for a late check (seed 58)",
        ),
    ];
    for (at, moved_to, story) in cases {
        let world = World::new();
        // GIVEN a pending launch whose first check is booked 240 s after the action began
        // WHEN the notice is delivered again and the look moves the check later
        let (booked, action) = notice_redelivered_at(&world, at).await;
        assert_eq!(booked, Some(LAUNCH_SENT.plus_seconds(moved_to)), "{story}");
        // THEN the look heartbeated the hook first: the moved check keeps the whole margin
        assert!(action.active, "{story}");
        assert_eq!(action.heartbeats, 1, "{story}");
    }
}

/// The world's ECS, except that its next UpdateContainerInstancesState to ACTIVE fails (the
/// invocation dies there, as a timed-out Lambda does) and changes nothing. (No daemon
/// services: the launches it serves do not wait for daemons.)
struct ActivationFails {
    inner: MemoryCluster,
    failed: std::sync::atomic::AtomicBool,
}

impl Cluster for ActivationFails {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2_instance_id: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        self.inner
            .find_container_instance(clusters, ec2_instance_id)
            .await
    }

    async fn set_draining(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.inner.set_draining(instance).await
    }

    async fn set_active(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        if !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(DrainError::transient(
                "ecs:UpdateContainerInstancesState",
                "the invocation timed out",
            ));
        }
        self.inner.set_active(instance).await
    }

    async fn list_tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<ListedTasks, DrainError> {
        self.inner.list_tasks_on(cluster, instance).await
    }

    async fn describe_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[String],
    ) -> Result<TaskListing, DrainError> {
        self.inner.describe_tasks(cluster, tasks).await
    }

    async fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        self.inner.services(cluster, names).await
    }

    async fn stop_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        self.inner.stop_tasks(cluster, tasks, reason).await
    }
}

#[tokio::test]
async fn a_warm_pool_return_that_dies_before_setting_active_is_reactivated_on_redelivery() {
    let world = World::new();
    // GIVEN an instance ecs-drain drained into the warm pool, back with its launch action
    let (_, warm, _) = drained_into_the_warm_pool(&world).await;
    let back = launch_notice("lifecycle-launch-eventbridge-from-warm-pool.json");
    world.hooks.begin_launch(&back.action, "Pending:Wait");
    world.clock.set(Timestamp(1_793_646_312));
    // WHEN the first look's invocation dies setting the container instance ACTIVE
    let dying = world.drainer_over(ActivationFails {
        inner: world.cluster.clone(),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let died = dying.on_launch(&back, Mode::Live, &World::own()).await;
    assert!(died.is_err(), "{died:?}");
    // THEN the record does not say it was reactivated
    let record = world
        .store
        .launch(&back.action.instance_id)
        .expect("recorded");
    assert!(!record.reactivated);
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("DRAINING")
    );
    // AND the redelivered notice sets it ACTIVE, so it does not stay DRAINING in service
    world.clock.set(Timestamp(1_793_646_320));
    assert_eq!(
        dying
            .on_launch(&back, Mode::Live, &World::own())
            .await
            .expect("handled"),
        waiting(LaunchWaitingOn::AgentConnection)
    );
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("ACTIVE")
    );
    assert!(
        world
            .store
            .launch(&back.action.instance_id)
            .expect("kept")
            .reactivated
    );
}

/// An instance scaled in to the warm pool while a task still ran on it: its drain waits.
/// Returns its cluster, container instance, terminate notice and task.
async fn draining_into_the_warm_pool(
    world: &World,
) -> (ClusterArn, ContainerInstanceArn, TerminateNotice, TaskArn) {
    let cluster = ClusterArn::new(CLUSTER).expect("arn");
    let warm = ContainerInstanceArn::new(WARM_CONTAINER_INSTANCE).expect("arn");
    let terminate = match only_input(&fixture(
        "lifecycle-terminate-eventbridge-to-warm-pool.json",
    )) {
        LifecycleInput::Terminate(notice) => notice,
        other => panic!("{other:?}"),
    };
    world
        .cluster
        .add_instance(&cluster, &warm, &terminate.action.instance_id);
    let task = TaskArn::new("arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/0a1b2c3d4e5f")
        .expect("arn");
    world.cluster.add_task(&warm, &task, "service:web");
    world
        .hooks
        .add_hook(&terminate.action.hook, HEARTBEAT_TIMEOUT);
    world.hooks.begin(&terminate.action);
    world.clock.set(Timestamp(1_793_645_030));
    let drained = world
        .drainer()
        .on_notice(&terminate, Mode::Live, &World::own())
        .await
        .expect("terminate handled");
    assert!(
        matches!(
            drained,
            Outcome::Decided(crate::decision::Decision::Wait { .. })
        ),
        "{drained:?}"
    );
    (cluster, warm, terminate, task)
}

/// The instance of `terminate`, stopped in the warm pool (DRAINING, agent disconnected),
/// comes back: its launch notice (Origin WarmPool) leaves the launch waiting for the agent.
async fn returns_from_the_warm_pool(
    world: &World,
    cluster: &ClusterArn,
    warm: &ContainerInstanceArn,
    terminate: &TerminateNotice,
) {
    world.cluster.register(
        cluster,
        warm,
        &terminate.action.instance_id,
        EcsInstanceStatus::Draining,
        false,
    );
    let back = launch_notice("lifecycle-launch-eventbridge-from-warm-pool.json");
    world.hooks.begin_launch(&back.action, "Pending:Wait");
    world.clock.set(Timestamp(1_793_646_312));
    assert_eq!(
        world.notify(&back).await,
        waiting(LaunchWaitingOn::AgentConnection)
    );
}

#[tokio::test]
async fn a_warm_pool_return_ends_the_drain_its_terminate_action_left_open() {
    let world = World::new();
    // GIVEN an instance scaled in to the warm pool while a task still ran on it: its drain
    // waits, and its terminate action times out (the check that would have seen it was lost)
    let (cluster, warm, terminate, task) = draining_into_the_warm_pool(&world).await;
    world.hooks.expire(&terminate.action.token);
    world.cluster.set_task_status(&task, "STOPPED");
    assert!(world.scheduler.booked(&warm).is_some());
    // WHEN it comes back from the warm pool (launch action, Origin WarmPool)
    returns_from_the_warm_pool(&world, &cluster, &warm, &terminate).await;
    // THEN the drain of its old terminate action is over (its check left to fire and find it
    // ended), and the instance is ACTIVE
    let drain = world.store.get(&warm).expect("the drain record is kept");
    assert_eq!(drain.token, terminate.action.token);
    assert_eq!(drain.status, crate::record::DrainStatus::Expired);
    assert!(
        drain
            .reason
            .as_deref()
            .is_some_and(|why| why.contains("warm pool")),
        "{:?}",
        drain.reason
    );
    assert!(world.scheduler.booked(&warm).is_some());
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
    assert_eq!(
        world.cluster.instance_status(&warm).as_deref(),
        Some("ACTIVE")
    );
    // AND a later terminate of the same instance starts a drain of its own
    let mut later = terminate.clone();
    later.action.token =
        crate::ids::LifecycleToken::new("5e0c2b1a-9f8e-4d7c-b6a5-43210fedcba9").expect("token");
    later.sent_at = Some(Timestamp(1_793_647_000));
    world.hooks.begin(&later.action);
    world.clock.set(Timestamp(1_793_647_001));
    let outcome = world
        .drainer()
        .on_notice(&later, Mode::Live, &World::own())
        .await
        .expect("later terminate handled");
    assert!(matches!(outcome, Outcome::Decided(_)), "{outcome:?}");
    let fresh = world.store.get(&warm).expect("recorded");
    assert_eq!(fresh.token, later.action.token);
    assert_eq!(fresh.started_at, Timestamp(1_793_647_001));
}

#[tokio::test]
async fn a_heartbeat_after_a_claimed_completion_whose_answer_was_lost_records_it_completed() {
    let world = World::new();
    // GIVEN a pending launch whose ABANDON completion (registration failed) was claimed and
    // accepted by Auto Scaling, and whose invocation died before recording it (seed 38949)
    let registration_failed = LaunchCompletion::RegistrationFailed;
    let instance = claimed_and_accepted(&world, 10, registration_failed).await;
    // WHEN the launch's check fires, finds no container instance, and heartbeats the hook
    world.clock.set(LAUNCH_SENT.plus_seconds(240));
    let checked = world.drainer().on_launch_check(&instance, Mode::Live).await;
    let outcome = checked.expect("check handled");
    // THEN the action found gone is that completion: the launch ends COMPLETED with ABANDON,
    // the result the hook got, and nothing is deleted
    assert_eq!(
        outcome,
        Outcome::Launch(LaunchOutcome::CompletedBefore {
            result: LifecycleResult::Abandon
        })
    );
    ended_completed_with_abandon(&world);
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
}

/// A pending launch whose ABANDON completion (for `reason`) is claimed `at` seconds after the
/// action began and accepted by Auto Scaling, its invocation dead before recording it; returns
/// the launch's EC2 instance.
async fn claimed_and_accepted(world: &World, at: i64, reason: LaunchCompletion) -> Ec2InstanceId {
    let instance = world.notice.action.instance_id.clone();
    world.notify(&world.notice).await;
    let pending = world.store.launch(&instance).expect("recorded");
    world.clock.set(LAUNCH_SENT.plus_seconds(at));
    let mut claim = pending.next(world.clock.now());
    claim.status = LaunchStatus::Completing;
    claim.result = Some(LifecycleResult::Abandon);
    claim.reason = Some(reason.name().to_owned());
    let claimed = world.store.replace_launch(&claim, pending.revision).await;
    assert_eq!(claimed.expect("claim written"), WriteOutcome::Written);
    let answer = world
        .hooks
        .complete(&world.notice.action, LifecycleResult::Abandon)
        .await;
    assert_eq!(answer.expect("completed"), ActionAnswer::Accepted);
    instance
}

/// The launch ended COMPLETED with ABANDON, the one result the hook got.
fn ended_completed_with_abandon(world: &World) {
    let record = world.store.launch(&world.notice.action.instance_id);
    let record = record.expect("recorded");
    assert_eq!(
        (record.status, record.result),
        (LaunchStatus::Completed, Some(LifecycleResult::Abandon))
    );
    assert_eq!(
        world.action_result(&world.notice),
        (false, 1, Some(LifecycleResult::Abandon))
    );
}

#[tokio::test]
async fn a_look_at_a_claimed_launch_sends_the_claimed_result_not_a_new_decision() {
    let world = World::new();
    // GIVEN a pending launch whose deadline passed, its ABANDON completion claimed and
    // accepted by Auto Scaling, and its invocation dead before recording it
    claimed_and_accepted(&world, 905, LaunchCompletion::DeadlinePassed).await;
    // WHEN the agent then connects and the state change shows the instance ready
    world.clock.set(LAUNCH_SENT.plus_seconds(930));
    world.register(EcsInstanceStatus::Active, true);
    let outcome = world
        .change("ecs-container-instance-state-change-active.json")
        .await;
    // THEN the look sends the claimed ABANDON again, not a new CONTINUE, and the launch ends
    // COMPLETED with the result the hook got
    let sent_again = Outcome::Launch(LaunchOutcome::Completed {
        result: LifecycleResult::Abandon,
        reason: LaunchCompletion::SentAgain,
        action: ActionOutcome::DoneUnconfirmed,
    });
    assert_eq!(outcome, sent_again);
    ended_completed_with_abandon(&world);
}

#[tokio::test]
async fn a_warm_pool_return_completes_the_drain_whose_claimed_completion_was_accepted() {
    let world = World::new();
    // GIVEN an instance draining into the warm pool whose last task stopped, and an invocation
    // that claimed the completion, had its CONTINUE accepted, and died before recording it
    let (cluster, warm, terminate, task) = draining_into_the_warm_pool(&world).await;
    world.cluster.set_task_status(&task, "STOPPED");
    world.clock.set(Timestamp(1_793_645_100));
    let draining = world.store.get(&warm).expect("drain recorded");
    world.store.put(draining.claimed(
        world.clock.now(),
        "dead-invocation".into(),
        LifecycleResult::Continue,
    ));
    let accepted = world
        .hooks
        .complete(&terminate.action, LifecycleResult::Continue)
        .await
        .expect("completion accepted");
    assert_eq!(accepted, crate::ports::ActionAnswer::Accepted);
    // WHEN it comes back from the warm pool (launch action, Origin WarmPool)
    returns_from_the_warm_pool(&world, &cluster, &warm, &terminate).await;
    // THEN the drain ends COMPLETED with the result the hook received, not EXPIRED
    let drain = world.store.get(&warm).expect("the drain record is kept");
    assert_eq!(drain.status, crate::record::DrainStatus::Completed);
    assert_eq!(drain.result, Some(LifecycleResult::Continue));
    assert_eq!(
        world
            .hooks
            .action(&terminate.action.token)
            .map(|a| (a.completions, a.result)),
        Some((1, Some(LifecycleResult::Continue)))
    );
    assert_eq!(world.log.count("scheduler:DeleteSchedule"), 0);
}
