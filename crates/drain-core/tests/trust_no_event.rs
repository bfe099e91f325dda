//! Issue 9 over the in-memory ports: the real shapes AWS sends (tests/fixtures, sources in its
//! README) are read by one parsing rule, events of other kinds are acknowledged without a call,
//! and no payload, however mangled, changes anything but an instance Auto Scaling reports
//! `Terminating:Wait` in the notice's group, or writes a log line over 16 KB.

mod support;

use support::{MUTATING, fixture, fixture_text};

use std::io::Write;
use std::sync::{Arc, Mutex};

use drain_core::census::ServiceFacts;
use drain_core::decision::verify::FunctionIdentity;
use drain_core::event::{
    Channel, EventError, LifecycleInput, TaskInput, parse_lifecycle_payload,
    parse_lifecycle_payload_with_warnings, parse_task_payload,
};
use drain_core::handler::{Report, handle_lifecycle, handle_task_stopped};
use drain_core::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef,
    LifecycleActionRef, LifecycleToken,
};
use drain_core::ports::PortSet;
use drain_core::testing::ManualClock;
use drain_core::testing::memory::{
    CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};
use drain_core::time::Timestamp;
use drain_core::{Config, Drainer};
use proptest::prelude::*;
use serde_json::{Value, json};

type MemoryDrainer =
    Drainer<PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>>;

const CLUSTER: &str = "arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster";
/// The fixtures' instance: Auto Scaling is terminating it (its action is the fixture's).
const TERMINATING_EC2: &str = "i-0598c7d356eba48d7";
const TERMINATING_CI: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/\
                              3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
/// Another instance of the same group and cluster, in service.
const IN_SERVICE_EC2: &str = "i-0123456789abcdef0";
const IN_SERVICE_CI: &str = "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/\
                             0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const GROUP: &str = "prod-ecs-asg";
const HOOK: &str = "ecs-drain-terminate";
const TOKEN: &str = "630aa23f-48eb-45e7-aba6-799ea6093a0f";

/// Two ACTIVE container instances; Auto Scaling terminates the first (the fixtures' action) and
/// keeps the second in service.
struct World {
    log: CallLog,
    cluster: MemoryCluster,
    hooks: MemoryHooks,
    drainer: MemoryDrainer,
}

fn world() -> World {
    let log = CallLog::default();
    let cluster = MemoryCluster::new(log.clone());
    let hooks = MemoryHooks::new(log.clone());
    let cluster_arn = ClusterArn::new(CLUSTER).expect("cluster");
    for (ci, ec2) in [
        (TERMINATING_CI, TERMINATING_EC2),
        (IN_SERVICE_CI, IN_SERVICE_EC2),
    ] {
        cluster.add_instance(
            &cluster_arn,
            &ContainerInstanceArn::new(ci).expect("arn"),
            &Ec2InstanceId::new(ec2).expect("id"),
        );
    }
    cluster.add_service(
        &cluster_arn,
        ServiceFacts {
            name: "web".into(),
            scheduling_strategy: Some("REPLICA".into()),
            minimum_healthy_percent: Some(50),
            maximum_percent: Some(200),
        },
    );
    let hook = HookRef {
        asg_name: AsgName::new(GROUP).expect("group"),
        hook_name: HookName::new(HOOK).expect("hook"),
    };
    hooks.add_hook(&hook, 300);
    hooks.begin(&LifecycleActionRef {
        hook,
        instance_id: Ec2InstanceId::new(TERMINATING_EC2).expect("id"),
        token: LifecycleToken::new(TOKEN).expect("token"),
    });
    hooks.set_lifecycle_state(IN_SERVICE_EC2, GROUP, "InService");
    let drainer = Drainer::new(
        PortSet {
            cluster: cluster.clone(),
            hooks: hooks.clone(),
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log.clone()),
            clock: Arc::new(ManualClock::new(Timestamp(1_793_645_030))),
        },
        Config {
            replay_mode: drain_core::config::ReplayMode::Live,
            ..Config::with_table("drains")
        },
    );
    World {
        log,
        cluster,
        hooks,
        drainer,
    }
}

