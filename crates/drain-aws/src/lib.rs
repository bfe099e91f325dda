//! ecs-drain's AWS adapters: the aws-sdk-* implementations of drain-core's ports, and the SDK
//! configuration both functions load once at start-up.
//!
//! SDK types stay in this crate: each adapter turns responses into drain-core's types and
//! errors into [`drain_core::DrainError`] (transient or permanent).

pub mod app;
pub mod autoscaling;
pub mod dynamodb;
pub mod ecs;
pub mod error;
pub mod events;
pub mod logging;
pub mod scheduler;
pub mod sdk;

pub use autoscaling::AsgLifecycleHooks;
pub use dynamodb::DynamoDrainStore;
pub use ecs::EcsCluster;
pub use events::{DrainEventsNotifier, EventBridgeNotifier};
pub use scheduler::EventBridgeCheckScheduler;
pub use sdk::{AwsClients, load_sdk_config};
