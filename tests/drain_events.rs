//! Drain events over the wire: each transition is published through the real EventBridge
//! adapter into the emulator's default bus, routed by rules (one for every drain event, and
//! the documented example rule for `stuck` and `expired`) to SQS queues, read back with the
//! real SQS client, and every message is checked against docs/drain-events.schema.json. Then
//! the same under the stack's own execution roles with IAM enforced, and with the stack's
//! DrainEvents parameter off; last, the built binaries publishing a real drain's events (a
//! scale-in, a deadline, events off, a denied publish).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use aws_config::SdkConfig;
use drain_aws::EventBridgeNotifier;
use drain_core::notify::{
    DrainEvent, DrainNotifier, DrainSubject, DrainTimes, Enforcement, NotifyError, StuckCause,
    Transition, WaitingKind, WaitingTasks, deadline_enforced, drain_completed, drain_expired,
    drain_started, drain_stuck,
};
use drain_core::record::LifecycleResult;
use drain_core::time::Timestamp;
use drain_testkit::stack::StackSpec;
use drain_testkit::{Deployment, Emulator, EmulatorWorld, KitError, WorldSpec, project_root};
use serde_json::Value;

type TestResult = Result<(), KitError>;

/// The README's and docs/drain-events.md's example rule pattern.
const EXAMPLE_PATTERN: &str = "docs/examples/drain-events-stuck-or-expired.pattern.json";
/// A rule for every drain event.
const ALL_DRAIN_EVENTS: &str = r#"{"source":["ecs-drain"]}"#;

fn example_pattern() -> Result<String, KitError> {
    Ok(std::fs::read_to_string(
        project_root().join(EXAMPLE_PATTERN),
    )?)
}

fn subject_of(world: &EmulatorWorld) -> DrainSubject {
    DrainSubject {
        ec2_instance_id: world.instances[0].ec2_id.clone(),
        container_instance_arn: world.instances[0].container_instance_arn.clone(),
        cluster_arn: world.cluster_arn.clone(),
        auto_scaling_group_name: world.asg.clone(),
        lifecycle_hook_name: world.hook.clone(),
    }
}

/// One event of each transition (both kinds of deadline enforcement), as a drain of the
/// world's first instance would publish them.
fn every_transition(subject: &DrainSubject) -> Vec<DrainEvent> {
    let start = Timestamp(1_795_000_000);
    let times = DrainTimes {
        started_at: start,
        deadline_at: start.plus_seconds(3600),
        hook_expires_at: Some(start.plus_seconds(30_000)),
    };
    let waiting = WaitingTasks::summarize([
        (WaitingKind::Replica, Some("service:web")),
        (WaitingKind::Replica, Some("service:web")),
        (WaitingKind::Daemon, Some("service:log-router")),
        (WaitingKind::Standalone, Some("family:batch")),
    ]);
    vec![
        drain_started(subject, times, waiting.clone(), start),
        drain_stuck(
            subject,
            times,
            StuckCause::ServicesCannotMove,
            &["web".to_owned()],
            waiting.clone(),
            start.plus_seconds(60),
        ),
        deadline_enforced(
            subject,
            times,
            Enforcement::StopTasks,
            4,
            waiting.clone(),
            start.plus_seconds(3600),
        ),
        deadline_enforced(
            subject,
            times,
            Enforcement::Abandon,
            0,
            waiting.clone(),
            start.plus_seconds(3600),
        ),
        drain_completed(
            subject,
            times,
            LifecycleResult::Continue,
            "no task alive on the instance",
            start.plus_seconds(3700),
        ),
        drain_expired(subject, times, waiting, start.plus_seconds(30_000)),
    ]
}

/// A queue that receives what a rule with `pattern` on the default bus matches, with the queue
/// policy EventBridge needs (sqs:SendMessage from that rule only). Returns the queue URL.
async fn routed_queue(sdk: &SdkConfig, name: &str, pattern: &str) -> Result<String, KitError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await?
        .queue_url()
        .ok_or("no queue URL")?
        .to_owned();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes()
        .and_then(|attributes| attributes.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .ok_or("no queue ARN")?
        .clone();
    let rule_arn = events
        .put_rule()
        .name(format!("{name}-rule"))
        .event_pattern(pattern)
        .send()
        .await?
        .rule_arn()
        .ok_or("no rule ARN")?
        .to_owned();
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }],
    });
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            policy.to_string(),
        )
        .send()
        .await?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("queue")
        .arn(&queue_arn)
        .build()?;
    let put = events
        .put_targets()
        .rule(format!("{name}-rule"))
        .targets(target)
        .send()
        .await?;
    if put.failed_entry_count() != 0 {
        return Err(format!("put_targets failed: {put:?}").into());
    }
    Ok(url)
}

