//! What the adapters put on the wire, checked request by request with the SDK's own mocking
//! interceptor (aws-smithy-mocks): no HTTP server, no hand-written fake. Each rule matches one
//! expected request, in order (`RuleMode::Sequential` refuses any request that does not match
//! the next rule), and answers with a modeled output or error, so a test fails when an adapter
//! sends a call it should not, in the wrong order, or with the wrong fields.
//!
//! The emulator tests (tests/aws_adapters.rs) prove the calls work against a service model;
//! these pin the shapes the emulator would accept anyway: the census's desiredStatus filters
//! and page sizes, DescribeTasks in batches of at most 100, the condition on every write, the
//! lifecycle action a completion names.

use std::sync::{Arc, Mutex};

use aws_sdk_autoscaling::operation::complete_lifecycle_action::CompleteLifecycleActionOutput;
use aws_sdk_autoscaling::operation::record_lifecycle_action_heartbeat::{
    RecordLifecycleActionHeartbeatError, RecordLifecycleActionHeartbeatOutput,
};
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_ecs::operation::describe_container_instances::DescribeContainerInstancesOutput;
use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
use aws_sdk_ecs::operation::list_container_instances::ListContainerInstancesOutput;
use aws_sdk_ecs::operation::list_tasks::ListTasksOutput;
use aws_sdk_ecs::operation::update_container_instances_state::UpdateContainerInstancesStateOutput;
use aws_sdk_ecs::types::{ContainerInstanceStatus, DesiredStatus, Task};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use drain_aws::{AsgLifecycleHooks, DynamoDrainStore, EcsCluster};
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId};
use drain_core::ports::{ActionAnswer, Cluster, DrainStore, EcsInstanceStatus, LifecycleHooks};
use drain_core::ports::{InsertOutcome, WriteOutcome};
use drain_core::record::{DrainRecord, LifecycleResult};
use drain_core::testing::sample;

fn cluster() -> ClusterArn {
    ClusterArn::new(sample::CLUSTER_ARN).expect("the sample ARN is valid")
}

fn instance() -> ContainerInstanceArn {
    ContainerInstanceArn::new(sample::CONTAINER_INSTANCE_ARN).expect("the sample ARN is valid")
}

fn task_arn(index: usize) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{index:032x}")
}

/// A page of ListTasks naming tasks `range`, with `next` as its continuation token.
fn page(range: std::ops::Range<usize>, next: Option<&str>) -> ListTasksOutput {
    ListTasksOutput::builder()
        .set_task_arns(Some(range.map(task_arn).collect()))
        .set_next_token(next.map(str::to_owned))
        .build()
}

/// Is this ListTasks request the census's listing of `desired` tasks on the sample instance,
/// at the largest page size, continuing after `after`?
fn lists(
    request: &aws_sdk_ecs::operation::list_tasks::ListTasksInput,
    desired: DesiredStatus,
    after: Option<&str>,
) -> bool {
    request.cluster() == Some(sample::CLUSTER_ARN)
        && request.container_instance() == Some(sample::CONTAINER_INSTANCE_ARN)
        && request.desired_status() == Some(&desired)
        && request.max_results() == Some(100)
        && request.next_token() == after
}

