//! An event relay, a drain of the outbox (`worker`), one per sink: claims the rows waiting for
//! its sink in commit order, publishes them, records those acknowledged, and backs off
//! (capped, jittered) while its broker is unreachable — the other sinks' relays go on. Woken
//! by commits that wrote events, and every `poll` (rows written by other instances); prunes
//! sent rows after the retention.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

use super::{Message, Sink};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::worker::{self, Drain};

/// Rows claimed and published per pass.
const BATCH: i64 = 512;
/// Backoff after a failed pass: doubling from the first to the last, with jitter.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(15));
/// How often sent rows past the retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How often the backlog gauges are brought up to date (a count of the pending rows).
const REPORT_EVERY: Duration = Duration::from_secs(1);

/// What the relay needs to know besides the store and the sink.
#[derive(Debug, Clone)]
pub struct RelaySettings {
    /// First token of types and subjects.
    pub prefix: String,
    /// The CloudEvents `source`: the issuer URL.
    pub source: String,
    /// How long sent rows are kept.
    pub retention: Duration,
    /// The longest wait between passes when nothing wakes the relay.
    pub poll: Duration,
}

/// The running relay; `stop` ends it after the pass in flight.
pub type Relay = worker::Worker;

/// Starts the relay of `store`'s outbox into `sink` (one relay per configured sink).
pub fn spawn_relay(
    store: Store,
    sink: Sink,
    settings: RelaySettings,
    clock: Clock,
    metrics: Metrics,
) -> Relay {
    worker::spawn(Publisher {
        store,
        sink,
        settings,
        clock,
        metrics,
        pruned_at: None,
        reported_at: None,
    })
}

/// The relay's drain: the outbox into the sink.
struct Publisher {
    store: Store,
    sink: Sink,
    settings: RelaySettings,
    clock: Clock,
    metrics: Metrics,
    pruned_at: Option<Instant>,
    reported_at: Option<Instant>,
}

impl Drain for Publisher {
    async fn pass(&mut self) -> anyhow::Result<bool> {
        Ok(self.publish().await? as i64 == BATCH)
    }

    /// The backlog gauges at most every `REPORT_EVERY` while batches are full, after every
    /// other pass; sent rows pruned every `PRUNE_EVERY` when the relay has caught up.
    async fn between(&mut self, full: bool) {
        let due = |at: Option<Instant>, every| at.is_none_or(|at| at.elapsed() >= every);
        if full && !due(self.reported_at, REPORT_EVERY) {
            return;
        }
        self.report_backlog().await;
        self.reported_at = Some(Instant::now());
        if !full && due(self.pruned_at, PRUNE_EVERY) {
            self.prune().await;
            self.pruned_at = Some(Instant::now());
        }
    }

    async fn woken(&self) {
        self.store.events_written(self.sink.kind()).await;
    }

    fn poll(&self) -> Duration {
        self.settings.poll
    }

    fn failed(&mut self, error: &anyhow::Error, failures: u32) -> Duration {
        let sink = self.sink.kind();
        self.metrics.event_publish_failed(sink);
        tracing::warn!(
            error = format!("{error:#}"),
            %sink,
            failures,
            "event relay pass failed; events wait in the outbox"
        );
        backoff(failures)
    }
}

impl Publisher {
    /// Publishes one batch; returns how many rows were sent.
    async fn publish(&self) -> anyhow::Result<usize> {
        let sink = self.sink.kind();
        let claim = self.store.claim_events(sink, BATCH).await?;
        if claim.events().is_empty() {
            return Ok(0);
        }
        let messages = claim
            .events()
            .iter()
            .map(|event| Message::new(event, &self.settings.prefix, &self.settings.source))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let (acked, error) = self.sink.publish(&messages).await;
        claim.sent(&self.store, acked, self.clock.now()).await?;
        for message in &messages[..acked] {
            self.metrics.event_published(sink, &message.kind);
        }
        match error {
            Some(error) => Err(error),
            None => Ok(acked),
        }
    }

    async fn report_backlog(&self) {
        let sink = self.sink.kind();
        if let Ok((pending, oldest)) = self.store.outbox_backlog(sink).await {
            let age = oldest.map_or(0, |at: DateTime<Utc>| {
                (self.clock.now() - at).num_seconds().max(0)
            });
            self.metrics.outbox_backlog(sink, pending, age);
        }
    }

    async fn prune(&self) {
        let retention =
            chrono::Duration::from_std(self.settings.retention).unwrap_or(chrono::Duration::MAX);
        let before = self.clock.now() - retention;
        loop {
            match self.store.prune_outbox(before, 1000).await {
                Ok(1000) => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "pruning sent events failed; will retry");
                    break;
                }
            }
        }
    }
}

/// The wait after `failures` failed passes in a row: 100 ms doubling to 15 s, between half
/// and all of it (jitter keeps instances apart).
fn backoff(failures: u32) -> Duration {
    let (first, cap) = BACKOFF;
    let full = first
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(cap);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    full / 2 + full / 2 * u32::from(byte[0]) / 255
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter() {
        for failures in 1..40 {
            let full = BACKOFF
                .0
                .saturating_mul(1 << (failures - 1).min(16))
                .min(BACKOFF.1);
            let wait = backoff(failures);
            assert!(wait >= full / 2 && wait <= full, "{failures}: {wait:?}");
        }
        assert!(backoff(30) <= BACKOFF.1);
    }
}
