//! `drainctl doctor` as the built binary over clusters crafted in the emulator, one problem
//! each, and one healthy cluster it must pass.

mod common;

use std::process::{Command, Output};

use aws_sdk_ecs::operation::create_service::builders::CreateServiceFluentBuilder;
use aws_sdk_ecs::types::{ContainerDefinition, DeploymentConfiguration, SchedulingStrategy};
use drain_testkit::stack::{Stack, StackSpec};
use drain_testkit::{Emulator, EmulatorWorld, KitError, WorldSpec};
use serde_json::Value;

type TestResult = Result<(), KitError>;

fn doctor(emulator: &Emulator, args: &[&str]) -> Result<Output, KitError> {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    common::drainctl(&emulator.endpoint(), None, &[], &all)
}

/// The finding codes doctor printed as JSON, and its exit code.
fn findings(
    emulator: &Emulator,
    world: &EmulatorWorld,
    extra: &[&str],
) -> Result<(Vec<String>, Option<i32>, Value), KitError> {
    let mut args = vec!["--cluster", world.cluster.as_str(), "--output", "json"];
    args.extend_from_slice(extra);
    let output = doctor(emulator, &args)?;
    let report: Value = serde_json::from_slice(&output.stdout).map_err(|error| {
        format!(
            "doctor printed no JSON ({error}): {} {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })?;
    let codes = report["findings"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(|finding| finding["code"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    Ok((codes, output.status.code(), report))
}

/// A task definition of one container with these needs.
async fn family(
    world: &EmulatorWorld,
    name: &str,
    cpu: i32,
    memory: i32,
    stop_timeout: Option<i32>,
) -> TestResult {
    let mut container = ContainerDefinition::builder()
        .name(name)
        .image(format!("public.ecr.aws/example/{name}:1"))
        .cpu(cpu)
        .memory(memory)
        .essential(true);
    if let Some(seconds) = stop_timeout {
        container = container.stop_timeout(seconds);
    }
    world
        .ecs
        .register_task_definition()
        .family(name)
        .container_definitions(container.build())
        .send()
        .await?;
    Ok(())
}

/// The CreateService request of service `name` in the world's cluster: two tasks of the task
/// definition of the same name.
fn two_tasks_of(world: &EmulatorWorld, name: &str) -> CreateServiceFluentBuilder {
    world
        .ecs
        .create_service()
        .cluster(&world.cluster)
        .service_name(name)
        .task_definition(name)
        .desired_count(2)
}

/// A replica service of `family` with these deployment limits.
async fn service(world: &EmulatorWorld, name: &str, min: i32, max: i32) -> TestResult {
    two_tasks_of(world, name)
        .scheduling_strategy(SchedulingStrategy::Replica)
        .deployment_configuration(
            DeploymentConfiguration::builder()
                .minimum_healthy_percent(min)
                .maximum_percent(max)
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// The emulator's default VPC, asked with boto3 (the Rust tests have no EC2 client).
fn default_vpc(emulator: &Emulator) -> Result<String, KitError> {
    let root = drain_testkit::project_root();
    let output = Command::new(root.join(".venv/bin/python"))
        .args([
            "-c",
            "import sys, boto3; ec2 = boto3.client('ec2', endpoint_url=sys.argv[1], region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing'); print(ec2.describe_vpcs(Filters=[{'Name': 'is-default', 'Values': ['true']}])['Vpcs'][0]['VpcId'])",
            &emulator.endpoint(),
        ])
        .output()?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned().into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// A replica service of `name` behind a new target group whose deregistration delay is
/// `delay` seconds.
async fn balanced_service(
    emulator: &Emulator,
    world: &EmulatorWorld,
    name: &str,
    delay: i32,
) -> TestResult {
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&emulator.sdk_config());
    let created = elb
        .create_target_group()
        .name(format!("{name}-tg"))
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(default_vpc(emulator)?)
        .target_type(aws_sdk_elasticloadbalancingv2::types::TargetTypeEnum::Instance)
        .send()
        .await?;
    let arn = created
        .target_groups()
        .first()
        .and_then(|group| group.target_group_arn())
        .ok_or("no target group ARN")?
        .to_owned();
    elb.modify_target_group_attributes()
        .target_group_arn(&arn)
        .attributes(
            aws_sdk_elasticloadbalancingv2::types::TargetGroupAttribute::builder()
                .key("deregistration_delay.timeout_seconds")
                .value(delay.to_string())
                .build(),
        )
        .send()
        .await?;
    family(world, name, 256, 256, None).await?;
    two_tasks_of(world, name)
        .load_balancers(
            aws_sdk_ecs::types::LoadBalancer::builder()
                .target_group_arn(arn)
                .container_name(name)
                .container_port(80)
                .build(),
        )
        .send()
        .await?;
    Ok(())
}

/// Puts terminate hook `name` on the world's group with this timeout and default result.
async fn put_terminate_hook(
    world: &EmulatorWorld,
    name: &str,
    heartbeat_timeout: i32,
    default_result: &str,
) -> Result<(), KitError> {
    world
        .autoscaling
        .put_lifecycle_hook()
        .auto_scaling_group_name(&world.asg)
        .lifecycle_hook_name(name)
        .lifecycle_transition("autoscaling:EC2_INSTANCE_TERMINATING")
        .heartbeat_timeout(heartbeat_timeout)
        .default_result(default_result)
        .send()
        .await?;
    Ok(())
}

/// A world of two instances with a movable service `web`: healthy as built.
async fn healthy(emulator: &Emulator, name: &str) -> Result<EmulatorWorld, KitError> {
    let world =
        EmulatorWorld::build(emulator, &emulator.sdk_config(), &WorldSpec::new(name, 2)).await?;
    family(&world, "web", 256, 256, None).await?;
    service(&world, "web", 50, 200).await?;
    Ok(world)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_passes_a_healthy_cluster_and_finds_each_service_and_room_problem() -> TestResult {
    let emulator = Emulator::start()?;

    // a healthy cluster: exit 0, the group found through the cluster's instances
    let world = healthy(&emulator, "doc-ok").await?;
    let (codes, exit, report) = findings(&emulator, &world, &[])?;
    assert_eq!((codes, exit), (Vec::<String>::new(), Some(0)), "{report}");
    assert_eq!(report["groups"][0], world.asg.as_str());
    let text = doctor(&emulator, &["--cluster", &world.cluster])?;
    assert!(
        String::from_utf8_lossy(&text.stdout).starts_with("no findings for cluster doc-ok-cluster")
    );

    // a service whose tasks can never move
    let world = healthy(&emulator, "doc-pinned").await?;
    family(&world, "pinned", 256, 256, None).await?;
    service(&world, "pinned", 100, 100).await?;
    let (codes, exit, report) = findings(&emulator, &world, &[])?;
    assert_eq!(
        (codes, exit),
        (vec!["service_cannot_move".to_owned()], Some(4)),
        "{report}"
    );
    assert_eq!(report["findings"][0]["subject"], "pinned");
    assert_eq!(report["findings"][0]["severity"], "high");
    // the table says the problem and the fix
    let text = doctor(&emulator, &["--cluster", &world.cluster])?;
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.starts_with("HIGH      service_cannot_move  pinned"),
        "{text}"
    );
    assert!(
        text.contains("  fix:     lower minimumHealthyPercent"),
        "{text}"
    );

    // a service that moves a few tasks at a time
    let world = healthy(&emulator, "doc-slow").await?;
    family(&world, "slow", 256, 256, None).await?;
    service(&world, "slow", 100, 125).await?;
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["service_moves_slowly".to_owned()], "{report}");

    // a container that takes longer to stop than the hook's heartbeat timeout (300 s)
    let world = healthy(&emulator, "doc-stop").await?;
    family(&world, "patient", 256, 256, Some(600)).await?;
    service(&world, "patient", 50, 200).await?;
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["heartbeat_too_short".to_owned()], "{report}");
    assert!(
        report["findings"][0]["fix"]
            .as_str()
            .is_some_and(|fix| fix.contains("660")),
        "{report}"
    );

    // a load balancer that keeps deregistering tasks for 600 s: longer than the heartbeat
    let world = healthy(&emulator, "doc-lb").await?;
    balanced_service(&emulator, &world, "slow-lb", 600).await?;
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["heartbeat_too_short".to_owned()], "{report}");
    assert!(
        report["findings"][0]["problem"]
            .as_str()
            .is_some_and(|problem| problem.contains("630 s") && !problem.contains("assumed")),
        "the delay read, not assumed: {report}"
    );
    // ... and one of 30 s is read as such (ELBv2's 300 s default would be a finding)
    let world = healthy(&emulator, "doc-lb-fast").await?;
    balanced_service(&emulator, &world, "fast-lb", 30).await?;
    let (codes, exit, report) = findings(&emulator, &world, &[])?;
    assert_eq!((codes, exit), (Vec::<String>::new(), Some(0)), "{report}");

    // no room: each instance runs a task using most of its CPU
    let world = healthy(&emulator, "doc-room").await?;
    family(&world, "big", 3000, 1000, None).await?;
    for index in 0..2 {
        world
            .ecs
            .start_task()
            .cluster(&world.cluster)
            .task_definition("big")
            .container_instances(&world.instances[index].container_instance_arn)
            .send()
            .await?;
    }
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["no_room".to_owned()], "{report}");

    // a cluster that does not exist: an AWS error, exit 1, one line
    let output = doctor(&emulator, &["--cluster", "no-such-cluster"])?;
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&output.stderr)
            .trim_end()
            .lines()
            .count(),
        1
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_finds_each_hook_problem_and_abandon_without_retention() -> TestResult {
    let emulator = Emulator::start()?;

    // the hook is gone
    let world = healthy(&emulator, "doc-nohook").await?;
    world
        .autoscaling
        .delete_lifecycle_hook()
        .auto_scaling_group_name(&world.asg)
        .lifecycle_hook_name(&world.hook)
        .send()
        .await?;
    let (codes, exit, report) = findings(&emulator, &world, &["--asg", &world.asg])?;
    assert_eq!(
        (codes, exit),
        (vec!["hook_missing".to_owned()], Some(4)),
        "{report}"
    );
    assert_eq!(report["findings"][0]["severity"], "critical");

    // a hook named otherwise than ecs-drain's does not count when the name is given
    let world = healthy(&emulator, "doc-other").await?;
    let (codes, _, report) = findings(&emulator, &world, &["--hook", "ecs-drain-terminate"])?;
    assert_eq!(codes, vec!["hook_missing".to_owned()], "{report}");

    // ECS managed draining on the same group
    let world = healthy(&emulator, "doc-managed").await?;
    put_terminate_hook(
        &world,
        "ecs-managed-draining-termination-hook",
        3600,
        "CONTINUE",
    )
    .await?;
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["managed_draining_too".to_owned()], "{report}");

    // a default result of ABANDON
    let world = healthy(&emulator, "doc-abandon").await?;
    put_terminate_hook(&world, &world.hook, 300, "ABANDON").await?;
    let (codes, _, report) = findings(&emulator, &world, &[])?;
    assert_eq!(codes, vec!["hook_default_result".to_owned()], "{report}");

    // the stack's deadline policy abandons, and the group keeps no abandoned instance
    let spec = WorldSpec::new("doc-policy", 2);
    Stack::deploy(
        &emulator,
        "ecs-drain-doctor",
        &StackSpec::for_names(&spec.cluster_name(), &spec.group_name(), &spec.hook_name())
            .with_parameter("DeadlinePolicy", "abandon"),
    )?;
    let world = healthy(&emulator, "doc-policy").await?;
    let (codes, _, report) = findings(&emulator, &world, &["--stack-name", "ecs-drain-doctor"])?;
    assert_eq!(
        codes,
        vec!["abandon_without_retention".to_owned()],
        "{report}"
    );
    // without the stack, doctor says what it could not check
    let (_, _, report) = findings(&emulator, &world, &[])?;
    assert!(
        report["notes"]
            .as_array()
            .is_some_and(|notes| notes.iter().any(|note| note
                .as_str()
                .is_some_and(|note| note.starts_with("deadline policy unknown")))),
        "{report}"
    );
    Ok(())
}
