//! The ECS adapter: finding container instances, draining them, and the census.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{ContainerInstanceStatus, DesiredStatus};
use drain_core::DrainError;
use drain_core::census::{
    DescribedTask, ListedTasks, SchedulingStrategy, ServiceFacts, TaskFailure, TaskListing,
    TaskStatus,
};
use drain_core::error::DeploymentProblem;
use drain_core::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, TaskArn, quoted};
use drain_core::ports::{Cluster, ContainerInstance, EcsInstanceStatus};
use tracing::{debug, warn};

use crate::error::{classify, code_of, deployment_error, message_of};

/// ListTasks and DescribeTasks both take at most 100 per call.
const PAGE: usize = 100;
/// DescribeServices takes at most 10 services per call.
const SERVICES_PER_CALL: usize = 10;
/// StopTask's reason is at most 255 characters.
const MAX_REASON: usize = 255;

/// Every item of a paginated ECS listing `request`, asked for `PAGE` per call: the future of
/// the SDK's answer, the error left for the caller to read. A macro because each listing's
/// paginator is its own type, with no trait in common.
macro_rules! every_item {
    ($request:expr) => {
        $request
            .into_paginator()
            .page_size(PAGE as i32)
            .items()
            .send()
            .collect::<Result<Vec<String>, _>>()
    };
}

/// What a DescribeTasks answer reports, field by field (the statuses parsed, nothing
/// interpreted): drain-core reads it ([`TaskListing::read`]).
fn listing_of(
    described: &aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput,
) -> TaskListing {
    TaskListing {
        tasks: described
            .tasks()
            .iter()
            .map(|task| DescribedTask {
                arn: task.task_arn().map(str::to_owned),
                group: task.group().map(str::to_owned),
                started_by: task.started_by().map(str::to_owned),
                last_status: task.last_status().map(TaskStatus::parse),
                desired_status: task.desired_status().map(TaskStatus::parse),
            })
            .collect(),
        failures: described
            .failures()
            .iter()
            .map(|failure| TaskFailure {
                arn: failure.arn().map(str::to_owned),
                reason: failure.reason().map(str::to_owned),
                detail: failure.detail().map(str::to_owned),
            })
            .collect(),
    }
}

/// [`Cluster`] over the ECS API.
#[derive(Clone, Debug)]
pub struct EcsCluster {
    client: Client,
}

impl EcsCluster {
    /// Wraps an ECS client.
    pub fn new(client: Client) -> Self {
        EcsCluster { client }
    }

    async fn all_clusters(&self) -> Result<Vec<String>, DrainError> {
        every_item!(self.client.list_clusters())
            .await
            .map_err(|error| classify("ecs:ListClusters", error))
    }

    async fn cluster_arn(
        &self,
        cluster: &str,
        instance: &ContainerInstanceArn,
    ) -> Result<ClusterArn, DrainError> {
        if let Ok(arn) = ClusterArn::new(cluster) {
            return Ok(arn);
        }
        // Long-format container instance ARNs name their cluster: derive its ARN without a call.
        if let Some((prefix, rest)) = instance.as_str().split_once(":container-instance/")
            && let Some((name, _id)) = rest.split_once('/')
            && name == cluster
            && let Ok(arn) = ClusterArn::new(format!("{prefix}:cluster/{name}"))
        {
            return Ok(arn);
        }
        let described = self
            .client
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|error| classify("ecs:DescribeClusters", error))?;
        described
            .clusters()
            .iter()
            .find_map(|found| found.cluster_arn())
            .and_then(|arn| ClusterArn::new(arn).ok())
            .ok_or_else(|| {
                DrainError::permanent(
                    "ecs:DescribeClusters",
                    format!("cluster {cluster} not found"),
                )
            })
    }
}

impl EcsCluster {
    /// UpdateContainerInstancesState for one instance; a per-instance failure is an error.
    async fn set_status(
        &self,
        instance: &ContainerInstance,
        status: ContainerInstanceStatus,
    ) -> Result<(), DrainError> {
        let output = self
            .client
            .update_container_instances_state()
            .cluster(instance.cluster_arn.as_str())
            .container_instances(instance.arn.as_str())
            .status(status)
            .send()
            .await
            .map_err(|error| classify("ecs:UpdateContainerInstancesState", error))?;
        match output.failures().first() {
            None => Ok(()),
            Some(failure) => Err(DrainError::permanent(
                "ecs:UpdateContainerInstancesState",
                format!(
                    "{}: {}",
                    quoted(failure.reason().unwrap_or("failure")),
                    quoted(failure.detail().unwrap_or_default())
                ),
            )),
        }
    }
}

