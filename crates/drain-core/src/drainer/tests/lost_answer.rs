//! Stories of lost answers around one drain: a completion that landed though its answer was
//! lost, and what a later call finding the action gone makes of it.

use super::*;
use crate::ports::{AsgInstanceState, GroupHooks};

/// The world's Auto Scaling, except that the next CompleteLifecycleAction takes effect and its
/// answer is lost (a timeout after the call landed): the caller sees an error.
struct CompletionAnswerLost {
    inner: MemoryHooks,
    lost: AtomicBool,
}

impl LifecycleHooks for CompletionAnswerLost {
    async fn complete(
        &self,
        action: &LifecycleActionRef,
        result: LifecycleResult,
    ) -> Result<ActionAnswer, DrainError> {
        let answer = self.inner.complete(action, result).await?;
        if !self.lost.swap(true, Ordering::SeqCst) {
            return Err(DrainError::transient(
                "autoscaling:CompleteLifecycleAction",
                "the answer timed out",
            ));
        }
        Ok(answer)
    }

    async fn heartbeat(&self, action: &LifecycleActionRef) -> Result<ActionAnswer, DrainError> {
        self.inner.heartbeat(action).await
    }

    async fn instance_state(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<AsgInstanceState>, DrainError> {
        self.inner.instance_state(instance).await
    }

    async fn heartbeat_timeout(
        &self,
        hook: &crate::ids::HookRef,
    ) -> Result<Option<i64>, DrainError> {
        self.inner.heartbeat_timeout(hook).await
    }

    async fn group_hooks(&self, hook: &crate::ids::HookRef) -> Result<GroupHooks, DrainError> {
        self.inner.group_hooks(hook).await
    }
}

#[tokio::test]
async fn an_action_gone_at_a_heartbeat_after_a_completion_whose_answer_was_lost_is_completed() {
    // GIVEN an empty instance whose completion lands but whose answer is lost
    let world = World::new();
    let drainer = Drainer::new(
        PortSet {
            cluster: world.cluster.clone(),
            hooks: CompletionAnswerLost {
                inner: world.hooks.clone(),
                lost: AtomicBool::new(false),
            },
            store: world.store.clone(),
            scheduler: world.scheduler.clone(),
            clock: Arc::clone(&world.clock),
        },
        world.config.clone(),
    );
    let failed = drainer.on_terminate(&world.notice, Mode::Live).await;
    assert!(failed.is_err(), "{failed:?}");
    assert_eq!(world.action().completions, 1);
    assert!(!world.action().active);
    assert!(world.record().completion_sent_at.is_some());
    // AND a task that the first census did not list yet (ListTasks is eventually consistent)
    world.run_task("web-1", "service:web");

    // WHEN the check looks again, waits for that task and heartbeats: no active action
    let outcome = world.fire_next_check().await;

    // THEN the sent completion was the one: the drain ended COMPLETED, not EXPIRED
    assert_eq!(
        outcome,
        Outcome::Decided(Decision::Finished {
            status: DrainStatus::Completed
        })
    );
    let record = world.record();
    assert_eq!(record.status, DrainStatus::Completed);
    assert_eq!(world.action().completions, 1);
    assert_eq!(world.booked_check(), None);
}
