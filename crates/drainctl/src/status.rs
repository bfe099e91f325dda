//! `drainctl status`: one aligned row (or JSON object) per drain, live ones first, overdue
//! ones flagged, finished ones with their end, result and reason, live ones with the tasks
//! they wait for (from the record's alive set; capped, the rest counted).

use drain_core::decision::DrainPolicy;
use drain_core::decision::operator::{Overdue, overdue};
use drain_core::record::{DrainPhase, DrainRecord, DrainStatus};
use drain_core::time::Timestamp;
use serde_json::{Value, json};

use crate::explain::{AliveTask, waiting_tasks};
use crate::table::{ago, render};

/// Longest reason shown in a status row; `explain` shows it whole.
const MAX_NOTE_CHARS: usize = 80;

/// Waiting tasks named in a status row, and in a drain's JSON; `explain` names them all.
const MAX_ROW_TASKS: usize = 2;
const MAX_JSON_TASKS: usize = 20;

/// How long `task` has waited, in the table's words (`5 min`).
fn waited(task: &AliveTask, now: Timestamp) -> String {
    ago(now, task.since).trim_end_matches(" ago").to_owned()
}

/// The WAITING cell: the longest-waiting tasks as `group task lastStatus for T`, then `+N more`.
fn waiting_cell(record: &DrainRecord, now: Timestamp) -> String {
    let (tasks, truncated) = waiting_tasks(record);
    if tasks.is_empty() && truncated == 0 {
        return "-".to_owned();
    }
    let mut cell: Vec<String> = tasks
        .iter()
        .take(MAX_ROW_TASKS)
        .map(|task| {
            format!(
                "{} {} {} for {}",
                task.group,
                task.task_id.chars().take(8).collect::<String>(),
                task.last_status,
                waited(task, now)
            )
        })
        .collect();
    let more = tasks.len().saturating_sub(MAX_ROW_TASKS) + truncated as usize;
    if more > 0 {
        cell.push(format!("+{more} more"));
    }
    cell.join(", ")
}

/// The waiting tasks as JSON: at most [`MAX_JSON_TASKS`], and how many more.
fn waiting_json(record: &DrainRecord, now: Timestamp) -> Value {
    let (tasks, truncated) = waiting_tasks(record);
    let more = tasks.len().saturating_sub(MAX_JSON_TASKS) + truncated as usize;
    json!({
        "tasks": tasks.iter().take(MAX_JSON_TASKS).map(|task| json!({
            "group": task.group,
            "task_id": task.task_id,
            "last_status": task.last_status,
            "since": task.since.to_rfc3339(),
            "waiting_seconds": now.seconds_since(task.since).max(0),
        })).collect::<Vec<_>>(),
        "more": more,
    })
}

/// The functions' COMPLETING lease, which decides when a claim counts as stalled.
pub(crate) fn lease_seconds() -> i64 {
    DrainPolicy::default().completing_lease_seconds
}

/// Which drains to show.
#[derive(Clone, Debug, Default)]
pub(crate) struct Filter {
    /// A cluster name or ARN.
    pub(crate) cluster: Option<String>,
    /// Live drains only.
    pub(crate) active: bool,
}

impl Filter {
    fn keeps(&self, record: &DrainRecord) -> bool {
        let cluster_matches = self.cluster.as_deref().is_none_or(|cluster| {
            record.cluster_arn.as_str() == cluster || record.cluster_arn.name() == cluster
        });
        cluster_matches && !(self.active && record.status.is_terminal())
    }
}

/// The drains `filter` keeps, live first, newest first within each.
pub(crate) fn select(mut records: Vec<DrainRecord>, filter: &Filter) -> Vec<DrainRecord> {
    records.retain(|record| filter.keeps(record));
    records.sort_by_key(|record| {
        (
            record.status.is_terminal(),
            std::cmp::Reverse(record.started_at),
        )
    });
    records
}

/// How a finished drain ended, in words: the recorded reason, corrected when the deadline
/// (not the tasks leaving) is what emptied the instance.
pub(crate) fn outcome(record: &DrainRecord) -> String {
    let reason = record.reason.as_deref().unwrap_or("no reason recorded");
    match (record.status, record.enforced_at) {
        (DrainStatus::Completed, Some(at)) => format!(
            "the deadline passed: ecs-drain stopped the tasks still alive at {}, then {reason}",
            at.to_rfc3339()
        ),
        _ => reason.to_owned(),
    }
}

fn cut(text: &str, limit: usize) -> String {
    if text.chars().count() <= limit {
        text.to_owned()
    } else {
        let head: String = text.chars().take(limit).collect();
        format!("{head}…")
    }
}

