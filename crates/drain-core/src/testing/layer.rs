//! One delegating wrapper for every port: [`Layered`] passes each call on to the port it wraps,
//! after asking its [`Layer`]. A test wrapper (a fault injected on one AWS operation, a pause
//! before each call) is then a `Layer` saying only what it does, instead of a fresh
//! implementation of all four port traits that forwards most calls by hand.
//!
//! Every method of every port goes through, the launch-readiness ones included, so a layered
//! port answers as the port it wraps does wherever the layer lets the call pass.

use std::future::Future;

use crate::census::{ListedTasks, ServiceFacts, TaskListing};
use crate::error::DrainError;
use crate::ids::TaskArn;
use crate::ids::{ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookRef, LifecycleActionRef};
use crate::launch_record::LaunchRecord;
use crate::ports::{
    ActionAnswer, AsgInstanceState, CheckScheduler, Cluster, ContainerInstance, DrainStore,
    GroupHooks, InsertOutcome, LifecycleHooks, WriteOutcome,
};
use crate::record::{DrainRecord, LifecycleResult};
use crate::time::Timestamp;

/// What a [`Layered`] port asks before each call.
pub trait Layer: Send + Sync {
    /// Runs before a call reaches the inner port. `operations` are the AWS operations the call
    /// stands for, as IAM names them (the AWS adapter's, e.g. ListContainerInstances and
    /// DescribeContainerInstances for finding an instance); an error answers the call in its
    /// place and the inner port is not called.
    fn before(
        &self,
        operations: &'static [&'static str],
    ) -> impl Future<Output = Result<(), DrainError>> + Send;
}

/// `inner`, every call first put to `layer`.
#[derive(Clone, Debug)]
pub struct Layered<P, L> {
    /// The port that answers.
    pub inner: P,
    /// What is asked first.
    pub layer: L,
}

impl<P, L> Layered<P, L> {
    /// `inner` behind `layer`.
    pub fn new(inner: P, layer: L) -> Self {
        Layered { inner, layer }
    }
}

impl<P: Send + Sync, L: Layer> Layered<P, L> {
    /// Asks the layer, then runs `call` (the inner port's future, which does nothing until
    /// awaited, so a refused call never reaches the inner port).
    async fn pass<T>(
        &self,
        operations: &'static [&'static str],
        call: impl Future<Output = Result<T, DrainError>>,
    ) -> Result<T, DrainError> {
        self.layer.before(operations).await?;
        call.await
    }
}

/// Each listed method of a port trait, passed on to `inner` once the layer lets `operations`
/// through: `method(argument: Type, ...) -> Answer = operations;`. A table, because every
/// method is passed on the same way and only the names differ.
macro_rules! pass_on {
    ($($method:ident($($argument:ident: $type:ty),*) -> $answer:ty = $operations:expr;)*) => {
        $(
            async fn $method(&self, $($argument: $type),*) -> Result<$answer, DrainError> {
                self.pass($operations, self.inner.$method($($argument),*)).await
            }
        )*
    };
}

impl<C: Cluster, L: Layer> Cluster for Layered<C, L> {
    pass_on! {
        find_container_instance(clusters: &[String], ec2: &Ec2InstanceId)
            -> Option<ContainerInstance>
            = &["ecs:ListContainerInstances", "ecs:DescribeContainerInstances"];
        set_draining(instance: &ContainerInstance) -> () = &[UPDATE_STATE];
        set_active(instance: &ContainerInstance) -> () = &[UPDATE_STATE];
        list_tasks_on(cluster: &ClusterArn, instance: &ContainerInstanceArn)
            -> ListedTasks
            = &["ecs:ListTasks"];
        describe_tasks(cluster: &ClusterArn, tasks: &[String])
            -> TaskListing
            = &["ecs:DescribeTasks"];
        services(cluster: &ClusterArn, names: &[String])
            -> Vec<ServiceFacts>
            = &["ecs:DescribeServices"];
        stop_tasks(cluster: &ClusterArn, tasks: &[TaskArn], reason: &str)
            -> ()
            = &["ecs:StopTask"];
        daemon_services(cluster: &ClusterArn) -> Vec<String> = &["ecs:ListServices"];
    }
}

