//! A deterministic simulation harness for ecs-drain.
//!
//! Each run builds a small seeded world — ECS container instances with replica, daemon and
//! standalone tasks, the ECS service scheduler, an Auto Scaling lifecycle hook, an EventBridge
//! bus that delays, reorders, duplicates and drops events, and EventBridge Scheduler's
//! one-shot checks — and lets the real [`drain_core::Drainer`] drain 1–3 instances of it on a
//! virtual clock. Same-instant invocations are sometimes interleaved at every port call, so
//! the conditional writes race for real. Everything comes from the seed: a failing seed
//! replays exactly, with its event log (`cargo run -p drain-sim -- --seed N`).
//!
//! Checked on every run: safety (no completion, nor StopTask of a non-daemon task or of a
//! daemon next to live work, before the deadline while something is alive), liveness (every
//! drain ends through ecs-drain within deadline + one check interval, never by the hook's
//! timeout), exactly-once (one successful CompleteLifecycleAction per drain) and record
//! consistency.

pub mod check;
pub mod exec;
pub mod faults;
pub mod fleet;
pub mod ports;
pub mod sim;
pub mod spot;
pub mod violation;
pub mod world;

pub use check::Summary;
pub use faults::Fault;
pub use sim::{RunReport, run_many, run_seed};
pub use violation::{Violation, ViolationKind};

/// Knobs of the harness itself (the world's own knobs are drawn from each seed).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The highest event loss rate a seed may draw (each seed draws a rate in `[0, max)`).
    pub max_drop_rate: f64,
    /// Chance that a batch of same-instant events runs interleaved rather than one by one.
    pub concurrency: f64,
    /// How late (seconds) EventBridge Scheduler may fire a check.
    pub scheduler_latency_max: i64,
    /// The highest chance an invocation dies between two of its calls that a seed may draw.
    pub max_crash_rate: f64,
    /// Seconds after DRAINING a task placed just before it may stay invisible to ListTasks
    /// (0: listed at once). Used by the planted-bug test of a policy that trusts a stale set.
    pub late_visibility_max: i64,
    /// The census rule ecs-drain runs (`every-look` is the rule before issue 11).
    pub census_rule: drain_core::decision::look::CensusRule,
    /// Model launches and warm-pool round trips (drawn from their own stream, see
    /// [`fleet`]); off, every seed is the terminate-only world.
    pub launches: bool,
    /// Model Spot interruption warnings (their own stream, see [`spot`]).
    pub spot: bool,
    /// The planted bug, if any.
    pub fault: Fault,
    /// Keep the event log (costly: used to replay a failing seed).
    pub trace: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_drop_rate: 0.10,
            concurrency: 0.5,
            scheduler_latency_max: 5,
            max_crash_rate: 0.05,
            late_visibility_max: 0,
            census_rule: drain_core::decision::look::CensusRule::WhenNeeded,
            launches: true,
            spot: true,
            fault: Fault::None,
            trace: false,
        }
    }
}
