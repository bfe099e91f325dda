//! What is still alive on a container instance.
//!
//! The census is the only truth a drain trusts. A task is alive until its **lastStatus** is
//! STOPPED or DELETED: a task whose desiredStatus is already STOPPED but whose lastStatus is
//! DEACTIVATING, STOPPING or DEPROVISIONING still has containers inside their stopTimeout (or a
//! load balancer still deregistering it). `runningTasksCount` and a plain ListTasks miss those;
//! completing the lifecycle action then kills them mid-shutdown.

use serde::{Deserialize, Serialize};

use crate::error::DrainError;
use crate::ids::{TaskArn, quoted};

/// One task exactly as DescribeTasks answered it: every field as reported, or None. The
/// statuses are parsed by the adapter that read the answer, so no later module compares text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescribedTask {
    /// `taskArn`.
    pub arn: Option<String>,
    /// `group`.
    pub group: Option<String>,
    /// `startedBy`.
    pub started_by: Option<String>,
    /// `lastStatus`.
    pub last_status: Option<TaskStatus>,
    /// `desiredStatus`.
    pub desired_status: Option<TaskStatus>,
}

impl From<TaskSnapshot> for DescribedTask {
    fn from(snapshot: TaskSnapshot) -> DescribedTask {
        DescribedTask {
            arn: Some(snapshot.arn.to_string()),
            group: snapshot.group,
            started_by: snapshot.started_by,
            last_status: Some(snapshot.last_status),
            desired_status: Some(snapshot.desired_status),
        }
    }
}

/// The task ARNs ListTasks answered for one instance, its two listings apart (every page of
/// each), as ECS answered: unchecked, and a task may be in both (its desiredStatus moved from
/// RUNNING to STOPPED between the two passes). Kept apart because the listings are not worth
/// the same to a census (`decision::look::tasks_to_describe`): ECS's own word that a task is
/// desired RUNNING outweighs anything the drain record says of it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListedTasks {
    /// The tasks listed with desiredStatus RUNNING.
    pub running: Vec<String>,
    /// The tasks listed with desiredStatus STOPPED.
    pub stopped: Vec<String>,
}

impl ListedTasks {
    /// How many ARNs both listings hold together (a task in both counted twice).
    pub fn len(&self) -> usize {
        self.running.len() + self.stopped.len()
    }

    /// Whether neither listing holds anything.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty() && self.stopped.is_empty()
    }
}

/// One entry of DescribeTasks' `failures`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The task it concerns.
    pub arn: Option<String>,
    /// `reason` (`MISSING` for a task ECS no longer knows).
    pub reason: Option<String>,
    /// `detail`.
    pub detail: Option<String>,
}

/// Everything the census calls (ListTasks, then DescribeTasks) answered for one instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskListing {
    /// The described tasks.
    pub tasks: Vec<DescribedTask>,
    /// The tasks DescribeTasks could not describe.
    pub failures: Vec<TaskFailure>,
}

impl TaskListing {
    /// Reads the answer. A MISSING failure is a task that is gone (stopped and expired from
    /// ECS): nothing alive. Any other failure leaves a task unknown, and an unknown task may be
    /// alive, so the census fails (and the event is retried) rather than miss it. A task without
    /// a reported status counts as alive; one without a valid ARN cannot be named, so it is
    /// skipped.
    pub fn read(self) -> Result<Vec<TaskSnapshot>, DrainError> {
        if let Some(failure) = self
            .failures
            .iter()
            .find(|failure| failure.reason.as_deref() != Some("MISSING"))
        {
            return Err(DrainError::transient(
                "ecs:DescribeTasks",
                format!(
                    "task {} not described: {} {}",
                    quoted(failure.arn.as_deref().unwrap_or_default()),
                    quoted(failure.reason.as_deref().unwrap_or_default()),
                    quoted(failure.detail.as_deref().unwrap_or_default())
                ),
            ));
        }
        Ok(self
            .tasks
            .into_iter()
            .filter_map(|task| {
                Some(TaskSnapshot {
                    arn: TaskArn::new(task.arn?).ok()?,
                    group: task.group,
                    started_by: task.started_by,
                    last_status: task.last_status.unwrap_or_else(TaskStatus::unknown),
                    desired_status: task.desired_status.unwrap_or_else(TaskStatus::unknown),
                })
            })
            .collect())
    }
}

