//! The local demo's stories (`make demo`), printed as timelines: the scale-in drain (the
//! `demo` binary) and the instance refresh ([`refresh`]), a new instance put in service only
//! once its agent joined and the old one drained before it goes.

pub mod refresh;

use std::time::Instant;

/// A timeline printed as it happens: seconds since it started, who acted, what happened.
pub struct Timeline {
    start: Instant,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new() -> Self {
        Timeline {
            start: Instant::now(),
        }
    }

    /// Prints one line.
    pub fn line(&self, actor: &str, text: &str) {
        println!(
            "  t+{:>5.2}s  {actor:<16} {text}",
            self.start.elapsed().as_secs_f64()
        );
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

/// The first 8 characters of an ARN's last part (a task or container instance id), enough to
/// tell them apart in a timeline.
pub fn short(arn: &str) -> String {
    arn.rsplit('/')
        .next()
        .unwrap_or(arn)
        .chars()
        .take(8)
        .collect()
}