#[tokio::test]
async fn the_census_lists_running_then_stopped_tasks_and_describes_them_a_hundred_at_a_time() {
    // GIVEN an instance with 130 tasks ECS still wants running (two pages) and 20 it wants
    // stopped (some may still be shutting down: the reason the census lists both)
    let running_first_page = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|request| lists(request, DesiredStatus::Running, None))
        .then_output(|| page(0..100, Some("page-2")));
    let running_second_page = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|request| lists(request, DesiredStatus::Running, Some("page-2")))
        .then_output(|| page(100..130, None));
    let stopped = mock!(aws_sdk_ecs::Client::list_tasks)
        .match_requests(|request| lists(request, DesiredStatus::Stopped, None))
        .then_output(|| page(130..150, None));
    let batch_sizes = Arc::new(Mutex::new(Vec::new()));
    let describe = |sizes: Arc<Mutex<Vec<usize>>>| {
        mock!(aws_sdk_ecs::Client::describe_tasks)
            .match_requests(|request| {
                request.cluster() == Some(sample::CLUSTER_ARN) && request.tasks().len() <= 100
            })
            .then_compute_output(move |request| {
                sizes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(request.tasks().len());
                DescribeTasksOutput::builder()
                    .set_tasks(Some(
                        request
                            .tasks()
                            .iter()
                            .map(|arn| {
                                Task::builder()
                                    .task_arn(arn)
                                    .group("family:batch")
                                    .last_status("RUNNING")
                                    .desired_status("RUNNING")
                                    .build()
                            })
                            .collect(),
                    ))
                    .build()
            })
    };
    let (first_batch, second_batch) = (
        describe(Arc::clone(&batch_sizes)),
        describe(Arc::clone(&batch_sizes)),
    );
    let ecs = mock_client!(
        aws_sdk_ecs,
        RuleMode::Sequential,
        [
            &running_first_page,
            &running_second_page,
            &stopped,
            &first_batch,
            &second_batch
        ]
    );

    // WHEN the census takes its look
    let listing = EcsCluster::new(ecs)
        .tasks_on(&cluster(), &instance())
        .await
        .expect("the census");

    // THEN every listed task was described once, in a batch of 100 and one of 50, and every
    // expected request was sent exactly once, in order
    assert_eq!(listing.tasks.len(), 150);
    assert!(listing.failures.is_empty());
    assert_eq!(
        *batch_sizes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
        vec![100, 50]
    );
    for rule in [
        &running_first_page,
        &running_second_page,
        &stopped,
        &first_batch,
        &second_batch,
    ] {
        assert_eq!(rule.num_calls(), 1);
    }
}

/// ListContainerInstances naming the sample container instance.
fn listed_instance() -> ListContainerInstancesOutput {
    ListContainerInstancesOutput::builder()
        .container_instance_arns(sample::CONTAINER_INSTANCE_ARN)
        .build()
}

/// DescribeContainerInstances: the sample container instance runs on `ec2`, in `status`.
fn described_instance(ec2: &str, status: &str) -> DescribeContainerInstancesOutput {
    DescribeContainerInstancesOutput::builder()
        .container_instances(
            aws_sdk_ecs::types::ContainerInstance::builder()
                .container_instance_arn(sample::CONTAINER_INSTANCE_ARN)
                .ec2_instance_id(ec2)
                .status(status)
                .build(),
        )
        .build()
}