/// The status a task gets when ECS reported none: neither STOPPED nor DELETED, so alive.
pub const UNKNOWN_STATUS: &str = "UNKNOWN";

/// A task status as ECS reports it; lastStatus and desiredStatus share this vocabulary
/// (Amazon ECS Developer Guide, "Task lifecycle"). Parsed once, here, so that no other module
/// compares status text; a status ECS adds later is kept as [`TaskStatus::Other`] and, not
/// being STOPPED or DELETED, counts as alive. Kept as ECS's text on the wire (serde).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TaskStatus {
    /// PROVISIONING: ECS is attaching resources (an awsvpc network interface) before launch.
    Provisioning,
    /// PENDING: waiting on the container agent.
    Pending,
    /// ACTIVATING: being registered with load balancers, service discovery.
    Activating,
    /// RUNNING.
    Running,
    /// DEACTIVATING: being deregistered from load balancers before its containers stop.
    Deactivating,
    /// STOPPING: containers got SIGTERM and run inside their stopTimeout.
    Stopping,
    /// DEPROVISIONING: resources being detached after the containers stopped.
    Deprovisioning,
    /// STOPPED: gone.
    Stopped,
    /// DELETED: gone, and forgotten by ECS.
    Deleted,
    /// Any other text, or none ([`UNKNOWN_STATUS`]): alive, the safe reading.
    Other(String),
}

impl TaskStatus {
    /// Reads ECS's text (exact, upper case, as the API writes it).
    pub fn parse(text: &str) -> TaskStatus {
        match text {
            "PROVISIONING" => TaskStatus::Provisioning,
            "PENDING" => TaskStatus::Pending,
            "ACTIVATING" => TaskStatus::Activating,
            "RUNNING" => TaskStatus::Running,
            "DEACTIVATING" => TaskStatus::Deactivating,
            "STOPPING" => TaskStatus::Stopping,
            "DEPROVISIONING" => TaskStatus::Deprovisioning,
            "STOPPED" => TaskStatus::Stopped,
            "DELETED" => TaskStatus::Deleted,
            other => TaskStatus::Other(other.to_owned()),
        }
    }

    /// The status of a task ECS reported none for ([`UNKNOWN_STATUS`]): alive.
    pub fn unknown() -> TaskStatus {
        TaskStatus::Other(UNKNOWN_STATUS.to_owned())
    }

    /// The text ECS uses for it.
    pub fn as_str(&self) -> &str {
        match self {
            TaskStatus::Provisioning => "PROVISIONING",
            TaskStatus::Pending => "PENDING",
            TaskStatus::Activating => "ACTIVATING",
            TaskStatus::Running => "RUNNING",
            TaskStatus::Deactivating => "DEACTIVATING",
            TaskStatus::Stopping => "STOPPING",
            TaskStatus::Deprovisioning => "DEPROVISIONING",
            TaskStatus::Stopped => "STOPPED",
            TaskStatus::Deleted => "DELETED",
            TaskStatus::Other(text) => text,
        }
    }

    /// STOPPED or DELETED: nothing of the task is left on the instance.
    pub fn is_gone(&self) -> bool {
        matches!(self, TaskStatus::Stopped | TaskStatus::Deleted)
    }

    /// Not yet past RUNNING (PROVISIONING, PENDING, ACTIVATING, RUNNING).
    pub fn is_starting_or_running(&self) -> bool {
        matches!(
            self,
            TaskStatus::Provisioning
                | TaskStatus::Pending
                | TaskStatus::Activating
                | TaskStatus::Running
        )
    }
}

impl From<&str> for TaskStatus {
    fn from(text: &str) -> TaskStatus {
        TaskStatus::parse(text)
    }
}

impl From<String> for TaskStatus {
    fn from(text: String) -> TaskStatus {
        TaskStatus::parse(&text)
    }
}

