//! The simulated world: ECS container instances and tasks, the ECS service scheduler, the Auto
//! Scaling lifecycle hook, the EventBridge bus and the EventBridge Scheduler's one-shot
//! checks, all advanced by a discrete-event queue on a virtual clock.
//!
//! The model follows ARCHITECTURE.md's domain facts: a stopped task goes DEACTIVATING /
//! STOPPING for up to its stopTimeout before STOPPED; ECS replaces replica tasks of a draining
//! instance within minimumHealthyPercent / maximumPercent and never places tasks on it;
//! standalone tasks run to their own end; daemon tasks stop only when someone stops them; the
//! hook applies its DefaultResult (CONTINUE) when the heartbeat or global timeout runs out.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::{Arc, Mutex, MutexGuard};

use drain_core::census::{self, SchedulingStrategy, ServiceFacts, TaskSnapshot};
use drain_core::config::{Config, LaunchSettings, ScheduleSettings};
use drain_core::decision::launch::{LaunchDeadlinePolicy, LaunchPolicy};
use drain_core::decision::spot::SPOT_WARNING_LEAD_SECONDS;
use drain_core::decision::{DeadlinePolicy, hook_global_timeout_seconds};
use drain_core::event::fleet::Placement;
use drain_core::event::{Channel, InstanceStateChange, TaskStateChange, TerminateNotice};
use drain_core::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef,
    LifecycleActionRef, LifecycleToken, TaskArn,
};
use drain_core::ports::{ContainerInstance, LifecycleState};
use drain_core::record::LifecycleResult;
use drain_core::testing::ManualClock;
use drain_core::time::{Clock, Timestamp};

use crate::Settings;
use crate::exec::Yield;
use crate::violation::{Violation, ViolationKind};
use drain_core::testing::Rng;

/// When every simulated run starts (virtual time).
pub const EPOCH: Timestamp = Timestamp(1_800_000_000);
/// The simulated cluster.
pub const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/sim";
const ARN_PREFIX: &str = "arn:aws:ecs:us-east-1:123456789012";
/// The Auto Scaling group every instance belongs to.
pub const ASG_NAME: &str = "sim-asg";
/// The terminating lifecycle hook ecs-drain handles.
pub const HOOK_NAME: &str = "ecs-drain-terminate";
/// The launching lifecycle hook ecs-drain handles.
pub const LAUNCH_HOOK_NAME: &str = "ecs-drain-launch";
/// Seeds the launch and warm-pool stream from the run's seed: a stream of its own, so a seed
/// that draws no launch and no warm pool makes the very draws it made before they existed.
const FLEET_STREAM: u64 = 0x1A_0C4E_5EED;
/// Seeds the Spot stream, likewise its own.
const SPOT_STREAM: u64 = 0x5B07_1A7E;

/// InstanceDrainingRule's filter (infra/template.yaml): runningTasksCount at most this.
const INSTANCE_RULE_MAX_RUNNING: u32 = 5;

/// The world shared by the ports and the event loop.
pub type SharedSimWorld = Arc<Mutex<SimWorld>>;

/// Locks the world; a panic elsewhere must not hide the state from the checks.
pub fn lock(world: &SharedSimWorld) -> MutexGuard<'_, SimWorld> {
    world
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A random number of yields (0–2): where concurrent invocations may interleave.
pub async fn pause(world: &SharedSimWorld) {
    let times = lock(world).rng.below(3) as u32;
    Yield::times(times).await;
}

/// An ECS task's lastStatus, as far as the model needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// Placed, containers starting.
    Pending,
    /// Running.
    Running,
    /// Asked to stop, load balancer deregistering it.
    Deactivating,
    /// Containers got SIGTERM and have up to stopTimeout to exit.
    Stopping,
    /// Gone.
    Stopped,
}

impl TaskStatus {
    /// The lastStatus ECS reports.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "PENDING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Stopped => "STOPPED",
        }
    }

    /// The lastStatus as DescribeTasks reports it, already parsed (as the ECS adapter does).
    pub fn reported(self) -> census::TaskStatus {
        match self {
            TaskStatus::Pending => census::TaskStatus::Pending,
            TaskStatus::Running => census::TaskStatus::Running,
            TaskStatus::Deactivating => census::TaskStatus::Deactivating,
            TaskStatus::Stopping => census::TaskStatus::Stopping,
            TaskStatus::Stopped => census::TaskStatus::Stopped,
        }
    }
}

/// What a task is, from the model's point of view (the truth ecs-drain must infer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// A replica of service `n`.
    Replica(usize),
    /// The daemon of service `n`.
    Daemon(usize),
    /// A RunTask task.
    Standalone,
}

/// Who stopped a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopCause {
    /// The ECS service scheduler (moving a replica off a draining instance).
    Scheduler,
    /// ecs-drain's StopTask.
    EcsDrain,
    /// The task's containers finished on their own.
    Exited,
    /// The EC2 instance was terminated under it.
    InstanceTerminated,
}

/// One simulated task.
#[derive(Clone, Debug)]
pub struct SimTask {
    /// Its ARN.
    pub arn: TaskArn,
    /// Index of the instance it runs on.
    pub instance: usize,
    /// Its kind.
    pub kind: TaskKind,
    /// `service:<name>` or `family:<name>`.
    pub group: String,
    /// lastStatus.
    pub last: TaskStatus,
    /// desiredStatus is RUNNING.
    pub desired_running: bool,
    /// Seconds the containers get between SIGTERM and SIGKILL.
    pub stop_timeout: i64,
    /// ECS event `detail.version`.
    pub version: u64,
    /// Who stopped it.
    pub stop_cause: Option<StopCause>,
    /// When it reached STOPPED.
    pub stopped_at: Option<Timestamp>,
    /// When it was first asked to stop (desiredStatus STOPPED).
    pub stop_asked_at: Option<Timestamp>,
}

impl SimTask {
    /// Alive until lastStatus STOPPED.
    pub fn is_alive(&self) -> bool {
        self.last != TaskStatus::Stopped
    }
}

/// A container instance's ECS status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceStatus {
    /// Takes new tasks.
    Active,
    /// Takes none; ECS moves its replicas away.
    Draining,
    /// The EC2 instance is gone.
    Inactive,
    /// The agent is registering the instance (not ready yet).
    Registering,
    /// The agent's registration failed: it will never join.
    RegistrationFailed,
}

impl InstanceStatus {
    /// ECS's name.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceStatus::Active => "ACTIVE",
            InstanceStatus::Draining => "DRAINING",
            InstanceStatus::Inactive => "INACTIVE",
            InstanceStatus::Registering => "REGISTERING",
            InstanceStatus::RegistrationFailed => "REGISTRATION_FAILED",
        }
    }
}

