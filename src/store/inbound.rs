//! The inbox of directory events (`inbound_events`) and the directory's link on a user
//! (`users.external_id`, `users.external_time`). An event's row is written first in the
//! transaction of the change it makes: a redelivered event (or the same event taken by two
//! instances at once, the second waiting on the first's row) finds it there and changes
//! nothing.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Tx};
use crate::domain::UserId;

/// What became of a directory event, as its inbox row keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InboundOutcome {
    /// The change was made.
    Applied,
    /// Older than the last event applied to that user: ignored.
    Stale,
    /// Nothing to apply it to (an unknown user), or sigil's own event: ignored.
    Ignored,
    /// Malformed or unknown: kept with its error.
    Rejected,
}

impl InboundOutcome {
    /// The stored name, also the `outcome` label of the inbound metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
            Self::Rejected => "rejected",
        }
    }
}

/// How an event's inbox row ends.
#[derive(Debug, Clone)]
pub struct InboundRecord<'a> {
    /// The CloudEvents `type`, when there was one.
    pub kind: Option<&'a str>,
    /// The directory's id of the user, when there was one.
    pub external_id: Option<&'a str>,
    /// What became of it.
    pub outcome: InboundOutcome,
    /// Why it was rejected or ignored.
    pub error: Option<&'a str>,
    /// A rejected event's first bytes, for the operator.
    pub payload: Option<&'a str>,
}

/// A user a directory owns: their id and the time of the last directory event applied to
/// them.
pub type ExternalUser = (UserId, Option<DateTime<Utc>>);

impl Tx {
    /// Writes the inbox row of event `id` received at `at`; `false`, writing nothing, when it
    /// is there already (the event was handled before).
    #[tracing::instrument(skip_all)]
    pub async fn admit_inbound(&mut self, id: &str, at: DateTime<Utc>) -> Result<bool, Error> {
        let inserted = on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO inbound_events (event_id, received_at, outcome) \
                 VALUES ($1, $2, 'received') ON CONFLICT (event_id) DO NOTHING",
            )
            .bind(id)
            .bind(at)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        Ok(inserted == 1)
    }

    /// Completes the inbox row of event `id` with what became of it.
    #[tracing::instrument(skip_all)]
    pub async fn settle_inbound(
        &mut self,
        id: &str,
        record: &InboundRecord<'_>,
    ) -> Result<(), Error> {
        on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE inbound_events SET kind = $2, external_id = $3, outcome = $4, \
                 error = $5, payload = $6 WHERE event_id = $1",
            )
            .bind(id)
            .bind(record.kind)
            .bind(record.external_id)
            .bind(record.outcome.as_str())
            .bind(record.error)
            .bind(record.payload)
            .execute(&mut *conn)
            .await
            .map(drop)
        })?;
        Ok(())
    }

    /// The id of the user linked to the directory's `external_id` and the time of the last
    /// event applied to them, locked until the transaction ends (PostgreSQL).
    #[tracing::instrument(skip_all)]
    pub async fn lock_external_user(
        &mut self,
        external_id: &str,
    ) -> Result<Option<ExternalUser>, Error> {
        let lock = self.row_lock();
        let sql = format!("SELECT user_id, external_time FROM users WHERE external_id = $1{lock}");
        let row: Option<(String, Option<DateTime<Utc>>)> = on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(external_id)
                .fetch_optional(&mut *conn)
                .await
        })?;
        row.map(|(id, time)| {
            let id = UserId::parse(id)
                .map_err(|_| Error::Other(anyhow::anyhow!("user has a malformed id")))?;
            Ok((id, time))
        })
        .transpose()
    }

    /// Links user `id` to the directory's `external_id`, as of the event at `time`.
    #[tracing::instrument(skip_all)]
    pub async fn link_external_user(
        &mut self,
        id: &UserId,
        external_id: &str,
        time: DateTime<Utc>,
    ) -> Result<(), Error> {
        on_tx!(self, |conn| {
            sqlx::query("UPDATE users SET external_id = $2, external_time = $3 WHERE user_id = $1")
                .bind(id.as_str())
                .bind(external_id)
                .bind(time)
                .execute(&mut *conn)
                .await
                .map(drop)
        })?;
        Ok(())
    }
}
