//! The `outbox_events` table: events written in the transaction of the change they report
//! (`Tx::emit`), claimed by the relay in `seq` order, marked sent on the broker's ack, and
//! pruned after retention.
//!
//! On PostgreSQL a claim is a transaction holding a transaction-scoped advisory lock, so one
//! relay of all the instances publishes at a time and rows leave in commit order; its rows are
//! also locked (`FOR UPDATE SKIP LOCKED`). On SQLite (one instance, one relay) a claim reads
//! the pending rows without holding the single writer while they are published.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::tx::on_tx;
use super::{Error, Pools, Store, Tx, on_pool, on_writer};

use super::OUTBOX_NOTIFY as NOTIFY;

/// `pg_advisory_xact_lock` key of the relay: one claim at a time across instances.
const RELAY_LOCK: i64 = 0x5_1615_0001;

/// An event to write. `data` must never hold a secret, hash or token.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What it is about: `user`, `session`, `token`, `login`, `client`, `key`.
    pub entity: &'static str,
    /// The id of that entity (the CloudEvents `subject`).
    pub entity_id: String,
    /// What happened: `created`, `updated`, `deleted`, `invalidated`, ...
    pub verb: &'static str,
    /// The payload (a JSON object).
    pub data: serde_json::Value,
    /// When it happened.
    pub at: DateTime<Utc>,
    /// The W3C trace context of the traced request that caused it, if any.
    pub traceparent: Option<String>,
}

impl NewEvent {
    /// `entity` `entity_id` `verb` at `at`, carrying `data` and the trace context of the
    /// span running now (when it is traced).
    pub fn new(
        entity: &'static str,
        entity_id: impl Into<String>,
        verb: &'static str,
        data: serde_json::Value,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            entity,
            entity_id: entity_id.into(),
            verb,
            data,
            at,
            traceparent: crate::telemetry::traceparent(),
        }
    }
}

/// A written event, as the relay reads it.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEvent {
    /// Position in commit order.
    pub seq: i64,
    /// The event id (a UUID): the CloudEvents `id` and the `Nats-Msg-Id`.
    pub id: String,
    /// See `NewEvent::entity`.
    pub entity: String,
    /// See `NewEvent::entity_id`.
    pub entity_id: String,
    /// See `NewEvent::verb`.
    pub verb: String,
    /// The payload, as JSON text.
    pub data: String,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// See `NewEvent::traceparent`.
    pub traceparent: Option<String>,
}

/// Pending rows claimed for publishing; `sent` marks those the broker acknowledged.
pub struct Claim {
    events: Vec<OutboxEvent>,
    /// PostgreSQL: the transaction holding the relay lock and the rows.
    tx: Option<Tx>,
}

impl Claim {
    /// The claimed rows, oldest first.
    pub fn events(&self) -> &[OutboxEvent] {
        &self.events
    }

    /// Marks the first `count` claimed rows sent at `at` and ends the claim (the others stay
    /// pending, in order, for the next claim).
    pub async fn sent(self, store: &Store, count: usize, at: DateTime<Utc>) -> Result<(), Error> {
        let sent = &self.events[..count.min(self.events.len())];
        if sent.is_empty() {
            return Ok(());
        }
        // Exactly the claimed rows: a row committed after the claim may sit between them.
        let placeholders: Vec<String> = (2..sent.len() + 2).map(|n| format!("${n}")).collect();
        let mark = format!(
            "UPDATE outbox_events SET sent_at = $1 WHERE seq IN ({})",
            placeholders.join(", ")
        );
        macro_rules! mark {
            ($executor:expr) => {{
                let mut query = sqlx::query(&mark).bind(at);
                for event in sent {
                    query = query.bind(event.seq);
                }
                query
                    .execute($executor)
                    .await
                    .map(|done| done.rows_affected())
            }};
        }
        match self.tx {
            Some(mut tx) => {
                on_tx!(&mut tx, |conn| mark!(&mut *conn))?;
                tx.commit().await
            }
            None => {
                on_writer!(&store.db, |pool| mark!(pool))?;
                Ok(())
            }
        }
    }
}

pub(super) const INSERT: &str = "INSERT INTO outbox_events \
                                 (id, entity, entity_id, verb, data, occurred_at, traceparent) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Inserts the `NewEvent` `$event` with a fresh id through `$conn` (a connection in the
