//! `GET /metrics`: Prometheus metrics in the OpenMetrics text format.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Requests by route and status, tokens issued by grant, failed logins, rate-limit
/// rejections, the published signing keys with their states, and the password-hash queue.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text",
        content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8", body = String),
        (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_metrics(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let published = state.sigil.keys.published().await?;
    let text = state
        .metrics
        .render(&published, state.sigil.tokens.hasher().load());
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(header::CONTENT_TYPE, content_type)], text))
}