/// One container instance.
#[derive(Clone, Debug)]
pub struct SimInstance {
    /// Container instance ARN.
    pub arn: ContainerInstanceArn,
    /// EC2 instance id.
    pub ec2: Ec2InstanceId,
    /// ECS status.
    pub status: InstanceStatus,
    /// A container instance is registered on the EC2 instance (false: a new instance whose
    /// agent has not registered yet, invisible to ECS's API).
    pub registered: bool,
    /// `agentConnected`: false while a new agent connects, or while the instance is stopped in
    /// the warm pool.
    pub agent_connected: bool,
    /// Where Auto Scaling has the instance (DescribeAutoScalingInstances).
    pub asg: LifecycleState,
    /// When the instance was truly ready to serve after a launch: its container instance ACTIVE
    /// with the agent connected (a warm-pool return: its agent connected again, ecs-drain's to
    /// set it ACTIVE).
    pub ready_at: Option<Timestamp>,
}

impl SimInstance {
    /// ECS may place tasks on it.
    pub fn placeable(&self) -> bool {
        self.status == InstanceStatus::Active && self.registered && self.agent_connected
    }
}

/// One ECS service.
#[derive(Clone, Debug)]
pub struct SimService {
    /// Name.
    pub name: String,
    /// DAEMON scheduling strategy.
    pub daemon: bool,
    /// desiredCount (replica services).
    pub desired: i64,
    /// deploymentConfiguration.minimumHealthyPercent.
    pub min_percent: i64,
    /// deploymentConfiguration.maximumPercent.
    pub max_percent: i64,
    /// The task definition's stopTimeout.
    pub stop_timeout: i64,
}

/// Which transition a lifecycle action holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// The group terminates the instance, or scales it in to the warm pool.
    Terminate {
        /// `EC2` or `WarmPool`.
        destination: Placement,
    },
    /// The group launches the instance, new or back from the warm pool.
    Launch {
        /// `EC2` or `WarmPool`.
        origin: Placement,
    },
}

/// How a launched instance's ECS agent behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgentPlan {
    /// Registers within two minutes (sometimes REGISTERING first, sometimes connecting a little
    /// after).
    OnTime,
    /// Registers around the launch deadline or after it.
    Late,
    /// Never registers.
    Never,
    /// Registration fails (REGISTRATION_FAILED).
    Fails,
}

/// One lifecycle action: an instance the group is terminating or launching.
#[derive(Clone, Debug)]
pub struct SimAction {
    /// Terminate or launch.
    pub kind: ActionKind,
    /// The hook's heartbeat timeout.
    pub heartbeat_timeout: i64,
    /// Group, hook, instance, token.
    pub action: LifecycleActionRef,
    /// Index of the container instance.
    pub instance: usize,
    /// When the group started terminating the instance.
    pub began_at: Timestamp,
    /// When the heartbeat timer runs out.
    pub heartbeat_due: Timestamp,
    /// When the global timeout runs out.
    pub global_due: Timestamp,
    /// Still waiting for CompleteLifecycleAction.
    pub active: bool,
    /// When the lifecycle notice first reached ecs-drain (the drain's start).
    pub drain_started_at: Option<Timestamp>,
    /// CompleteLifecycleAction calls made for it.
    pub complete_calls: u32,
    /// Those that took effect.
    pub completions: u32,
    /// The result ecs-drain sent.
    pub result: Option<LifecycleResult>,
    /// When ecs-drain completed it.
    pub completed_at: Option<Timestamp>,
    /// When the hook's own timeout ended it (DefaultResult CONTINUE), and which timer.
    pub timed_out: Option<(Timestamp, &'static str)>,
    /// Heartbeats recorded.
    pub heartbeats: u32,
    /// The container instance was DRAINING when the action ended (completed or timed out).
    pub ended_draining: bool,
    /// EC2 reclaimed the (Spot) instance while the action was still open, which ended it.
    pub reclaimed: bool,
}

/// Whose one-shot check EventBridge Scheduler holds: each drain and each pending launch has
/// its own schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CheckKind {
    /// A drain's check (on-lifecycle's on_check).
    Drain,
    /// A pending launch's check (on_launch_check).
    Launch,
}

impl CheckKind {
    /// How the event log names the check ("" for a drain's, "launch " for a launch's).
    pub fn label(self) -> &'static str {
        match self {
            CheckKind::Drain => "",
            CheckKind::Launch => "launch ",
        }
    }
}

/// Virtual seconds since the run's start, as the event log and the violations show time.
pub fn secs(at: Timestamp) -> i64 {
    at.seconds_since(EPOCH)
}

/// What happens next in the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The group starts terminating an instance.
    ScaleIn {
        /// Instance index.
        instance: usize,
    },
    /// An instance refresh launches a new ACTIVE instance.
    Launch,
    /// A PENDING task reaches RUNNING.
    TaskRunning {
        /// Task index.
        task: usize,
    },
    /// A stopping task moves on (DEACTIVATING → STOPPING → STOPPED).
    TaskStep {
        /// Task index.
        task: usize,
    },
    /// A standalone task's containers finish.
    TaskExits {
        /// Task index.
        task: usize,
    },
    /// The ECS service scheduler looks at a service.
    ServiceTick {
        /// Service index.
        service: usize,
    },
    /// The hook's timers may have run out.
    HookTimer {
        /// Action index.
        action: usize,
    },
    /// EventBridge delivers the lifecycle notice to on-lifecycle.
    DeliverNotice {
        /// Action index.
        action: usize,
    },
    /// EventBridge delivers a task's STOPPED event to on-task-stopped.
    DeliverStopped {
        /// Task index.
        task: usize,
        /// The event's `detail.version`.
        version: u64,
    },
    /// The EC2 instance of a finished lifecycle action is gone: what still ran on it dies and
    /// the container instance turns INACTIVE.
    InstanceGone {
        /// Instance index.
        instance: usize,
    },
    /// EventBridge delivers an "ECS Container Instance State Change" of a DRAINING instance
    /// (the only ones the rule routes) to on-task-stopped.
    DeliverInstanceChange {
        /// Instance index.
        instance: usize,
        /// runningTasksCount + pendingTasksCount when ECS emitted it.
        tasks: u32,
        /// The event's `detail.version`.
        version: u64,
    },
    /// A task ECS placed on the instance in the moments before DRAINING took effect shows up
    /// (a placement decided while the instance was still ACTIVE).
    LatePlacement {
        /// Instance index.
        instance: usize,
    },
    /// EventBridge Scheduler fires a one-shot check: a drain's or a pending launch's.
    CheckFires {
        /// Whose check.
        kind: CheckKind,
        /// Instance index.
        instance: usize,
        /// The booked time this firing belongs to.
        booked: Timestamp,
    },
    /// The group launches an instance through its launch hook: a new one (None), or one back
    /// from the warm pool.
    LaunchBegins {
        /// The warm-pool instance coming back, or None for a new EC2 instance.
        instance: Option<usize>,
        /// How its agent behaves.
        agent: AgentPlan,
    },
    /// A launched instance's agent registers it (or fails to).
    AgentRegisters {
        /// Instance index.
        instance: usize,
        /// ACTIVE, REGISTERING or REGISTRATION_FAILED.
        status: InstanceStatus,
        /// `agentConnected` from the start.
        connected: bool,
    },
    /// A registered instance's agent connects; a REGISTERING instance turns ACTIVE with it.
    AgentConnects {
        /// Instance index.
        instance: usize,
    },
    /// EventBridge delivers a launch lifecycle notice to on-lifecycle.
    DeliverLaunchNotice {
        /// Action index.
        action: usize,
    },
    /// EventBridge delivers an "ECS Container Instance State Change" to launch readiness.
    DeliverJoinChange {
        /// Instance index.
        instance: usize,
        /// The status it reported.
        status: InstanceStatus,
        /// The `agentConnected` it reported.
        connected: bool,
        /// The event's `detail.version`.
        version: u64,
    },
    /// EC2 sends a Spot interruption warning for an instance.
    SpotWarning {
        /// Instance index.
        instance: usize,
    },
    /// EventBridge delivers the Spot warning to on-lifecycle.
    DeliverSpotWarning {
        /// Instance index.
        instance: usize,
    },
    /// EC2 reclaims the Spot instance.
    SpotReclaim {
        /// Instance index.
        instance: usize,
    },
    /// An instance scaled in to the warm pool is stopped there: its tasks die, its agent
    /// disconnects, its container instance stays as ecs-drain left it (DRAINING).
    WarmStop {
        /// Instance index.
        instance: usize,
    },
}

