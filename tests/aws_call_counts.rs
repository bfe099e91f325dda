//! What each event costs in AWS calls: the real handlers and adapters, their clients going
//! through the counting proxy (no faults, one attempt per call), the test's own setup talking
//! to the emulator directly so it is not counted.
//!
//! The costs follow from the flow in ARCHITECTURE.md; a change here is a change in what every
//! drain pays (and in how close a busy cluster gets to the ECS and DynamoDB rate limits), so
//! the counts are exact.

use std::collections::BTreeMap;

use aws_config::retry::RetryConfig;
use drain_aws::app::App;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_testkit::emulator::sdk_config_for;
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::proxy::{FaultPlan, Proxy};
use drain_testkit::{Emulator, KitError, World, WorldSpec};

type TestResult = Result<(), KitError>;

/// The function-under-test's app, its clients pointed at the proxy.
fn app_through(proxy: &Proxy, world: &World) -> App {
    App::new(
        world.config(),
        &sdk_config_for(
            &proxy.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
        ),
    )
}

fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs
        .iter()
        .map(|(operation, count)| ((*operation).to_owned(), *count))
        .collect()
}

/// The counts since the last reset, printed (run with `--nocapture` to see them), then reset.
fn take_counts(proxy: &Proxy, what: &str) -> BTreeMap<String, u64> {
    let observed = proxy.counts();
    println!(
        "{what}: {observed:?} ({} calls)",
        observed.values().sum::<u64>()
    );
    proxy.reset_counts();
    observed
}

/// The census of one look at a drain: ListTasks once per page of each desiredStatus listing
/// (at least one call each), DescribeTasks once per 100 tasks listed, DescribeServices once
/// (≤ 10 services) only when a service task is alive whose service the drain has not looked up
/// yet (services are looked up once per drain).
fn census(
    running_listed: u64,
    stopped_listed: u64,
    new_service_alive: bool,
) -> Vec<(&'static str, u64)> {
    let pages = |listed: u64| listed.div_ceil(100).max(1);
    let mut calls = vec![(
        "ecs:ListTasks",
        pages(running_listed) + pages(stopped_listed),
    )];
    let listed = running_listed + stopped_listed;
    if listed > 0 {
        calls.push(("ecs:DescribeTasks", listed.div_ceil(100)));
    }
    if new_service_alive {
        calls.push(("ecs:DescribeServices", 1));
    }
    calls
}

