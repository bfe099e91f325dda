//! drainctl: what ecs-drain is doing, and the few things an operator may do about it.
//!
//! `status` lists the drains, `explain` tells one drain's story (or, with `--event`, what the
//! functions would do with one event, read-only), `force-complete`, `extend` and `cancel` act
//! on a drain through drain-core's operator use case (conditional writes, an audit entry each). Every command takes `--output json`; errors are one line with a hint
//! (`--debug` for the cause chain) and the exit code says what kind of failure it was.

mod aws;
mod doctor;
mod explain;
mod explain_event;
mod failure;
mod operate;
mod replay;
mod status;
mod table;

use std::io::IsTerminal;
use std::time::Duration;

use aws_config::SdkConfig;
use clap::{Parser, Subcommand, ValueEnum};
use drain_aws::DynamoDrainStore;
use drain_core::decision::operator::OperatorAction;
use drain_core::record::{DrainRecord, LifecycleResult};
use drain_core::time::{Clock, SystemClock};
use serde_json::Value;

use crate::failure::{Exit, Failure};

/// ecs-drain operator CLI.
#[derive(Debug, Parser)]
#[command(name = "drainctl", version, about)]
struct Cli {
    /// The drain table (the stack's TableName output); overrides the stack's.
    #[arg(long, global = true, env = "ECS_DRAIN_TABLE")]
    table: Option<String>,
    /// The ecs-drain CloudFormation stack: its outputs name the table, archive and rules.
    #[arg(long, global = true, env = "ECS_DRAIN_STACK")]
    stack_name: Option<String>,
    /// The schedule group of the drains' checks (the stack's ScheduleGroupName output);
    /// overrides the stack's.
    #[arg(long, global = true, env = "ECS_DRAIN_SCHEDULE_GROUP")]
    schedule_group: Option<String>,
    /// AWS region (else the SDK's standard resolution: AWS_REGION, the profile, ...).
    #[arg(long, global = true)]
    region: Option<String>,
    /// AWS shared-config profile (else AWS_PROFILE or the default profile).
    #[arg(long, global = true)]
    profile: Option<String>,
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Print the full cause of an error.
    #[arg(long, global = true)]
    debug: bool,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// How results are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Output {
    /// Aligned columns and sentences.
    Table,
    /// One JSON document.
    Json,
}

/// The lifecycle result an operator completes with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum ResultArg {
    /// Proceed (terminate the instance).
    Continue,
    /// Abandon (with an instance retention policy, the instance is kept).
    Abandon,
}

impl From<ResultArg> for LifecycleResult {
    fn from(result: ResultArg) -> LifecycleResult {
        match result {
            ResultArg::Continue => LifecycleResult::Continue,
            ResultArg::Abandon => LifecycleResult::Abandon,
        }
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One row per drain, live ones first; exits 4 when a drain is overdue.
    Status {
        /// Redraw every --interval seconds (on a terminal), or print rows as they change.
        #[arg(long)]
        watch: bool,
        /// Seconds between looks with --watch.
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
        interval: u64,
        /// Only this cluster (name or ARN).
        #[arg(long)]
        cluster: Option<String>,
        /// Only live drains.
        #[arg(long)]
        active: bool,
    },
    /// The story of one drain: by EC2 instance id, container instance id or ARN. With
    /// `--event FILE`: what the functions would decide and call for that event, read-only.
    Explain {
        /// `i-...`, the container instance id, or its ARN.
        #[arg(required_unless_present = "event", conflicts_with = "event")]
        instance: Option<String>,
        /// A captured or archived event (EventBridge, SNS-wrapped, a scheduled check, or a
        /// failure-queue record): run the functions' decision code on it against the live
        /// state, making no change.
        #[arg(long, value_name = "FILE")]
        event: Option<std::path::PathBuf>,
    },
    /// Complete the lifecycle action now.
    ForceComplete {
        /// `i-...`, the container instance id, or its ARN.
        instance: String,
        /// The result to send.
        #[arg(long, value_enum, default_value_t = ResultArg::Continue)]
        result: ResultArg,
    },
    /// Move the drain deadline later.
    Extend {
        /// `i-...`, the container instance id, or its ARN.
        instance: String,
        /// How much later: `90s`, `30m`, `1h30m`, or seconds.
        #[arg(long, value_parser = parse_duration)]
        by: i64,
    },
    /// Read-only preflight of a cluster and its groups; exits 4 when it finds problems.
    Doctor {
        /// The cluster (name or ARN).
        #[arg(long)]
        cluster: String,
        /// An Auto Scaling group to check (repeatable); default: the groups of the cluster's
        /// instances.
        #[arg(long = "asg")]
        groups: Vec<String>,
        /// ecs-drain's hook name (default: the stack's HookName, else any terminate hook).
        #[arg(long)]
        hook: Option<String>,
    },
    /// Replay the stack's archived events of a time window to its rules (dry run unless --live).
    Replay {
        /// First event time (RFC 3339).
        #[arg(long, value_parser = replay::parse_time)]
        from: drain_core::time::Timestamp,
        /// Last event time (RFC 3339).
        #[arg(long, value_parser = replay::parse_time)]
        to: drain_core::time::Timestamp,
        /// Start the replay and follow it to its end (else only say what would be replayed).
        #[arg(long)]
        live: bool,
    },
    /// Stop draining: the instance is set ACTIVE again, then the action completes.
    Cancel {
        /// `i-...`, the container instance id, or its ARN.
        instance: String,
        /// The result to send (ABANDON keeps the instance under a retention policy).
        #[arg(long, value_enum, default_value_t = ResultArg::Abandon)]
        result: ResultArg,
    },
}

/// `90s`, `30m`, `2h`, `1h30m` or plain seconds, as seconds.
fn parse_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("{text:?} is not a duration like 90s, 30m, 1h30m");
    if let Ok(seconds) = text.parse::<i64>() {
        return (seconds > 0).then_some(seconds).ok_or_else(invalid);
    }
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(invalid()),
        };
        let value: i64 = digits.parse().map_err(|_| invalid())?;
        total = value
            .checked_mul(unit)
            .and_then(|part| total.checked_add(part))
            .ok_or_else(invalid)?;
        digits.clear();
    }
    if !digits.is_empty() || total <= 0 {
        return Err(invalid());
    }
    Ok(total)
}