/// transaction of the change it reports).
macro_rules! insert_event {
    ($event:expr, $conn:expr) => {{
        let event: &$crate::store::NewEvent = $event;
        sqlx::query($crate::store::outbox::INSERT)
            .bind(uuid::Uuid::new_v4().to_string())
            .bind(event.entity)
            .bind(&event.entity_id)
            .bind(event.verb)
            .bind(event.data.to_string())
            .bind(event.at)
            .bind(event.traceparent.as_deref())
            .execute($conn)
            .await
            .map(|_| ())
    }};
}
pub(super) use insert_event;

/// The events a refresh-token rotation may write, prepared by the application layer: the
/// store writes `issued` with a successful rotation and `reused` with the revocation of a
/// family whose spent token came back.
#[derive(Debug, Clone)]
pub struct RotationEvents {
    /// `token.issued`.
    pub issued: NewEvent,
    /// `session.invalidated` (reason `reuse_detected`).
    pub reused: NewEvent,
}
const PENDING: &str = "SELECT seq, id, entity, entity_id, verb, data, occurred_at, traceparent \
                       FROM outbox_events WHERE sent_at IS NULL ORDER BY seq LIMIT $1";

impl Tx {
    /// Writes `event` with the transaction's other changes, when events are configured (no
    /// row otherwise). The relay is woken after the commit.
    pub async fn emit(&mut self, event: &NewEvent) -> Result<(), Error> {
        if !self.store().outbox_enabled() {
            return Ok(());
        }
        on_tx!(self, |conn| insert_event!(event, &mut *conn))?;
        self.emitted = true;
        Ok(())
    }
}

impl Store {
    /// Writes `event` on its own (an event that joins no other change: a client_credentials
    /// token), when events are configured.
    pub async fn emit(&self, event: &NewEvent) -> Result<(), Error> {
        if !self.outbox_enabled() {
            return Ok(());
        }
        on_writer!(&self.db, |pool| insert_event!(event, pool))?;
        self.db.events_committed(&self.outbox).await;
        Ok(())
    }

    /// Whether events are configured, so that changes write outbox rows.
    pub fn outbox_enabled(&self) -> bool {
        self.outbox.enabled
    }

    /// Completes when a transaction that wrote events has committed (in this process).
    pub async fn events_written(&self) {
        self.outbox.written.notified().await;
    }

    /// Claims up to `limit` pending rows, oldest first. On PostgreSQL an empty claim also
    /// means another instance's relay holds the lock.
    pub async fn claim_events(&self, limit: i64) -> Result<Claim, Error> {
        if let Pools::Sqlite { .. } = self.db.pools {
            let events = on_pool!(&self.db, |pool| {
                sqlx::query_as(PENDING).bind(limit).fetch_all(pool).await
            })?;
            return Ok(Claim { events, tx: None });
        }
        let mut tx = self.begin().await?;
        let locked: bool = on_tx!(&mut tx, |conn| {
            sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
                .bind(RELAY_LOCK)
                .fetch_one(&mut *conn)
                .await
        })?;
        if !locked {
            return Ok(Claim {
                events: Vec::new(),
                tx: None,
            });
        }
        let claim = format!("{PENDING} FOR UPDATE SKIP LOCKED");
        let events = on_tx!(&mut tx, |conn| {
            sqlx::query_as(&claim)
                .bind(limit)
                .fetch_all(&mut *conn)
                .await
        })?;
        Ok(Claim {
            events,
            tx: Some(tx),
        })
    }

    /// How many rows wait, and when the oldest of them happened.
    pub async fn outbox_backlog(&self) -> Result<(i64, Option<DateTime<Utc>>), Error> {
        let (pending, oldest): (i64, Option<DateTime<Utc>>) = on_pool!(&self.db, |pool| {
            sqlx::query_as(
                "SELECT COUNT(*), MIN(occurred_at) FROM outbox_events WHERE sent_at IS NULL",
            )
            .fetch_one(pool)
            .await
        })?;
        Ok((pending, oldest))
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

impl super::Db {
    /// After a commit that wrote events outside a `Tx`: wakes this relay, and on PostgreSQL
    /// every instance's (best effort: the relays also look every second).
    pub(super) async fn events_committed(&self, outbox: &super::OutboxState) {
        if let Pools::Postgres(pool) = &self.pools {
            let _ = sqlx::query(NOTIFY).execute(pool).await;
        }
        outbox.written();
    }
}
