//! `make demo KEEP=1`: the demo binary, run with `--keep`, leaves the emulator and the world up
//! (one drain finished, one in flight) with what it printed true of it, and stops the emulator it
//! started when it is interrupted as Ctrl-C would.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sdk_dynamodb::types::AttributeValue;

/// The demo process; interrupted (SIGINT) if a test step fails before the test stops it.
struct Demo(Child);

impl Drop for Demo {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            interrupt(&self.0);
            let _ = wait_for_exit(&mut self.0, Duration::from_secs(20));
        }
    }
}

fn interrupt(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

fn wait_for_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

/// The text after `prefix` on the first line that has it, up to the first space.
fn word_after<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|line| line.split_once(prefix).map(|(_, rest)| rest))
        .and_then(|rest| rest.split_whitespace().next())
}

fn text(item: &std::collections::HashMap<String, AttributeValue>, key: &str) -> Option<String> {
    item.get(key).and_then(|value| value.as_s().ok()).cloned()
}

#[tokio::test]
async fn keep_leaves_a_finished_and_a_live_drain_up_until_interrupted() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
        .arg("--keep")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the demo starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut demo = Demo(child);

    // GIVEN the demo ran its timeline and said it keeps the emulator up
    let (sender, received) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    while !lines
        .iter()
        .any(|line: &String| line.starts_with("  (the CLI of issue 13"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match received.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(error) => panic!("demo output stopped ({error}):\n{}", lines.join("\n")),
        }
    }
    let printed = |prefix: &str| {
        word_after(&lines, prefix)
            .unwrap_or_else(|| panic!("no line with {prefix:?} in:\n{}", lines.join("\n")))
    };
    let endpoint = printed("The emulator stays up at ");
    let table = printed("export ECS_DRAIN_TABLE=");
    let live = printed("a second drain is left in flight: ");
    let notice = printed("drainctl explain --event ");
    assert!(
        endpoint.starts_with("http://127.0.0.1:"),
        "endpoint {endpoint}"
    );
    let port: u16 = endpoint
        .trim_start_matches("http://127.0.0.1:")
        .parse()
        .expect("a port");

    // WHEN an SDK client reads the drain table it printed, at the endpoint it printed
    let sdk = drain_testkit::emulator::sdk_config_for(
        endpoint,
        RetryConfig::standard().with_max_attempts(1),
    );
    let scanned = aws_sdk_dynamodb::Client::new(&sdk)
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("the table the demo printed exists");

    // THEN it holds the finished drain and the live one, the live one for the instance it named
    let mut drains: Vec<(String, String)> = scanned
        .items()
        .iter()
        .map(|item| {
            let field = |key| text(item, key).unwrap_or_else(|| panic!("no {key}: {item:?}"));
            (field("status"), field("ec2_instance_id"))
        })
        .collect();
    drains.sort();
    assert_eq!(drains.len(), 2, "{drains:?}");
    assert_eq!(drains[0].0, "COMPLETED", "{drains:?}");
    assert_eq!(drains[1], ("DRAINING".to_owned(), live.to_owned()));
    assert_ne!(drains[0].1, live);
    // AND the notice it offers to `drainctl explain --event` is that drain's lifecycle action
    let event: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(notice).expect("the notice file exists"))
            .expect("the notice is JSON");
    assert_eq!(
        event["detail-type"],
        "EC2 Instance-terminate Lifecycle Action"
    );
    assert_eq!(event["detail"]["EC2InstanceId"], live);

    // WHEN it is interrupted as Ctrl-C would
    interrupt(&demo.0);
    let status = wait_for_exit(&mut demo.0, Duration::from_secs(30)).expect("the demo stops");

    // THEN it exits cleanly, having stopped its emulator and removed the notice
    assert!(status.success(), "demo exited with {status}");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the emulator still answers on {port}"
    );
    assert!(
        !std::path::Path::new(notice).exists(),
        "{notice} left behind"
    );
}
