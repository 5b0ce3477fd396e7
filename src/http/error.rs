//! Rendering errors as HTTP responses; nothing internal ever reaches a body.
//!
//! Policy: the application layer classifies each of its errors once (`oauth::Classify`: a
//! kind, the wire code, a safe description); this module maps the kinds to HTTP in one table
//! (`From<Failure> for ApiError`), as `grpc::status` maps them to gRPC. `/token` answers RFC 6749 §5.2 JSON (`error`,
//! `error_description`); other endpoints use `ApiError` with the same shape. A 500 carries a
//! fixed body; the real error is put into the response's extensions and logged once by the
//! `log_internal_errors` middleware, so `into_response` has no side effects. `anyhow` appears
//! here only inside `oauth::Error::Internal`.

use std::borrow::Cow;
use std::sync::Arc;

use axum::Json;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::oauth::{
    self, AuditError, Classify as _, ClientError, Failure, KeyError, Kind, UserError,
};

/// `WWW-Authenticate` of `invalid_client` (RFC 6749 §5.2, RFC 9110 §11.6.1).
const BASIC_CHALLENGE: &str = "Basic realm=\"sigil\", charset=\"UTF-8\"";

/// The JSON body of every error (RFC 6749 §5.2 shape).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody<'a> {
    /// A machine-readable code: an RFC 6749/6750 code such as `invalid_request`, or one of
    /// sigil's own (`not_found`, `user_already_exists`, `too_many_requests`, ...).
    error: &'a str,
    /// A human-readable sentence; never internal detail.
    error_description: &'a str,
}

/// The error body as the OpenAPI document names it.
pub(crate) type ErrorResponse = ErrorBody<'static>;

/// An internal error, stashed in response extensions for the logging middleware.
#[derive(Debug, Clone)]
struct InternalError(Arc<anyhow::Error>);

/// An error from the token endpoint.
#[derive(Debug)]
pub(super) enum TokenError {
    /// A grant or client error.
    OAuth(oauth::Error),
    /// The body exceeded the size limit.
    TooLarge,
}

impl From<oauth::Error> for TokenError {
    fn from(error: oauth::Error) -> Self {
        Self::OAuth(error)
    }
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        match self {
            Self::OAuth(error) => ApiError::from(error).into_response(),
            Self::TooLarge => {
                let why = "request body is too large";
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", why).into_response()
            }
        }
    }
}

/// An error from any endpoint other than `/token`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    challenge: Option<HeaderValue>,
    retry_after: Option<u64>,
    internal: Option<InternalError>,
}

impl ApiError {
    /// An error with a status, a machine-readable code and a human sentence.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            challenge: None,
            retry_after: None,
            internal: None,
        }
    }

    /// The machine-readable code (`error`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human sentence (`error_description`).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A 429 whose `Retry-After` is `wait`, rounded up to whole seconds.
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let mut api = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            "too many attempts, retry later",
        );
        api.retry_after = Some(retry_seconds(wait));
        api
    }

    /// A 500 with a fixed body; `error` is logged by the middleware, never shown.
    pub fn internal(error: anyhow::Error) -> Self {
        let mut api = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal server error",
        );
        api.internal = Some(InternalError(Arc::new(error)));
        api
    }

    /// A 503 for an unreachable database.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is temporarily unavailable, retry later",
        )
    }

    /// Adds a `WWW-Authenticate` challenge (for 401 and 403 answers).
    pub fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl From<Failure> for ApiError {
    /// The one HTTP table of the application's error classification (`oauth::Kind`).
    fn from(failure: Failure) -> Self {
        let Failure {
            kind,
            code,
            description,
        } = failure;
        let status = match kind {
            Kind::InvalidRequest | Kind::InvalidGrant | Kind::UnauthorizedClient => {
                StatusCode::BAD_REQUEST
            }
            Kind::InvalidClient => {
                // RFC 9110 §15.5.2: a 401 must say which scheme to use.
                let challenge = HeaderValue::from_static(BASIC_CHALLENGE);
                return Self::new(StatusCode::UNAUTHORIZED, code, description)
                    .with_challenge(challenge);
            }
            Kind::InvalidToken => return bearer(StatusCode::UNAUTHORIZED, code, description, None),
            Kind::InsufficientScope(scope) => {
                return bearer(StatusCode::FORBIDDEN, code, description, Some(scope));
            }
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound | Kind::NotEnabled => StatusCode::NOT_FOUND,
            Kind::AlreadyExists | Kind::Conflict => StatusCode::CONFLICT,
            Kind::TooManyRequests(wait) => {
                let mut api = Self::new(StatusCode::TOO_MANY_REQUESTS, code, description);
                api.retry_after = Some(retry_seconds(wait));
                return api;
            }
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal(source) => return Self::internal(source),
        };
        Self::new(status, code, description)
    }
}

