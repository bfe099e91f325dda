//! The AWS side of drainctl: the SDK configuration (standard region and profile resolution,
//! `--region` and `--profile` on top), the stack's outputs, and the caller's identity.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use drain_aws::error::classify;
use drain_aws::sdk::{retry_config, timeout_config};

use crate::failure::{Exit, Failure};

/// The stack outputs drainctl reads (infra/template.yaml, Outputs).
pub(crate) const OUTPUT_TABLE: &str = "TableName";
/// The archive StartReplay replays.
pub(crate) const OUTPUT_ARCHIVE: &str = "ArchiveArn";
/// The group of the drains' scheduled checks (an ended drain's is deleted).
pub(crate) const OUTPUT_SCHEDULE_GROUP: &str = "ScheduleGroupName";
/// The rules whose events a replay re-delivers (StartReplay's FilterArns): every rule whose
/// events the archive keeps. Without InstanceDrainingRuleArn a replay would re-deliver the
/// STOPPED events but not the DRAINING instances' state changes that prompt a look.
/// LaunchRuleArn is an output only with LaunchReadiness on; an absent output is left out.
pub(crate) const OUTPUT_RULES: [&str; 4] = [
    "LifecycleRuleArn",
    "TaskStoppedRuleArn",
    "InstanceDrainingRuleArn",
    "LaunchRuleArn",
];

/// Loads the SDK configuration; a missing region is a configuration error said at once rather
/// than an obscure endpoint failure on the first call.
pub(crate) async fn sdk_config(
    region: Option<&str>,
    profile: Option<&str>,
) -> Result<SdkConfig, Failure> {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .timeout_config(timeout_config());
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_owned()));
    }
    let sdk = loader.load().await;
    if sdk.region().is_none() {
        return Err(Failure::new(
            Exit::Aws,
            "no AWS region is configured",
            "pass --region, set AWS_REGION, or set region in the profile",
        ));
    }
    Ok(sdk)
}

/// What the stack tells drainctl: the table, the archive and rules for replay, the parameters
/// for doctor. Empty without `--stack-name`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Names {
    /// The drain table (the stack's TableName output).
    pub(crate) table: Option<String>,
    /// The stack's parameters (HookName, DeadlinePolicy, ...), when a stack was named.
    pub(crate) parameters: Vec<(String, String)>,
    /// The stack's event archive, when a stack was named.
    pub(crate) archive: Option<String>,
    /// The stack's rules, when a stack was named.
    pub(crate) rules: Vec<String>,
    /// The schedule group of the drains' checks, when a stack was named.
    pub(crate) schedule_group: Option<String>,
}

impl Names {
    /// A stack parameter's value.
    pub(crate) fn parameter(&self, key: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// The names in stack `stack`'s outputs and its parameters (CloudFormation DescribeStacks).
pub(crate) async fn from_stack(sdk: &SdkConfig, stack: &str) -> Result<Names, Failure> {
    let client = aws_sdk_cloudformation::Client::new(sdk);
    let answer = client.describe_stacks().stack_name(stack).send().await;
    let described = match answer {
        Ok(described) => described,
        // CloudFormation answers a missing stack with a ValidationError.
        Err(error)
            if error
                .as_service_error()
                .and_then(aws_sdk_cloudformation::error::ProvideErrorMetadata::message)
                .is_some_and(|message| message.contains("does not exist")) =>
        {
            return Err(Failure::new(
                Exit::Aws,
                format!("stack {stack} does not exist in this region"),
                "check --stack-name and --region (or --profile)",
            ));
        }
        Err(error) => {
            return Err(Failure::aws(
                &classify("cloudformation:DescribeStacks", error),
                &format!("stack {stack}"),
            ));
        }
    };
    let Some(found) = described.stacks().first() else {
        return Err(Failure::new(
            Exit::Aws,
            format!("stack {stack} does not exist in this region"),
            "check --stack-name and --region (or --profile)",
        ));
    };
    let parameters: Vec<(String, String)> = found
        .parameters()
        .iter()
        .filter_map(|parameter| {
            Some((
                parameter.parameter_key()?.to_owned(),
                parameter.parameter_value()?.to_owned(),
            ))
        })
        .collect();
    let output = |key: &str| {
        found
            .outputs()
            .iter()
            .find(|output| output.output_key() == Some(key))
            .and_then(|output| output.output_value())
            .map(str::to_owned)
    };
    Ok(Names {
        table: output(OUTPUT_TABLE),
        parameters,
        archive: output(OUTPUT_ARCHIVE),
        rules: OUTPUT_RULES.iter().filter_map(|key| output(key)).collect(),
        schedule_group: output(OUTPUT_SCHEDULE_GROUP),
    })
}

/// The caller's identity ARN (STS GetCallerIdentity): who an audit entry names.
pub(crate) async fn caller_arn(sdk: &SdkConfig) -> Result<String, Failure> {
    let answer = aws_sdk_sts::Client::new(sdk)
        .get_caller_identity()
        .send()
        .await
        .map_err(|error| Failure::aws(&classify("sts:GetCallerIdentity", error), "identity"))?;
    answer.arn().map(str::to_owned).ok_or_else(|| {
        Failure::new(
            Exit::Aws,
            "sts:GetCallerIdentity answered without an ARN",
            "run with --debug",
        )
    })
}
