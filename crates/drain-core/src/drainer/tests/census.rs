//! The census of a drain describes only the tasks it does not already know are STOPPED, and
//! always every task ECS lists as desired RUNNING, whatever the record says of it.

use super::*;

/// A task id as ECS writes it: 32 hex digits.
fn task_id(n: u32) -> String {
    format!("{n:032x}")
}

fn last_described(world: &World) -> Vec<String> {
    world
        .cluster
        .with_state(|state| state.last_described.clone())
}

#[tokio::test]
async fn a_confirming_census_describes_only_the_tasks_not_known_stopped() {
    // GIVEN an instance with 150 replica tasks, one daemon task, and three tasks that stopped
    // before the drain (ECS keeps them listed for about an hour)
    let world = World::new();
    world.add_daemon_service("log-router");
    for n in 900..903 {
        let earlier = world.run_task(&task_id(n), "service:web");
        world.cluster.set_task_status(&earlier, "STOPPED");
    }
    let replicas: Vec<TaskArn> = (0..150)
        .map(|n| world.run_task(&task_id(n), "service:web"))
        .collect();
    let daemon = world.run_task(&task_id(500), "service:log-router");

    // WHEN the drain starts
    world.terminate().await;

    // THEN its census describes all 154 listed tasks, in two calls, and keeps the three STOPPED
    assert_eq!(world.log.count("ecs:DescribeTasks"), 2);
    assert_eq!(last_described(&world).len(), 154);
    assert_eq!(world.record().known_stopped.len(), 3);

    // WHEN every replica but the last stops, one STOPPED event each
    world.log.clear();
    for replica in &replicas[..149] {
        world.task_stopped(&world.task_stops(replica)).await;
    }

    // THEN no event takes a census, and each keeps its task as known STOPPED
    assert_eq!(world.log.count("ecs:ListTasks"), 0);
    assert_eq!(world.log.count("ecs:DescribeTasks"), 0);
    let known = world.record().known_stopped;
    assert_eq!(known.len(), 3 + 149);
    assert!(replicas[..149].iter().all(|replica| known.knows(replica)));

    // WHEN the last replica stops (only the daemon would be left: a confirming census)
    world.log.clear();
    let outcome = world.task_stopped(&world.task_stops(&replicas[149])).await;

    // THEN the census lists all 154 tasks (one RUNNING page, two STOPPED pages) but describes
    // only the last replica and the daemon, in one call, and stops the daemon
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::StopDaemons {
            tasks: vec![daemon.clone()]
        })
    );
    assert_eq!(world.log.count("ecs:ListTasks"), 3);
    assert_eq!(world.log.count("ecs:DescribeTasks"), 1);
    assert_eq!(
        last_described(&world),
        vec![replicas[149].to_string(), daemon.to_string()]
    );
    assert!(world.record().known_stopped.knows(&replicas[149]));

    // WHEN the daemon's STOPPED event comes
    world.log.clear();
    world.cluster.set_task_status(&daemon, "STOPPED");
    let outcome = world.task_stopped(&world.task_stops(&daemon)).await;

    // THEN the completing census describes the daemon alone, and the drain completes
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
    assert_eq!(world.log.count("ecs:DescribeTasks"), 1);
    assert_eq!(last_described(&world), vec![daemon.to_string()]);
}

#[tokio::test]
async fn a_task_still_shutting_down_is_described_again_until_it_is_stopped() {
    // GIVEN a drain of two replica tasks
    let world = World::new();
    let first = world.run_task(&task_id(1), "service:web");
    let second = world.run_task(&task_id(2), "service:web");
    world.terminate().await;

    // WHEN the first is STOPPING (inside its stopTimeout) and the second STOPPED: the second's
    // event finds only the first left and confirms with a census
    world.cluster.set_task_status(&first, "STOPPING");
    let outcome = world.task_stopped(&world.task_stops(&second)).await;

    // THEN the census described both, learned only the STOPPED one, and keeps waiting
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert_eq!(last_described(&world).len(), 2);
    let known = world.record().known_stopped;
    assert!(known.knows(&second) && !known.knows(&first));

    // WHEN the first reaches STOPPED
    let outcome = world.task_stopped(&world.task_stops(&first)).await;

    // THEN the completing census describes it again (it was not known STOPPED) and completes
    world.assert_completed_once(&outcome, LifecycleResult::Continue);
    assert_eq!(last_described(&world), vec![first.to_string()]);
}

#[tokio::test]
async fn a_forged_stopped_event_for_a_running_replica_cannot_hide_it_from_later_censuses() {
    // GIVEN a drain of two replica tasks and a daemon task
    let world = World::new();
    world.add_daemon_service("log-router");
    let running = world.run_task(&task_id(1), "service:web");
    let other = world.run_task(&task_id(2), "service:web");
    let daemon = world.run_task(&task_id(500), "service:log-router");
    world.terminate().await;

    // WHEN on-task-stopped is invoked directly with a STOPPED event for the first replica,
    // which still runs (ECS still lists it as desired RUNNING)
    let forged = stopped_event(&running, "service:web");
    world.log.clear();
    world.task_stopped(&forged).await;

    // THEN the event alone, taking no census, made the record believe it STOPPED
    assert_eq!(world.log.count("ecs:ListTasks"), 0);
    assert!(world.record().known_stopped.knows(&running));
    assert_eq!(world.task_status(&running), "RUNNING");

    // WHEN the other replica really stops (only the daemon would be left: a confirming census)
    let outcome = world.task_stopped(&world.task_stops(&other)).await;

    // THEN the census describes the running replica all the same, and keeps waiting on it: the
    // daemon is not stopped and the action not completed
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert!(last_described(&world).contains(&running.to_string()));
    assert_eq!(world.cluster.stopped_reason(&daemon), None);
    assert_eq!(world.task_status(&daemon), "RUNNING");
    assert_eq!(world.action().completions, 0);

    // WHEN the drain's scheduled check fires while the replica still runs
    let outcome = world.fire_next_check().await;

    // THEN its census describes the replica again and still waits
    assert!(
        matches!(outcome, Outcome::Decided(Decision::Wait { .. })),
        "{outcome:?}"
    );
    assert!(last_described(&world).contains(&running.to_string()));
    assert_eq!(world.cluster.stopped_reason(&daemon), None);
    assert_eq!(world.action().completions, 0);

    // WHEN the replica really stops
    let outcome = world.task_stopped(&world.task_stops(&running)).await;

    // THEN only then are the daemons stopped
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::StopDaemons {
            tasks: vec![daemon.clone()]
        })
    );
}