impl From<TaskStatus> for String {
    fn from(status: TaskStatus) -> String {
        match status {
            TaskStatus::Other(text) => text,
            known => known.as_str().to_owned(),
        }
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One task as the census reads it, before classification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    /// The task.
    pub arn: TaskArn,
    /// `service:<name>` for service tasks, `family:<name>` for RunTask / StartTask.
    pub group: Option<String>,
    /// Who started it (`ecs-svc/...` for services).
    pub started_by: Option<String>,
    /// Where the task is (lastStatus).
    pub last_status: TaskStatus,
    /// Where ECS wants it (desiredStatus).
    pub desired_status: TaskStatus,
}

impl TaskSnapshot {
    /// Alive until lastStatus is STOPPED or DELETED, whatever desiredStatus says.
    pub fn is_alive(&self) -> bool {
        !self.last_status.is_gone()
    }

    /// True once somebody (ECS, an operator, ecs-drain) has asked the task to stop.
    pub fn is_stopping(&self) -> bool {
        self.desired_status == TaskStatus::Stopped
    }

    /// The service name when the task belongs to a service (`group` = `service:<name>`).
    pub fn service_name(&self) -> Option<&str> {
        self.group.as_deref()?.strip_prefix("service:")
    }
}

/// A service's `schedulingStrategy`, parsed where DescribeServices' answer is read. Kept as
/// ECS's text on the wire (serde), and any other text as [`SchedulingStrategy::Other`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum SchedulingStrategy {
    /// REPLICA: ECS keeps a desired count and moves tasks off a draining instance.
    Replica,
    /// DAEMON: one task on every instance; ECS never moves it.
    Daemon,
    /// Any other text (matched exactly: `daemon` is not DAEMON).
    Other(String),
}

impl SchedulingStrategy {
    /// The text ECS uses for the strategy (the text it sent, for one ecs-drain does not know).
    pub fn as_str(&self) -> &str {
        match self {
            SchedulingStrategy::Replica => "REPLICA",
            SchedulingStrategy::Daemon => "DAEMON",
            SchedulingStrategy::Other(text) => text,
        }
    }
}

impl From<&str> for SchedulingStrategy {
    fn from(text: &str) -> SchedulingStrategy {
        match text {
            "REPLICA" => SchedulingStrategy::Replica,
            "DAEMON" => SchedulingStrategy::Daemon,
            other => SchedulingStrategy::Other(other.to_owned()),
        }
    }
}

impl From<String> for SchedulingStrategy {
    fn from(text: String) -> SchedulingStrategy {
        SchedulingStrategy::from(text.as_str())
    }
}

impl From<SchedulingStrategy> for String {
    fn from(strategy: SchedulingStrategy) -> String {
        match strategy {
            SchedulingStrategy::Replica => "REPLICA".to_owned(),
            SchedulingStrategy::Daemon => "DAEMON".to_owned(),
            SchedulingStrategy::Other(text) => text,
        }
    }
}

/// How a service schedules its tasks, from DescribeServices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceFacts {
    /// Service name.
    pub name: String,
    /// `schedulingStrategy` as reported (`REPLICA` or `DAEMON`).
    pub scheduling_strategy: Option<SchedulingStrategy>,
    /// deploymentConfiguration.minimumHealthyPercent, when reported.
    pub minimum_healthy_percent: Option<i32>,
    /// deploymentConfiguration.maximumPercent, when reported.
    pub maximum_percent: Option<i32>,
}

impl ServiceFacts {
    /// A DAEMON service runs one task on every instance; any other strategy (or none reported)
    /// is read as replica, the safe reading: replica tasks are never stopped before the deadline.
    pub fn is_daemon(&self) -> bool {
        self.scheduling_strategy == Some(SchedulingStrategy::Daemon)
    }

    /// A replica service with minimumHealthyPercent 100 and maximumPercent 100 can neither stop
    /// a task before its replacement runs nor start the replacement first: a draining instance
    /// hosting one of its tasks never empties.
    pub fn can_never_move_tasks(&self) -> bool {
        !self.is_daemon()
            && self.minimum_healthy_percent == Some(100)
            && self.maximum_percent == Some(100)
    }
}

