//! Group commit for refresh-token rotations.
//!
//! Every rotation writes, and SQLite has one writer. Handing the writer connection from one
//! request to the next costs several thread wake-ups (pool hand-over, the SQLite worker
//! thread, the waiting task), which bounded rotations at about a fifth of the signing rate
//! with the CPU a third idle. So rotations queue here, and one task consumes every queued
//! token in a single `UPDATE … FROM (VALUES …) RETURNING` statement: the winners are the
//! returned rows, and the trigger of the migration `add_refresh_successor` inserts each
//! winner's successor in the same statement. A token that lost (already consumed, revoked,
//! expired, unknown) is settled alone by `rotate_one`, which applies the grace period and
//! reuse detection. A token queued twice goes into the next batch, so of concurrent
//! requests with one token exactly one wins, as before. PostgreSQL gets the same batches.
//!
//! With events on, the batch statement and the `token.issued` events of its winners share a
//! transaction: the statement still decides the winners alone.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditEntry, insert_entry};
use super::outbox::{RotationEvents, insert_event};
use super::{Db, Error, OutboxState, on_writer};
use crate::domain::Scope;

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was valid and is now consumed; the new token was stored.
    Rotated,
    /// The token was already consumed (and not within the grace period): the family is now
    /// revoked.
    ReuseDetected,
    /// Unknown token, or its family is revoked or expired.
    Invalid,
}

/// A family is usable at `$now` (the enclosing query binds `$3` to now).
macro_rules! family_active {
    () => {
        "family_id IN (SELECT family_id FROM refresh_families \
         WHERE revoked_at IS NULL AND expires_at > $3)"
    };
}

/// Consumes token `$1` at `$2`, storing successor `$4` with scope `$5`.
const CONSUME_ONE: &str = concat!(
    "UPDATE refresh_tokens SET used_at = $2, next_hash = $4, next_scope = $5, \
     next_issued_at = $2 WHERE token_hash = $1 AND used_at IS NULL AND ",
    family_active!()
);

/// Gives token `$1`, consumed at or after `$2`, another successor `$4` with scope `$5`.
const REPEAT_WITHIN_GRACE: &str = concat!(
    "UPDATE refresh_tokens SET next_hash = $4, next_scope = $5, next_issued_at = $3 \
     WHERE token_hash = $1 AND used_at >= $2 AND ",
    family_active!()
);

/// Revokes at `$2` the live family of the consumed token `$1`.
const REVOKE_REUSED_FAMILY: &str = "UPDATE refresh_families SET revoked_at = $2 \
     WHERE revoked_at IS NULL AND family_id = (SELECT family_id FROM refresh_tokens \
     WHERE token_hash = $1 AND used_at IS NOT NULL) RETURNING family_id";

/// Most rotations in one statement (4 parameters each).
const MAX_BATCH: usize = 64;

/// One rotation as the application layer decided it; the store only executes it. Of
/// concurrent presentations of one token the first consumes it and stores its successor; a
/// token consumed at or after `grace_since` gets another successor instead; a token consumed
/// before that revokes its family and records `reuse_audit`. `events` are written with the
/// outcome they belong to.
#[derive(Debug)]
pub struct RotationPlan {
    /// SHA-256 of the presented token.
    pub old_hash: Vec<u8>,
    /// SHA-256 of its successor.
    pub new_hash: Vec<u8>,
    /// The successor's scope.
    pub scope: Scope,
    /// When.
    pub now: DateTime<Utc>,
    /// Start of the grace window (`now`: none).
    pub grace_since: DateTime<Utc>,
    /// The audit row of a reuse (its family revoked), composed by the application layer.
    pub reuse_audit: AuditEntry,
    /// The events of either outcome (written only while events are on).
    pub events: Option<RotationEvents>,
}

/// One queued rotation.
pub(super) struct RotationRequest {
    pub(super) old_hash: Vec<u8>,
    pub(super) new_hash: Vec<u8>,
    pub(super) scope: String,
    pub(super) now: DateTime<Utc>,
    pub(super) grace_since: DateTime<Utc>,
    pub(super) reuse_audit: AuditEntry,
    pub(super) events: Option<RotationEvents>,
    done: oneshot::Sender<Result<Rotation, Error>>,
}

/// The queue in front of the rotation task; cheap to clone. The task ends with the last clone.
#[derive(Clone)]
pub(super) struct Rotations(mpsc::UnboundedSender<RotationRequest>);

impl Rotations {
    /// Starts the rotation task on `db`.
    pub(super) fn spawn(db: Db, outbox: Arc<OutboxState>) -> Self {
        let (queue, requests) = mpsc::unbounded_channel();
        tokio::spawn(run(db, outbox, requests));
        Self(queue)
    }

