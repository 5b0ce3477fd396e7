//! The `audit_events` table: append-only, written in the transaction of the change it
//! records; read newest first with filters and an id cursor; pruned after retention.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Pools, Store, Tx, on_pool};
use crate::domain::Actor;

/// How an audited action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It happened.
    Success,
    /// It was attempted and refused or failed.
    Failure,
}

impl Outcome {
    /// `success` or `failure`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
        }
    }
}

/// One audit row to write. `details` must never hold a secret, hash or token.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who, through which client, from where.
    pub actor: Actor,
    /// What, as `<entity>.<verb>` (`user.update`, `login.failure`, `key.rotate`, ...).
    pub action: &'static str,
    /// The kind and id of what it was done to.
    pub target: Option<(&'static str, String)>,
    /// How it ended.
    pub outcome: Outcome,
    /// More about it (a JSON object).
    pub details: serde_json::Value,
}

impl AuditEntry {
    /// A successful `action` by `actor` at `at`, without target or details yet.
    pub fn new(actor: &Actor, action: &'static str, at: DateTime<Utc>) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            target: None,
            outcome: Outcome::Success,
            details: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    /// What it was done to.
    pub fn target(mut self, kind: &'static str, id: impl Into<String>) -> Self {
        self.target = Some((kind, id.into()));
        self
    }

    /// Sets the details (a JSON object).
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = details;
        self
    }

    /// The same action, failed for `reason` (a short, safe description).
    pub fn failed(mut self, reason: &str) -> Self {
        self.outcome = Outcome::Failure;
        if let serde_json::Value::Object(map) = &mut self.details {
            map.insert("reason".into(), reason.into());
        }
        self
    }
}

/// A stored audit row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditRecord {
    /// Increasing id; the cursor of the listing.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `client`, `system` or `anonymous`.
    pub actor_type: String,
    /// The user id, client id or system label.
    pub actor_id: Option<String>,
    /// The client the call came through.
    pub client_id: Option<String>,
    /// The caller's IP address.
    pub ip: Option<String>,
    /// What.
    pub action: String,
    /// Kind of the target.
    pub target_type: Option<String>,
    /// Id of the target.
    pub target_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// More about it, as JSON text.
    pub details: String,
}

/// Which rows to list, newest first.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    /// Only rows of this actor id.
    pub actor: Option<String>,
    /// Only rows of this action.
    pub action: Option<String>,
    /// Only rows about this target id.
    pub target: Option<String>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only rows older than this id (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many rows.
    pub limit: u32,
}

pub(super) const INSERT: &str = "INSERT INTO audit_events (at, actor_type, actor_id, client_id, ip, action, \
                      target_type, target_id, outcome, details) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

/// One bound value of a listing query.
enum Bind {
    Text(String),
    Time(DateTime<Utc>),
    Int(i64),
}

macro_rules! insert_entry {
    ($entry:expr, $conn:expr) => {{
        let entry: &$crate::store::AuditEntry = $entry;
        sqlx::query($crate::store::audit::INSERT)
            .bind(entry.at)
            .bind(entry.actor.kind())
            .bind(entry.actor.id())
            .bind(entry.actor.client_id.as_deref())
            .bind(entry.actor.ip.map(|ip| ip.to_canonical().to_string()))
            .bind(entry.action)
            .bind(entry.target.as_ref().map(|(kind, _)| *kind))
            .bind(entry.target.as_ref().map(|(_, id)| id.as_str()))
            .bind(entry.outcome.as_str())
            .bind(entry.details.to_string())
            .execute($conn)
            .await
            .map(|_| ())
    }};
}
pub(super) use insert_entry;

impl Tx {
    /// Writes an audit row with the transaction's other changes.
    pub async fn record(&mut self, entry: &AuditEntry) -> Result<(), Error> {
        on_tx!(self, |conn| insert_entry!(entry, &mut *conn))?;
        Ok(())
    }
}

impl Store {
    /// Writes an audit row on its own (a failed login: there is no change to join).
    #[tracing::instrument(skip_all, fields(action = entry.action))]
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), Error> {
        super::on_writer!(&self.db, |pool| insert_entry!(entry, pool))?;
        Ok(())
    }

    /// Writes audit rows and events that join no change (a failed login, the lockout it
    /// began and its `login.failed`) in one short transaction: one statement for one row.
    pub async fn record_all(
        &self,
        entries: &[AuditEntry],
        events: &[super::NewEvent],
    ) -> Result<(), Error> {
        let events = if self.outbox_enabled() { events } else { &[] };
        if let ([entry], []) = (entries, events) {
            return self.record(entry).await;
        }
        let mut tx = self.begin().await?;
        for entry in entries {
            tx.record(entry).await?;
        }
        for event in events {
            tx.emit(event).await?;
        }
        tx.commit().await
    }

    /// Audit rows matching `query`, newest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
        let mut conditions = Vec::new();
        let mut binds = Vec::new();
        let mut add = |column: &str, op: &str, bind: Bind| {
            binds.push(bind);
            conditions.push(format!("{column} {op} ${}", binds.len()));
        };
        if let Some(actor) = &query.actor {
            add("actor_id", "=", Bind::Text(actor.clone()));
        }
        if let Some(action) = &query.action {
            add("action", "=", Bind::Text(action.clone()));
        }
        if let Some(target) = &query.target {
            add("target_id", "=", Bind::Text(target.clone()));
        }
        if let Some(since) = query.since {
            add("at", ">=", Bind::Time(since));
        }
        if let Some(before) = query.before_id {
            add("id", "<", Bind::Int(before));
        }
        let filter = match conditions.is_empty() {
            true => String::new(),
            false => format!(" WHERE {}", conditions.join(" AND ")),
        };
        binds.push(Bind::Int(i64::from(query.limit)));
        let sql = format!(
            "SELECT id, at, actor_type, actor_id, client_id, ip, action, target_type, \
             target_id, outcome, details FROM audit_events{filter} ORDER BY id DESC LIMIT ${}",
            binds.len()
        );
        let rows = on_pool!(&self.db, |pool| {
            let mut select = sqlx::query_as::<_, AuditRecord>(&sql);
            for bind in &binds {
                select = match bind {
                    Bind::Text(text) => select.bind(text.as_str()),
                    Bind::Time(time) => select.bind(*time),
                    Bind::Int(int) => select.bind(*int),
                };
            }
            select.fetch_all(pool).await
        })?;
        Ok(rows)
    }

    /// Deletes at most `batch` audit rows written before `before`; returns how many went.
    /// On PostgreSQL this is the one delete the table's trigger lets through: the
    /// transaction announces itself as the pruning job.
    #[tracing::instrument(skip_all)]
    pub async fn prune_audit(&self, before: DateTime<Utc>, batch: u32) -> Result<u64, Error> {
        const SQL: &str = "DELETE FROM audit_events WHERE id IN \
                           (SELECT id FROM audit_events WHERE at < $1 ORDER BY id LIMIT $2)";
        if !matches!(self.db.pools, Pools::Postgres(_)) {
            return self.delete_batch(SQL, before, batch).await;
        }
        let deleted = super::on_writer!(&self.db, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL sigil.audit_prune = 'on'")
                .execute(&mut *tx)
                .await?;
            let deleted = sqlx::query(SQL)
                .bind(before)
                .bind(i64::from(batch))
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await.map(|()| deleted)
        })?;
        Ok(deleted)
    }
}
