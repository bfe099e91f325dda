//! drainctl's managed policies from infra/template.yaml, with IAM enforced in the emulator: an
//! on-call user holding only DrainctlReadOnlyPolicy can read status, explain and doctor but
//! cannot act (one line naming the policy to attach); with DrainctlOperatorPolicy added it
//! can extend but not cancel (the claim is given back); with DrainctlCancelPolicy too it
//! cancels (the instance set ACTIVE, the action completed).

use std::process::{Command, Output, Stdio};

use drain_aws::app::App;
use drain_testkit::events::lifecycle_event;
use drain_testkit::{Deployment, KitError, WorldSpec};

type TestResult = Result<(), KitError>;

fn drainctl(
    deployment: &Deployment,
    key: &(String, String),
    args: &[&str],
) -> Result<Output, KitError> {
    Ok(Command::new(env!("CARGO_BIN_EXE_drainctl"))
        .env_clear()
        .env("AWS_ENDPOINT_URL", deployment.emulator.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws-credentials",
        )
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", &key.0)
        .env("AWS_SECRET_ACCESS_KEY", &key.1)
        .stdin(Stdio::null())
        .args(args)
        .output()?)
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
    drain_core::handler::handle_lifecycle(
        &app.drainer,
        &lifecycle_event(&action),
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
    let output = drainctl(&deployment, &key, &["cancel", ec2, "--table", table])?;
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("ecs:UpdateContainerInstancesState: access denied")
            && text.contains("DrainctlCancelPolicyArn"),
        "{text}"
    );
    assert_eq!(world.lifecycle_actions()?[0].state, "active");
    let output = drainctl(
        &deployment,
        &key,
        &["status", "--table", table, "--output", "json"],
    )?;
    let drains: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(
        drains[0]["status"], "DRAINING",
        "the claim was given back: {drains}"
    );

    // WHEN the cancel policy is attached as well, cancel works end to end
    iam.attach_user_policy()
        .user_name("oncall")
        .policy_arn(deployment.stack.output("DrainctlCancelPolicyArn")?)
        .send()
        .await?;
    let output = drainctl(&deployment, &key, &["cancel", ec2, "--table", table])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(world.instance_status(0).await?, "ACTIVE");
    let actions = world.lifecycle_actions()?;
    assert_eq!(
        (actions[0].state.as_str(), actions[0].result.as_deref()),
        ("completed", Some("ABANDON"))
    );
    Ok(())
}