/// What a command prints: a table (text) and the same as JSON.
pub(crate) struct Printed {
    text: String,
    json: Value,
}

pub(crate) fn print(output: Output, printed: &Printed) {
    match output {
        Output::Table => println!("{}", printed.text),
        Output::Json => println!("{}", printed.json),
    }
}

pub(crate) async fn records(
    store: &DynamoDrainStore,
    table: &str,
) -> Result<Vec<DrainRecord>, Failure> {
    let items = store
        .scan_all()
        .await
        .map_err(|error| Failure::aws(&error, &format!("table {table}")))?;
    let mut records = Vec::new();
    for item in items {
        match item {
            Ok(record) => records.push(record),
            Err(error) => eprintln!("drainctl: skipped an unreadable item: {error}"),
        }
    }
    Ok(records)
}

/// The one drain `instance` names, or exit 3.
pub(crate) fn find(records: Vec<DrainRecord>, instance: &str) -> Result<DrainRecord, Failure> {
    let mut found: Vec<DrainRecord> = records
        .into_iter()
        .filter(|record| explain::matches(record, instance))
        .collect();
    // The newest drain of the instance is the one an operator means.
    found.sort_by_key(|record| std::cmp::Reverse(record.started_at));
    found.into_iter().next().ok_or_else(|| {
        Failure::new(
            Exit::NotFound,
            format!("no drain recorded for {instance}"),
            "drainctl status lists the recorded drains (records expire after the retention period)",
        )
    })
}

async fn run(cli: &Cli) -> Result<Exit, Failure> {
    let sdk: SdkConfig = aws::sdk_config(cli.region.as_deref(), cli.profile.as_deref()).await?;
    let names = match &cli.stack_name {
        Some(stack) => aws::from_stack(&sdk, stack).await?,
        None => aws::Names::default(),
    };
    // The drain table: --table (or ECS_DRAIN_TABLE) wins over the stack's.
    let table =
        || {
            cli.table.clone().or_else(|| names.table.clone()).ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                "no drain table named",
                "pass --stack-name (the ecs-drain stack) or --table, or set ECS_DRAIN_TABLE",
            )
        })
        };
    let store = |table: &str| DynamoDrainStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    // What an operator action runs on; the checks' group: --schedule-group (or
    // ECS_DRAIN_SCHEDULE_GROUP) wins over the stack's.
    let on = || -> Result<operate::Scope<'_>, Failure> {
        Ok(operate::Scope {
            output: cli.output,
            sdk: &sdk,
            table: table()?,
            schedule_group: cli
                .schedule_group
                .clone()
                .or_else(|| names.schedule_group.clone()),
        })
    };
    match &cli.command {
        Command::Status {
            watch,
            interval,
            cluster,
            active,
        } => {
            let table = table()?;
            let store = store(&table);
            let filter = status::Filter {
                cluster: cluster.clone(),
                active: *active,
            };
            if *watch {
                return watch_status(cli.output, &store, &table, &filter, *interval).await;
            }
            let now = SystemClock.now();
            let shown = status::select(records(&store, &table).await?, &filter);
            let exit = if status::any_overdue(&shown, now) {
                Exit::Findings
            } else {
                Exit::Ok
            };
            print(
                cli.output,
                &Printed {
                    text: status::table(&shown, now),
                    json: Value::Array(shown.iter().map(|r| status::json(r, now)).collect()),
                },
            );
            Ok(exit)
        }
        Command::Explain {
            event: Some(path), ..
        } => {
            let settings = explain_event::Settings {
                table: cli.table.as_deref(),
                schedule_group: cli.schedule_group.as_deref(),
                names: &names,
            };
            explain_event::explain_event(cli.output, &sdk, settings, path).await
        }
        Command::Explain {
            instance: None,
            event: None,
        } => Err(Failure::new(
            Exit::Usage,
            "explain needs an instance or --event FILE",
            "drainctl explain i-0123456789abcdef0, or drainctl explain --event event.json",
        )),
        Command::Explain {
            instance: Some(instance),
            event: None,
        } => {
            let table = table()?;
            let now = SystemClock.now();
            let record = find(records(&store(&table), &table).await?, instance)?;
            let story = explain::explain(&record, now);
            let mut json = status::json(&record, now);
            json["story"] = Value::from(story.clone());
            print(
                cli.output,
                &Printed {
                    text: story.join("\n"),
                    json,
                },
            );
            Ok(Exit::Ok)
        }
        Command::ForceComplete { instance, result } => {
            let action = OperatorAction::ForceComplete {
                result: (*result).into(),
            };
            operate::act(&on()?, instance, action).await
        }
        Command::Extend { instance, by } => {
            let action = OperatorAction::Extend { by_seconds: *by };
            operate::act(&on()?, instance, action).await
        }
        Command::Cancel { instance, result } => {
            let action = OperatorAction::Cancel {
                result: (*result).into(),
            };
            operate::act(&on()?, instance, action).await
        }
        Command::Doctor {
            cluster,
            groups,
            hook,
        } => {
            // doctor reads no drain table: only the stack's parameters, when one is named.
            let scope = doctor::Scope {
                cluster,
                groups,
                hook: hook.as_deref(),
            };
            doctor::doctor(cli.output, &sdk, &names, scope).await
        }
        Command::Replay { from, to, live } => {
            let window = replay::Window {
                from: *from,
                to: *to,
                live: *live,
            };
            replay::replay(cli.output, &sdk, &names, window).await
        }
    }
}