/// Every message in the queue, each parsed as JSON: receives until `expected` arrived, then
/// once more so that an extra message would be seen too. Bounded: 20 receives at most.
async fn received(sdk: &SdkConfig, url: &str, expected: usize) -> Result<Vec<Value>, KitError> {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut messages = Vec::new();
    let mut settled = false;
    for _ in 0..20 {
        let answer = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await?;
        let batch = answer.messages();
        for message in batch {
            messages.push(serde_json::from_str::<Value>(
                message.body().ok_or("message without body")?,
            )?);
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
        if messages.len() >= expected {
            if settled && batch.is_empty() {
                break;
            }
            settled = true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(messages)
}

/// Runs tests/emulator/check_json_schema.py (jsonschema, draft 2020-12) over `documents`
/// against docs/drain-events.schema.json: (all valid, one verdict line per document).
fn schema_verdicts(documents: &[Value]) -> Result<(bool, Vec<String>), KitError> {
    let root = project_root();
    let mut child = Command::new(root.join(".venv/bin/python"))
        .arg(root.join("tests/emulator/check_json_schema.py"))
        .arg(root.join("docs/drain-events.schema.json"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    {
        let mut stdin = child.stdin.take().ok_or("no stdin")?;
        for document in documents {
            writeln!(stdin, "{document}")?;
        }
    }
    let output = child.wait_with_output()?;
    let verdicts: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    match output.status.code() {
        Some(0) => Ok((true, verdicts)),
        Some(1) => Ok((false, verdicts)),
        _ => Err(format!(
            "the schema check could not run ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )
        .into()),
    }
}

/// The published detail of each event, as JSON.
fn details(events: &[DrainEvent]) -> Result<Vec<Value>, KitError> {
    events
        .iter()
        .map(|event| Ok(serde_json::from_str(&event.detail_json())?))
        .collect()
}

fn sorted(mut values: Vec<Value>) -> Vec<Value> {
    values.sort_by_key(Value::to_string);
    values
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_transition_reaches_a_queue_through_a_rule_and_matches_the_documented_schema()
-> TestResult {
    // GIVEN the emulator with a world (its first instance is the drain's subject), a rule for
    // every drain event and the documented stuck-or-expired rule, each to a queue
    let emulator = Emulator::start()?;
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &WorldSpec::new("events-wire", 1)).await?;
    let everything = routed_queue(&sdk, "all-drain-events", ALL_DRAIN_EVENTS).await?;
    let paging = routed_queue(&sdk, "stuck-or-expired", &example_pattern()?).await?;
    let events = every_transition(&subject_of(&world));

    // WHEN each transition is published through the EventBridge adapter
    let notifier = EventBridgeNotifier::new(aws_sdk_eventbridge::Client::new(&sdk));
    for event in &events {
        notifier.publish(event).await?;
    }

    // THEN the catch-all queue holds every event once, as sent: source, detail-type, the
    // container instance as resource, the detail unchanged
    let all = received(&sdk, &everything, events.len()).await?;
    assert_eq!(all.len(), events.len(), "{all:#?}");
    for message in &all {
        assert_eq!(message["source"], "ecs-drain");
        assert_eq!(
            message["resources"],
            serde_json::json!([world.instances[0].container_instance_arn])
        );
    }
    let mut sent_types: Vec<&str> = events.iter().map(|event| event.detail_type).collect();
    let mut got_types: Vec<&str> = all
        .iter()
        .filter_map(|message| message["detail-type"].as_str())
        .collect();
    sent_types.sort_unstable();
    got_types.sort_unstable();
    assert_eq!(got_types, sent_types);
    assert_eq!(
        sorted(
            all.iter()
                .map(|message| message["detail"].clone())
                .collect()
        ),
        sorted(details(&events)?)
    );

    // AND the example rule routed exactly the stuck and expired events
    let paged = received(&sdk, &paging, 2).await?;
    let mut paged_types: Vec<&str> = paged
        .iter()
        .filter_map(|message| message["detail-type"].as_str())
        .collect();
    paged_types.sort_unstable();
    assert_eq!(paged_types, ["ECS Drain Expired", "ECS Drain Stuck"]);

    // AND every delivered message matches docs/drain-events.schema.json
    let (valid, verdicts) = schema_verdicts(&all)?;
    assert!(valid, "{verdicts:#?}");
    assert_eq!(verdicts.len(), all.len());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_refuses_what_a_consumer_could_not_rely_on() -> TestResult {
    // GIVEN a well-formed delivered event (the envelope EventBridge adds, the detail as sent)
    let subject = DrainSubject {
        ec2_instance_id: "i-0123456789abcdef0".to_owned(),
        container_instance_arn:
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/0f1e2d3c4b5a69788796a5b4c3d2e1f0"
                .to_owned(),
        cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_owned(),
        auto_scaling_group_name: "prod-ecs".to_owned(),
        lifecycle_hook_name: "ecs-drain".to_owned(),
    };
    let event = &every_transition(&subject)[1];
    let good = serde_json::json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": event.time.to_rfc3339(),
        "region": "us-east-1",
        "resources": event.resources,
        "detail": serde_json::from_str::<Value>(&event.detail_json())?,
    });
    // WHEN it is checked, and so are copies broken the ways a consumer would trip on
    let mut broken = Vec::new();
    for (path, value) in [
        ("/detail/schemaVersion", serde_json::json!(2)),
        ("/detail/transition", serde_json::json!("expired")),
        ("/detail/stuckCause", Value::Null),
        ("/detail/occurredAt", serde_json::json!("yesterday")),
        ("/detail/waiting/total", serde_json::json!(-1)),
        ("/source", serde_json::json!("aws.ecs")),
    ] {
        let mut copy = good.clone();
        *copy.pointer_mut(path).ok_or(path)? = value;
        broken.push(copy);
    }
    let mut unknown = good.clone();
    unknown["detail"]["undocumented"] = serde_json::json!(true);
    broken.push(unknown);
    let mut missing = good.clone();
    missing["detail"]
        .as_object_mut()
        .ok_or("detail")?
        .remove("waiting");
    broken.push(missing);

    // THEN the good one passes and every broken one fails
    let (valid, verdicts) = schema_verdicts(std::slice::from_ref(&good))?;
    assert!(valid, "{verdicts:?}");
    for document in &broken {
        let (valid, verdicts) = schema_verdicts(std::slice::from_ref(document))?;
        assert!(!valid, "accepted: {document}");
        assert_ne!(verdicts, ["ok"]);
    }
    Ok(())
}

#[test]
fn the_documented_example_rule_is_the_tested_one() -> TestResult {
    // The pattern file is what the wire test routes with; the docs must show it verbatim.
    let pattern = example_pattern()?;
    let parsed: Value = serde_json::from_str(&pattern)?;
    assert_eq!(parsed["source"], serde_json::json!(["ecs-drain"]));
    let doc = std::fs::read_to_string(project_root().join("docs/drain-events.md"))?;
    assert!(
        doc.contains(pattern.trim()),
        "docs/drain-events.md does not show {EXAMPLE_PATTERN} verbatim"
    );
    let readme = std::fs::read_to_string(project_root().join("README.md"))?;
    assert!(readme.contains("docs/drain-events.md"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_functions_roles_publish_drain_events_under_iam_and_only_as_ecs_drain() -> TestResult {
    // GIVEN the stack deployed (DrainEvents on, the default) with IAM enforced, and a queue
    // behind the documented example rule set up by the admin
    let deployment = Deployment::start(WorldSpec::new("events-iam", 1)).await?;
    let admin = deployment.emulator.sdk_config_as(&deployment.admin);
    let queue = routed_queue(&admin, "stuck-or-expired", &example_pattern()?).await?;
    let events = every_transition(&subject_of(&deployment.world));
    let stuck = &events[1];
    let expired = &events[5];

    // WHEN each function's execution role publishes through the adapter
    for (logical, event) in [
        ("OnLifecycleFunction", stuck),
        ("OnTaskStoppedFunction", expired),
    ] {
        let role = deployment.role_sdk_config(logical)?;
        EventBridgeNotifier::new(aws_sdk_eventbridge::Client::new(&role))
            .publish(event)
            .await
            .map_err(|error| format!("{logical}: {error:?}"))?;
    }

    // THEN both calls were authorized on the default bus and the events arrived, valid
    let decisions = deployment.emulator.iam_decisions()?;
    for logical in ["OnLifecycleFunction", "OnTaskStoppedFunction"] {
        let role = deployment.stack.function(logical)?.role_name().to_owned();
        let put: Vec<_> = decisions
            .iter()
            .filter(|d| d.role.as_deref() == Some(role.as_str()) && d.action == "events:PutEvents")
            .collect();
        assert_eq!(put.len(), 1, "{logical}: {put:?}");
        assert!(put[0].allowed, "{put:?}");
    }
    let delivered = received(&admin, &queue, 2).await?;
    assert_eq!(delivered.len(), 2, "{delivered:#?}");
    let (valid, verdicts) = schema_verdicts(&delivered)?;
    assert!(valid, "{verdicts:#?}");

    // AND the role cannot publish as another source (the grant's events:source condition)
    let role = deployment.role_sdk_config("OnLifecycleFunction")?;
    let spoofed = aws_sdk_eventbridge::Client::new(&role)
        .put_events()
        .entries(
            aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                .source("aws.autoscaling")
                .detail_type("EC2 Instance-terminate Lifecycle Action")
                .detail("{}")
                .build(),
        )
        .send()
        .await;
    let error = spoofed.expect_err("another source is denied");
    assert_eq!(
        error.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException"),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drain_events_off_the_roles_may_not_publish_and_the_failure_is_a_value() -> TestResult
{
    // GIVEN the stack deployed with DrainEvents=off, IAM enforced
    let deployment = Deployment::start_with(WorldSpec::new("events-off", 1), |stack: StackSpec| {
        stack.with_parameter("DrainEvents", "off")
    })
    .await?;
    let on_lifecycle = deployment.stack.on_lifecycle()?;
    assert_eq!(
        on_lifecycle.env(drain_core::notify::ENV_EVENTS),
        Some("off")
    );

    // WHEN on-lifecycle's role publishes anyway
    let role = deployment.role_sdk_config("OnLifecycleFunction")?;
    let events = every_transition(&subject_of(&deployment.world));
    let outcome = EventBridgeNotifier::new(aws_sdk_eventbridge::Client::new(&role))
        .publish(&events[0])
        .await;

    // THEN the publish fails as a value the caller counts (no grant), naming the cause
    let error = outcome.expect_err("no events:PutEvents grant");
    assert!(matches!(error, NotifyError::Call { .. }), "{error:?}");
    let cause = std::error::Error::source(&error).map(|cause| format!("{cause:?}"));
    assert!(
        cause
            .as_deref()
            .is_some_and(|text| text.contains("AccessDeniedException")),
        "{cause:?}"
    );
    Ok(())
}

/// A drain the built binaries run (issue 13 §2): the stack deployed for two instances with
/// IAM enforced (`customize` changes the stack), one `web` replica on instance 0, a queue behind
/// a rule for every drain event, and both functions running under their own roles.
struct PublishedDrain {
    deployment: Deployment,
    queue: String,
    on_lifecycle: drain_testkit::runtime_api::FunctionProcess,
    on_task_stopped: drain_testkit::runtime_api::FunctionProcess,
    web: String,
}

impl PublishedDrain {
    async fn start(
        name: &str,
        customize: impl FnOnce(StackSpec) -> StackSpec,
    ) -> Result<PublishedDrain, KitError> {
        let deployment = Deployment::start_with(WorldSpec::new(name, 2), customize).await?;
        let world = &deployment.world;
        world.create_service("web", false, 50, 200).await?;
        let web = world.start_service_task("web", 0).await?;
        let admin = deployment.emulator.sdk_config_as(&deployment.admin);
        let queue = routed_queue(&admin, &format!("{name}-events"), ALL_DRAIN_EVENTS).await?;
        Ok(PublishedDrain {
            on_lifecycle: deployment.spawn_on_lifecycle().await?,
            on_task_stopped: deployment.spawn_on_task_stopped().await?,
            deployment,
            queue,
            web,
        })
    }

    /// Invokes `function` with `payload`; its outcomes (an error answer is an error).
    async fn outcomes(
        function: &drain_testkit::runtime_api::FunctionProcess,
        payload: &Value,
    ) -> Result<Vec<String>, KitError> {
        let report = drain_testkit::invoke::respond(function, payload).await?;
        Ok(drain_testkit::invoke::outcomes(&report))
    }

    /// Scales in instance 0: on-lifecycle starts the drain.
    async fn scale_in(&self) -> Result<Vec<String>, KitError> {
        let action = self.deployment.world.scale_in(0).await?;
        Self::outcomes(
            &self.on_lifecycle,
            &drain_testkit::events::lifecycle_event(&action),
        )
        .await
    }

    /// The web replica moves to instance 1 and its STOPPED event reaches on-task-stopped.
    async fn web_moves(&self) -> Result<Vec<String>, KitError> {
        let event = self
            .deployment
            .world
            .replica_moves("web", &self.web, 1, 2)
            .await?;
        Self::outcomes(&self.on_task_stopped, &event).await
    }

    /// What reached the queue, ordered by `detail.occurredAt` then drain order.
    async fn delivered(&self, expected: usize) -> Result<Vec<Value>, KitError> {
        let admin = self
            .deployment
            .emulator
            .sdk_config_as(&self.deployment.admin);
        let mut messages = received(&admin, &self.queue, expected).await?;
        let order = |message: &Value| {
            let transition = message["detail"]["transition"].as_str().unwrap_or_default();
            (
                message["detail"]["occurredAt"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                Transition::ALL
                    .iter()
                    .position(|t| t.as_str() == transition),
            )
        };
        messages.sort_by_key(order);
        Ok(messages)
    }

    /// The PutEvents calls the IAM log saw from `logical`'s role: (allowed) each.
    fn put_events_by(&self, logical: &str) -> Result<Vec<bool>, KitError> {
        let role = self
            .deployment
            .stack
            .function(logical)?
            .role_name()
            .to_owned();
        Ok(self
            .deployment
            .emulator
            .iam_decisions()?
            .into_iter()
            .filter(|d| d.role.as_deref() == Some(role.as_str()) && d.action == "events:PutEvents")
            .map(|d| d.allowed)
            .collect())
    }
}

fn detail_types(messages: &[Value]) -> Vec<&str> {
    messages
        .iter()
        .filter_map(|message| message["detail-type"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scale_in_drain_by_the_built_binaries_publishes_started_then_completed() -> TestResult {
    // GIVEN the deployed stack (DrainEvents on, the default) and a busy instance
    let drain = PublishedDrain::start("published", |stack| stack).await?;
    let world = &drain.deployment.world;

    // WHEN the group scales it in and its replica moves away
    assert_eq!(drain.scale_in().await?, ["wait"]);
    assert_eq!(drain.web_moves().await?, ["complete"]);

    // THEN the default bus routed exactly two events to the queue: started (on-lifecycle, with
    // the first census) and completed (on-task-stopped), about this drain
    let messages = drain.delivered(2).await?;
    assert_eq!(
        detail_types(&messages),
        ["ECS Drain Started", "ECS Drain Completed"],
        "{messages:#?}"
    );
    for message in &messages {
        let detail = &message["detail"];
        assert_eq!(message["source"], "ecs-drain");
        assert_eq!(detail["ec2InstanceId"], world.instances[0].ec2_id.as_str());
        assert_eq!(
            detail["containerInstanceArn"],
            world.instances[0].container_instance_arn.as_str()
        );
        assert_eq!(detail["clusterArn"], world.cluster_arn.as_str());
        assert_eq!(detail["autoScalingGroupName"], world.asg.as_str());
        assert_eq!(detail["lifecycleHookName"], world.hook.as_str());
    }
    let started = &messages[0]["detail"];
    assert_eq!(started["waiting"]["total"], 1);
    assert_eq!(started["waiting"]["groups"][0]["group"], "service:web");
    let completed = &messages[1]["detail"];
    assert_eq!(completed["result"], "CONTINUE");
    assert_eq!(completed["reason"], "no task alive on the instance");
    assert_eq!(completed["startedAt"], started["startedAt"]);

    // AND both match docs/drain-events.schema.json, each role published once, allowed
    let (valid, verdicts) = schema_verdicts(&messages)?;
    assert!(valid, "{verdicts:#?}");
    assert_eq!(drain.put_events_by("OnLifecycleFunction")?, [true]);
    assert_eq!(drain.put_events_by("OnTaskStoppedFunction")?, [true]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_past_its_deadline_publishes_deadline_enforced_with_the_tasks_stopped() -> TestResult
{
    // GIVEN a drain the built on-lifecycle started, whose replica never leaves
    let drain = PublishedDrain::start("deadline-event", |stack| stack).await?;
    let world = &drain.deployment.world;
    assert_eq!(drain.scale_in().await?, ["wait"]);

    // WHEN its deadline has passed (moved back on the record: a real deadline is at least a
    // minute away) and the booked check fires
    let past = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        - 5;
    world
        .dynamodb
        .update_item()
        .table_name(&world.table)
        .key(
            "container_instance_arn",
            aws_sdk_dynamodb::types::AttributeValue::S(
                world.instances[0].container_instance_arn.clone(),
            ),
        )
        .update_expression("SET deadline_at = :past")
        .expression_attribute_values(
            ":past",
            aws_sdk_dynamodb::types::AttributeValue::N(past.to_string()),
        )
        .send()
        .await?;
    let check = drain.deployment.fire_booked_check(0).await?;
    assert_eq!(
        PublishedDrain::outcomes(&drain.on_lifecycle, &check).await?,
        ["enforce_deadline"]
    );

    // THEN after started, one deadline-enforced event says the one task was stopped
    let messages = drain.delivered(2).await?;
    assert_eq!(
        detail_types(&messages),
        ["ECS Drain Started", "ECS Drain Deadline Enforced"],
        "{messages:#?}"
    );
    let enforced = &messages[1]["detail"];
    assert_eq!(enforced["enforcement"], "stop-tasks");
    assert_eq!(enforced["tasksStopped"], 1);
    assert_eq!(enforced["waiting"]["replica"], 1);
    assert_eq!(
        world.describe_task(&drain.web).await?.stopped_reason(),
        Some(drain_core::drainer::DEADLINE_STOP_REASON)
    );
    let (valid, verdicts) = schema_verdicts(&messages)?;
    assert!(valid, "{verdicts:#?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_drain_events_off_a_drain_publishes_nothing() -> TestResult {
    // GIVEN the stack deployed with DrainEvents=off
    let drain =
        PublishedDrain::start("quiet", |stack| stack.with_parameter("DrainEvents", "off")).await?;

    // WHEN a whole drain runs
    assert_eq!(drain.scale_in().await?, ["wait"]);
    assert_eq!(drain.web_moves().await?, ["complete"]);

    // THEN no function called PutEvents and the queue stays empty
    assert_eq!(
        drain.put_events_by("OnLifecycleFunction")?,
        Vec::<bool>::new()
    );
    assert_eq!(
        drain.put_events_by("OnTaskStoppedFunction")?,
        Vec::<bool>::new()
    );
    assert_eq!(drain.delivered(0).await?, Vec::<Value>::new());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_publish_leaves_the_drain_completing_and_is_counted() -> TestResult {
    // GIVEN the stack deployed without events:PutEvents in on-lifecycle's role
    let drain = PublishedDrain::start("denied-events", |stack| {
        stack.without_grant("OnLifecycleRole", "events:PutEvents")
    })
    .await?;
    let world = &drain.deployment.world;

    // WHEN the group scales in an idle instance: on-lifecycle completes it at once
    let action = world.scale_in(1).await?;
    let outcomes = PublishedDrain::outcomes(
        &drain.on_lifecycle,
        &drain_testkit::events::lifecycle_event(&action),
    )
    .await?;

    // THEN the invocation succeeded and the action was completed, though the publish was denied
    assert_eq!(outcomes, ["complete"]);
    let completed: Vec<_> = world
        .lifecycle_actions()?
        .into_iter()
        .filter(|listed| listed.instance_id == world.instances[1].ec2_id)
        .map(|listed| (listed.state, listed.result))
        .collect();
    assert_eq!(
        completed,
        [("completed".to_owned(), Some("CONTINUE".to_owned()))]
    );
    assert_eq!(drain.put_events_by("OnLifecycleFunction")?, [false]);
    // AND the function logged one bounded warning and counted both events (started and
    // completed, one batch) in the EventsNotPublished metric of its EMF line
    let logs = drain.on_lifecycle.json_logs();
    let warnings: Vec<&Value> = logs
        .iter()
        .filter(|line| line["fields"]["message"] == "drain events not published")
        .collect();
    assert_eq!(warnings.len(), 1, "{logs:#?}");
    assert_eq!(warnings[0]["fields"]["not_published"], 2);
    assert!(
        warnings[0]["fields"]["error"]
            .as_str()
            .is_some_and(|error| error.contains("AccessDenied")),
        "{:?}",
        warnings[0]
    );
    let counted: Vec<&Value> = logs
        .iter()
        .filter(|line| line.get("_aws").is_some())
        .filter_map(|line| line.get(drain_core::metrics::EVENTS_NOT_PUBLISHED))
        .collect();
    assert_eq!(counted, [&serde_json::json!(2.0)], "{logs:#?}");
    assert_eq!(drain.delivered(0).await?, Vec::<Value>::new());
    Ok(())
}