fn own() -> FunctionIdentity {
    FunctionIdentity {
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Both handlers on `payload` (raw text), with every log line they write (JSON, as Lambda
/// writes them with `AWS_LAMBDA_LOG_FORMAT=JSON`, spans included).
fn run_both(world: &World, payload: &str) -> (Report, Report, Vec<String>) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (lifecycle, task) = tracing::subscriber::with_default(subscriber, || {
        runtime.block_on(async {
            (
                handle_lifecycle(&world.drainer, payload, &own()).await,
                handle_task_stopped(&world.drainer, payload).await,
            )
        })
    });
    let bytes = captured
        .0
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    let lines = String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::to_owned)
        .collect();
    (
        lifecycle.expect("in-memory ports never fail"),
        task.expect("in-memory ports never fail"),
        lines,
    )
}

#[test]
fn every_real_shape_is_read_as_aws_means_it() {
    for name in [
        "lifecycle-terminate-eventbridge-no-origin.json",
        "lifecycle-terminate-eventbridge-from-warm-pool.json",
        "lifecycle-terminate-eventbridge-to-warm-pool.json",
        "lifecycle-terminate-sns-url-casing-attributes.json",
    ] {
        let inputs = parse_lifecycle_payload(&fixture_text(name))
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        let [LifecycleInput::Terminate(notice)] = inputs.as_slice() else {
            panic!("{name}: {inputs:?}")
        };
        assert_eq!(
            notice.action.instance_id.as_str(),
            TERMINATING_EC2,
            "{name}"
        );
        assert_eq!(notice.account.as_deref(), Some("123456789012"), "{name}");
        assert!(
            notice.sent_at.is_some(),
            "{name}: fractional seconds are read"
        );
        if name.contains("sns") {
            assert_eq!(notice.channel, Channel::Sns);
        } else {
            assert_eq!(notice.region.as_deref(), Some("us-east-1"));
        }
    }
    // Each of these fixtures is one terminate notice.
    let terminate_of = |name: &str| {
        let inputs = parse_lifecycle_payload(&fixture_text(name)).expect("parses");
        match <[LifecycleInput; 1]>::try_from(inputs) {
            Ok([LifecycleInput::Terminate(notice)]) => notice,
            other => panic!("{name}: {other:?}"),
        }
    };
    let from_pool = terminate_of("lifecycle-terminate-eventbridge-from-warm-pool.json");
    assert_eq!(from_pool.origin.as_deref(), Some("WarmPool"));
    assert_eq!(
        from_pool.sent_at,
        Timestamp::parse_rfc3339("2026-11-02T18:43:48Z")
    );
    let no_origin = terminate_of("lifecycle-terminate-eventbridge-no-origin.json");
    assert!(no_origin.origin.is_none() && no_origin.destination.is_none());

    let TaskInput::Stopped(old) =
        parse_task_payload(&fixture_text("ecs-task-stopped-old-arn-format.json")).expect("parses")
    else {
        panic!("old-format ARNs are a stopped task")
    };
    assert_eq!(
        old.container_instance_arn.id(),
        "b54a2a04-046f-4331-9d74-3f6d7f6ca315"
    );
    for name in [
        "ecs-task-stopped-fargate.json",
        "ecs-task-pending-service.json",
        "ecs-task-running-service.json",
    ] {
        assert!(
            matches!(
                parse_task_payload(&fixture_text(name)),
                Ok(TaskInput::Ignored { .. })
            ),
            "{name}"
        );
    }
    let check = parse_lifecycle_payload(&fixture_text("scheduled-check.json")).expect("parses");
    assert!(matches!(
        &check[..],
        [LifecycleInput::Check(request)]
            if request.container_instance_arn.as_str() == TERMINATING_CI
    ));
}

#[test]
fn a_spot_warning_is_on_lifecycle_s_alone() {
    // on-lifecycle drains on it (issue 12: drainer/early.rs); on-task-stopped ignores it.
    let world = world();
    let (lifecycle, task, _) =
        run_both(&world, &fixture_text("ec2-spot-interruption-warning.json"));
    assert_ne!(
        lifecycle.outcomes,
        vec!["ignored".to_owned()],
        "{lifecycle:?}"
    );
    assert_eq!(task.outcomes, vec!["ignored".to_owned()], "{task:?}");
}

#[test]
fn events_of_other_kinds_reach_either_function_and_change_nothing() {
    // (A rebalance recommendation is ignored while rebalance draining is off, the default.)
    for name in [
        "ec2-rebalance-recommendation.json",
        "ec2-instance-state-change.json",
        "autoscaling-terminate-successful.json",
        "scheduled-event.json",
        "ecs-task-stopped-fargate.json",
        "ecs-task-pending-service.json",
    ] {
        let world = world();
        let (lifecycle, task, _) = run_both(&world, &fixture_text(name));
        assert_eq!(
            lifecycle.outcomes,
            vec!["ignored".to_owned()],
            "{name}: {lifecycle:?}"
        );
        assert_eq!(
            task.outcomes,
            vec!["ignored".to_owned()],
            "{name}: {task:?}"
        );
        assert_eq!(
            (lifecycle.refused, task.refused),
            (None, None),
            "{name}: acknowledged, not refused"
        );
        assert!(
            world.log.calls().is_empty(),
            "{name}: {:?}",
            world.log.calls()
        );
    }
}

#[test]
fn a_draining_instance_s_state_change_without_a_drain_costs_one_read_and_changes_nothing() {
    for name in [
        "ecs-container-instance-state-change.json",
        "ecs-container-instance-state-change-counts.json",
    ] {
        let world = world();
        let (lifecycle, task, _) = run_both(&world, &fixture_text(name));
        assert_eq!(lifecycle.outcomes, vec!["ignored".to_owned()], "{name}");
        assert_eq!(task.outcomes, vec!["not_draining".to_owned()], "{name}");
        assert_eq!(world.log.calls(), vec!["dynamodb:GetItem"], "{name}");
    }
    let TaskInput::InstanceChanged(change) = parse_task_payload(&fixture_text(
        "ecs-container-instance-state-change-counts.json",
    ))
    .expect("parses") else {
        panic!("an instance state change");
    };
    assert_eq!(
        (
            change.tasks,
            change.version,
            change.container_instance_arn.as_str()
        ),
        (Some(1), Some(14802), TERMINATING_CI)
    );
    let TaskInput::InstanceChanged(change) =
        parse_task_payload(&fixture_text("ecs-container-instance-state-change.json"))
            .expect("parses")
    else {
        panic!("an instance state change");
    };
    assert_eq!(change.tasks, None, "no counts in the documented example");
    let active = fixture_text("ecs-container-instance-state-change.json")
        .replace("\"status\": \"DRAINING\"", "\"status\": \"ACTIVE\"");
    assert!(matches!(
        parse_task_payload(&active),
        Ok(TaskInput::Ignored { .. })
    ));
}

#[test]
fn a_duplicated_key_is_refused_in_every_channel() {
    let eventbridge = fixture_text("lifecycle-terminate-eventbridge.json");
    let sns = fixture_text("lifecycle-terminate-sns.json");
    let task = fixture_text("ecs-task-stopped-service.json");
    let doubled = [
        eventbridge.replacen(
            "\"detail-type\":",
            "\"detail-type\": \"EC2 Instance-launch Lifecycle Action\", \"detail-type\":",
            1,
        ),
        eventbridge.replacen(
            "\"LifecycleTransition\":",
            "\"LifecycleTransition\": \"autoscaling:EC2_INSTANCE_LAUNCHING\", \
             \"LifecycleTransition\":",
            1,
        ),
        eventbridge.replacen("\"region\":", "\"region\": \"eu-west-1\", \"region\":", 1),
        sns.replacen(
            "\\\"EC2InstanceId\\\":",
            "\\\"EC2InstanceId\\\":\\\"i-0123456789abcdef0\\\",\\\"EC2InstanceId\\\":",
            1,
        ),
        sns.replacen("\"Message\":", "\"Message\": \"{}\", \"Message\":", 1),
        task.replacen(
            "\"lastStatus\": \"STOPPED\"",
            "\"lastStatus\": \"RUNNING\", \"lastStatus\": \"STOPPED\"",
            1,
        ),
        fixture_text("scheduled-check.json").replacen(
            "\"containerInstanceArn\":",
            "\"containerInstanceArn\":\"x\",\"containerInstanceArn\":",
            1,
        ),
    ];
    for payload in doubled {
        assert!(
            payload.matches("duplicate").count() == 0,
            "test payloads carry no such word"
        );
        let world = world();
        let (lifecycle, task, _) = run_both(&world, &payload);
        // on-task-stopped never opens an SNS message: it refuses the envelope as not its kind.
        let inside_sns_message = payload.contains("\\\"EC2InstanceId\\\":\\\"i-0123456789abcdef0");
        for (report, sees_the_key) in [(&lifecycle, true), (&task, !inside_sns_message)] {
            assert_eq!(report.outcomes, vec!["refused".to_owned()], "{payload}");
            let reason = report.refused.as_deref().unwrap_or_default();
            assert_eq!(reason.contains("duplicate key"), sees_the_key, "{report:?}");
        }
        assert!(world.log.calls().is_empty());
    }
}

#[test]
fn the_detail_type_and_the_transition_must_agree() {
    let mut launch_carrying_terminate = fixture("lifecycle-terminate-eventbridge.json");
    launch_carrying_terminate["detail-type"] = json!("EC2 Instance-launch Lifecycle Action");
    let mut terminate_carrying_launch = fixture("lifecycle-terminate-eventbridge.json");
    terminate_carrying_launch["detail"]["LifecycleTransition"] =
        json!("autoscaling:EC2_INSTANCE_LAUNCHING");
    for payload in [launch_carrying_terminate, terminate_carrying_launch] {
        let error = parse_lifecycle_payload(&payload).expect_err("refused");
        assert!(matches!(error, EventError::Disagree { .. }), "{error}");
        assert!(error.to_string().contains("LifecycleTransition"), "{error}");
    }
    // A detail-type merely ending in "Lifecycle Action" is not a lifecycle action.
    let mut lookalike = fixture("lifecycle-terminate-eventbridge.json");
    lookalike["detail-type"] = json!("EC2 Instance-reboot Lifecycle Action");
    assert!(matches!(
        parse_lifecycle_payload(&lookalike)
            .expect("acknowledged")
            .as_slice(),
        [LifecycleInput::Ignored { .. }]
    ));
}

#[test]
fn records_make_an_sns_event_only_when_they_are_sns_records() {
    for (payload, expected) in [
        (json!({"Records": []}), "SNS event has no records"),
        (
            json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]}),
            "Records hold something other than SNS records",
        ),
        (
            json!({"Records": [{"EventSource": "aws:sns"}]}),
            "Records hold something other than SNS records",
        ),
    ] {
        let world = world();
        let (lifecycle, _, lines) = run_both(&world, &payload.to_string());
        assert!(
            lifecycle
                .refused
                .as_deref()
                .is_some_and(|reason| reason.contains(expected)),
            "{lifecycle:?}"
        );
        assert!(
            lines.iter().any(|line| line.contains(expected)),
            "the refusal is logged: {lines:?}"
        );
    }
}

