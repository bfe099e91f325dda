//! The EventBridge Scheduler adapter: one one-shot schedule per drain, invoking the
//! lifecycle function with a check payload. Not a poll: a drain that ends leaves at most its
//! one pending check, which fires once, finds the drain ended and is deleted by the scheduler.

use std::sync::OnceLock;

use aws_sdk_scheduler::Client;
use aws_sdk_scheduler::types::{
    ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};
use drain_core::DrainError;
use drain_core::event::CHECK_KEY;
use drain_core::event::launch::LAUNCH_CHECK_KEY;
use drain_core::ids::{ContainerInstanceArn, Ec2InstanceId};
use drain_core::ports::CheckScheduler;
use drain_core::time::Timestamp;

use tracing::warn;

use crate::error::{classify, code_of};

/// EventBridge Scheduler's longest schedule name.
const MAX_SCHEDULE_NAME: usize = 64;

/// [`CheckScheduler`] over EventBridge Scheduler.
#[derive(Debug)]
pub struct EventBridgeCheckScheduler {
    client: Client,
    group: String,
    role_arn: String,
    target_arn: OnceLock<String>,
    dead_letter_arn: Option<String>,
}

impl EventBridgeCheckScheduler {
    /// Schedules in `group`, invoked with `role_arn`. The target is set with
    /// [`Self::target`] (from config) or [`Self::default_target`] (the running function).
    pub fn new(client: Client, group: impl Into<String>, role_arn: impl Into<String>) -> Self {
        EventBridgeCheckScheduler {
            client,
            group: group.into(),
            role_arn: role_arn.into(),
            target_arn: OnceLock::new(),
            dead_letter_arn: None,
        }
    }

    /// Gives every schedule a dead-letter queue: an invocation the scheduler drops (the target
    /// refused it, or its retries ran out) lands there instead of vanishing.
    pub fn dead_letter(mut self, queue_arn: impl Into<String>) -> Self {
        self.dead_letter_arn = Some(queue_arn.into());
        self
    }

    /// Fixes what the schedules invoke.
    pub fn target(self, arn: impl Into<String>) -> Self {
        let _ = self.target_arn.set(arn.into());
        self
    }

    /// Sets the target if none is set yet: the binaries pass the invoked function's ARN.
    pub fn default_target(&self, arn: &str) {
        let _ = self.target_arn.set(arn.to_owned());
    }

    /// The schedule's name, derived from the whole container instance ARN so that two ARNs
    /// never share a schedule: `drain-`, 20 hex digits of the ARN's SHA-256, `-`, and the
    /// container instance id (cut to fit). Names allow 64 characters of `[0-9a-zA-Z-_.]`; the
    /// id is validated to `[A-Za-z0-9-]` at the edge. A drain books, moves (and drainctl
    /// deletes) only this name: the schedule of exactly its ARN, never a live drain's of a
    /// look-alike ARN.
    pub fn schedule_name(instance: &ContainerInstanceArn) -> String {
        use sha2::{Digest, Sha256};
        const PREFIX: &str = "drain-";
        const HASH_DIGITS: usize = 20;
        let digest = Sha256::digest(instance.as_str().as_bytes());
        let hash: String = digest
            .iter()
            .take(HASH_DIGITS / 2)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let room = MAX_SCHEDULE_NAME - PREFIX.len() - HASH_DIGITS - 1;
        let id: String = instance
            .id()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(room)
            .collect();
        format!("{PREFIX}{hash}-{id}")
    }

    /// The name of a pending launch's check: `launch-` and the EC2 instance id (validated to
    /// `i-` and hex digits at the edge, so at most 26 characters).
    pub fn launch_schedule_name(instance: &Ec2InstanceId) -> String {
        format!("launch-{instance}")
    }