    /// Queues one rotation and waits for its outcome.
    pub(super) async fn rotate(&self, plan: RotationPlan) -> Result<Rotation, Error> {
        let (done, outcome) = oneshot::channel();
        let request = RotationRequest {
            old_hash: plan.old_hash,
            new_hash: plan.new_hash,
            scope: plan.scope.to_string(),
            now: plan.now,
            grace_since: plan.grace_since,
            reuse_audit: plan.reuse_audit,
            events: plan.events,
            done,
        };
        let stopped = || Error::Unavailable(sqlx::Error::PoolClosed);
        self.0.send(request).map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

async fn run(
    db: Db,
    outbox: Arc<OutboxState>,
    mut requests: mpsc::UnboundedReceiver<RotationRequest>,
) {
    let mut deferred = VecDeque::new();
    loop {
        let first = match deferred.pop_front() {
            Some(request) => request,
            None => match requests.recv().await {
                Some(request) => request,
                None => return,
            },
        };
        let mut tokens = HashSet::from([first.old_hash.clone()]);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(request) = requests.try_recv() else {
                break;
            };
            if tokens.insert(request.old_hash.clone()) {
                batch.push(request);
            } else {
                deferred.push_back(request);
            }
        }
        settle(&db, &outbox, batch).await;
    }
}

/// Consumes the batch in one statement, then settles each request.
async fn settle(db: &Db, outbox: &OutboxState, batch: Vec<RotationRequest>) {
    // A failed batch wins nothing: each request then meets the failure (or succeeds) alone.
    let won: HashSet<Vec<u8>> = consume(db, outbox, &batch).await.unwrap_or_default();
    for request in batch {
        let outcome = if won.contains(&request.old_hash) {
            Ok(Rotation::Rotated)
        } else {
            rotate_one(db, outbox, &request).await
        };
        let _ = request.done.send(outcome);
    }
}

/// The hashes of the batch's tokens that were unconsumed in a live family, now consumed,
/// with their successors stored (and, with events on, their `token.issued` events).
async fn consume(
    db: &Db,
    outbox: &OutboxState,
    batch: &[RotationRequest],
) -> Result<HashSet<Vec<u8>>, Error> {
    let sql = batch_sql(batch.len());
    macro_rules! batch_statement {
        () => {{
            let mut query = sqlx::query_as::<_, (Vec<u8>,)>(&sql);
            for request in batch {
                query = query
                    .bind(request.old_hash.as_slice())
                    .bind(request.new_hash.as_slice())
                    .bind(request.scope.as_str())
                    .bind(request.now);
            }
            query
        }};
    }
    let events = !outbox.sinks.is_empty() && batch.iter().any(|request| request.events.is_some());
    if !events {
        let won = super::on_writer!(db, |pool| batch_statement!().fetch_all(pool).await)?;
        return Ok(won.into_iter().map(|(hash,)| hash).collect());
    }
    let won = super::on_writer!(db, |pool| {
        async {
            let mut tx = pool.begin().await?;
            let won: HashSet<Vec<u8>> = batch_statement!()
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .map(|(hash,)| hash)
                .collect();
            let issued = batch
                .iter()
                .filter(|request| won.contains(&request.old_hash))
                .filter_map(|request| request.events.as_ref());
            for events in issued {
                insert_event!(&events.issued, outbox, &mut *tx)?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(won)
        }
        .await
    })?;
    db.events_committed(outbox).await;
    Ok(won)
}

/// The statement consuming `len` tokens, four parameters each (old hash, new hash, scope,
/// now); it returns the hashes it consumed.
fn batch_sql(len: usize) -> String {
    let rows: Vec<String> = (0..len)
        .map(|i| {
            let first = 4 * i + 1;
            format!("(${first}, ${}, ${}, ${})", first + 1, first + 2, first + 3)
        })
        .collect();
    format!(
        "UPDATE refresh_tokens SET used_at = v.column4, next_hash = v.column2, \
         next_scope = v.column3, next_issued_at = v.column4 FROM (VALUES {}) AS v \
         WHERE refresh_tokens.token_hash = v.column1 AND refresh_tokens.used_at IS NULL \
         AND EXISTS (SELECT 1 FROM refresh_families f WHERE f.family_id = refresh_tokens.family_id \
         AND f.revoked_at IS NULL AND f.expires_at > v.column4) \
         RETURNING refresh_tokens.token_hash",
        rows.join(", ")
    )
}

/// Rotates one token on its own: consume it, or within the grace period issue another
/// successor, or else revoke its family if it was consumed before (recording the reuse in the
/// audit log in the same transaction, as the application composed it). Each step is one
/// conditional statement checked by rows affected; the successor is inserted by the trigger
/// of the migration `add_refresh_successor`. The outcome and its event commit together (this
/// is the rare path: tokens that lost their batch, grace-period repeats and reuse).
pub(super) async fn rotate_one(
    db: &Db,
    outbox: &OutboxState,
    request: &RotationRequest,
) -> Result<Rotation, Error> {
    let now = request.now;
    let events = request.events.as_ref().filter(|_| !outbox.sinks.is_empty());
    let (rotation, emitted) = on_writer!(db, |pool| {
        async {
            let successor = |sql, since: DateTime<Utc>| {
                sqlx::query(sql)
                    .bind(request.old_hash.as_slice())
                    .bind(since)
                    .bind(now)
                    .bind(request.new_hash.as_slice())
                    .bind(request.scope.as_str())
            };
            let mut tx = pool.begin().await?;
            let mut won = successor(CONSUME_ONE, now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if won == 0 && request.grace_since < now {
                won = successor(REPEAT_WITHIN_GRACE, request.grace_since)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            let rotation = if won == 1 {
                Rotation::Rotated
            } else {
                let revoked: Option<(String,)> = sqlx::query_as(REVOKE_REUSED_FAMILY)
                    .bind(request.old_hash.as_slice())
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                if revoked.is_none() {
                    return Ok((Rotation::Invalid, false));
                }
                insert_entry!(&request.reuse_audit, &mut *tx)?;
                Rotation::ReuseDetected
            };
            if let Some(events) = events {
                let event = match rotation {
                    Rotation::Rotated => &events.issued,
                    _ => &events.reused,
                };
                insert_event!(event, outbox, &mut *tx)?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>((rotation, events.is_some()))
        }
        .await
    })?;
    if emitted {
        db.events_committed(outbox).await;
    }
    Ok(rotation)
}
