//! The router: every route and the middleware stack around it.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use super::error::{log_internal_errors, not_found, panic_response};
use super::handlers::{
    admin_keys, discovery, health, introspect, jwks, logout, register, revoke, token, userinfo,
};
use super::state::AppState;

/// Largest accepted request body; token requests are a few hundred bytes.
const MAX_BODY_BYTES: usize = 16 * 1024;

/// Builds the application router.
///
/// Two stacks: the precomputed documents (JWKS, discovery, health) are answered from memory
/// and can neither hang nor panic on input, so they skip the per-request timer, panic guard
/// and tracing that the endpoints doing real work get. Gateways fetch the JWKS hardest.
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let documents = Router::new()
        .route("/.well-known/jwks.json", get(jwks::get_jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::get_openid_configuration),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(discovery::get_oauth_authorization_server),
        )
        .route("/healthz", get(health::get_healthz));
    let endpoints = Router::new()
        .route("/token", post(token::post_token))
        .route("/revoke", post(revoke::post_revoke))
        .route("/introspect", post(introspect::post_introspect))
        .route("/logout", post(logout::post_logout))
        .route("/register", post(register::post_register))
        .route("/userinfo", get(userinfo::get_userinfo))
        .route("/me", get(userinfo::get_userinfo))
        .route("/admin/keys", get(admin_keys::get_admin_keys))
        .route(
            "/admin/keys/rotate",
            post(admin_keys::post_admin_keys_rotate),
        )
        .route(
            "/admin/keys/{kid}/revoke",
            post(admin_keys::post_admin_key_revoke),
        )
        .route("/readyz", get(health::get_readyz))
        .fallback(not_found)
        .layer(middleware::from_fn(log_internal_errors))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            // Spans carry method and path only: never headers, query strings or bodies.
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::DEBUG))
                .on_response(DefaultOnResponse::new().level(Level::DEBUG)),
        );
    documents
        .merge(endpoints)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}
