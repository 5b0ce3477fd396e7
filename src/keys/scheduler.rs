//! The periodic key check: a plain tokio task, driven by database state.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::KeyRing;
use crate::clock::Clock;

/// Runs `ring.refresh` every `interval` (the first run one interval after start, since
/// `KeyRing::load` already checked). Failures are logged and retried at the next tick; the
/// ring keeps serving what it has.
pub fn spawn(ring: Arc<KeyRing>, clock: Clock, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = ring.refresh(clock.now()).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "key ring check failed; will retry"
                );
            }
        }
    })
}
