//! End to end with the built binaries as deployed: infra/template.yaml is deployed into the
//! emulator, IAM is enforced, and on-lifecycle and on-task-stopped run as processes behind the
//! Runtime API emulator (crates/drain-testkit/src/runtime_api.rs) with the environment the stack
//! gives them and
//! temporary credentials of their own execution roles, pointed at the AWS emulator through
//! AWS_ENDPOINT_URL. Each story has its own emulator.

use std::time::Instant;

use drain_testkit::events::{
    ActionEnd, LifecycleAction, as_replay, lifecycle_event, lifecycle_sns_event,
    task_state_change_event,
};
use drain_testkit::invoke::{outcomes, record_attribute, record_text, respond};
use drain_testkit::runtime_api::FunctionProcess;
use drain_testkit::{Deployment, EmulatorWorld, KitError, WorldSpec, project_root};
use serde_json::{Value, json};

type TestResult = Result<(), KitError>;

/// The two functions of the stack, running.
struct Functions {
    on_lifecycle: FunctionProcess,
    on_task_stopped: FunctionProcess,
}

impl Functions {
    /// Both binaries as the stack deploys them: its environment, its execution roles.
    async fn start(deployment: &Deployment) -> Result<Functions, KitError> {
        Ok(Functions {
            on_lifecycle: deployment.spawn_on_lifecycle().await?,
            on_task_stopped: deployment.spawn_on_task_stopped().await?,
        })
    }
}

/// The `status` attribute of instance `index`'s drain record, if any.
async fn record_status(world: &EmulatorWorld, index: usize) -> Result<Option<String>, KitError> {
    record_text(world, index, "status").await
}

/// Whether `key` holds `expected` anywhere in a JSON log line (fields, span, spans).
fn mentions(value: &Value, key: &str, expected: &str) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(name, inner)| {
            (name == key && inner.as_str() == Some(expected)) || mentions(inner, key, expected)
        }),
        Value::Array(items) => items.iter().any(|inner| mentions(inner, key, expected)),
        _ => false,
    }
}