/// What kind of task this is, which decides when a drain may stop it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskKind {
    /// A replica service task: ECS moves it; wait.
    Replica {
        /// Its service.
        service: String,
    },
    /// A daemon service task: goes last, stopped by ecs-drain once nothing else is alive.
    Daemon {
        /// Its service.
        service: String,
    },
    /// A RunTask / StartTask task: ECS leaves it alone; wait up to the deadline.
    Standalone,
}

/// A live task and its kind.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveTask {
    /// The task as described.
    pub snapshot: TaskSnapshot,
    /// Its kind.
    pub kind: TaskKind,
}

/// Alive tasks by kind: what a drain record shows an operator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliveCounts {
    /// Service replica tasks alive.
    pub replica: u32,
    /// Daemon service tasks alive.
    pub daemon: u32,
    /// Standalone tasks alive.
    pub standalone: u32,
}

impl AliveCounts {
    /// All alive tasks.
    pub fn total(&self) -> u32 {
        self.replica + self.daemon + self.standalone
    }

    /// Alive tasks that are not daemon tasks.
    pub fn non_daemon(&self) -> u32 {
        self.replica + self.standalone
    }
}

/// The alive tasks on one container instance at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Census {
    /// Every task whose lastStatus is not STOPPED / DELETED.
    pub alive: Vec<LiveTask>,
    /// Services with tasks here that can never move them (min 100 % / max 100 %).
    pub stuck_services: Vec<String>,
}

impl Census {
    /// Classifies described tasks: drops the dead ones and gives each live one its kind, using
    /// the services' scheduling strategy (`services` needs to hold only the services of alive
    /// tasks; a service missing from it counts as a replica service, the safe reading: replica
    /// tasks are never stopped by ecs-drain before the deadline).
    pub fn classify(tasks: Vec<TaskSnapshot>, services: &[ServiceFacts]) -> Census {
        let mut stuck_services = Vec::new();
        let alive = tasks
            .into_iter()
            .filter(TaskSnapshot::is_alive)
            .map(|snapshot| {
                let kind = match snapshot.service_name() {
                    Some(name) => {
                        let facts = services.iter().find(|service| service.name == name);
                        if facts.is_some_and(ServiceFacts::can_never_move_tasks)
                            && !stuck_services.iter().any(|s| s == name)
                        {
                            stuck_services.push(name.to_owned());
                        }
                        if facts.is_some_and(ServiceFacts::is_daemon) {
                            TaskKind::Daemon {
                                service: name.to_owned(),
                            }
                        } else {
                            TaskKind::Replica {
                                service: name.to_owned(),
                            }
                        }
                    }
                    None => TaskKind::Standalone,
                };
                LiveTask { snapshot, kind }
            })
            .collect();
        Census {
            alive,
            stuck_services,
        }
    }

