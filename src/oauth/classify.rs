//! The one error classification of the application layer. Every error a use case returns is
//! classified once, here, as a `Failure`: a `Kind` (what sort of failure it is), the wire
//! code (RFC 6749/6750, or sigil's own such as `not_found`) and a client-safe description.
//! Each transport maps `Kind` in exactly one `match` (`http::error`: status and headers;
//! `grpc::status`: code and metadata), so HTTP and gRPC cannot disagree about an error, and
//! a new error is a new row here, not a new table per transport.
//!
//! Imports nothing from the transports.

use std::borrow::Cow;
use std::time::Duration;

use super::{
    ADMIN_SCOPE, AdminDenied, AuditError, AuthorizeError, ClientError, Error, KeyError, UserError,
};

/// What sort of failure an error is; the transports' tables are keyed by it.
#[derive(Debug)]
pub enum Kind {
    /// Malformed or refused input (`invalid_request`, `invalid_scope`, an emailed link's
    /// `invalid_token`): HTTP 400, gRPC `INVALID_ARGUMENT`.
    InvalidRequest,
    /// Client authentication failed: HTTP 401 with a `Basic` challenge, gRPC
    /// `UNAUTHENTICATED`.
    InvalidClient,
    /// A grant or credential is invalid, expired or revoked: HTTP 400 (RFC 6749 §5.2), gRPC
    /// `UNAUTHENTICATED`.
    InvalidGrant,
    /// The client may not do this: HTTP 400 (RFC 6749 §5.2), gRPC `PERMISSION_DENIED`.
    UnauthorizedClient,
    /// A bearer token is missing, invalid, expired or revoked (RFC 6750 §3.1): HTTP 401 with
    /// a `Bearer error="invalid_token"` challenge, gRPC `UNAUTHENTICATED`.
    InvalidToken,
    /// A bearer token lacks this scope (RFC 6750 §3.1): HTTP 403 with a `Bearer
    /// error="insufficient_scope"` challenge, gRPC `PERMISSION_DENIED`.
    InsufficientScope(&'static str),
    /// Nobody may do this here (self-registration switched off): HTTP 403, gRPC
    /// `PERMISSION_DENIED`.
    Forbidden,
    /// No such entity: HTTP 404, gRPC `NOT_FOUND`.
    NotFound,
    /// A feature this server does not offer (mail without SMTP): HTTP 404, gRPC
    /// `UNIMPLEMENTED`.
    NotEnabled,
    /// The entity exists already: HTTP 409, gRPC `ALREADY_EXISTS`.
    AlreadyExists,
    /// The request conflicts with the entity's state: HTTP 409, gRPC `FAILED_PRECONDITION`.
    Conflict,
    /// A limit was reached; retry after this long: HTTP 429 with `Retry-After`, gRPC
    /// `RESOURCE_EXHAUSTED` with `retry-after`.
    TooManyRequests(Duration),
    /// The database is unreachable: HTTP 503, gRPC `UNAVAILABLE`.
    Unavailable,
    /// A bug or unexpected failure: HTTP 500, gRPC `INTERNAL`; the cause is logged by the
    /// transport, never shown.
    Internal(anyhow::Error),
}

/// A classified error: what each transport renders.
#[derive(Debug)]
pub struct Failure {
    /// What sort of failure.
    pub kind: Kind,
    /// The wire code (`error`, `x-oauth-error`).
    pub code: &'static str,
    /// The client-safe sentence (`error_description`, the status message).
    pub description: Cow<'static, str>,
}

/// The description of every `Unavailable`.
const UNAVAILABLE: &str = "the service is temporarily unavailable, retry later";
/// The description of every `TooManyRequests`.
const TOO_MANY: &str = "too many attempts, retry later";

impl Failure {
    fn new(kind: Kind, code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            kind,
            code,
            description: description.into(),
        }
    }

    fn too_many(wait: Duration) -> Self {
        Self::new(Kind::TooManyRequests(wait), "too_many_requests", TOO_MANY)
    }

    fn unavailable() -> Self {
        Self::new(Kind::Unavailable, "temporarily_unavailable", UNAVAILABLE)
    }

    fn internal(source: anyhow::Error) -> Self {
        Self::new(
            Kind::Internal(source),
            "server_error",
            "internal server error",
        )
    }

    fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(Kind::InvalidRequest, "invalid_request", description)
    }
}

/// An application error's classification.
pub trait Classify {
    /// The error as its `Failure`.
    fn classify(self) -> Failure;
}

impl Classify for Error {
    fn classify(self) -> Failure {
        match self {
            Self::InvalidRequest(why) => Failure::invalid_request(why),
            Self::UnsupportedGrantType => Failure::new(
                Kind::InvalidRequest,
                "unsupported_grant_type",
                "the grant type is not supported",
            ),
            Self::InvalidScope => Failure::new(
                Kind::InvalidRequest,
                "invalid_scope",
                "the requested scope is invalid or exceeds the client's scope",
            ),
            Self::InvalidClient => Failure::new(
                Kind::InvalidClient,
                "invalid_client",
                "client authentication failed",
            ),
            Self::InvalidGrant(why) => Failure::new(Kind::InvalidGrant, "invalid_grant", why),
            Self::InvalidToken => Failure::new(
                Kind::InvalidToken,
                "invalid_token",
                "the access token is missing, invalid or expired",
            ),
            Self::UnauthorizedClient(why) => {
                Failure::new(Kind::UnauthorizedClient, "unauthorized_client", why)
            }
            Self::User(refusal) => refusal.classify(),
            Self::Client(refusal) => refusal.classify(),
            Self::Key(refusal) => refusal.classify(),
            Self::Audit(refusal) => refusal.classify(),
            Self::Browser(refusal) => refusal.classify(),
            Self::Admin(refusal) => refusal.classify(),
            Self::TooManyRequests(wait) => Failure::too_many(wait),
            Self::Unavailable => Failure::unavailable(),
            Self::Internal(source) => Failure::internal(source),
        }
    }
}

