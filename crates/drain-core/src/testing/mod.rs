//! Test support, in one place: the in-memory ports, the one delegating port wrapper, a manual
//! clock, a sample drain, the one seeded random number generator and the AWS call-cost model. Compiled for drain-core's own
//! tests and, through the `test-util` feature, for the simulation, the benchmarks and the
//! test kit; never for the Lambda functions or drainctl, which do not enable the feature.

pub mod calls;
pub mod clock;
pub mod layer;
pub mod memory;
pub mod rng;
pub mod sample;

pub use clock::ManualClock;
pub use rng::Rng;
