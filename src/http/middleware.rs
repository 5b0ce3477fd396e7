//! The middleware every response passes: request counting for `/metrics` and the security
//! headers. One function for both, so the JWKS path pays for one extra layer only.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use super::state::AppState;

/// The route label of requests that matched no route (one label, not one per probed path).
const UNMATCHED: &str = "unmatched";

/// API responses: nothing may be framed, sniffed, referred or run.
const API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
/// The Swagger UI at `/docs` loads its own scripts, styles and images, nothing else.
const DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
);

/// Headers set on every response unless the handler chose its own.
const HEADERS: [(HeaderName, HeaderValue); 5] = [
    (
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    ),
    (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
    (
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    ),
    (
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=63072000"),
    ),
    (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
];

/// Counts the request by route template and status, and adds the security headers.
pub(super) async fn count_and_harden(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let mut response = next.run(request).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    state.metrics.request(route, response.status().as_u16());
    let headers = response.headers_mut();
    for (name, value) in HEADERS {
        headers.entry(name).or_insert(value);
    }
    let csp = if route.starts_with("/docs") {
        DOCS_CSP
    } else {
        API_CSP
    };
    headers
        .entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(csp);
    response
}