impl Classify for UserError {
    fn classify(self) -> Failure {
        let (kind, code) = match self {
            Self::NotFound => (Kind::NotFound, "not_found"),
            Self::EmailTaken => (Kind::AlreadyExists, "user_already_exists"),
            Self::RegistrationClosed => (Kind::Forbidden, "registration_disabled"),
            Self::MailNotConfigured => (Kind::NotEnabled, "not_found"),
            Self::InvalidLink => (Kind::InvalidRequest, "invalid_token"),
            Self::InvalidEmail(_)
            | Self::InvalidPassword(_)
            | Self::InvalidPasswordHash(_)
            | Self::InvalidDisplayName(_)
            | Self::CredentialChoice
            | Self::InvalidPage
            | Self::InvalidOffset => (Kind::InvalidRequest, "invalid_request"),
        };
        Failure::new(kind, code, self.to_string())
    }
}

impl Classify for ClientError {
    fn classify(self) -> Failure {
        let (kind, code) = match self {
            Self::NotFound => (Kind::NotFound, "not_found"),
            Self::IdTaken => (Kind::AlreadyExists, "client_already_exists"),
            Self::PublicClient | Self::PublicClientConflict => (Kind::Conflict, "public_client"),
            Self::InvalidName(_)
            | Self::InvalidGrantTypes
            | Self::InvalidRedirectUri(_)
            | Self::InvalidPostLogoutRedirectUri(_)
            | Self::InvalidScope(_)
            | Self::InvalidAudience(_)
            | Self::PublicClientCredentials => (Kind::InvalidRequest, "invalid_request"),
        };
        Failure::new(kind, code, self.to_string())
    }
}

impl Classify for KeyError {
    fn classify(self) -> Failure {
        match self {
            Self::NextKeyTooFresh(why) => Failure::new(Kind::Conflict, "next_key_too_fresh", why),
            Self::UnknownKid => Failure::new(Kind::NotFound, "not_found", self.to_string()),
        }
    }
}

impl Classify for AuditError {
    fn classify(self) -> Failure {
        Failure::invalid_request(self.to_string())
    }
}

impl Classify for AuthorizeError {
    /// The browser pages render these themselves; classified for any other caller.
    fn classify(self) -> Failure {
        match self {
            Self::Page(why) => Failure::invalid_request(why),
            Self::Refused { why, .. } => Failure::new(Kind::InvalidGrant, "access_denied", why),
        }
    }
}

impl Classify for AdminDenied {
    fn classify(self) -> Failure {
        match self {
            Self::InsufficientScope => Failure::new(
                Kind::InsufficientScope(ADMIN_SCOPE),
                "insufficient_scope",
                "this endpoint needs scope admin",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_entity_is_not_found_whatever_it_is() {
        let failures = [
            Error::from(UserError::NotFound).classify(),
            Error::from(ClientError::NotFound).classify(),
            Error::from(KeyError::UnknownKid).classify(),
        ];

        for failure in failures {
            assert!(matches!(failure.kind, Kind::NotFound), "{failure:?}");
            assert_eq!(failure.code, "not_found");
        }
    }

    #[test]
    fn every_outage_reads_the_same_whatever_room_raised_it() {
        let outage = Error::from(crate::store::Error::Unavailable(sqlx::Error::PoolTimedOut));
        let failure = outage.classify();

        assert!(matches!(failure.kind, Kind::Unavailable));
        assert_eq!(
            (failure.code, failure.description.as_ref()),
            ("temporarily_unavailable", UNAVAILABLE)
        );
    }

    #[test]
    fn a_limit_says_how_long_to_wait() {
        let failure = Error::TooManyRequests(Duration::from_secs(3)).classify();

        assert!(matches!(failure.kind, Kind::TooManyRequests(wait) if wait.as_secs() == 3));
        assert_eq!(
            (failure.code, failure.description.as_ref()),
            ("too_many_requests", TOO_MANY)
        );
    }

    #[test]
    fn internal_failures_show_a_fixed_sentence() {
        let failure = Error::Internal(anyhow::anyhow!("secret detail")).classify();

        assert_eq!(failure.code, "server_error");
        assert_eq!(failure.description, "internal server error");
    }

    #[test]
    fn a_refused_admin_token_is_a_bearer_error() {
        let invalid = Error::InvalidToken.classify();
        let scope = Error::from(AdminDenied::InsufficientScope).classify();

        assert!(matches!(invalid.kind, Kind::InvalidToken));
        assert_eq!(invalid.code, "invalid_token");
        assert!(matches!(scope.kind, Kind::InsufficientScope("admin")));
        assert_eq!(scope.code, "insufficient_scope");
    }
}
