//! The EventBridge adapter of [`DrainNotifier`]: one PutEvents call per batch of drain events
//! (an invocation's are one batch), on the account's default bus. A refused entry
//! (`FailedEntryCount` > 0) is a failure like a failed call; the caller counts both and the
//! drain goes on.

use std::sync::OnceLock;

use aws_config::SdkConfig;
use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_smithy_types::DateTime;
use drain_core::notify::{BatchError, DrainEvent, DrainNotifier, NotifyError};

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
        Err(refusal(failed))
    }

    async fn publish_batch(&self, events: &[DrainEvent]) -> Result<(), BatchError> {
        let count = u32::try_from(events.len()).unwrap_or(u32::MAX);
        if events.is_empty() {
            return Ok(());
        }
        let output = self
            .client
            .put_events()
            .set_entries(Some(events.iter().map(|event| self.entry(event)).collect()))
            .send()
            .await
            .map_err(|error| BatchError {
                not_published: count,
                first: NotifyError::Call {
                    source: Box::new(error),
                },
            })?;
        let failed = u32::try_from(output.failed_entry_count().max(0)).unwrap_or(count);
        if failed == 0 {
            return Ok(());
        }
        // The result entries are in the order of the request's: a failed one has an error code.
        let first = output
            .entries()
            .iter()
            .find(|entry| entry.error_code().is_some() || entry.event_id().is_none());
        Err(BatchError {
            not_published: failed.min(count),
            first: refusal(first),
        })
    }
}

/// The refusal of a failed result entry (or of an unnamed one).
fn refusal(failed: Option<&aws_sdk_eventbridge::types::PutEventsResultEntry>) -> NotifyError {
    NotifyError::refused(
        failed
            .and_then(|entry| entry.error_code())
            .unwrap_or("Unknown"),
        failed
            .and_then(|entry| entry.error_message())
            .unwrap_or("FailedEntryCount > 0"),
    )
}

/// The notifier the binaries wire in: EventBridge when drain events are on
/// ([`drain_core::notify::events_enabled`]), nothing when off.
#[derive(Debug)]
pub enum DrainEventsNotifier {
    /// `ECS_DRAIN_EVENTS=on` (the default), over this client.
    On(EventBridgeNotifier),
    /// On, with the client built at the first publish from this configuration: most
    /// invocations publish nothing (an unrelated STOPPED event), so a cold start does not
    /// pay for building it.
    Lazy {
        /// The SDK configuration the client is built from (boxed: it is large).
        sdk: Box<SdkConfig>,
        /// The notifier, once built.
        built: OnceLock<EventBridgeNotifier>,
    },
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

    /// EventBridge on the default bus when `enabled`, its client built from `sdk` at the
    /// first publish; else nothing.
    pub fn lazy(sdk: &SdkConfig, enabled: bool) -> Self {
        if enabled {
            DrainEventsNotifier::Lazy {
                sdk: Box::new(sdk.clone()),
                built: OnceLock::new(),
            }
        } else {
            DrainEventsNotifier::Off
        }
    }

    /// The EventBridge notifier, if events are on (built now if it is lazy and not built yet).
    fn notifier(&self) -> Option<&EventBridgeNotifier> {
        match self {
            DrainEventsNotifier::On(notifier) => Some(notifier),
            DrainEventsNotifier::Lazy { sdk, built } => {
                Some(built.get_or_init(|| EventBridgeNotifier::new(Client::new(sdk))))
            }
            DrainEventsNotifier::Off => None,
        }
    }

    /// Whether the lazy client was built (false for the other variants).
    pub fn is_built(&self) -> bool {
        matches!(self, DrainEventsNotifier::Lazy { built, .. } if built.get().is_some())
    }
}

impl DrainNotifier for DrainEventsNotifier {
    async fn publish(&self, event: &DrainEvent) -> Result<(), NotifyError> {
        match self.notifier() {
            Some(notifier) => notifier.publish(event).await,
            None => Ok(()),
        }
    }

    async fn publish_batch(&self, events: &[DrainEvent]) -> Result<(), BatchError> {
        if events.is_empty() {
            return Ok(());
        }
        match self.notifier() {
            Some(notifier) => notifier.publish_batch(events).await,
            None => Ok(()),
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
    async fn a_batch_is_one_call_and_counts_the_entries_refused() {
        let half = mock!(Client::put_events)
            .match_requests(|request| request.entries().len() == 2)
            .then_output(|| {
                PutEventsOutput::builder()
                    .failed_entry_count(1)
                    .entries(PutEventsResultEntry::builder().event_id("e-1").build())
                    .entries(
                        PutEventsResultEntry::builder()
                            .error_code("ThrottlingException")
                            .error_message("slow down")
                            .build(),
                    )
                    .build()
            });
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::Sequential, [&half]);
        let error = EventBridgeNotifier::new(client)
            .publish_batch(&[event(), event()])
            .await
            .expect_err("one refused");
        assert_eq!(half.num_calls(), 1);
        assert_eq!(error.not_published, 1);
        assert!(
            matches!(&error.first, NotifyError::Refused { code, .. } if code == "ThrottlingException"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn the_lazy_client_is_built_at_the_first_publish_only() {
        let sdk = SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let lazy = DrainEventsNotifier::lazy(&sdk, true);
        assert!(!lazy.is_built());
        // Nothing to publish builds nothing.
        lazy.publish_batch(&[]).await.expect("empty");
        assert!(!lazy.is_built());
        let off = DrainEventsNotifier::lazy(&sdk, false);
        off.publish_batch(&[event()])
            .await
            .expect("off publishes nothing");
        assert!(!off.is_built());
        assert!(lazy.notifier().is_some());
        assert!(lazy.is_built());
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
