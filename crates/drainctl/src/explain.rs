//! `drainctl explain`: the story of one drain in plain sentences — when each phase began,
//! what it waits for, what the deadline stopped, and what operators did.

use drain_core::decision::operator::overdue;
use drain_core::record::{AliveKind, AliveSet, DrainKind, DrainRecord, DrainStatus};
use drain_core::time::Timestamp;

use crate::status::{lease_seconds, outcome};
use crate::table::{ago, render};

/// Whether `wanted` (an EC2 instance id, a container instance id or its ARN) names `record`.
pub(crate) fn matches(record: &DrainRecord, wanted: &str) -> bool {
    record.ec2_instance_id.as_str() == wanted
        || record.container_instance_arn.as_str() == wanted
        || record.container_instance_arn.id() == wanted
}

fn when(now: Timestamp, at: Timestamp) -> String {
    format!("{} ({})", at.to_rfc3339(), ago(now, at))
}

/// What a drain started ahead of any lifecycle action adds to its story: its kind, whether
/// the group's terminate action has joined yet, and the services that cannot move in time.
fn early_story(record: &DrainRecord) -> Vec<String> {
    let mut lines = Vec::new();
    match record.kind {
        DrainKind::Lifecycle => {}
        DrainKind::Interruption => lines.push(format!(
            "started by a Spot interruption warning: EC2 reclaims the instance at the two-minute \
             horizon, the drain's deadline {}",
            record.deadline_at.to_rfc3339()
        )),
        DrainKind::Rebalance => lines.push(
            "started by a rebalance recommendation (ECS_DRAIN_ON_REBALANCE): no interruption is \
             scheduled yet"
                .to_owned(),
        ),
    }
    if record.awaiting_action {
        lines.push(
            "no lifecycle action holds the instance yet: the group's terminate action joins this \
             drain when it comes (the hook and token above are placeholders)"
                .to_owned(),
        );
    }
    if !record.immovable_services.is_empty() {
        lines.push(format!(
            "services {} have minimumHealthyPercent of 100 or more: they cannot move their tasks \
             within the two minutes",
            record.immovable_services.join(", ")
        ));
    }
    lines
}

/// The explanation of one drain, in plain sentences.
pub(crate) fn explain(record: &DrainRecord, now: Timestamp) -> Vec<String> {
    let mut lines = vec![
        format!(
            "instance {} ({}) in cluster {}",
            record.ec2_instance_id,
            record.container_instance_arn,
            record.cluster_arn.name()
        ),
        format!(
            "held by hook {} of group {} (token {})",
            record.hook.hook_name, record.hook.asg_name, record.token
        ),
        format!(
            "notice sent {}, drain started {}",
            when(now, record.noticed_at),
            when(now, record.started_at)
        ),
    ];
    lines.extend(early_story(record));
    if let Some(at) = record.daemons_stopped_at {
        lines.push(format!(
            "only daemon tasks were left: ecs-drain stopped them {}",
            when(now, at)
        ));
    }
    if let Some(at) = record.enforced_at {
        lines.push(format!(
            "the deadline {} passed: ecs-drain stopped every task still alive {}",
            record.deadline_at.to_rfc3339(),
            when(now, at)
        ));
    }
    if let Some(at) = record.completion_sent_at {
        lines.push(format!(
            "CompleteLifecycleAction was sent without a clear answer {}",
            when(now, at)
        ));
    }
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
    match record.status {
        DrainStatus::Completed | DrainStatus::Expired => lines.push(format!(
            "{} {}: {} ({})",
            record.status.as_str(),
            record
                .finished_at
                .map_or_else(String::new, |at| when(now, at)),
            outcome(record),
            record
                .result
                .map_or("no result sent", |result| result.as_str()),
        )),
        DrainStatus::Draining | DrainStatus::Completing => {
            lines.push(format!(
                "{} — {}",
                record.status.as_str(),
                record.reason.as_deref().unwrap_or("waiting")
            ));
            if let Some(late) = overdue(record, now, lease_seconds()) {
                lines.push(format!("OVERDUE: {}", late.describe(now)));
            }
            lines.push(format!(
                "phase {}, deadline {}, {} heartbeat(s) sent, next check {}",
                record.phase.as_str(),
                when(now, record.deadline_at),
                record.heartbeats_sent,
                record
                    .next_check_at
                    .map_or_else(|| "not booked".to_owned(), |at| when(now, at))
            ));
            if let Some(expires) = record.hook_expires_at {
                lines.push(format!("the hook itself gives up {}", when(now, expires)));
            }
        }
    }
    let (waiting, truncated) = waiting_tasks(record);
    lines.extend(waiting_for(&waiting, now));
    if truncated > 0 {
        lines.push(format!(
            "  ... and {truncated} more alive tasks the record does not keep"
        ));
    }
    for entry in &record.audit {
        lines.push(format!(
            "operator {} did \"{}\" {}",
            entry.who,
            entry.what,
            when(now, entry.at)
        ));
    }
    lines
}

