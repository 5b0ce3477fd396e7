//! What is known of the database's health: a circuit breaker in front of every query.
//!
//! A query that finds the database unreachable (connection refused or reset, the server
//! shutting down) marks it down; a pool timeout makes the prober try a connection of its own,
//! and only if that fails (an outage, not a busy pool) is the database marked down. While it is down every query answers `Error::Unavailable` at once, so
//! requests get their 503 in microseconds instead of each waiting out the pool's acquire
//! timeout, and a prober pings it a few times a second until it answers, which reopens the
//! door. Nothing needs a restart.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

use super::{Db, Error, Pools};

/// How often a down database is pinged.
const PROBE_INTERVAL: Duration = Duration::from_millis(200);
/// How long one ping may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Up or down, and the prober's wake-up calls.
#[derive(Debug, Default)]
pub(super) struct Health {
    down: AtomicBool,
    went_down: Notify,
    /// A pool timed out: an outage (no connection can be made) or congestion (every
    /// connection busy). The prober tells them apart with a connection of its own.
    suspect: Notify,
}

/// A query result that can tell whether the database was unreachable.
pub(super) trait Outcome {
    /// The failure that says so, if any.
    fn unavailable(&self) -> Option<&sqlx::Error>;
}

impl<T> Outcome for Result<T, sqlx::Error> {
    fn unavailable(&self) -> Option<&sqlx::Error> {
        match self {
            Err(error) if matches!(Error::classify(error), Class::Unavailable) => Some(error),
            _ => None,
        }
    }
}

impl<T> Outcome for Result<T, Error> {
    fn unavailable(&self) -> Option<&sqlx::Error> {
        match self {
            Err(Error::Unavailable(error)) => Some(error),
            _ => None,
        }
    }
}

/// How a sqlx error is classified.
pub(super) enum Class {
    Unavailable,
    Conflict,
    Other,
}

impl Health {
    /// `Unavailable` at once while the database is known to be down.
    pub(super) fn admit(&self) -> Result<(), Error> {
        if self.down.load(Ordering::Acquire) {
            // The pool is not asked: this is the answer it would give after its timeout.
            return Err(Error::Unavailable(sqlx::Error::PoolTimedOut));
        }
        Ok(())
    }

    /// Marks the database down when `outcome` found it unreachable. A closed pool is a
    /// shutdown, not an outage; a pool timeout may be either an outage or congestion, so the
    /// prober checks before marking it down.
    pub(super) fn observe(&self, outcome: &impl Outcome) {
        match outcome.unavailable() {
            None | Some(sqlx::Error::PoolClosed) => {}
            Some(sqlx::Error::PoolTimedOut) => self.suspect.notify_one(),
            Some(_) => self.mark_down(),
        }
    }

    fn mark_down(&self) {
        if !self.down.swap(true, Ordering::AcqRel) {
            tracing::warn!("database unreachable: answering 503 at once until it is back");
            self.went_down.notify_one();
        }
    }
}

/// The prober task; aborted when dropped.
pub(super) struct Prober(tokio::task::JoinHandle<()>);

impl Drop for Prober {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts the task that brings a down database back up once it answers a ping.
pub(super) fn spawn_prober(db: Db) -> Prober {
    Prober(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = db.health.went_down.notified() => {}
                () = db.health.suspect.notified() => {
                    if !unreachable(&db.pools).await {
                        continue;
                    }
                    db.health.mark_down();
                }
            }
            while !ping(&db.pools).await {
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            db.health.down.store(false, Ordering::Release);
            tracing::info!("database reachable again");
        }
    }))
}

/// Whether a connection of its own (outside the pool, which may only be busy) cannot be
/// opened. A SQLite file is always reachable: its pool times out only when busy.
async fn unreachable(pools: &Pools) -> bool {
    use sqlx::Connection as _;

    let Pools::Postgres(pool) = pools else {
        return false;
    };
    let options = pool.connect_options();
    let connected = tokio::time::timeout(
        PROBE_TIMEOUT,
        sqlx::PgConnection::connect_with(options.as_ref()),
    )
    .await;
    match connected {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            false
        }
        _ => true,
    }
}

async fn ping(pools: &Pools) -> bool {
    let query = async {
        match pools {
            Pools::Sqlite { write, .. } => sqlx::query("SELECT 1").execute(write).await.map(|_| ()),
            Pools::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        }
    };
    matches!(tokio::time::timeout(PROBE_TIMEOUT, query).await, Ok(Ok(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(error: sqlx::Error) -> Result<(), sqlx::Error> {
        Err(error)
    }

    #[test]
    fn only_an_unreachable_database_marks_it_down_at_once() {
        let refused = || sqlx::Error::Io(std::io::ErrorKind::ConnectionRefused.into());
        let cases = [
            (failed(refused()), true, "connection refused"),
            (
                failed(sqlx::Error::PoolTimedOut),
                false,
                "busy or down: the prober decides",
            ),
            (failed(sqlx::Error::PoolClosed), false, "shutting down"),
            (failed(sqlx::Error::RowNotFound), false, "a query error"),
            (Ok(()), false, "success"),
        ];
        for (outcome, down, reason) in cases {
            let health = Health::default();

            health.observe(&outcome);

            assert_eq!(health.admit().is_err(), down, "{reason}");
        }
    }
}
