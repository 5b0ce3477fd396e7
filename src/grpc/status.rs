//! The application layer's errors as gRPC statuses (SPEC "gRPC"), from its one classification
//! (`oauth::Classify`; `http::error` maps the same kinds to HTTP): the status message is the
//! `error_description`, trailing metadata `x-oauth-error` the RFC 6749 code, and `retry-after`
//! (whole seconds) rides along with `RESOURCE_EXHAUSTED`. An internal error is logged here,
//! once, and answered with a fixed message.

use std::time::Duration;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

use crate::oauth::{self, Classify as _, Failure, Kind};

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

/// The one gRPC table of the application's error classification (`oauth::Kind`).
pub(super) fn failure(failure: Failure) -> Status {
    let Failure {
        kind,
        code,
        description,
    } = failure;
    let (status_code, retry) = match kind {
        Kind::InvalidRequest => (Code::InvalidArgument, None),
        Kind::InvalidClient | Kind::InvalidGrant | Kind::InvalidToken => {
            (Code::Unauthenticated, None)
        }
        Kind::UnauthorizedClient | Kind::Forbidden | Kind::InsufficientScope(_) => {
            (Code::PermissionDenied, None)
        }
        Kind::NotFound => (Code::NotFound, None),
        Kind::NotEnabled => (Code::Unimplemented, None),
        Kind::AlreadyExists => (Code::AlreadyExists, None),
        Kind::Conflict => (Code::FailedPrecondition, None),
        Kind::TooManyRequests(wait) => (Code::ResourceExhausted, Some(wait)),
        Kind::Unavailable => (Code::Unavailable, None),
        Kind::Internal(source) => return internal(&source),
    };
    status(status_code, code, &description, retry)
}

/// Any application error.
pub(super) fn oauth(error: oauth::Error) -> Status {
    failure(error.classify())
}

/// RFC 6750 §3.1 `invalid_token`: a missing, bad or dead bearer token.
pub(super) fn invalid_token() -> Status {
    oauth(oauth::Error::InvalidToken)
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
        type Case = (fn() -> E, Code, &'static str);
        let cases: [Case; 6] = [
            (|| E::InvalidClient, Code::Unauthenticated, "invalid_client"),
            (
                || E::InvalidGrant("x"),
                Code::Unauthenticated,
                "invalid_grant",
            ),
            (
                || E::InvalidRequest("x"),
                Code::InvalidArgument,
                "invalid_request",
            ),
            (|| E::InvalidScope, Code::InvalidArgument, "invalid_scope"),
            (
                || E::UnauthorizedClient("x"),
                Code::PermissionDenied,
                "unauthorized_client",
            ),
            (
                || E::Unavailable,
                Code::Unavailable,
                "temporarily_unavailable",
            ),
        ];
        for (error, code, name) in cases {
            let description = error().classify().description;

            let status = oauth(error());

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
    fn account_errors_follow_the_same_kinds_as_over_http() {
        use oauth::UserError;
        let cases = [
            (UserError::NotFound, Code::NotFound, "not_found"),
            (
                UserError::EmailTaken,
                Code::AlreadyExists,
                "user_already_exists",
            ),
            (
                UserError::RegistrationClosed,
                Code::PermissionDenied,
                "registration_disabled",
            ),
            (
                UserError::MailNotConfigured,
                Code::Unimplemented,
                "not_found",
            ),
            (
                UserError::InvalidLink,
                Code::InvalidArgument,
                "invalid_token",
            ),
            (
                UserError::CredentialChoice,
                Code::InvalidArgument,
                "invalid_request",
            ),
        ];
        for (error, code, name) in cases {
            let status = oauth(error.into());

            assert_eq!(status.code(), code, "{name}");
            assert_eq!(status.metadata().get(OAUTH_ERROR).unwrap(), name);
        }
    }

    #[test]
    fn internal_errors_show_nothing_of_their_cause() {
        let status = oauth(oauth::Error::Internal(anyhow::anyhow!("secret detail")));

        assert_eq!(status.code(), Code::Internal);
        assert_eq!(status.message(), "internal server error");
    }
}
