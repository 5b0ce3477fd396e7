//! The maintenance task: removes what no rule needs any more (expired shared limit counters,
//! revocations of expired access tokens, idle rate-limit buckets). Every instance may run it;
//! deletes go in small batches, so none holds the writer long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Error, TokenIssuer};
use crate::clock::Clock;

/// Rows deleted per statement.
pub(super) const BATCH: u32 = 1_000;

impl TokenIssuer {
    /// One maintenance pass at `now`.
    #[tracing::instrument(skip_all)]
    pub async fn maintain(&self, now: DateTime<Utc>) -> Result<(), Error> {
        self.limits.prune(now).await?;
        while self.store.prune_revoked_access_tokens(now, BATCH).await? == u64::from(BATCH) {}
        Ok(())
    }
}

/// The running maintenance task; stopped when dropped.
pub struct Maintenance(JoinHandle<()>);

impl Drop for Maintenance {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs `issuer.maintain` every `interval`; failures are logged and retried next time.
pub fn spawn_maintenance(issuer: TokenIssuer, clock: Clock, interval: Duration) -> Maintenance {
    Maintenance(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = issuer.maintain(clock.now()).await {
                tracing::warn!(%error, "maintenance pass failed; will retry");
            }
        }
    }))
}
