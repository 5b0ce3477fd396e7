//! The maintenance task: removes what no rule needs any more, so the database follows live
//! state, not history: sessions (refresh families and their tokens) a day after they ended,
//! audit rows past `--audit-retention`, revocations of expired access tokens, expired shared
//! limit counters, idle rate-limit buckets, expired link tokens, mail that left the queue a
//! week ago. Every instance may run it. Deletes go in small batches and the task rests after
//! each batch three times as long as the batch took: a backlog (a million expired rows after
//! an upgrade) drains within minutes while requests wait for the writer at most one short
//! batch, and the pruner never holds more than a quarter of its time (SQLite has one writer).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::{Error, Sigil};
use crate::clock::Clock;

/// Rows deleted per statement: a few milliseconds of SQLite's writer.
pub(super) const BATCH: u32 = 100;

/// How long the task rests after a full batch, in multiples of the batch's own time.
const REST: u32 = 3;

/// How long an ended session (expired or revoked) is kept: presenting one of its tokens
/// within that day still finds it (a reuse is told apart from an unknown token in the log).
const ENDED_SESSION_MARGIN: chrono::Duration = chrono::Duration::days(1);

/// How long mail that left the queue (sent, skipped, dead) is kept: a dead letter stays a
/// week for an operator to look at.
const MAIL_RETENTION: chrono::Duration = chrono::Duration::days(7);

impl Sigil {
    /// One maintenance pass at `now`.
    #[tracing::instrument(skip_all)]
    pub async fn maintain(&self, now: DateTime<Utc>) -> Result<(), Error> {
        self.tokens.limits.prune(now).await?;
        let store = &self.store;
        drain(|| store.prune_revoked_access_tokens(now, BATCH)).await?;
        let ended = now - ENDED_SESSION_MARGIN;
        drain(|| store.prune_ended_refresh_tokens(ended, BATCH)).await?;
        drain(|| store.prune_ended_refresh_families(ended, BATCH)).await?;
        drain(|| store.prune_browser_state(ended, BATCH)).await?;
        drain(|| store.prune_link_tokens(now, BATCH)).await?;
        let mail_done = now - MAIL_RETENTION;
        drain(|| store.prune_mail(mail_done, BATCH)).await?;
        let retention = chrono::Duration::from_std(self.tokens.settings.audit_retention)
            .unwrap_or(chrono::Duration::MAX);
        if let Some(before) = now.checked_sub_signed(retention) {
            drain(|| store.prune_audit(before, BATCH)).await?;
        }
        Ok(())
    }
}

/// Runs the batched delete `prune` until a batch comes back short of `BATCH`, resting after
/// each full batch `REST` times as long as it took.
pub(super) async fn drain<F, Fut>(mut prune: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, crate::store::Error>>,
{
    loop {
        let started = std::time::Instant::now();
        if prune().await? < u64::from(BATCH) {
            return Ok(());
        }
        tokio::time::sleep(started.elapsed() * REST).await;
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
