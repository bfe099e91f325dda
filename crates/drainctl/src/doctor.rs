//! `drainctl doctor`: a read-only preflight of a cluster and its Auto Scaling groups. This
//! module only reads facts (ECS, ELBv2 target group attributes, Auto Scaling, the stack's
//! parameters); the rules are drain-core's `decision::preflight`.

use std::collections::BTreeSet;

use aws_config::SdkConfig;
use aws_sdk_autoscaling::types::RetentionAction;
use aws_sdk_ecs::types::{ContainerInstanceStatus, Resource, SchedulingStrategy};
use drain_aws::error::classify;
use drain_core::decision::DeadlinePolicy;
use drain_core::decision::preflight::{
    DEFAULT_STOP_TIMEOUT_SECONDS, GroupCheck, HookCheck, InstanceRoom, PreflightFacts,
    ServiceCheck, preflight,
};
use serde_json::json;

use crate::aws::Names;
use crate::failure::{Exit, Failure};
use crate::{Output, Printed, print};

/// DescribeServices and DescribeContainerInstances take at most this many names per call.
const ECS_BATCH: usize = 10;
/// DescribeAutoScalingInstances takes at most this many instance ids per call.
const ASG_BATCH: usize = 50;

/// What doctor was asked to look at.
pub(crate) struct Scope<'a> {
    /// The cluster (name or ARN).
    pub(crate) cluster: &'a str,
    /// The groups named on the command line; otherwise those of the cluster's instances.
    pub(crate) groups: &'a [String],
    /// ecs-drain's hook name, from the command line.
    pub(crate) hook: Option<&'a str>,
}

fn resource(resources: &[Resource], name: &str) -> i64 {
    resources
        .iter()
        .find(|resource| resource.name() == Some(name))
        .map_or(0, |resource| i64::from(resource.integer_value()))
}

/// The longest deregistration delay of `target_groups` (ELBv2 DescribeTargetGroupAttributes),
/// None when there are none.
async fn deregistration_delay(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    target_groups: &[String],
) -> Result<Option<i64>, Failure> {
    let mut longest = None;
    for arn in target_groups {
        let described = elb
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|error| {
                Failure::aws(
                    &classify("elasticloadbalancing:DescribeTargetGroupAttributes", error),
                    &format!("target group {arn}"),
                )
            })?;
        let delay = described
            .attributes()
            .iter()
            .find(|attribute| attribute.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|attribute| attribute.value())
            .and_then(|value| value.parse::<i64>().ok());
        longest = longest.max(delay);
    }
    Ok(longest)
}

async fn services(
    ecs: &aws_sdk_ecs::Client,
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
) -> Result<Vec<ServiceCheck>, Failure> {
    let subject = format!("cluster {cluster}");
    let arns: Vec<String> = ecs
        .list_services()
        .cluster(cluster)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|error| Failure::aws(&classify("ecs:ListServices", error), &subject))?;
    let mut checks = Vec::new();
    for batch in arns.chunks(ECS_BATCH) {
        let described = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|error| Failure::aws(&classify("ecs:DescribeServices", error), &subject))?;
        for service in described.services() {
            let stop_timeout = match service.task_definition() {
                Some(task_definition) => longest_stop_timeout(ecs, task_definition).await?,
                None => DEFAULT_STOP_TIMEOUT_SECONDS,
            };
            let target_groups: Vec<String> = service
                .load_balancers()
                .iter()
                .filter_map(|balancer| balancer.target_group_arn().map(str::to_owned))
                .collect();
            let deployment = service.deployment_configuration();
            checks.push(ServiceCheck {
                name: service.service_name().unwrap_or_default().to_owned(),
                daemon: service.scheduling_strategy() == Some(&SchedulingStrategy::Daemon),
                desired: service.desired_count(),
                // ECS's defaults for a replica service when the configuration leaves them out.
                minimum_healthy_percent: deployment
                    .and_then(|config| config.minimum_healthy_percent())
                    .unwrap_or(100),
                maximum_percent: deployment
                    .and_then(|config| config.maximum_percent())
                    .unwrap_or(200),
                longest_stop_timeout_seconds: stop_timeout,
                load_balanced: !service.load_balancers().is_empty(),
                // A classic load balancer (loadBalancerName) has no target group to read: the
                // rule then assumes ELBv2's default.
                deregistration_delay_seconds: deregistration_delay(elb, &target_groups).await?,
            });
        }
    }
    Ok(checks)
}

