//! drainctl: what ecs-drain is doing, read from its DynamoDB table.
//!
//! `drainctl status` lists every drain; `drainctl explain <instance>` tells, in words, why a
//! drain is still waiting (or how it ended). Reads only; it never changes a drain.

use clap::{Parser, Subcommand};
use drain_aws::DynamoDrainStore;
use drain_core::record::{DrainRecord, DrainStatus};
use drain_core::time::{Clock, SystemClock, Timestamp};

/// ecs-drain operator CLI.
#[derive(Debug, Parser)]
#[command(name = "drainctl", version, about)]
struct Cli {
    /// The drain table (the stack's TableName output).
    #[arg(long, env = "ECS_DRAIN_TABLE")]
    table: String,
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// One line per drain, live ones first.
    Status,
    /// Why a drain is waiting or how it ended: by EC2 instance id or container instance ARN.
    Explain {
        /// `i-...` or the container instance ARN.
        instance: String,
    },
}

fn ago(now: Timestamp, at: Timestamp) -> String {
    let seconds = now.seconds_since(at);
    let (value, unit) = if seconds.abs() >= 3600 {
        (seconds / 3600, "h")
    } else if seconds.abs() >= 60 {
        (seconds / 60, "min")
    } else {
        (seconds, "s")
    };
    if seconds >= 0 {
        format!("{value} {unit} ago")
    } else {
        format!("in {} {unit}", -value)
    }
}

fn status_line(record: &DrainRecord, now: Timestamp) -> String {
    let census = record
        .last_census
        .as_ref()
        .map(|census| {
            format!(
                "{}r/{}d/{}s",
                census.alive.replica, census.alive.daemon, census.alive.standalone
            )
        })
        .unwrap_or_else(|| "-".into());
    format!(
        "{:<20} {:<11} {:<9} {:>9} {:>4} {:<16} {}",
        record.ec2_instance_id,
        record.status.as_str(),
        record.phase.as_str(),
        census,
        record.heartbeats_sent,
        ago(now, record.deadline_at),
        record.cluster_arn.name()
    )
}