impl Event {
    /// Whether this event invokes ecs-drain (rather than changing the world).
    pub fn invokes_drainer(&self) -> bool {
        matches!(
            self,
            Event::DeliverNotice { .. }
                | Event::DeliverStopped { .. }
                | Event::DeliverInstanceChange { .. }
                | Event::CheckFires { .. }
                | Event::DeliverLaunchNotice { .. }
                | Event::DeliverJoinChange { .. }
                | Event::DeliverSpotWarning { .. }
        )
    }
}

#[derive(Debug)]
struct Queued {
    at: Timestamp,
    seq: u64,
    event: Event,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Reversed: BinaryHeap is a max-heap and the earliest event must come out first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// The random knobs of one run, drawn from its seed.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// The hook's heartbeat timeout.
    pub heartbeat_timeout: i64,
    /// Configured graceful phase.
    pub deadline_seconds: i64,
    /// Configured deadline policy.
    pub deadline_policy: DeadlinePolicy,
    /// Chance each copy of an event is lost.
    pub drop_rate: f64,
    /// Chance an event is delivered twice.
    pub dup_rate: f64,
    /// Drains in this run.
    pub drains: usize,
    /// Chance a task reaches STOPPED without ECS emitting any event for it.
    pub silent_rate: f64,
    /// Chance an invocation dies between two of its calls (Lambda timeout, out of memory);
    /// Lambda then retries the event.
    pub crash_rate: f64,
    /// Chance a drained instance gets a task placed just before DRAINING took effect.
    pub late_placement_rate: f64,
    /// The launch hook's heartbeat timeout.
    pub launch_heartbeat_timeout: i64,
    /// Configured launch readiness (deadline and its result).
    pub launch_policy: LaunchPolicy,
    /// Chance a scale-in goes to the warm pool (the instance comes back later).
    pub warm_pool_rate: f64,
}

/// Counters for the summary.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Event copies EventBridge lost.
    pub dropped: u64,
    /// Extra copies EventBridge delivered.
    pub duplicated: u64,
    /// Handler invocations.
    pub invocations: u64,
    /// Batches of same-instant events run interleaved.
    pub concurrent_batches: u64,
    /// Invocations that died between two of their calls.
    pub crashes: u64,
    /// Tasks that stopped without any STOPPED event.
    pub silent_stops: u64,
    /// Instances EC2 reclaimed before any invocation for their notices survived, so that no
    /// drain record could exist (the oracle's `record_could_not_exist`).
    pub reclaimed_before_any_survivor: u64,
}

/// Everything that exists in one simulated run.
#[derive(Debug)]
pub struct SimWorld {
    /// The run's PRNG (world randomness and interleavings).
    pub rng: Rng,
    /// The launch and warm-pool stream (see `FLEET_STREAM`).
    pub fleet: Rng,
    /// The Spot interruption stream.
    pub spot: Rng,
    /// When a Spot interruption warning was sent for an instance (its drain's horizon counts
    /// from there).
    pub spot_warned: BTreeMap<usize, Timestamp>,
    /// When a Spot warning first reached ecs-drain, by instance.
    pub spot_delivered: BTreeMap<usize, Timestamp>,
    /// By instance: the invocations for its terminate notice or Spot warning that began before
    /// EC2 reclaimed it, did not die, and were not refused as stale (past the warning's horizon).
    /// Each could have written the drain record; without one, a reclaimed instance has none.
    pub notice_survivors: BTreeMap<usize, u32>,
    /// The instances the run scales in.
    pub victims: Vec<usize>,
    /// Virtual time, shared with the drainer.
    pub clock: Arc<ManualClock>,
    queue: BinaryHeap<Queued>,
    seq: u64,
    /// The cluster.
    pub cluster_arn: ClusterArn,
    /// Container instances.
    pub instances: Vec<SimInstance>,
    /// Services.
    pub services: Vec<SimService>,
    /// Tasks, alive and stopped.
    pub tasks: Vec<SimTask>,
    /// Lifecycle actions.
    pub actions: Vec<SimAction>,
    /// Each container instance's `detail.version` of its state change events.
    pub instance_versions: Vec<u64>,
    /// The highest revision written so far of each stored item, by key (the store oracle).
    pub revisions: BTreeMap<String, u64>,
    /// EventBridge Scheduler's booked checks, by kind and instance index.
    pub bookings: BTreeMap<(CheckKind, usize), Timestamp>,
    /// The run's knobs.
    pub scenario: Scenario,
    /// The run's settings.
    pub settings: Settings,
    /// What went wrong.
    pub violations: Vec<Violation>,
    /// The event log, when tracing.
    pub trace: Option<Vec<String>>,
    /// Counters.
    pub counters: Counters,
}

