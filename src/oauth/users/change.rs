//! One change to one user inside a transaction, with its audit row and events: the rule of
//! which changes end the user's sessions lives here, once, for the admin API, the CLI and the
//! emailed links.

use chrono::{DateTime, Utc};

use super::UserError;
use crate::domain::{Email, LinkKind, UserId};
use crate::oauth::Error;
use crate::oauth::events::{self, SessionEnd};
use crate::store::{AuditEntry, Tx, User, UserUpdate};

/// A change to one user, its password already hashed; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub(in crate::oauth) struct Change<'a> {
    /// A new login name (a directory's change), already parsed.
    pub(in crate::oauth) email: Option<&'a Email>,
    pub(in crate::oauth) disabled: Option<bool>,
    pub(in crate::oauth) admin: Option<bool>,
    pub(in crate::oauth) password_hash: Option<&'a str>,
    pub(in crate::oauth) email_verified: Option<bool>,
    /// A new display name, already parsed; `Some(None)` removes it.
    pub(in crate::oauth) display_name: Option<Option<String>>,
    /// The server refuses unverified users (`--require-verified-email`): withdrawing
    /// `email_verified` then ends the user's sessions, as a login would now be refused.
    pub(in crate::oauth) verified_email_required: bool,
}

/// Applies `change` to user `id` inside `tx`, with its audit row (`entry`, completed with the
/// details) and events. A new password, disabling, withdrawing `admin` (or `email_verified`
/// where verification is required) raises the credentials version (a login verified before
/// the change cannot start a session after it) and ends every session of the user, in the
/// same transaction as the change.
pub(in crate::oauth) async fn change_user(
    tx: &mut Tx,
    entry: &AuditEntry,
    id: &UserId,
    change: &Change<'_>,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    let current = tx.lock_user(id).await?.ok_or(UserError::NotFound)?;
    let update = resolve(&current, change);
    let user = tx
        .update_user(id, &update, now)
        .await?
        .ok_or(UserError::NotFound)?;
    let sessions_ended = match update.end_sessions {
        true => tx.revoke_user_sessions(id, now).await?,
        false => Vec::new(),
    };
    let changed = changed_fields(&current, &update);
    let entry = entry.clone().details(serde_json::json!({
        "changed": changed,
        "disabled": update.disabled,
        "admin": update.is_admin,
        "email_verified": update.email_verified,
        "display_name": update.display_name,
        "sessions_ended": sessions_ended.len(),
    }));
    tx.record(&entry).await?;
    tx.emit(&events::user("updated", &user, &changed, now))
        .await?;
    if update.email_verified && !current.email_verified {
        tx.emit(&events::user("email_verified", &user, &[], now))
            .await?;
    }
    let reason = end_reason(&current, &update);
    for session in &sessions_ended {
        let ended = events::session_invalidated(session.as_str(), id, reason, now);
        tx.emit(&ended).await?;
    }
    if update.password_hash.is_some() {
        // Dead already (the credentials version moved); removed so nothing lingers.
        tx.delete_link_tokens(id, LinkKind::ResetPassword).await?;
    }
    let (disabled, admin, sessions_ended) =
        (update.disabled, update.is_admin, sessions_ended.len());
    tracing::info!(user_id = %id, disabled, admin, sessions_ended, "user updated");
    Ok(user)
}

/// The row `change` makes of `current`, and whether it ends the user's sessions.
fn resolve<'a>(current: &'a User, change: &'a Change<'a>) -> UserUpdate<'a> {
    let disabled = change.disabled.unwrap_or(current.disabled);
    let is_admin = change.admin.unwrap_or(current.is_admin);
    let email_verified = change.email_verified.unwrap_or(current.email_verified);
    let display_name = match &change.display_name {
        Some(name) => name.as_deref(),
        None => current.display_name.as_deref(),
    };
    let end_sessions = change.password_hash.is_some()
        || (disabled && !current.disabled)
        || (current.is_admin && !is_admin)
        || (change.verified_email_required && current.email_verified && !email_verified);
    let email = change.email.filter(|email| email.as_str() != current.email);
    UserUpdate {
        email,
        password_hash: change.password_hash,
        disabled,
        is_admin,
        email_verified,
        display_name,
        end_sessions,
    }
}

/// The names of the fields `update` changes.
fn changed_fields(current: &User, update: &UserUpdate<'_>) -> Vec<&'static str> {
    [
        ("email", update.email.is_some()),
        ("password", update.password_hash.is_some()),
        ("disabled", update.disabled != current.disabled),
        ("admin", update.is_admin != current.is_admin),
        (
            "email_verified",
            update.email_verified != current.email_verified,
        ),
        (
            "display_name",
            update.display_name != current.display_name.as_deref(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// Why the sessions ended: the strongest of the changes.
fn end_reason(current: &User, update: &UserUpdate<'_>) -> SessionEnd {
    if update.password_hash.is_some() {
        SessionEnd::PasswordChanged
    } else if update.disabled && !current.disabled {
        SessionEnd::UserDisabled
    } else {
        SessionEnd::AdminWithdrawn
    }
}
