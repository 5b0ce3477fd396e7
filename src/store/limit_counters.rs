//! The `limit_counters` table: attempt counters that several instances share.
//!
//! A claim is one statement per attempt (`INSERT … ON CONFLICT … DO UPDATE … RETURNING`), so
//! the decision and the count are one atomic step in the database: of any number of parallel
//! attempts, exactly `max_count` per window get a slot, whichever instance they reach.
//!
//! On PostgreSQL these statements go through their own small pool with `synchronous_commit`
//! off: a counter row is hot (every attempt for one username or IP updates it), and a commit
//! that waited for the WAL flush would hold its row lock for a disk write. The atomicity is
//! unchanged; a crash of the database server may forget the last fraction of a second of
//! counts, which a limit can afford (sessions and tokens keep full durability).

use chrono::{DateTime, Utc};

use super::{Error, Store, on_writer};

/// Runs `$body` on the counter pool (PostgreSQL) or, without one, on the writer, with the
/// health checks of `on_writer!`.
macro_rules! on_counters {
    ($db:expr, |$pool:ident| $body:expr) => {{
        let db: &super::Db = $db;
        match &db.counters {
            Some($pool) => {
                db.health.admit()?;
                let outcome = $body;
                db.health.observe(&outcome);
                outcome
            }
            None => on_writer!(db, |$pool| $body),
        }
    }};
}

/// One counter to claim a slot of.
#[derive(Debug, Clone, Copy)]
pub struct CounterClaim<'a> {
    /// SHA-256 of what is counted (never the value itself).
    pub key: &'a [u8; 32],
    /// Slots per window.
    pub max_count: u32,
}

/// What a claim got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimOutcome {
    /// Whether the attempt got a slot; `false` when the window's slots were all taken.
    pub granted: bool,
    /// Start of the counter's current window.
    pub window_start: DateTime<Utc>,
    /// Slots taken in the window, this one included.
    pub count: u32,
}

impl Store {
    /// Claims one slot of every counter in `claims` at `now`; a window that started at or
    /// before `window_cutoff` (now − window) has ended and starts again. Outcomes come in the
    /// order of `claims`. A refused claim takes no slot.
    #[tracing::instrument(skip_all)]
    pub async fn claim_counters(
        &self,
        claims: &[CounterClaim<'_>],
        now: DateTime<Utc>,
        window_cutoff: DateTime<Utc>,
    ) -> Result<Vec<ClaimOutcome>, Error> {
        let values: Vec<String> = (0..claims.len())
            .map(|i| format!("(${}, $1, 1, ${}, TRUE)", 2 * i + 3, 2 * i + 4))
            .collect();
        let sql = format!(
            "INSERT INTO limit_counters (counter_key, window_start, count, max_count, granted) \
             VALUES {} ON CONFLICT (counter_key) DO UPDATE SET \
             window_start = CASE WHEN limit_counters.window_start <= $2 \
               THEN EXCLUDED.window_start ELSE limit_counters.window_start END, \
             count = CASE WHEN limit_counters.window_start <= $2 THEN 1 \
               WHEN limit_counters.count >= EXCLUDED.max_count THEN limit_counters.count \
               ELSE limit_counters.count + 1 END, \
             granted = (limit_counters.window_start <= $2 \
               OR limit_counters.count < EXCLUDED.max_count), \
             max_count = EXCLUDED.max_count \
             RETURNING counter_key, granted, window_start, count",
            values.join(", ")
        );
        // Rows are locked in ascending key order by every statement here, so two of them
        // never wait for each other in a cycle.
        let mut ordered: Vec<&CounterClaim<'_>> = claims.iter().collect();
        ordered.sort_by_key(|claim| claim.key);
        let rows: Vec<(Vec<u8>, bool, DateTime<Utc>, i64)> = on_counters!(&self.db, |pool| {
            let mut query = sqlx::query_as(&sql).bind(now).bind(window_cutoff);
            for claim in &ordered {
                let max = i64::from(claim.max_count);
                query = query.bind(claim.key.as_slice()).bind(max);
            }
            query.fetch_all(pool).await
        })?;
        claims
            .iter()
            .map(|claim| {
                let (_, granted, window_start, count) = rows
                    .iter()
                    .find(|(key, _, _, _)| key.as_slice() == claim.key.as_slice())
                    .ok_or_else(|| Error::Other(anyhow::anyhow!("claim returned no row")))?;
                Ok(ClaimOutcome {
                    granted: *granted,
                    window_start: *window_start,
                    count: u32::try_from(*count).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    /// Gives back a slot claimed in the window that started at `window_start` (an attempt
    /// that turned out not to count); nothing when that window has been replaced.
    #[tracing::instrument(skip_all)]
    pub async fn release_counter(
        &self,
        key: &[u8; 32],
        window_start: DateTime<Utc>,
    ) -> Result<(), Error> {
        on_counters!(&self.db, |pool| {
            sqlx::query(
                "UPDATE limit_counters SET count = count - 1 \
                 WHERE counter_key = $1 AND window_start = $2 AND count > 0",
            )
            .bind(key.as_slice())
            .bind(window_start)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// A successful login: `clear`'s count drops to zero (its username's failures) and the
    /// slot `release` claimed in the window that started at its time is given back, in one
    /// statement that locks both rows in key order (as claims do). PostgreSQL only: SQLite
    /// instances count in memory.
    #[tracing::instrument(skip_all)]
    pub async fn settle_counters(
        &self,
        clear: &[u8; 32],
        release: Option<(&[u8; 32], DateTime<Utc>)>,
    ) -> Result<(), Error> {
        let (released, window_start) = match release {
            Some((key, start)) => (Some(key.as_slice()), Some(start)),
            None => (None, None),
        };
        on_counters!(&self.db, |pool| {
            sqlx::query(
                "WITH locked AS (SELECT counter_key FROM limit_counters \
                 WHERE counter_key = $1 OR counter_key = $2 ORDER BY counter_key FOR UPDATE) \
                 UPDATE limit_counters SET count = CASE \
                   WHEN limit_counters.counter_key = $1 THEN 0 \
                   WHEN limit_counters.window_start = $3 AND limit_counters.count > 0 \
                     THEN limit_counters.count - 1 \
                   ELSE limit_counters.count END \
                 FROM locked WHERE limit_counters.counter_key = locked.counter_key",
            )
            .bind(clear.as_slice())
            .bind(released)
            .bind(window_start)
            .execute(pool)
            .await
            .map(|_| ())
        })?;
        Ok(())
    }

    /// Deletes counters whose window started before `before`, at most `batch` of them;
    /// returns how many went.
    #[tracing::instrument(skip_all)]
    pub async fn prune_counters(&self, before: DateTime<Utc>, batch: u32) -> Result<u64, Error> {
        let sql = "DELETE FROM limit_counters WHERE counter_key IN (SELECT counter_key FROM \
                   limit_counters WHERE window_start < $1 LIMIT $2)";
        self.delete_batch(sql, before, batch).await
    }

    /// Whether every instance sharing this database sees the same rows at once (PostgreSQL):
    /// then limits are counted here; a SQLite file belongs to one instance, which counts in
    /// memory.
    pub fn is_shared(&self) -> bool {
        matches!(self.db.pools, super::Pools::Postgres(_))
    }
}