/// RFC 6750 §3: a Bearer refusal names its error (and the scope wanted) in the challenge.
fn bearer(
    status: StatusCode,
    code: &'static str,
    description: Cow<'static, str>,
    scope: Option<&'static str>,
) -> ApiError {
    let challenge = match scope {
        Some(scope) => format!("Bearer error=\"{code}\", scope=\"{scope}\""),
        None => format!("Bearer error=\"{code}\""),
    };
    let challenge =
        HeaderValue::from_str(&challenge).unwrap_or_else(|_| HeaderValue::from_static("Bearer"));
    ApiError::new(status, code, description).with_challenge(challenge)
}

/// Every application error reaches HTTP through its classification.
macro_rules! classified {
    ($($error:ty),*) => {$(
        impl From<$error> for ApiError {
            fn from(error: $error) -> Self {
                Self::from(error.classify())
            }
        }
    )*};
}

classified!(oauth::Error, UserError, ClientError, KeyError, AuditError);

/// A wait in whole seconds, rounded up, at least one.
fn retry_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = render(self.status, self.code, &self.description);
        if let Some(challenge) = self.challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(internal) = self.internal {
            response.extensions_mut().insert(internal);
        }
        response
    }
}

fn render(status: StatusCode, error: &str, error_description: &str) -> Response {
    let headers = [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ];
    (
        status,
        headers,
        Json(ErrorBody {
            error,
            error_description,
        }),
    )
        .into_response()
}

/// Logs the error behind every 500 in the request's span, once.
pub(super) async fn log_internal_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(InternalError(error)) = response.extensions().get::<InternalError>() {
        tracing::error!(error = format!("{error:#}"), "internal error");
    }
    response
}

/// The 500 answer to a panic inside a handler.
pub(super) fn panic_response(_panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "internal server error",
    )
    .into_response()
}

/// The JSON 405 of known paths called with another method.
pub(super) async fn method_not_allowed() -> ApiError {
    let why = "this endpoint does not accept this method";
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", why)
}

/// The JSON 404 of unknown paths.
pub(super) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{ClientError, KeyError, UserError};

    #[test]
    fn each_kind_has_its_status_and_headers() {
        let cases: [(ApiError, StatusCode, &str); 8] = [
            (
                oauth::Error::InvalidClient.into(),
                StatusCode::UNAUTHORIZED,
                "invalid_client",
            ),
            (
                oauth::Error::InvalidGrant("x").into(),
                StatusCode::BAD_REQUEST,
                "invalid_grant",
            ),
            (
                oauth::Error::UnauthorizedClient("x").into(),
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
            ),
            (
                UserError::RegistrationClosed.into(),
                StatusCode::FORBIDDEN,
                "registration_disabled",
            ),
            (
                UserError::MailNotConfigured.into(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                ClientError::IdTaken.into(),
                StatusCode::CONFLICT,
                "client_already_exists",
            ),
            (
                KeyError::UnknownKid.into(),
                StatusCode::NOT_FOUND,
                "not_found",
            ),
            (
                oauth::Error::Unavailable.into(),
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.code(), code);

            let response = error.into_response();

            assert_eq!(response.status(), status, "{code}");
            let challenge = response.headers().get(header::WWW_AUTHENTICATE);
            assert_eq!(challenge.is_some(), code == "invalid_client", "{code}");
        }
    }

    #[test]
    fn a_limit_says_when_to_retry_in_whole_seconds() {
        let error = ApiError::from(oauth::Error::TooManyRequests(
            std::time::Duration::from_millis(2_100),
        ));

        let response = error.into_response();

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
