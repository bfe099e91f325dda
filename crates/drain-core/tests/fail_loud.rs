//! Fail loud: an error that says the deployment itself is wrong (a missing permission, refused
//! credentials, a missing table or cluster, a rejected setting) fails the invocation, with the
//! operation and the fix in the error, and changes nothing; bad input and other permanent
//! failures are still acknowledged. Over the in-memory ports, one port answering each class.

mod support;

use support::{MUTATING, fixture};

use std::sync::Arc;

use drain_core::decision::verify::FunctionIdentity;
use drain_core::error::DeploymentProblem;
use drain_core::handler::{Function, error_response, handle_lifecycle, handle_task_stopped};
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, TaskArn};
use drain_core::ports::PortSet;
use drain_core::testing::ManualClock;
use drain_core::testing::layer::{Layer, Layered};
use drain_core::testing::memory::{
    CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};
use drain_core::testing::sample;
use drain_core::time::Timestamp;
use drain_core::{Config, DrainError, Drainer};
use serde_json::{Value, json};

/// The fixtures' identifiers (tests/fixtures/README.md).
const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
const CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-\
                                  cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
const EC2_INSTANCE: &str = "i-0598c7d356eba48d7";

const EVERY_PROBLEM: [DeploymentProblem; 4] = [
    DeploymentProblem::AccessDenied,
    DeploymentProblem::Credentials,
    DeploymentProblem::MissingResource,
    DeploymentProblem::InvalidSetting,
];

/// Which port call fails, and how.
#[derive(Clone, Default)]
struct Fault {
    operation: Option<&'static str>,
    error: Option<Arc<dyn Fn(&'static str) -> DrainError + Send + Sync>>,
}

impl Fault {
    fn on(
        operation: &'static str,
        error: impl Fn(&'static str) -> DrainError + Send + Sync + 'static,
    ) -> Fault {
        Fault {
            operation: Some(operation),
            error: Some(Arc::new(error)),
        }
    }
}

/// Put in front of each memory port: the call standing for the failing operation answers the
/// fault instead of being made.
impl Layer for Fault {
    async fn before(&self, operations: &'static [&'static str]) -> Result<(), DrainError> {
        match (&self.operation, &self.error) {
            (Some(failing), Some(error)) if operations.contains(failing) => Err(error(failing)),
            _ => Ok(()),
        }
    }
}

type FaultyDrainer = Drainer<
    PortSet<
        Layered<MemoryCluster, Fault>,
        Layered<MemoryHooks, Fault>,
        Layered<MemoryStore, Fault>,
        Layered<MemoryScheduler, Fault>,
        Arc<ManualClock>,
    >,
>;

/// The fixtures' world (one ACTIVE container instance held by the fixture's lifecycle action,
/// scheduled checks on) with `fault` in every port.
struct World {
    log: CallLog,
    cluster: MemoryCluster,
    hooks: MemoryHooks,
    store: MemoryStore,
    drainer: FaultyDrainer,
    notice: Value,
}

fn world(fault: Fault) -> World {
    let log = CallLog::default();
    let cluster = MemoryCluster::new(log.clone());
    let hooks = MemoryHooks::new(log.clone());
    let store = MemoryStore::new(log.clone());
    let scheduler = MemoryScheduler::new(log.clone());
    let notice = fixture("lifecycle-terminate-eventbridge.json");
    let action = drain_core::event::parse_lifecycle_payload(&notice)
        .expect("fixture parses")
        .into_iter()
        .find_map(|input| match input {
            drain_core::event::LifecycleInput::Terminate(notice) => Some(notice.action),
            _ => None,
        })
        .expect("a terminate notice");
    let cluster_arn = ClusterArn::new(CLUSTER).expect("arn");
    cluster.add_instance(
        &cluster_arn,
        &ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn"),
        &Ec2InstanceId::new(EC2_INSTANCE).expect("id"),
    );
    hooks.add_hook(&action.hook, 300);
    hooks.begin(&action);
    let config = Config {
        clusters: vec!["prod-cluster".into()],
        ..sample::config()
    };
    let drainer = Drainer::new(
        PortSet {
            cluster: Layered::new(cluster.clone(), fault.clone()),
            hooks: Layered::new(hooks.clone(), fault.clone()),
            store: Layered::new(store.clone(), fault.clone()),
            scheduler: Layered::new(scheduler, fault),
            clock: Arc::new(ManualClock::new(Timestamp(1_793_645_030))),
        },
        config,
    );
    World {
        log,
        cluster,
        hooks,
        store,
        drainer,
        notice,
    }
}

fn mutations(log: &CallLog) -> Vec<&'static str> {
    log.calls()
        .into_iter()
        .filter(|call| MUTATING.contains(call))
        .collect()
}