/// `status --watch`: on a terminal, redraws the table every `interval`; otherwise prints the
/// header once and then each row that changed (a script reads changes, not screens).
async fn watch_status(
    output: Output,
    store: &DynamoDrainStore,
    table: &str,
    filter: &status::Filter,
    interval: u64,
) -> Result<Exit, Failure> {
    let terminal = std::io::stdout().is_terminal();
    let mut last: std::collections::BTreeMap<String, String> = Default::default();
    let mut first = true;
    loop {
        let now = SystemClock.now();
        let shown = status::select(records(store, table).await?, filter);
        if terminal && output == Output::Table {
            // Clear the screen and home the cursor, then draw the whole table.
            print!("\x1b[2J\x1b[H");
            println!("{}", status::table(&shown, now));
        } else {
            if first && output == Output::Table {
                println!("{}", table::render(&status::HEADERS, &[]));
            }
            for record in &shown {
                let key = record.container_instance_arn.to_string();
                let row = status::row(record, now);
                // Compare what changed, not the relative times that tick every look.
                let fingerprint: Vec<&String> = row
                    .iter()
                    .enumerate()
                    .filter(|(column, _)| !status::TICKING_COLUMNS.contains(column))
                    .map(|(_, cell)| cell)
                    .collect();
                let fingerprint = format!("{fingerprint:?}");
                if last.get(&key) != Some(&fingerprint) {
                    match output {
                        Output::Table => println!(
                            "{}",
                            table::render(&status::HEADERS, &[row])
                                .lines()
                                .nth(1)
                                .unwrap_or_default()
                        ),
                        Output::Json => println!("{}", status::json(record, now)),
                    }
                    last.insert(key, fingerprint);
                }
            }
        }
        first = false;
        tokio::time::sleep(Duration::from_secs(interval)).await;
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // clap exits 2 on a usage error and 0 for --help / --version.
    let cli = Cli::parse();
    let exit = match run(&cli).await {
        Ok(exit) => exit,
        Err(failure) => {
            eprintln!("{}", failure.line());
            if cli.debug
                && let Some(detail) = &failure.detail
            {
                eprintln!("drainctl: cause: {detail}");
            }
            failure.exit
        }
    };
    std::process::ExitCode::from(exit as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        for (text, seconds) in [
            ("90", 90),
            ("90s", 90),
            ("30m", 1800),
            ("1h30m", 5400),
            ("2d", 172_800),
        ] {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
        }
        for text in ["", "0", "-5", "5x", "m", "10m5"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn options_may_come_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "drainctl",
            "status",
            "--table",
            "t",
            "--output",
            "json",
            "--region",
            "eu-west-1",
            "--active",
        ])
        .expect("parses");
        assert_eq!(cli.table.as_deref(), Some("t"));
        assert_eq!(cli.output, Output::Json);
        assert_eq!(cli.region.as_deref(), Some("eu-west-1"));
    }

    #[test]
    fn a_result_is_named_as_auto_scaling_names_it() {
        let cli = Cli::try_parse_from(["drainctl", "force-complete", "i-1", "--result", "ABANDON"])
            .expect("parses");
        assert!(matches!(
            cli.command,
            Command::ForceComplete {
                result: ResultArg::Abandon,
                ..
            }
        ));
    }
}
