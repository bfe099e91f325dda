//! drainctl as the built binary against the emulator: a world with a real drain (the real
//! on-lifecycle handler and AWS adapters started it), every command's output, exit code and
//! effect on AWS, and the error paths operators meet first.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use drain_aws::DynamoDrainStore;
use drain_aws::app::App;
use drain_core::ports::{DrainStore, WriteOutcome};
use drain_core::record::DrainRecord;
use drain_core::time::{Clock, SystemClock};
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::world::schedule_names;
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

/// The world after instance 0 was scaled in and on-lifecycle started its drain.
struct Drained {
    emulator: Emulator,
    world: EmulatorWorld,
}

async fn drained(name: &str) -> Result<Drained, KitError> {
    let emulator = Emulator::start()?;
    let spec = WorldSpec::new(name, 3);
    drained_in(emulator, spec).await
}

async fn drained_in(emulator: Emulator, spec: WorldSpec) -> Result<Drained, KitError> {
    let sdk = emulator.sdk_config();
    let world = EmulatorWorld::build(&emulator, &sdk, &spec).await?;
    world.populate_standard(0).await?;
    let app = App::new(world.config(), &sdk);
    let action = world.scale_in(0).await?;
    let report = drain_core::handler::handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    Ok(Drained { emulator, world })
}

/// drainctl in an operator's shell pointed at the emulator, without region or credentials.
fn base(endpoint: &str) -> Command {
    common::shell(endpoint)
}

fn with_credentials(mut command: Command) -> Command {
    command
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing");
    command
}