#[test]
fn malformed_optional_fields_are_ignored_with_a_warning_naming_them_and_required_ones_refused() {
    let mut payload = fixture("lifecycle-terminate-eventbridge.json");
    payload["time"] = json!(12);
    payload["id"] = json!({"nested": true});
    payload["version"] = json!(0);
    payload["resources"] = json!("not a list");
    payload["detail"]["Origin"] = json!(5);
    payload["detail"]["Destination"] = json!("Moon");
    let (inputs, warnings) =
        parse_lifecycle_payload_with_warnings(&payload).expect("still a notice");
    assert!(matches!(
        inputs.as_slice(),
        [LifecycleInput::Terminate(notice)]
            if notice.sent_at.is_none() && notice.origin.is_none()
    ));
    let fields: Vec<&str> = warnings.iter().map(|warning| warning.field).collect();
    for field in [
        "time",
        "id",
        "version",
        "resources",
        "Origin",
        "Destination",
    ] {
        assert!(fields.contains(&field), "{field} not named in {warnings:?}");
    }
    // A malformed replay-name still marks a replay (a dry run by default).
    let mut replayed = fixture("lifecycle-terminate-eventbridge.json");
    replayed["replay-name"] = json!(["x"]);
    let inputs = parse_lifecycle_payload(&replayed).expect("still a notice");
    assert!(matches!(
        inputs.as_slice(),
        [LifecycleInput::Terminate(notice)] if notice.replay_name.is_some()
    ));

    for field in drain_core::testing::sample::LIFECYCLE_ACTION_FIELDS {
        for wrong in [json!(7), json!(["x"]), json!(""), Value::Null] {
            let mut payload = fixture("lifecycle-terminate-eventbridge.json");
            payload["detail"][field] = wrong.clone();
            let error = parse_lifecycle_payload(&payload).expect_err("refused");
            assert!(
                error.to_string().contains(field),
                "{field} = {wrong}: {error}"
            );
        }
    }
    for field in ["account", "region", "source", "detail-type", "detail"] {
        let mut payload = fixture("lifecycle-terminate-eventbridge.json");
        payload[field] = json!(42);
        let error = parse_lifecycle_payload(&payload).expect_err("refused");
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
}

/// Values a forger might put anywhere.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(IN_SERVICE_EC2)),
        Just(json!(TERMINATING_EC2)),
        Just(json!("other-asg")),
        Just(json!(GROUP)),
        Just(json!("d0d0d0d0-1111-4222-8333-444455556666")),
        Just(json!("210987654321")),
        Just(json!("eu-west-1")),
        Just(json!("EC2 Instance-launch Lifecycle Action")),
        Just(json!("autoscaling:EC2_INSTANCE_LAUNCHING")),
        Just(json!(IN_SERVICE_CI)),
        Just(json!(null)),
        Just(json!(7)),
        Just(json!({"deep": [1, 2, {"x": null}]})),
        "[\\x00-\\x1f\\u{200b}\\u{202e}a-z]{0,40}".prop_map(Value::from),
        (1usize..40_000).prop_map(|n| Value::from("é\u{0}\n".repeat(n))),
    ]
}