#[tokio::test]
async fn each_deployment_problem_on_a_terminate_notice_fails_the_invocation_and_changes_nothing() {
    for problem in EVERY_PROBLEM {
        // GIVEN ECS answering the instance lookup with a deployment error of this class
        let world = world(Fault::on(
            "ecs:DescribeContainerInstances",
            move |operation| {
                DrainError::deployment(operation, problem, format!("AWS said {}", problem.as_str()))
            },
        ));

        // WHEN the terminate notice arrives
        let error = handle_lifecycle(&world.drainer, &world.notice, &FunctionIdentity::default())
            .await
            .expect_err("a deployment error fails the invocation");

        // THEN the invocation fails with that class and operation, and nothing was changed or
        // acknowledged
        assert_eq!(error.deployment_problem(), Some(problem));
        assert_eq!(error.operation(), "ecs:DescribeContainerInstances");
        assert_eq!(mutations(&world.log), Vec::<&str>::new(), "{problem:?}");
        assert!(world.store.all().is_empty());
        let held = world
            .hooks
            .action(&world.token())
            .expect("the action was begun");
        assert!(
            held.active && held.completions == 0,
            "the hook still holds the instance"
        );
    }
}

impl World {
    fn token(&self) -> drain_core::ids::LifecycleToken {
        drain_core::ids::LifecycleToken::new(
            self.notice["detail"]["LifecycleActionToken"]
                .as_str()
                .expect("token"),
        )
        .expect("token")
    }
}

#[tokio::test]
async fn a_missing_permission_names_the_iam_action_and_the_role_to_grant_it_on() {
    let world = world(Fault::on("ecs:DescribeContainerInstances", |operation| {
        DrainError::deployment(
            operation,
            DeploymentProblem::AccessDenied,
            "AccessDeniedException: User is not authorized to perform: \
             ecs:DescribeContainerInstances",
        )
    }));
    let error = handle_lifecycle(&world.drainer, &world.notice, &FunctionIdentity::default())
        .await
        .expect_err("fails");
    let (error_type, message) =
        error_response(&error, Function::OnLifecycle, world.drainer.config());
    assert_eq!(error_type, "DeploymentError");
    assert!(
        message.starts_with(
            "ecs:DescribeContainerInstances failed: access denied: AccessDeniedException"
        ),
        "{message}"
    );
    assert!(
        message.ends_with(
            "(fix: grant ecs:DescribeContainerInstances to the function's execution role \
             (infra/template.yaml OnLifecycleRole))"
        ),
        "{message}"
    );
}

#[tokio::test]
async fn each_deployment_problem_on_a_stopped_task_fails_the_invocation_naming_the_table_or_role() {
    for problem in EVERY_PROBLEM {
        let world = world(Fault::on("dynamodb:GetItem", move |operation| {
            DrainError::deployment(operation, problem, "AWS said so")
        }));
        let error = handle_task_stopped(&world.drainer, &fixture("ecs-task-stopped-service.json"))
            .await
            .expect_err("fails");
        assert_eq!(error.deployment_problem(), Some(problem));
        assert_eq!(mutations(&world.log), Vec::<&str>::new());
        let (error_type, message) =
            error_response(&error, Function::OnTaskStopped, world.drainer.config());
        assert_eq!(error_type, "DeploymentError");
        let expected = match problem {
            DeploymentProblem::AccessDenied => {
                "grant dynamodb:GetItem to the function's execution role (infra/template.yaml \
                 OnTaskStoppedRole)"
            }
            DeploymentProblem::Credentials => "infra/template.yaml OnTaskStoppedRole",
            DeploymentProblem::MissingResource => {
                "create the DynamoDB table ecs-drain-state or set ECS_DRAIN_TABLE"
            }
            DeploymentProblem::InvalidSetting => "check ECS_DRAIN_TABLE (ecs-drain-state)",
        };
        assert!(message.contains(expected), "{problem:?}: {message}");
    }
}

