//! What each event costs in AWS calls: the real handlers and adapters, their clients going
//! through the counting proxy (no faults, one attempt per call), the test's own setup talking
//! to the emulator directly so it is not counted. One story runs the built binary as a process
//! behind the same proxy, which is why the counting is a proxy at all (crates/drain-testkit/src/proxy.rs).
//!
//! The costs follow from the flow in ARCHITECTURE.md and are predicted by the call-cost model
//! (`drain_core::testing::calls`, which the benchmark reports from too); a change there is a
//! change in what every drain pays (and in how close a busy cluster gets to the ECS and
//! DynamoDB rate limits), so the counts are exact.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use drain_aws::app::App;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::testing::calls::{
    CallCounts, census, census_describing, check_after_the_end, counts, drain_start, ecs_only,
    merged, notice_after_the_end, stopped_completing, stopped_known_task, stopped_while_waiting,
    total, unrelated_stopped,
};
use drain_testkit::emulator::sdk_config_for;
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::proxy::{FaultPlan, Proxy};
use drain_testkit::runtime_api::{FunctionProcess, function_binary};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

/// The function-under-test's app, its clients pointed at the proxy.
fn app_through(proxy: &Proxy, world: &EmulatorWorld) -> App {
    App::new(
        world.config(),
        &sdk_config_for(
            &proxy.endpoint(),
            RetryConfig::standard().with_max_attempts(1),
        ),
    )
}

