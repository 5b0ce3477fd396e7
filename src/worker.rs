//! The one loop every outbox drain runs (the event relay, the mail relay): a pass claims and
//! handles a batch; a full batch is followed at once by the next, otherwise the loop waits for
//! a commit that wrote work, the poll interval (work written by other instances, retries
//! falling due) or the stop. A failed pass is logged by the drain and waited out with its
//! backoff, deaf to wake-ups meanwhile. Stopping finishes the pass in flight; a flushing
//! stop then passes again until nothing is left or its deadline comes (a pass still in
//! flight at the deadline, one waiting for a broker that is away, is dropped).
//!
//! Imports nothing from the crate.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// One outbox and what to do with it.
pub trait Drain: Send + 'static {
    /// Handles one batch; `true` when it was full (more may be waiting).
    fn pass(&mut self) -> impl Future<Output = anyhow::Result<bool>> + Send;

    /// Between passes (`full`: the last one was), e.g. gauges and pruning.
    fn between(&mut self, full: bool) -> impl Future<Output = ()> + Send;

    /// Resolves when a commit of this instance wrote work for the drain.
    fn woken(&self) -> impl Future<Output = ()> + Send;

    /// The wait after a pass that left nothing behind.
    fn poll(&self) -> Duration;

    /// Records the `failures`-th failed pass in a row; returns how long to wait.
    fn failed(&mut self, error: &anyhow::Error, failures: u32) -> Duration;
}

/// Whether a drain goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Run {
    Going,
    Stop,
    /// Stop, after draining what is left until the deadline.
    FlushUntil(Instant),
}

/// A running drain; `stop` ends it after the pass in flight.
pub struct Worker {
    stop: watch::Sender<Run>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Stops after the pass in flight and waits for it.
    pub async fn stop(self) {
        let _ = self.stop.send(Run::Stop);
        let _ = self.task.await;
    }

    /// Stops after the pass in flight and as many more as it takes to leave nothing behind,
    /// or until `deadline` (a pass cut short leaves its work for the next start).
    pub async fn stop_flushing(self, deadline: Instant) {
        let _ = self.stop.send(Run::FlushUntil(deadline));
        let _ = self.task.await;
    }
}

/// Runs `drain` until stopped.
pub fn spawn(mut drain: impl Drain) -> Worker {
    let (stop, mut stopped) = watch::channel(Run::Going);
    let task = tokio::spawn(async move {
        let mut failures = 0u32;
        while *stopped.borrow() == Run::Going {
            let outcome = tokio::select! {
                outcome = drain.pass() => outcome,
                () = past_deadline(&mut stopped) => {
                    tracing::warn!("stopped at the shutdown deadline with a pass in flight");
                    return;
                }
            };
            let wait = match outcome {
                Ok(full) => {
                    failures = 0;
                    if full {
                        drain.between(true).await;
                        continue;
                    }
                    drain.poll()
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    drain.failed(&error, failures)
                }
            };
            drain.between(false).await;
            if *stopped.borrow() != Run::Going {
                break;
            }
            tokio::select! {
                () = drain.woken(), if failures == 0 => {}
                () = tokio::time::sleep(wait) => {}
                _ = stopped.changed() => {}
            }
        }
        let run = *stopped.borrow();
        if let Run::FlushUntil(deadline) = run {
            flush(&mut drain, deadline).await;
        }
    });
    Worker { stop, task }
}