    /// The service names of alive service tasks, deduplicated, for DescribeServices.
    pub fn service_names_of(tasks: &[TaskSnapshot]) -> Vec<String> {
        let mut names: Vec<String> = tasks
            .iter()
            .filter(|task| task.is_alive())
            .filter_map(|task| task.service_name().map(str::to_owned))
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Alive tasks by kind.
    pub fn counts(&self) -> AliveCounts {
        let mut counts = AliveCounts::default();
        for task in &self.alive {
            match task.kind {
                TaskKind::Replica { .. } => counts.replica += 1,
                TaskKind::Daemon { .. } => counts.daemon += 1,
                TaskKind::Standalone => counts.standalone += 1,
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, group: Option<&str>, last: &str, desired: &str) -> TaskSnapshot {
        TaskSnapshot {
            arn: TaskArn::new(format!(
                "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/{id}"
            ))
            .expect("valid arn"),
            group: group.map(str::to_owned),
            started_by: None,
            last_status: TaskStatus::parse(last),
            desired_status: TaskStatus::parse(desired),
        }
    }

    fn daemon(name: &str) -> ServiceFacts {
        ServiceFacts {
            name: name.to_owned(),
            scheduling_strategy: Some("DAEMON".into()),
            minimum_healthy_percent: Some(0),
            maximum_percent: Some(100),
        }
    }

    const TASK: &str =
        "arn:aws:ecs:us-east-1:123456789012:task/prod/0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a";

    fn described(last: Option<&str>, desired: Option<&str>) -> DescribedTask {
        DescribedTask {
            arn: Some(TASK.into()),
            group: Some("service:web".into()),
            started_by: None,
            last_status: last.map(TaskStatus::parse),
            desired_status: desired.map(TaskStatus::parse),
        }
    }

    fn failure(reason: &str) -> TaskFailure {
        TaskFailure {
            arn: Some(TASK.into()),
            reason: Some(reason.into()),
            detail: None,
        }
    }

    #[test]
    fn a_task_shutting_down_is_read_with_both_statuses() {
        let tasks = TaskListing {
            tasks: vec![described(Some("DEPROVISIONING"), Some("STOPPED"))],
            failures: Vec::new(),
        }
        .read()
        .expect("read");
        assert_eq!(tasks.len(), 1);
        assert!(tasks[0].is_alive() && tasks[0].is_stopping());
    }

    #[test]
    fn a_missing_task_is_gone_but_any_other_failure_fails_the_census() {
        let missing = TaskListing {
            tasks: Vec::new(),
            failures: vec![failure("MISSING")],
        };
        assert_eq!(missing.read().expect("read"), Vec::new());
        let unknown = TaskListing {
            tasks: vec![described(Some("RUNNING"), Some("RUNNING"))],
            failures: vec![failure("MISSING"), failure("SERVICE_UNAVAILABLE")],
        };
        let error = unknown
            .read()
            .expect_err("an undescribed task may be alive");
        assert!(error.is_retryable());
        assert!(
            error.to_string().contains("SERVICE_UNAVAILABLE")
                || format!("{error:?}").contains("SERVICE_UNAVAILABLE"),
            "{error:?}"
        );
        let no_reason = TaskListing {
            tasks: Vec::new(),
            failures: vec![TaskFailure::default()],
        };
        assert!(
            no_reason.read().is_err(),
            "a failure without a reason is not a MISSING one"
        );
    }

    #[test]
    fn a_task_without_a_status_counts_as_alive_and_one_without_an_arn_cannot_be_named() {
        let tasks = TaskListing {
            tasks: vec![
                described(None, None),
                DescribedTask {
                    arn: Some("not-an-arn".into()),
                    ..described(Some("RUNNING"), Some("RUNNING"))
                },
                DescribedTask {
                    arn: None,
                    ..described(Some("RUNNING"), Some("RUNNING"))
                },
            ],
            failures: Vec::new(),
        }
        .read()
        .expect("read");
        assert_eq!(tasks.len(), 1);
        assert!(tasks[0].is_alive() && !tasks[0].is_stopping());
        assert_eq!(tasks[0].last_status.as_str(), UNKNOWN_STATUS);
    }

    #[test]
    fn a_snapshot_converts_to_the_answer_it_reads_from() {
        let snapshot = task("a", Some("service:web"), "STOPPING", "STOPPED");
        let listing = TaskListing {
            tasks: vec![snapshot.clone().into()],
            failures: Vec::new(),
        };
        assert_eq!(listing.read().expect("read"), vec![snapshot]);
    }

    #[test]
    fn every_task_status_reads_back_as_the_text_ecs_wrote() {
        for text in [
            "PROVISIONING",
            "PENDING",
            "ACTIVATING",
            "RUNNING",
            "DEACTIVATING",
            "STOPPING",
            "DEPROVISIONING",
            "STOPPED",
            "DELETED",
            UNKNOWN_STATUS,
            "stopped",
        ] {
            assert_eq!(TaskStatus::parse(text).as_str(), text);
            let json = serde_json::to_string(&TaskStatus::parse(text)).expect("serialises");
            assert_eq!(
                json,
                format!("\"{text}\""),
                "kept as ECS's text on the wire"
            );
            assert_eq!(
                serde_json::from_str::<TaskStatus>(&json).expect("reads back"),
                TaskStatus::parse(text)
            );
        }
        assert_eq!(
            TaskStatus::parse("stopped"),
            TaskStatus::Other("stopped".into()),
            "exact text only: a lower-case STOPPED is not trusted as gone"
        );
        assert!(TaskStatus::Deleted.is_gone() && !TaskStatus::Deprovisioning.is_gone());
    }

    #[test]
    fn a_scheduling_strategy_keeps_its_ecs_text_on_the_wire() {
        for text in ["DAEMON", "REPLICA", "SOMETHING_NEW"] {
            let strategy = SchedulingStrategy::from(text);
            let json = serde_json::to_string(&strategy).expect("serialises");
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<SchedulingStrategy>(&json).expect("reads back"),
                strategy
            );
        }
    }

    #[test]
    fn only_the_daemon_strategy_makes_a_daemon_service() {
        for (strategy, daemon) in [
            (Some("DAEMON"), true),
            (Some("REPLICA"), false),
            (None, false),
            (Some("daemon"), false),
        ] {
            let facts = ServiceFacts {
                name: "s".into(),
                scheduling_strategy: strategy.map(SchedulingStrategy::from),
                minimum_healthy_percent: None,
                maximum_percent: None,
            };
            assert_eq!(facts.is_daemon(), daemon, "{strategy:?}");
        }
    }

    #[test]
    fn a_task_shutting_down_inside_its_stop_timeout_is_alive() {
        for last in [
            "DEACTIVATING",
            "STOPPING",
            "DEPROVISIONING",
            "RUNNING",
            "PENDING",
            "PROVISIONING",
            "ACTIVATING",
        ] {
            assert!(
                task("a", None, last, "STOPPED").is_alive(),
                "{last} must count as alive"
            );
        }
        assert!(!task("a", None, "STOPPED", "STOPPED").is_alive());
        assert!(!task("a", None, "DELETED", "STOPPED").is_alive());
    }

    #[test]
    fn classifies_replica_daemon_and_standalone_tasks() {
        let census = Census::classify(
            vec![
                task("r", Some("service:web"), "RUNNING", "RUNNING"),
                task("d", Some("service:log-router"), "RUNNING", "RUNNING"),
                task("s", Some("family:nightly-report"), "RUNNING", "RUNNING"),
                task("gone", Some("service:web"), "STOPPED", "STOPPED"),
            ],
            &[daemon("log-router")],
        );
        assert_eq!(
            census.counts(),
            AliveCounts {
                replica: 1,
                daemon: 1,
                standalone: 1
            }
        );
    }

    #[test]
    fn a_service_that_describe_services_did_not_return_counts_as_replica() {
        let census = Census::classify(
            vec![task("d", Some("service:unknown"), "RUNNING", "RUNNING")],
            &[],
        );
        assert_eq!(census.counts().replica, 1);
    }

    #[test]
    fn reports_services_that_can_never_move_their_tasks() {
        let pinned = ServiceFacts {
            name: "pinned".into(),
            scheduling_strategy: Some("REPLICA".into()),
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(100),
        };
        let census = Census::classify(
            vec![
                task("a", Some("service:pinned"), "RUNNING", "RUNNING"),
                task("b", Some("service:pinned"), "RUNNING", "RUNNING"),
            ],
            &[pinned],
        );
        assert_eq!(census.stuck_services, vec!["pinned".to_owned()]);
    }

    #[test]
    fn asks_describe_services_only_for_services_with_alive_tasks() {
        let tasks = vec![
            task("a", Some("service:web"), "RUNNING", "RUNNING"),
            task("b", Some("service:web"), "STOPPING", "STOPPED"),
            task("c", Some("service:old"), "STOPPED", "STOPPED"),
            task("d", Some("family:x"), "RUNNING", "RUNNING"),
        ];
        assert_eq!(Census::service_names_of(&tasks), vec!["web".to_owned()]);
    }
}
