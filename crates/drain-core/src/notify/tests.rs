//! The drain event builders: shape, caps and sizes; the env switch; the in-memory notifier.

use super::*;
use serde_json::Value;

const START: Timestamp = Timestamp(1_795_000_000);

fn subject() -> DrainSubject {
    DrainSubject {
        ec2_instance_id: "i-0123456789abcdef0".to_owned(),
        container_instance_arn:
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
                .to_owned(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_owned(),
        auto_scaling_group_name: "prod-ecs".to_owned(),
        lifecycle_hook_name: "ecs-drain".to_owned(),
    }
}

fn times() -> DrainTimes {
    DrainTimes {
        started_at: START,
        deadline_at: START.plus_seconds(3600),
        hook_expires_at: Some(START.plus_seconds(7200)),
    }
}

fn json(event: &DrainEvent) -> Value {
    serde_json::from_str(&event.detail_json()).expect("detail is JSON")
}

#[test]
fn each_transition_has_its_own_detail_type_under_source_ecs_drain() {
    let types: std::collections::BTreeSet<&str> =
        Transition::ALL.iter().map(|t| t.detail_type()).collect();
    assert_eq!(types.len(), Transition::ALL.len());
    for transition in Transition::ALL {
        assert_eq!(
            serde_json::to_value(transition).expect("serializes"),
            Value::String(transition.as_str().to_owned())
        );
    }
    let event = drain_expired(&subject(), times(), WaitingTasks::none(), START);
    assert_eq!(event.source, "ecs-drain");
    assert_eq!(event.detail_type, "ECS Drain Expired");
    assert_eq!(event.resources, vec![subject().container_instance_arn]);
}

#[test]
fn started_detail_names_the_instance_and_carries_every_field() {
    let waiting = WaitingTasks::summarize([
        (WaitingKind::Replica, Some("service:web")),
        (WaitingKind::Replica, Some("service:web")),
        (WaitingKind::Daemon, Some("service:agent")),
        (WaitingKind::Standalone, Some("family:batch")),
    ]);
    let event = drain_started(&subject(), times(), waiting, START.plus_seconds(5));
    let detail = json(&event);
    assert_eq!(detail["schemaVersion"], 1);
    assert_eq!(detail["transition"], "started");
    assert_eq!(detail["ec2InstanceId"], "i-0123456789abcdef0");
    assert_eq!(detail["clusterArn"], subject().cluster_arn);
    assert_eq!(detail["autoScalingGroupName"], "prod-ecs");
    assert_eq!(detail["lifecycleHookName"], "ecs-drain");
    assert_eq!(detail["startedAt"], START.to_rfc3339());
    assert_eq!(detail["occurredAt"], START.plus_seconds(5).to_rfc3339());
    assert_eq!(detail["deadlineAt"], START.plus_seconds(3600).to_rfc3339());
    assert_eq!(
        detail["hookExpiresAt"],
        START.plus_seconds(7200).to_rfc3339()
    );
    // Fields of other transitions are present as null or empty, so rules can match on them.
    for key in [
        "reason",
        "result",
        "stuckCause",
        "enforcement",
        "tasksStopped",
    ] {
        assert_eq!(detail[key], Value::Null, "{key}");
    }
    assert_eq!(detail["stuckServices"], serde_json::json!([]));
    assert_eq!(
        detail["waiting"],
        serde_json::json!({
            "total": 4, "replica": 2, "daemon": 1, "standalone": 1,
            "groups": [
                {"group": "service:web", "kind": "replica", "tasks": 2},
                {"group": "family:batch", "kind": "standalone", "tasks": 1},
                {"group": "service:agent", "kind": "daemon", "tasks": 1},
            ],
            "groupsOmitted": 0,
        })
    );
}

#[test]
fn waiting_groups_are_capped_largest_first_and_the_rest_counted() {
    let names: Vec<String> = (0..40).map(|i| format!("service:s{i:02}")).collect();
    let mut tasks: Vec<(WaitingKind, Option<&str>)> = names
        .iter()
        .map(|name| (WaitingKind::Replica, Some(name.as_str())))
        .collect();
    tasks.push((WaitingKind::Replica, Some("service:s39")));
    tasks.push((WaitingKind::Standalone, None));
    let waiting = WaitingTasks::summarize(tasks);
    assert_eq!(waiting.total, 42);
    assert_eq!(waiting.replica, 41);
    assert_eq!(waiting.standalone, 1);
    assert_eq!(waiting.groups.len(), MAX_WAITING_GROUPS);
    assert_eq!(waiting.groups_omitted, 41 - count_u32(MAX_WAITING_GROUPS));
    assert_eq!(waiting.groups[0].group, "service:s39");
    assert_eq!(waiting.groups[0].tasks, 2);
    let listed: u32 = waiting.groups.iter().map(|g| g.tasks).sum();
    assert!(listed < waiting.total);
}

#[test]
fn stuck_lists_services_sorted_once_and_capped() {
    let mut services: Vec<String> = (0..30).rev().map(|i| format!("svc-{i:02}")).collect();
    services.push("svc-00".to_owned());
    let event = drain_stuck(
        &subject(),
        times(),
        StuckCause::ServicesCannotMove,
        &services,
        WaitingTasks::none(),
        START,
    );
    let detail = json(&event);
    assert_eq!(event.detail_type, "ECS Drain Stuck");
    assert_eq!(detail["stuckCause"], "services-cannot-move");
    assert_eq!(event.detail.stuck_services.len(), MAX_STUCK_SERVICES);
    assert_eq!(event.detail.stuck_services[0], "svc-00");
    assert_eq!(event.detail.stuck_services[1], "svc-01");
    assert_eq!(detail["stuckServicesOmitted"], 5);

    let overdue = drain_stuck(
        &subject(),
        times(),
        StuckCause::Overdue,
        &[],
        WaitingTasks::none(),
        START,
    );
    assert_eq!(json(&overdue)["stuckCause"], "overdue");
    assert!(overdue.detail.reason.is_some());
}

#[test]
fn deadline_enforcement_says_what_it_did() {
    let stopped = deadline_enforced(
        &subject(),
        times(),
        Enforcement::StopTasks,
        3,
        WaitingTasks::none(),
        START,
    );
    let detail = json(&stopped);
    assert_eq!(detail["enforcement"], "stop-tasks");
    assert_eq!(detail["tasksStopped"], 3);
    assert_eq!(detail["result"], Value::Null);

    let abandoned = deadline_enforced(
        &subject(),
        times(),
        Enforcement::Abandon,
        3,
        WaitingTasks::none(),
        START,
    );
    let detail = json(&abandoned);
    assert_eq!(detail["enforcement"], "abandon");
    assert_eq!(detail["tasksStopped"], Value::Null);
    assert_eq!(detail["result"], "ABANDON");
}

#[test]
fn completion_carries_result_and_a_capped_reason() {
    let event = drain_completed(
        &subject(),
        times(),
        LifecycleResult::Continue,
        &"x".repeat(5000),
        START,
    );
    let detail = json(&event);
    assert_eq!(detail["result"], "CONTINUE");
    assert_eq!(
        detail["reason"].as_str().map(str::len),
        Some(MAX_REASON_CHARS)
    );
    assert_eq!(detail["waiting"]["total"], 0);
    let blank = drain_completed(&subject(), times(), LifecycleResult::Abandon, "  ", START);
    assert_eq!(json(&blank)["reason"], Value::Null);
}

#[test]
fn the_largest_possible_entry_fits_eventbridge_with_room_to_spare() {
    let long = "n".repeat(10_000);
    let huge = DrainSubject {
        ec2_instance_id: long.clone(),
        container_instance_arn: long.clone(),
        cluster_arn: long.clone(),
        auto_scaling_group_name: long.clone(),
        lifecycle_hook_name: long.clone(),
    };
    let groups: Vec<String> = (0..10_000).map(|i| format!("{i}{long}")).collect();
    let waiting = WaitingTasks::summarize(
        groups
            .iter()
            .map(|group| (WaitingKind::Replica, Some(group.as_str()))),
    );
    let event = drain_stuck(
        &huge,
        times(),
        StuckCause::ServicesCannotMove,
        &groups,
        waiting,
        START,
    );
    assert_eq!(event.detail.waiting.groups.len(), MAX_WAITING_GROUPS);
    assert_eq!(event.detail.stuck_services.len(), MAX_STUCK_SERVICES);
    // The caps bound an entry to about 25 KB: a tenth of the limit.
    assert!(
        event.entry_bytes() < MAX_ENTRY_BYTES / 8,
        "{} bytes",
        event.entry_bytes()
    );
    let completed = drain_completed(&huge, times(), LifecycleResult::Continue, &long, START);
    assert!(completed.entry_bytes() < MAX_ENTRY_BYTES / 8);
}

#[test]
fn events_are_on_unless_turned_off() {
    let env = |value: Option<&'static str>| move |_: &str| value.map(str::to_owned);
    assert_eq!(events_enabled(env(None)), Ok(true));
    assert_eq!(events_enabled(env(Some(""))), Ok(true));
    assert_eq!(events_enabled(env(Some("on"))), Ok(true));
    assert_eq!(events_enabled(env(Some(" OFF "))), Ok(false));
    assert_eq!(events_enabled(env(Some("false"))), Ok(false));
    assert!(matches!(
        events_enabled(env(Some("maybe"))),
        Err(ConfigError::Invalid {
            name: ENV_EVENTS,
            ..
        })
    ));
}

#[tokio::test]
async fn the_memory_notifier_keeps_what_it_published_and_can_fail() {
    let notifier = MemoryNotifier::new();
    let started = drain_started(&subject(), times(), WaitingTasks::none(), START);
    notifier.publish(&started).await.expect("accepted");
    notifier.set_failing(true);
    let expired = drain_expired(&subject(), times(), WaitingTasks::none(), START);
    let error = notifier.publish(&expired).await.expect_err("refused");
    assert!(matches!(error, NotifyError::Refused { .. }));
    assert_eq!(notifier.published(), vec![started]);
    NoNotifier.publish(&expired).await.expect("no-op");
}

#[tokio::test]
async fn best_effort_publishing_answers_how_many_were_not_published_and_never_fails() {
    let notifier = MemoryNotifier::new();
    let started = drain_started(&subject(), times(), WaitingTasks::none(), START);
    let expired = drain_expired(&subject(), times(), WaitingTasks::none(), START);
    let both = [started.clone(), expired];
    assert_eq!(publish_best_effort(&notifier, &both).await, 0);
    notifier.set_failing(true);
    assert_eq!(publish_best_effort(&notifier, &both).await, 2);
    assert_eq!(publish_best_effort(&notifier, &[]).await, 0);
    assert_eq!(notifier.published(), both.to_vec());
}

#[test]
fn batches_hold_at_most_ten_entries_and_256_kb_in_order() {
    let event = drain_started(&subject(), times(), WaitingTasks::none(), START);
    let sizes = |events: &[DrainEvent]| -> Vec<usize> {
        batches(events).iter().map(|batch| batch.len()).collect()
    };
    assert_eq!(sizes(&[]), Vec::<usize>::new());
    assert_eq!(sizes(&vec![event.clone(); 3]), [3]);
    assert_eq!(sizes(&vec![event.clone(); 10]), [10]);
    assert_eq!(sizes(&vec![event.clone(); 23]), [10, 10, 3]);
    // Entries of about 100 KB: two fit in 256 KB, a third does not.
    let mut large = event.clone();
    large.resources = vec!["r".repeat(100 * 1024)];
    let mixed = [large.clone(), large.clone(), large.clone(), event.clone()];
    assert_eq!(sizes(&mixed), [2, 2]);
    for batch in batches(&mixed) {
        let bytes: usize = batch.iter().map(DrainEvent::entry_bytes).sum();
        assert!(bytes <= MAX_BATCH_BYTES, "{bytes}");
    }
    let flat: Vec<&DrainEvent> = batches(&mixed).into_iter().flatten().collect();
    assert_eq!(flat, mixed.iter().collect::<Vec<_>>());
}

#[test]
fn a_failure_is_described_with_its_causes_on_one_bounded_line() {
    let cause: crate::error::BoxError = "x".repeat(5000).into();
    let error = NotifyError::Call { source: cause };
    let text = error.describe();
    assert!(text.starts_with("events:PutEvents failed: xxx"), "{text}");
    assert_eq!(text.chars().count(), MAX_ERROR_CHARS);
    assert_eq!(
        NotifyError::refused("ThrottlingException", "slow down").describe(),
        "EventBridge refused the entry: ThrottlingException: slow down"
    );
}

#[test]
fn a_census_is_summarized_by_kind_and_task_group() {
    use crate::census::{LiveTask, TaskKind, TaskSnapshot};
    use crate::ids::TaskArn;
    let live = |id: &str, group: &str, kind: TaskKind| LiveTask {
        snapshot: TaskSnapshot {
            arn: TaskArn::new(format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}"))
                .expect("arn"),
            group: Some(group.to_owned()),
            started_by: None,
            last_status: crate::census::TaskStatus::Running,
            desired_status: crate::census::TaskStatus::Running,
        },
        kind,
    };
    let tasks = [
        live(
            "a",
            "service:web",
            TaskKind::Replica {
                service: "web".to_owned(),
            },
        ),
        live(
            "b",
            "service:agent",
            TaskKind::Daemon {
                service: "agent".to_owned(),
            },
        ),
        live("c", "family:batch", TaskKind::Standalone),
    ];
    let waiting = WaitingTasks::of_live_tasks(&tasks);
    assert_eq!(
        (
            waiting.total,
            waiting.replica,
            waiting.daemon,
            waiting.standalone
        ),
        (3, 1, 1, 1)
    );
    let kinds: Vec<(&str, WaitingKind)> = waiting
        .groups
        .iter()
        .map(|g| (g.group.as_str(), g.kind))
        .collect();
    assert_eq!(
        kinds,
        [
            ("family:batch", WaitingKind::Standalone),
            ("service:agent", WaitingKind::Daemon),
            ("service:web", WaitingKind::Replica),
        ]
    );
}
