//! The maintenance task: removes what no rule needs any more, so the database follows live
//! state, not history: sessions (refresh families and their tokens) a day after they ended,
//! audit rows past `--audit-retention`, revocations of expired access tokens, expired shared
//! limit counters, idle rate-limit buckets. Every instance may run it; deletes go in small
//! batches, so none holds the writer long.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Error, Sigil};
use crate::clock::Clock;

/// Rows deleted per statement.
pub(super) const BATCH: u32 = 1_000;

/// How long an ended session (expired or revoked) is kept: presenting one of its tokens
/// within that day still finds it (a reuse is told apart from an unknown token in the log).
const ENDED_SESSION_MARGIN: chrono::Duration = chrono::Duration::days(1);

impl Sigil {
    /// One maintenance pass at `now`.
    #[tracing::instrument(skip_all)]
    pub async fn maintain(&self, now: DateTime<Utc>) -> Result<(), Error> {
        self.tokens.limits.prune(now).await?;
        let store = &self.store;
        let full = u64::from(BATCH);
        while store.prune_revoked_access_tokens(now, BATCH).await? == full {}
        let ended = now - ENDED_SESSION_MARGIN;
        while store.prune_ended_refresh_tokens(ended, BATCH).await? >= full {}
        while store.prune_ended_refresh_families(ended, BATCH).await? >= full {}
        let retention = chrono::Duration::from_std(self.tokens.settings.audit_retention)
            .unwrap_or(chrono::Duration::MAX);
        if let Some(before) = now.checked_sub_signed(retention) {
            while store.prune_audit(before, BATCH).await? == full {}
        }
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

/// Runs `sigil.maintain` every `interval`; failures are logged and retried next time.
pub fn spawn_maintenance(sigil: Sigil, clock: Clock, interval: Duration) -> Maintenance {
    Maintenance(tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(error) = sigil.maintain(clock.now()).await {
                tracing::warn!(%error, "maintenance pass failed; will retry");
            }
        }
    }))
}
