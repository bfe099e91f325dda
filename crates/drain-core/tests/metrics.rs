//! Which drain steps yield which metric facts, told as drains over the in-memory ports driven by
//! the real-shaped fixtures, and the EMF documents they render checked against the Embedded
//! Metric Format specification.

use std::sync::Arc;

use drain_core::Drainer;
use drain_core::census::ServiceFacts;
use drain_core::decision::CompletionReason;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::event::CHECK_KEY;
use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, LifecycleToken, TaskArn};
use drain_core::metrics::{Fact, emf_documents, validate_emf};
use drain_core::ports::PortSet;
use drain_core::record::LifecycleResult;
use drain_core::testing::ManualClock;
use drain_core::testing::memory::{
    CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};
use drain_core::testing::sample;
use drain_core::time::{Clock, Timestamp};
use serde_json::{Value, json};

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
const CONTAINER_INSTANCE: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-\
                                  cluster/3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
const EC2_INSTANCE: &str = "i-0598c7d356eba48d7";
/// The task of the ecs-task-stopped-service.json fixture (service web).
const TASK: &str =
    "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/c13b4cb40f1f4fe4a2971f76ae5a47ad";
/// The lifecycle fixture's hook heartbeat timeout, as the world's hook is set up.
const HEARTBEAT_TIMEOUT: i64 = 300;
/// Two seconds after the lifecycle fixture's `time`.
const START: Timestamp = Timestamp(1_793_645_030);