async fn longest_stop_timeout(
    ecs: &aws_sdk_ecs::Client,
    task_definition: &str,
) -> Result<i64, Failure> {
    let described = ecs
        .describe_task_definition()
        .task_definition(task_definition)
        .send()
        .await
        .map_err(|error| {
            Failure::aws(
                &classify("ecs:DescribeTaskDefinition", error),
                &format!("task definition {task_definition}"),
            )
        })?;
    Ok(described
        .task_definition()
        .map(|definition| {
            definition
                .container_definitions()
                .iter()
                .map(|container| {
                    container
                        .stop_timeout()
                        .map_or(DEFAULT_STOP_TIMEOUT_SECONDS, i64::from)
                })
                .max()
                .unwrap_or(DEFAULT_STOP_TIMEOUT_SECONDS)
        })
        .unwrap_or(DEFAULT_STOP_TIMEOUT_SECONDS))
}

async fn instances(ecs: &aws_sdk_ecs::Client, cluster: &str) -> Result<Vec<InstanceRoom>, Failure> {
    let subject = format!("cluster {cluster}");
    let arns: Vec<String> = ecs
        .list_container_instances()
        .cluster(cluster)
        .status(ContainerInstanceStatus::Active)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|error| Failure::aws(&classify("ecs:ListContainerInstances", error), &subject))?;
    let mut rooms = Vec::new();
    for batch in arns.chunks(ECS_BATCH) {
        let described = ecs
            .describe_container_instances()
            .cluster(cluster)
            .set_container_instances(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|error| {
                Failure::aws(&classify("ecs:DescribeContainerInstances", error), &subject)
            })?;
        for instance in described.container_instances() {
            let registered = instance.registered_resources();
            let remaining = instance.remaining_resources();
            rooms.push(InstanceRoom {
                ec2_instance_id: instance.ec2_instance_id().unwrap_or_default().to_owned(),
                used_cpu: resource(registered, "CPU") - resource(remaining, "CPU"),
                used_memory: resource(registered, "MEMORY") - resource(remaining, "MEMORY"),
                free_cpu: resource(remaining, "CPU"),
                free_memory: resource(remaining, "MEMORY"),
            });
        }
    }
    Ok(rooms)
}

async fn group_names(
    autoscaling: &aws_sdk_autoscaling::Client,
    rooms: &[InstanceRoom],
) -> Result<Vec<String>, Failure> {
    let ids: Vec<String> = rooms
        .iter()
        .map(|room| room.ec2_instance_id.clone())
        .filter(|id| !id.is_empty())
        .collect();
    let mut names = BTreeSet::new();
    for batch in ids.chunks(ASG_BATCH) {
        let described = autoscaling
            .describe_auto_scaling_instances()
            .set_instance_ids(Some(batch.to_vec()))
            .send()
            .await
            .map_err(|error| {
                Failure::aws(
                    &classify("autoscaling:DescribeAutoScalingInstances", error),
                    "the cluster's instances",
                )
            })?;
        for instance in described.auto_scaling_instances() {
            if let Some(name) = instance.auto_scaling_group_name() {
                names.insert(name.to_owned());
            }
        }
    }
    Ok(names.into_iter().collect())
}

