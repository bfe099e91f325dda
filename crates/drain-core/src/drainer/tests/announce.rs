//! Stories of the drain events the drainer queues (issue 13 §2): which transitions a drain
//! announces, once each, with what detail; a dry run announces nothing.

use super::*;
use crate::notify::{Enforcement, StuckCause, Transition};

/// The transitions queued since the last call.
fn transitions(drainer: &MemoryDrainer) -> Vec<Transition> {
    drainer
        .take_events()
        .iter()
        .map(|event| event.detail.transition)
        .collect()
}

/// Lets the booked check fire through `drainer`.
async fn check(world: &World, drainer: &MemoryDrainer) -> Outcome {
    world.fire_next_check_with(drainer).await
}

/// A STOPPED event, live, through `drainer`.
async fn stopped(drainer: &MemoryDrainer, change: &TaskStateChange) -> Outcome {
    drainer
        .on_task_stopped(change, Mode::Live)
        .await
        .expect("handled")
}

/// The world's terminate notice, live, through `drainer`.
async fn terminate(world: &World, drainer: &MemoryDrainer) -> Outcome {
    drainer
        .on_terminate(&world.notice, Mode::Live)
        .await
        .expect("handled")
}

#[tokio::test]
async fn a_drain_announces_its_start_once_and_its_completion_once() {
    // GIVEN an instance running a replica task and a standalone task, and one drainer (one
    // warm function) for every step
    let world = World::new();
    let web = world.run_task("web-1", "service:web");
    let report = world.run_task("report-1", "family:nightly-report");
    let drainer = world.drainer();

    // WHEN the lifecycle action arrives
    terminate(&world, &drainer).await;

    // THEN one started event names the drain and the tasks of its first census
    let events = drainer.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let started = &events[0].detail;
    assert_eq!(started.transition, Transition::Started);
    assert_eq!(events[0].detail_type, "ECS Drain Started");
    assert_eq!(events[0].resources, vec![CONTAINER_INSTANCE.to_owned()]);
    assert_eq!(started.ec2_instance_id, EC2_INSTANCE);
    assert_eq!(started.container_instance_arn, CONTAINER_INSTANCE);
    assert_eq!(started.cluster_arn, CLUSTER);
    assert_eq!(started.auto_scaling_group_name, "prod-ecs-asg");
    assert_eq!(started.lifecycle_hook_name, FIXTURE_HOOK);
    assert_eq!(
        (
            started.waiting.total,
            started.waiting.replica,
            started.waiting.standalone
        ),
        (2, 1, 1)
    );
    assert_eq!(started.started_at, world.start.to_rfc3339());
    assert_eq!(
        started.deadline_at,
        world.start.plus_seconds(DEADLINE).to_rfc3339()
    );

    // WHEN the notice is delivered again, a check runs and a task stops, the drain waiting
    terminate(&world, &drainer).await;
    check(&world, &drainer).await;
    let change = world.task_stops(&web);
    stopped(&drainer, &change).await;
    // THEN nothing more is announced: the record says the drain started
    assert_eq!(transitions(&drainer), []);

    // WHEN the last task stops
    let change = world.task_stops(&report);
    let outcome = stopped(&drainer, &change).await;

    // THEN the completion is announced with its result and reason, waiting for nothing
    assert!(
        is_complete(&outcome, LifecycleResult::Continue),
        "{outcome:?}"
    );
    let events = drainer.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let completed = &events[0].detail;
    assert_eq!(completed.transition, Transition::Completed);
    assert_eq!(completed.result, Some(LifecycleResult::Continue));
    assert_eq!(
        completed.reason.as_deref(),
        Some(CompletionReason::Drained.describe())
    );
    assert_eq!(completed.waiting.total, 0);
    assert_eq!(completed.occurred_at, world.clock.now().to_rfc3339());

    // AND the same STOPPED event again, after the end, announces nothing
    stopped(&drainer, &change).await;
    assert_eq!(transitions(&drainer), []);
}

#[tokio::test]
async fn an_empty_instance_announces_start_and_completion_in_one_invocation() {
    let world = World::new();
    let drainer = world.drainer();
    terminate(&world, &drainer).await;
    assert_eq!(
        transitions(&drainer),
        [Transition::Started, Transition::Completed]
    );
}

#[tokio::test]
async fn the_deadline_is_announced_once_with_the_tasks_it_stopped_then_the_completion() {
    // GIVEN a drain whose three tasks never leave
    let world = World::new();
    world.add_daemon_service("log-router");
    let web = world.run_task("web-1", "service:web");
    world.run_task("report-1", "family:nightly-report");
    let daemon = world.run_task("d-1", "service:log-router");
    let drainer = world.drainer();
    terminate(&world, &drainer).await;
    assert_eq!(transitions(&drainer), [Transition::Started]);
    let deadline = world.record().deadline_at;

    // WHEN the checks run up to the deadline
    while world.clock.now() < deadline {
        check(&world, &drainer).await;
    }

    // THEN one deadline-enforced event says the remaining tasks were stopped
    let events = drainer.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let enforced = &events[0].detail;
    assert_eq!(enforced.transition, Transition::DeadlineEnforced);
    assert_eq!(enforced.enforcement, Some(Enforcement::StopTasks));
    assert_eq!(enforced.tasks_stopped, Some(3));
    assert_eq!(enforced.waiting.total, 3);
    assert_eq!(enforced.occurred_at, deadline.to_rfc3339());

    // WHEN the tasks stop and the next check completes the action
    world.cluster.set_task_status(&web, "STOPPED");
    world.cluster.set_task_status(&daemon, "STOPPED");
    check(&world, &drainer).await;

    // THEN only the completion is announced, with the deadline as its reason
    let events = drainer.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].detail.transition, Transition::Completed);
    assert_eq!(
        events[0].detail.reason.as_deref(),
        Some(CompletionReason::DeadlineEnforced.describe())
    );
}

