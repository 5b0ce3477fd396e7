//! The relays' side of the outbox: each sink's relay claims the rows still waiting for that
//! sink (`outbox_pending`) in `seq` order, and on the broker's acknowledgement deletes its
//! delivery rows; an event no sink waits for any more is marked sent and pruned after the
//! retention. So a sink that is down holds back only its own rows.
//!
//! On PostgreSQL a claim is a transaction holding a transaction-scoped advisory lock of its
//! sink, so one relay per sink of all the instances publishes at a time and rows leave in
//! commit order; its delivery rows are also locked (`FOR UPDATE SKIP LOCKED`). Finishing
//! locks the claimed event rows first, so two sinks finishing the same event one after the
//! other always see each other's deletions and one of them marks it sent. On SQLite (one
//! instance, one relay per sink) a claim reads without holding the single writer while its
//! rows are published.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, OutboxEvent, Pools, Store, Tx, on_pool, on_writer};
use crate::domain::EventSink;

/// `pg_advisory_xact_lock` key of the first sink's relay (one key per sink, in
/// `EventSink::ALL` order): one claim per sink at a time across instances.
const RELAY_LOCK: i64 = 0x5_1615_0001;

const PENDING: &str = "SELECT e.seq, e.id, e.entity, e.entity_id, e.verb, e.data, e.occurred_at, \
                       e.traceparent FROM outbox_pending p JOIN outbox_events e ON e.seq = p.seq \
                       WHERE p.sink = $1 ORDER BY p.seq LIMIT $2";

/// Rows claimed for publishing to one sink; `sent` records those the broker acknowledged.
pub struct Claim {
    sink: EventSink,
    events: Vec<OutboxEvent>,
    /// PostgreSQL: the transaction holding the sink's relay lock and its delivery rows.
    tx: Option<Tx>,
}

impl Claim {
    /// The claimed rows, oldest first.
    pub fn events(&self) -> &[OutboxEvent] {
        &self.events
    }

    /// Records that the sink acknowledged the first `count` claimed rows, marks those no sink
    /// waits for any more sent at `at`, and ends the claim (the others stay pending, in
    /// order, for the sink's next claim).
    pub async fn sent(self, store: &Store, count: usize, at: DateTime<Utc>) -> Result<(), Error> {
        let sent = &self.events[..count.min(self.events.len())];
        if sent.is_empty() {
            return Ok(());
        }
        let mut tx = match self.tx {
            Some(tx) => tx,
            None => store.begin().await?,
        };
        // Exactly the claimed rows: a row committed after the claim may sit between them.
        let seqs = |first: usize| {
            let list: Vec<String> = (first..first + sent.len())
                .map(|n| format!("${n}"))
                .collect();
            list.join(", ")
        };
        let lock = format!(
            "SELECT seq FROM outbox_events WHERE seq IN ({}) ORDER BY seq FOR UPDATE",
            seqs(1)
        );
        let delivered = format!(
            "DELETE FROM outbox_pending WHERE sink = $1 AND seq IN ({})",
            seqs(2)
        );
        let done = format!(
            "UPDATE outbox_events SET sent_at = $1 WHERE seq IN ({}) AND NOT EXISTS \
             (SELECT 1 FROM outbox_pending p WHERE p.seq = outbox_events.seq)",
            seqs(2)
        );
        macro_rules! with_seqs {
            ($query:expr) => {{
                let mut query = $query;
                for event in sent {
                    query = query.bind(event.seq);
                }
                query
            }};
        }
        if tx.is_postgres() {
            on_tx!(&mut tx, |conn| with_seqs!(sqlx::query(&lock))
                .execute(&mut *conn)
                .await
                .map(drop))?;
        }
        let sink = self.sink.as_str();
        on_tx!(&mut tx, |conn| with_seqs!(
            sqlx::query(&delivered).bind(sink)
        )
        .execute(&mut *conn)
        .await
        .map(drop))?;
        on_tx!(&mut tx, |conn| with_seqs!(sqlx::query(&done).bind(at))
            .execute(&mut *conn)
            .await
            .map(drop))?;
        tx.commit().await
    }
}

