//! `drainctl replay` as the built binary against the stack deployed in the emulator: a dry
//! run starts nothing; `--live` starts a replay of the stack's archive onto its bus with the
//! stack's rules as FilterArns and follows it to COMPLETED.
//!
//! moto completes a replay at once and re-sends the archive's events to every rule of the bus
//! (it ignores FilterArns and the window), so what is checked here is what drainctl asked for
//! and that it followed the replay to its end; the archive is empty, so no function runs.

mod common;

use std::process::Output;

use drain_testkit::stack::{Stack, StackSpec};
use drain_testkit::{Emulator, KitError};
use serde_json::Value;

type TestResult = Result<(), KitError>;

const FROM: &str = "2026-12-02T01:00:00Z";
const TO: &str = "2026-12-02T02:00:00Z";

fn drainctl(emulator: &Emulator, args: &[&str]) -> Result<Output, KitError> {
    common::drainctl(&emulator.endpoint(), None, &[], args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_a_dry_run_unless_live_and_then_replays_the_archive_to_the_stacks_rules()
-> TestResult {
    let emulator = Emulator::start()?;
    let stack = Stack::deploy(
        &emulator,
        "ecs-drain-replay",
        &StackSpec::for_names("replay-cluster", "replay-asg", "ecs-drain-terminate"),
    )?;
    let events = aws_sdk_eventbridge::Client::new(&emulator.sdk_config());
    let args = [
        "replay",
        "--stack-name",
        "ecs-drain-replay",
        "--from",
        FROM,
        "--to",
        TO,
    ];

    // a dry run says what it would replay and starts nothing
    let output = drainctl(&emulator, &args)?;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        text.starts_with("dry run (pass --live to start it)"),
        "{text}"
    );
    assert!(text.contains(stack.output("LifecycleRuleArn")?), "{text}");
    assert!(events.list_replays().send().await?.replays().is_empty());

    // --live starts it and follows it to its end
    let mut live = args.to_vec();
    live.extend(["--live", "--output", "json"]);
    let output = drainctl(&emulator, &live)?;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["state"], "COMPLETED", "{report}");
    let name = report["replay"].as_str().ok_or("no replay name")?;
    let replay = events.describe_replay().replay_name(name).send().await?;
    assert_eq!(replay.event_source_arn(), Some(stack.output("ArchiveArn")?));
    let destination = replay.destination().ok_or("no destination")?;
    assert!(
        destination.arn().ends_with(":event-bus/default"),
        "{destination:?}"
    );
    assert_eq!(
        destination.filter_arns(),
        [
            stack.output("LifecycleRuleArn")?.to_owned(),
            stack.output("TaskStoppedRuleArn")?.to_owned(),
            stack.output("InstanceDrainingRuleArn")?.to_owned()
        ]
    );
    assert_eq!(
        replay.event_start_time().map(|time| time.secs()),
        drain_core::time::Timestamp::parse_rfc3339(FROM).map(|at| at.epoch_seconds())
    );

    // usage errors: no stack, a window that ends before it starts, a time that is not one
    let output = drainctl(
        &emulator,
        &["replay", "--from", FROM, "--to", TO, "--table", "t"],
    )?;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("pass --stack-name"));
    for (from, to) in [(TO, FROM), ("yesterday", TO)] {
        let output = drainctl(
            &emulator,
            &[
                "replay",
                "--stack-name",
                "ecs-drain-replay",
                "--from",
                from,
                "--to",
                to,
            ],
        )?;
        assert_eq!(output.status.code(), Some(2), "--from {from} --to {to}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_of_a_launch_readiness_stack_re_delivers_its_launch_actions_too() -> TestResult {
    // GIVEN a stack with launch readiness on, whose archive keeps the launch actions
    let emulator = Emulator::start()?;
    let stack = Stack::deploy(
        &emulator,
        "ecs-drain-rl",
        &StackSpec::for_names("replay-cluster", "replay-asg", "ecs-drain-terminate")
            .with_parameter("LaunchReadiness", "on")
            .with_parameter("CreateLaunchHooks", "false"),
    )?;
    // WHEN an operator replays a window of it
    let output = drainctl(
        &emulator,
        &[
            "replay",
            "--stack-name",
            "ecs-drain-rl",
            "--from",
            FROM,
            "--to",
            TO,
            "--live",
            "--output",
            "json",
        ],
    )?;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // THEN the replay re-delivers to the launch rule as well as the three drain rules
    let report: Value = serde_json::from_slice(&output.stdout)?;
    let name = report["replay"].as_str().ok_or("no replay name")?;
    let events = aws_sdk_eventbridge::Client::new(&emulator.sdk_config());
    let replay = events.describe_replay().replay_name(name).send().await?;
    let destination = replay.destination().ok_or("no destination")?;
    assert_eq!(
        destination.filter_arns(),
        [
            stack.output("LifecycleRuleArn")?.to_owned(),
            stack.output("TaskStoppedRuleArn")?.to_owned(),
            stack.output("InstanceDrainingRuleArn")?.to_owned(),
            stack.output("LaunchRuleArn")?.to_owned()
        ]
    );
    Ok(())
}
