//! ecs-drain's domain: parsing the events AWS delivers, the census of an ECS container
//! instance, the drain record kept in DynamoDB, the pure drain decision, the ports the AWS
//! adapters implement, and the use cases both Lambda functions run.
//!
//! Nothing here talks to AWS or reads the process environment: the binaries wire real
//! adapters in, tests and the simulation wire the in-memory ones from `testing` (feature
//! `test-util`, off in the Lambda functions).

pub mod census;
pub mod config;
pub mod decision;
pub mod drainer;
pub mod error;
pub mod event;
pub mod handler;
pub mod ids;
pub mod launch_record;
pub mod logs;
pub mod metrics;
pub mod notify;
pub mod operator;
pub mod ports;
pub mod preview;
pub mod record;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod time;

pub use config::Config;
pub use drainer::Drainer;
pub use error::DrainError;