fn with(
    mut calls: Vec<(&'static str, u64)>,
    more: &[(&'static str, u64)],
) -> BTreeMap<String, u64> {
    for (operation, count) in more {
        match calls.iter_mut().find(|(name, _)| name == operation) {
            Some((_, existing)) => *existing += count,
            None => calls.push((operation, *count)),
        }
    }
    counts(&calls)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_event_for_an_instance_that_is_not_draining_costs_one_read() -> TestResult {
    // GIVEN a cluster where nothing drains, and ecs-drain's clients behind the counting proxy
    let emulator = Emulator::start()?;
    let world = World::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("count-idle", 2),
    )
    .await?;
    world.register_task_definition("nightly-report").await?;
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    let app = app_through(&proxy, &world);
    let task = world.start_standalone_task("nightly-report", 1).await?;
    world
        .stop_task(&task, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&world.describe_task(&task).await?, 2);

    // WHEN its STOPPED event reaches on-task-stopped
    let report = handle_task_stopped(&app.drainer, &event).await?;

    // THEN one consistent GetItem answered "not draining", and nothing else was called: the
    // cost every task stop in every watched cluster pays
    assert_eq!(report.outcomes, vec!["not_draining".to_owned()]);
    assert_eq!(
        take_counts(&proxy, "unrelated STOPPED"),
        counts(&[("dynamodb:GetItem", 1)])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_of_the_standard_drain_costs_a_fixed_set_of_calls() -> TestResult {
    // GIVEN the standard scenario (web and api replicas, the log-router daemon, a standalone
    // report task on instance 0) and ecs-drain's clients behind the counting proxy
    let emulator = Emulator::start()?;
    let world = World::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("count-std", 3),
    )
    .await?;
    let tasks = world.populate_standard(0).await?;
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    let app = app_through(&proxy, &world);

    // WHEN instance 0 is scaled in and on-lifecycle starts the drain
    let action = world.scale_in(0).await?;
    let lifecycle = lifecycle_event(&action);
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);

    // THEN it costs 13 calls:
    // - ListContainerInstances (filter ec2InstanceId == ..., one configured cluster, one page)
    //   and DescribeContainerInstances (status, and a check the filter matched the right
    //   instance); the cluster ARN comes from the long-format container instance ARN, no call;
    // - GetItem (any drain on record?), DescribeAutoScalingInstances (Auto Scaling confirms the
    //   instance is Terminating:Wait in the notice's group before anything changes),
    //   DescribeLifecycleHooks (the heartbeat timeout that plans checks and the deadline),
    //   PutItem (insert the record, conditional);
    // - UpdateContainerInstancesState (DRAINING);
    // - the census: 4 tasks listed (4 RUNNING, 0 STOPPED: 2 ListTasks), 1 DescribeTasks,
    //   1 DescribeServices (replica and daemon tasks alive);
    // - CreateSchedule (the drain's first check) and PutItem (progress: census, next check).
    let expected = with(
        census(4, 0, true),
        &[
            ("ecs:ListContainerInstances", 1),
            ("ecs:DescribeContainerInstances", 1),
            ("dynamodb:GetItem", 1),
            ("autoscaling:DescribeAutoScalingInstances", 1),
            ("autoscaling:DescribeLifecycleHooks", 1),
            ("dynamodb:PutItem", 2),
            ("ecs:UpdateContainerInstancesState", 1),
            ("scheduler:CreateSchedule", 1),
        ],
    );
    assert_eq!(take_counts(&proxy, "lifecycle"), expected);

    // WHEN a replica leaves the instance and its STOPPED event arrives
    let (_, web) = &tasks.replicas[0];
    world.start_service_task("web", 1).await?;
    world
        .stop_task(
            web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(web).await?, 11),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    // THEN: GetItem and one conditional PutItem of the alive set, no ECS call: the record
    // knows the task, and replica and standalone tasks are left (issue 11); the check booked by
    // on-lifecycle is not due, so no scheduler call
    assert_eq!(
        take_counts(&proxy, "replica STOPPED"),
        counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)])
    );

    // WHEN the other replica and then the standalone task stop: only the daemon is left
    let (_, api) = &tasks.replicas[1];
    world.start_service_task("api", 2).await?;
    world
        .stop_task(
            api,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(api).await?, 12),
    )
    .await?;
    // (the same: the standalone task is still there)
    assert_eq!(
        take_counts(&proxy, "second replica STOPPED"),
        counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)])
    );
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&tasks.standalone).await?, 20),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["stop_daemons".to_owned()]);
    // THEN only the daemon would be left: a census confirms it (1 RUNNING, 3 STOPPED listed;
    // the services were looked up at the start), then one StopTask for the daemon
    assert_eq!(
        take_counts(&proxy, "standalone STOPPED (stop daemons)"),
        with(
            census(1, 3, false),
            &[
                ("dynamodb:GetItem", 1),
                ("ecs:StopTask", 1),
                ("dynamodb:PutItem", 1)
            ]
        )
    );

    // WHEN the daemon's STOPPED event arrives
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&tasks.daemon).await?, 30),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["complete".to_owned()]);
    // THEN nothing is alive (4 STOPPED listed, no DescribeServices), and completing costs the
    // claim PutItem, CompleteLifecycleAction, the COMPLETED PutItem, and GetSchedule (proof the
    // schedule checks this ARN) before DeleteSchedule
    assert_eq!(
        take_counts(&proxy, "daemon STOPPED (complete)"),
        with(
            census(0, 4, false),
            &[
                ("dynamodb:GetItem", 1),
                ("dynamodb:PutItem", 2),
                ("autoscaling:CompleteLifecycleAction", 1),
                ("scheduler:GetSchedule", 1),
                ("scheduler:DeleteSchedule", 1)
            ]
        )
    );

    // WHEN EventBridge delivers the lifecycle event again after the drain ended
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    // THEN finding the instance and reading the record is all it costs
    assert_eq!(report.outcomes, vec!["already_finished".to_owned()]);
    assert_eq!(
        take_counts(&proxy, "duplicate lifecycle"),
        counts(&[
            ("dynamodb:GetItem", 1),
            ("ecs:DescribeContainerInstances", 1),
            ("ecs:ListContainerInstances", 1)
        ])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_census_of_a_busy_instance_describes_its_tasks_in_hundreds() -> TestResult {
    // GIVEN an instance with 59 standalone tasks running and 51 already stopped (110 listed:
    // each desiredStatus listing fits one page, DescribeTasks needs two calls), no services
    let emulator = Emulator::start()?;
    let world = World::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("count-busy", 2),
    )
    .await?;
    world.register_task_definition("batch").await?;
    let mut running = Vec::new();
    for _ in 0..59 {
        running.push(world.start_standalone_task("batch", 0).await?);
    }
    for _ in 0..51 {
        let task = world.start_standalone_task("batch", 0).await?;
        world
            .stop_task(&task, "Essential container in task exited")
            .await?;
    }
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    let app = app_through(&proxy, &world);

    // WHEN the instance is scaled in
    let action = world.scale_in(0).await?;
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    // THEN the lifecycle costs as in the standard drain, with the census at 110 tasks and no
    // DescribeServices (no service task)
    let expected = with(
        census(59, 51, false),
        &[
            ("ecs:ListContainerInstances", 1),
            ("ecs:DescribeContainerInstances", 1),
            ("dynamodb:GetItem", 1),
            ("autoscaling:DescribeAutoScalingInstances", 1),
            ("autoscaling:DescribeLifecycleHooks", 1),
            ("dynamodb:PutItem", 2),
            ("ecs:UpdateContainerInstancesState", 1),
            ("scheduler:CreateSchedule", 1),
        ],
    );
    assert_eq!(expected["ecs:DescribeTasks"], 2);
    assert_eq!(take_counts(&proxy, "lifecycle, 110 tasks"), expected);

    // WHEN one of them stops
    world
        .stop_task(&running[0], "Essential container in task exited")
        .await?;
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&running[0]).await?, 2),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    // THEN the record knows the task and 58 others are alive: GetItem and one PutItem of the
    // alive set (59 tasks kept in the item), no census
    assert_eq!(
        take_counts(&proxy, "STOPPED, 110 tasks"),
        counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)])
    );

    // WHEN the same drain runs under the census rule before issue 11 (ECS_DRAIN_CENSUS_RULE=
    // every-look), and the next task stops
    let mut config = world.config();
    config.policy.census_rule = drain_core::decision::look::CensusRule::EveryLook;
    let every_look = App::new(
        config,
        &sdk_config_for(
            &proxy.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
        ),
    );
    world
        .stop_task(&running[1], "Essential container in task exited")
        .await?;
    let report = handle_task_stopped(
        &every_look.drainer,
        &task_state_change_event(&world.describe_task(&running[1]).await?, 2),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    // THEN the census formula: 2 ListTasks + ceil(110 / 100) = 2 DescribeTasks, no
    // DescribeServices, plus GetItem and one PutItem of progress
    let expected = with(
        census(57, 53, false),
        &[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)],
    );
    assert_eq!(
        expected,
        counts(&[
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 1),
            ("ecs:DescribeTasks", 2),
            ("ecs:ListTasks", 2)
        ])
    );
    assert_eq!(
        take_counts(&proxy, "STOPPED, 110 tasks, every look"),
        expected
    );
    Ok(())
}