#[tokio::test]
async fn an_instance_is_found_by_the_ec2_instance_id_filter_and_confirmed_by_describing_it() {
    // GIVEN a configured cluster whose filter query finds the sample instance, DRAINING
    let list = mock!(aws_sdk_ecs::Client::list_container_instances)
        .match_requests(|request| {
            request.cluster() == Some("prod")
                && request.filter() == Some("ec2InstanceId == i-0123456789abcdef0")
        })
        .then_output(listed_instance);
    let describe = mock!(aws_sdk_ecs::Client::describe_container_instances)
        .match_requests(|request| {
            request.cluster() == Some("prod")
                && request.container_instances() == [sample::CONTAINER_INSTANCE_ARN]
        })
        .then_output(|| described_instance(sample::EC2_INSTANCE_ID, "DRAINING"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&list, &describe]);

    // WHEN on-lifecycle looks the EC2 instance up
    let found = EcsCluster::new(ecs)
        .find_container_instance(
            &["prod".to_owned()],
            &Ec2InstanceId::new(sample::EC2_INSTANCE_ID).expect("id"),
        )
        .await
        .expect("the lookup")
        .expect("an instance");

    // THEN it is that instance, its status parsed, its cluster ARN taken from its long-format
    // ARN without a DescribeClusters call (the sequential rules would refuse one)
    assert_eq!(found.arn, instance());
    assert_eq!(found.cluster_arn, cluster());
    assert_eq!(found.status, EcsInstanceStatus::Draining);
    assert_eq!((list.num_calls(), describe.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_filter_that_matched_another_instance_is_refused_not_drained() {
    // GIVEN a cluster whose answer to the filter is an instance of another EC2 instance (a
    // cluster that ignores the query language, as the emulator once did)
    let list = mock!(aws_sdk_ecs::Client::list_container_instances).then_output(listed_instance);
    let describe = mock!(aws_sdk_ecs::Client::describe_container_instances)
        .then_output(|| described_instance("i-0fedcba9876543210", "ACTIVE"));
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&list, &describe]);

    // WHEN on-lifecycle looks the sample EC2 instance up
    let error = EcsCluster::new(ecs)
        .find_container_instance(
            &["prod".to_owned()],
            &Ec2InstanceId::new(sample::EC2_INSTANCE_ID).expect("id"),
        )
        .await
        .expect_err("a mismatch");

    // THEN the lookup fails, naming the instance it got, and nothing is drained (the
    // sequential rules would refuse an UpdateContainerInstancesState)
    let chain = drain_core::error::error_chain(&error);
    assert!(chain.contains("i-0fedcba9876543210"), "{chain}");
    assert_eq!((list.num_calls(), describe.num_calls()), (1, 1));
}

#[tokio::test]
async fn draining_names_one_instance_of_its_cluster_and_the_draining_status() {
    let update = mock!(aws_sdk_ecs::Client::update_container_instances_state)
        .match_requests(|request| {
            request.cluster() == Some(sample::CLUSTER_ARN)
                && request.container_instances() == [sample::CONTAINER_INSTANCE_ARN]
                && request.status() == Some(&ContainerInstanceStatus::Draining)
        })
        .then_output(|| UpdateContainerInstancesStateOutput::builder().build());
    let ecs = mock_client!(aws_sdk_ecs, RuleMode::Sequential, [&update]);

    EcsCluster::new(ecs)
        .set_draining(&drain_core::ports::ContainerInstance {
            arn: instance(),
            cluster_arn: cluster(),
            ec2_instance_id: Ec2InstanceId::new(sample::EC2_INSTANCE_ID).expect("id"),
            status: EcsInstanceStatus::Active,
            agent_connected: true,
        })
        .await
        .expect("set DRAINING");
    assert_eq!(update.num_calls(), 1);
}

/// A put_item rule matching the conditional insert of the sample record that asks for the item
/// on file when the condition fails.
fn conditional_insert() -> aws_smithy_mocks::RuleBuilder<
    aws_sdk_dynamodb::operation::put_item::PutItemInput,
    PutItemOutput,
    PutItemError,
> {
    mock!(aws_sdk_dynamodb::Client::put_item).match_requests(|request| {
        request.table_name() == Some("drains")
            && request.condition_expression()
                == Some("attribute_not_exists(container_instance_arn)")
            && request.return_values_on_condition_check_failure()
                == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
            && request
                .item()
                .and_then(|item| item.get("container_instance_arn"))
                == Some(&AttributeValue::S(
                    sample::CONTAINER_INSTANCE_ARN.to_owned(),
                ))
    })
}

#[tokio::test]
async fn a_new_record_is_written_only_where_none_exists_and_the_record_on_file_is_the_answer() {
    // GIVEN a table where another invocation already wrote the instance's record, at revision 3
    let on_file = DrainRecord {
        revision: 3,
        ..sample::drain_record()
    };
    let item = drain_aws::dynamodb::to_item(&on_file);
    let put = conditional_insert().then_error(move || {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .set_item(Some(item.clone()))
                .build(),
        )
    });
    let dynamodb = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put]);

    // WHEN the drain's first record is inserted
    let outcome = DynamoDrainStore::new(dynamodb, "drains")
        .insert(&sample::drain_record())
        .await
        .expect("an answer");

    // THEN the conditional write lost, and its answer is the record on file, read from the
    // failed condition (the sequential mock refuses any GetItem)
    assert_eq!(outcome, InsertOutcome::Exists(Box::new(on_file)));
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_failed_insert_that_returns_no_item_reads_the_record_on_file() {
    // GIVEN a store whose failed condition does not return the item (DynamoDB always does)
    let on_file = DrainRecord {
        revision: 2,
        ..sample::drain_record()
    };
    let item = drain_aws::dynamodb::to_item(&on_file);
    let put = conditional_insert().then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("The conditional request failed")
                .build(),
        )
    });
    let get = mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|request| request.consistent_read() == Some(true))
        .then_output(move || {
            GetItemOutput::builder()
                .set_item(Some(item.clone()))
                .build()
        });
    let dynamodb = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put, &get]);

    // WHEN the drain's first record is inserted
    let outcome = DynamoDrainStore::new(dynamodb, "drains")
        .insert(&sample::drain_record())
        .await
        .expect("an answer");

    // THEN the record on file is read consistently and answered
    assert_eq!(outcome, InsertOutcome::Exists(Box::new(on_file)));
    assert_eq!((put.num_calls(), get.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_record_is_replaced_only_at_the_revision_it_was_read_at() {
    let mut record = sample::drain_record();
    record.revision = 8;
    let put = mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|request| {
            request.condition_expression() == Some("revision = :expected")
                && request
                    .expression_attribute_values()
                    .and_then(|values| values.get(":expected"))
                    == Some(&AttributeValue::N("7".to_owned()))
        })
        .then_output(|| PutItemOutput::builder().build());
    let dynamodb = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&put]);

    let outcome = DynamoDrainStore::new(dynamodb, "drains")
        .replace(&record, 7)
        .await
        .expect("an answer");

    assert_eq!(outcome, WriteOutcome::Written);
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn a_completion_names_the_group_hook_instance_token_and_result() {
    let complete = mock!(aws_sdk_autoscaling::Client::complete_lifecycle_action)
        .match_requests(|request| {
            request.auto_scaling_group_name() == Some("asg")
                && request.lifecycle_hook_name() == Some("hook")
                && request.instance_id() == Some(sample::EC2_INSTANCE_ID)
                && request.lifecycle_action_token() == Some(sample::LIFECYCLE_TOKEN)
                && request.lifecycle_action_result() == Some("CONTINUE")
        })
        .then_output(|| CompleteLifecycleActionOutput::builder().build());
    let autoscaling = mock_client!(aws_sdk_autoscaling, RuleMode::Sequential, [&complete]);

    let answer = AsgLifecycleHooks::new(autoscaling)
        .complete(&sample::lifecycle_action(), LifecycleResult::Continue)
        .await
        .expect("an answer");

    assert_eq!(answer, ActionAnswer::Accepted);
    assert_eq!(complete.num_calls(), 1);
}

