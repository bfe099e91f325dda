//! ecs-drain's test kit: the local AWS emulator (moto in server mode with our extension,
//! started on 127.0.0.1 from the project's venv), real SDK clients pointed at it, a builder
//! for a small ECS-on-EC2 world (cluster, Auto Scaling group with a terminate hook, services,
//! daemon and standalone tasks), and builders for the events AWS would deliver (terminate
//! actions and task state changes in `events`; launch and warm-pool actions, Spot warnings,
//! rebalance recommendations and container instance controls in `fleet`; AWS's events from
//! the emulator's records, routed by the deployed stack's rules, in `delivery`; the ECS
//! agent and service scheduler played around a deployed stack in `played`).
//!
//! Used by the integration tests in tests/ and by the local demo (`crates/drain-demo`).

pub mod delivery;
pub mod deployed;
pub mod emulator;
pub mod events;
pub mod fleet;
pub mod invoke;
pub mod played;
pub mod proxy;
pub mod runtime_api;
pub mod stack;
pub mod world;

pub use deployed::Deployment;
pub use emulator::Emulator;
pub use world::{EmulatorWorld, WorldSpec};

/// The project root (where Cargo.toml, scripts/ and tests/ live).
pub fn project_root() -> std::path::PathBuf {
    std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// Test-kit failures: setup steps that must work for a test to mean anything.
pub type KitError = Box<dyn std::error::Error + Send + Sync>;
