//! The stack's own IAM, proven over the wire: the built binaries run under their execution
//! roles with IAM enforced by the emulator against the real resource ARNs each request touches
//! (tests/emulator/ecs_drain_moto), so a missing grant fails a test and so does an unused one.

use std::collections::BTreeSet;

use drain_testkit::events::{lifecycle_event, lifecycle_sns_event, task_state_change_event};
use drain_testkit::runtime_api::FunctionProcess;
use drain_testkit::{Deployment, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

/// What Lambda itself does with a function's execution role, not the function's code: write
/// its logs, and send failed asynchronous invocations to the OnFailure destination.
const PLATFORM_ACTIONS: &[&str] = &[
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "sqs:SendMessage",
];

/// Grants that only rare paths use, which the tour below does not walk: (function logical id,
/// action). Each says which path. They must still be granted; they are left out of the
/// comparison, and the story of that path (last in this file) must call every one of them.
const RARE_ACTIONS: &[(&str, &str)] = &[
    // on-task-stopped finishing a drain whose lifecycle action turns out gone while the instance
    // stays in service: it asks Auto Scaling, finds the container instance and sets it ACTIVE
    // again (an expired drain never strands capacity).
    (
        "OnTaskStoppedFunction",
        "autoscaling:DescribeAutoScalingInstances",
    ),
    ("OnTaskStoppedFunction", "ecs:ListContainerInstances"),
    ("OnTaskStoppedFunction", "ecs:DescribeContainerInstances"),
    ("OnTaskStoppedFunction", "ecs:UpdateContainerInstancesState"),
    // on-task-stopped describing a service the drain has not looked up yet: services are looked
    // up once per drain (issue 11), by on-lifecycle's first census in the tour, so only a
    // service whose first task shows up after that census is described here.
    ("OnTaskStoppedFunction", DESCRIBE_NEW_SERVICE),
];

/// on-task-stopped's rare path that is not the restore path.
const DESCRIBE_NEW_SERVICE: &str = "ecs:DescribeServices";

async fn respond(function: &FunctionProcess, payload: &Value) -> Result<Value, KitError> {
    let invocation = function.invoke(payload).await?;
    invocation.result.map_err(|error| {
        format!(
            "{} answered an error for {payload}: {:?}\n{}",
            function.name(),
            error.document,
            function.logs()
        )
        .into()
    })
}

fn outcomes(report: &Value) -> Vec<&str> {
    report["outcomes"]
        .as_array()
        .map(|outcomes| outcomes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// The name of the check schedule booked for instance `index`, if one exists.
async fn schedule_of(deployment: &Deployment, index: usize) -> Result<Option<String>, KitError> {
    let scheduler =
        aws_sdk_scheduler::Client::new(&deployment.emulator.sdk_config_as(&deployment.admin));
    let listed = scheduler
        .list_schedules()
        .group_name(&deployment.world.schedule_group)
        .send()
        .await?;
    let id = deployment.world.instances[index]
        .container_instance_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok(listed
        .schedules()
        .iter()
        .filter_map(|schedule| schedule.name())
        .find(|name| name.contains(&id))
        .map(str::to_owned))
}

/// The schedule on-lifecycle booked for instance `index`, fired the way EventBridge Scheduler
/// fires it: its input, to its target (checked to be the deployed on-lifecycle, as the stack's
/// scheduler role), the one-shot schedule then gone. Returns the input and the report.
async fn fire_check(
    deployment: &Deployment,
    function: &FunctionProcess,
    index: usize,
) -> Result<(Value, Value), KitError> {
    let payload = deployment.fire_booked_check(index).await?;
    let report = respond(function, &payload).await?;
    Ok((payload, report))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_actions_each_function_calls_are_exactly_the_actions_its_role_grants() -> TestResult {
    // GIVEN the stack deployed for four instances running the standard services, instance 3
    // idle, and both functions running under their own roles with IAM enforced
    let deployment = Deployment::start(WorldSpec::new("iam-tour", 4)).await?;
    let world = &deployment.world;
    let tasks = world.populate_standard(0).await?;
    for task in world.tasks_on(3).await? {
        world
            .stop_task(
                task.task_arn().ok_or("no task ARN")?,
                "Scaling activity initiated by (deployment ecs-svc/1)",
            )
            .await?;
    }
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN every path of a drain runs: the EventBridge notice, a scheduled check, the STOPPED
    // events up to the daemon stop and the completion, a check after the end, and an idle
    // instance drained through the SNS path
    let action = world.scale_in(0).await?;
    assert_eq!(
        outcomes(&respond(&on_lifecycle, &lifecycle_event(&action)).await?),
        ["wait"]
    );
    let (check, report) = fire_check(&deployment, &on_lifecycle, 0).await?;
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    // (the same firing delivered again, as an asynchronous invocation may be: it re-books the
    // schedule the first delivery booked, so CreateSchedule answers 409 and UpdateSchedule
    // moves it)
    assert_eq!(
        outcomes(&respond(&on_lifecycle, &check).await?),
        ["wait"],
        "a second check re-books an existing schedule"
    );
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        let event = world
            .replica_moves(service, arn, 1 + position % 2, 11 + position as i64)
            .await?;
        respond(&on_task_stopped, &event).await?;
    }
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let report = respond(
        &on_task_stopped,
        &task_state_change_event(&world.describe_task(&tasks.standalone).await?, 20),
    )
    .await?;
    assert_eq!(outcomes(&report), ["stop_daemons"], "{report}");
    let report = respond(
        &on_task_stopped,
        &task_state_change_event(&world.describe_task(&tasks.daemon).await?, 30),
    )
    .await?;
    assert_eq!(outcomes(&report), ["complete"], "{report}");
    // (the completion left the drain's check booked; it fires, finds the drain ended with one
    // GetItem and deletes nothing: the one-shot schedule is gone after firing, as EventBridge
    // Scheduler deletes it)
    assert!(
        schedule_of(&deployment, 0).await?.is_some(),
        "the finished drain's check is left to fire"
    );
    let (_, report) = fire_check(&deployment, &on_lifecycle, 0).await?;
    assert_eq!(outcomes(&report), ["not_draining"], "{report}");
    assert!(
        schedule_of(&deployment, 0).await?.is_none(),
        "the fired one-shot schedule is gone"
    );
    // (instance 1: its replicas stop while their STOPPED events are lost, so its check finds
    // only the daemon and on-lifecycle stops it)
    let action = world.scale_in(1).await?;
    assert_eq!(
        outcomes(&respond(&on_lifecycle, &lifecycle_event(&action)).await?),
        ["wait"]
    );
    for task in world.tasks_on(1).await? {
        if task.group() != Some("service:log-router") && task.last_status() != Some("STOPPED") {
            world
                .stop_task(
                    task.task_arn().ok_or("no task ARN")?,
                    "Task stopped by ECS because the container instance is being drained.",
                )
                .await?;
        }
    }
    let (_, report) = fire_check(&deployment, &on_lifecycle, 1).await?;
    assert_eq!(outcomes(&report), ["stop_daemons"], "{report}");
    let idle = world.scale_in(3).await?;
    let report = respond(&on_lifecycle, &lifecycle_sns_event(&idle)).await?;
    assert_eq!(outcomes(&report), ["complete"], "{report}");

    // THEN nothing was denied
    let decisions = deployment.emulator.iam_decisions()?;
    let denied: Vec<_> = decisions
        .iter()
        .filter(|decision| !decision.allowed)
        .collect();
    assert!(
        denied.is_empty(),
        "denied under the stack's own roles: {denied:?}"
    );

    // AND each role grants exactly what its function was seen calling, plus what Lambda itself
    // uses and the listed rare paths
    for logical in ["OnLifecycleFunction", "OnTaskStoppedFunction"] {
        let function = deployment.stack.function(logical)?;
        let role = function.role_name();
        let rare: BTreeSet<&str> = RARE_ACTIONS
            .iter()
            .filter(|(of, _)| *of == logical)
            .map(|(_, action)| *action)
            .collect();
        let all_granted = deployment.emulator.role_actions(role)?;
        for action in &rare {
            assert!(
                all_granted.iter().any(|granted| granted == action),
                "{logical}: rare-path action {action} is not granted"
            );
        }
        let compared = |action: &String| {
            !PLATFORM_ACTIONS.contains(&action.as_str()) && !rare.contains(action.as_str())
        };
        let observed: BTreeSet<String> = decisions
            .iter()
            .filter(|decision| decision.role.as_deref() == Some(role))
            .map(|decision| decision.action.clone())
            .filter(|action| compared(action))
            .collect();
        let granted: BTreeSet<String> = all_granted
            .into_iter()
            .filter(|action| compared(action))
            .collect();
        let unused: Vec<_> = granted.difference(&observed).collect();
        let missing: Vec<_> = observed.difference(&granted).collect();
        assert!(
            unused.is_empty() && missing.is_empty(),
            "{logical}: granted but never called {unused:?}; called but not granted {missing:?}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_without_the_draining_grant_fails_the_drain_loudly_naming_the_permission()
-> TestResult {
    // GIVEN the stack deployed without ecs:UpdateContainerInstancesState in on-lifecycle's role
    let deployment = Deployment::start_with(WorldSpec::new("iam-missing", 2), |stack| {
        stack.without_grant("OnLifecycleRole", "ecs:UpdateContainerInstancesState")
    })
    .await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    world.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;

    // WHEN the group scales in the busy instance
    let action = world.scale_in(0).await?;
    let invocation = on_lifecycle.invoke(&lifecycle_event(&action)).await?;

    // THEN the invocation fails (Lambda retries it, the Errors alarm fires, the event reaches
    // the failure queue) as a deployment error naming the missing permission
    let error = invocation
        .error()
        .ok_or_else(|| format!("expected a failed invocation, got {:?}", invocation.result))?;
    assert_eq!(error.error_type, "DeploymentError", "{:?}", error.document);
    assert!(
        error
            .error_message
            .contains("ecs:UpdateContainerInstancesState"),
        "{}",
        error.error_message
    );
    // AND the log says AccessDenied and what to grant, and the instance is still ACTIVE
    let logs = on_lifecycle.logs();
    assert!(
        logs.contains("AccessDenied") && logs.contains("ecs:UpdateContainerInstancesState"),
        "{logs}"
    );
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let denied: Vec<_> = deployment
        .emulator
        .iam_decisions()?
        .into_iter()
        .filter(|decision| !decision.allowed)
        .collect();
    assert_eq!(
        denied
            .iter()
            .map(|decision| decision.action.as_str())
            .collect::<Vec<_>>(),
        ["ecs:UpdateContainerInstancesState"]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_task_stopped_gives_an_expired_drains_instance_back_to_service_under_its_own_role()
-> TestResult {
    // GIVEN an instance in service whose container instance is DRAINING, with a drain on record
    // for a lifecycle action that does not exist, and one task that just stopped on it (the
    // rare path of on-task-stopped's restore grants), IAM enforced
    let deployment = Deployment::start(WorldSpec::new("iam-restore", 2)).await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    let web = world.start_service_task("web", 0).await?;
    world
        .drain_without_action(0, "d0d0d0d0-1111-4222-8333-444455556666")
        .await?;
    world.start_service_task("web", 1).await?;
    world
        .stop_task(
            &web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN its STOPPED event reaches on-task-stopped, which finds nothing alive and no action
    let report = respond(
        &on_task_stopped,
        &task_state_change_event(&world.describe_task(&web).await?, 3),
    )
    .await?;

    // THEN the container instance runs tasks again, every call allowed by the stack's role
    assert_eq!(outcomes(&report), ["action_gone"], "{report}");
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let role = deployment.stack.on_task_stopped()?.role_name().to_owned();
    let decisions: Vec<_> = deployment
        .emulator
        .iam_decisions()?
        .into_iter()
        .filter(|decision| decision.role.as_deref() == Some(role.as_str()))
        .collect();
    assert!(
        decisions.iter().all(|decision| decision.allowed),
        "{decisions:?}"
    );
    let called: BTreeSet<&str> = decisions
        .iter()
        .map(|decision| decision.action.as_str())
        .collect();
    for (function, action) in RARE_ACTIONS {
        assert_eq!(*function, "OnTaskStoppedFunction");
        if *action == DESCRIBE_NEW_SERVICE {
            continue; // the other rare path: nothing is alive here to describe
        }
        assert!(
            called.contains(action),
            "the rare path calls {action}: {called:?}"
        );
    }
    Ok(())
}
