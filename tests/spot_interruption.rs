//! Spot interruptions end to end with the built binaries as deployed (infra/template.yaml in
//! the emulator, IAM enforced, each function under its own execution role): a Spot warning
//! drains the instance before any lifecycle action, the group's terminate action joins that
//! drain (one drain, one completion), a warning past its horizon drains nothing, a rebalance recommendation is ignored with its reason
//! while the stack's default leaves rebalance draining off, and a group that also carries ECS
//! managed draining's hook is warned about once while that hook's action is left alone.

use drain_core::time::{Clock, SystemClock};
use drain_testkit::events::{ActionEnd, lifecycle_event, task_state_change_event};
use drain_testkit::fleet::{rebalance_event, spot_interruption_event};
use drain_testkit::invoke::{metric_total, outcomes, record_text, respond};
use drain_testkit::{Deployment, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_warning_then_the_terminate_action_make_one_drain_and_one_completion() -> TestResult
{
    // GIVEN the deployed stack, and a web replica on instance 0 of its group
    let deployment = Deployment::start(WorldSpec::new("spot-join", 2)).await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    let web = world.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN EC2 warns that instance 0 will be interrupted
    let warning =
        spot_interruption_event(&world.instances[0].ec2_id, "terminate", SystemClock.now());
    let report = respond(&on_lifecycle, &warning).await?;

    // THEN the instance is DRAINING at once, with an interruption drain on record and no
    // lifecycle action touched (none exists yet)
    assert_eq!(outcomes(&report), vec!["wait"], "{report}");
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    assert_eq!(
        record_text(world, 0, "drain_kind").await?.as_deref(),
        Some("interruption")
    );
    assert!(world.lifecycle_actions()?.is_empty());
    assert_eq!(
        metric_total(&on_lifecycle, "InterruptionDrainsStarted"),
        1.0
    );

    // WHEN the warning is delivered again
    let again = respond(&on_lifecycle, &warning).await?;
    // THEN nothing changes
    assert_eq!(outcomes(&again), vec!["joined"], "{again}");

    // WHEN ECS moves the replica: a new task elsewhere, the old one STOPPED
    world.start_service_task("web", 1).await?;
    world
        .stop_task(
            &web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let stopped = task_state_change_event(&world.describe_task(&web).await?, 2);
    let report = respond(&on_task_stopped, &stopped).await?;
    // THEN the drain waits for the lifecycle action: nothing to complete yet
    assert_eq!(outcomes(&report), vec!["wait"], "{report}");
    assert_eq!(
        record_text(world, 0, "status").await?.as_deref(),
        Some("DRAINING")
    );

    // WHEN the group terminates the instance through its hook
    let action = world.scale_in(0).await?;
    let report = respond(&on_lifecycle, &lifecycle_event(&action)).await?;
    // THEN the action joins the drain and is completed at once, exactly once
    assert_eq!(outcomes(&report), vec!["complete"], "{report}");
    assert_eq!(
        world.sole_action_end()?,
        ActionEnd::completed_once("CONTINUE")
    );
    assert_eq!(
        record_text(world, 0, "status").await?.as_deref(),
        Some("COMPLETED")
    );
    assert_eq!(
        record_text(world, 0, "drain_kind").await?.as_deref(),
        Some("interruption")
    );

    // WHEN everything is delivered again
    // (the terminate action first asks Auto Scaling, which no longer has the terminated
    // instance in any group: refused before its insert could find the ended drain)
    let report = respond(&on_lifecycle, &lifecycle_event(&action)).await?;
    assert_eq!(
        outcomes(&report),
        vec!["refused_not_in_any_group"],
        "{report}"
    );
    let report = respond(&on_lifecycle, &warning).await?;
    assert_eq!(outcomes(&report), vec!["ignored"], "{report}");
    // THEN there is still one completion
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_spot_warning_for_a_live_instance_drains_nothing() -> TestResult {
    // GIVEN the deployed stack, and a web replica on its live instance
    let deployment = Deployment::start(WorldSpec::new("spot-stale", 1)).await?;
    let world = &deployment.world;
    world.create_service("web", false, 50, 200).await?;
    let web = world.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;

    // WHEN a warning for it sent ten minutes ago arrives (an archive replay, a late copy, a
    // direct invoke: its horizon passed long ago and the instance is still there)
    let sent = SystemClock.now().plus_seconds(-600);
    let warning = spot_interruption_event(&world.instances[0].ec2_id, "terminate", sent);
    let report = respond(&on_lifecycle, &warning).await?;

    // THEN it is refused as history, with its reason logged
    assert_eq!(outcomes(&report), vec!["refused_stale_notice"], "{report}");
    assert!(
        on_lifecycle.logs().contains("past its 120 s horizon"),
        "the reason is logged"
    );
    // AND the instance keeps serving: ACTIVE, its task running, no drain on record
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    assert_eq!(
        world.describe_task(&web).await?.last_status(),
        Some("RUNNING")
    );
    assert_eq!(record_text(world, 0, "status").await?, None);
    assert_eq!(
        metric_total(&on_lifecycle, "InterruptionDrainsStarted"),
        0.0
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebalance_recommendation_is_ignored_with_its_reason_by_default() -> TestResult {
    // GIVEN the deployed stack with its defaults (DrainOnRebalance=false)
    let deployment = Deployment::start(WorldSpec::new("spot-rebalance", 1)).await?;
    let world = &deployment.world;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    // WHEN a rebalance recommendation for its instance arrives
    let report = respond(
        &on_lifecycle,
        &rebalance_event(&world.instances[0].ec2_id, SystemClock.now()),
    )
    .await?;
    // THEN it is ignored, saying why, and the instance keeps serving
    assert_eq!(outcomes(&report), vec!["ignored"], "{report}");
    assert!(
        on_lifecycle.logs().contains("ECS_DRAIN_ON_REBALANCE"),
        "the reason is logged"
    );
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    assert_eq!(record_text(world, 0, "status").await?, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_ecs_managed_draining_is_warned_about_once_and_its_hook_left_alone()
-> TestResult {
    // GIVEN the deployed stack's group also carries ECS managed draining's hook
    let deployment = Deployment::start(WorldSpec::new("spot-managed", 2)).await?;
    let world = &deployment.world;
    world
        .autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(&world.asg)
        .lifecycle_hook_name(drain_core::config::ECS_MANAGED_DRAINING_HOOK)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(3600)
        .default_result("CONTINUE")
        .send()
        .await?;
    world.create_service("web", false, 50, 200).await?;
    world.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;

    // WHEN the group scales instance 0 in and both hooks' actions reach on-lifecycle, ours twice
    let ours = world.scale_in(0).await?;
    let theirs = world
        .lifecycle_actions()?
        .into_iter()
        .find(|action| action.hook == drain_core::config::ECS_MANAGED_DRAINING_HOOK)
        .ok_or("the managed hook's action was started")?;
    for event in [
        lifecycle_event(&ours),
        lifecycle_event(&ours),
        lifecycle_event(&theirs),
    ] {
        respond(&on_lifecycle, &event).await?;
    }

    // THEN the drain warned once, as a metric
    assert_eq!(metric_total(&on_lifecycle, "ManagedDrainingCoexists"), 1.0);
    assert!(
        on_lifecycle
            .logs()
            .contains("the group also carries ECS managed draining's hook")
    );
    // AND the managed hook's action is untouched: no completion, still active
    let theirs_now = world
        .lifecycle_actions()?
        .into_iter()
        .find(|action| action.token == theirs.token)
        .ok_or("the managed hook's action is listed")?;
    assert_eq!(
        (theirs_now.state.as_str(), theirs_now.completions),
        ("active", 0)
    );
    assert_eq!(world.instance_status(0).await?, "DRAINING");
    Ok(())
}
