//! Persistence: the `Store` and its repositories, over SQLite or PostgreSQL.
//!
//! Both backends live behind one `Store`, chosen from the database URL at run time. SQL is
//! portable (numbered `$n` placeholders work on both drivers) and each query is written once;
//! `on_pool!` runs it on whichever pool is in use. Dialect differences stay inside this module.
//! Public methods take and return domain types; row structs stay private. This is the only
//! module that imports `sqlx`.

mod audit;
mod browser;
mod client_cache;
mod clients;
mod health;
mod inbound;
mod keys;
mod limit_counters;
mod mail;
mod outbox;
mod outbox_claims;
mod refresh_tokens;
mod revoked_tokens;
mod rotations;
mod tx;
mod users;

use std::os::unix::fs::OpenOptionsExt as _;
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::domain::EventSink;
use crate::hooks::Hooks;
use outbox::OutboxState;

/// PostgreSQL channel on which a commit that wrote events wakes every instance's relay.
const OUTBOX_CHANNEL: &str = "sigil_outbox";
/// The statement that does it, inside the committing transaction (delivered on commit).
const OUTBOX_NOTIFY: &str = "SELECT pg_notify('sigil_outbox', '')";

pub use audit::{AuditEntry, AuditQuery, AuditRecord, Outcome};
pub use browser::{
    AuthorizationCodeRecord, BrowserSession, CodeIssued, NewAuthorizationCode, NewBrowserSession,
};
pub use client_cache::ClientWatcher;
pub use clients::{Client, NewClient};
pub use inbound::{ExternalUser, InboundOutcome, InboundRecord};
pub use keys::{NewSigningKey, Revocation, StoredKey};
pub use limit_counters::{ClaimOutcome, CounterClaim};
pub use mail::{LinkTokenRecord, MailEnd, MailJob, NewLinkToken};
pub use outbox::{NewEvent, OutboxEvent, RotationEvents};
pub use outbox_claims::Claim;
pub use refresh_tokens::{NewRefreshFamily, RefreshTokenRecord};
pub use rotations::{Rotation, RotationPlan};
pub use tx::Tx;
pub use users::{NewUser, User, UserUpdate};

/// Connections of the PostgreSQL limit-counter pool: each statement is short.
const COUNTER_CONNECTIONS: u32 = 4;

/// How long a request waits for a pooled connection before the database counts as unavailable.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// Runs the read-only `$body` with `$pool` bound to the pool of the backend in use. While
/// the database is known to be down it answers `Error::Unavailable` at once instead (see
/// `health`), and an unreachable database seen by `$body` marks it down.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $body:expr) => {{
        let db: &$crate::store::Db = $db;
        db.health.admit()?;
        let outcome = match &db.pools {
            $crate::store::Pools::Sqlite { read: $pool, .. } => $body,
            $crate::store::Pools::Postgres($pool) => $body,
        };
        db.health.observe(&outcome);
        outcome
    }};
}
use on_pool;

/// Runs `$body`, which writes, with `$pool` bound to the backend's writer: SQLite's single
/// write connection (writes queue on the pool instead of colliding on the file lock), or the
/// PostgreSQL pool. Fails fast and marks the database down like `on_pool!`.
macro_rules! on_writer {
    ($db:expr, |$pool:ident| $body:expr) => {{
        let db: &$crate::store::Db = $db;
        db.health.admit()?;
        let outcome = match &db.pools {
            $crate::store::Pools::Sqlite { write: $pool, .. } => $body,
            $crate::store::Pools::Postgres($pool) => $body,
        };
        db.health.observe(&outcome);
        outcome
    }};
}
use on_writer;

/// A storage failure, classified so callers can answer correctly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached (pool timeout, connection refused): a 503.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// A unique key is already taken.
    #[error("conflicting row already exists")]
    Conflict,
    /// Anything else: a bug or corrupted data.
    #[error("database error")]
    Other(#[source] anyhow::Error),
}

