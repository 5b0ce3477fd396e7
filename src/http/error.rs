//! Rendering errors as HTTP responses; nothing internal ever reaches a body.
//!
//! Policy: each layer has its own error type (`oauth::Error`, `UserError`, ...); this module
//! turns them into responses. `/token` answers RFC 6749 §5.2 JSON (`error`,
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

use crate::oauth::{self, AuditError, ClientError, KeyError, UserError};

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
        let error = match self {
            Self::OAuth(error) => error,
            Self::TooLarge => {
                let why = "request body is too large";
                return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_request", why)
                    .into_response();
            }
        };
        let (code, description) = (error.code(), error.description());
        let api = match error {
            oauth::Error::InvalidClient => {
                ApiError::new(StatusCode::UNAUTHORIZED, code, description)
                    // RFC 9110 §15.5.2: a 401 must say which scheme to use.
                    .with_challenge(HeaderValue::from_static(BASIC_CHALLENGE))
            }
            oauth::Error::Unavailable => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, code, description)
            }
            oauth::Error::TooManyRequests(wait) => ApiError::too_many_requests(wait),
            oauth::Error::Internal(source) => ApiError::internal(source),
            _ => ApiError::new(StatusCode::BAD_REQUEST, code, description),
        };
        api.into_response()
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
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        api.retry_after = Some(seconds.max(1));
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
            "database unreachable, retry later",
        )
    }

    /// Adds a `WWW-Authenticate` challenge (for 401 and 403 answers).
    pub fn with_challenge(mut self, challenge: HeaderValue) -> Self {
        self.challenge = Some(challenge);
        self
    }
}

impl From<oauth::Error> for ApiError {
    fn from(error: oauth::Error) -> Self {
        match error {
            oauth::Error::Unavailable => Self::unavailable(),
            oauth::Error::TooManyRequests(wait) => Self::too_many_requests(wait),
            oauth::Error::Internal(source) => Self::internal(source),
            other => Self::new(StatusCode::BAD_REQUEST, other.code(), other.description()),
        }
    }
}

impl From<KeyError> for ApiError {
    fn from(error: KeyError) -> Self {
        match error {
            KeyError::NextKeyTooFresh(why) => {
                Self::new(StatusCode::CONFLICT, "next_key_too_fresh", why)
            }
            KeyError::UnknownKid => {
                Self::new(StatusCode::NOT_FOUND, "not_found", error.to_string())
            }
            KeyError::Unavailable => Self::unavailable(),
            KeyError::Internal(source) => Self::internal(source),
        }
    }
}

impl From<UserError> for ApiError {
    fn from(error: UserError) -> Self {
        let (status, code) = match error {
            UserError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            UserError::EmailTaken => (StatusCode::CONFLICT, "user_already_exists"),
            UserError::Unavailable => return Self::unavailable(),
            UserError::TooManyRequests(wait) => return Self::too_many_requests(wait),
            UserError::Internal(source) => return Self::internal(source),
            UserError::InvalidEmail(_)
            | UserError::InvalidPassword(_)
            | UserError::InvalidPasswordHash(_)
            | UserError::InvalidDisplayName(_)
            | UserError::CredentialChoice
            | UserError::InvalidPage
            | UserError::InvalidOffset => (StatusCode::BAD_REQUEST, "invalid_request"),
            UserError::RegistrationClosed => (StatusCode::FORBIDDEN, "registration_disabled"),
            UserError::MailNotConfigured => (StatusCode::NOT_FOUND, "not_found"),
            UserError::InvalidLink => (StatusCode::BAD_REQUEST, "invalid_token"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<ClientError> for ApiError {
    fn from(error: ClientError) -> Self {
        let (status, code) = match error {
            ClientError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ClientError::IdTaken => (StatusCode::CONFLICT, "client_already_exists"),
            ClientError::PublicClient | ClientError::PublicClientConflict => {
                (StatusCode::CONFLICT, "public_client")
            }
            ClientError::Unavailable => return Self::unavailable(),
            ClientError::Internal(source) => return Self::internal(source),
            _ => (StatusCode::BAD_REQUEST, "invalid_request"),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<AuditError> for ApiError {
    fn from(error: AuditError) -> Self {
        match error {
            AuditError::Unavailable => Self::unavailable(),
            AuditError::Internal(source) => Self::internal(source),
            other => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                other.to_string(),
            ),
        }
    }
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