/// The tasks a live drain waits for, longest-waiting first, and how many more alive tasks the
/// record does not keep; nothing for a finished drain or one without a census yet.
pub(crate) fn waiting_tasks(record: &DrainRecord) -> (Vec<AliveTask>, u32) {
    match &record.alive {
        Some(alive) if !record.status.is_terminal() => {
            let mut tasks = alive_rows(alive);
            tasks.sort_by(|a, b| (a.since, &a.task_id).cmp(&(b.since, &b.task_id)));
            (tasks, alive.truncated)
        }
        _ => (Vec::new(), 0),
    }
}

/// The rows of the record's alive set (the tasks its last census saw, kept up to date by
/// STOPPED events): a daemon's group is marked, since ecs-drain stops those itself, last.
fn alive_rows(alive: &AliveSet) -> Vec<AliveTask> {
    alive
        .tasks
        .iter()
        .map(|task| {
            let group = task.group.clone().unwrap_or_else(|| "-".to_owned());
            AliveTask {
                group: if task.kind == AliveKind::Daemon {
                    format!("{group} (daemon)")
                } else {
                    group
                },
                task_id: task
                    .task_arn
                    .as_str()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned(),
                last_status: task.last_status.clone(),
                since: task.alive_since,
            }
        })
        .collect()
}

/// One task a drain waits for, as explain shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AliveTask {
    /// The service (`service:web`) or family (`family:report`) the task belongs to.
    pub(crate) group: String,
    /// The task id (the last segment of its ARN).
    pub(crate) task_id: String,
    /// Its lastStatus.
    pub(crate) last_status: String,
    /// Since when it has had that status (or was first seen alive).
    pub(crate) since: Timestamp,
}

/// The "waiting for" section: one aligned row per task, longest-waiting first.
pub(crate) fn waiting_for(tasks: &[AliveTask], now: Timestamp) -> Vec<String> {
    if tasks.is_empty() {
        return Vec::new();
    }
    let mut sorted: Vec<&AliveTask> = tasks.iter().collect();
    sorted.sort_by_key(|task| (task.since, task.task_id.clone()));
    let rows: Vec<Vec<String>> = sorted
        .iter()
        .map(|task| {
            vec![
                task.group.clone(),
                task.task_id.chars().take(12).collect(),
                task.last_status.clone(),
                format!("for {}", ago(now, task.since).trim_end_matches(" ago")),
            ]
        })
        .collect();
    let mut lines = vec!["waiting for:".to_owned()];
    lines.extend(
        render(&["GROUP", "TASK", "LAST STATUS", "SINCE"], &rows)
            .lines()
            .map(|line| format!("  {line}")),
    );
    lines
}

#[cfg(test)]
mod tests {
    use drain_core::decision::operator::AuditEntry;

    use super::*;
    use crate::status::tests::{ended_by_deadline, waiting, with_alive_tasks};

