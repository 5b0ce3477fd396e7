//! The unit of work: one database transaction, the same type over both backends.
//!
//! A use case that writes more than one row, or that records an audit row with its change,
//! takes a `Tx` from `Store::begin`, makes its writes through it and commits. Dropping a `Tx`
//! without committing rolls everything back. On SQLite the transaction holds the single
//! writer connection (`BEGIN IMMEDIATE`, so it never meets a lock upgrade halfway), so callers
//! do slow work (password hashing) before they begin. Effects outside the database (dropping
//! a changed client from the cache, telling other instances) run only after the commit.

use super::{Error, Pools, Store};
use crate::domain::ClientId;
use crate::hooks::Hooks;

/// An open transaction.
pub struct Tx {
    pub(super) conn: TxConn,
    store: Store,
    /// Clients changed in this transaction: dropped from the cache after the commit.
    pub(super) changed_clients: Vec<ClientId>,
    /// Whether it wrote outbox events: the relay is woken after the commit.
    pub(super) emitted: bool,
    /// Whether it queued mail: the mail relay is woken after the commit.
    pub(super) mailed: bool,
}

pub(super) enum TxConn {
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Runs `$body` with `$conn` bound to the transaction's connection of the backend in use;
/// an unreachable database seen by `$body` marks it down (see `health`).
macro_rules! on_tx {
    ($tx:expr, |$conn:ident| $body:expr) => {{
        let tx: &mut $crate::store::Tx = $tx;
        let outcome = match &mut tx.conn {
            $crate::store::tx::TxConn::Sqlite(t) => {
                let $conn: &mut sqlx::SqliteConnection = &mut **t;
                $body
            }
            $crate::store::tx::TxConn::Postgres(t) => {
                let $conn: &mut sqlx::PgConnection = &mut **t;
                $body
            }
        };
        tx.observe(&outcome);
        outcome
    }};
}
pub(super) use on_tx;

impl Store {
    /// Opens a transaction on the writer (at once `Unavailable` while the database is known
    /// to be down).
    pub async fn begin(&self) -> Result<Tx, Error> {
        self.db.health.admit()?;
        let conn = match &self.db.pools {
            // sqlx's `begin_with` on SQLite is not cancellation-safe: a caller dropped after
            // the BEGIN ran but before its `Transaction` exists (a client hanging up) returns
            // the writer to the pool inside a transaction, and every later write would run in
            // it, uncommitted. A task of its own always gets to the `Transaction`, which
            // rolls back when dropped if nobody waits for it any more.
            Pools::Sqlite { write, .. } => {
                let write = write.clone();
                let begun = tokio::spawn(async move { write.begin_with("BEGIN IMMEDIATE").await });
                match begun.await {
                    Ok(begun) => begun.map(TxConn::Sqlite),
                    Err(_) => Err(sqlx::Error::WorkerCrashed),
                }
            }
            Pools::Postgres(pool) => pool.begin().await.map(TxConn::Postgres),
        };
        self.db.health.observe(&conn);
        Ok(Tx {
            conn: conn?,
            store: self.clone(),
            changed_clients: Vec::new(),
            emitted: false,
            mailed: false,
        })
    }
}

impl Tx {
    /// Commits every write of the transaction, then applies its effects outside the
    /// database. On error nothing was written.
    pub async fn commit(mut self) -> Result<(), Error> {
        self.fault("commit")?;
        if self.emitted && self.is_postgres() {
            on_tx!(&mut self, |conn| sqlx::query(super::OUTBOX_NOTIFY)
                .execute(&mut *conn)
                .await
                .map(drop))?;
        }
        let Self {
            conn,
            store,
            changed_clients,
            emitted,
            mailed,
        } = self;
        let committed = match conn {
            TxConn::Sqlite(tx) => tx.commit().await,
            TxConn::Postgres(tx) => tx.commit().await,
        };
        store.db.health.observe(&committed);
        committed?;
        if emitted {
            store.outbox.written();
        }
        if mailed {
            store.outbox.mailed.notify_one();
        }
        for id in &changed_clients {
            store.announce_client_change(id).await;
        }
        Ok(())
    }

    /// Fails here when a test armed a fault at `point` (see `hooks::Fault`).
    pub(super) fn fault(&self, point: &'static str) -> Result<(), Error> {
        match &self.hooks().fault {
            Some(fault) if fault.trips(point) => {
                Err(Error::Other(anyhow::anyhow!("fault injected at {point}")))
            }
            _ => Ok(()),
        }
    }

    pub(super) fn observe(&self, outcome: &impl super::health::Outcome) {
        self.store.db.health.observe(outcome);
    }

    /// The clause that locks selected rows until the transaction ends: `FOR UPDATE` on
    /// PostgreSQL; nothing on SQLite, whose transaction already holds the only writer.
    pub(super) fn row_lock(&self) -> &'static str {
        if self.is_postgres() {
            " FOR UPDATE"
        } else {
            ""
        }
    }

    pub(super) fn is_postgres(&self) -> bool {
        matches!(self.conn, TxConn::Postgres(_))
    }

    pub(super) fn store(&self) -> &Store {
        &self.store
    }

    fn hooks(&self) -> &Hooks {
        self.store.hooks()
    }
}
