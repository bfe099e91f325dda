//! The instance-lifecycle groundwork over the wire, before it is wired into the functions: the
//! emulator's launch actions, warm pool and container instance transitions, read with real SDK
//! clients (and drain-aws's ECS adapter where one exists), turned into events of the documented
//! shapes, parsed by drain-core and decided by its pure launch / early-drain rules. Each test
//! applies the decision by hand, as the wiring will, and asserts the emulator's final state.

use drain_aws::EcsCluster;
use drain_core::decision::launch::{
    LaunchCompletion, LaunchDecision, LaunchFacts, LaunchPolicy, LaunchWaitingOn, Registration,
    decide_launch,
};
use drain_core::decision::spot::{
    EarlyDecision, EarlyDrainPolicy, EarlyInstance, EarlyNotice, ExistingDrain, TerminateJoin,
    decide_early_drain, terminate_meets_early_drain,
};
use drain_core::event::fleet::{FleetInput, LaunchNotice, Placement, parse_fleet_payload};
use drain_core::event::{LifecycleInput, parse_lifecycle_payload};
use drain_core::ids::{ClusterArn, Ec2InstanceId};
use drain_core::ports::{Cluster, EcsInstanceStatus};
use drain_core::record::LifecycleResult;
use drain_core::time::Timestamp;
use drain_testkit::fleet::{
    FleetAction, LAUNCH_HOOK, add_launch_hook, add_warm_pool, asg_state, fleet_actions,
    lifecycle_action_event, set_container_instance, set_desired, set_registration,
    spot_interruption_event,
};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

/// The one active action of `transition` kind in the group.
fn active_action(world: &EmulatorWorld, launch: bool) -> Result<FleetAction, KitError> {
    let mut found: Vec<FleetAction> = fleet_actions(world.port, &world.asg)?
        .into_iter()
        .filter(|action| action.state == "active" && action.is_launch() == launch)
        .collect();
    match (found.pop(), found.is_empty()) {
        (Some(action), true) => Ok(action),
        _ => Err("expected exactly one active action of that kind".into()),
    }
}

fn launch_notice(action: &FleetAction) -> Result<LaunchNotice, KitError> {
    match parse_fleet_payload(&lifecycle_action_event(action))?.as_slice() {
        [FleetInput::Launch(notice)] => Ok(notice.clone()),
        other => Err(format!("expected a launch notice, got {other:?}").into()),
    }
}

async fn complete(
    world: &EmulatorWorld,
    action: &FleetAction,
    result: LifecycleResult,
) -> TestResult {
    world
        .autoscaling
        .complete_lifecycle_action()
        .auto_scaling_group_name(&action.asg)
        .lifecycle_hook_name(&action.hook)
        .lifecycle_action_token(&action.token)
        .lifecycle_action_result(result.as_str())
        .send()
        .await?;
    Ok(())
}

/// What ECS reports about the container instance on `ec2_id`, as launch readiness reads it.
async fn registration(
    world: &EmulatorWorld,
    ec2_id: &str,
    drained_by_ecs_drain: bool,
) -> Result<Option<Registration>, KitError> {
    let listed = world
        .ecs
        .list_container_instances()
        .cluster(&world.cluster)
        .filter(format!("ec2InstanceId == {ec2_id}"))
        .send()
        .await?;
    let Some(arn) = listed.container_instance_arns().first() else {
        return Ok(None);
    };
    let described = world
        .ecs
        .describe_container_instances()
        .cluster(&world.cluster)
        .container_instances(arn)
        .send()
        .await?;
    let instance = described
        .container_instances()
        .first()
        .ok_or("described nothing")?;
    let cluster_arn = ClusterArn::new(world.cluster_arn.clone())?;
    Ok(Some(Registration {
        watched: world.config().watches_cluster(&cluster_arn),
        cluster_arn,
        status: EcsInstanceStatus::parse(instance.status().unwrap_or_default()),
        agent_connected: instance.agent_connected(),
        drained_by_ecs_drain,
    }))
}

fn facts(notice: &LaunchNotice, registration: Option<Registration>) -> LaunchFacts {
    LaunchFacts {
        origin: notice.origin,
        destination: notice.destination,
        noticed_at: notice.sent_at.unwrap_or(Timestamp(0)),
        heartbeat_timeout_seconds: Some(300),
        registration,
        daemon_services: Vec::new(),
        tasks: Vec::new(),
    }
}

