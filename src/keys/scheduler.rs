//! The periodic key check: a plain tokio task, driven by database state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::KeyRing;
use crate::clock::Clock;

/// The running check; `stop` lets a check in progress finish first.
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Runs `ring.refresh` every `interval` (the first run one interval after start, since
/// `KeyRing::load` already checked). Failures are logged and retried at the next tick; the
/// ring keeps serving what it has.
pub fn spawn(ring: Arc<KeyRing>, clock: Clock, interval: Duration) -> Scheduler {
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stopped.changed() => return,
            }
            if let Err(error) = ring.refresh(clock.now()).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "key ring check failed; will retry"
                );
            }
        }
    });
    Scheduler { stop, task }
}

impl Scheduler {
    /// Stops after the check in progress, if any, has finished.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::warn!(error = %error, "key check task ended abnormally");
        }
    }
}