fn alive(record: &DrainRecord) -> String {
    record.last_census.as_ref().map_or_else(
        || "-".to_owned(),
        |census| {
            format!(
                "{}r/{}d/{}s",
                census.alive.replica, census.alive.daemon, census.alive.standalone
            )
        },
    )
}

/// The column headers of [`row`]. KIND tells a terminate drain from an early one (a Spot
/// interruption warning's two-minute drain, a rebalance recommendation's).
pub(crate) const HEADERS: [&str; 11] = [
    "EC2 INSTANCE",
    "STATUS",
    "KIND",
    "PHASE",
    "ALIVE",
    "HB",
    "WHEN",
    "RESULT",
    "CLUSTER",
    "WAITING",
    "NOTE",
];

/// The columns whose text changes only with time (WHEN, WAITING): `status --watch` leaves them
/// out when it compares looks.
pub(crate) const TICKING_COLUMNS: [usize; 2] = [6, 9];

/// One drain's row.
pub(crate) fn row(record: &DrainRecord, now: Timestamp) -> Vec<String> {
    let late = overdue(record, now, lease_seconds());
    let status = if late.is_some() {
        "OVERDUE"
    } else {
        record.status.as_str()
    };
    let (when, note) = if record.status.is_terminal() {
        (
            record.finished_at.map_or_else(
                || "ended".to_owned(),
                |at| format!("ended {}", ago(now, at)),
            ),
            outcome(record),
        )
    } else {
        (
            format!("deadline {}", ago(now, record.deadline_at)),
            late.map_or_else(
                || record.reason.clone().unwrap_or_default(),
                |late| late.describe(now),
            ),
        )
    };
    vec![
        record.ec2_instance_id.to_string(),
        status.to_owned(),
        record.kind.as_str().to_owned(),
        record.phase.as_str().to_owned(),
        alive(record),
        record.heartbeats_sent.to_string(),
        when,
        record
            .result
            .map_or_else(|| "-".to_owned(), |result| result.as_str().to_owned()),
        record.cluster_arn.name().to_owned(),
        waiting_cell(record, now),
        cut(&note, MAX_NOTE_CHARS),
    ]
}

/// The table of `records`.
pub(crate) fn table(records: &[DrainRecord], now: Timestamp) -> String {
    let rows: Vec<Vec<String>> = records.iter().map(|record| row(record, now)).collect();
    render(&HEADERS, &rows)
}

fn time(at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |at| Value::String(at.to_rfc3339()))
}

/// One drain as JSON (times in RFC 3339, the token never).
pub(crate) fn json(record: &DrainRecord, now: Timestamp) -> Value {
    let late: Option<Overdue> = overdue(record, now, lease_seconds());
    json!({
        "ec2_instance_id": record.ec2_instance_id.as_str(),
        "container_instance_arn": record.container_instance_arn.as_str(),
        "cluster": record.cluster_arn.name(),
        "cluster_arn": record.cluster_arn.as_str(),
        "auto_scaling_group": record.hook.asg_name.as_str(),
        "hook": record.hook.hook_name.as_str(),
        "status": record.status.as_str(),
        "kind": record.kind.as_str(),
        "phase": record.phase.as_str(),
        "overdue": late.map(|late| json!({
            "detail": late,
            "description": late.describe(now),
        })),
        "alive": record.last_census.as_ref().map(|census| json!({
            "replica": census.alive.replica,
            "daemon": census.alive.daemon,
            "standalone": census.alive.standalone,
            "taken_at": census.taken_at.to_rfc3339(),
            "stuck_services": census.stuck_services,
        })),
        "waiting": waiting_json(record, now),
        "heartbeats_sent": record.heartbeats_sent,
        "started_at": record.started_at.to_rfc3339(),
        "deadline_at": record.deadline_at.to_rfc3339(),
        // An ended drain has no next look: its last booked check may still fire (the functions
        // leave it to find the drain ended), but that is no sign of life.
        "next_check_at": time(record.next_check_at.filter(|_| !record.status.is_terminal())),
        "hook_expires_at": time(record.hook_expires_at),
        "enforced_at": time(record.enforced_at),
        "daemons_stopped_at": time(record.daemons_stopped_at),
        "finished_at": time(record.finished_at),
        "result": record.result.map(|result| result.as_str()),
        "reason": record.reason,
        "outcome": record.status.is_terminal().then(|| outcome(record)),
        "enforcing": record.phase == DrainPhase::Enforcing,
        "audit": record.audit.iter().map(|entry| json!({
            "who": entry.who,
            "at": entry.at.to_rfc3339(),
            "what": entry.what,
        })).collect::<Vec<_>>(),
    })
}

