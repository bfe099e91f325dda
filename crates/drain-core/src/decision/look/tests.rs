//! Table tests of what a census describes and what the record learns is STOPPED.

use super::*;
use crate::record::MAX_KNOWN_STOPPED;
use crate::testing::sample;

/// A task ARN of the long format whose id is `n` in 32 hex digits.
fn arn(n: u128) -> TaskArn {
    TaskArn::new(format!(
        "arn:aws:ecs:us-east-1:123456789012:task/prod-cluster/{n:032x}"
    ))
    .expect("valid arn")
}

fn listed(ids: &[u128]) -> Vec<String> {
    ids.iter().map(|&n| arn(n).to_string()).collect()
}

fn known(ids: &[u128]) -> KnownStopped {
    KnownStopped::default().with(&ids.iter().map(|&n| arn(n)).collect::<Vec<_>>())
}

fn described(id: u128, last: &str) -> TaskSnapshot {
    TaskSnapshot {
        arn: arn(id),
        group: Some("service:web".into()),
        started_by: None,
        last_status: TaskStatus::parse(last),
        desired_status: TaskStatus::Stopped,
    }
}

/// Both listings: `running` (desiredStatus RUNNING), then `stopped` (desiredStatus STOPPED).
fn both(running: &[u128], stopped: &[u128]) -> ListedTasks {
    ListedTasks {
        running: listed(running),
        stopped: listed(stopped),
    }
}

#[test]
fn a_census_describes_every_running_listed_task_and_the_stopped_listed_ones_not_known_stopped() {
    let not_an_arn = "task/without-its-arn".to_owned();
    let with_odd = |arns: Vec<String>| [arns, vec![not_an_arn.clone()]].concat();
    let odd_in_stopped = ListedTasks {
        running: listed(&[3]),
        stopped: with_odd(listed(&[1, 2])),
    };
    let odd_in_running = ListedTasks {
        running: with_odd(listed(&[1])),
        stopped: listed(&[2]),
    };
    #[rustfmt::skip]
    let rows: Vec<(&str, ListedTasks, KnownStopped, Vec<String>)> = vec![
        ("nothing listed", both(&[], &[]), known(&[1]), vec![]),
        ("nothing known: every listed task", both(&[3], &[1, 2]), known(&[]), listed(&[1, 2, 3])),
        ("the known STOPPED ones of the STOPPED listing are left out", both(&[], &[1, 2, 3, 4]), known(&[2, 4]), listed(&[1, 3])),
        ("all of the STOPPED listing known: nothing to describe", both(&[], &[1, 2]), known(&[1, 2, 9]), vec![]),
        ("a known-STOPPED id in the RUNNING listing is described", both(&[1, 2], &[]), known(&[2]), listed(&[1, 2])),
        ("the RUNNING listing is described whole, even all known", both(&[1, 2], &[3]), known(&[1, 2, 3]), listed(&[1, 2])),
        ("a known task in both listings is described, once", both(&[5], &[5]), known(&[5]), listed(&[5])),
        ("a task in both listings is described once", both(&[5, 1], &[5]), known(&[]), listed(&[1, 5])),
        ("a task repeated in one listing is described once", both(&[], &[4, 4]), known(&[]), listed(&[4])),
        ("an unreadable ARN in the STOPPED listing is described", odd_in_stopped, known(&[1]), with_odd(listed(&[2, 3]))),
        ("an unreadable ARN in the RUNNING listing is described", odd_in_running, known(&[2]), with_odd(listed(&[1]))),
    ];
    for (row, listed, known, expected) in rows {
        let mut expected = expected;
        expected.sort();
        assert_eq!(tasks_to_describe(&listed, &known), expected, "{row}");
    }
}

#[test]
fn a_census_adds_exactly_the_tasks_it_saw_stopped() {
    #[rustfmt::skip]
    let rows: Vec<(&str, KnownStopped, Vec<TaskSnapshot>, KnownStopped)> = vec![
        ("nothing described", known(&[1]), vec![], known(&[1])),
        ("a STOPPED task joins", known(&[1]), vec![described(2, "STOPPED")], known(&[1, 2])),
        ("tasks still shutting down do not", known(&[]), vec![
            described(1, "DEACTIVATING"), described(2, "STOPPING"), described(3, "DEPROVISIONING"),
            described(4, "RUNNING"), described(5, "UNKNOWN"),
        ], known(&[])),
        ("a DELETED task is gone but is not STOPPED", known(&[]), vec![described(6, "DELETED")], known(&[])),
        ("a mixed census", known(&[9]), vec![described(1, "RUNNING"), described(2, "STOPPED"), described(3, "STOPPED")], known(&[2, 3, 9])),
    ];
    for (row, before, tasks, expected) in rows {
        assert_eq!(known_stopped_after(&before, &tasks), expected, "{row}");
    }
}

#[test]
fn a_full_record_keeps_what_it_knows_and_describes_new_stopped_tasks_again() {
    let full = known(&(0..MAX_KNOWN_STOPPED as u128).collect::<Vec<_>>());
    let late = MAX_KNOWN_STOPPED as u128 + 7;
    let after = known_stopped_after(&full, &[described(late, "STOPPED")]);
    assert_eq!(after, full, "past the bound, a new id is not kept");
    assert_eq!(
        tasks_to_describe(&both(&[], &[0, late]), &after),
        listed(&[late]),
        "so it is described again"
    );
}

#[test]
fn a_known_task_s_stopped_event_makes_it_known_stopped_without_a_census() {
    use crate::record::{AliveKind, AliveSet, AliveTask};
    let now = sample::STARTED_AT.plus_seconds(30);
    let alive_task = |id: u128| AliveTask {
        task_arn: arn(id),
        group: Some("service:web".into()),
        kind: AliveKind::Replica,
        last_status: "RUNNING".into(),
        alive_since: sample::STARTED_AT,
    };
    let record = DrainRecord {
        alive: Some(AliveSet {
            taken_at: sample::STARTED_AT.plus_seconds(10),
            tasks: vec![alive_task(1), alive_task(2)],
            truncated: 0,
        }),
        known_stopped: known(&[7]),
        ..sample::drain_record()
    };
    let Look::Skip {
        alive,
        known_stopped,
    } = census_needed(
        &record,
        Cue::TaskStopped(&arn(1)),
        now,
        CensusRule::WhenNeeded,
    )
    else {
        panic!("a known replica's STOPPED event with another replica left needs no census");
    };
    assert_eq!(alive.tasks, vec![alive_task(2)]);
    assert_eq!(known_stopped, known(&[1, 7]));
}
