//! The `outbox_events` table: events written in the transaction of the change they report
//! (`Tx::emit`), each with a delivery row per configured sink (`outbox_pending`), which the
//! relays claim and finish (`outbox_claims`); and the state that says which sinks those are
//! and wakes their relays.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::OUTBOX_NOTIFY as NOTIFY;
use super::tx::on_tx;
use super::{Error, Pools, Store, Tx};
use crate::domain::EventSink;

/// Which sinks changes write events for, and the wake-ups of the relays.
#[derive(Default)]
pub(super) struct OutboxState {
    /// The configured sinks, in `EventSink::ALL` order (none: events are off).
    pub(super) sinks: Vec<EventSink>,
    /// The statement writing an event's delivery rows: `$1` its seq, then one sink each.
    pub(super) pending_insert: String,
    /// Wakes each sink's relay (by `EventSink as usize`): a transaction that wrote events
    /// has committed.
    pub(super) written: [tokio::sync::Notify; EventSink::ALL.len()],
    /// Wakes the mail relay: a transaction that queued mail has committed.
    pub(super) mailed: tokio::sync::Notify,
}

impl OutboxState {
    pub(super) fn new(mut sinks: Vec<EventSink>) -> Self {
        sinks.sort_unstable();
        sinks.dedup();
        let rows: Vec<String> = (2..sinks.len() + 2)
            .map(|n| format!("(${n}, $1)"))
            .collect();
        Self {
            pending_insert: format!(
                "INSERT INTO outbox_pending (sink, seq) VALUES {}",
                rows.join(", ")
            ),
            sinks,
            ..Self::default()
        }
    }

    /// Wakes the relays: a transaction that wrote events has committed.
    pub(super) fn written(&self) {
        for relay in &self.written {
            relay.notify_one();
        }
    }
}

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

pub(super) const INSERT: &str = "INSERT INTO outbox_events \
                                 (id, entity, entity_id, verb, data, occurred_at, traceparent) \
                                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING seq";

/// Inserts the `NewEvent` `$event` with a fresh id, and a delivery row for each sink of the
/// `OutboxState` `$outbox`, through `$conn` (a connection in the transaction of the change it
/// reports).
macro_rules! insert_event {
    ($event:expr, $outbox:expr, $conn:expr) => {{
        let event: &$crate::store::NewEvent = $event;
        let outbox: &$crate::store::OutboxState = $outbox;
        async {
            let seq: i64 = sqlx::query_scalar($crate::store::outbox::INSERT)
                .bind(uuid::Uuid::new_v4().to_string())
                .bind(event.entity)
                .bind(&event.entity_id)
                .bind(event.verb)
                .bind(event.data.to_string())
                .bind(event.at)
                .bind(event.traceparent.as_deref())
                .fetch_one($conn)
                .await?;
            let mut pending = sqlx::query(&outbox.pending_insert).bind(seq);
            for sink in &outbox.sinks {
                pending = pending.bind(sink.as_str());
            }
            pending.execute($conn).await.map(|_| ())
        }
        .await
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
impl Tx {
    /// Writes `event` with the transaction's other changes, when events are configured (no
    /// row otherwise). The relay is woken after the commit.
    pub async fn emit(&mut self, event: &NewEvent) -> Result<(), Error> {
        if !self.store().outbox_enabled() {
            return Ok(());
        }
        let outbox = self.store().outbox.clone();
        on_tx!(self, |conn| insert_event!(event, &outbox, &mut *conn))?;
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
        let mut tx = self.begin().await?;
        tx.emit(event).await?;
        tx.commit().await
    }

    /// Whether events are configured, so that changes write outbox rows.
    pub fn outbox_enabled(&self) -> bool {
        !self.outbox.sinks.is_empty()
    }

    /// Completes when a transaction that wrote events has committed (in this process), for
    /// the relay of `sink`.
    pub async fn events_written(&self, sink: EventSink) {
        self.outbox.written[sink as usize].notified().await;
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