impl Cluster for EcsCluster {
    async fn find_container_instance(
        &self,
        clusters: &[String],
        ec2: &Ec2InstanceId,
    ) -> Result<Option<ContainerInstance>, DrainError> {
        let configured = !clusters.is_empty();
        let clusters = if configured {
            clusters.to_vec()
        } else {
            self.all_clusters().await?
        };
        // The cluster query language matches on the instance id server-side; INACTIVE
        // instances are not listed by default, which is what we want (nothing to drain).
        let filter = format!("ec2InstanceId == {ec2}");
        for cluster in &clusters {
            let request = self
                .client
                .list_container_instances()
                .cluster(cluster)
                .filter(&filter);
            let arns = every_item!(request).await;
            let arns = match arns {
                Ok(arns) => arns,
                // A cluster the account listed a moment ago may have been deleted since: skip it.
                Err(error)
                    if code_of(&error) == Some("ClusterNotFoundException") && !configured =>
                {
                    warn!(cluster = %cluster, "cluster not found; skipped");
                    continue;
                }
                // A configured cluster that does not exist is a deployment error: the instance
                // may well be in it, so skipping would let it terminate undrained.
                Err(error) if code_of(&error) == Some("ClusterNotFoundException") => {
                    return Err(deployment_error(
                        "ecs:ListContainerInstances",
                        DeploymentProblem::MissingResource,
                        format!("configured cluster {cluster} not found"),
                        error,
                    ));
                }
                Err(error) => return Err(classify("ecs:ListContainerInstances", error)),
            };
            let Some(arn) = arns.into_iter().next() else {
                continue;
            };
            let arn = ContainerInstanceArn::new(arn).map_err(|error| DrainError::Permanent {
                operation: "ecs:ListContainerInstances",
                source: Box::new(error),
            })?;
            let described = self
                .client
                .describe_container_instances()
                .cluster(cluster)
                .container_instances(arn.as_str())
                .send()
                .await
                .map_err(|error| classify("ecs:DescribeContainerInstances", error))?;
            let Some(found) = described.container_instances().first() else {
                continue;
            };
            if found.ec2_instance_id() != Some(ec2.as_str()) {
                // A filter that matched the wrong instance must never drain it.
                return Err(DrainError::permanent(
                    "ecs:ListContainerInstances",
                    format!(
                        "filter {filter:?} returned an instance of {}",
                        quoted(found.ec2_instance_id().unwrap_or_default())
                    ),
                ));
            }
            return Ok(Some(ContainerInstance {
                cluster_arn: self.cluster_arn(cluster, &arn).await?,
                arn,
                ec2_instance_id: ec2.clone(),
                status: EcsInstanceStatus::parse(found.status().unwrap_or("UNKNOWN")),
                agent_connected: found.agent_connected(),
            }));
        }
        Ok(None)
    }

    async fn set_draining(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.set_status(instance, ContainerInstanceStatus::Draining)
            .await
    }

    async fn set_active(&self, instance: &ContainerInstance) -> Result<(), DrainError> {
        self.set_status(instance, ContainerInstanceStatus::Active)
            .await
    }

    async fn list_tasks_on(
        &self,
        cluster: &ClusterArn,
        instance: &ContainerInstanceArn,
    ) -> Result<ListedTasks, DrainError> {
        // RUNNING first, then STOPPED: desiredStatus only ever moves RUNNING → STOPPED, so a task
        // that flips between the two listings is caught by the first. The other order could
        // miss it in both.
        let mut listed = ListedTasks::default();
        for (desired, arns) in [
            (DesiredStatus::Running, &mut listed.running),
            (DesiredStatus::Stopped, &mut listed.stopped),
        ] {
            let request = self
                .client
                .list_tasks()
                .cluster(cluster.as_str())
                .container_instance(instance.as_str())
                .desired_status(desired);
            let page = every_item!(request)
                .await
                .map_err(|error| classify("ecs:ListTasks", error))?;
            arns.extend(page);
        }
        Ok(listed)
    }

