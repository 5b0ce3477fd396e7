//! The `Admin` capability: every admin use case takes one, and only `authorize_admin` (for a
//! bearer token, against the principal's current rights) or `Admin::command_line` (an
//! operator at the host, who can reach the database anyway) make one. So no transport can
//! call an admin use case without passing the same check.

use super::Error;
use crate::domain::Actor;
use crate::store::{AuditEntry, Store};

/// Proof that the caller may use the admin API, and who they are.
#[derive(Debug, Clone)]
pub struct Admin {
    actor: Actor,
}

impl Admin {
    pub(super) fn new(actor: Actor) -> Self {
        Self { actor }
    }

    /// An operator at the host's command line (`sigil client …`, `sigil user …`, `sigil
    /// keys …`): recorded as the system actor `cli`.
    pub fn command_line() -> Self {
        Self::new(Actor::system("cli"))
    }

    /// Who acts.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
}

/// Records `entry` as failed when `outcome` is an error (in its own short transaction: the
/// change it describes did not happen), then returns `outcome` unchanged. A failure to
/// record is logged, never put in place of the original error.
pub(super) async fn audited<T>(
    store: &Store,
    entry: AuditEntry,
    outcome: Result<T, Error>,
) -> Result<T, Error> {
    if let Err(error) = &outcome {
        let entry = entry.failed(&error.to_string());
        if let Err(record_error) = store.record(&entry).await {
            tracing::warn!(action = entry.action, error = %record_error, "cannot record a failed action in the audit log");
        }
    }
    outcome
}

/// A read changes nothing, so there is no transaction to join: records `entry` on its own as
/// the read ended (success, or failure with the error's reason).
pub(super) async fn read_audited<T>(
    store: &Store,
    entry: AuditEntry,
    outcome: Result<T, Error>,
) -> Result<T, Error> {
    let read = audited(store, entry.clone(), outcome).await?;
    store.record(&entry).await?;
    Ok(read)
}
