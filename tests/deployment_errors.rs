//! Fail loud over the wire: a deployment that names a table or a cluster that does not exist
//! makes the handler fail with the Deployment class naming the operation (and the error
//! response say what to fix), with real SDK clients against the emulator on 127.0.0.1. Nothing
//! is changed: the instance stays ACTIVE and its lifecycle action stays open for the retry.
//! (AccessDenied over the wire needs IAM enforcement in the emulator: issue 8, section 1.)

use drain_aws::app::{App, FailedInvocation};
use drain_core::decision::verify::FunctionIdentity;
use drain_core::error::DeploymentProblem;
use drain_core::handler::{Function, handle_lifecycle, handle_task_stopped};
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

async fn world(
    emulator: &Emulator,
    name: &str,
) -> Result<(aws_config::SdkConfig, EmulatorWorld), KitError> {
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(emulator, &sdk, &WorldSpec::new(name, 1)).await?;
    Ok((sdk, world))
}

/// Nothing happened to the instance: still ACTIVE, its lifecycle action still waiting.
async fn untouched(world: &EmulatorWorld) -> TestResult {
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let actions = world.lifecycle_actions()?;
    assert!(
        actions
            .iter()
            .all(|action| action.state == "active" && action.completions == 0),
        "{actions:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_does_not_exist_fails_both_functions_naming_dynamodb() -> TestResult {
    // GIVEN functions configured with a table that was never created
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "notable").await?;
    let mut config = world.config();
    config.table_name = "ecs-drain-no-such-table".into();
    let app = App::new(config, &sdk);

    // WHEN a terminate notice arrives
    let action = world.scale_in(0).await?;
    let error = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &FunctionIdentity::default(),
    )
    .await
    .err()
    .ok_or("the invocation must fail")?;

    // THEN it fails as a deployment error of the record's conditional insert (the notice's
    // first table call, issue 11), and says what to fix
    assert_eq!(
        (error.operation(), error.deployment_problem()),
        ("dynamodb:PutItem", Some(DeploymentProblem::MissingResource)),
        "{error:?}"
    );
    let response = FailedInvocation::new(&error, Function::OnLifecycle, app.drainer.config());
    assert_eq!(response.error_type(), "DeploymentError");
    assert!(
        response
            .error_message()
            .contains("ResourceNotFoundException"),
        "{}",
        response.error_message()
    );
    assert!(
        response
            .error_message()
            .contains("create the DynamoDB table ecs-drain-no-such-table"),
        "{}",
        response.error_message()
    );
    // AND the instance Auto Scaling confirmed it terminates is DRAINING (set before the insert,
    // as every drain does first; a retry finds it so), its lifecycle action still waiting
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    let actions = world.lifecycle_actions()?;
    assert!(
        actions
            .iter()
            .all(|action| action.state == "active" && action.completions == 0),
        "{actions:?}"
    );

    // AND a stopped task on any instance fails on-task-stopped the same way
    world.register_task_definition("batch").await?;
    let task = world.start_standalone_task("batch", 0).await?;
    world.stop_task(&task, "done").await?;
    let event = task_state_change_event(&world.describe_task(&task).await?, 3);
    let error = handle_task_stopped(&app.drainer, &event)
        .await
        .err()
        .ok_or("the invocation must fail")?;
    assert_eq!(
        (error.operation(), error.deployment_problem()),
        ("dynamodb:GetItem", Some(DeploymentProblem::MissingResource))
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_cluster_that_does_not_exist_fails_the_lookup_naming_the_cluster() -> TestResult
{
    // GIVEN on-lifecycle configured with a cluster that does not exist next to the real one
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "nocluster").await?;
    let mut config = world.config();
    config.clusters = vec!["ecs-drain-no-such-cluster".into(), world.cluster.clone()];
    let app = App::new(config, &sdk);

    // WHEN a terminate notice arrives
    let action = world.scale_in(0).await?;
    let error = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &FunctionIdentity::default(),
    )
    .await
    .err()
    .ok_or("the invocation must fail")?;

    // THEN the lookup fails as a deployment error naming the cluster, instead of skipping it
    assert_eq!(
        (error.operation(), error.deployment_problem()),
        (
            "ecs:ListContainerInstances",
            Some(DeploymentProblem::MissingResource)
        ),
        "{error:?}"
    );
    let response = FailedInvocation::new(&error, Function::OnLifecycle, app.drainer.config());
    assert_eq!(response.error_type(), "DeploymentError");
    assert!(
        response
            .error_message()
            .contains("configured cluster ecs-drain-no-such-cluster not found"),
        "{}",
        response.error_message()
    );
    assert!(
        response
            .error_message()
            .contains("fix the stack parameter ClusterNames"),
        "{}",
        response.error_message()
    );
    untouched(&world).await?;
    Ok(())
}
