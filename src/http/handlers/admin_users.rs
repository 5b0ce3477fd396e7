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
use crate::oauth::{Credential, NewAccount, UserChanges, UserView};

/// A user as operators see it; never the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UserResponse {
    /// Stable id, the `sub` of the user's tokens.
    id: String,
    /// Login name (email), as registered.
    #[schema(min_length = 1, max_length = 254)]
    username: String,
    /// Whether the user may be granted scope `admin`.
    admin: bool,
    /// A disabled user can neither log in nor refresh.
    disabled: bool,
    /// Whether the email address was verified.
    email_verified: bool,
    /// Display name (OIDC `name`); absent when none is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    /// When the user was created.
    created_at: DateTime<Utc>,
}

impl From<UserView> for UserResponse {
    fn from(user: UserView) -> Self {
        Self {
            id: user.id.into(),
            username: user.email,
            admin: user.is_admin,
            disabled: user.disabled,
            email_verified: user.email_verified,
            display_name: user.display_name,
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
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// Users to skip, 0 to 2^63 - 1 (default 0).
    #[param(minimum = 0)]
    offset: Option<i64>,
}

/// A user to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUserRequest {
    /// Login name (an email address, at most 254 characters).
    #[schema(value_type = crate::http::schema::Email)]
    username: String,
    /// Password (policy: at least the configured minimum length, at most 1024 characters).
    /// Give this or `password_hash`, not both.
    #[schema(value_type = Option<crate::http::schema::NewPassword>)]
    password: Option<String>,
    /// Instead of a password, the user's hash from the service they come from: an argon2
    /// PHC string, or bcrypt (`$2a$`, `$2b$`, `$2y$`, cost 4 to 14), replaced with argon2id
    /// at the first login.
    #[schema(value_type = Option<crate::http::schema::PasswordHash>)]
    password_hash: Option<String>,
    /// Display name (OIDC `name`).
    #[schema(value_type = Option<crate::http::schema::DisplayName>)]
    display_name: Option<String>,
    /// Whether the user may be granted scope `admin` (default false).
    #[serde(default)]
    admin: bool,
    /// Whether the address is known to be the user's (default false).
    #[serde(default)]
    email_verified: bool,
}

/// Changes to a user; absent fields stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateUserRequest {
    /// `true` disables the account and revokes all its sessions; `false` enables it.
    disabled: Option<bool>,
    /// Grant or withdraw scope `admin`.
    admin: Option<bool>,
    /// Mark the email address verified (`auth.user.email_verified` is published) or not.
    email_verified: Option<bool>,
    /// A new password; revokes all the user's sessions.
    #[schema(value_type = Option<crate::http::schema::NewPassword>)]
    password: Option<String>,
    /// A new display name, or `null` to remove it.
    #[serde(default, deserialize_with = "crate::http::extract::present")]
    #[schema(value_type = Option<crate::http::schema::DisplayName>)]
    display_name: Option<Option<String>>,
}

/// Lists users, oldest first, a page at a time.
#[utoipa::path(get, path = "/admin/users", tag = "admin", params(PageQuery),
    security(("bearer" = ["admin"])),
    responses((status = 200, body = UserPage), (status = 400, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_admin_users(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<UserPage>, ApiError> {
    let now = state.clock.now();
    let page = state
        .sigil
        .accounts
        .list(&admin, page.limit, page.offset, now)
        .await?;
    Ok(Json(UserPage {
        next_offset: page.next_offset,
        users: page.users.into_iter().map(UserResponse::from).collect(),
    }))
}

/// Creates a user (`201`); `409` when the username is taken.
#[utoipa::path(post, path = "/admin/users", tag = "admin", request_body = CreateUserRequest,
    security(("bearer" = ["admin"])),
    responses((status = 201, body = UserResponse, links(
            ("GetUser" = (operation_id = "get_admin_user", parameters(("id" = "$response.body#/id")))),
            ("UpdateUser" = (operation_id = "patch_admin_user", parameters(("id" = "$response.body#/id")))),
            ("DeleteUser" = (operation_id = "delete_admin_user", parameters(("id" = "$response.body#/id")))))),
        (status = 400, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 409, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_admin_users(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiJson(request): ApiJson<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserResponse>), ApiError> {
    let account = NewAccount {
        email: request.username,
        credential: Credential::either(request.password, request.password_hash)?,
        display_name: request.display_name,
        is_admin: request.admin,
        email_verified: request.email_verified,
    };
    let now = state.clock.now();
    let user = state.sigil.accounts.create(&admin, account, now).await?;
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
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<UserResponse>, ApiError> {
    let user = state
        .sigil
        .accounts
        .find(&admin, &id, state.clock.now())
        .await?;
    Ok(Json(user.into()))
}

/// Disables or enables a user, grants or withdraws `admin`, marks the address verified or
/// not, or resets the password.
/// Disabling and a password reset revoke every session of the user at once.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", request_body = UpdateUserRequest,
    params(("id" = String, Path, description = "user id")), security(("bearer" = ["admin"])),
    responses((status = 200, body = UserResponse), (status = 400, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 401, body = ErrorResponse), (status = 403, body = ErrorResponse),
        (status = 404, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn patch_admin_user(
    State(state): State<AppState>,
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<UpdateUserRequest>,
) -> Result<Json<UserResponse>, ApiError> {
    let changes = UserChanges {
        disabled: request.disabled,
        admin: request.admin,
        password: request.password.map(Into::into),
        email_verified: request.email_verified,
        display_name: request.display_name,
    };
    let now = state.clock.now();
    let user = state
        .sigil
        .accounts
        .update(&admin, &id, changes, now)
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
    AdminCaller(admin): AdminCaller,
    ApiPath(id): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let now = state.clock.now();
    state.sigil.accounts.delete(&admin, &id, now).await?;
    Ok(StatusCode::NO_CONTENT)
}