    fn request_parts(
        &self,
        input: String,
        at: Timestamp,
    ) -> Result<(String, Target, FlexibleTimeWindow), DrainError> {
        let target_arn = self.target_arn.get().ok_or_else(|| {
            DrainError::permanent(
                "scheduler:CreateSchedule",
                "no target ARN for scheduled checks",
            )
        })?;
        let target = Target::builder()
            .arn(target_arn)
            .role_arn(&self.role_arn)
            .input(input)
            .set_dead_letter_config(
                self.dead_letter_arn
                    .as_ref()
                    .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
            )
            .build()
            .map_err(|error| DrainError::Permanent {
                operation: "scheduler:CreateSchedule",
                source: Box::new(error),
            })?;
        let window = FlexibleTimeWindow::builder()
            .mode(FlexibleTimeWindowMode::Off)
            .build()
            .map_err(|error| DrainError::Permanent {
                operation: "scheduler:CreateSchedule",
                source: Box::new(error),
            })?;
        // `at(...)` takes local time without a zone; the schedule's time zone defaults to UTC.
        let expression = format!("at({})", at.to_rfc3339().trim_end_matches('Z'));
        Ok((expression, target, window))
    }

    /// Creates the one-shot schedule `name` invoking the function with `input` at `at`, or
    /// moves it there when it exists (CreateSchedule answers 409 Conflict, then
    /// UpdateSchedule: a new drain of a container instance whose last drain's check is still
    /// pending moves that schedule). ActionAfterCompletion=DELETE: EventBridge Scheduler
    /// deletes a one-time schedule after it has invoked its target once (User Guide,
    /// "Deleting a schedule"; API reference, CreateSchedule `ActionAfterCompletion`), so no
    /// end of a drain needs to delete its check.
    async fn book(&self, name: &str, input: String, at: Timestamp) -> Result<(), DrainError> {
        let (expression, target, window) = self.request_parts(input, at)?;
        let created = self
            .client
            .create_schedule()
            .name(name)
            .group_name(&self.group)
            .schedule_expression(&expression)
            .flexible_time_window(window.clone())
            .target(target.clone())
            .action_after_completion(ActionAfterCompletion::Delete)
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            // The schedule exists already: move it.
            Err(error) if code_of(&error) == Some("ConflictException") => self
                .client
                .update_schedule()
                .name(name)
                .group_name(&self.group)
                .schedule_expression(&expression)
                .flexible_time_window(window)
                .target(target)
                .action_after_completion(ActionAfterCompletion::Delete)
                .send()
                .await
                .map(|_| ())
                .map_err(|error| classify("scheduler:UpdateSchedule", error)),
            Err(error) => Err(classify("scheduler:CreateSchedule", error)),
        }
    }

    /// Deletes the schedule `name`, but only when its stored input is the one `is_own`
    /// recognises; a schedule of the same name checking anything else is left alone (logged).
    async fn unbook(
        &self,
        name: &str,
        is_own: impl Fn(Option<&str>) -> bool,
    ) -> Result<(), DrainError> {
        let found = self
            .client
            .get_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await;
        let input = match found {
            Ok(schedule) => schedule
                .target()
                .and_then(|target| target.input())
                .map(str::to_owned),
            Err(error) if code_of(&error) == Some("ResourceNotFoundException") => return Ok(()),
            Err(error) => return Err(classify("scheduler:GetSchedule", error)),
        };
        if !is_own(input.as_deref()) {
            warn!(
                schedule = %name,
                "a schedule of this name checks something else; left alone"
            );
            return Ok(());
        }
        let deleted = self
            .client
            .delete_schedule()
            .name(name)
            .group_name(&self.group)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(error) if code_of(&error) == Some("ResourceNotFoundException") => Ok(()),
            Err(error) => Err(classify("scheduler:DeleteSchedule", error)),
        }
    }
}

impl CheckScheduler for EventBridgeCheckScheduler {
    async fn schedule(
        &self,
        instance: &ContainerInstanceArn,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        let input = serde_json::json!({ CHECK_KEY: { "containerInstanceArn": instance.as_str() } })
            .to_string();
        self.book(&Self::schedule_name(instance), input, at).await
    }

