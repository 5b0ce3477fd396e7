//! Our own extractors, so malformed input becomes a clear OAuth error, never axum's text.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use axum::extract::rejection::JsonRejection;

use super::error::{ApiError, TokenError};
use crate::oauth::{BasicCredentials, ClientAuthentication, Error, Params, TOKEN_PARAMETERS};

/// An `application/x-www-form-urlencoded` body read by the one OAuth parameter rule
/// (`oauth::Params`): known parameters at most once (a repeat is `invalid_request`), a
/// parameter sent without a value counts as omitted (RFC 6749 §3.1).
#[derive(Debug)]
pub(super) struct OAuthForm(Params);

impl OAuthForm {
    /// Takes a parameter out of the form.
    pub(super) fn take(&mut self, name: &str) -> Option<String> {
        self.0.take(name)
    }

    fn parse(body: &[u8]) -> Result<Self, Error> {
        let params = Params::from_urlencoded(body, &TOKEN_PARAMETERS);
        params.check().map_err(Error::InvalidRequest)?;
        Ok(Self(params))
    }
}

impl<S: Send + Sync> FromRequest<S> for OAuthForm {
    type Rejection = TokenError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_form(request.headers()) {
            let why = "content type must be application/x-www-form-urlencoded";
            return Err(Error::InvalidRequest(why).into());
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    TokenError::TooLarge
                } else {
                    Error::InvalidRequest("the request body could not be read").into()
                }
            })?;
        Ok(Self::parse(&body)?)
    }
}

/// Whether the body is `application/x-www-form-urlencoded` (any parameters).
pub(super) fn is_form(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

/// Reads `Authorization: Basic`; `Ok(None)` when the header is absent or of another scheme.
fn basic_credentials(headers: &HeaderMap) -> Result<Option<BasicCredentials>, Error> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    BasicCredentials::parse(value.to_str().map_err(|_| Error::InvalidClient)?)
}

/// The body of an OAuth endpoint with the client's credentials already resolved (RFC 6749
/// §2.3: from `Authorization: Basic` or from the form, one method only), and the rest of the
/// form.
#[derive(Debug)]
pub(super) struct ClientForm {
    pub(super) client: ClientAuthentication,
    pub(super) form: OAuthForm,
}

impl<S: Send + Sync> FromRequest<S> for ClientForm {
    type Rejection = TokenError;

    async fn from_request(request: Request, state: &S) -> Result<Self, TokenError> {
        let basic = basic_credentials(request.headers())?;
        let mut form = OAuthForm::from_request(request, state).await?;
        let (id, secret) = (form.take("client_id"), form.take("client_secret"));
        let client = ClientAuthentication::resolve(basic, id, secret)?;
        Ok(Self { client, form })
    }
}

/// A JSON body whose every rejection is a clear `ApiError` (400, or 413 when too large),
/// never axum's plain-text answer.
#[derive(Debug)]
pub(super) struct ApiJson<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// A query string whose rejection is a clear `400 invalid_request`, never axum's text.
#[derive(Debug)]
pub(super) struct ApiQuery<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the query string has an unknown parameter or a value of the wrong type",
            )),
        }
    }
}

/// A path parameter whose rejection (e.g. percent-encoded bytes that are not UTF-8) is a
/// clear `400 invalid_request`.
#[derive(Debug)]
pub(super) struct ApiPath<T>(pub(super) T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(_) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the path parameter could not be decoded",
            )),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let (status, why) = match rejection {
        JsonRejection::MissingJsonContentType(_) => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content type must be application/json",
        ),
        JsonRejection::JsonSyntaxError(_) => {
            (StatusCode::BAD_REQUEST, "the body is not valid JSON")
        }
        JsonRejection::JsonDataError(_) => (
            StatusCode::BAD_REQUEST,
            "the JSON body lacks a required field or has one of the wrong type",
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            (StatusCode::PAYLOAD_TOO_LARGE, "request body is too large")
        }
        _ => (
            StatusCode::BAD_REQUEST,
            "the request body could not be read",
        ),
    };
    ApiError::new(status, "invalid_request", why)
}

/// For an optional field that may also be `null`: `None` when absent, `Some(None)` for
/// `null` (e.g. `"audience": null` restores the default), `Some(Some(_))` for a value. Use with
/// `#[serde(default, deserialize_with = "present")]`.
pub(crate) fn present<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    <Option<String> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn form_rejects_repeated_known_parameters_and_ignores_unknown_ones() {
        let repeated = OAuthForm::parse(b"grant_type=a&scope=x&scope=y");
        let mut unknown_twice = OAuthForm::parse(b"grant_type=a&foo=1&foo=2").unwrap();

        assert!(matches!(
            repeated,
            Err(Error::InvalidRequest("parameter scope is repeated"))
        ));
        assert_eq!(unknown_twice.take("grant_type").as_deref(), Some("a"));
        assert_eq!(unknown_twice.take("foo"), None);
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let mut form = OAuthForm::parse(b"grant_type=client_credentials&scope=").unwrap();

        assert_eq!(form.take("scope"), None);
        assert_eq!(
            form.take("grant_type").as_deref(),
            Some("client_credentials")
        );
    }

    #[test]
    fn content_type_may_carry_parameters() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("Application/X-WWW-Form-Urlencoded; charset=UTF-8"),
        );

        assert!(is_form(&headers));
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        assert!(!is_form(&headers));
    }
}