impl SimWorld {
    /// Builds the world of `seed`: instances, services, daemons, standalone tasks and the
    /// scale-in events to come. Returns it with the ecs-drain configuration of the run.
    pub fn generate(seed: u64, settings: &Settings) -> (SimWorld, Config) {
        let mut rng = Rng::new(seed);
        let mut fleet = Rng::new(seed ^ FLEET_STREAM);
        let instance_count = rng.range(3, 6) as usize;
        let drains = rng.range(1, 3.min(instance_count as i64 - 1)) as usize;
        let scenario = Scenario {
            heartbeat_timeout: rng.pick(&[120, 300, 600, 900, 3600, 7200]),
            deadline_seconds: rng.pick(&[600, 900, 1800, 3600]),
            deadline_policy: if rng.chance(0.2) {
                DeadlinePolicy::Abandon
            } else {
                DeadlinePolicy::Continue
            },
            drop_rate: rng.unit() * settings.max_drop_rate,
            dup_rate: rng.unit() * 0.3,
            drains,
            silent_rate: rng.unit() * 0.05,
            crash_rate: rng.unit() * settings.max_crash_rate,
            late_placement_rate: rng.unit() * 0.5,
            launch_heartbeat_timeout: fleet.pick(&[300, 600, 900, 3600]),
            launch_policy: LaunchPolicy {
                deadline_seconds: fleet.pick(&[300, 600, 900, 1800]),
                deadline_policy: if fleet.chance(0.5) {
                    LaunchDeadlinePolicy::Abandon
                } else {
                    LaunchDeadlinePolicy::Continue
                },
                require_daemons: false,
            },
            warm_pool_rate: if settings.launches { 0.25 } else { 0.0 },
        };
        let mut config = Config::with_table("ecs-drain-sim");
        config.policy.deadline_seconds = scenario.deadline_seconds;
        config.policy.deadline_policy = scenario.deadline_policy;
        config.policy.census_rule = settings.census_rule;
        config.schedule = Some(ScheduleSettings {
            group: "ecs-drain".into(),
            role_arn: "arn:aws:iam::123456789012:role/ecs-drain-scheduler".into(),
            target_arn: None,
            dead_letter_arn: None,
        });
        if rng.chance(0.5) {
            config.clusters = vec!["sim".into()];
        }
        config.launch = Some(LaunchSettings {
            hook_name: LAUNCH_HOOK_NAME.into(),
            policy: scenario.launch_policy,
        });

        let mut world = SimWorld {
            rng,
            fleet,
            spot: Rng::new(seed ^ SPOT_STREAM),
            spot_warned: BTreeMap::new(),
            spot_delivered: BTreeMap::new(),
            notice_survivors: BTreeMap::new(),
            victims: Vec::new(),
            clock: Arc::new(ManualClock::new(EPOCH)),
            queue: BinaryHeap::new(),
            seq: 0,
            cluster_arn: ClusterArn::new(CLUSTER_ARN)
                .unwrap_or_else(|_| unreachable!("constant ARN is valid")),
            instances: Vec::new(),
            services: Vec::new(),
            tasks: Vec::new(),
            actions: Vec::new(),
            instance_versions: Vec::new(),
            bookings: BTreeMap::new(),
            revisions: BTreeMap::new(),
            scenario,
            settings: settings.clone(),
            violations: Vec::new(),
            trace: settings.trace.then(Vec::new),
            counters: Counters::default(),
        };
        world.populate(instance_count);
        if settings.launches {
            world.plan_launches();
        }
        if settings.spot {
            world.plan_spot();
        }
        (world, config)
    }

    fn populate(&mut self, instance_count: usize) {
        for _ in 0..instance_count {
            self.add_instance();
        }
        let replica_services = self.rng.range(1, 3);
        for index in 0..replica_services {
            let (min_percent, max_percent) = if self.rng.chance(0.05) {
                (100, 100) // can never move its tasks: only the deadline ends such a drain
            } else {
                self.rng.pick(&[
                    (100, 200),
                    (50, 200),
                    (50, 100),
                    (0, 100),
                    (100, 150),
                    (75, 125),
                ])
            };
            let service = SimService {
                name: format!("web-{index}"),
                daemon: false,
                desired: self.rng.range(1, 4),
                min_percent,
                max_percent,
                stop_timeout: self.rng.pick(&[2, 10, 30, 120]),
            };
            let desired = service.desired;
            self.services.push(service);
            let service = self.services.len() - 1;
            for _ in 0..desired {
                let instance = self.rng.below(instance_count as u64) as usize;
                self.add_task(instance, TaskKind::Replica(service), TaskStatus::Running);
            }
        }
        let daemon_services = self.rng.pick(&[0, 1, 1, 1, 2]);
        for index in 0..daemon_services {
            self.services.push(SimService {
                name: format!("log-router-{index}"),
                daemon: true,
                desired: 0,
                min_percent: 0,
                max_percent: 100,
                stop_timeout: self.rng.pick(&[2, 10, 30, 120]),
            });
            let service = self.services.len() - 1;
            for instance in 0..instance_count {
                self.add_task(instance, TaskKind::Daemon(service), TaskStatus::Running);
            }
        }

        let mut victims: Vec<usize> = (0..instance_count).collect();
        self.rng.shuffle(&mut victims);
        victims.truncate(self.scenario.drains);
        self.victims = victims.clone();
        let standalone = self.rng.range(0, 3);
        for _ in 0..standalone {
            // Half of them on an instance that will be drained, where they matter.
            let instance = if self.rng.chance(0.5) {
                self.rng.pick(&victims)
            } else {
                self.rng.below(instance_count as u64) as usize
            };
            let task = self.add_task(instance, TaskKind::Standalone, TaskStatus::Running);
            // Some finish quickly, some long after the drain deadline.
            let runs_for = self.rng.range(5, 2 * self.scenario.deadline_seconds);
            self.push(EPOCH.plus_seconds(runs_for), Event::TaskExits { task });
        }

        let mut at = EPOCH.plus_seconds(self.rng.range(0, 60));
        for instance in victims {
            self.push(at, Event::ScaleIn { instance });
            if !self.rng.chance(0.4) {
                at = at.plus_seconds(self.rng.range(0, 600)); // 40 %: exactly simultaneous
            }
        }
        if self.rng.chance(0.3) {
            let at = EPOCH.plus_seconds(self.rng.range(60, 900));
            self.push(at, Event::Launch);
        }
    }

    /// Adds a running EC2 instance with its container instance ACTIVE and connected.
    pub fn add_instance(&mut self) -> usize {
        let index = self.instances.len();
        let arn =
            ContainerInstanceArn::new(format!("{ARN_PREFIX}:container-instance/sim/{index:032x}"))
                .unwrap_or_else(|_| unreachable!("generated ARN is valid"));
        let ec2 = Ec2InstanceId::new(format!("i-{:017x}", 0xe_c2000 + index))
            .unwrap_or_else(|_| unreachable!("valid id"));
        self.instance_versions.push(1);
        self.instances.push(SimInstance {
            arn,
            ec2,
            status: InstanceStatus::Active,
            registered: true,
            agent_connected: true,
            asg: LifecycleState::InService,
            ready_at: None,
        });
        index
    }

    fn add_task(&mut self, instance: usize, kind: TaskKind, last: TaskStatus) -> usize {
        let index = self.tasks.len();
        let arn = TaskArn::new(format!("{ARN_PREFIX}:task/sim/{index:032x}"))
            .unwrap_or_else(|_| unreachable!("valid ARN"));
        let (group, stop_timeout) = match kind {
            TaskKind::Replica(service) | TaskKind::Daemon(service) => (
                format!("service:{}", self.services[service].name),
                self.services[service].stop_timeout,
            ),
            TaskKind::Standalone => (
                "family:nightly-report".to_owned(),
                self.rng.pick(&[2, 30, 120]),
            ),
        };
        self.tasks.push(SimTask {
            arn,
            instance,
            kind,
            group,
            last,
            desired_running: true,
            stop_timeout,
            version: 1,
            stop_cause: None,
            stopped_at: None,
            stop_asked_at: None,
        });
        index
    }

    /// Virtual now.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Queues `event` at `at`.
    pub fn push(&mut self, at: Timestamp, event: Event) {
        self.seq += 1;
        self.queue.push(Queued {
            at,
            seq: self.seq,
            event,
        });
    }

