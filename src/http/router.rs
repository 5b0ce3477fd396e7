//! The router: every route and the middleware stack around it.

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::StatusCode;
use axum::middleware;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, OnResponse as _, TraceLayer};
use tracing::Level;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use super::error::{log_internal_errors, method_not_allowed, not_found, panic_response};
use super::handlers::health;
use super::middleware::count_and_harden;
use super::openapi::openapi;
use super::routes::{document_routes, endpoint_routes, operations_routes};
use super::state::AppState;

/// Largest accepted request body; token requests are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Where the operations endpoints (`/healthz`, `/readyz`, `/metrics`) are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operations {
    /// On the public port with everything else.
    Public,
    /// Only on the management listener (`management_router`): off the public port.
    Separate,
}

/// Builds the application router.
///
/// Two stacks: the precomputed documents (JWKS, discovery, health, the OpenAPI document and
/// its UI) are answered from memory and can neither hang nor panic on input, so they skip
/// the per-request timer, panic guard and tracing that the endpoints doing real work get.
/// Gateways fetch the JWKS hardest.
pub fn router(state: AppState, request_timeout: Duration, operations: Operations) -> Router {
    let document_routes = match operations {
        Operations::Public => document_routes().routes(routes!(health::get_healthz)),
        Operations::Separate => document_routes(),
    };
    let endpoint_routes = match operations {
        Operations::Public => endpoint_routes().merge(operations_routes()),
        Operations::Separate => endpoint_routes(),
    };
    let (documents, _) = document_routes.split_for_parts();
    let documents = documents
        .merge(SwaggerUi::new("/docs").url("/openapi.json", openapi()))
        .method_not_allowed_fallback(method_not_allowed);
    let (endpoints, _) = endpoint_routes.split_for_parts();
    let endpoints = guarded(endpoints, request_timeout).layer(
        // Spans carry method and path only: never headers, query strings (a client may
        // put a secret there by mistake) or bodies.
        TraceLayer::new_for_http()
            .make_span_with(request_span)
            .on_response(record_status),
    );
    documents
        .merge(endpoints)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_and_harden,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The management listener's router: liveness, readiness and metrics, nothing else (the
/// Keycloak convention: a port that only the platform reaches).
pub fn management_router(state: AppState, request_timeout: Duration) -> Router {
    let (routes, _) = OpenApiRouter::new()
        .routes(routes!(health::get_healthz))
        .merge(operations_routes())
        .split_for_parts();
    guarded(routes, request_timeout)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The guards of routes that do real work: JSON answers to unknown paths and methods, the
/// one log line of an internal error, the per-request timeout and the panic guard.
fn guarded(routes: Router<AppState>, request_timeout: Duration) -> Router<AppState> {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(log_internal_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

/// The span of one request: method and path, nothing the client wrote elsewhere; traced,
/// it is an OpenTelemetry server span named by its route, child of the caller's
/// `traceparent`.
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let method = request.method();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), MatchedPath::as_str);
    let span = tracing::debug_span!(
        "request",
        method = %method,
        path = %request.uri().path(),
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    crate::telemetry::adopt_parent(&span, request.headers());
    span
}

/// Puts the answer's status on the request's span (and logs it at `debug`).
fn record_status(response: &axum::response::Response, latency: Duration, span: &tracing::Span) {
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    DefaultOnResponse::new()
        .level(Level::DEBUG)
        .on_response(response, latency, span);
}