impl Error {
    /// Which kind of failure a sqlx error is.
    fn classify(error: &sqlx::Error) -> health::Class {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => health::Class::Unavailable,
            sqlx::Error::Database(db) if db.is_unique_violation() => health::Class::Conflict,
            // SQLSTATE classes 08 (connection exception) and 57 (operator intervention: the
            // server is shutting down or restarting).
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|code| code.starts_with("08") || code.starts_with("57")) =>
            {
                health::Class::Unavailable
            }
            _ => health::Class::Other,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(error: sqlx::Error) -> Self {
        match Self::classify(&error) {
            health::Class::Unavailable => Self::Unavailable(error),
            health::Class::Conflict => Self::Conflict,
            health::Class::Other => Self::Other(error.into()),
        }
    }
}

/// Creates a missing SQLite database file readable and writable by its owner only (0600);
/// SQLite gives its `-wal` and `-shm` files the database file's mode. An existing file keeps
/// the mode its operator chose.
fn create_private(database: &std::path::Path) -> std::io::Result<()> {
    if database.as_os_str().is_empty() || database.as_os_str() == ":memory:" {
        return Ok(());
    }
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(database);
    match created {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}

/// Takes an exclusive `flock` on `<database>-migrate.lock`, held until the file is dropped.
/// The database file itself is never opened here: closing a second descriptor of it would
/// drop SQLite's own POSIX locks.
async fn lock_beside(database: &std::path::Path) -> anyhow::Result<std::fs::File> {
    let mut path = database.as_os_str().to_owned();
    path.push("-migrate.lock");
    let lock = tokio::task::spawn_blocking(move || {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    });
    Ok(lock.await??)
}

/// Client-lookup cache settings, from `Config`.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// How long a client read from the database is served from memory without asking the
    /// database again. While the database is unreachable, cached clients are served for up
    /// to a day.
    pub client_cache_ttl: Duration,
    /// Test seams (unset in production).
    pub hooks: Hooks,
    /// The brokers events are relayed to: changes write outbox events, each waiting for
    /// every one of them (none: no events are written).
    pub event_sinks: Vec<EventSink>,
}

/// The pools of the backend in use and what is known of its health.
#[derive(Clone)]
struct Db {
    pools: Pools,
    health: Arc<health::Health>,
    /// PostgreSQL only: a few connections for the limit counters, whose commits do not wait
    /// for the WAL flush (see `limit_counters`).
    counters: Option<PgPool>,
}

/// The pools of the backend in use.
#[derive(Clone)]
enum Pools {
    /// SQLite allows one writer at a time: readers get a pool, writers one connection.
    Sqlite {
        read: SqlitePool,
        write: SqlitePool,
    },
    Postgres(PgPool),
}

/// Shared handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Db,
    clients: client_cache::ClientCache,
    rotations: rotations::Rotations,
    /// Stops the health prober with the last clone.
    #[expect(
        dead_code,
        reason = "held only to stop the prober when the store is dropped"
    )]
    prober: Arc<health::Prober>,
    hooks: Hooks,
    outbox: Arc<OutboxState>,
}

impl Store {
    /// The test seams of this server (all unset in production).
    pub(crate) fn hooks(&self) -> &Hooks {
        &self.hooks
    }

    /// Connects to `sqlite:…` (the file is created if missing, WAL mode) or `postgres://…`.
    /// The pool connects eagerly, so an unreachable database fails here.
    pub async fn connect(url: &str, options: StoreOptions) -> anyhow::Result<Self> {
        let (pools, counters) = if url.starts_with("sqlite:") {
            (sqlite_pools(url).await?, None)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let (pool, counters) = postgres_pools(url).await?;
            (Pools::Postgres(pool), Some(counters))
        } else {
            anyhow::bail!("unsupported database URL: expected sqlite:… or postgres://…");
        };
        let db = Db {
            pools,
            health: Arc::new(health::Health::default()),
            counters,
        };
        let outbox = Arc::new(OutboxState::new(options.event_sinks));
        Ok(Self {
            rotations: rotations::Rotations::spawn(db.clone(), outbox.clone()),
            prober: Arc::new(health::spawn_prober(db.clone())),
            db,
            clients: client_cache::ClientCache::new(options.client_cache_ttl),
            hooks: options.hooks,
            outbox,
        })
    }