    /// Takes every event due at the earliest queued time.
    pub fn pop_due(&mut self) -> Option<(Timestamp, Vec<Event>)> {
        let at = self.queue.peek()?.at;
        let mut events = Vec::new();
        while self.queue.peek().is_some_and(|queued| queued.at == at) {
            if let Some(queued) = self.queue.pop() {
                events.push(queued.event);
            }
        }
        Some((at, events))
    }

    /// Adds a line to the event log (built only when tracing).
    pub fn note(&mut self, line: impl FnOnce(&SimWorld) -> String) {
        if self.trace.is_none() {
            return;
        }
        let text = format!("t={:>6}s  {}", self.now().seconds_since(EPOCH), line(self));
        if let Some(trace) = self.trace.as_mut() {
            trace.push(text);
        }
    }

    /// Records a failed check.
    pub fn violate(&mut self, kind: ViolationKind, message: String) {
        let at = self.now();
        self.note(|_| format!("VIOLATION {kind:?}: {message}"));
        self.violations.push(Violation {
            kind,
            at_seconds: at.seconds_since(EPOCH),
            message,
        });
    }

    /// Index of the instance with `arn`.
    pub fn instance_index(&self, arn: &ContainerInstanceArn) -> Option<usize> {
        self.instances
            .iter()
            .position(|instance| &instance.arn == arn)
    }

    /// Index of the instance on EC2 instance `ec2`.
    pub fn ec2_index(&self, ec2: &Ec2InstanceId) -> Option<usize> {
        self.instances
            .iter()
            .position(|instance| &instance.ec2 == ec2)
    }

    /// Index of the task with `arn`.
    pub fn task_index(&self, arn: &TaskArn) -> Option<usize> {
        usize::from_str_radix(arn.id(), 16)
            .ok()
            .filter(|index| self.tasks.get(*index).is_some_and(|task| &task.arn == arn))
    }

    /// The instance as ECS's API shows it.
    pub fn container_instance(&self, index: usize) -> ContainerInstance {
        let instance = &self.instances[index];
        ContainerInstance {
            arn: instance.arn.clone(),
            cluster_arn: self.cluster_arn.clone(),
            ec2_instance_id: instance.ec2.clone(),
            status: drain_core::ports::EcsInstanceStatus::parse(instance.status.as_str()),
            agent_connected: instance.agent_connected,
        }
    }

    /// DescribeTasks' view of a task.
    pub fn snapshot(&self, task: usize) -> TaskSnapshot {
        let task = &self.tasks[task];
        TaskSnapshot {
            arn: task.arn.clone(),
            group: Some(task.group.clone()),
            started_by: matches!(task.kind, TaskKind::Replica(_) | TaskKind::Daemon(_))
                .then(|| "ecs-svc/1234567890".to_owned()),
            last_status: task.last.reported(),
            desired_status: if task.desired_running {
                census::TaskStatus::Running
            } else {
                census::TaskStatus::Stopped
            },
        }
    }

    /// DescribeServices' view of a service.
    pub fn service_facts(&self, service: &SimService) -> ServiceFacts {
        ServiceFacts {
            name: service.name.clone(),
            scheduling_strategy: Some(if service.daemon {
                SchedulingStrategy::Daemon
            } else {
                SchedulingStrategy::Replica
            }),
            minimum_healthy_percent: Some(service.min_percent as i32),
            maximum_percent: Some(service.max_percent as i32),
        }
    }

    /// The live terminate lifecycle action (or the last one) of an instance.
    pub fn action_of(&self, instance: usize) -> Option<usize> {
        self.actions.iter().rposition(|action| {
            action.instance == instance && matches!(action.kind, ActionKind::Terminate { .. })
        })
    }