/// Whether any of `records` is overdue (status exits 4 then).
pub(crate) fn any_overdue(records: &[DrainRecord], now: Timestamp) -> bool {
    records
        .iter()
        .any(|record| overdue(record, now, lease_seconds()).is_some())
}

#[cfg(test)]
pub(crate) mod tests {
    use drain_core::census::AliveCounts;
    use drain_core::decision::start_drain;
    use drain_core::ids::TaskArn;
    use drain_core::ids::{LifecycleActionRef, LifecycleToken};
    use drain_core::record::{
        AliveKind, AliveSet, AliveTask, CensusSummary, DrainKind, DrainStart, LifecycleResult,
    };
    use drain_core::testing::sample;

    use super::*;

    /// A drain started at 1 000 000 with a census at 1 000 100 and a check booked at 1 000 240.
    pub(crate) fn waiting() -> DrainRecord {
        // The sample drain with the token of the fixtures' notice, whose prefix explain shows.
        let mut record = start_drain(DrainStart {
            action: LifecycleActionRef {
                token: LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("token"),
                ..sample::lifecycle_action()
            },
            ..sample::drain_start()
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
        record.updated_at = Timestamp(1_000_100);
        record.next_check_at = Some(Timestamp(1_000_240));
        record.reason =
            Some("waiting for replica and standalone tasks to leave the instance".into());
        record
    }

    /// The cell of `row` under `header`.
    fn cell<'a>(row: &'a [String], header: &str) -> &'a str {
        let column = HEADERS
            .iter()
            .position(|name| *name == header)
            .expect("a column of HEADERS");
        &row[column]
    }

    #[test]
    fn the_ticking_columns_are_when_and_waiting() {
        assert_eq!(
            TICKING_COLUMNS.map(|column| HEADERS[column]),
            ["WHEN", "WAITING"]
        );
    }

    #[test]
    fn a_spot_interruption_drain_says_its_kind_in_its_row_and_json() {
        let record = DrainRecord {
            kind: DrainKind::Interruption,
            ..waiting()
        };
        let now = Timestamp(1_000_160);
        assert_eq!(cell(&row(&record, now), "KIND"), "interruption");
        assert_eq!(json(&record, now)["kind"], "interruption");
        assert_eq!(json(&waiting(), now)["kind"], "lifecycle");
    }

    #[test]
    fn a_live_row_shows_counts_heartbeats_and_time_to_the_deadline() {
        let row = row(&waiting(), Timestamp(1_000_160));
        assert_eq!(
            row[..8],
            [
                "i-0123456789abcdef0",
                "DRAINING",
                "lifecycle",
                "GRACEFUL",
                "2r/1d/0s",
                "0",
                "deadline in 57 min",
                "-"
            ]
        );
    }

    #[test]
    fn a_drain_whose_check_never_ran_is_overdue() {
        let now = Timestamp(1_000_240 + 300);
        let row = row(&waiting(), now);
        assert_eq!(row[1], "OVERDUE");
        assert!(
            cell(&row, "NOTE").contains("check due 300 s ago never ran"),
            "{row:?}"
        );
        assert!(any_overdue(&[waiting()], now));
        assert!(!any_overdue(&[waiting()], Timestamp(1_000_200)));
    }

    /// [`waiting`] once its deadline stopped the tasks (at 1 003 600) and it completed (at
    /// 1 003 700).
    pub(crate) fn ended_by_deadline() -> DrainRecord {
        let mut record = waiting();
        record.enforced_at = Some(Timestamp(1_003_600));
        record.ended(
            Timestamp(1_003_700),
            DrainStatus::Completed,
            Some(LifecycleResult::Continue),
            "no task alive on the instance".into(),
        )
    }

    /// [`waiting`] with three tasks in its alive set and two more it does not keep.
    pub(crate) fn with_alive_tasks() -> DrainRecord {
        let task = |id: &str, group: &str, kind, since| AliveTask {
            task_arn: TaskArn::new(format!("arn:aws:ecs:us-east-1:123456789012:task/prod/{id}"))
                .expect("arn"),
            group: Some(group.to_owned()),
            kind,
            last_status: "RUNNING".to_owned(),
            alive_since: Timestamp(since),
        };
        DrainRecord {
            alive: Some(AliveSet {
                taken_at: Timestamp(1_000_100),
                tasks: vec![
                    task(
                        "0a1b2c3d4e5f67890",
                        "service:web",
                        AliveKind::Replica,
                        1_000_050,
                    ),
                    task(
                        "ffee00112233",
                        "service:log-router",
                        AliveKind::Daemon,
                        999_000,
                    ),
                    task(
                        "77aa88bb99cc",
                        "family:report",
                        AliveKind::Standalone,
                        1_000_090,
                    ),
                ],
                truncated: 2,
            }),
            ..waiting()
        }
    }