    /// Deletes the drain's check, but only a schedule proved to be its own: the one named for
    /// this ARN whose stored input checks this very ARN. drainctl's force-complete and cancel
    /// use it; the functions never delete a check (an ended drain's check fires once, finds
    /// the drain ended, and the one-shot schedule deletes itself: see `book`).
    async fn cancel(&self, instance: &ContainerInstanceArn) -> Result<(), DrainError> {
        self.unbook(&Self::schedule_name(instance), |input| {
            checks(input, instance)
        })
        .await
    }

    async fn schedule_launch(
        &self,
        instance: &Ec2InstanceId,
        at: Timestamp,
    ) -> Result<(), DrainError> {
        let input = serde_json::json!({ LAUNCH_CHECK_KEY: { "ec2InstanceId": instance.as_str() } })
            .to_string();
        self.book(&Self::launch_schedule_name(instance), input, at)
            .await
    }
}

/// Whether a schedule's stored input is the check of exactly `instance`.
fn checks(input: Option<&str>, instance: &ContainerInstanceArn) -> bool {
    stored_field(input, CHECK_KEY, "containerInstanceArn").as_deref() == Some(instance.as_str())
}

/// `input[key][field]` of a schedule's stored JSON input, when it is a string.
fn stored_field(input: Option<&str>, key: &str, field: &str) -> Option<String> {
    let stored = serde_json::from_str::<serde_json::Value>(input?).ok()?;
    stored.get(key)?.get(field)?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(text: &str) -> ContainerInstanceArn {
        ContainerInstanceArn::new(text).expect("valid container instance ARN")
    }

    fn fits_the_scheduler_rules(name: &str) {
        assert!(name.len() <= 64 && !name.is_empty(), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
            "{name}"
        );
    }

    #[test]
    fn the_schedule_name_fits_the_scheduler_rules() {
        let live = arn(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/\
             3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b",
        );
        let name = EventBridgeCheckScheduler::schedule_name(&live);
        fits_the_scheduler_rules(&name);
        assert!(
            name.starts_with("drain-") && name.ends_with("-3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b"),
            "{name}"
        );
        assert_eq!(
            name,
            EventBridgeCheckScheduler::schedule_name(&live),
            "stable across invocations"
        );
        let old_format = arn(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/1a2b3c4d-5e6f-7a8b-9c0d-\
             1e2f3a4b5c6d",
        );
        fits_the_scheduler_rules(&EventBridgeCheckScheduler::schedule_name(&old_format));
        let longest = arn(&format!(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/{}/{}",
            "c".repeat(255),
            "f".repeat(64)
        ));
        fits_the_scheduler_rules(&EventBridgeCheckScheduler::schedule_name(&longest));
    }

    #[test]
    fn only_a_schedule_whose_input_checks_the_same_arn_is_its_own() {
        let live = arn(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/\
             3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b",
        );
        let input =
            serde_json::json!({ CHECK_KEY: { "containerInstanceArn": live.as_str() } }).to_string();
        assert!(checks(Some(&input), &live));
        let other = arn(
            "arn:aws:ecs:us-east-1:123456789012:container-instance/other-cluster/\
             3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b",
        );
        assert!(!checks(Some(&input), &other));
        assert!(!checks(None, &live));
        assert!(!checks(Some("not json"), &live));
        assert!(!checks(Some("{\"ecsDrainCheck\":{}}"), &live));
    }

    #[test]
    fn arns_sharing_an_id_never_share_a_schedule() {
        let id = "3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b";
        let arns = [
            format!("arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/{id}"),
            format!("arn:aws:ecs:us-east-1:123456789012:container-instance/other-cluster/{id}"),
            format!("arn:aws:ecs:us-east-1:210987654321:container-instance/prod-cluster/{id}"),
            format!("arn:aws:ecs:eu-west-1:123456789012:container-instance/prod-cluster/{id}"),
            format!("arn:aws-cn:ecs:cn-north-1:123456789012:container-instance/prod-cluster/{id}"),
            format!("arn:aws:ecs:us-east-1:123456789012:container-instance/{id}"),
        ];
        let names: std::collections::BTreeSet<String> = arns
            .iter()
            .map(|text| EventBridgeCheckScheduler::schedule_name(&arn(text)))
            .collect();
        assert_eq!(names.len(), arns.len(), "{names:?}");
    }
}