    #[test]
    fn an_interruption_drain_says_what_started_it_and_what_cannot_move_in_time() {
        let mut record = waiting();
        record.kind = DrainKind::Interruption;
        record.awaiting_action = true;
        record.immovable_services = vec!["payments".to_owned(), "search".to_owned()];
        let text = explain(&record, Timestamp(1_000_160)).join("\n");
        assert!(
            text.contains("started by a Spot interruption warning"),
            "{text}"
        );
        assert!(
            text.contains("no lifecycle action holds the instance yet"),
            "{text}"
        );
        assert!(
            text.contains("services payments, search have minimumHealthyPercent of 100 or more"),
            "{text}"
        );
        let lifecycle = explain(&waiting(), Timestamp(1_000_160)).join("\n");
        assert!(!lifecycle.contains("started by"), "{lifecycle}");
        assert!(!lifecycle.contains("no lifecycle action"), "{lifecycle}");
    }

    #[test]
    fn explain_lists_the_tasks_a_draining_record_still_waits_for() {
        let lines = explain(&with_alive_tasks(), Timestamp(1_000_160));
        let at = lines
            .iter()
            .position(|line| line == "waiting for:")
            .expect("a waiting-for section");
        assert!(
            lines[at + 2].contains("service:log-router (daemon)"),
            "{lines:?}"
        );
        assert!(lines[at + 2].contains("ffee00112233"), "{lines:?}");
        assert!(lines[at + 3].contains("service:web"), "{lines:?}");
        assert!(lines[at + 3].contains("0a1b2c3d4e5f"), "{lines:?}");
        assert!(lines[at + 4].contains("family:report"), "{lines:?}");
        assert!(lines.iter().any(|line| line.contains("2 more alive tasks")));
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
        assert!(!text.contains("OVERDUE"), "{text}");
    }

    #[test]
    fn a_drain_ended_by_its_deadline_says_so_and_not_that_nothing_was_alive() {
        let text = explain(&ended_by_deadline(), Timestamp(1_003_900)).join("\n");
        assert!(
            text.contains("ecs-drain stopped every task still alive 1970-01-12T14:46:40Z"),
            "{text}"
        );
        assert!(
            text.contains("COMPLETED 1970-01-12T14:48:20Z (3 min ago): the deadline passed"),
            "{text}"
        );
        assert!(!text.contains("deadline in"), "{text}");
    }

    #[test]
    fn an_overdue_drain_and_the_operators_actions_are_told() {
        let mut record = waiting();
        record.audit.push(AuditEntry {
            who: "arn:aws:iam::123456789012:user/alice".into(),
            at: Timestamp(1_000_500),
            what: "extend by 600 s".into(),
        });
        let text = explain(&record, Timestamp(1_000_700)).join("\n");
        assert!(
            text.contains("OVERDUE: check due 460 s ago never ran"),
            "{text}"
        );
        assert!(
            text.contains("operator arn:aws:iam::123456789012:user/alice did \"extend by 600 s\""),
            "{text}"
        );
    }

    #[test]
    fn an_instance_is_found_by_instance_id_container_instance_id_or_arn() {
        let record = waiting();
        for wanted in [
            "i-0123456789abcdef0",
            "abc",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc",
        ] {
            assert!(matches(&record, wanted), "{wanted}");
        }
        assert!(!matches(&record, "i-0000000000000000"));
    }

    #[test]
    fn waiting_for_lists_the_tasks_longest_waiting_first() {
        let tasks = [
            AliveTask {
                group: "service:web".into(),
                task_id: "0a1b2c3d4e5f60718293a4b5c6d7e8f9".into(),
                last_status: "RUNNING".into(),
                since: Timestamp(900),
            },
            AliveTask {
                group: "family:nightly-report".into(),
                task_id: "ffeeddccbbaa".into(),
                last_status: "STOPPING".into(),
                since: Timestamp(400),
            },
        ];
        let lines = waiting_for(&tasks, Timestamp(1_000));
        assert_eq!(
            lines,
            vec![
                "waiting for:",
                "  GROUP                  TASK          LAST STATUS  SINCE",
                "  family:nightly-report  ffeeddccbbaa  STOPPING     for 10 min",
                "  service:web            0a1b2c3d4e5f  RUNNING      for 1 min",
            ]
        );
        assert!(waiting_for(&[], Timestamp(1_000)).is_empty());
    }
}