#[tokio::test]
async fn a_heartbeat_for_an_action_auto_scaling_no_longer_holds_is_an_answer_not_an_error() {
    // GIVEN an action that timed out or was completed: Auto Scaling's documented answer
    let heartbeat = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .match_requests(|request| {
            request.lifecycle_action_token() == Some(sample::LIFECYCLE_TOKEN)
                && request.instance_id() == Some(sample::EC2_INSTANCE_ID)
        })
        .then_error(|| {
            RecordLifecycleActionHeartbeatError::generic(
                aws_sdk_autoscaling::error::ErrorMetadata::builder()
                    .code("ValidationError")
                    .message(
                        "No active Lifecycle Action found with token \
                         00000000-0000-4000-8000-000000000001",
                    )
                    .build(),
            )
        });
    let unused = mock!(aws_sdk_autoscaling::Client::record_lifecycle_action_heartbeat)
        .then_output(|| RecordLifecycleActionHeartbeatOutput::builder().build());
    let autoscaling = mock_client!(
        aws_sdk_autoscaling,
        RuleMode::Sequential,
        [&heartbeat, &unused]
    );

    // WHEN a check heartbeats it
    let answer = AsgLifecycleHooks::new(autoscaling)
        .heartbeat(&sample::lifecycle_action())
        .await
        .expect("an answer");

    // THEN the adapter reports that no action is active, after one call (no retry)
    assert_eq!(
        answer,
        ActionAnswer::NoActiveAction {
            after_unclear_attempt: false
        }
    );
    assert_eq!((heartbeat.num_calls(), unused.num_calls()), (1, 0));
}
