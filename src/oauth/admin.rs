//! The `Admin` capability: every admin use case takes one, and only `authorize_admin` (for a
//! bearer token, against the principal's current rights) or `Admin::command_line` (an
//! operator at the host, who can reach the database anyway) make one. So no transport can
//! call an admin use case without passing the same check.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{ADMIN_SCOPE, AccessToken, Error, TokenIssuer};
use crate::domain::{Actor, ClientId};
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

/// Why a valid bearer token does not open the admin API (RFC 6750 §3.1; a token that is
/// revoked, or whose session, user or client is gone, is `Error::InvalidToken`).
#[derive(Debug, thiserror::Error)]
pub enum AdminDenied {
    /// The token, or the principal behind it today, lacks `admin`.
    #[error("this endpoint needs scope admin")]
    InsufficientScope,
}

impl TokenIssuer {
    /// Admin authorization against the principal's *current* rights, not the token's
    /// scope alone: the user behind a session token must still be an enabled admin in a live
    /// session, and the client (for both kinds of token) must still exist and be allowed
    /// scope `admin`. So demoting a user or taking `admin` from a client closes the admin API
    /// to their unexpired tokens at once.
    #[tracing::instrument(skip_all)]
    pub async fn authorize_admin(
        &self,
        token: &AccessToken,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<Admin, Error> {
        if !token.scope.contains(ADMIN_SCOPE) {
            return Err(AdminDenied::InsufficientScope.into());
        }
        let Ok(client_id) = ClientId::parse(token.client_id.clone()) else {
            return Err(Error::InvalidToken);
        };
        let Some(client) = self.store.find_client(&client_id).await? else {
            return Err(Error::InvalidToken);
        };
        let user_id = match &token.session {
            Some(session) => {
                if !self
                    .store
                    .is_refresh_family_active(&session.family, now)
                    .await?
                {
                    return Err(Error::InvalidToken);
                }
                let Some(user) = self.live_user(&session.user).await? else {
                    return Err(Error::InvalidToken);
                };
                if !user.is_admin {
                    return Err(AdminDenied::InsufficientScope.into());
                }
                Some(user.id)
            }
            None if self.store.is_access_token_revoked(&token.jti).await? => {
                return Err(Error::InvalidToken);
            }
            None => None,
        };
        if !client.scopes.contains(ADMIN_SCOPE) {
            return Err(AdminDenied::InsufficientScope.into());
        }
        let actor = match user_id {
            Some(user_id) => Actor::user(user_id.as_str(), Some(client_id.to_string()), ip),
            None => Actor::client(client_id.as_str(), ip),
        };
        Ok(Admin::new(actor))
    }
}