/// The counts since the last reset, printed (run with `--nocapture` to see them), then reset.
fn take_counts(proxy: &Proxy, what: &str) -> CallCounts {
    let observed = proxy.counts();
    println!(
        "{what}: {observed:?} ({} calls)",
        observed.values().sum::<u64>()
    );
    proxy.reset_counts();
    observed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_event_for_an_instance_that_is_not_draining_costs_one_read() -> TestResult {
    // GIVEN a cluster where nothing drains, and ecs-drain's clients behind the counting proxy
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
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
        unrelated_stopped()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_built_binary_pays_the_same_read_through_the_proxy() -> TestResult {
    // GIVEN the built on-task-stopped as a process of its own, its AWS endpoint the counting
    // proxy (the reason the proxy is a proxy: no hook inside the test process reaches it)
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("count-binary", 2),
    )
    .await?;
    world.register_task_definition("nightly-report").await?;
    let proxy = Proxy::start(emulator.port(), FaultPlan::none())?;
    let mut env = world.function_env();
    env.extend(emulator.function_env());
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint()));
    let function = FunctionProcess::spawn(&function_binary("on-task-stopped")?, env)?;
    function.wait_ready(Duration::from_secs(30)).await?;
    proxy.reset_counts();
    let task = world.start_standalone_task("nightly-report", 1).await?;
    world
        .stop_task(&task, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&world.describe_task(&task).await?, 2);

    // WHEN its STOPPED event is invoked over the Runtime API
    let invocation = function.invoke(&event).await?;

    // THEN it answered like the in-process handler, with the one GetItem counted at the proxy
    let report = invocation
        .response()
        .ok_or("on-task-stopped answered an error")?;
    assert_eq!(report["outcomes"], serde_json::json!(["not_draining"]));
    assert_eq!(
        take_counts(&proxy, "unrelated STOPPED, built binary"),
        counts(&[("dynamodb:GetItem", 1)])
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_event_of_the_standard_drain_costs_a_fixed_set_of_calls() -> TestResult {
    // GIVEN the standard scenario (web and api replicas, the log-router daemon, a standalone
    // report task on instance 0) and ecs-drain's clients behind the counting proxy
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
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
    let report = app
        .handle_lifecycle(
            &lifecycle,
            &drain_core::decision::verify::FunctionIdentity::default(),
        )
        .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);

    // THEN it costs 11 calls:
    // - ListContainerInstances (filter ec2InstanceId == ..., one configured cluster, one page)
    //   and DescribeContainerInstances (status, and a check the filter matched the right
    //   instance); the cluster ARN comes from the long-format container instance ARN, no call;
    // - DescribeAutoScalingInstances (Auto Scaling confirms the instance is Terminating:Wait in
    //   the notice's group before anything changes), DescribeLifecycleHooks (the heartbeat
    //   timeout that plans checks and the deadline);
    // - UpdateContainerInstancesState (DRAINING);
    // - the census: 4 tasks listed (4 RUNNING, 0 STOPPED: 2 ListTasks), 1 DescribeTasks,
    //   1 DescribeServices (replica and daemon tasks alive);
    // - one PutItem: the conditional insert of the record with the census and the next check
    //   (no GetItem first: a record on file would come back in the failed condition);
    // - CreateSchedule (the drain's first check), once the insert is in.
    let expected = drain_start(&census(4, 0, true));
    assert_eq!(total(&expected), 11);
    assert_eq!(expected["dynamodb:PutItem"], 1);
    assert_eq!(expected.get("dynamodb:GetItem"), None);
    // - and after the handler, one PutEvents: the drain's started event (issue 13)
    let mut whole = take_counts(&proxy, "lifecycle");
    assert_eq!(
        whole,
        merged(&expected, &counts(&[("events:PutEvents", 1)]))
    );

    // WHEN a replica leaves the instance and its STOPPED event arrives
    let (_, web) = &tasks.replicas[0];
    world.start_service_task("web", 1).await?;
    world
        .stop_task(
            web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let report = app
        .handle_task_stopped(&task_state_change_event(
            &world.describe_task(web).await?,
            11,
        ))
        .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    // THEN: GetItem and one conditional PutItem of the alive set, no ECS call: the record
    // knows the task, and replica and standalone tasks are left (issue 11); the check booked by
    // on-lifecycle is not due, so no scheduler call
    let observed = take_counts(&proxy, "replica STOPPED");
    assert_eq!(observed, stopped_known_task());
    whole = merged(&whole, &observed);

    // WHEN the other replica and then the standalone task stop: only the daemon is left
    let (_, api) = &tasks.replicas[1];
    world.start_service_task("api", 2).await?;
    world
        .stop_task(
            api,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    app.handle_task_stopped(&task_state_change_event(
        &world.describe_task(api).await?,
        12,
    ))
    .await?;
    // (the same: the standalone task is still there)
    let observed = take_counts(&proxy, "second replica STOPPED");
    assert_eq!(observed, stopped_known_task());
    whole = merged(&whole, &observed);
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let report = app
        .handle_task_stopped(&task_state_change_event(
            &world.describe_task(&tasks.standalone).await?,
            20,
        ))
        .await?;
    assert_eq!(report.outcomes, vec!["stop_daemons".to_owned()]);
    // THEN only the daemon would be left: a census confirms it (1 RUNNING, 3 STOPPED listed;
    // the services were looked up at the start), then one StopTask for the daemon
    let observed = take_counts(&proxy, "standalone STOPPED (stop daemons)");
    assert_eq!(
        observed,
        merged(
            &census(1, 3, false),
            &counts(&[
                ("dynamodb:GetItem", 1),
                ("ecs:StopTask", 1),
                ("dynamodb:PutItem", 1),
            ]),
        )
    );
    whole = merged(&whole, &observed);

    // WHEN the daemon's STOPPED event arrives
    let report = app
        .handle_task_stopped(&task_state_change_event(
            &world.describe_task(&tasks.daemon).await?,
            30,
        ))
        .await?;
    assert_eq!(report.outcomes, vec!["complete".to_owned()]);
    // THEN nothing is alive (4 STOPPED listed, no DescribeServices), and completing costs the
    // claim PutItem, CompleteLifecycleAction and the COMPLETED PutItem: 7 calls, no scheduler
    // call (the drain's pending check is left to fire); then one PutEvents, the completed event
    let observed = take_counts(&proxy, "daemon STOPPED (complete)");
    assert_eq!(
        observed,
        merged(
            &stopped_completing(&census(0, 4, false)),
            &counts(&[("events:PutEvents", 1)])
        )
    );
    assert_eq!(total(&observed), 7 + 1);
    whole = merged(&whole, &observed);

    // WHEN EventBridge Scheduler fires the check the notice booked (and, a one-shot schedule
    // with ActionAfterCompletion=DELETE, deletes it: the test kit plays that, uncounted)
    let instance = drain_core::ids::ContainerInstanceArn::new(
        world.instances[0].container_instance_arn.clone(),
    )?;
    let check = drain_testkit::world::fire_booked_check(&emulator.sdk_config(), &world, &instance)
        .await?
        .ok_or("the drain's check is left booked")?;
    let report = app
        .handle_lifecycle(
            &check,
            &drain_core::decision::verify::FunctionIdentity::default(),
        )
        .await?;
    // THEN it finds the drain ended with one GetItem and deletes nothing
    assert_eq!(report.outcomes, vec!["not_draining".to_owned()]);
    let observed = take_counts(&proxy, "the check after the end");
    assert_eq!(observed, check_after_the_end());
    assert_eq!(total(&observed), 1);
    whole = merged(&whole, &observed);
    assert_eq!(
        drain_testkit::world::booked_check(&emulator.sdk_config(), &world, &instance).await?,
        None,
        "the fired one-shot check is gone"
    );

    // THEN the whole drain of these 4 tasks cost exactly the sum: 11 + 2 + 2 + 6 + 7 + 1 = 29
    // calls of the drain's own (2N + 21), 14 of them ECS calls (issue 11: one census at the
    // start, one before stopping the daemon, one before completing), no GetSchedule or
    // DeleteSchedule, and two PutEvents, the started and completed drain events (issue 13;
    // none with DrainEvents=off)
    assert_eq!(whole["events:PutEvents"], 2);
    assert_eq!(total(&whole), 2 * 4 + 21 + 2);
    assert!(
        !whole.contains_key("scheduler:GetSchedule")
            && !whole.contains_key("scheduler:DeleteSchedule"),
        "{whole:?}"
    );
    assert_eq!(total(&ecs_only(&whole)), 14);
    assert_eq!(
        whole["ecs:DescribeServices"], 1,
        "services looked up once per drain"
    );

    // WHEN EventBridge delivers the lifecycle event again after the drain ended
    let report = app
        .handle_lifecycle(
            &lifecycle,
            &drain_core::decision::verify::FunctionIdentity::default(),
        )
        .await?;
    // THEN finding the instance and asking Auto Scaling, which no longer has the terminated
    // instance in any group, is all it costs
    assert_eq!(report.outcomes, vec!["refused_not_in_any_group".to_owned()]);
    assert_eq!(
        take_counts(&proxy, "duplicate lifecycle"),
        notice_after_the_end()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_census_of_a_busy_instance_describes_its_tasks_in_hundreds() -> TestResult {
    // GIVEN an instance with 59 standalone tasks running and 51 already stopped (110 listed:
    // each desiredStatus listing fits one page, DescribeTasks needs two calls), no services
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
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
    let expected = drain_start(&census(59, 51, false));
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
        stopped_known_task()
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
    // THEN the census lists all 110 (2 ListTasks) but describes only the 58 tasks the record
    // does not know are STOPPED (the 51 its first census described STOPPED and the one whose
    // event it kept are left out): ceil(58 / 100) = 1 DescribeTasks, no DescribeServices, plus
    // GetItem and one PutItem of progress
    let expected = merged(
        &census_describing(57, 53, 110 - 51 - 1, false),
        &counts(&[("dynamodb:GetItem", 1), ("dynamodb:PutItem", 1)]),
    );
    assert_eq!(
        expected,
        counts(&[
            ("dynamodb:GetItem", 1),
            ("dynamodb:PutItem", 1),
            ("ecs:DescribeTasks", 1),
            ("ecs:ListTasks", 2)
        ])
    );
    assert_eq!(
        take_counts(&proxy, "STOPPED, 110 tasks, every look"),
        expected
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirming_census_of_a_large_drain_describes_only_the_tasks_not_known_stopped()
-> TestResult {
    // GIVEN an instance with 149 replica tasks of one service and one daemon task (150 listed:
    // two ListTasks pages of RUNNING tasks, two DescribeTasks), ecs-drain behind the proxy
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("count-large", 2),
    )
    .await?;
    world.create_service("web", false, 50, 200).await?;
    world.create_service("log-router", true, 0, 100).await?;
    let mut replicas = Vec::new();
    for _ in 0..149 {
        replicas.push(world.start_service_task("web", 0).await?);
    }
    let daemon = world.start_service_task("log-router", 0).await?;
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
    // THEN the first census describes every task: 150 in two DescribeTasks
    let expected = drain_start(&census(150, 0, true));
    assert_eq!(expected["ecs:DescribeTasks"], 2);
    let mut whole = take_counts(&proxy, "lifecycle, 150 tasks");
    assert_eq!(whole, expected);

    // WHEN 148 replicas leave, one STOPPED event each
    for (version, replica) in replicas[..148].iter().enumerate() {
        world
            .stop_task(
                replica,
                "Task stopped by ECS because the container instance is being drained.",
            )
            .await?;
        let event =
            task_state_change_event(&world.describe_task(replica).await?, version as i64 + 2);
        let report = handle_task_stopped(&app.drainer, &event).await?;
        assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    }
    // THEN each cost GetItem and one PutItem, no census: the record keeps each task as STOPPED
    let observed = proxy.counts();
    proxy.reset_counts();
    let mut expected = CallCounts::new();
    for _ in 0..148 {
        expected = merged(&expected, &stopped_known_task());
    }
    assert_eq!(observed, expected);
    whole = merged(&whole, &observed);

    // WHEN the last replica leaves (only the daemon would be left)
    let last = &replicas[148];
    world
        .stop_task(
            last,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(last).await?, 200),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["stop_daemons".to_owned()]);
    // THEN the confirming census lists all 150 (1 RUNNING, 149 STOPPED: 3 ListTasks) and
    // describes only the daemon and the last replica, the two not known STOPPED: 1
    // DescribeTasks (2 before issue 11's STOPPED set), then one StopTask for the daemon
    let expected = stopped_while_waiting(&census_describing(1, 149, 2, false), 1);
    assert_eq!(expected["ecs:DescribeTasks"], 1);
    assert_eq!(expected["ecs:ListTasks"], 3);
    let observed = take_counts(&proxy, "last replica STOPPED, 150 tasks (stop daemons)");
    assert_eq!(observed, expected);
    whole = merged(&whole, &observed);

    // WHEN the daemon's STOPPED event arrives
    let report = handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&daemon).await?, 300),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["complete".to_owned()]);
    // THEN the completing census lists 150 STOPPED (an empty RUNNING page and two STOPPED
    // pages) and describes the daemon alone: 1 DescribeTasks; then the completion (the
    // handler's own calls: the drain events are published by the App around it)
    let expected = stopped_completing(&census_describing(0, 150, 1, false));
    assert_eq!(expected["ecs:DescribeTasks"], 1);
    let observed = take_counts(&proxy, "daemon STOPPED, 150 tasks (complete)");
    assert_eq!(observed, expected);
    whole = merged(&whole, &observed);

    // WHEN EventBridge Scheduler fires the check the drain left booked
    let instance = drain_core::ids::ContainerInstanceArn::new(
        world.instances[0].container_instance_arn.clone(),
    )?;
    let check = drain_testkit::world::fire_booked_check(&emulator.sdk_config(), &world, &instance)
        .await?
        .ok_or("the drain's check is left booked")?;
    handle_lifecycle(
        &app.drainer,
        &check,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    // THEN it costs one GetItem (the handler alone, as for the events above: the App would
    // publish the drain events they queued)
    let observed = take_counts(&proxy, "the check after the end, 150 tasks");
    assert_eq!(observed, check_after_the_end());
    whole = merged(&whole, &observed);

    // THEN the whole drain, as the model says: 2 + 1 + 1 DescribeTasks (6 before), 2N + 25
    // calls, 18 ECS calls
    assert_eq!(whole["ecs:DescribeTasks"], 4);
    assert_eq!(total(&whole), 2 * 150 + 25);
    assert_eq!(
        whole,
        drain_core::testing::calls::whole_drain(
            150,
            drain_core::decision::look::CensusRule::WhenNeeded
        )
    );
    assert_eq!(total(&ecs_only(&whole)), 18);
    Ok(())
}