impl<H: LifecycleHooks, L: Layer> LifecycleHooks for Layered<H, L> {
    pass_on! {
        complete(action: &LifecycleActionRef, result: LifecycleResult)
            -> ActionAnswer
            = &["autoscaling:CompleteLifecycleAction"];
        heartbeat(action: &LifecycleActionRef)
            -> ActionAnswer
            = &["autoscaling:RecordLifecycleActionHeartbeat"];
        instance_state(instance: &Ec2InstanceId)
            -> Option<AsgInstanceState>
            = &["autoscaling:DescribeAutoScalingInstances"];
        heartbeat_timeout(hook: &HookRef) -> Option<i64> = &[DESCRIBE_HOOKS];
        group_hooks(hook: &HookRef) -> GroupHooks = &[DESCRIBE_HOOKS];
    }
}

impl<S: DrainStore, L: Layer> DrainStore for Layered<S, L> {
    pass_on! {
        load(instance: &ContainerInstanceArn) -> Option<DrainRecord> = &[GET];
        insert(record: &DrainRecord) -> InsertOutcome = &[PUT];
        replace(record: &DrainRecord, expected_revision: u64) -> WriteOutcome = &[PUT];
        load_launch(instance: &Ec2InstanceId) -> Option<LaunchRecord> = &[GET];
        insert_launch(record: &LaunchRecord) -> WriteOutcome = &[PUT];
        replace_launch(record: &LaunchRecord, expected_revision: u64) -> WriteOutcome = &[PUT];
    }
}

impl<Q: CheckScheduler, L: Layer> CheckScheduler for Layered<Q, L> {
    pass_on! {
        schedule(instance: &ContainerInstanceArn, at: Timestamp) -> () = &[CREATE_SCHEDULE];
        cancel(instance: &ContainerInstanceArn) -> () = &[DELETE_SCHEDULE];
        schedule_launch(instance: &Ec2InstanceId, at: Timestamp) -> () = &[CREATE_SCHEDULE];
    }
}

/// The operations more than one method stands for.
const UPDATE_STATE: &str = "ecs:UpdateContainerInstancesState";
const DESCRIBE_HOOKS: &str = "autoscaling:DescribeLifecycleHooks";
const GET: &str = "dynamodb:GetItem";
const PUT: &str = "dynamodb:PutItem";
const CREATE_SCHEDULE: &str = "scheduler:CreateSchedule";
const DELETE_SCHEDULE: &str = "scheduler:DeleteSchedule";

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::testing::memory::{CallLog, MemoryStore};
    use crate::testing::sample;

    /// Refuses every call, remembering what it was asked.
    #[derive(Default)]
    struct Refuse(Arc<Mutex<Vec<&'static str>>>);

    impl Layer for Refuse {
        async fn before(&self, operations: &'static [&'static str]) -> Result<(), DrainError> {
            self.0.lock().expect("not poisoned").extend(operations);
            Err(DrainError::permanent(operations[0], "refused by the layer"))
        }
    }

    /// Lets every call pass.
    struct Pass;

    impl Layer for Pass {
        async fn before(&self, _operations: &'static [&'static str]) -> Result<(), DrainError> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_call_the_layer_refuses_never_reaches_the_inner_port() {
        // GIVEN a store behind a layer that refuses everything
        let log = CallLog::default();
        let store = Layered::new(MemoryStore::new(log.clone()), Refuse::default());
        let record = sample::drain_record();

        // WHEN the drainer writes a record
        let answer = store.insert(&record).await;

        // THEN the layer's error is the answer, named for the operation, and nothing was written
        assert_eq!(answer.expect_err("refused").operation(), "dynamodb:PutItem");
        assert_eq!(
            *store.layer.0.lock().expect("not poisoned"),
            ["dynamodb:PutItem"]
        );
        assert_eq!(log.calls(), Vec::<&str>::new());
        assert!(store.inner.all().is_empty());
    }

    #[tokio::test]
    async fn a_call_the_layer_lets_pass_is_answered_by_the_inner_port() {
        // GIVEN a store behind a layer that lets everything pass
        let log = CallLog::default();
        let store = Layered::new(MemoryStore::new(log.clone()), Pass);
        let record = sample::drain_record();

        // WHEN the same record is inserted twice
        let first = store.insert(&record).await;
        let second = store.insert(&record).await;

        // THEN the inner store's conditions answer: inserted once, then the record on file
        assert!(matches!(first, Ok(InsertOutcome::Inserted)));
        assert_eq!(
            second.ok(),
            Some(InsertOutcome::Exists(Box::new(record.clone())))
        );
        assert_eq!(log.count("dynamodb:PutItem"), 2);
        assert_eq!(
            store.inner.get(&record.container_instance_arn),
            Some(record)
        );
    }
}
