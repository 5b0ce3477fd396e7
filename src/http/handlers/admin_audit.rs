//! `/admin/audit`: the audit log, newest first, filtered, a page at a time (scope `admin`).

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::AdminCaller;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::ApiQuery;
use crate::http::state::AppState;
use crate::oauth::{AuditFilter, AuditView};

/// One audit row.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEvent {
    /// Increasing id.
    id: i64,
    /// When it happened.
    at: DateTime<Utc>,
    /// `user`, `client`, `system` or `anonymous`.
    actor_type: String,
    /// The user id, client id or system label (`bootstrap`, `key-scheduler`, `cli`).
    #[serde(skip_serializing_if = "Option::is_none")]
    actor_id: Option<String>,
    /// The OAuth client the call came through.
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    /// The caller's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    ip: Option<String>,
    /// What was done: `user.update`, `client.secret_rotate`, `login.failure`, `key.rotate`, ...
    action: String,
    /// Kind of what it was done to: `user`, `client`, `session`, `key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_type: Option<String>,
    /// Id of what it was done to.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_id: Option<String>,
    /// `success` or `failure`.
    outcome: String,
    /// More about it; never a secret, hash or token.
    #[schema(value_type = Object)]
    details: serde_json::Value,
}

impl From<AuditView> for AuditEvent {
    fn from(record: AuditView) -> Self {
        Self {
            id: record.id,
            at: record.at,
            actor_type: record.actor_type,
            actor_id: record.actor_id,
            client_id: record.client_id,
            ip: record.ip,
            action: record.action,
            target_type: record.target_type,
            target_id: record.target_id,
            outcome: record.outcome,
            details: serde_json::from_str(&record.details).unwrap_or_default(),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AuditEventPage {
    /// The rows on this page.
    events: Vec<AuditEvent>,
    /// Pass as `cursor` to get the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
}

/// Filters and paging of the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct AuditQuery {
    /// Only rows of this actor (user id, client id or system label).
    actor: Option<String>,
    /// Only this action, e.g. `login.failure`.
    action: Option<String>,
    /// Only rows about this target id (a user, client, session or key id).
    target: Option<String>,
    /// Only rows at or after this time (RFC 3339).
    since: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page (a row id: rows older than it follow).
    #[param(value_type = Option<i64>, minimum = 1)]
    cursor: Option<String>,
    /// Rows per page, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// The audit log, newest first: who did what, when, from where, with what outcome. Reading
/// it is recorded too (`audit.read`).
#[utoipa::path(get, path = "/admin/audit", tag = "admin", params(AuditQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = AuditEventPage), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_audit(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditEventPage>, ApiError> {
    let filter = AuditFilter {
        actor: query.actor,
        action: query.action,
        target: query.target,
        since: query.since,
        cursor: query.cursor,
        limit: query.limit,
    };
    let page = state
        .sigil
        .audit
        .list(&admin, filter, state.clock.now())
        .await?;
    Ok(Json(AuditEventPage {
        events: page.events.into_iter().map(AuditEvent::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
