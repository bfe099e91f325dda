//! One stack for ten clusters and ten Auto Scaling groups (issue 14), IAM enforced over the
//! wire: infra/template.yaml is deployed into the emulator with ten names in `ClusterNames`
//! and ten in `AutoScalingGroupNames`, and the built binaries run under the stack's own
//! execution roles. An instance of the seventh cluster / group drains end to end; an eleventh
//! cluster and group, built next to them but not named in the stack, are out of the roles'
//! reach (AccessDenied) and left untouched by the functions.

use aws_sdk_autoscaling::Client as AutoScaling;
use aws_sdk_ecs::Client as Ecs;
use aws_sdk_ecs::types::ContainerInstanceStatus;
use drain_testkit::events::{ActionEnd, lifecycle_event, task_state_change_event};
use drain_testkit::runtime_api::Invocation;
use drain_testkit::stack::StackSpec;
use drain_testkit::{Deployment, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

const HOOK: &str = "scale-terminate";

/// EmulatorWorld `n` of the test: cluster `scale<n>-cluster`, group `scale<n>-asg`, the shared
/// hook.
fn world_spec(n: usize, instances: usize) -> WorldSpec {
    let mut spec = WorldSpec::new(&format!("scale{n}"), instances);
    spec.hook = Some(HOOK.to_owned());
    spec
}

fn outcomes(report: &Value) -> Vec<&str> {
    report["outcomes"]
        .as_array()
        .map(|outcomes| outcomes.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether an SDK error is the service's AccessDenied (ECS: AccessDeniedException; Auto
/// Scaling: AccessDenied in the awsQuery error).
fn is_access_denied<E: std::fmt::Debug>(error: &E) -> bool {
    let text = format!("{error:?}");
    text.contains("AccessDenied")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_clusters_and_groups_drain_the_seventh_and_cannot_touch_an_eleventh() -> TestResult {
    // GIVEN one stack naming ten clusters and ten groups, world 7 (one of them, 2 instances,
    // a web replica on instance 0) and world 11 (not named in the stack), IAM enforced
    let clusters: Vec<String> = (1..=10).map(|n| world_spec(n, 1).cluster_name()).collect();
    let groups: Vec<String> = (1..=10).map(|n| world_spec(n, 1).group_name()).collect();
    let spec = StackSpec::for_many(&clusters, &groups, HOOK);
    let deployment = Deployment::start_worlds(
        "scale-stack",
        &spec,
        vec![world_spec(7, 2), world_spec(11, 1)],
    )
    .await?;
    let (seventh, eleventh) = (
        &deployment.world,
        deployment.others.first().ok_or("no eleventh world")?,
    );
    assert_eq!(
        deployment.stack.on_lifecycle()?.env("ECS_DRAIN_CLUSTERS"),
        Some(clusters.join(",").as_str())
    );
    // The other eight named clusters exist too, empty (a configured cluster that does not exist
    // is a deployment error: the functions fail loudly on it).
    for cluster in clusters
        .iter()
        .filter(|cluster| **cluster != seventh.cluster)
    {
        seventh
            .ecs
            .create_cluster()
            .cluster_name(cluster)
            .send()
            .await?;
    }
    seventh.create_service("web", false, 50, 200).await?;
    let web = seventh.start_service_task("web", 0).await?;
    eleventh.create_service("web", false, 50, 200).await?;
    eleventh.start_service_task("web", 0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN group 7 scales in instance 0 and its lifecycle action reaches on-lifecycle
    let action = seventh.scale_in(0).await?;
    let invocation: Invocation = on_lifecycle.invoke(&lifecycle_event(&action)).await?;
    let report = invocation.result.map_err(|error| {
        format!(
            "on-lifecycle failed: {:?}\n{}",
            error.document,
            on_lifecycle.logs()
        )
    })?;

    // THEN the instance of cluster 7 drains under the stack's own role
    assert_eq!(outcomes(&report), ["wait"], "{report}");
    assert_eq!(seventh.instance_status(0).await?, "DRAINING");

    // WHEN ECS replaces the replica elsewhere and the old task's STOPPED event arrives
    seventh.start_service_task("web", 1).await?;
    seventh
        .stop_task(
            &web,
            "Task stopped by ECS because the container instance is being drained.",
        )
        .await?;
    let stopped = task_state_change_event(&seventh.describe_task(&web).await?, 2);
    let invocation: Invocation = on_task_stopped.invoke(&stopped).await?;
    let report = invocation.result.map_err(|error| {
        format!(
            "on-task-stopped failed: {:?}\n{}",
            error.document,
            on_task_stopped.logs()
        )
    })?;

    // THEN group 7's lifecycle action is completed once with CONTINUE
    assert_eq!(outcomes(&report), ["complete"], "{report}");
    assert_eq!(
        seventh.sole_action_end()?,
        ActionEnd::completed_once("CONTINUE")
    );

    // AND every call the two roles made was allowed
    let decisions = deployment.emulator.iam_decisions()?;
    let roles = [
        deployment.stack.on_lifecycle()?.role_name().to_owned(),
        deployment.stack.on_task_stopped()?.role_name().to_owned(),
    ];
    let by_roles: Vec<_> = decisions
        .iter()
        .filter(|decision| {
            decision
                .role
                .as_ref()
                .is_some_and(|role| roles.contains(role))
        })
        .collect();
    assert!(
        !by_roles.is_empty(),
        "no call of the functions was authorized: {decisions:?}"
    );
    assert!(
        by_roles.iter().all(|decision| decision.allowed),
        "{by_roles:?}"
    );

    // WHEN group 11 scales in its instance and that lifecycle action reaches on-lifecycle
    let outside = eleventh.scale_in(0).await?;
    let _answer = on_lifecycle.invoke(&lifecycle_event(&outside)).await?;

    // THEN nothing of world 11 changed: the instance is ACTIVE, its action still waits, and
    // no drain record exists for it
    assert_eq!(eleventh.instance_status(0).await?, "ACTIVE");
    let actions = eleventh.lifecycle_actions()?;
    assert_eq!(actions.len(), 1);
    assert_eq!(
        (actions[0].state.as_str(), actions[0].completions),
        ("active", 0)
    );
    let record = eleventh
        .dynamodb
        .get_item()
        .table_name(&eleventh.table)
        .key(
            "container_instance_arn",
            aws_sdk_dynamodb::types::AttributeValue::S(
                eleventh.instances[0].container_instance_arn.clone(),
            ),
        )
        .consistent_read(true)
        .send()
        .await?;
    assert!(
        record.item().is_none(),
        "a drain record for cluster 11: {:?}",
        record.item()
    );

    // AND the roles themselves may not touch cluster 11 or group 11, while the same calls on
    // cluster 7 and group 7 pass authorization
    let as_on_lifecycle = deployment.role_sdk_config("OnLifecycleFunction")?;
    let ecs = Ecs::new(&as_on_lifecycle);
    let drain_eleventh = ecs
        .update_container_instances_state()
        .cluster(&eleventh.cluster)
        .container_instances(&eleventh.instances[0].container_instance_arn)
        .status(ContainerInstanceStatus::Draining)
        .send()
        .await;
    assert!(
        drain_eleventh.as_ref().is_err_and(is_access_denied),
        "{drain_eleventh:?}"
    );
    let list_eleventh = ecs
        .list_tasks()
        .cluster(&eleventh.cluster)
        .container_instance(&eleventh.instances[0].container_instance_arn)
        .send()
        .await;
    assert!(
        list_eleventh.as_ref().is_err_and(is_access_denied),
        "{list_eleventh:?}"
    );
    let list_seventh = ecs
        .list_tasks()
        .cluster(&seventh.cluster)
        .container_instance(&seventh.instances[1].container_instance_arn)
        .send()
        .await;
    assert!(list_seventh.is_ok(), "{list_seventh:?}");
    let autoscaling = AutoScaling::new(&deployment.role_sdk_config("OnTaskStoppedFunction")?);
    let complete_eleventh = autoscaling
        .complete_lifecycle_action()
        .auto_scaling_group_name(&eleventh.asg)
        .lifecycle_hook_name(HOOK)
        .lifecycle_action_token(&outside.token)
        .lifecycle_action_result("CONTINUE")
        .send()
        .await;
    assert!(
        complete_eleventh.as_ref().is_err_and(is_access_denied),
        "{complete_eleventh:?}"
    );
    assert_eq!(eleventh.lifecycle_actions()?[0].state, "active");
    assert_eq!(eleventh.instance_status(0).await?, "ACTIVE");
    Ok(())
}
