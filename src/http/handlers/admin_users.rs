//! `/admin/users`: list, get, create, update (disable, enable, admin flag, password reset)
//! and delete users (scope `admin`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::http::auth::AdminCaller;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::{ApiJson, ApiPath, ApiQuery};
use crate::http::state::AppState;
use crate::oauth::{NewAccount, UserChanges};
use crate::store::User;

/// Page size when the caller gives none.
const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
const MAX_LIMIT: u32 = 200;

/// A user as operators see it; never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    /// Stable id, the `sub` of the user's tokens.
    id: String,
    /// Login name (email), as registered.
    username: String,
    /// Whether the user may be granted scope `admin`.
    admin: bool,
    /// A disabled user can neither log in nor refresh.
    disabled: bool,
    /// When the user was created.
    created_at: DateTime<Utc>,
}

impl From<User> for UserResponse {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            username: user.email,
            admin: user.is_admin,
            disabled: user.disabled,
            created_at: user.created_at,
        }
    }
}

/// One page of users, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserPage {
    /// The users on this page.
    users: Vec<UserResponse>,
    /// The `offset` of the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_offset: Option<u64>,
}

/// Pagination of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Users per page, 1 to 200 (default 50).
    limit: Option<u32>,
    /// Users to skip (default 0).
    offset: Option<u64>,
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    /// Login name (an email address, at most 254 characters).
    username: String,
    /// Password (policy: at least the configured minimum length, at most 1024 bytes).
    password: String,
    /// Whether the user may be granted scope `admin` (default false).
    #[serde(default)]
    admin: bool,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserRequest {
    /// `true` disables the account and revokes all its sessions; `false` enables it.
    disabled: Option<bool>,
    /// Grant or withdraw scope `admin`.
    admin: Option<bool>,
    /// A new password; revokes all the user's sessions.
    password: Option<String>,
}

/// Lists users, oldest first, a page at a time.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(PageQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_users(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        let why = "limit must be between 1 and 200";
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            why,
        ));
    }
    let offset = page.offset.unwrap_or(0);
    let users = state.store.list_users(limit + 1, offset).await?;
    let more = users.len() > limit as usize;
    Ok(Json(UserPage {
        next_offset: more.then(|| offset.saturating_add(u64::from(limit))),
        users: users
            .into_iter()
            .take(limit as usize)
            .map(UserResponse::from)
            .collect(),
    }))
}

/// Creates a user (`201`); `409` when the username is taken.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = CreateUserRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = UserResponse), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 409, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_admin_users(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let account = NewAccount {
        email: &request.username,
        password: request.password,
        is_admin: request.admin,
    };
    let user = state.issuer.create_user(account, state.clock.now()).await?;
    tracing::info!(by = %admin.0.client_id, user_id = %user.id, "admin: user created");
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One user; `404` when unknown.
#[utoipa::path(get, path = "/admin/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "user id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = UserResponse), (status = 401, body = ErrorResponse),
        (status = 403, body = ErrorResponse), (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_user(
    State(state): State<AppState>,
    _admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state.store.find_user(&id).await?;
    user.map(|user| Json(user.into()))
        .ok_or_else(user_not_found)
}

/// Disables or enables a user, grants or withdraws `admin`, or resets the password.
/// Disabling and a password reset revoke every session of the user at once.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "user id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn patch_admin_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = UserChanges {
        disabled: request.disabled,
        admin: request.admin,
        password: request.password,
    };
    tracing::info!(by = %admin.0.client_id, user_id = %id, "admin: update user");
    let user = state
        .issuer
        .update_user(&id, changes, state.clock.now())
        .await?;
    Ok(Json(user.into()))
}

/// Deletes a user and every session of theirs (`204`); `404` when unknown.
#[utoipa::path(delete, path = "/admin/users/{id}", tag = "admin",
    params(("id" = String, Path, description = "user id")), security(("bearer" = ["admin"])),
    responses((status = 204), (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn delete_admin_user(
    State(state): State<AppState>,
    admin: AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    tracing::info!(by = %admin.0.client_id, user_id = %id, "admin: delete user");
    state.issuer.delete_user(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn user_not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no user has this id")
}