    async fn describe_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[String],
    ) -> Result<TaskListing, DrainError> {
        let mut listing = TaskListing::default();
        for chunk in tasks.chunks(PAGE) {
            let described = self
                .client
                .describe_tasks()
                .cluster(cluster.as_str())
                .set_tasks(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|error| classify("ecs:DescribeTasks", error))?;
            let page = listing_of(&described);
            listing.tasks.extend(page.tasks);
            listing.failures.extend(page.failures);
        }
        Ok(listing)
    }

    async fn services(
        &self,
        cluster: &ClusterArn,
        names: &[String],
    ) -> Result<Vec<ServiceFacts>, DrainError> {
        let mut facts = Vec::with_capacity(names.len());
        for chunk in names.chunks(SERVICES_PER_CALL) {
            let described = self
                .client
                .describe_services()
                .cluster(cluster.as_str())
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|error| classify("ecs:DescribeServices", error))?;
            for service in described.services() {
                let Some(name) = service.service_name() else {
                    continue;
                };
                let deployment = service.deployment_configuration();
                facts.push(ServiceFacts {
                    name: name.to_owned(),
                    scheduling_strategy: service
                        .scheduling_strategy()
                        .map(|strategy| SchedulingStrategy::from(strategy.as_str())),
                    minimum_healthy_percent: deployment
                        .and_then(|config| config.minimum_healthy_percent()),
                    maximum_percent: deployment.and_then(|config| config.maximum_percent()),
                });
            }
        }
        Ok(facts)
    }

    async fn daemon_services(&self, cluster: &ClusterArn) -> Result<Vec<String>, DrainError> {
        let request = self
            .client
            .list_services()
            .cluster(cluster.as_str())
            .scheduling_strategy(aws_sdk_ecs::types::SchedulingStrategy::Daemon);
        let arns = every_item!(request)
            .await
            .map_err(|error| classify("ecs:ListServices", error))?;
        // `arn:...:service/<cluster>/<name>` (or the old `service/<name>`): the name is last,
        // and it is what a task's `group` (`service:<name>`) carries.
        Ok(arns
            .iter()
            .filter_map(|arn| arn.rsplit('/').next())
            .map(str::to_owned)
            .collect())
    }

    async fn stop_tasks(
        &self,
        cluster: &ClusterArn,
        tasks: &[TaskArn],
        reason: &str,
    ) -> Result<(), DrainError> {
        let reason: String = reason.chars().take(MAX_REASON).collect();
        for task in tasks {
            let stopped = self
                .client
                .stop_task()
                .cluster(cluster.as_str())
                .task(task.as_str())
                .reason(&reason)
                .send()
                .await;
            match stopped {
                Ok(_) => {}
                // Already gone: the goal of stopping it is met.
                Err(error)
                    if code_of(&error) == Some("InvalidParameterException")
                        && message_of(&error)
                            .is_some_and(|message| message.contains("not found")) =>
                {
                    debug!(task = %task, "task already gone");
                }
                Err(error) => return Err(classify("ecs:StopTask", error)),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::operation::describe_tasks::DescribeTasksOutput;
    use aws_sdk_ecs::types::{Failure, Task};

    use super::*;

    const TASK: &str =
        "arn:aws:ecs:us-east-1:123456789012:task/prod/0d7e5f3a9c1b4e2d8f6a0b3c5d7e9f1a";

    #[test]
    fn a_described_task_is_reported_field_by_field() {
        let described = DescribeTasksOutput::builder()
            .tasks(
                Task::builder()
                    .task_arn(TASK)
                    .group("service:web")
                    .started_by("ecs-svc/1234567890")
                    .last_status("DEPROVISIONING")
                    .desired_status("STOPPED")
                    .build(),
            )
            .build();
        let listing = listing_of(&described);
        assert_eq!(
            listing.tasks,
            vec![DescribedTask {
                arn: Some(TASK.into()),
                group: Some("service:web".into()),
                started_by: Some("ecs-svc/1234567890".into()),
                last_status: Some(TaskStatus::Deprovisioning),
                desired_status: Some(TaskStatus::Stopped),
            }]
        );
        assert!(listing.failures.is_empty());
    }

    #[test]
    fn failures_and_missing_fields_are_reported_not_interpreted() {
        let described = DescribeTasksOutput::builder()
            .tasks(Task::builder().task_arn(TASK).build())
            .failures(
                Failure::builder()
                    .arn(TASK)
                    .reason("SERVICE_UNAVAILABLE")
                    .detail("try again")
                    .build(),
            )
            .build();
        let listing = listing_of(&described);
        assert_eq!(
            listing.tasks[0].last_status, None,
            "no status reported: the adapter makes none up"
        );
        assert_eq!(
            listing.failures,
            vec![TaskFailure {
                arn: Some(TASK.into()),
                reason: Some("SERVICE_UNAVAILABLE".into()),
                detail: Some("try again".into())
            }]
        );
    }
}
