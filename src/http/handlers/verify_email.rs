//! `/verify-email`: the emailed verification link (`GET`, a page), its API form (`POST`), and
//! `POST /verify-email/resend` to ask for a new link.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::page::Page;
use crate::http::state::AppState;

/// Longest token accepted: sigil's are 43 characters, anything longer is not one.
pub(super) const MAX_TOKEN_CHARS: usize = 512;

/// The link's token.
#[derive(Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyEmailRequest {
    /// The `token` of the emailed link.
    #[schema(value_type = crate::http::schema::LinkToken)]
    #[param(value_type = crate::http::schema::LinkToken)]
    token: String,
}

/// The address to send a new verification link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendVerificationRequest {
    /// The account's email address.
    #[schema(value_type = crate::http::schema::Email)]
    email: String,
}

/// Verifies the email address a link was sent to (`204`). The token works once, for 24
/// hours from the moment it was mailed; `400 invalid_token` otherwise.
#[utoipa::path(post, path = "/verify-email", tag = "users", request_body = VerifyEmailRequest,
    responses((status = 204, description = "the address is verified"),
        (status = 400, body = ErrorResponse, description = "`invalid_token`: unknown, used or expired link"),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 503, body = ErrorResponse)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_verify_email(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(request): ApiJson<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    let token = checked_token(&request.token)?;
    let accounts = &state.sigil.accounts;
    accounts
        .verify_email(token, client_ip, state.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The link in the verification mail: verifies the address and shows a small page saying so
/// (no script, no external asset). `400` with a page for an unknown, used or expired link.
#[utoipa::path(get, path = "/verify-email", tag = "users", params(VerifyEmailRequest),
    responses((status = 200, content_type = "text/html", body = String, description = "the address is verified"),
        (status = 400, content_type = "text/html", body = String, description = "unknown, used or expired link"),
        (status = 503, content_type = "text/html", body = String)))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_verify_email(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    query: Result<ApiQuery<VerifyEmailRequest>, ApiError>,
) -> Response {
    const TITLE: &str = "Email verification";
    let verified = async {
        let ApiQuery(request) = query?;
        let token = checked_token(&request.token)?;
        let accounts = &state.sigil.accounts;
        Ok::<_, ApiError>(
            accounts
                .verify_email(token, client_ip, state.clock.now())
                .await?,
        )
    }
    .await;
    match verified {
        Ok(_) => Page::message(
            StatusCode::OK,
            TITLE,
            "Your email address is verified. You can close this page.",
        )
        .into_response(),
        Err(error) => Page::error(error, TITLE),
    }
}

/// Asks for a new verification link (`202`, whatever the address: the answer never tells
/// whether an account exists). Only an unverified account gets a mail. `429` (with
/// `Retry-After`) beyond the requests allowed for the address from the caller's network, or
/// from the caller's IP; `404 not_found` on a server without SMTP.
#[utoipa::path(post, path = "/verify-email/resend", tag = "users", request_body = ResendVerificationRequest,
    responses((status = 202, description = "accepted; a mail follows if the address has an unverified account"),
        (status = 400, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 404, body = ErrorResponse, description = "`not_found`: email verification is not enabled on this server (no SMTP server)"),
        (status = 429, body = ErrorResponse, description = "too many requests; see Retry-After"),
        (status = 503, body = ErrorResponse, description = "the database is unreachable")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_verify_email_resend(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(request): ApiJson<ResendVerificationRequest>,
) -> Result<StatusCode, ApiError> {
    let accounts = &state.sigil.accounts;
    accounts
        .resend_verification(&request.email, client_ip, state.clock.now())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// The token, unless it is empty or longer than any sigil makes (`400 invalid_token`, as
/// for any other token that cannot work).
pub(super) fn checked_token(token: &str) -> Result<&str, ApiError> {
    match token.chars().count() {
        1..=MAX_TOKEN_CHARS => Ok(token),
        _ => Err(ApiError::from(crate::oauth::UserError::InvalidLink)),
    }
}
