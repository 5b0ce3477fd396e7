//! `oauth::Error`: the one error of every use case. A variant per RFC 6749 §5.2 error code;
//! the refusals of each other room (accounts, clients, keys, the audit log, the browser login,
//! the admin check) as one variant each, holding that room's own small enum of reasons; and
//! the infrastructure failures every room shares, converted from `store::Error` in exactly
//! one place (below). `classify` turns any of it into the one wire table.
//!
//! Descriptions are short, fixed and safe to show a client: never a secret, a SQL message or
//! an infrastructure detail. HTTP status codes and headers are chosen in `http::error`.

use super::{AdminDenied, AuditError, AuthorizeError, ClientError, KeyError, UserError};
use crate::store;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is missing a parameter, repeats one, or is otherwise malformed.
    #[error("invalid_request: {0}")]
    InvalidRequest(&'static str),
    /// Client authentication failed (unknown client, wrong or missing secret).
    #[error("invalid_client")]
    InvalidClient,
    /// The grant (password, refresh token) is invalid, expired or revoked.
    #[error("invalid_grant: {0}")]
    InvalidGrant(&'static str),
    /// The authenticated client may not do this: use this grant type, or (a public client)
    /// introspect.
    #[error("unauthorized_client: {0}")]
    UnauthorizedClient(&'static str),
    /// The grant type is not supported by this server.
    #[error("unsupported_grant_type")]
    UnsupportedGrantType,
    /// The requested scope is malformed or exceeds what the client may have.
    #[error("invalid_scope")]
    InvalidScope,
    /// A bearer token is missing, forged, expired or revoked (RFC 6750 §3.1).
    #[error("invalid_token")]
    InvalidToken,
    /// An account operation was refused.
    #[error(transparent)]
    User(#[from] UserError),
    /// A client operation was refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A key operation was refused.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The audit log cannot be read as asked.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// The browser cannot be sent on (a page, or the login form again).
    #[error(transparent)]
    Browser(#[from] AuthorizeError),
    /// A bearer token does not open the admin API.
    #[error(transparent)]
    Admin(#[from] AdminDenied),
    /// Too many failed logins or requests; retry after the given time.
    #[error("too_many_requests")]
    TooManyRequests(std::time::Duration),
    /// The database is unreachable; the client may retry.
    #[error("temporarily_unavailable")]
    Unavailable,
    /// A bug or unexpected failure; details are logged, never returned.
    #[error("server_error")]
    Internal(#[source] anyhow::Error),
}

/// `unauthorized_client` for a grant type the client was not registered for.
pub(super) const GRANT_NOT_ALLOWED: &str = "the client is not allowed to use this grant type";

impl From<store::Error> for Error {
    fn from(error: store::Error) -> Self {
        match error {
            store::Error::Unavailable(_) => Self::Unavailable,
            other => Self::Internal(other.into()),
        }
    }
}