#[tokio::test]
async fn an_abandon_at_the_deadline_announces_the_enforcement_and_the_completion() {
    let mut world = World::new();
    world.config.policy.deadline_policy = DeadlinePolicy::Abandon;
    world.run_task("web-1", "service:web");
    let drainer = world.drainer();
    terminate(&world, &drainer).await;
    drainer.take_events();
    // (the drain's check booked at its deadline, as the record says: a check on time, not an
    // overdue one, which would announce itself stuck first)
    let mut record = world.record();
    let deadline = record.deadline_at;
    record.next_check_at = Some(deadline);
    world.store.put(record);
    world
        .scheduler
        .schedule(&world.instance, deadline)
        .await
        .expect("booked");
    check(&world, &drainer).await;
    let events = drainer.take_events();
    let details: Vec<_> = events.iter().map(|event| &event.detail).collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert_eq!(details[0].transition, Transition::DeadlineEnforced);
    assert_eq!(details[0].enforcement, Some(Enforcement::Abandon));
    assert_eq!(details[0].result, Some(LifecycleResult::Abandon));
    assert_eq!(details[1].transition, Transition::Completed);
    assert_eq!(details[1].result, Some(LifecycleResult::Abandon));
}

#[tokio::test]
async fn services_that_can_never_move_are_announced_once_per_drain() {
    // GIVEN a service whose deployment settings never let ECS move its task
    let world = World::new();
    world.cluster.add_service(
        &world.cluster_arn,
        ServiceFacts {
            name: "pinned".into(),
            scheduling_strategy: Some("REPLICA".into()),
            minimum_healthy_percent: Some(100),
            maximum_percent: Some(100),
        },
    );
    world.run_task("pinned-1", "service:pinned");
    let drainer = world.drainer();

    // WHEN the drain starts, then a check looks again
    terminate(&world, &drainer).await;
    let events = drainer.take_events();
    check(&world, &drainer).await;

    // THEN the start and one stuck event naming the service; the check announces nothing
    let details: Vec<_> = events.iter().map(|event| &event.detail).collect();
    assert_eq!(details.len(), 2, "{details:?}");
    assert_eq!(details[1].transition, Transition::Stuck);
    assert_eq!(details[1].stuck_cause, Some(StuckCause::ServicesCannotMove));
    assert_eq!(details[1].stuck_services, ["pinned"]);
    assert_eq!(details[1].waiting.replica, 1);
    assert_eq!(transitions(&drainer), []);
}

#[tokio::test]
async fn an_expired_action_is_announced_with_what_was_still_alive() {
    let world = World::new();
    world.run_task("web-1", "service:web");
    let drainer = world.drainer();
    terminate(&world, &drainer).await;
    drainer.take_events();
    world.hooks.expire(&world.notice.action.token);
    assert_eq!(check(&world, &drainer).await, Outcome::ActionGone);
    let events = drainer.take_events();
    assert_eq!(events.len(), 1, "{events:?}");
    let expired = &events[0].detail;
    assert_eq!(expired.transition, Transition::Expired);
    assert_eq!(expired.result, None);
    assert_eq!(expired.waiting.total, 1);
    assert_eq!(expired.waiting.groups[0].group, "service:web");
}

#[tokio::test]
async fn a_dry_run_announces_nothing() {
    // GIVEN an instance where only a daemon task is left (a live drain would stop it)
    let world = World::new();
    world.add_daemon_service("log-router");
    world.run_task("d-1", "service:log-router");
    let drainer = world.drainer();

    // WHEN the terminate event is replayed from an archive (a dry run by default)
    let replayed = terminate_notice(&fixture("lifecycle-terminate-eventbridge-replayed.json"));
    let mode = drainer.mode_for(replayed.replay_name.as_deref());
    assert_eq!(mode, Mode::DryRun);
    drainer
        .on_terminate(&replayed, mode)
        .await
        .expect("handled");

    // THEN nothing is queued to publish
    assert_eq!(transitions(&drainer), []);
}

#[tokio::test]
async fn a_check_that_runs_long_after_it_was_due_announces_the_drain_stuck_overdue() {
    // GIVEN a drain whose booked check did not run (a broken scheduler) until its deadline
    let mut world = World::new();
    world.config.policy.deadline_policy = DeadlinePolicy::Abandon;
    world.run_task("web-1", "service:web");
    let drainer = world.drainer();
    terminate(&world, &drainer).await;
    drainer.take_events();
    let record = world.record();
    let due = record.next_check_at.expect("a check is booked");
    world
        .scheduler
        .schedule(&world.instance, record.deadline_at)
        .await
        .expect("booked");

    // WHEN it finally runs
    check(&world, &drainer).await;

    // THEN the first event says the drain was stuck, overdue, and since when, before the
    // deadline's own events
    let events = drainer.take_events();
    let stuck = &events.first().expect("events").detail;
    assert_eq!(stuck.transition, Transition::Stuck);
    assert_eq!(stuck.stuck_cause, Some(StuckCause::Overdue));
    let late = record.deadline_at.seconds_since(due);
    assert_eq!(
        stuck.reason.as_deref(),
        Some(format!("check due {late} s ago never ran (scheduler or its role?)").as_str())
    );
    let rest: Vec<_> = events[1..]
        .iter()
        .map(|event| event.detail.transition)
        .collect();
    assert_eq!(rest, [Transition::DeadlineEnforced, Transition::Completed]);
}
