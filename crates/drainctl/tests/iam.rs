//! drainctl's managed policies from infra/template.yaml, with IAM enforced in the emulator: an
//! on-call user holding only DrainctlReadOnlyPolicy can read status, explain and doctor but
//! cannot act (one line naming the policy to attach); with DrainctlOperatorPolicy added it
//! can extend but not cancel (the claim is given back, the drain's check stays booked); with
//! DrainctlCancelPolicy too it cancels (the instance set ACTIVE, the action completed, the
//! drain's check deleted), and the check grant reaches the stack's schedule group only.

mod common;

use std::process::Output;

use aws_sdk_scheduler::types::{FlexibleTimeWindow, FlexibleTimeWindowMode, Target};
use drain_aws::app::App;
use drain_testkit::events::lifecycle_event;
use drain_testkit::world::schedule_names;
use drain_testkit::{Deployment, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

fn drainctl(
    deployment: &Deployment,
    key: &(String, String),
    args: &[&str],
) -> Result<Output, KitError> {
    common::drainctl(
        &deployment.emulator.endpoint(),
        Some((&key.0, &key.1)),
        &[],
        args,
    )
}

/// `status --output json` as the on-call user.
fn status(
    deployment: &Deployment,
    key: &(String, String),
    table: &str,
) -> Result<serde_json::Value, KitError> {
    let output = drainctl(
        deployment,
        key,
        &["status", "--table", table, "--output", "json"],
    )?;
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_only_policy_reads_and_the_operator_policy_acts() -> TestResult {
    // GIVEN the stack, its world and a drain started by the real handler (as admin)
    let deployment = Deployment::start(WorldSpec::new("ctl-iam", 3)).await?;
    let world = &deployment.world;
    let admin = deployment.emulator.sdk_config_as(&deployment.admin);
    world.populate_standard(0).await?;
    let app = App::new(world.config(), &admin);
    let action = world.scale_in(0).await?;
    let notice = lifecycle_event(&action);
    drain_core::handler::handle_lifecycle(
        &app.drainer,
        &notice,
        &drain_core::decision::verify::FunctionIdentity::default(),
    )
    .await?;

    // ... and an on-call user holding only the read-only policy
    let iam = aws_sdk_iam::Client::new(&admin);
    iam.create_user().user_name("oncall").send().await?;
    iam.attach_user_policy()
        .user_name("oncall")
        .policy_arn(deployment.stack.output("DrainctlReadOnlyPolicyArn")?)
        .send()
        .await?;
    let created = iam.create_access_key().user_name("oncall").send().await?;
    let key = created.access_key().ok_or("no access key")?;
    let key = (
        key.access_key_id().to_owned(),
        key.secret_access_key().to_owned(),
    );
    let table = world.table.as_str();
    let ec2 = world.instances[0].ec2_id.as_str();
    let group = world.schedule_group.as_str();
    assert_eq!(
        deployment.stack.output("ScheduleGroupName")?,
        world.schedule_group,
        "the stack names the group its functions book checks in"
    );
    assert_eq!(
        schedule_names(&admin, &world.schedule_group).await?.len(),
        1
    );

    // THEN it reads
    let output = drainctl(&deployment, &key, &["status", "--table", table])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(ec2));
    let output = drainctl(&deployment, &key, &["explain", ec2, "--table", table])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = drainctl(
        &deployment,
        &key,
        &["doctor", "--cluster", &world.cluster, "--asg", &world.asg],
    )?;
    assert!(
        matches!(output.status.code(), Some(0 | 4)),
        "doctor could read everything it needs: {}",
        stderr(&output)
    );
    // ... including explain --event: the census reads and the rest of what the functions read
    let file = std::env::temp_dir().join(format!("drainctl-iam-{}.json", std::process::id()));
    std::fs::write(&file, notice.to_string())?;
    let file = file.to_string_lossy().into_owned();
    let output = common::drainctl(
        &deployment.emulator.endpoint(),
        Some((&key.0, &key.1)),
        &world.function_env(),
        &["explain", "--event", &file, "--output", "json"],
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let explained: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(
        explained["outcomes"],
        serde_json::json!(["wait"]),
        "{explained}"
    );
    // ... but may not act, and is told which policy to attach
    let output = drainctl(&deployment, &key, &["cancel", ec2, "--table", table])?;
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("access denied") && text.contains("DrainctlOperatorPolicyArn"),
        "{text}"
    );
    assert_eq!(world.lifecycle_actions()?[0].state, "active");
    assert_eq!(world.instance_status(0).await?, "DRAINING");

    // WHEN the operator policy is attached too, extend works, and cancel is refused by ECS
    // with the claim given back
    iam.attach_user_policy()
        .user_name("oncall")
        .policy_arn(deployment.stack.output("DrainctlOperatorPolicyArn")?)
        .send()
        .await?;
    let output = drainctl(
        &deployment,
        &key,
        &["extend", ec2, "--by", "10m", "--table", table],
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = drainctl(
        &deployment,
        &key,
        &["cancel", ec2, "--table", table, "--schedule-group", group],
    )?;
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("ecs:UpdateContainerInstancesState: access denied")
            && text.contains("DrainctlCancelPolicyArn"),
        "{text}"
    );
    assert_eq!(world.lifecycle_actions()?[0].state, "active");
    let drains = status(&deployment, &key, table)?;
    assert_eq!(
        drains[0]["status"], "DRAINING",
        "the claim was given back: {drains}"
    );
    assert_eq!(
        schedule_names(&admin, &world.schedule_group).await?.len(),
        1,
        "the drain goes on, and so does its check"
    );

    // WHEN the cancel policy is attached as well, cancel works end to end, finding the table
    // and the schedule group from the stack by its name (DescribeStacks is granted on the
    // stack's id, which AWS authorizes a request by name against)
    iam.attach_user_policy()
        .user_name("oncall")
        .policy_arn(deployment.stack.output("DrainctlCancelPolicyArn")?)
        .send()
        .await?;
    let output = drainctl(
        &deployment,
        &key,
        &["cancel", ec2, "--stack-name", &deployment.stack.name],
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].state.as_str(), actions[0].result.as_deref()),
        ("completed", Some("ABANDON"))
    );
    // ... with the drain's check deleted, as its audit entry says
    assert_eq!(
        schedule_names(&admin, &world.schedule_group).await?,
        Vec::<String>::new()
    );
    let drains = status(&deployment, &key, table)?;
    // (the refused attempt before it stays on the record too)
    assert_eq!(
        drains[0]["audit"]
            .as_array()
            .and_then(|audit| audit.last())
            .map(|entry| entry["what"].clone()),
        Some(serde_json::json!(
            "cancel: ACTIVE again, complete ABANDON; booked check deleted"
        )),
        "{drains}"
    );

    // AND the check grant is the stack's group's only: a schedule of another group can be
    // neither read nor deleted with it
    let scheduler = aws_sdk_scheduler::Client::new(&admin);
    scheduler
        .create_schedule_group()
        .name("other-checks")
        .send()
        .await?;
    scheduler
        .create_schedule()
        .name("not-ecs-drains")
        .group_name("other-checks")
        .schedule_expression("at(2030-01-01T00:00:00)")
        .flexible_time_window(
            FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()?,
        )
        .target(
            Target::builder()
                .arn("arn:aws:lambda:us-east-1:123456789012:function:someone-elses")
                .role_arn("arn:aws:iam::123456789012:role/someone-elses")
                .build()?,
        )
        .send()
        .await?;
    let oncall = aws_sdk_scheduler::Client::new(&deployment.emulator.sdk_config_as(
        &aws_credential_types::Credentials::new(&key.0, &key.1, None, None, "oncall"),
    ));
    let denied = oncall
        .delete_schedule()
        .name("not-ecs-drains")
        .group_name("other-checks")
        .send()
        .await;
    assert!(
        denied
            .as_ref()
            .err()
            .and_then(|error| error.as_service_error())
            .and_then(aws_sdk_scheduler::error::ProvideErrorMetadata::code)
            .is_some_and(|code| code.contains("AccessDenied")),
        "{denied:?}"
    );
    assert_eq!(
        schedule_names(&admin, "other-checks").await?,
        vec!["not-ecs-drains"]
    );
    Ok(())
}