fn ready() -> LaunchDecision {
    LaunchDecision::Complete {
        result: LifecycleResult::Continue,
        reason: LaunchCompletion::Ready,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_launch_waits_for_registration_and_agent_and_an_instance_that_never_joins_is_abandoned()
-> TestResult {
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("launch", 1),
    )
    .await?;
    add_launch_hook(&world).await?;
    set_registration(world.port, "REGISTERING", false)?;
    let policy = LaunchPolicy::default();

    // GIVEN a scale-out: the new instance waits in Pending:Wait with a launch action from EC2.
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let action = active_action(&world, true)?;
    assert_eq!(action.lifecycle_state, "Pending:Wait");
    let notice = launch_notice(&action)?;
    assert_eq!(notice.origin, Some(Placement::Ec2));
    assert_eq!(notice.action.hook.hook_name.as_str(), LAUNCH_HOOK);
    let ec2_id = notice.action.instance_id.as_str().to_owned();
    let now = notice.sent_at.ok_or("no time")?.plus_seconds(5);
    let wait = |waiting_on| LaunchDecision::Wait {
        waiting_on,
        deadline: notice
            .sent_at
            .unwrap_or(Timestamp(0))
            .plus_seconds(policy.deadline_seconds),
    };

    // WHEN the agent registers, becomes ACTIVE, then connects, THEN only the last look completes.
    let none = registration(&world, &ec2_id, false).await?;
    assert_eq!(
        decide_launch(&facts(&notice, none), &policy, now),
        wait(LaunchWaitingOn::Registration)
    );
    world
        .register_container_instance(&world.cluster, &ec2_id)
        .await?;
    let registering = registration(&world, &ec2_id, false).await?;
    assert_eq!(
        decide_launch(&facts(&notice, registering), &policy, now),
        wait(LaunchWaitingOn::Registration)
    );
    set_container_instance(world.port, &world.cluster, &ec2_id, Some("ACTIVE"), None)?;
    let active = registration(&world, &ec2_id, false).await?;
    assert_eq!(
        decide_launch(&facts(&notice, active), &policy, now),
        wait(LaunchWaitingOn::AgentConnection)
    );
    set_container_instance(world.port, &world.cluster, &ec2_id, None, Some(true))?;
    let connected = registration(&world, &ec2_id, false).await?;
    assert_eq!(
        decide_launch(&facts(&notice, connected), &policy, now),
        ready()
    );
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("Pending:Wait")
    );
    complete(&world, &action, LifecycleResult::Continue).await?;
    assert_eq!(
        asg_state(&world.autoscaling, &ec2_id).await?.as_deref(),
        Some("InService")
    );

    // GIVEN another launch whose agent never registers, WHEN its deadline passes, THEN ABANDON:
    // the group terminates it and launches a replacement.
    set_desired(&world.autoscaling, &world.asg, 3).await?;
    let stuck = active_action(&world, true)?;
    let stuck_notice = launch_notice(&stuck)?;
    let deadline = stuck_notice
        .sent_at
        .ok_or("no time")?
        .plus_seconds(policy.deadline_seconds);
    let never = registration(&world, &stuck.instance_id, false).await?;
    let decision = decide_launch(&facts(&stuck_notice, never), &policy, deadline);
    assert_eq!(
        decision,
        LaunchDecision::Complete {
            result: LifecycleResult::Abandon,
            reason: LaunchCompletion::DeadlinePassed,
        }
    );
    complete(&world, &stuck, LifecycleResult::Abandon).await?;
    assert_eq!(
        asg_state(&world.autoscaling, &stuck.instance_id).await?,
        None
    );
    let replacement = active_action(&world, true)?;
    assert_ne!(replacement.instance_id, stuck.instance_id);
    assert_eq!(replacement.lifecycle_state, "Pending:Wait");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_pool_round_trip_ends_with_the_container_instance_active() -> TestResult {
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("warm", 2),
    )
    .await?;
    add_launch_hook(&world).await?;
    add_warm_pool(&world).await?;
    let cluster = EcsCluster::new(world.ecs.clone());
    let policy = LaunchPolicy::default();

    // GIVEN a scale-in to the warm pool: the terminate action says Destination WarmPool and the
    // instance is drained as any other.
    set_desired(&world.autoscaling, &world.asg, 1).await?;
    let terminate = active_action(&world, false)?;
    let notice = match parse_lifecycle_payload(&lifecycle_action_event(&terminate))?.as_slice() {
        [LifecycleInput::Terminate(notice)] => notice.clone(),
        other => return Err(format!("expected a terminate notice, got {other:?}").into()),
    };
    assert!(notice.goes_to_warm_pool());
    let ec2_id = Ec2InstanceId::new(terminate.instance_id.clone())?;
    let instance = cluster
        .find_container_instance(std::slice::from_ref(&world.cluster), &ec2_id)
        .await?
        .ok_or("no container instance")?;
    cluster.set_draining(&instance).await?;
    complete(&world, &terminate, LifecycleResult::Continue).await?;

    // It enters the pool through Warmed:Pending:Wait: nothing to wait for there.
    let warming = active_action(&world, true)?;
    assert_eq!(warming.lifecycle_state, "Warmed:Pending:Wait");
    let warming_notice = launch_notice(&warming)?;
    assert!(warming_notice.enters_warm_pool());
    let now = warming_notice.sent_at.ok_or("no time")?;
    assert_eq!(
        decide_launch(&facts(&warming_notice, None), &policy, now),
        LaunchDecision::Complete {
            result: LifecycleResult::Continue,
            reason: LaunchCompletion::EntersWarmPool,
        }
    );
    complete(&world, &warming, LifecycleResult::Continue).await?;
    assert_eq!(
        asg_state(&world.autoscaling, ec2_id.as_str())
            .await?
            .as_deref(),
        Some("Warmed:Stopped")
    );

    // WHEN the group scales out again, the pool instance comes back (Origin WarmPool) still
    // DRAINING with its agent disconnected; THEN it is set ACTIVE, and completes once its agent
    // reconnects.
    set_desired(&world.autoscaling, &world.asg, 2).await?;
    let back = active_action(&world, true)?;
    assert_eq!(back.instance_id, ec2_id.as_str());
    let back_notice = launch_notice(&back)?;
    assert!(back_notice.returns_from_warm_pool());
    let now = back_notice.sent_at.ok_or("no time")?.plus_seconds(5);
    let draining = registration(&world, ec2_id.as_str(), true).await?;
    assert_eq!(
        draining
            .as_ref()
            .map(|r| (r.status.clone(), r.agent_connected)),
        Some((EcsInstanceStatus::Draining, false))
    );
    assert_eq!(
        decide_launch(&facts(&back_notice, draining), &policy, now),
        LaunchDecision::Reactivate
    );
    cluster.set_active(&instance).await?;
    let reactivated = registration(&world, ec2_id.as_str(), true).await?;
    assert!(matches!(
        decide_launch(&facts(&back_notice, reactivated), &policy, now),
        LaunchDecision::Wait {
            waiting_on: LaunchWaitingOn::AgentConnection,
            ..
        }
    ));
    set_container_instance(
        world.port,
        &world.cluster,
        ec2_id.as_str(),
        None,
        Some(true),
    )?;
    let connected = registration(&world, ec2_id.as_str(), true).await?;
    assert_eq!(
        decide_launch(&facts(&back_notice, connected), &policy, now),
        ready()
    );
    complete(&world, &back, LifecycleResult::Continue).await?;
    assert_eq!(
        asg_state(&world.autoscaling, ec2_id.as_str())
            .await?
            .as_deref(),
        Some("InService")
    );
    let index = world
        .instances
        .iter()
        .position(|i| i.ec2_id == ec2_id.as_str())
        .ok_or("not a world instance")?;
    assert_eq!(world.instance_status(index).await?, "ACTIVE");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_warning_drains_at_once_and_the_terminate_action_joins_that_drain() -> TestResult {
    let emulator = Emulator::start()?;
    let world = EmulatorWorld::build(
        &emulator,
        &emulator.sdk_config(),
        &WorldSpec::new("spot", 1),
    )
    .await?;
    let cluster = EcsCluster::new(world.ecs.clone());
    let sent_at = Timestamp::parse_rfc3339("2026-11-02T18:41:48Z").ok_or("time")?;
    let target = &world.instances[0];

    // GIVEN a Spot warning for a watched ACTIVE instance, THEN drain at once with a two-minute horizon.
    let warning = match parse_fleet_payload(&spot_interruption_event(
        &target.ec2_id,
        "terminate",
        sent_at,
    ))?
    .as_slice()
    {
        [FleetInput::SpotInterruption(warning)] => warning.clone(),
        other => return Err(format!("expected a Spot warning, got {other:?}").into()),
    };
    let found = cluster
        .find_container_instance(std::slice::from_ref(&world.cluster), &warning.instance_id)
        .await?
        .ok_or("no container instance")?;
    let facts = EarlyInstance {
        watched: world.config().watches_cluster(&found.cluster_arn),
        cluster_arn: found.cluster_arn.clone(),
        status: found.status.clone(),
    };
    let decision = decide_early_drain(
        &EarlyNotice::from(&warning),
        Some(&facts),
        None,
        &[],
        &EarlyDrainPolicy::default(),
        sent_at.plus_seconds(2),
    );
    let EarlyDecision::Start {
        deadline,
        set_draining: true,
        ..
    } = decision
    else {
        return Err(format!("expected a new early drain, got {decision:?}").into());
    };
    assert_eq!(deadline, sent_at.plus_seconds(120));
    cluster.set_draining(&found).await?;
    assert_eq!(world.instance_status(0).await?, "DRAINING");

    // WHEN the group's terminate action for the same instance arrives, THEN it joins the drain.
    let action = world.scale_in(0).await?;
    assert_eq!(action.instance_id, target.ec2_id);
    let joined = terminate_meets_early_drain(
        &ExistingDrain {
            deadline,
            finished: false,
        },
        sent_at.plus_seconds(3600),
    );
    assert_eq!(joined, TerminateJoin::Attach { deadline });
    // A second warning for the drained instance changes nothing but confirms the deadline.
    let again = decide_early_drain(
        &EarlyNotice::from(&warning),
        Some(&EarlyInstance {
            status: EcsInstanceStatus::Draining,
            ..facts
        }),
        Some(&ExistingDrain {
            deadline,
            finished: false,
        }),
        &[],
        &EarlyDrainPolicy::default(),
        sent_at.plus_seconds(30),
    );
    assert!(matches!(
        again,
        EarlyDecision::Join {
            tightened: false,
            ..
        }
    ));
    Ok(())
}