async fn groups(
    autoscaling: &aws_sdk_autoscaling::Client,
    names: &[String],
) -> Result<Vec<GroupCheck>, Failure> {
    let mut checks = Vec::new();
    for name in names {
        let subject = format!("group {name}");
        let described = autoscaling
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|error| {
                Failure::aws(
                    &classify("autoscaling:DescribeAutoScalingGroups", error),
                    &subject,
                )
            })?;
        let Some(group) = described.auto_scaling_groups().first() else {
            return Err(Failure::new(
                Exit::Aws,
                format!("group {name} does not exist in this region"),
                "check --asg and --region",
            ));
        };
        let retains_abandoned = group
            .instance_lifecycle_policy()
            .and_then(|policy| policy.retention_triggers())
            .and_then(|triggers| triggers.terminate_hook_abandon())
            == Some(&RetentionAction::Retain);
        let hooks = autoscaling
            .describe_lifecycle_hooks()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(|error| {
                Failure::aws(
                    &classify("autoscaling:DescribeLifecycleHooks", error),
                    &subject,
                )
            })?;
        checks.push(GroupCheck {
            name: name.clone(),
            hooks: hooks
                .lifecycle_hooks()
                .iter()
                .map(|hook| HookCheck {
                    name: hook.lifecycle_hook_name().unwrap_or_default().to_owned(),
                    transition: hook.lifecycle_transition().unwrap_or_default().to_owned(),
                    default_result: hook.default_result().unwrap_or("ABANDON").to_owned(),
                    heartbeat_timeout_seconds: hook.heartbeat_timeout().map_or(3600, i64::from),
                })
                .collect(),
            retains_abandoned,
        });
    }
    Ok(checks)
}

/// Reads the facts, applies the rules, prints the findings; exits 4 when there are any.
pub(crate) async fn doctor(
    output: Output,
    sdk: &SdkConfig,
    names: &Names,
    scope: Scope<'_>,
) -> Result<Exit, Failure> {
    let ecs = aws_sdk_ecs::Client::new(sdk);
    let autoscaling = aws_sdk_autoscaling::Client::new(sdk);
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(sdk);
    let mut notes = Vec::new();
    let services = services(&ecs, &elb, scope.cluster).await?;
    let rooms = instances(&ecs, scope.cluster).await?;
    let group_names = if scope.groups.is_empty() {
        group_names(&autoscaling, &rooms).await?
    } else {
        scope.groups.to_vec()
    };
    if group_names.is_empty() {
        notes
            .push("no Auto Scaling group found for the cluster's instances: pass --asg".to_owned());
    }
    let deadline_policy = match names.parameter("DeadlinePolicy") {
        Some("abandon") => Some(DeadlinePolicy::Abandon),
        Some("continue") => Some(DeadlinePolicy::Continue),
        _ => {
            notes.push("deadline policy unknown: pass --stack-name to check it against the groups' retention policy".to_owned());
            None
        }
    };
    let facts = PreflightFacts {
        services,
        groups: groups(&autoscaling, &group_names).await?,
        instances: rooms,
        hook_name: scope
            .hook
            .or_else(|| names.parameter("HookName"))
            .map(str::to_owned),
        deadline_policy,
    };
    let findings = preflight(&facts);
    let mut text: Vec<String> = Vec::new();
    if findings.is_empty() {
        text.push(format!(
            "no findings for cluster {} ({} service(s), {} instance(s), group(s) {})",
            scope.cluster,
            facts.services.len(),
            facts.instances.len(),
            if group_names.is_empty() {
                "none".to_owned()
            } else {
                group_names.join(", ")
            }
        ));
    }
    for finding in &findings {
        text.push(format!(
            "{:<8}  {}  {}",
            format!("{:?}", finding.severity).to_uppercase(),
            finding.code,
            finding.subject
        ));
        text.push(format!("  problem: {}", finding.problem));
        text.push(format!("  fix:     {}", finding.fix));
    }
    for note in &notes {
        text.push(format!("note: {note}"));
    }
    print(
        output,
        &Printed {
            text: text.join("\n"),
            json: json!({
                "cluster": scope.cluster,
                "groups": group_names,
                "findings": findings,
                "notes": notes,
            }),
        },
    );
    Ok(if findings.is_empty() {
        Exit::Ok
    } else {
        Exit::Findings
    })
}
