//! A clock that only moves when the test (or the simulation) moves it.

use std::sync::atomic::{AtomicI64, Ordering};

use crate::time::{Clock, Timestamp};

/// A clock that only moves when told to; shared by reference between the world and handlers.
#[derive(Debug, Default)]
pub struct ManualClock {
    seconds: AtomicI64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            seconds: AtomicI64::new(start.0),
        }
    }

    /// Moves the clock forward by `seconds`.
    pub fn advance(&self, seconds: i64) {
        self.seconds.fetch_add(seconds, Ordering::SeqCst);
    }

    /// Sets the clock to `at`.
    pub fn set(&self, at: Timestamp) {
        self.seconds.store(at.0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.seconds.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_moves_only_when_told() {
        let clock = ManualClock::new(Timestamp(100));
        assert_eq!(clock.now(), Timestamp(100));
        clock.advance(30);
        assert_eq!(clock.now(), Timestamp(130));
        clock.set(Timestamp(7));
        assert_eq!(clock.now(), Timestamp(7));
    }
}
