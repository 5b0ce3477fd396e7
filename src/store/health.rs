//! What is known of the database's health: a circuit breaker in front of every query.
//!
//! A query that finds the database unreachable (connection refused or reset, pool timeout)
//! marks it down. While it is down every query answers `Error::Unavailable` at once, so
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

/// Up or down, and the prober's wake-up call.
#[derive(Debug, Default)]
pub(super) struct Health {
    down: AtomicBool,
    went_down: Notify,
}

/// A query result that can tell whether the database was unreachable.
pub(super) trait Outcome {
    fn unreachable(&self) -> bool;
}

impl<T> Outcome for Result<T, sqlx::Error> {
    fn unreachable(&self) -> bool {
        // A closed pool is a shutdown, not an outage.
        matches!(self, Err(error) if !matches!(error, sqlx::Error::PoolClosed)
            && matches!(Error::classify(error), Class::Unavailable))
    }
}

impl<T> Outcome for Result<T, Error> {
    fn unreachable(&self) -> bool {
        matches!(self, Err(Error::Unavailable(error)) if !matches!(error, sqlx::Error::PoolClosed))
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

    /// Marks the database down when `outcome` found it unreachable.
    pub(super) fn observe(&self, outcome: &impl Outcome) {
        if outcome.unreachable() && !self.down.swap(true, Ordering::AcqRel) {
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
            db.health.went_down.notified().await;
            while !ping(&db.pools).await {
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            db.health.down.store(false, Ordering::Release);
            tracing::info!("database reachable again");
        }
    }))
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
