//! `make demo`'s instance refresh story, judged by the emulator's own records (its lifecycle
//! actions and ECS change log), not by what the demo printed.

use drain_testkit::KitError;
use drain_testkit::delivery::EcsChange;
use drain_testkit::played::{
    container_instance_of, first_joined_at, launch_completed_once_joined, placed_on,
    terminate_completed_once_drained,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_refresh_story_puts_the_new_instance_in_service_once_joined_then_drains_the_old_one()
-> Result<(), KitError> {
    // GIVEN the demo's instance refresh story, played to its end
    let story = drain_demo::refresh::instance_refresh().await?;

    // THEN the refresh succeeded, replacing the old instance by the launched one
    assert_eq!(story.status.as_deref(), Some("Successful"));
    assert_eq!(story.terminate.instance_id, story.old);
    assert_ne!(story.launch.instance_id, story.old);

    // AND the new instance's agent registered later than its launch, and the launch was
    // completed (once, CONTINUE) only after its container instance was ACTIVE with its agent
    // connected, having first been REGISTERING and then ACTIVE without its agent
    let new = &story.launch.instance_id;
    let launched_at = launch_completed_once_joined(&story.changes, &story.launch)?;
    let joined_at = first_joined_at(&story.changes, new).ok_or("never joined")?;
    let states: Vec<(String, bool, f64)> = story
        .changes
        .iter()
        .filter_map(|change| match change {
            EcsChange::ContainerInstance { at, detail, .. }
                if detail["ec2InstanceId"] == json!(new) && *at <= joined_at =>
            {
                Some((
                    detail["status"].as_str().unwrap_or_default().to_owned(),
                    detail["agentConnected"] == json!(true),
                    *at,
                ))
            }
            _ => None,
        })
        .collect();
    let seen: Vec<(&str, bool)> = states.iter().map(|(s, c, _)| (s.as_str(), *c)).collect();
    assert_eq!(
        seen,
        vec![("REGISTERING", false), ("ACTIVE", false), ("ACTIVE", true)]
    );
    assert!(states[0].2 >= story.launch.created_at, "{states:?}");

    // AND the old instance's terminate action opened only after that launch completed, and was
    // completed (once, CONTINUE) after the instance was set DRAINING and every task on it had
    // STOPPED: web, api and log-router, the replicas' replacements running on the new instance
    assert!(story.terminate.created_at >= launched_at, "{story:?}");
    let placed = terminate_completed_once_drained(&story.changes, &story.terminate)?;
    let mut groups: Vec<String> = placed.into_iter().filter_map(|(_, g, _)| g).collect();
    groups.sort();
    assert_eq!(groups, ["service:api", "service:log-router", "service:web"]);
    let arn = container_instance_of(&story.changes, new).ok_or("no container instance")?;
    let mut on_new: Vec<String> = placed_on(&story.changes, &arn)
        .into_iter()
        .filter_map(|(_, g, _)| g)
        .collect();
    on_new.sort();
    assert_eq!(on_new, ["service:api", "service:log-router", "service:web"]);
    Ok(())
}