/// Resolves once a flushing stop's deadline has passed (a pass in flight that outlives it is
/// dropped: its work stays for the next start); never for a plain stop, which waits for the
/// pass.
async fn past_deadline(stopped: &mut watch::Receiver<Run>) {
    loop {
        let run = *stopped.borrow_and_update();
        if let Run::FlushUntil(deadline) = run {
            tokio::time::sleep_until(deadline).await;
            return;
        }
        if stopped.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Passes until one leaves nothing behind, one fails, or `deadline` comes.
async fn flush(drain: &mut impl Drain, deadline: Instant) {
    loop {
        match tokio::time::timeout_at(deadline, drain.pass()).await {
            Ok(Ok(true)) => continue,
            Ok(Ok(false)) => return,
            Ok(Err(error)) => {
                drain.failed(&error, 1);
                return;
            }
            Err(_) => {
                tracing::warn!(
                    "stopped at the shutdown deadline with work left for the next start"
                );
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// Full twice, then empty; fails on the pass numbers in `failing`.
    struct Script {
        passes: Arc<AtomicU32>,
        failing: Vec<u32>,
        wake: Arc<Notify>,
        waits: Arc<std::sync::Mutex<Vec<Duration>>>,
    }

    impl Drain for Script {
        async fn pass(&mut self) -> anyhow::Result<bool> {
            let n = self.passes.fetch_add(1, Ordering::SeqCst) + 1;
            if self.failing.contains(&n) {
                anyhow::bail!("pass {n} failed");
            }
            Ok(n <= 2)
        }

        async fn between(&mut self, _full: bool) {}

        async fn woken(&self) {
            self.wake.notified().await;
        }

        fn poll(&self) -> Duration {
            Duration::from_secs(3600)
        }

        fn failed(&mut self, _error: &anyhow::Error, failures: u32) -> Duration {
            let wait = Duration::from_millis(10 * u64::from(failures));
            self.waits.lock().unwrap().push(wait);
            wait
        }
    }

    fn script(failing: Vec<u32>) -> (Script, Arc<AtomicU32>, Arc<Notify>) {
        let passes = Arc::new(AtomicU32::new(0));
        let wake = Arc::new(Notify::new());
        let drain = Script {
            passes: passes.clone(),
            failing,
            wake: wake.clone(),
            waits: Arc::default(),
        };
        (drain, passes, wake)
    }

    async fn until(passes: &AtomicU32, n: u32) {
        while passes.load(Ordering::SeqCst) < n {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn full_batches_run_back_to_back_then_the_drain_waits_for_a_wake_up() {
        let (drain, passes, wake) = script(vec![]);

        let worker = spawn(drain);
        until(&passes, 3).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(
            passes.load(Ordering::SeqCst),
            3,
            "waits after the empty pass"
        );
        wake.notify_one();
        until(&passes, 4).await;

        worker.stop().await;
    }

    /// A pass that never ends: a broker that never acknowledges.
    struct Stuck;

    impl Drain for Stuck {
        async fn pass(&mut self) -> anyhow::Result<bool> {
            std::future::pending().await
        }

        async fn between(&mut self, _full: bool) {}

        async fn woken(&self) {
            std::future::pending().await
        }

        fn poll(&self) -> Duration {
            Duration::from_secs(3600)
        }

        fn failed(&mut self, _error: &anyhow::Error, _failures: u32) -> Duration {
            Duration::from_secs(3600)
        }
    }

    #[tokio::test]
    async fn a_flushing_stop_drops_a_pass_still_in_flight_at_its_deadline() {
        let worker = spawn(Stuck);
        tokio::time::sleep(Duration::from_millis(10)).await;

        let started = Instant::now();
        worker
            .stop_flushing(started + Duration::from_millis(50))
            .await;

        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }

    #[tokio::test]
    async fn a_stop_while_the_worker_waits_ends_it_without_waiting_the_poll() {
        let (drain, passes, _wake) = script(vec![]);

        let worker = spawn(drain);
        until(&passes, 3).await;
        let started = Instant::now();
        worker.stop().await;

        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_failed_pass_is_retried_after_its_backoff_without_a_wake_up() {
        let (drain, passes, _wake) = script(vec![1, 2]);
        let waits = drain.waits.clone();

        let worker = spawn(drain);
        until(&passes, 3).await;

        assert_eq!(
            *waits.lock().unwrap(),
            [Duration::from_millis(10), Duration::from_millis(20)]
        );
        worker.stop().await;
    }
}
