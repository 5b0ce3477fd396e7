//! The events the application layer writes with its changes (SPEC "Events"): one builder per
//! entity, so each event's data has one shape wherever it is written. Data never holds a
//! secret, a hash or a token.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::domain::{FamilyId, GrantType, UserId};
use crate::store::{Client, NewEvent, User};

/// `user.<verb>`: `created`, `updated` (with the names of the `changed` fields), `deleted`,
/// or `email_verified` (the address became verified).
pub(super) fn user(
    verb: &'static str,
    user: &User,
    changed: &[&str],
    at: DateTime<Utc>,
) -> NewEvent {
    let mut data = json!({
        "user_id": user.id,
        "email": user.email,
        "email_verified": user.email_verified,
        "admin": user.is_admin,
        "disabled": user.disabled,
        "display_name": user.display_name,
    });
    if verb == "updated" {
        data["changed"] = json!(changed);
    }
    NewEvent::new("user", user.id.as_str(), verb, data, at)
}

/// `client.<verb>`: `created`, `updated`, `deleted` or `secret_rotated`.
pub(super) fn client(verb: &'static str, client: &Client, at: DateTime<Utc>) -> NewEvent {
    let grant_types: Vec<&str> = client
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect();
    let data = json!({
        "client_id": client.id.as_str(),
        "name": client.name,
        "grant_types": grant_types,
        "scope": client.scopes.to_string(),
    });
    NewEvent::new("client", client.id.as_str(), verb, data, at)
}

/// `session.created`: a successful login started session `session_id` (a refresh family, or
/// a browser session); `method` is
/// `password` (the password grant) or `browser` (the hosted login page).
pub(super) fn session_created(
    session_id: &str,
    user_id: &UserId,
    (client_id, method): (&str, &str),
    ip: Option<IpAddr>,
    at: DateTime<Utc>,
) -> NewEvent {
    let data = json!({
        "session_id": session_id,
        "user_id": user_id,
        "client_id": client_id,
        "method": method,
        "ip": ip.map(|ip| ip.to_canonical().to_string()),
    });
    NewEvent::new("session", session_id, "created", data, at)
}

/// Why a session ended (`session.invalidated`'s `reason`).
#[derive(Debug, Clone, Copy)]
pub(super) enum SessionEnd {
    Logout,
    Revoked,
    ReuseDetected,
    PasswordChanged,
    UserDisabled,
    AdminWithdrawn,
    UserDeleted,
}

impl SessionEnd {
    fn as_str(self) -> &'static str {
        match self {
            Self::Logout => "logout",
            Self::Revoked => "revoked",
            Self::ReuseDetected => "reuse_detected",
            Self::PasswordChanged => "password_changed",
            Self::UserDisabled => "user_disabled",
            Self::AdminWithdrawn => "admin_withdrawn",
            Self::UserDeleted => "user_deleted",
        }
    }
}

/// `session.invalidated`: session `session_id` of `user_id` ended for `reason`.
pub(super) fn session_invalidated(
    session_id: &str,
    user_id: &UserId,
    reason: SessionEnd,
    at: DateTime<Utc>,
) -> NewEvent {
    let data = json!({
        "session_id": session_id,
        "user_id": user_id,
        "reason": reason.as_str(),
    });
    NewEvent::new("session", session_id, "invalidated", data, at)
}

/// `token.issued`: an access token `jti`, expiring at `exp`, for `grant`.
pub(super) struct Issued<'a> {
    pub(super) grant: GrantType,
    pub(super) user_id: Option<&'a UserId>,
    pub(super) client_id: &'a str,
    pub(super) session_id: Option<&'a FamilyId>,
    pub(super) jti: &'a str,
    pub(super) exp: DateTime<Utc>,
}

/// `token.issued`, its subject the token's `jti`.
pub(super) fn token_issued(issued: &Issued<'_>, at: DateTime<Utc>) -> NewEvent {
    let data = json!({
        "grant_type": issued.grant.as_str(),
        "user_id": issued.user_id,
        "client_id": issued.client_id,
        "session_id": issued.session_id,
        "jti": issued.jti,
        "exp": issued.exp.timestamp(),
    });
    NewEvent::new("token", issued.jti, "issued", data, at)
}

/// `login.failed`: a refused password login. The username is kept only when it is a
/// well-formed email address (anything else is often a password typed into the wrong field).
pub(super) fn login_failed(
    username: &str,
    user_id: Option<&str>,
    ip: Option<IpAddr>,
    reason: &str,
    locked: &[&str],
    at: DateTime<Utc>,
) -> NewEvent {
    let username = crate::domain::Email::parse(username)
        .ok()
        .map(|email| email.as_str().to_owned());
    let subject = user_id.unwrap_or("unknown").to_owned();
    let data = json!({
        "username": username,
        "user_id": user_id,
        "ip": ip.map(|ip| ip.to_canonical().to_string()),
        "reason": reason,
        "locked": locked,
    });
    NewEvent::new("login", subject, "failed", data, at)
}
