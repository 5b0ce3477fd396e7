//! `oauth::Error`: one variant per RFC 6749 §5.2 error code, plus infrastructure failures.
//!
//! Descriptions are short, fixed and safe to show a client: never a secret, a SQL message or
//! an infrastructure detail. HTTP status codes and headers are chosen in `http::error`.

use crate::store;

/// Why a token request failed.
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

impl Error {
    /// The RFC 6749 §5.2 `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::TooManyRequests(_) => "too_many_requests",
            Self::Unavailable => "temporarily_unavailable",
            Self::Internal(_) => "server_error",
        }
    }

    /// The `error_description`: a fixed, client-safe sentence.
    pub fn description(&self) -> &'static str {
        match self {
            Self::InvalidRequest(why) | Self::InvalidGrant(why) | Self::UnauthorizedClient(why) => {
                why
            }
            Self::InvalidClient => "client authentication failed",
            Self::UnsupportedGrantType => "the grant type is not supported",
            Self::InvalidScope => "the requested scope is invalid or exceeds the client's scope",
            Self::TooManyRequests(_) => "too many attempts, retry later",
            Self::Unavailable => "the service is temporarily unavailable, retry later",
            Self::Internal(_) => "internal server error",
        }
    }
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
