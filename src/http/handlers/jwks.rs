//! `GET /.well-known/jwks.json`: the public keys verifiers need (RFC 7517).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::state::AppState;

/// The JWK Set of every published key: public members only, cacheable, with an ETag.
/// Answers `304` when `If-None-Match` names the current ETag.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "discovery",
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer")),
    responses((status = 200, body = serde_json::Value, description = "RFC 7517 JWK Set",
            headers(("ETag" = String), ("Cache-Control" = String))),
        (status = 304, description = "the set has not changed")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_jwks(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let jwks = state.sigil.keys.jwks();
    let Ok(etag) = HeaderValue::from_str(jwks.etag()) else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let cache_control = state.documents.cache_control.clone();
    if none_match(&headers, jwks.etag()) {
        return (
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, etag), (header::CACHE_CONTROL, cache_control)],
        )
            .into_response();
    }
    let content_type = HeaderValue::from_static("application/json");
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::ETAG, etag),
        (header::CACHE_CONTROL, cache_control),
    ];
    (headers, jwks.body().clone()).into_response()
}

/// RFC 9110 §13.1.2: `If-None-Match` uses weak comparison and may list several tags or `*`.
fn none_match(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn if_none_match_matches_lists_weak_tags_and_star() {
        let etag = "\"abc\"";
        for (value, expected) in [
            ("\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("W/\"abc\"", true),
            ("*", true),
            ("\"abd\"", false),
            ("abc", false),
        ] {
            assert_eq!(none_match(&with(value), etag), expected, "{value}");
        }
        assert!(!none_match(&HeaderMap::new(), etag), "absent header");
    }
}