#[tokio::test]
async fn a_missing_schedule_group_fails_the_invocation_before_the_drain_goes_unwatched() {
    let world = world(Fault::on("scheduler:CreateSchedule", |operation| {
        DrainError::deployment(
            operation,
            DeploymentProblem::MissingResource,
            "ResourceNotFoundException: Schedule group ecs-drain-checks does not exist.",
        )
    }));
    // A task is still running, so the drain must book a check.
    let task = TaskArn::new(
        "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a",
    )
    .expect("arn");
    world.cluster.add_task(
        &ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn"),
        &task,
        "family:batch",
    );
    let error = handle_lifecycle(&world.drainer, &world.notice, &FunctionIdentity::default())
        .await
        .expect_err("fails");
    assert_eq!(error.operation(), "scheduler:CreateSchedule");
    let (_, message) = error_response(&error, Function::OnLifecycle, world.drainer.config());
    assert!(
        message
            .contains("create the schedule group ecs-drain-checks or set ECS_DRAIN_SCHEDULE_GROUP"),
        "{message}"
    );
    // The lifecycle action was not completed: the retry (or the next event) carries the drain on.
    assert_eq!(world.log.count("autoscaling:CompleteLifecycleAction"), 0);
}

#[tokio::test]
async fn a_missing_describe_lifecycle_hooks_grant_fails_loud_instead_of_checking_every_minute() {
    let world = world(Fault::on(
        "autoscaling:DescribeLifecycleHooks",
        |operation| {
            DrainError::deployment(operation, DeploymentProblem::AccessDenied, "AccessDenied")
        },
    ));
    let error = handle_lifecycle(&world.drainer, &world.notice, &FunctionIdentity::default())
        .await
        .expect_err("fails");
    assert_eq!(
        (error.operation(), error.deployment_problem()),
        (
            "autoscaling:DescribeLifecycleHooks",
            Some(DeploymentProblem::AccessDenied)
        )
    );
    assert!(world.store.all().is_empty(), "no drain was recorded");
}

#[tokio::test]
async fn a_permanent_failure_about_one_input_is_still_acknowledged() {
    let world = world(Fault::on("ecs:DescribeContainerInstances", |operation| {
        DrainError::permanent(operation, "unexpected answer")
    }));
    let report = handle_lifecycle(&world.drainer, &world.notice, &FunctionIdentity::default())
        .await
        .expect("acknowledged");
    assert_eq!(report.outcomes, vec!["failed".to_owned()]);
    assert!(
        report
            .refused
            .is_some_and(|reason| reason.contains("unexpected answer"))
    );
}

#[tokio::test]
async fn malformed_input_is_still_refused_and_acknowledged_whatever_the_ports_would_answer() {
    let world = world(Fault::on("dynamodb:GetItem", |operation| {
        DrainError::deployment(operation, DeploymentProblem::AccessDenied, "denied")
    }));
    let report = handle_task_stopped(
        &world.drainer,
        &json!({"detail-type": "ECS Task State Change", "detail": 7}),
    )
    .await
    .expect("refused, not failed");
    assert_eq!(report.outcomes, vec!["refused".to_owned()]);
    let report = handle_lifecycle(
        &world.drainer,
        &fixture("lifecycle-test-notification-sns.json"),
        &FunctionIdentity::default(),
    )
    .await
    .expect("acknowledged");
    assert!(!report.outcomes.is_empty());
    assert_eq!(world.log.calls(), Vec::<&str>::new(), "nothing was called");
}

#[test]
fn an_error_response_stays_bounded_whatever_aws_answers() {
    let error = DrainError::deployment(
        "dynamodb:GetItem",
        DeploymentProblem::AccessDenied,
        "x".repeat(10_000),
    );
    let (_, message) = error_response(&error, Function::OnTaskStopped, &Config::with_table("t"));
    assert!(
        message.len() <= drain_core::handler::MAX_ERROR_TEXT,
        "{}",
        message.len()
    );
}

#[tokio::test]
async fn permanent_and_deployment_failures_are_counted_for_the_metrics() {
    let failing = world(Fault::on("dynamodb:GetItem", |operation| {
        DrainError::deployment(operation, DeploymentProblem::AccessDenied, "denied")
    }));
    let _ = handle_task_stopped(&failing.drainer, &fixture("ecs-task-stopped-service.json")).await;
    assert_eq!(
        failing.drainer.take_facts(),
        vec![drain_core::metrics::Fact::PermanentFailure]
    );
    let failing = world(Fault::on("dynamodb:GetItem", |operation| {
        DrainError::permanent(operation, "unexpected")
    }));
    handle_task_stopped(&failing.drainer, &fixture("ecs-task-stopped-service.json"))
        .await
        .expect("acknowledged");
    assert_eq!(
        failing.drainer.take_facts(),
        vec![drain_core::metrics::Fact::PermanentFailure]
    );
    let failing = world(Fault::on("dynamodb:GetItem", |operation| {
        DrainError::transient(operation, "Throttling")
    }));
    let _ = handle_task_stopped(&failing.drainer, &fixture("ecs-task-stopped-service.json")).await;
    assert_eq!(
        failing.drainer.take_facts(),
        vec![],
        "a transient failure is retried, not counted"
    );
}