/// The stack deployed for a world of `instances` instances with one `web` replica on
/// instance 0, scaled in: the lifecycle action for instance 0 is active.
async fn world_scaling_in_one_busy_instance(
    name: &str,
    instances: usize,
) -> Result<(Deployment, LifecycleAction), KitError> {
    let deployment = Deployment::start(WorldSpec::new(name, instances)).await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    world.start_service_task("web", 0).await?;
    let action = world.scale_in(0).await?;
    Ok((deployment, action))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_running_binaries_drain_a_scaled_in_instance_and_complete_once_logging_only_the_token_prefix()
-> TestResult {
    // GIVEN three instances running web and api replicas and the log-router daemon, a
    // standalone report task on instance 0, and both functions running as Lambda runs them
    let deployment = Deployment::start(WorldSpec::new("bin-std", 3)).await?;
    let world = &deployment.world;
    let tasks = world.populate_standard(0).await?;
    let functions = Functions::start(&deployment).await?;

    // WHEN the group scales in instance 0 and its lifecycle action reaches on-lifecycle
    let action = world.scale_in(0).await?;
    let report = respond(&functions.on_lifecycle, &lifecycle_event(&action)).await?;

    // THEN the instance drains and nothing is completed yet
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    assert_eq!(report["dry_run"], json!(false));
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    assert_eq!(record_status(world, 0).await?.as_deref(), Some("DRAINING"));

    // WHEN ECS replaces each replica elsewhere and the old tasks stop, then the standalone
    // task finishes, each STOPPED event reaching on-task-stopped
    let mut version = 10;
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        version += 1;
        let stopped = world
            .replica_moves(service, arn, 1 + position % 2, version)
            .await?;
        let report = respond(&functions.on_task_stopped, &stopped).await?;
        assert_eq!(outcomes(&report), ["wait"], "{report}");
    }
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let report = respond(
        &functions.on_task_stopped,
        &task_state_change_event(&world.describe_task(&tasks.standalone).await?, 20),
    )
    .await?;

    // THEN only the daemon is left and it is asked to stop, the action still waiting
    assert_eq!(outcomes(&report), ["stop_daemons"], "{report}");
    let daemon = world.describe_task(&tasks.daemon).await?;
    assert_eq!(daemon.desired_status(), Some("STOPPED"));
    assert_eq!(world.lifecycle_actions()?[0].state, "active");

    // WHEN the daemon's STOPPED event arrives
    let report = respond(
        &functions.on_task_stopped,
        &task_state_change_event(&daemon, 30),
    )
    .await?;

    // THEN the lifecycle action is completed exactly once with CONTINUE and the drain is COMPLETED
    assert_eq!(outcomes(&report), ["complete"], "{report}");
    assert_eq!(
        world.sole_action_end()?,
        ActionEnd::completed_once("CONTINUE")
    );
    assert_eq!(record_status(world, 0).await?.as_deref(), Some("COMPLETED"));

    // AND the logs are JSON lines with the decisions and the token prefix, never the token
    let prefix: String = action.token.chars().take(8).collect();
    let rest: String = action.token.chars().skip(8).collect();
    for function in [&functions.on_lifecycle, &functions.on_task_stopped] {
        let logs = function.logs();
        for line in logs.lines().filter(|line| !line.trim().is_empty()) {
            assert!(
                serde_json::from_str::<Value>(line).is_ok_and(|value| value.is_object()),
                "{}: not a JSON line: {line}",
                function.name()
            );
        }
        assert!(
            !logs.contains(&action.token),
            "{} logged the full lifecycle token",
            function.name()
        );
        assert!(
            !logs.contains(&rest),
            "{} logged the secret part of the lifecycle token",
            function.name()
        );
        assert!(
            function
                .json_logs()
                .iter()
                .any(|line| mentions(line, "token_prefix", &prefix)),
            "{}: no token prefix in\n{logs}",
            function.name()
        );
    }
    assert!(
        functions
            .on_lifecycle
            .json_logs()
            .iter()
            .any(|line| mentions(line, "decision", "wait")),
        "{}",
        functions.on_lifecycle.logs()
    );
    assert!(
        functions
            .on_task_stopped
            .json_logs()
            .iter()
            .any(|line| mentions(line, "decision", "complete")),
        "{}",
        functions.on_task_stopped.logs()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sns_lifecycle_message_starts_the_drain_and_the_test_notification_changes_nothing()
-> TestResult {
    // GIVEN a busy instance being scaled in, the hook notifying through SNS
    let (deployment, action) = world_scaling_in_one_busy_instance("bin-sns", 2).await?;
    let world = &deployment.world;
    let functions = Functions::start(&deployment).await?;

    // WHEN the SNS-wrapped lifecycle message reaches on-lifecycle
    let report = respond(&functions.on_lifecycle, &lifecycle_sns_event(&action)).await?;

    // THEN the drain starts
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    assert_eq!(record_status(world, 0).await?.as_deref(), Some("DRAINING"));
    let before = world.snapshot().await?;

    // WHEN the hook's TEST_NOTIFICATION arrives through the same topic
    let fixture = std::fs::read_to_string(
        project_root().join("tests/fixtures/lifecycle-test-notification-sns.json"),
    )?;
    let report = respond(&functions.on_lifecycle, &serde_json::from_str(&fixture)?).await?;

    // THEN it is acknowledged as ignored and changes nothing
    assert_eq!(outcomes(&report), ["ignored"], "{report}");
    assert_eq!(report.get("refused"), None, "{report}");
    assert_eq!(world.snapshot().await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_unknown_payloads_are_refused_without_changes_and_the_process_keeps_serving()
-> TestResult {
    // GIVEN a busy instance being scaled in, and both functions running
    let (deployment, action) = world_scaling_in_one_busy_instance("bin-bad", 2).await?;
    let world = &deployment.world;
    let functions = Functions::start(&deployment).await?;
    let before = world.snapshot().await?;
    let scheduled = json!({
        "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-02T18:43:48Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/nightly"], "detail": {}
    });
    let mut tokenless = lifecycle_event(&action);
    tokenless["detail"]
        .as_object_mut()
        .ok_or("no detail")?
        .remove("LifecycleActionToken");

    // WHEN payloads that are not what each function handles arrive
    // (a well-formed EventBridge event of another kind is acknowledged as ignored, issue 9)
    let cases = [
        (&functions.on_lifecycle, json!({}), "refused"),
        (&functions.on_lifecycle, json!([1]), "refused"),
        (&functions.on_lifecycle, json!(null), "refused"),
        (&functions.on_lifecycle, scheduled.clone(), "ignored"),
        (&functions.on_lifecycle, tokenless.clone(), "refused"),
        (&functions.on_task_stopped, json!({}), "refused"),
        (&functions.on_task_stopped, json!([1]), "refused"),
        (&functions.on_task_stopped, scheduled, "ignored"),
        (&functions.on_task_stopped, tokenless, "ignored"),
    ];
    for (function, payload, expected) in &cases {
        let report = respond(function, payload).await?;
        // THEN each is acknowledged, a refused one with the reason it was refused
        assert_eq!(
            outcomes(&report),
            [*expected],
            "{}: {payload} -> {report}",
            function.name()
        );
        if *expected == "refused" {
            assert!(
                report["refused"]
                    .as_str()
                    .is_some_and(|reason| !reason.is_empty()),
                "{}: {payload} -> {report}",
                function.name()
            );
        }
    }
    // AND a body that is not JSON at all is answered by the runtime client as an error
    // (Lambda's Invoke API and EventBridge never deliver one)
    let garbage = functions
        .on_lifecycle
        .invoke_bytes(b"{not json".to_vec())
        .await?;
    assert!(garbage.error().is_some(), "{:?}", garbage.result);

    // THEN nothing changed, both processes are still up and the next valid event is handled
    assert_eq!(world.snapshot().await?, before);
    assert!(functions.on_lifecycle.is_running() && functions.on_task_stopped.is_running());
    let report = respond(&functions.on_lifecycle, &lifecycle_event(&action)).await?;
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    for function in [&functions.on_lifecycle, &functions.on_task_stopped] {
        assert!(!function.logs().contains("panicked"), "{}", function.logs());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_lifecycle_event_is_a_dry_run_by_default() -> TestResult {
    // GIVEN a busy instance being scaled in, and on-lifecycle with the stack's default
    // replay mode (dry-run)
    let (deployment, action) = world_scaling_in_one_busy_instance("bin-replay", 2).await?;
    let world = &deployment.world;
    let functions = Functions::start(&deployment).await?;
    let before = world.snapshot().await?;

    // WHEN an archive replay re-sends the lifecycle event
    let report = respond(
        &functions.on_lifecycle,
        &as_replay(lifecycle_event(&action), "ecs-drain-2026-11-02"),
    )
    .await?;

    // THEN the report says dry run, the instance stays ACTIVE and no drain is recorded
    assert_eq!(report["dry_run"], json!(true), "{report}");
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    assert_eq!(record_status(world, 0).await?, None);
    assert_eq!(world.snapshot().await?, before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invocation_fails_with_a_transient_error_when_aws_is_unreachable_mid_drain() -> TestResult
{
    // GIVEN a drain under way: the lifecycle action handled, the web task stopped
    let (deployment, action) = world_scaling_in_one_busy_instance("bin-down", 2).await?;
    let world = &deployment.world;
    let functions = Functions::start(&deployment).await?;
    let report = respond(&functions.on_lifecycle, &lifecycle_event(&action)).await?;
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    let web = world
        .tasks_on(0)
        .await?
        .into_iter()
        .next()
        .ok_or("no task on instance 0")?;
    let web_arn = web.task_arn().ok_or("no task ARN")?.to_owned();
    world
        .stop_task(
            &web_arn,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let stopped = task_state_change_event(&world.describe_task(&web_arn).await?, 2);

    // WHEN AWS becomes unreachable (the emulator stops) and the STOPPED event arrives
    drop(deployment);
    let started = Instant::now();
    let invocation = functions.on_task_stopped.invoke(&stopped).await?;

    // THEN the invocation fails (so Lambda retries it) instead of acknowledging the event
    let error = invocation
        .error()
        .ok_or_else(|| format!("expected an error, got {:?}", invocation.result))?;
    assert_eq!(
        error.error_type, "TransientAwsError",
        "{:?}",
        error.document
    );
    assert!(!error.error_message.is_empty());
    // and a redelivered lifecycle event fails the same way
    let invocation = functions
        .on_lifecycle
        .invoke(&lifecycle_event(&action))
        .await?;
    assert_eq!(
        invocation.error().map(|error| error.error_type.as_str()),
        Some("TransientAwsError"),
        "{:?}",
        invocation.result
    );
    assert!(functions.on_task_stopped.is_running() && functions.on_lifecycle.is_running());
    eprintln!("two failing invocations took {:?}", started.elapsed());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_the_binary_books_invokes_it_back_and_heartbeats_the_hook() -> TestResult {
    // GIVEN on-lifecycle running with the stack's schedule settings, and a drain it started
    let (deployment, action) = world_scaling_in_one_busy_instance("check", 2).await?;
    let world = &deployment.world;
    let functions = Functions::start(&deployment).await?;
    assert_eq!(
        outcomes(&respond(&functions.on_lifecycle, &lifecycle_event(&action)).await?),
        vec!["wait"]
    );

    // WHEN EventBridge Scheduler fires the schedule the function booked: the same target, the
    // same input
    // (booked_check: its target is the deployed on-lifecycle, as the stack's scheduler role)
    let schedule = deployment.booked_check(0).await?;
    let target = schedule.target().ok_or("schedule without target")?;
    let failure_queue = deployment
        .stack
        .on_lifecycle()?
        .env(drain_core::config::ENV_CHECK_DLQ_ARN)
        .ok_or("no dead-letter setting")?;
    assert!(
        failure_queue.starts_with("arn:aws:sqs:") && failure_queue.contains("FailureQueue"),
        "{failure_queue}"
    );
    assert_eq!(
        target.dead_letter_config().and_then(|config| config.arn()),
        Some(failure_queue),
        "a dropped check lands in the stack's FailureQueue"
    );
    assert!(
        schedule
            .schedule_expression()
            .unwrap_or_default()
            .starts_with("at("),
        "a one-shot schedule"
    );
    let payload: Value = serde_json::from_str(target.input().ok_or("schedule without input")?)?;
    let report = respond(&functions.on_lifecycle, &payload).await?;

    // THEN the binary takes the census, records a heartbeat on the hook, and books the next check
    assert_eq!(outcomes(&report), vec!["wait"]);
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].state.as_str(), actions[0].heartbeats),
        ("active", 1)
    );
    let heartbeats = record_attribute(
        world,
        &world.instances[0].container_instance_arn,
        "heartbeats_sent",
    )
    .await?
    .and_then(|value| value.as_n().ok().cloned());
    assert_eq!(heartbeats.as_deref(), Some("1"));
    Ok(())
}
