//! Which handler answers which path: every route with its `#[utoipa::path]` annotation, in
//! groups the router stacks differently (`router`) and the OpenAPI document reads whole
//! (`openapi`). Neither of those imports the other.

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::handlers::{
    admin_audit, admin_clients, admin_keys, admin_users, authorize, discovery, end_session, health,
    introspect, jwks, logout, metrics, password_reset, register, revoke, token, userinfo,
    verify_email,
};
use super::state::AppState;

/// Every documented route, for the OpenAPI document.
pub(super) fn documented_routes() -> OpenApiRouter<AppState> {
    document_routes()
        .routes(routes!(health::get_healthz))
        .merge(endpoint_routes())
        .merge(operations_routes())
}

/// Readiness and metrics (liveness is a document: answered from memory).
pub(super) fn operations_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::get_readyz))
        .routes(routes!(metrics::get_metrics))
}

/// The precomputed documents: the JWKS and the discovery metadata.
pub(super) fn document_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(jwks::get_jwks))
        .routes(routes!(discovery::get_openid_configuration))
        .routes(routes!(discovery::get_oauth_authorization_server))
}

/// The endpoints that do real work.
pub(super) fn endpoint_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(token::post_token))
        .routes(routes!(authorize::get_authorize, authorize::post_authorize))
        .routes(routes!(authorize::post_authorize_consent))
        .routes(routes!(
            end_session::get_end_session,
            end_session::post_end_session
        ))
        .routes(routes!(revoke::post_revoke))
        .routes(routes!(introspect::post_introspect))
        .routes(routes!(logout::post_logout))
        .routes(routes!(register::post_register))
        .routes(routes!(
            verify_email::get_verify_email,
            verify_email::post_verify_email
        ))
        .routes(routes!(verify_email::post_verify_email_resend))
        .routes(routes!(password_reset::post_password_forgot))
        .routes(routes!(
            password_reset::get_password_reset,
            password_reset::post_password_reset
        ))
        .routes(routes!(userinfo::get_userinfo))
        .routes(routes!(userinfo::get_me))
        .routes(routes!(
            admin_users::get_admin_users,
            admin_users::post_admin_users
        ))
        .routes(routes!(
            admin_users::get_admin_user,
            admin_users::patch_admin_user,
            admin_users::delete_admin_user
        ))
        .routes(routes!(
            admin_clients::get_admin_clients,
            admin_clients::post_admin_clients
        ))
        .routes(routes!(
            admin_clients::get_admin_client,
            admin_clients::patch_admin_client,
            admin_clients::delete_admin_client
        ))
        .routes(routes!(admin_clients::post_admin_client_secret))
        .routes(routes!(admin_keys::get_admin_keys))
        .routes(routes!(admin_keys::post_admin_keys_rotate))
        .routes(routes!(admin_keys::post_admin_key_revoke))
        .routes(routes!(admin_audit::get_admin_audit))
}