    /// The drain deadline the checks hold ecs-drain to: the drain's start plus the configured
    /// graceful phase. None when no drain started on the instance.
    pub fn deadline_of(&self, instance: usize) -> Option<Timestamp> {
        let terminate = self.action_of(instance).and_then(|action| {
            Some(
                self.actions[action]
                    .drain_started_at?
                    .plus_seconds(self.scenario.deadline_seconds),
            )
        });
        // A Spot warning's drain ends at its horizon, whatever joins it.
        let horizon = self
            .spot_warned
            .get(&instance)
            .map(|sent| sent.plus_seconds(SPOT_WARNING_LEAD_SECONDS));
        match (terminate, horizon) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Alive tasks on an instance.
    pub fn alive_on(&self, instance: usize) -> impl Iterator<Item = &SimTask> {
        self.tasks
            .iter()
            .filter(move |task| task.instance == instance && task.is_alive())
    }

    /// A human line for a task.
    pub fn describe_task(&self, task: usize) -> String {
        let task = &self.tasks[task];
        let kind = match task.kind {
            TaskKind::Replica(service) => format!("replica of {}", self.services[service].name),
            TaskKind::Daemon(service) => format!("daemon {}", self.services[service].name),
            TaskKind::Standalone => "standalone".to_owned(),
        };
        format!(
            "task {} ({kind}, {}) on ci-{}",
            task.arn.id(),
            task.last.as_str(),
            task.instance
        )
    }

    /// A notice of lifecycle action `action` reaches ecs-drain: the first one starts its drain
    /// (or pending launch) as the checks count it.
    pub fn arrives(&mut self, action: usize) -> &mut SimWorld {
        let now = self.now();
        self.actions[action].drain_started_at.get_or_insert(now);
        self
    }

    /// The lifecycle notice of an action, as EventBridge carries it.
    pub fn notice(&self, action: usize) -> TerminateNotice {
        let action = &self.actions[action];
        let destination = match action.kind {
            ActionKind::Terminate { destination } => destination,
            ActionKind::Launch { .. } => Placement::Ec2,
        };
        TerminateNotice {
            action: action.action.clone(),
            sent_at: Some(action.began_at),
            origin: Some("AutoScalingGroup".into()),
            destination: Some(destination.as_str().into()),
            channel: Channel::EventBridge,
            replay_name: None,
            account: None,
            region: None,
        }
    }

    /// A task's STOPPED event, as EventBridge carries it.
    /// The "ECS Container Instance State Change" of instance `instance` with `tasks` running
    /// or pending.
    pub fn instance_change(
        &self,
        instance: usize,
        tasks: u32,
        version: u64,
    ) -> InstanceStateChange {
        InstanceStateChange {
            cluster_arn: self.cluster_arn.clone(),
            container_instance_arn: self.instances[instance].arn.clone(),
            tasks: Some(tasks),
            version: Some(version),
            replay_name: None,
        }
    }

    /// The "ECS Task State Change" of task `task` at `version`.
    pub fn stopped_event(&self, task: usize, version: u64) -> TaskStateChange {
        let sim = &self.tasks[task];
        TaskStateChange {
            cluster_arn: self.cluster_arn.clone(),
            container_instance_arn: self.instances[sim.instance].arn.clone(),
            task_arn: sim.arn.clone(),
            last_status: "STOPPED".into(),
            desired_status: Some("STOPPED".into()),
            group: Some(sim.group.clone()),
            stopped_reason: Some(format!("{:?}", sim.stop_cause)),
            version: Some(version),
            replay_name: None,
        }
    }

    /// Applies one world event (not a drainer invocation).
    pub fn apply(&mut self, event: Event) {
        let now = self.now();
        match event {
            Event::ScaleIn { instance } => self.scale_in(instance),
            Event::Launch => {
                let instance = self.add_instance();
                self.note(|_| format!("instance refresh launches ci-{instance} (ACTIVE)"));
                for service in 0..self.services.len() {
                    if self.services[service].daemon {
                        let task =
                            self.add_task(instance, TaskKind::Daemon(service), TaskStatus::Pending);
                        let at = now.plus_seconds(self.rng.range(5, 60));
                        self.push(at, Event::TaskRunning { task });
                    } else {
                        self.tick_soon(service);
                    }
                }
            }
            Event::TaskRunning { task } => {
                let sim = &mut self.tasks[task];
                if sim.last == TaskStatus::Pending && sim.desired_running {
                    sim.last = TaskStatus::Running;
                    sim.version += 1;
                    self.note(|w| format!("{} is RUNNING", w.describe_task(task)));
                    if let TaskKind::Replica(service) = self.tasks[task].kind {
                        self.tick_soon(service);
                    }
                }
            }
            Event::TaskStep { task } => self.step_stop(task),
            Event::TaskExits { task } => {
                if self.tasks[task].desired_running && self.tasks[task].is_alive() {
                    self.note(|w| format!("{} finishes its work", w.describe_task(task)));
                    self.begin_stop(task, StopCause::Exited);
                }
            }
            Event::ServiceTick { service } => self.service_tick(service),
            Event::HookTimer { action } => {
                let sim = &self.actions[action];
                if sim.active {
                    let which = if now >= sim.global_due {
                        Some("global timeout")
                    } else if now >= sim.heartbeat_due {
                        Some("heartbeat timeout")
                    } else {
                        None
                    };
                    if let Some(which) = which {
                        let instance = sim.instance;
                        // infra/template.yaml: CONTINUE for the terminate hook, ABANDON for the
                        // launch hook.
                        let default = match sim.kind {
                            ActionKind::Terminate { .. } => LifecycleResult::Continue,
                            ActionKind::Launch { .. } => LifecycleResult::Abandon,
                        };
                        self.actions[action].active = false;
                        self.actions[action].timed_out = Some((now, which));
                        self.note(|_| {
                            format!(
                                "hook {which} on ci-{instance}: DefaultResult {} applied",
                                default.as_str()
                            )
                        });
                        self.action_ended(action, default);
                    }
                }
            }
            Event::InstanceGone { instance } => self.terminate_instance(instance),
            Event::LatePlacement { instance } => self.late_placement(instance),
            Event::LaunchBegins { instance, agent } => self.launch(instance, agent),
            Event::AgentRegisters {
                instance,
                status,
                connected,
            } => self.agent_registers(instance, status, connected),
            Event::AgentConnects { instance } => self.agent_connects(instance),
            Event::WarmStop { instance } => self.warm_stop(instance),
            Event::SpotWarning { instance } => self.spot_warning(instance),
            Event::SpotReclaim { instance } => self.spot_reclaim(instance),
            Event::DeliverNotice { .. }
            | Event::DeliverStopped { .. }
            | Event::DeliverInstanceChange { .. }
            | Event::CheckFires { .. }
            | Event::DeliverLaunchNotice { .. }
            | Event::DeliverJoinChange { .. }
            | Event::DeliverSpotWarning { .. } => {}
        }
    }

    fn scale_in(&mut self, instance: usize) {
        let token_bits = self.rng.next_u64();
        // An instance EC2 reclaims (Spot) never goes to the warm pool.
        let spot = self.spot_warned.contains_key(&instance);
        let destination = if !spot && self.fleet.chance(self.scenario.warm_pool_rate) {
            Placement::WarmPool
        } else {
            Placement::Ec2
        };
        let action = self.begin_action(ActionKind::Terminate { destination }, instance, token_bits);
        self.instances[instance].asg = LifecycleState::TerminatingWait;
        let heartbeat_timeout = self.scenario.heartbeat_timeout;
        let whither = match destination {
            Placement::WarmPool => " to the warm pool",
            _ => "",
        };
        self.note(|_| {
            format!(
                "ASG terminates ci-{instance}{whither}: lifecycle action {action} begins \
                 (heartbeat timeout {heartbeat_timeout}s)"
            )
        });
        let (drop_rate, dup_rate) = (self.scenario.drop_rate, self.scenario.dup_rate);
        let delays = notice_delays(&mut self.rng, drop_rate, dup_rate, &mut self.counters);
        self.deliver_notice_copies(action, &delays, |action| Event::DeliverNotice { action });
    }

    /// Starts lifecycle action `kind` on `instance` (its token from `token_bits`): the hook's
    /// timers run from now. Returns the action's index.
    pub fn begin_action(&mut self, kind: ActionKind, instance: usize, token_bits: u64) -> usize {
        let now = self.now();
        // UUID form, as Auto Scaling issues tokens: random bits, then the instance index.
        let (high, low) = (token_bits >> 32, token_bits & 0xffff_ffff);
        let token = LifecycleToken::new(format!(
            "{high:08x}-{:04x}-4{:03x}-8000-{instance:012x}",
            low >> 16,
            low & 0xfff
        ))
        .unwrap_or_else(|_| unreachable!("valid token"));
        let (hook_name, heartbeat_timeout) = match kind {
            ActionKind::Terminate { .. } => (HOOK_NAME, self.scenario.heartbeat_timeout),
            ActionKind::Launch { .. } => (LAUNCH_HOOK_NAME, self.scenario.launch_heartbeat_timeout),
        };
        let action = SimAction {
            kind,
            heartbeat_timeout,
            action: LifecycleActionRef {
                hook: HookRef {
                    asg_name: AsgName::new(ASG_NAME).unwrap_or_else(|_| unreachable!("valid name")),
                    hook_name: HookName::new(hook_name)
                        .unwrap_or_else(|_| unreachable!("valid name")),
                },
                instance_id: self.instances[instance].ec2.clone(),
                token,
            },
            instance,
            began_at: now,
            heartbeat_due: now.plus_seconds(heartbeat_timeout),
            global_due: now.plus_seconds(hook_global_timeout_seconds(heartbeat_timeout)),
            active: true,
            drain_started_at: None,
            complete_calls: 0,
            completions: 0,
            result: None,
            completed_at: None,
            timed_out: None,
            heartbeats: 0,
            ended_draining: false,
            reclaimed: false,
        };
        let (heartbeat_due, global_due) = (action.heartbeat_due, action.global_due);
        self.actions.push(action);
        let action = self.actions.len() - 1;
        self.push(heartbeat_due, Event::HookTimer { action });
        self.push(global_due, Event::HookTimer { action });
        action
    }

    /// Queues the lifecycle notice copies of `action` that survived the bus, `delays` after now.
    pub fn deliver_notice_copies(
        &mut self,
        action: usize,
        delays: &[Option<i64>],
        event: fn(usize) -> Event,
    ) {
        let now = self.now();
        for delay in delays {
            match delay {
                Some(delay) => self.push(now.plus_seconds(*delay), event(action)),
                None => self.note(|_| format!("bus drops a copy of lifecycle notice {action}")),
            }
        }
    }

    /// A lifecycle action ended (completed with `result`, or timed out to the hook's default):
    /// what the group does with the instance next.
    pub fn action_ended(&mut self, action: usize, result: LifecycleResult) {
        let instance = self.actions[action].instance;
        self.actions[action].ended_draining =
            self.instances[instance].status == InstanceStatus::Draining;
        match (self.actions[action].kind, result) {
            (
                ActionKind::Terminate {
                    destination: Placement::WarmPool,
                },
                _,
            ) => {
                self.instances[instance].asg = LifecycleState::Other("Warmed:Pending".into());
                let at = self.now().plus_seconds(self.fleet.range(20, 120));
                self.push(at, Event::WarmStop { instance });
            }
            (ActionKind::Launch { .. }, LifecycleResult::Continue) => {
                self.instances[instance].asg = LifecycleState::InService;
                for service in 0..self.services.len() {
                    if !self.services[service].daemon {
                        self.tick_soon(service);
                    }
                }
            }
            (ActionKind::Terminate { .. } | ActionKind::Launch { .. }, _) => {
                self.instances[instance].asg = LifecycleState::TerminatingProceed;
                self.schedule_termination(instance);
            }
        }
    }

    /// A task ECS placed before the instance turned DRAINING appears on it now: a replica
    /// (which the service scheduler then moves) or a standalone task (which runs its course).
    fn late_placement(&mut self, instance: usize) {
        if self.instances[instance].status != InstanceStatus::Draining {
            return;
        }
        let now = self.now();
        let replicas: Vec<usize> = (0..self.services.len())
            .filter(|&service| !self.services[service].daemon)
            .collect();
        if !replicas.is_empty() && self.rng.chance(0.5) {
            let service = self.rng.pick(&replicas);
            let task = self.add_task(instance, TaskKind::Replica(service), TaskStatus::Pending);
            self.note(|w| format!("late placement: {}", w.describe_task(task)));
            let at = now.plus_seconds(self.rng.range(5, 30));
            self.push(at, Event::TaskRunning { task });
            self.tick_soon(service);
        } else {
            let task = self.add_task(instance, TaskKind::Standalone, TaskStatus::Running);
            self.note(|w| format!("late placement: {}", w.describe_task(task)));
            let runs_for = self.rng.range(5, self.scenario.deadline_seconds);
            self.push(now.plus_seconds(runs_for), Event::TaskExits { task });
        }
    }

    /// ECS publishes a container instance state change when a task's stop releases the
    /// instance's resources; the rule routes only those of DRAINING instances. Lost and delayed
    /// on their own, independently of the task's STOPPED event. The count is the RUNNING and
    /// PENDING tasks (a task still shutting down is not counted: the reading that lets the
    /// count drop earliest).
    fn publish_instance_change(&mut self, instance: usize) {
        if self.instances[instance].status != InstanceStatus::Draining {
            return;
        }
        self.instance_versions[instance] += 1;
        let version = self.instance_versions[instance];
        let tasks = self
            .tasks
            .iter()
            .filter(|task| {
                task.instance == instance
                    && matches!(task.last, TaskStatus::Running | TaskStatus::Pending)
            })
            .count() as u32;
        if tasks > INSTANCE_RULE_MAX_RUNNING {
            return; // the rule routes only instances down to a few tasks
        }
        if self.rng.chance(self.scenario.drop_rate) {
            self.counters.dropped += 1;
            self.note(|_| format!("bus drops an instance change of ci-{instance}"));
            return;
        }
        let delay = if self.rng.chance(0.9) {
            self.rng.range(0, 10)
        } else {
            self.rng.range(10, 120)
        };
        let at = self.now().plus_seconds(delay);
        self.push(
            at,
            Event::DeliverInstanceChange {
                instance,
                tasks,
                version,
            },
        );
    }

    fn copies(&mut self) -> u32 {
        copies(&mut self.rng, self.scenario.dup_rate, &mut self.counters)
    }

    /// EventBridge publishes a task's STOPPED event: random delay, loss and duplication; a
    /// duplicate often lands at the very same instant as the original, so the two invocations
    /// race.
    fn publish_stopped(&mut self, task: usize) {
        let now = self.now();
        let version = self.tasks[task].version;
        if self.rng.chance(self.scenario.silent_rate) {
            // ECS's events are best effort: some tasks stop without one.
            self.counters.silent_stops += 1;
            self.note(|w| {
                format!(
                    "no STOPPED event at all for task {}",
                    w.tasks[task].arn.id()
                )
            });
            return;
        }
        let copies = self.copies();
        let mut first_delay = None;
        for _ in 0..copies {
            if self.rng.chance(self.scenario.drop_rate) {
                self.counters.dropped += 1;
                self.note(|w| {
                    format!(
                        "bus drops a STOPPED event of task {}",
                        w.tasks[task].arn.id()
                    )
                });
                continue;
            }
            let delay = match first_delay {
                Some(delay) if self.rng.chance(0.5) => delay,
                _ => {
                    let roll = self.rng.unit();
                    if roll < 0.8 {
                        self.rng.range(0, 10)
                    } else if roll < 0.95 {
                        self.rng.range(10, 60)
                    } else {
                        self.rng.range(60, 600) // Lambda async retries
                    }
                }
            };
            first_delay.get_or_insert(delay);
            self.push(
                now.plus_seconds(delay),
                Event::DeliverStopped { task, version },
            );
        }
    }

    /// Somebody asks a task to stop (StopTask, the service scheduler, or its own end).
    /// False when it was already stopping or stopped.
    pub fn begin_stop(&mut self, task: usize, cause: StopCause) -> bool {
        let now = self.now();
        let sim = &self.tasks[task];
        if !sim.desired_running || !sim.is_alive() {
            return false;
        }
        let behind_load_balancer = matches!(sim.kind, TaskKind::Replica(_)) && self.rng.chance(0.5);
        let (next, delay) = match sim.last {
            TaskStatus::Pending => (TaskStatus::Stopping, self.rng.range(1, 3)),
            _ if behind_load_balancer => (TaskStatus::Deactivating, self.rng.range(5, 60)),
            _ => (TaskStatus::Stopping, self.stop_duration(task)),
        };
        let sim = &mut self.tasks[task];
        sim.desired_running = false;
        sim.stop_cause = Some(cause);
        sim.stop_asked_at = Some(now);
        sim.last = next;
        sim.version += 1;
        let kind = sim.kind;
        self.push(now.plus_seconds(delay), Event::TaskStep { task });
        self.note(|w| format!("{} asked to stop by {cause:?}", w.describe_task(task)));
        if let TaskKind::Replica(service) = kind {
            self.tick_soon(service);
        }
        true
    }

    fn stop_duration(&mut self, task: usize) -> i64 {
        let timeout = self.tasks[task].stop_timeout;
        // Half the containers exit on SIGTERM; the others use their whole stopTimeout.
        if self.rng.chance(0.5) {
            timeout
        } else {
            self.rng.range(0, timeout)
        }
    }

    fn step_stop(&mut self, task: usize) {
        let now = self.now();
        match self.tasks[task].last {
            TaskStatus::Deactivating => {
                self.tasks[task].last = TaskStatus::Stopping;
                self.tasks[task].version += 1;
                let delay = self.stop_duration(task);
                self.push(now.plus_seconds(delay), Event::TaskStep { task });
            }
            TaskStatus::Stopping => self.mark_stopped(task),
            TaskStatus::Pending | TaskStatus::Running | TaskStatus::Stopped => {}
        }
    }

    pub(crate) fn mark_stopped(&mut self, task: usize) {
        let now = self.now();
        let sim = &mut self.tasks[task];
        sim.last = TaskStatus::Stopped;
        sim.desired_running = false;
        sim.stopped_at = Some(now);
        sim.version += 1;
        let kind = sim.kind;
        self.note(|w| format!("{} reached STOPPED", w.describe_task(task)));
        self.publish_stopped(task);
        let instance = self.tasks[task].instance;
        self.publish_instance_change(instance);
        if let TaskKind::Replica(service) = kind {
            self.tick_soon(service);
        }
    }

    /// The lifecycle action ended: EC2 shuts the instance down within a minute or two.
    pub fn schedule_termination(&mut self, instance: usize) {
        let at = self.now().plus_seconds(self.rng.range(20, 120));
        self.push(at, Event::InstanceGone { instance });
    }

    /// The EC2 instance goes away: whatever still runs on it dies now.
    pub fn terminate_instance(&mut self, instance: usize) {
        self.instances[instance].status = InstanceStatus::Inactive;
        self.kill_tasks_on(instance, "EC2 terminates");
    }

    /// The EC2 instance stops under its tasks (terminated, or stopped in the warm pool): each
    /// dies now. `what` opens the event log's line.
    pub fn kill_tasks_on(&mut self, instance: usize, what: &str) {
        let alive: Vec<usize> = (0..self.tasks.len())
            .filter(|&task| self.tasks[task].instance == instance && self.tasks[task].is_alive())
            .collect();
        self.note(|_| format!("{what} ci-{instance}; {} task(s) killed", alive.len()));
        for task in alive {
            self.tasks[task]
                .stop_cause
                .get_or_insert(StopCause::InstanceTerminated);
            self.mark_stopped(task);
        }
    }

    pub(crate) fn tick_soon(&mut self, service: usize) {
        let at = self.now().plus_seconds(self.rng.range(1, 10));
        self.push(at, Event::ServiceTick { service });
    }

    /// The ECS service scheduler for one replica service: start replacements on ACTIVE
    /// instances within maximumPercent, stop tasks on draining instances while staying above
    /// minimumHealthyPercent (or once their replacements run).
    fn service_tick(&mut self, service: usize) {
        let now = self.now();
        let sim = &self.services[service];
        if sim.daemon {
            return;
        }
        let desired = sim.desired;
        let floor = (desired * sim.min_percent + 99) / 100;
        let cap = desired * sim.max_percent / 100;
        let in_service: Vec<usize> = (0..self.tasks.len())
            .filter(|&task| {
                let task = &self.tasks[task];
                task.kind == TaskKind::Replica(service) && task.desired_running && task.is_alive()
            })
            .collect();
        let on_active = in_service
            .iter()
            .filter(|&&task| {
                self.instances[self.tasks[task].instance].status == InstanceStatus::Active
            })
            .count() as i64;
        let total = in_service.len() as i64;
        let actives: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].placeable())
            .collect();
        let mut to_start = (desired - on_active).min(cap - total);
        while to_start > 0 && !actives.is_empty() {
            let instance = self.rng.pick(&actives);
            let task = self.add_task(instance, TaskKind::Replica(service), TaskStatus::Pending);
            self.note(|w| format!("ECS places {}", w.describe_task(task)));
            let at = now.plus_seconds(self.rng.range(5, 90));
            self.push(at, Event::TaskRunning { task });
            to_start -= 1;
        }
        let running = |world: &SimWorld, task: usize| world.tasks[task].last == TaskStatus::Running;
        let mut healthy = in_service
            .iter()
            .filter(|&&task| running(self, task))
            .count() as i64;
        let healthy_elsewhere = in_service
            .iter()
            .filter(|&&task| {
                running(self, task)
                    && self.instances[self.tasks[task].instance].status == InstanceStatus::Active
            })
            .count() as i64;
        for task in in_service {
            if self.instances[self.tasks[task].instance].status == InstanceStatus::Active {
                continue;
            }
            let was_running = running(self, task);
            if !was_running || healthy > floor || healthy_elsewhere >= desired {
                self.begin_stop(task, StopCause::Scheduler);
                if was_running {
                    healthy -= 1;
                }
            }
        }
    }

    /// ecs-drain set an instance DRAINING: the service scheduler reacts within seconds.
    pub fn on_draining(&mut self, instance: usize) {
        self.instances[instance].status = InstanceStatus::Draining;
        self.note(|_| format!("ci-{instance} is DRAINING"));
        if self.rng.chance(self.scenario.late_placement_rate) {
            // A placement ECS committed just before DRAINING took effect is listed by the census
            // that follows set_draining. `late_visibility_max` > 0 instead lets ListTasks show it
            // only seconds later (eventual consistency): no census can see it before then, so a
            // drain that empties in those seconds may complete next to it, whatever the policy.
            let late = self.settings.late_visibility_max;
            if late > 0 {
                let at = self.now().plus_seconds(self.rng.range(1, late + 1));
                self.push(at, Event::LatePlacement { instance });
            } else {
                self.late_placement(instance);
            }
        }
        for service in 0..self.services.len() {
            if !self.services[service].daemon {
                self.tick_soon(service);
            }
        }
    }
}

