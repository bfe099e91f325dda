//! The AWS adapters over the wire: real SDK clients against the emulator on 127.0.0.1, one
//! behaviour each.

use drain_aws::app::App;
use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster};
use drain_core::config::ReplayMode;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, LifecycleToken};
use drain_core::ports::{
    ActionAnswer, Cluster, DrainStore, EcsInstanceStatus, InsertOutcome, LifecycleHooks,
    WriteOutcome,
};
use drain_core::record::{DrainStatus, LifecycleResult};
use drain_testkit::events::{
    as_replay, lifecycle_event, lifecycle_sns_event, task_state_change_event,
};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

async fn world(
    emulator: &Emulator,
    name: &str,
    instances: usize,
) -> Result<(aws_config::SdkConfig, EmulatorWorld), KitError> {
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(emulator, &sdk, &WorldSpec::new(name, instances)).await?;
    Ok((sdk, world))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_container_instance_of_an_ec2_instance_among_several() -> TestResult {
    let emulator = Emulator::start()?;
    let (_sdk, world) = world(&emulator, "lookup", 3).await?;
    let cluster = EcsCluster::new(world.ecs.clone());
    for target in &world.instances {
        let found = cluster
            .find_container_instance(
                std::slice::from_ref(&world.cluster),
                &Ec2InstanceId::new(target.ec2_id.clone())?,
            )
            .await?;
        let found = found.ok_or("not found")?;
        assert_eq!(found.arn.as_str(), target.container_instance_arn);
        assert_eq!(found.cluster_arn.as_str(), world.cluster_arn);
        assert_eq!(found.status, EcsInstanceStatus::Active);
    }
    // Searching every cluster of the account (no cluster configured) finds it too.
    let found = cluster
        .find_container_instance(&[], &Ec2InstanceId::new(world.instances[1].ec2_id.clone())?)
        .await?;
    assert_eq!(
        found.map(|instance| instance.arn.to_string()),
        Some(world.instances[1].container_instance_arn.clone())
    );
    let missing = cluster
        .find_container_instance(
            std::slice::from_ref(&world.cluster),
            &Ec2InstanceId::new("i-0000000000000dead")?,
        )
        .await?;
    assert_eq!(missing, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_census_pages_through_more_than_a_hundred_tasks_and_counts_shutting_down_ones()
-> TestResult {
    // GIVEN 130 tasks on one instance: 60 running, 40 shutting down, 30 stopped
    let emulator = Emulator::start()?;
    let (_sdk, world) = world(&emulator, "census", 1).await?;
    world.register_task_definition("batch").await?;
    let mut arns = Vec::new();
    for _ in 0..130 {
        arns.push(world.start_standalone_task("batch", 0).await?);
    }
    for arn in &arns[60..100] {
        world.hold_task(
            arn,
            if arn.ends_with(['0', '1', '2', '3', '4', '5', '6', '7']) {
                "STOPPING"
            } else {
                "DEACTIVATING"
            },
        )?;
    }
    for arn in &arns[100..] {
        world.stop_task(arn, "done").await?;
    }

    // WHEN the adapter takes the census
    let cluster = EcsCluster::new(world.ecs.clone());
    let tasks = cluster
        .tasks_on(
            &ClusterArn::new(world.cluster_arn.clone())?,
            &ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?,
        )
        .await?
        .read()?;

    // THEN every task is there once, and 100 are alive
    assert_eq!(tasks.len(), 130);
    let alive = tasks.iter().filter(|task| task.is_alive()).count();
    assert_eq!(
        alive, 100,
        "desiredStatus STOPPED with lastStatus STOPPING/DEACTIVATING is alive"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completing_an_action_twice_answers_no_active_action_the_second_time() -> TestResult {
    let emulator = Emulator::start()?;
    let (_sdk, world) = world(&emulator, "complete", 2).await?;
    let action = world.scale_in(1).await?;
    let hooks = AsgLifecycleHooks::new(world.autoscaling.clone());
    let record_action = drain_core::ids::LifecycleActionRef {
        hook: drain_core::ids::HookRef {
            asg_name: drain_core::ids::AsgName::new(world.asg.clone())?,
            hook_name: drain_core::ids::HookName::new(world.hook.clone())?,
        },
        instance_id: Ec2InstanceId::new(action.instance_id.clone())?,
        token: LifecycleToken::new(action.token.clone())?,
    };
    assert_eq!(
        hooks.heartbeat_timeout(&record_action.hook).await?,
        Some(300)
    );
    let gone = ActionAnswer::NoActiveAction {
        after_unclear_attempt: false,
    };
    assert_eq!(
        hooks.heartbeat(&record_action).await?,
        ActionAnswer::Accepted
    );
    assert_eq!(
        hooks
            .complete(&record_action, LifecycleResult::Continue)
            .await?,
        ActionAnswer::Accepted
    );
    assert_eq!(
        hooks
            .complete(&record_action, LifecycleResult::Continue)
            .await?,
        gone
    );
    assert_eq!(hooks.heartbeat(&record_action).await?, gone);
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_writes_let_only_the_first_writer_of_a_revision_win() -> TestResult {
    // GIVEN a drain record written by the lifecycle handler
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "writes", 2).await?;
    world.populate_standard(0).await?;
    let app = App::new(world.config(), &sdk);
    handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&world.scale_in(0).await?),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let instance = ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?;
    let record = store.load(&instance).await?.ok_or("no record")?;

    // WHEN two writers both start from that revision
    let mut first = record.clone();
    first.revision += 1;
    first.reason = Some("first".into());
    let mut second = record.clone();
    second.revision += 1;
    second.reason = Some("second".into());

    // THEN only the first lands; a second insert of the same key loses too
    assert_eq!(
        store.replace(&first, record.revision).await?,
        WriteOutcome::Written
    );
    assert_eq!(
        store.replace(&second, record.revision).await?,
        WriteOutcome::LostRace
    );
    assert_eq!(
        store.insert(&record).await?,
        InsertOutcome::Exists(Box::new(first.clone()))
    );
    assert_eq!(
        store
            .load(&instance)
            .await?
            .ok_or("no record")?
            .reason
            .as_deref(),
        Some("first")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_conditional_insert_answers_the_item_on_file_as_dynamodb_documents() -> TestResult
{
    // GIVEN the drain record the lifecycle handler wrote
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "insert-answer", 1).await?;
    world.populate_standard(0).await?;
    let app = App::new(world.config(), &sdk);
    handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&world.scale_in(0).await?),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let instance = ContainerInstanceArn::new(world.instances[0].container_instance_arn.clone())?;
    let on_file = store.load(&instance).await?.ok_or("no record")?;

    // WHEN the SDK puts an item under the same key, conditional on none existing, asking for
    // the item on file when the condition fails
    let answer = world
        .dynamodb
        .put_item()
        .table_name(&world.table)
        .set_item(Some(drain_aws::dynamodb::to_item(&on_file)))
        .condition_expression("attribute_not_exists(container_instance_arn)")
        .return_values_on_condition_check_failure(
            aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
        )
        .send()
        .await;

    // THEN the ConditionalCheckFailedException carries that item (what the store's insert
    // reads instead of a GetItem)
    let error = answer.err().ok_or("the conditional put was written")?;
    let failed = match error.as_service_error() {
        Some(
            aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(
                failed,
            ),
        ) => failed,
        _ => return Err(format!("not a failed condition: {error:?}").into()),
    };
    let item = failed
        .item()
        .ok_or("the failed condition returned no item")?;
    assert_eq!(drain_aws::dynamodb::from_item(item)?, on_file);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_is_not_in_ecs_is_let_go_at_once_without_a_record() -> TestResult {
    // GIVEN a group instance that never registered with ECS (deregistered by hand)
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "notecs", 2).await?;
    world
        .ecs
        .deregister_container_instance()
        .cluster(&world.cluster)
        .container_instance(&world.instances[1].container_instance_arn)
        .force(true)
        .send()
        .await?;
    let app = App::new(world.config(), &sdk);

    // WHEN its terminate action arrives (through SNS this time)
    let action = world.scale_in(1).await?;
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle_sns_event(&action),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;

    // THEN the action is completed with CONTINUE at once and no record exists
    assert_eq!(report.outcomes, vec!["completed_untracked".to_owned()]);
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].result.as_deref(), actions[0].completions),
        (Some("CONTINUE"), 1)
    );
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    assert_eq!(
        store
            .load(&ContainerInstanceArn::new(
                world.instances[1].container_instance_arn.clone()
            )?)
            .await?,
        None
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_already_empty_instance_completes_at_once() -> TestResult {
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "empty", 2).await?;
    let app = App::new(world.config(), &sdk);
    let report = handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&world.scale_in(0).await?),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["complete".to_owned()]);
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let record = store
        .load(&ContainerInstanceArn::new(
            world.instances[0].container_instance_arn.clone(),
        )?)
        .await?
        .ok_or("no record")?;
    assert_eq!(record.status, DrainStatus::Completed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_archive_in_live_mode_never_restarts_a_finished_drain_or_completes_early()
-> TestResult {
    // GIVEN a finished drain of instance 0, and instance 1 draining with its tasks still running
    let emulator = Emulator::start()?;
    let (sdk, world) = world(&emulator, "replay", 3).await?;
    let tasks = world.populate_standard(0).await?;
    world.start_standalone_task("nightly-report", 1).await?;
    let mut config = world.config();
    config.replay_mode = ReplayMode::Live;
    let app = App::new(config, &sdk);
    let first = world.scale_in(0).await?;
    let mut archive = vec![lifecycle_event(&first)];
    handle_lifecycle(
        &app.drainer,
        &archive[0],
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    let mut stopped = vec![tasks.standalone.clone(), tasks.daemon.clone()];
    stopped.extend(tasks.replicas.iter().map(|(_, arn)| arn.clone()));
    for (version, arn) in stopped.iter().enumerate() {
        world.stop_task(arn, "drained").await?;
        let event = task_state_change_event(&world.describe_task(arn).await?, version as i64 + 2);
        handle_task_stopped(&app.drainer, &event).await?;
        archive.push(event);
    }
    assert_eq!(world.lifecycle_actions()?[0].completions, 1);
    let second = world.scale_in(1).await?;
    archive.push(lifecycle_event(&second));
    handle_lifecycle(
        &app.drainer,
        archive.last().ok_or("empty")?,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;

    // WHEN the whole archive is replayed, newest first, as live events
    for event in archive.iter().rev() {
        let replayed = as_replay(event.clone(), "debug");
        if replayed["source"] == "aws.autoscaling" {
            handle_lifecycle(
                &app.drainer,
                &replayed,
                &drain_core::decision::verify::FunctionIdentity::default(),
            )
            .await?;
        } else {
            handle_task_stopped(&app.drainer, &replayed).await?;
        }
    }

    // THEN the finished drain stays finished with one completion, and the live one is not completed
    // early
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        actions
            .iter()
            .map(|action| action.completions)
            .collect::<Vec<_>>(),
        vec![1, 0]
    );
    let store = DynamoDrainStore::new(world.dynamodb.clone(), &world.table);
    let finished = store
        .load(&ContainerInstanceArn::new(
            world.instances[0].container_instance_arn.clone(),
        )?)
        .await?
        .ok_or("no record")?;
    assert_eq!(
        (finished.status, finished.token.expose()),
        (DrainStatus::Completed, first.token.as_str())
    );
    let live = store
        .load(&ContainerInstanceArn::new(
            world.instances[1].container_instance_arn.clone(),
        )?)
        .await?
        .ok_or("no record")?;
    assert_eq!(live.status, DrainStatus::Draining);
    Ok(())
}
