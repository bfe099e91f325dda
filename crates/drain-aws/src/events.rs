//! The EventBridge adapter of [`DrainNotifier`]: one PutEvents call per drain event, on the
//! account's default bus. A refused entry (`FailedEntryCount` > 0) is a failure like a failed
//! call; the caller counts both and the drain goes on.

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::DateTime;
use drain_core::notify::{DrainEvent, DrainNotifier, NotifyError};

/// The bus drain events go to.
pub const DEFAULT_BUS: &str = "default";

/// [`DrainNotifier`] over EventBridge PutEvents.
#[derive(Clone, Debug)]
pub struct EventBridgeNotifier {
    client: Client,
    bus: String,
}

impl EventBridgeNotifier {
    /// Publishes on the default bus.
    pub fn new(client: Client) -> Self {
        EventBridgeNotifier {
            client,
            bus: DEFAULT_BUS.to_owned(),
        }
    }

    /// The entry PutEvents sends for `event`.
    pub fn entry(&self, event: &DrainEvent) -> PutEventsRequestEntry {
        PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(event.source)
            .detail_type(event.detail_type)
            .set_resources(Some(event.resources.clone()))
            .time(DateTime::from_secs(event.time.epoch_seconds()))
            .detail(event.detail_json())
            .build()
    }
}

impl DrainNotifier for EventBridgeNotifier {
    async fn publish(&self, event: &DrainEvent) -> Result<(), NotifyError> {
        let output = self
            .client
            .put_events()
            .entries(self.entry(event))
            .send()
            .await
            .map_err(|error| NotifyError::Call {
                source: Box::new(error),
            })?;
        if output.failed_entry_count() == 0 {
            return Ok(());
        }
        // One entry was sent, so a failure is that entry's.
        let failed = output
            .entries()
            .iter()
            .find(|entry| entry.error_code().is_some() || entry.event_id().is_none());
        Err(NotifyError::refused(
            failed
                .and_then(|entry| entry.error_code())
                .unwrap_or("Unknown"),
            failed
                .and_then(|entry| entry.error_message())
                .unwrap_or("FailedEntryCount > 0"),
        ))
    }
}

/// The notifier the binaries wire in: EventBridge when drain events are on
/// ([`drain_core::notify::events_enabled`]), nothing when off.
#[derive(Clone, Debug)]
pub enum DrainEventsNotifier {
    /// `ECS_DRAIN_EVENTS=on` (the default).
    On(EventBridgeNotifier),
    /// `ECS_DRAIN_EVENTS=off`: publishes nothing, makes no call.
    Off,
}

impl DrainEventsNotifier {
    /// EventBridge on the default bus when `enabled`, else nothing.
    pub fn new(client: Client, enabled: bool) -> Self {
        if enabled {
            DrainEventsNotifier::On(EventBridgeNotifier::new(client))
        } else {
            DrainEventsNotifier::Off
        }
    }
}

impl DrainNotifier for DrainEventsNotifier {
    async fn publish(&self, event: &DrainEvent) -> Result<(), NotifyError> {
        match self {
            DrainEventsNotifier::On(notifier) => notifier.publish(event).await,
            DrainEventsNotifier::Off => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_sdk_eventbridge::types::PutEventsResultEntry;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use drain_core::notify::{DrainSubject, DrainTimes, WaitingTasks, drain_started};
    use drain_core::time::Timestamp;

    fn event() -> DrainEvent {
        drain_started(
            &DrainSubject {
                ec2_instance_id: "i-0123456789abcdef0".to_owned(),
                container_instance_arn:
                    "arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc".to_owned(),
                cluster_arn: "arn:aws:ecs:us-east-1:123456789012:cluster/prod".to_owned(),
                auto_scaling_group_name: "prod-ecs".to_owned(),
                lifecycle_hook_name: "ecs-drain".to_owned(),
            },
            DrainTimes {
                started_at: Timestamp(1_795_000_000),
                deadline_at: Timestamp(1_795_003_600),
                hook_expires_at: None,
            },
            WaitingTasks::none(),
            Timestamp(1_795_000_000),
        )
    }

    #[test]
    fn the_entry_goes_to_the_default_bus_with_the_events_fields() {
        let config = aws_sdk_eventbridge::Config::builder()
            .behavior_version(aws_sdk_eventbridge::config::BehaviorVersion::latest())
            .build();
        let notifier = EventBridgeNotifier::new(Client::from_conf(config));
        let event = event();
        let entry = notifier.entry(&event);
        assert_eq!(entry.event_bus_name(), Some("default"));
        assert_eq!(entry.source(), Some("ecs-drain"));
        assert_eq!(entry.detail_type(), Some("ECS Drain Started"));
        assert_eq!(entry.detail(), Some(event.detail_json().as_str()));
        assert_eq!(entry.resources(), event.resources.as_slice());
        assert_eq!(entry.time().map(DateTime::secs), Some(1_795_000_000));
    }

    #[tokio::test]
    async fn a_failed_entry_is_a_failure_with_its_code() {
        let refused = mock!(Client::put_events).then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(1)
                .entries(
                    PutEventsResultEntry::builder()
                        .error_code("InternalFailure")
                        .error_message("try again")
                        .build(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&refused]);
        let error = EventBridgeNotifier::new(client)
            .publish(&event())
            .await
            .expect_err("refused");
        assert!(
            matches!(&error, NotifyError::Refused { code, message } if code == "InternalFailure" && message == "try again"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn with_events_off_nothing_is_called() {
        let accepted = mock!(Client::put_events)
            .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&accepted]);
        DrainEventsNotifier::new(client, false)
            .publish(&event())
            .await
            .expect("off publishes nothing");
        assert_eq!(accepted.num_calls(), 0);
    }

    #[tokio::test]
    async fn an_accepted_entry_is_published() {
        let accepted = mock!(Client::put_events).then_output(|| {
            PutEventsOutput::builder()
                .failed_entry_count(0)
                .entries(PutEventsResultEntry::builder().event_id("e-1").build())
                .build()
        });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&accepted]);
        EventBridgeNotifier::new(client)
            .publish(&event())
            .await
            .expect("published");
        assert_eq!(accepted.num_calls(), 1);
    }
}
