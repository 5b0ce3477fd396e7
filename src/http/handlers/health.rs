//! `GET /healthz` (liveness) and `GET /readyz` (readiness).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = serde_json::Value, example = json!({"status": "ok"}))))]
pub(crate) async fn get_healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers and the key ring is loaded (it is, or the server would
/// not have started). `503` with a JSON body while the database is unreachable, and from the
/// moment the process is told to stop.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = serde_json::Value,
            example = json!({"status": "ready", "signing_kid": "kid"})),
        (status = 503, body = crate::http::error::ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    if state.shutdown.is_draining() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "shutting down",
        ));
    }
    let signing_kid = state.sigil.ready().await.map_err(|_| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "database unreachable",
        )
    })?;
    Ok(Json(
        json!({ "status": "ready", "signing_kid": signing_kid }),
    ))
}