/// The explanation of one drain, in plain sentences.
fn explain(record: &DrainRecord, now: Timestamp) -> Vec<String> {
    let mut lines = vec![
        format!(
            "instance {} ({}) in cluster {}",
            record.ec2_instance_id,
            record.container_instance_arn,
            record.cluster_arn.name()
        ),
        format!(
            "held by hook {} of group {} (token {}), drain started {}",
            record.hook.hook_name,
            record.hook.asg_name,
            record.token,
            ago(now, record.started_at)
        ),
    ];
    match record.status {
        DrainStatus::Completed | DrainStatus::Expired => lines.push(format!(
            "{}: {} ({}), {}",
            record.status.as_str(),
            record.reason.as_deref().unwrap_or("no reason recorded"),
            record
                .result
                .map_or("no result sent", |result| result.as_str()),
            record
                .finished_at
                .map_or_else(String::new, |at| ago(now, at))
        )),
        DrainStatus::Draining | DrainStatus::Completing => {
            lines.push(format!(
                "{} — {}",
                record.status.as_str(),
                record.reason.as_deref().unwrap_or("waiting")
            ));
            if let Some(census) = &record.last_census {
                lines.push(format!(
                    "last census {}: {} replica, {} daemon, {} standalone task(s) alive",
                    ago(now, census.taken_at),
                    census.alive.replica,
                    census.alive.daemon,
                    census.alive.standalone
                ));
                if !census.stuck_services.is_empty() {
                    lines.push(format!(
                        "services {} have minimumHealthyPercent 100 and maximumPercent 100: ECS can never move their tasks; the drain waits for its deadline",
                        census.stuck_services.join(", ")
                    ));
                }
            }
            lines.push(format!(
                "phase {}, deadline {} ({}), {} heartbeat(s) sent, next check {}",
                record.phase.as_str(),
                record.deadline_at,
                ago(now, record.deadline_at),
                record.heartbeats_sent,
                record
                    .next_check_at
                    .map_or_else(|| "not booked".to_owned(), |at| ago(now, at))
            ));
            if let Some(expires) = record.hook_expires_at {
                lines.push(format!("the hook itself gives up {}", ago(now, expires)));
            }
        }
    }
    lines
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cli = Cli::parse();
    let sdk = drain_aws::load_sdk_config().await;
    let store = DynamoDrainStore::new(aws_sdk_dynamodb::Client::new(&sdk), &cli.table);
    let now = SystemClock.now();
    let mut records = Vec::new();
    for item in store.scan_all().await? {
        match item {
            Ok(record) => records.push(record),
            Err(error) => eprintln!("skipped an unreadable item: {error}"),
        }
    }
    match cli.command {
        Command::Status => {
            records.sort_by_key(|record| {
                (
                    record.status.is_terminal(),
                    std::cmp::Reverse(record.started_at),
                )
            });
            println!(
                "{:<20} {:<11} {:<9} {:>9} {:>4} {:<16} CLUSTER",
                "EC2 INSTANCE", "STATUS", "PHASE", "ALIVE", "HB", "DEADLINE"
            );
            for record in &records {
                println!("{}", status_line(record, now));
            }
        }
        Command::Explain { instance } => {
            let found: Vec<&DrainRecord> = records
                .iter()
                .filter(|record| {
                    record.ec2_instance_id.as_str() == instance
                        || record.container_instance_arn.as_str() == instance
                })
                .collect();
            if found.is_empty() {
                return Err(format!("no drain recorded for {instance}").into());
            }
            for record in found {
                for line in explain(record, now) {
                    println!("{line}");
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use drain_core::census::AliveCounts;
    use drain_core::decision::start_drain;
    use drain_core::ids::{
        AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef,
        LifecycleActionRef, LifecycleToken,
    };
    use drain_core::record::{CensusSummary, DrainStart};

    use super::*;

    fn waiting() -> DrainRecord {
        let mut record = start_drain(DrainStart {
            container_instance_arn: ContainerInstanceArn::new(
                "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc",
            )
            .expect("arn"),
            cluster_arn: ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod")
                .expect("arn"),
            action: LifecycleActionRef {
                hook: HookRef {
                    asg_name: AsgName::new("asg").expect("name"),
                    hook_name: HookName::new("hook").expect("name"),
                },
                instance_id: Ec2InstanceId::new("i-0123456789abcdef0").expect("id"),
                token: LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("token"),
            },
            noticed_at: Timestamp(1_000_000),
            started_at: Timestamp(1_000_000),
            heartbeat_timeout_seconds: Some(300),
            deadline_seconds: 3600,
            retention_seconds: 86_400,
        });
        record.last_census = Some(CensusSummary {
            taken_at: Timestamp(1_000_100),
            alive: AliveCounts {
                replica: 2,
                daemon: 1,
                standalone: 0,
            },
            stuck_services: vec!["pinned".into()],
        });
        record.reason =
            Some("waiting for replica and standalone tasks to leave the instance".into());
        record
    }

    #[test]
    fn explains_what_a_waiting_drain_waits_for_without_the_whole_token() {
        let text = explain(&waiting(), Timestamp(1_000_160)).join("\n");
        assert!(text.contains("2 replica, 1 daemon, 0 standalone"), "{text}");
        assert!(
            text.contains("pinned have minimumHealthyPercent 100"),
            "{text}"
        );
        assert!(
            text.contains("deadline 1970-01-12T14:46:40Z (in 57 min)"),
            "{text}"
        );
        assert!(text.contains("token 630aa23f…"), "{text}");
        assert!(
            !text.contains("799ea6093a0f"),
            "the token is a credential: {text}"
        );
    }

    #[test]
    fn a_status_line_shows_counts_heartbeats_and_time_to_the_deadline() {
        let line = status_line(&waiting(), Timestamp(1_000_160));
        assert!(
            line.starts_with("i-0123456789abcdef0 DRAINING    GRACEFUL   2r/1d/0s    0 in 57 min"),
            "{line}"
        );
    }
}
