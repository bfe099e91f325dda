//! A tiny deterministic executor. Nothing in the simulation ever waits on real I/O: a future
//! is pending only because a port chose to yield, so polling again always makes progress.
//! [`join_all`] polls a batch of handler invocations in a shuffled order each round, which is
//! how two Lambda invocations "at the same time" interleave their reads and conditional writes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use drain_core::testing::Rng;

/// Polls after which a run is declared stuck (a future waiting on something that never comes).
const MAX_POLLS: usize = 100_000;

/// A boxed future borrowing the run's world and drainer.
pub type Job<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// Yields to the executor `times` times, then completes: an interleaving point.
#[derive(Debug)]
pub struct Yield(u32);

impl Yield {
    /// Yields `times` times.
    pub fn times(times: u32) -> Yield {
        Yield(times)
    }
}

impl Future for Yield {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            Poll::Ready(())
        } else {
            self.0 -= 1;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Runs `future` to completion; None if it is still pending after [`MAX_POLLS`] polls.
pub fn block_on<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
    }
    None
}

/// Runs every job concurrently, polling the unfinished ones in a freshly shuffled order each
/// round. False if some job is still pending after [`MAX_POLLS`] rounds.
pub fn join_all(jobs: Vec<Job<'_>>, rng: &mut Rng) -> bool {
    let mut slots: Vec<Option<Job<'_>>> = jobs.into_iter().map(Some).collect();
    let mut order: Vec<usize> = (0..slots.len()).collect();
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..MAX_POLLS {
        rng.shuffle(&mut order);
        let mut pending = false;
        for &index in &order {
            if let Some(job) = slots[index].as_mut() {
                if job.as_mut().poll(&mut cx).is_ready() {
                    slots[index] = None;
                } else {
                    pending = true;
                }
            }
        }
        if !pending {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;

    #[test]
    fn joined_jobs_interleave_at_their_yield_points() {
        let log = RefCell::new(Vec::new());
        let job = |name: &'static str| -> Job<'_> {
            let log = &log;
            Box::pin(async move {
                log.borrow_mut().push(format!("{name} read"));
                Yield::times(1).await;
                log.borrow_mut().push(format!("{name} write"));
            })
        };
        assert!(join_all(vec![job("a"), job("b")], &mut Rng::new(3)));
        let log = log.into_inner();
        assert_eq!(log.len(), 4);
        // Both read before either writes: the interleaving a conditional write must survive.
        assert!(
            log[0].ends_with("read") && log[1].ends_with("read"),
            "{log:?}"
        );
    }

    #[test]
    fn block_on_finishes_a_yielding_future() {
        assert_eq!(
            block_on(async {
                Yield::times(5).await;
                42
            }),
            Some(42)
        );
    }
}