impl Store {
    /// Claims up to `limit` rows still waiting for `sink`, oldest first. On PostgreSQL an
    /// empty claim also means another instance's relay of that sink holds the lock.
    pub async fn claim_events(&self, sink: EventSink, limit: i64) -> Result<Claim, Error> {
        if let Pools::Sqlite { .. } = self.db.pools {
            let events = on_pool!(&self.db, |pool| {
                sqlx::query_as(PENDING)
                    .bind(sink.as_str())
                    .bind(limit)
                    .fetch_all(pool)
                    .await
            })?;
            return Ok(Claim {
                sink,
                events,
                tx: None,
            });
        }
        let mut tx = self.begin().await?;
        let locked: bool = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(RELAY_LOCK + sink as i64)
                .fetch_one(&mut *conn)
                .await
        })?;
        if !locked {
            return Ok(Claim {
                sink,
                events: Vec::new(),
                tx: None,
            });
        }
        let claim = format!("{PENDING} FOR UPDATE OF p SKIP LOCKED");
        let events = on_tx!(&mut tx, |conn| {
            sqlx::query_as(&claim)
                .bind(sink.as_str())
                .bind(limit)
                .fetch_all(&mut *conn)
                .await
        })?;
        Ok(Claim {
            sink,
            events,
            tx: Some(tx),
        })
    }

    /// How many rows wait for `sink`, and when the oldest of them happened.
    pub async fn outbox_backlog(
        &self,
        sink: EventSink,
    ) -> Result<(i64, Option<DateTime<Utc>>), Error> {
        let (pending, oldest): (i64, Option<DateTime<Utc>>) = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(e.occurred_at) FROM outbox_pending p \
                 JOIN outbox_events e ON e.seq = p.seq WHERE p.sink = $1",
            )
            .bind(sink.as_str())
            .fetch_one(pool)
            .await
        })?;
        Ok((pending, oldest))
    }

    /// Forgets what waits for sinks that are no longer configured (`configured` are), marking
    /// the events nothing else waits for sent at `at`; returns how many delivery rows went.
    pub async fn release_unconfigured_sinks(
        &self,
        configured: &[EventSink],
        at: DateTime<Utc>,
    ) -> Result<u64, Error> {
        let gone: Vec<&str> = EventSink::ALL
            .iter()
            .filter(|sink| !configured.contains(sink))
            .map(|sink| sink.as_str())
            .collect();
        let mut released = 0;
        for sink in gone {
            let mut tx = self.begin().await?;
            let seqs: Vec<i64> = on_tx!(&mut tx, |conn| {
                sqlx::query_scalar("DELETE FROM outbox_pending WHERE sink = $1 RETURNING seq")
                    .bind(sink)
                    .fetch_all(&mut *conn)
                    .await
            })?;
            for chunk in seqs.chunks(512) {
                let list: Vec<String> = chunk.iter().map(i64::to_string).collect();
                let done = format!(
                    "UPDATE outbox_events SET sent_at = $1 WHERE seq IN ({}) AND NOT EXISTS \
                     (SELECT 1 FROM outbox_pending p WHERE p.seq = outbox_events.seq)",
                    list.join(", ")
                );
                on_tx!(&mut tx, |conn| {
                    sqlx::query(&done)
                        .bind(at)
                        .execute(&mut *conn)
                        .await
                        .map(drop)
                })?;
            }
            tx.commit().await?;
            released += seqs.len() as u64;
        }
        Ok(released)
    }

    /// Deletes up to `batch` rows sent before `sent_before`; returns how many.
    pub async fn prune_outbox(&self, sent_before: DateTime<Utc>, batch: i64) -> Result<u64, Error> {
        let deleted = on_writer!(&self.db, |pool| {
            sqlx::query(
                "DELETE FROM outbox_events WHERE seq IN (SELECT seq FROM outbox_events \
                 WHERE sent_at IS NOT NULL AND sent_at < $1 ORDER BY seq LIMIT $2)",
            )
            .bind(sent_before)
            .bind(batch)
            .execute(pool)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }
}