/// How many copies of an event EventBridge delivers (duplicates counted).
fn copies(rng: &mut Rng, dup_rate: f64, counters: &mut Counters) -> u32 {
    let mut copies = 1;
    if rng.chance(dup_rate) {
        copies += 1;
        if rng.chance(0.25) {
            copies += 1;
        }
    }
    counters.duplicated += u64::from(copies - 1);
    copies
}

/// The delivery delay of each copy of a lifecycle notice (None: the bus lost that copy).
/// Lifecycle notices are best-effort too, but losing every copy is outside ecs-drain's reach
/// (the hook's timeout is the only remedy): at least one copy arrives. The first comes within
/// seconds; a duplicate may come much later (an EventBridge retry after a failed or throttled
/// invocation).
pub fn notice_delays(
    rng: &mut Rng,
    drop_rate: f64,
    dup_rate: f64,
    counters: &mut Counters,
) -> Vec<Option<i64>> {
    let copies = copies(rng, dup_rate, counters);
    let mut delays = Vec::new();
    let mut delivered = 0;
    for copy in 0..copies {
        let last_chance = copy + 1 == copies && delivered == 0;
        if !last_chance && rng.chance(drop_rate) {
            counters.dropped += 1;
            delays.push(None);
            continue;
        }
        let delay = if delivered > 0 && rng.chance(0.3) {
            rng.range(60, 900)
        } else {
            rng.range(0, 20)
        };
        delivered += 1;
        delays.push(Some(delay));
    }
    delays
}