    /// Applies pending migrations from `migrations/<backend>/` (embedded at build time).
    /// Safe when several processes start at once: PostgreSQL migrations run under sqlx's
    /// advisory lock, SQLite ones under an exclusive lock on a file beside the database.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.db.pools {
            Pools::Sqlite { write, .. } => {
                let database = write.connect_options().get_filename().to_owned();
                let _lock = lock_beside(&database).await?;
                sqlx::migrate!("migrations/sqlite").run(write).await?;
            }
            Pools::Postgres(pool) => sqlx::migrate!("migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// Checks that the database answers a trivial query (at once `Unavailable` while it is
    /// known to be down).
    #[tracing::instrument(skip_all)]
    pub async fn ping(&self) -> Result<(), Error> {
        on_pool!(&self.db, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Closes every pooled connection; used on shutdown.
    pub async fn close(&self) {
        match &self.db.pools {
            Pools::Sqlite { read, write } => {
                read.close().await;
                write.close().await;
            }
            Pools::Postgres(pool) => pool.close().await,
        }
        if let Some(counters) = &self.db.counters {
            counters.close().await;
        }
    }

    /// Runs a batched `DELETE` of old rows (`$1`: the time bound, `$2`: the batch size);
    /// returns how many went. Small batches never hold SQLite's writer long.
    async fn delete_batch(
        &self,
        sql: &str,
        before: chrono::DateTime<chrono::Utc>,
        batch: u32,
    ) -> Result<u64, Error> {
        let deleted = on_writer!(&self.db, |pool| {
            sqlx::query(sql)
                .bind(before)
                .bind(i64::from(batch))
                .execute(pool)
                .await
                .map(|done| done.rows_affected())
        })?;
        Ok(deleted)
    }

    /// The backend's name, for logs.
    pub fn backend(&self) -> &'static str {
        match self.db.pools {
            Pools::Sqlite { .. } => "sqlite",
            Pools::Postgres(_) => "postgres",
        }
    }
}

/// The SQLite pools of the file at `url` (created if missing, WAL mode): one writer and a
/// few readers.
async fn sqlite_pools(url: &str) -> anyhow::Result<Pools> {
    let connect = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true);
    // The first connection switches a new file to WAL, which must not race another
    // process doing the same.
    let _lock = lock_beside(connect.get_filename()).await?;
    create_private(connect.get_filename())?;
    // A local file cannot drop a connection the way a network can: skip sqlx's
    // health check on every acquire (a round trip through the SQLite worker thread).
    let write = SqlitePoolOptions::new()
        .max_connections(1)
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect.clone())
        .await?;
    // Each connection keeps its own page cache (2 MiB by default) and worker thread;
    // a few per core keep every core busy without multiplying memory.
    let readers = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
    let read = SqlitePoolOptions::new()
        .max_connections(u32::try_from(readers).unwrap_or(u32::MAX))
        .test_before_acquire(false)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect.read_only(true))
        .await?;
    Ok(Pools::Sqlite { read, write })
}

/// The PostgreSQL pool at `url`, and the small pool of the limit counters (commits without
/// waiting for the disk).
async fn postgres_pools(url: &str) -> anyhow::Result<(PgPool, PgPool)> {
    let connect = PgConnectOptions::from_str(url)?;
    let counters = PgPoolOptions::new()
        .max_connections(COUNTER_CONNECTIONS)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect.clone().options([("synchronous_commit", "off")]))
        .await?;
    let pool = PgPoolOptions::new()
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(connect)
        .await?;
    Ok((pool, counters))
}