fn fixture(name: &str) -> Value {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

struct World {
    cluster: MemoryCluster,
    hooks: MemoryHooks,
    store: MemoryStore,
    clock: Arc<ManualClock>,
    drainer: Drainer<
        PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>,
    >,
    instance: ContainerInstanceArn,
}

/// The fixtures' instance running the service fixture's task, held by the fixture's action.
fn world(minimum_healthy_percent: i32, maximum_percent: i32) -> World {
    let log = CallLog::default();
    let cluster = MemoryCluster::new(log.clone());
    let hooks = MemoryHooks::new(log.clone());
    let store = MemoryStore::new(log.clone());
    let clock = Arc::new(ManualClock::new(START));
    let cluster_arn = ClusterArn::new(CLUSTER).expect("arn");
    let instance = ContainerInstanceArn::new(CONTAINER_INSTANCE).expect("arn");
    cluster.add_instance(
        &cluster_arn,
        &instance,
        &Ec2InstanceId::new(EC2_INSTANCE).expect("id"),
    );
    cluster.add_task(&instance, &TaskArn::new(TASK).expect("arn"), "service:web");
    let facts = ServiceFacts {
        name: "web".into(),
        scheduling_strategy: Some("REPLICA".into()),
        minimum_healthy_percent: Some(minimum_healthy_percent),
        maximum_percent: Some(maximum_percent),
    };
    cluster.add_service(&cluster_arn, facts);
    let action = match drain_core::event::parse_lifecycle_payload(&fixture(
        "lifecycle-terminate-eventbridge.json",
    ))
    .expect("parses")
    .pop()
    {
        Some(drain_core::event::LifecycleInput::Terminate(notice)) => Some(notice.action),
        _ => None,
    }
    .expect("a terminate notice");
    hooks.add_hook(&action.hook, HEARTBEAT_TIMEOUT);
    hooks.begin(&action);
    let config = sample::config();
    let drainer = Drainer::new(
        PortSet {
            cluster: cluster.clone(),
            hooks: hooks.clone(),
            store: store.clone(),
            scheduler: MemoryScheduler::new(log),
            clock: Arc::clone(&clock),
        },
        config,
    );
    World {
        cluster,
        hooks,
        store,
        clock,
        drainer,
        instance,
    }
}

impl World {
    async fn notice(&self) {
        handle_lifecycle(
            &self.drainer,
            &fixture("lifecycle-terminate-eventbridge.json"),
            &FunctionIdentity::default(),
        )
        .await
        .expect("handled");
    }

    async fn check(&self) {
        handle_lifecycle(
            &self.drainer,
            &json!({ CHECK_KEY: { "containerInstanceArn": CONTAINER_INSTANCE } }),
            &FunctionIdentity::default(),
        )
        .await
        .expect("handled");
    }

    fn record(&self) -> drain_core::record::DrainRecord {
        self.store.get(&self.instance).expect("a drain record")
    }

    /// Every document the facts render to passes the EMF checker; the facts are returned.
    fn facts(&self) -> Vec<Fact> {
        let facts = self.drainer.take_facts();
        for document in emf_documents("ecs-drain", 1_793_645_030_000, &facts) {
            assert_eq!(validate_emf(&document), Ok(()), "{document}");
        }
        facts
    }
}

#[tokio::test]
async fn a_drain_counts_its_start_and_its_completion_with_result_reason_and_duration() {
    let world = world(50, 200);
    world.notice().await;
    assert_eq!(world.facts(), vec![Fact::DrainStarted]);

    // WHEN the task stops 300 s later
    world.clock.advance(300);
    world
        .cluster
        .set_task_status(&TaskArn::new(TASK).expect("arn"), "STOPPED");
    handle_task_stopped(&world.drainer, &fixture("ecs-task-stopped-service.json"))
        .await
        .expect("handled");

    // THEN one completion is counted: CONTINUE, Drained, 300 s
    assert_eq!(
        world.facts(),
        vec![Fact::DrainCompleted {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained,
            duration_seconds: 300
        }]
    );
    let documents = emf_documents(
        "ecs-drain",
        1_793_645_330_000,
        &[Fact::DrainCompleted {
            result: LifecycleResult::Continue,
            reason: CompletionReason::Drained,
            duration_seconds: 300,
        }],
    );
    assert_eq!(
        (
            &documents[0]["Result"],
            &documents[0]["Reason"],
            &documents[0]["DrainDuration"]
        ),
        (&json!("CONTINUE"), &json!("Drained"), &json!(300.0))
    );
    // A stopped task on an instance that is not draining counts nothing (the common case).
    handle_task_stopped(&world.drainer, &fixture("ecs-task-stopped-service.json"))
        .await
        .expect("handled");
    assert_eq!(world.facts(), vec![]);
}

#[tokio::test]
async fn stuck_services_count_once_per_drain_checks_report_the_hook_time_left_and_a_deadline_counts_once()
 {
    // GIVEN a service with minimumHealthyPercent 100 and maximumPercent 100: it can never move
    let world = world(100, 100);
    world.notice().await;
    assert_eq!(world.facts(), vec![Fact::DrainStarted, Fact::StuckServices]);
    let hook_expires_at = world
        .record()
        .hook_expires_at
        .expect("the hook's timeout is known");

    // WHEN a check runs: the hook's time left is reported, the stuck service is not counted again
    world.clock.advance(240);
    world.check().await;
    assert_eq!(
        world.facts(),
        vec![Fact::HookSecondsLeft(
            hook_expires_at.seconds_since(world.clock.now())
        )]
    );

    // WHEN checks run past the deadline: the deadline is enforced and counted once
    world.clock.set(world.record().deadline_at.plus_seconds(1));
    world.check().await;
    let facts = world.facts();
    assert_eq!(
        facts
            .iter()
            .filter(|fact| **fact == Fact::DeadlineEnforced)
            .count(),
        1,
        "{facts:?}"
    );
    world.clock.advance(10);
    world.check().await;
    assert!(
        !world.facts().contains(&Fact::DeadlineEnforced),
        "counted once per drain"
    );

    // AND the completion one interval later is counted with the reason DeadlineEnforced
    world.clock.advance(world.record().check_interval_seconds);
    world.check().await;
    let facts = world.facts();
    assert!(
        facts.iter().any(|fact| matches!(
            fact,
            Fact::DrainCompleted {
                reason: CompletionReason::DeadlineEnforced,
                result: LifecycleResult::Continue,
                ..
            }
        )),
        "{facts:?}"
    );
    assert!(!facts.contains(&Fact::DeadlineEnforced));
}

#[tokio::test]
async fn an_action_gone_before_completion_counts_as_expired() {
    let world = world(50, 200);
    world.notice().await;
    world.facts();
    let token = LifecycleToken::new(
        fixture("lifecycle-terminate-eventbridge.json")["detail"]["LifecycleActionToken"]
            .as_str()
            .expect("token"),
    )
    .expect("token");
    world.hooks.expire(&token);
    world.clock.advance(240);
    world.check().await;
    assert!(world.facts().contains(&Fact::DrainExpired));
}

#[tokio::test]
async fn refused_input_counts_and_a_dry_run_replay_counts_nothing() {
    let world = world(50, 200);
    handle_task_stopped(
        &world.drainer,
        &json!({ "detail-type": "ECS Task State Change", "detail": [] }),
    )
    .await
    .expect("refused");
    assert_eq!(world.facts(), vec![Fact::RefusedEvent]);
    handle_lifecycle(
        &world.drainer,
        &fixture("lifecycle-terminate-eventbridge-replayed.json"),
        &FunctionIdentity::default(),
    )
    .await
    .expect("dry run");
    assert_eq!(
        world.facts(),
        vec![],
        "a replay in dry-run mode changes nothing and counts nothing"
    );
}