fn lifecycle_fixture() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("lifecycle-terminate-eventbridge.json"),
        Just("lifecycle-terminate-sns.json"),
        Just("lifecycle-terminate-eventbridge-from-warm-pool.json"),
        Just("scheduled-check.json"),
        Just("ecs-task-stopped-service.json"),
    ]
}

const FIELDS: &[&str] = &[
    "EC2InstanceId",
    "AutoScalingGroupName",
    "LifecycleHookName",
    "LifecycleActionToken",
    "LifecycleTransition",
    "Origin",
    "account",
    "region",
    "detail-type",
    "source",
    "time",
    "containerInstanceArn",
    "lastStatus",
    "taskArn",
    "clusterArn",
    "Message",
];

/// Sets `field` wherever it occurs (inside an SNS message too) to `value`.
fn replace_everywhere(payload: &mut Value, field: &str, value: &Value) {
    match payload {
        Value::Object(map) => {
            if map.contains_key(field) {
                map.insert(field.to_owned(), value.clone());
            }
            if let Some(Value::String(message)) = map.get("Message").cloned()
                && let Ok(mut inner) = serde_json::from_str::<Value>(&message)
            {
                replace_everywhere(&mut inner, field, value);
                map.insert("Message".to_owned(), Value::from(inner.to_string()));
            }
            for child in map.values_mut() {
                replace_everywhere(child, field, value);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|item| replace_everywhere(item, field, value)),
        _ => {}
    }
}

/// Whether `payload` parses to a terminate notice for the one instance Auto Scaling is
/// terminating, in its group (the only notice allowed to change anything).
fn names_the_terminating_instance(payload: &str) -> bool {
    parse_lifecycle_payload(payload).is_ok_and(|inputs| {
        inputs.iter().any(|input| {
            matches!(input, LifecycleInput::Terminate(notice)
                if notice.action.instance_id.as_str() == TERMINATING_EC2
                    && notice.action.hook.asg_name.as_str() == GROUP)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn no_payload_changes_an_instance_auto_scaling_is_not_terminating(
        name in lifecycle_fixture(),
        edits in prop::collection::vec((prop::sample::select(FIELDS), hostile_value()), 1..4),
    ) {
        let mut payload = fixture(name);
        for (field, value) in &edits {
            replace_everywhere(&mut payload, field, value);
        }
        let text = payload.to_string();
        let world = world();
        let (lifecycle, task, lines) = run_both(&world, &text);

        // Refused with a bounded reason, or handled.
        for report in [&lifecycle, &task] {
            if let Some(reason) = &report.refused {
                prop_assert!(
                    !reason.is_empty() && reason.len() <= 4 * 1024,
                    "reason of {} bytes",
                    reason.len()
                );
            }
        }
        // The instance in service is never touched.
        let status = world
            .cluster
            .instance_status(&ContainerInstanceArn::new(IN_SERVICE_CI).expect("arn"));
        prop_assert_eq!(status.as_deref(), Some("ACTIVE"));
        let state = world.hooks.lifecycle_state(IN_SERVICE_EC2);
        prop_assert_eq!(state.as_deref(), Some("InService"));
        // Nothing changes at all unless the payload names the terminating instance in its group.
        let mutated = world.log.calls().into_iter().filter(|call| MUTATING.contains(call)).count();
        if !names_the_terminating_instance(&text) {
            prop_assert_eq!(
                mutated,
                0,
                "{} changed something: {:?}",
                text.chars().take(300).collect::<String>(),
                world.log.calls()
            );
        }
        // No log line over 16 KB, spans included.
        for line in &lines {
            prop_assert!(line.len() <= 16 * 1024, "a log line of {} bytes", line.len());
        }
    }
}
