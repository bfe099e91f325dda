//! ecs-drain's benchmark harness: measurement helpers (wall time, CPU time and memory read from
//! /proc, medians and percentiles, plain-text tables) and in-memory worlds built on
//! `drain_core::testing::memory` for the warm per-event cost and the full-size scale shape.
//!
//! The harness is hand-written on purpose: criterion would add minutes to a 2-core build for
//! what a loop, `Instant` and the kernel's per-thread CPU clock already give. Benchmarks print
//! figures; nothing here asserts a timing.

pub mod args;
pub mod measure;
pub mod memory_world;
pub mod table;