    #[test]
    fn a_live_row_and_its_json_name_the_longest_waiting_tasks_and_count_the_rest() {
        let now = Timestamp(1_000_160);
        let record = with_alive_tasks();
        let row = row(&record, now);
        assert_eq!(
            cell(&row, "WAITING"),
            "service:log-router (daemon) ffee0011 RUNNING for 19 min, service:web 0a1b2c3d \
             RUNNING for 1 min, +3 more"
        );
        let json = json(&record, now);
        assert_eq!(json["waiting"]["more"], 2);
        assert_eq!(
            json["waiting"]["tasks"][0]["group"],
            "service:log-router (daemon)"
        );
        assert_eq!(json["waiting"]["tasks"][1]["task_id"], "0a1b2c3d4e5f67890");
        assert_eq!(json["waiting"]["tasks"][1]["waiting_seconds"], 110);
        assert_eq!(json["waiting"]["tasks"][2]["last_status"], "RUNNING");
        // a drain without a census, and a finished one, wait for nothing
        assert_eq!(cell(&super::row(&waiting(), now), "WAITING"), "-");
        let ended = with_alive_tasks().ended(now, DrainStatus::Completed, None, "done".into());
        assert_eq!(cell(&super::row(&ended, now), "WAITING"), "-");
        assert_eq!(super::json(&ended, now)["waiting"]["tasks"], json!([]));
    }

    #[test]
    fn a_completed_drain_whose_check_is_still_pending_looks_ended_not_waiting() {
        // a drain that completed a minute after its census, with its check still booked for
        // later (the completion leaves it to fire), even if the record kept the booking
        let now = Timestamp(1_000_200);
        let written_by_the_functions = waiting().ended(
            Timestamp(1_000_160),
            DrainStatus::Completed,
            None,
            "done".into(),
        );
        let kept_the_booking = DrainRecord {
            next_check_at: Some(Timestamp(1_000_240)),
            ..written_by_the_functions.clone()
        };
        for record in [&written_by_the_functions, &kept_the_booking] {
            let row = row(record, now);
            assert_eq!(row[1], "COMPLETED", "{row:?}");
            assert!(cell(&row, "WHEN").starts_with("ended"), "{row:?}");
            assert_eq!(cell(&row, "WAITING"), "-");
            let json = json(record, now);
            assert_eq!(json["next_check_at"], Value::Null);
            assert_eq!(json["overdue"], Value::Null);
            assert_eq!(json["waiting"]["tasks"], json!([]));
            // and long after that check's time, it is not overdue either
            assert_eq!(
                super::json(record, Timestamp(1_009_000))["overdue"],
                Value::Null
            );
            let explained = crate::explain::explain(record, now).join("\n");
            assert!(!explained.contains("next check"), "{explained}");
        }
    }

    #[test]
    fn a_finished_drain_shows_its_end_and_how_the_deadline_emptied_it() {
        let record = ended_by_deadline();
        let row = row(&record, Timestamp(1_003_900));
        assert_eq!(row[1], "COMPLETED");
        assert_eq!(cell(&row, "WHEN"), "ended 3 min ago");
        assert_eq!(cell(&row, "RESULT"), "CONTINUE");
        assert!(
            cell(&row, "NOTE").starts_with("the deadline passed: ecs-drain stopped"),
            "{row:?}"
        );
        assert!(
            !row.iter().any(|cell| cell.contains("deadline in")),
            "{row:?}"
        );
    }

    #[test]
    fn filters_keep_a_cluster_by_name_or_arn_and_live_drains() {
        let live = waiting();
        let ended = waiting().ended(
            Timestamp(1_000_500),
            DrainStatus::Expired,
            None,
            "gone".into(),
        );
        let by_name = Filter {
            cluster: Some("prod".into()),
            active: false,
        };
        assert_eq!(select(vec![ended.clone(), live.clone()], &by_name).len(), 2);
        assert_eq!(
            select(vec![ended.clone(), live.clone()], &by_name)[0].status,
            DrainStatus::Draining,
            "live first"
        );
        let other = Filter {
            cluster: Some("arn:aws:ecs:us-east-1:123456789012:cluster/other".into()),
            active: false,
        };
        assert!(select(vec![live.clone()], &other).is_empty());
        let active = Filter {
            cluster: None,
            active: true,
        };
        assert_eq!(select(vec![ended, live], &active).len(), 1);
    }
}