fn run(endpoint: &str, args: &[&str]) -> Result<Output, KitError> {
    common::drainctl(endpoint, None, &[], args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn code(output: &Output) -> Option<i32> {
    output.status.code()
}

fn json(output: &Output) -> Result<Value, KitError> {
    serde_json::from_slice(&output.stdout)
        .map_err(|error| format!("not JSON ({error}): {}", stdout(output)).into())
}

/// A one-line error with a hint, and no Rust debug dump.
fn assert_one_line_error(output: &Output, expected: &str) {
    let text = stderr(output);
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.starts_with("drainctl: "), "{text}");
    assert!(text.contains(expected), "{text}");
    assert!(text.contains("(hint: "), "{text}");
    assert!(
        !text.contains("Permanent {") && !text.contains("ServiceError"),
        "{text}"
    );
}

async fn stored(drained: &Drained) -> Result<DrainRecord, KitError> {
    let store = DynamoDrainStore::new(drained.world.dynamodb.clone(), &drained.world.table);
    let arn = drain_core::ids::ContainerInstanceArn::new(
        drained.world.instances[0].container_instance_arn.clone(),
    )?;
    store
        .load(&arn)
        .await?
        .ok_or_else(|| "the drain record is gone".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_explain_show_the_real_drain_in_both_formats_and_options_go_anywhere()
-> TestResult {
    let drained = drained("ctl-status").await?;
    let endpoint = drained.emulator.endpoint();
    let table = drained.world.table.as_str();
    let ec2 = drained.world.instances[0].ec2_id.as_str();

    // status as a table: a header and one aligned row, the options after the subcommand
    let output = run(&endpoint, &["status", "--table", table])?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(lines[0].starts_with("EC2 INSTANCE"), "{text}");
    assert!(lines[1].starts_with(ec2), "{text}");
    assert!(
        lines[1].contains("DRAINING") && lines[1].contains("deadline in "),
        "{text}"
    );
    assert_eq!(
        lines[0].find("STATUS"),
        lines[1].find("DRAINING"),
        "columns align: {text}"
    );

    // the same as JSON, the options before the subcommand
    let output = run(&endpoint, &["--output", "json", "--table", table, "status"])?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let drains = json(&output)?;
    assert_eq!(drains.as_array().map(Vec::len), Some(1), "{drains}");
    assert_eq!(drains[0]["ec2_instance_id"], ec2);
    assert_eq!(drains[0]["status"], "DRAINING");
    assert_eq!(drains[0]["cluster"], drained.world.cluster.as_str());
    assert!(drains[0]["overdue"].is_null(), "{drains}");
    assert!(
        drains[0]["alive"]["replica"].as_u64() >= Some(1),
        "{drains}"
    );
    // ... with the tasks it waits for: the standard world's four on instance 0
    let waiting = drains[0]["waiting"]["tasks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut groups: Vec<&str> = waiting
        .iter()
        .filter_map(|task| task["group"].as_str())
        .collect();
    groups.sort_unstable();
    assert_eq!(
        groups,
        vec![
            "family:nightly-report",
            "service:api",
            "service:log-router (daemon)",
            "service:web"
        ],
        "{drains}"
    );
    assert!(
        waiting
            .iter()
            .all(|task| task["last_status"] == "RUNNING"
                && task["waiting_seconds"].as_i64() >= Some(0)),
        "{drains}"
    );
    assert_eq!(drains[0]["waiting"]["more"], 0);
    // the table names the two longest-waiting and counts the rest
    assert!(
        lines[1].contains(" RUNNING for ") && lines[1].contains("+2 more"),
        "{text}"
    );

    // filters: another cluster shows nothing
    let output = run(
        &endpoint,
        &[
            "status",
            "--table",
            table,
            "--cluster",
            "other",
            "--output",
            "json",
        ],
    )?;
    assert_eq!(json(&output)?, Value::Array(vec![]));

    // explain by EC2 instance id and by container instance id tells the same story
    let container_instance_id = drained.world.instances[0]
        .container_instance_arn
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    for wanted in [ec2, container_instance_id.as_str()] {
        let output = run(&endpoint, &["explain", wanted, "--table", table])?;
        assert_eq!(code(&output), Some(0), "{}", stderr(&output));
        let story = stdout(&output);
        assert!(story.contains(&format!("instance {ec2}")), "{story}");
        assert!(story.contains("last census"), "{story}");
        assert!(story.contains("DRAINING"), "{story}");
    }
    let output = run(
        &endpoint,
        &["explain", ec2, "--table", table, "--output", "json"],
    )?;
    let explained = json(&output)?;
    assert_eq!(
        explained["container_instance_arn"],
        drained.world.instances[0].container_instance_arn.as_str()
    );
    assert!(
        explained["story"]
            .as_array()
            .is_some_and(|lines| lines.len() > 3),
        "{explained}"
    );

    // an instance without a drain: exit 3, one line
    let output = run(
        &endpoint,
        &["explain", "i-00000000000000000", "--table", table],
    )?;
    assert_eq!(code(&output), Some(3));
    assert_one_line_error(&output, "no drain recorded for i-00000000000000000");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reads_a_drain_that_keeps_tasks_it_knows_are_stopped() -> TestResult {
    // GIVEN a drain whose record keeps a STOPPED task (a replica's STOPPED event took it out
    // of the alive set: the record stores its id as binary)
    let drained = drained("ctl-known-stopped").await?;
    let world = &drained.world;
    let web = world
        .tasks_on(0)
        .await?
        .into_iter()
        .find(|task| task.group() == Some("service:web"))
        .and_then(|task| task.task_arn().map(str::to_owned))
        .ok_or("no web task on instance 0")?;
    world
        .stop_task(
            &web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let app = App::new(world.config(), &drained.emulator.sdk_config());
    let report = drain_core::handler::handle_task_stopped(
        &app.drainer,
        &task_state_change_event(&world.describe_task(&web).await?, 2),
    )
    .await?;
    assert_eq!(report.outcomes, vec!["wait".to_owned()]);
    assert_eq!(stored(&drained).await?.known_stopped.len(), 1);

    // WHEN an operator asks drainctl to explain it
    let endpoint = drained.emulator.endpoint();
    let ec2 = world.instances[0].ec2_id.as_str();
    let output = run(
        &endpoint,
        &["explain", ec2, "--table", world.table.as_str()],
    )?;

    // THEN it reads the record and tells its story
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let story = stdout(&output);
    assert!(story.contains(&format!("instance {ec2}")), "{story}");
    assert!(story.contains("DRAINING"), "{story}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stack_name_finds_the_table_in_the_stacks_outputs() -> TestResult {
    // GIVEN the stack deployed from infra/template.yaml and a drain in its table
    let emulator = Emulator::start()?;
    let mut spec = WorldSpec::new("ctl-stack", 2);
    let stack = drain_testkit::stack::Stack::deploy(
        &emulator,
        "ecs-drain-ctl",
        &drain_testkit::stack::StackSpec::for_names(
            &spec.cluster_name(),
            &spec.group_name(),
            &spec.hook_name(),
        ),
    )?;
    spec.table = Some(stack.output("TableName")?.to_owned());
    let drained = drained_in(emulator, spec).await?;
    let endpoint = drained.emulator.endpoint();

    // WHEN status is asked by stack name only
    let output = run(
        &endpoint,
        &[
            "status",
            "--stack-name",
            "ecs-drain-ctl",
            "--output",
            "json",
        ],
    )?;

    // THEN it read the stack's table
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let drains = json(&output)?;
    assert_eq!(drains.as_array().map(Vec::len), Some(1), "{drains}");
    assert_eq!(
        drains[0]["ec2_instance_id"],
        drained.world.instances[0].ec2_id.as_str()
    );
    // ... and ECS_DRAIN_STACK does the same
    let output = with_credentials(base(&endpoint))
        .env("ECS_DRAIN_STACK", "ecs-drain-ctl")
        .args(["explain", drained.world.instances[0].ec2_id.as_str()])
        .output()?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_are_one_line_each_with_its_own_hint_and_exit_code() -> TestResult {
    let emulator = Emulator::start()?;
    let endpoint = emulator.endpoint();

    // a table that does not exist
    let output = run(&endpoint, &["status", "--table", "no-such-table"])?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "dynamodb:Scan: table no-such-table does not exist");
    // --debug adds the cause
    let output = run(
        &endpoint,
        &["status", "--table", "no-such-table", "--debug"],
    )?;
    assert!(
        stderr(&output).contains("drainctl: cause: "),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("ResourceNotFoundException"),
        "{}",
        stderr(&output)
    );

    // no region anywhere
    let output = base(&endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["status", "--table", "t"])
        .output()?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "no AWS region is configured");
    // ... which --region supplies
    let output = base(&endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .args(["status", "--table", "t", "--region", "us-east-1"])
        .output()?;
    assert_one_line_error(&output, "table t does not exist");

    // no credentials anywhere
    let output = base(&endpoint)
        .env("AWS_REGION", "us-east-1")
        .args(["status", "--table", "t"])
        .output()?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "no AWS credentials could be loaded");

    // a profile that does not exist is a credentials problem too, not a crash
    let output = base(&endpoint)
        .env("AWS_REGION", "us-east-1")
        .args(["status", "--table", "t", "--profile", "nobody"])
        .output()?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "no AWS credentials could be loaded");

    // an endpoint nothing listens on (port 9 on this machine: discard, closed)
    let output = run("http://127.0.0.1:9", &["status", "--table", "t"])?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "the AWS endpoint could not be reached");

    // usage: no table named, an unknown option, a bad duration
    let output = run(&endpoint, &["status"])?;
    assert_eq!(code(&output), Some(2));
    assert_one_line_error(&output, "no drain table named");
    let output = run(&endpoint, &["status", "--table", "t", "--no-such-option"])?;
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));
    let output = run(
        &endpoint,
        &["extend", "i-1", "--by", "soon", "--table", "t"],
    )?;
    assert_eq!(code(&output), Some(2), "{}", stderr(&output));

    // a stack that does not exist
    let output = run(&endpoint, &["status", "--stack-name", "no-such-stack"])?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "stack no-such-stack does not exist");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_whose_check_never_ran_is_overdue_and_status_exits_4() -> TestResult {
    let drained = drained("ctl-overdue").await?;
    let endpoint = drained.emulator.endpoint();
    let table = drained.world.table.as_str();
    // GIVEN the booked check was due ten minutes ago and nothing wrote the record since (the
    // scheduler's role is broken)
    let record = stored(&drained).await?;
    let now = SystemClock.now();
    let mut late = record.progressed(now.plus_seconds(-900));
    late.next_check_at = Some(now.plus_seconds(-600));
    let store = DynamoDrainStore::new(drained.world.dynamodb.clone(), table);
    assert_eq!(
        store.replace(&late, record.revision).await?,
        WriteOutcome::Written
    );

    let output = run(&endpoint, &["status", "--table", table])?;
    assert_eq!(code(&output), Some(4), "{}", stderr(&output));
    assert!(stdout(&output).contains("OVERDUE"), "{}", stdout(&output));
    assert!(stdout(&output).contains("never ran"), "{}", stdout(&output));
    let output = run(&endpoint, &["status", "--table", table, "--output", "json"])?;
    assert_eq!(code(&output), Some(4));
    assert_eq!(json(&output)?[0]["overdue"]["detail"]["kind"], "check_late");
    let output = run(
        &endpoint,
        &[
            "explain",
            &drained.world.instances[0].ec2_id,
            "--table",
            table,
        ],
    )?;
    // (the check was due 600 s before the test's clock read; drainctl reads it a moment later)
    let story = stdout(&output);
    assert!(
        story.contains("OVERDUE: check due 6") && story.contains("s ago never ran"),
        "{story}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn force_complete_completes_the_action_once_and_signs_the_audit_with_the_caller() -> TestResult
{
    let drained = drained("ctl-force").await?;
    let endpoint = drained.emulator.endpoint();
    let table = drained.world.table.as_str();
    let ec2 = drained.world.instances[0].ec2_id.as_str();
    let caller = caller_arn(&drained).await?;

    let group = drained.world.schedule_group.as_str();
    assert_eq!(
        booked(&drained).await?.len(),
        1,
        "the drain's check is booked"
    );
    let output = run(
        &endpoint,
        &[
            "force-complete",
            ec2,
            "--result",
            "ABANDON",
            "--table",
            table,
            "--schedule-group",
            group,
        ],
    )?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("force-complete ABANDON; booked check deleted"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        booked(&drained).await?,
        Vec::<String>::new(),
        "the ended drain's check is gone"
    );
    let actions = drained.world.lifecycle_actions()?;
    assert_eq!(
        (
            actions[0].state.as_str(),
            actions[0].result.as_deref(),
            actions[0].completions
        ),
        ("completed", Some("ABANDON"), 1)
    );
    let record = stored(&drained).await?;
    assert_eq!(record.status.as_str(), "COMPLETED");
    assert_eq!(record.audit.len(), 1);
    assert_eq!(record.audit[0].who, caller);
    assert_eq!(
        record.audit[0].what,
        "force-complete ABANDON; booked check deleted"
    );

    // the story tells who did it, status shows the end
    let output = run(&endpoint, &["explain", ec2, "--table", table])?;
    assert!(
        stdout(&output).contains(&format!(
            "operator {caller} did \"force-complete ABANDON; booked check deleted\""
        )),
        "{}",
        stdout(&output)
    );
    let output = run(&endpoint, &["status", "--table", table])?;
    assert!(stdout(&output).contains("ended "), "{}", stdout(&output));
    assert!(
        !stdout(&output).contains("deadline in"),
        "{}",
        stdout(&output)
    );
    let output = run(
        &endpoint,
        &["status", "--table", table, "--active", "--output", "json"],
    )?;
    assert_eq!(json(&output)?, Value::Array(vec![]));

    // again: refused, exit 1, nothing completed twice
    let output = run(&endpoint, &["force-complete", ec2, "--table", table])?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "refused: the drain already ended (COMPLETED)");
    assert_eq!(drained.world.lifecycle_actions()?[0].completions, 1);
    Ok(())
}

/// The names of the checks booked in the world's schedule group.
async fn booked(drained: &Drained) -> Result<Vec<String>, KitError> {
    schedule_names(
        &drained.emulator.sdk_config(),
        &drained.world.schedule_group,
    )
    .await
}

/// The identity of the test credentials, as STS tells it.
async fn caller_arn(drained: &Drained) -> Result<String, KitError> {
    let sts = aws_sdk_sts::Client::new(&drained.emulator.sdk_config());
    let identity = sts.get_caller_identity().send().await?;
    identity
        .arn()
        .map(str::to_owned)
        .ok_or_else(|| "no ARN".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extend_moves_the_deadline_and_cancel_reactivates_the_instance_then_completes() -> TestResult
{
    let drained = drained("ctl-cancel").await?;
    let endpoint = drained.emulator.endpoint();
    let table = drained.world.table.as_str();
    let ec2 = drained.world.instances[0].ec2_id.as_str();
    let before = stored(&drained).await?;

    let output = run(
        &endpoint,
        &[
            "extend", ec2, "--by", "30m", "--table", table, "--output", "json",
        ],
    )?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let after = stored(&drained).await?;
    assert_eq!(after.deadline_at, before.deadline_at.plus_seconds(1800));
    assert_eq!(
        json(&output)?["deadline_at"],
        after.deadline_at.to_rfc3339()
    );
    assert_eq!(after.audit[0].what, "extend by 1800 s");
    assert_eq!(
        drained.world.lifecycle_actions()?[0].state,
        "active",
        "still draining"
    );

    // far past the hook's own expiry: refused
    let output = run(&endpoint, &["extend", ec2, "--by", "3d", "--table", table])?;
    assert_eq!(code(&output), Some(1));
    assert_one_line_error(&output, "the hook itself gives up at");

    assert_eq!(drained.world.instance_status(0).await?, "DRAINING");
    let output = run(&endpoint, &["cancel", ec2, "--table", table])?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    assert_eq!(drained.world.instance_status(0).await?, "ACTIVE");
    let actions = drained.world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].state.as_str(), actions[0].result.as_deref()),
        ("completed", Some("ABANDON"))
    );
    let record = stored(&drained).await?;
    assert_eq!(
        record
            .audit
            .iter()
            .map(|entry| entry.what.as_str())
            .collect::<Vec<_>>(),
        vec![
            "extend by 1800 s",
            "cancel: ACTIVE again, complete ABANDON; booked check left (schedule group unknown): \
             it finds the drain ended"
        ]
    );
    assert_eq!(
        booked(&drained).await?.len(),
        1,
        "no group named: the check is left"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_watch_prints_each_change_when_not_on_a_terminal() -> TestResult {
    let drained = drained("ctl-watch").await?;
    let endpoint = drained.emulator.endpoint();
    let table = drained.world.table.clone();
    let mut child = with_credentials(base(&endpoint))
        .args([
            "status",
            "--watch",
            "--interval",
            "1",
            "--output",
            "json",
            "--table",
            &table,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let (lines, received) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| -> Result<Value, KitError> {
        let line = received
            .recv_timeout(Duration::from_secs(30))
            .map_err(|_| format!("no line for {what}"))?;
        Ok(serde_json::from_str(&line)?)
    };
    let first = next("the first look")?;
    assert_eq!(first["status"], "DRAINING");
    // no change, no line: two looks pass quietly
    assert!(
        received.recv_timeout(Duration::from_millis(2500)).is_err(),
        "an unchanged drain printed again"
    );
    // WHEN an operator completes the drain
    let output = run(
        &endpoint,
        &[
            "force-complete",
            &drained.world.instances[0].ec2_id,
            "--table",
            &table,
        ],
    )?;
    assert_eq!(code(&output), Some(0), "{}", stderr(&output));
    let deadline = Instant::now() + Duration::from_secs(30);
    let changed = next("the change")?;
    assert!(Instant::now() < deadline);
    assert_eq!(changed["status"], "COMPLETED");
    child.kill()?;
    child.wait()?;
    Ok(())
}
