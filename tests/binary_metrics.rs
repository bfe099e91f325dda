//! The built binaries write their metrics as CloudWatch Embedded Metric Format lines: every log
//! line with an `_aws` member passes the EMF specification checker
//! (`drain_core::metrics::validate_emf`), at most one such line per invocation, in the
//! namespace `ECS_DRAIN_METRICS_NAMESPACE` names, with the metric names the stack's alarms use.
//! And a deployment error reaches the runtime as `DeploymentError`, counted and logged once.

use drain_core::config::{ENV_METRICS_NAMESPACE, ENV_TABLE};
use drain_core::metrics::validate_emf;
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::runtime_api::{FunctionProcess, function_binary};
use drain_testkit::{Deployment, Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::{Value, json};

type TestResult = Result<(), KitError>;

const NAMESPACE: &str = "ecs-drain-test";

fn env(emulator: &Emulator, world: &EmulatorWorld) -> Vec<(String, String)> {
    let mut env = world.function_env();
    env.extend(emulator.function_env());
    env.push((ENV_METRICS_NAMESPACE.into(), NAMESPACE.into()));
    env
}

/// The function's EMF lines so far, each checked against the specification.
fn emf_lines(function: &FunctionProcess) -> Result<Vec<Value>, KitError> {
    let lines: Vec<Value> = function
        .json_logs()
        .into_iter()
        .filter(|line| line.get("_aws").is_some())
        .collect();
    for line in &lines {
        validate_emf(line).map_err(|problem| format!("{}: {problem}: {line}", function.name()))?;
        for directive in line["_aws"]["CloudWatchMetrics"]
            .as_array()
            .into_iter()
            .flatten()
        {
            assert_eq!(directive["Namespace"], json!(NAMESPACE), "{line}");
            let sets = directive["Dimensions"].as_array().ok_or("dimensions")?;
            assert!(
                sets.contains(&json!([])),
                "every metric is also under the empty dimension set: {line}"
            );
        }
    }
    Ok(lines)
}

/// The metrics of a line: name → (unit, value).
fn metrics_of(line: &Value) -> Vec<(String, String, Value)> {
    line["_aws"]["CloudWatchMetrics"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|directive| directive["Metrics"].as_array().cloned().unwrap_or_default())
        .map(|metric| {
            let name = metric["Name"].as_str().unwrap_or_default().to_owned();
            (
                name.clone(),
                metric["Unit"].as_str().unwrap_or_default().to_owned(),
                line[name.as_str()].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_run_by_the_binaries_writes_valid_emf_lines_with_the_alarm_metric_names()
-> TestResult {
    // GIVEN one web replica on instance 0, and both functions running as the stack deploys them
    // (its MetricsNamespace parameter set, its roles, IAM enforced)
    let deployment = Deployment::start_with(WorldSpec::new("emf", 2), |stack| {
        stack.with_parameter("MetricsNamespace", NAMESPACE)
    })
    .await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    let replica = world.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN the group scales instance 0 in
    let action = world.scale_in(0).await?;
    on_lifecycle
        .invoke(&lifecycle_event(&action))
        .await?
        .result
        .map_err(|error| format!("{:?}", error.document))?;

    // THEN on-lifecycle wrote one EMF line counting the drain started
    let lines = emf_lines(&on_lifecycle)?;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        metrics_of(&lines[0]),
        vec![("DrainsStarted".to_owned(), "Count".to_owned(), json!(1.0))]
    );

    // WHEN the replica moves and its STOPPED event reaches on-task-stopped
    world.start_service_task("web", 1).await?;
    world
        .stop_task(
            &replica,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let report = on_task_stopped
        .invoke(&task_state_change_event(
            &world.describe_task(&replica).await?,
            5,
        ))
        .await?
        .result
        .map_err(|error| format!("{:?}", error.document))?;
    assert_eq!(report["outcomes"], json!(["complete"]), "{report}");

    // THEN on-task-stopped wrote one line: the completion by Result and Reason, and its duration
    let lines = emf_lines(&on_task_stopped)?;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(
        (&lines[0]["Result"], &lines[0]["Reason"]),
        (&json!("CONTINUE"), &json!("Drained"))
    );
    let metrics = metrics_of(&lines[0]);
    assert_eq!(
        metrics
            .iter()
            .map(|(name, unit, _)| (name.as_str(), unit.as_str()))
            .collect::<Vec<_>>(),
        [("DrainsCompleted", "Count"), ("DrainDuration", "Seconds")]
    );
    assert!(
        lines[0]["DrainDuration"]
            .as_f64()
            .is_some_and(|seconds| (0.0..600.0).contains(&seconds)),
        "{}",
        lines[0]
    );

    // WHEN a malformed event arrives, and a stopped task on an instance that is not draining
    on_task_stopped
        .invoke(&json!({"detail-type": "ECS Task State Change", "source": "aws.ecs", "detail": 7}))
        .await?;
    let other = world.start_service_task("web", 1).await?;
    world.stop_task(&other, "scaled in").await?;
    on_task_stopped
        .invoke(&task_state_change_event(
            &world.describe_task(&other).await?,
            3,
        ))
        .await?;

    // THEN the refusal is counted, and the common case writes no metric line at all
    let lines = emf_lines(&on_task_stopped)?;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(
        metrics_of(&lines[1]),
        vec![("RefusedEvents".to_owned(), "Count".to_owned(), json!(1.0))]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_table_fails_the_binary_with_deployment_error_logged_once_and_counted()
-> TestResult {
    // GIVEN on-task-stopped deployed with a table that does not exist
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("emf-notable", 1),
    )
    .await?;
    let mut env = env(&emulator, &world);
    env.push((ENV_TABLE.into(), "ecs-drain-no-such-table".into()));
    let on_task_stopped = FunctionProcess::spawn(&function_binary("on-task-stopped")?, env)?;
    world.register_task_definition("batch").await?;
    let task = world.start_standalone_task("batch", 0).await?;
    world.stop_task(&task, "done").await?;

    // WHEN a STOPPED event arrives
    let invocation = on_task_stopped
        .invoke(&task_state_change_event(
            &world.describe_task(&task).await?,
            3,
        ))
        .await?;

    // THEN the invocation fails as a deployment error saying what to fix
    let error = invocation.error().ok_or("the invocation must fail")?;
    assert_eq!(error.error_type, "DeploymentError", "{:?}", error.document);
    assert!(
        error
            .error_message
            .contains("create the DynamoDB table ecs-drain-no-such-table"),
        "{}",
        error.error_message
    );

    // AND one ERROR line names the operation, the problem and the fix, and the failure is counted
    let logs = on_task_stopped.json_logs();
    // (lambda_runtime adds its own ERROR line with the error response: bounded, since it is.)
    assert!(
        logs.iter()
            .filter(|line| line["level"] == json!("ERROR"))
            .all(|line| line.to_string().len() < 4096)
    );
    let errors: Vec<&Value> = logs
        .iter()
        .filter(|line| line["level"] == json!("ERROR") && line["fields"].get("operation").is_some())
        .collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let fields = &errors[0]["fields"];
    assert_eq!(
        (&fields["operation"], &fields["problem"]),
        (&json!("dynamodb:GetItem"), &json!("missing_resource")),
        "{}",
        errors[0]
    );
    assert!(
        fields["fix"]
            .as_str()
            .is_some_and(|fix| fix.contains("ECS_DRAIN_TABLE")),
        "{}",
        errors[0]
    );
    assert!(errors[0].to_string().len() < 4096, "one bounded line");
    let lines = emf_lines(&on_task_stopped)?;
    assert_eq!(lines.len(), 1);
    assert_eq!(
        metrics_of(&lines[0]),
        vec![(
            "PermanentFailures".to_owned(),
            "Count".to_owned(),
            json!(1.0)
        )]
    );
    Ok(())
}
