//! The application layer's errors as gRPC statuses (SPEC "gRPC"): the status message is the
//! `error_description`, trailing metadata `x-oauth-error` the RFC 6749 code, and `retry-after`
//! (whole seconds) rides along with `RESOURCE_EXHAUSTED`. An internal error is logged here,
//! once, and answered with a fixed message.

use std::time::Duration;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::oauth::{self, UserError};

/// The trailing metadata key that carries the RFC 6749 error code.
pub const OAUTH_ERROR: &str = "x-oauth-error";
/// The trailing metadata key of the wait, in seconds, of a `RESOURCE_EXHAUSTED` answer.
pub const RETRY_AFTER: &str = "retry-after";

/// A status with its `x-oauth-error` (and `retry-after`) metadata.
fn status(code: Code, error: &'static str, message: &str, retry: Option<Duration>) -> Status {
    let mut metadata = MetadataMap::new();
    metadata.insert(OAUTH_ERROR, MetadataValue::from_static(error));
    if let Some(wait) = retry {
        let seconds = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        metadata.insert(RETRY_AFTER, MetadataValue::from(seconds));
    }
    Status::with_metadata(code, message, metadata)
}

fn internal(error: &anyhow::Error) -> Status {
    tracing::error!(error = format!("{error:#}"), "internal error");
    server_error()
}

/// `INTERNAL` with a fixed message: a bug, whose cause the caller logged.
pub(super) fn server_error() -> Status {
    status(
        Code::Internal,
        "server_error",
        "internal server error",
        None,
    )
}

/// A token, session or client error.
pub(super) fn oauth(error: oauth::Error) -> Status {
    use oauth::Error as E;
    let (code, retry) = match &error {
        E::InvalidClient | E::InvalidGrant(_) => (Code::Unauthenticated, None),
        E::InvalidRequest(_) | E::InvalidScope | E::UnsupportedGrantType => {
            (Code::InvalidArgument, None)
        }
        E::UnauthorizedClient(_) => (Code::PermissionDenied, None),
        E::TooManyRequests(wait) => (Code::ResourceExhausted, Some(*wait)),
        E::Unavailable => (Code::Unavailable, None),
        E::Internal(source) => return internal(source),
    };
    status(code, error.code(), error.description(), retry)
}

/// RFC 6750 §3.1 `invalid_token`: a missing, bad or dead bearer token.
pub(super) fn invalid_token() -> Status {
    let why = "the access token is missing, invalid or expired";
    status(Code::Unauthenticated, "invalid_token", why, None)
}

/// A registration error.
pub(super) fn user(error: UserError) -> Status {
    let (code, oauth_code, retry) = match &error {
        UserError::EmailTaken => (Code::AlreadyExists, "user_already_exists", None),
        UserError::RegistrationClosed => (Code::PermissionDenied, "registration_disabled", None),
        UserError::TooManyRequests(wait) => {
            (Code::ResourceExhausted, "too_many_requests", Some(*wait))
        }
        UserError::Unavailable => (Code::Unavailable, "temporarily_unavailable", None),
        UserError::MailNotConfigured => (Code::Unimplemented, "not_found", None),
        UserError::InvalidLink => (Code::InvalidArgument, "invalid_token", None),
        UserError::Internal(source) => return internal(source),
        UserError::InvalidEmail(_)
        | UserError::InvalidPassword(_)
        | UserError::InvalidPasswordHash(_)
        | UserError::InvalidDisplayName(_)
        | UserError::CredentialChoice
        | UserError::InvalidPage
        | UserError::InvalidOffset
        | UserError::NotFound => (Code::InvalidArgument, "invalid_request", None),
    };
    status(code, oauth_code, &error.to_string(), retry)
}

/// The canonical name of a status code, for metrics and logs.
pub(super) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_oauth_error_has_its_code_and_metadata() {
        use oauth::Error as E;
        let cases = [
            (E::InvalidClient, Code::Unauthenticated, "invalid_client"),
            (E::InvalidGrant("x"), Code::Unauthenticated, "invalid_grant"),
            (
                E::InvalidRequest("x"),
                Code::InvalidArgument,
                "invalid_request",
            ),
            (E::InvalidScope, Code::InvalidArgument, "invalid_scope"),
            (
                E::UnauthorizedClient("x"),
                Code::PermissionDenied,
                "unauthorized_client",
            ),
            (E::Unavailable, Code::Unavailable, "temporarily_unavailable"),
        ];
        for (error, code, name) in cases {
            let description = error.description();

            let status = oauth(error);

            assert_eq!(status.code(), code, "{name}");
            assert_eq!(status.message(), description, "{name}");
            assert_eq!(status.metadata().get(OAUTH_ERROR).unwrap(), name);
            assert!(status.metadata().get(RETRY_AFTER).is_none(), "{name}");
        }
    }

    #[test]
    fn too_many_requests_carries_retry_after_in_whole_seconds() {
        let status = oauth(oauth::Error::TooManyRequests(Duration::from_millis(2_100)));

        assert_eq!(status.code(), Code::ResourceExhausted);
        assert_eq!(status.metadata().get(RETRY_AFTER).unwrap(), "3");
        assert_eq!(
            status.metadata().get(OAUTH_ERROR).unwrap(),
            "too_many_requests"
        );
    }

    #[test]
    fn internal_errors_show_nothing_of_their_cause() {
        let status = oauth(oauth::Error::Internal(anyhow::anyhow!("secret detail")));

        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal server error");
    }
}
