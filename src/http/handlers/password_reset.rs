//! `POST /password/forgot` (ask for a reset link), `GET /password/reset` (the emailed link: a
//! form) and `POST /password/reset` (set the new password: JSON for apps, or the form).

use axum::Form;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;
use utoipa::ToSchema;

use super::verify_email::{LinkQuery, checked_token};
use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::{ApiJson, ApiQuery, is_form};
use crate::http::page::Page;
use crate::http::state::AppState;
use crate::http::templates::ResetPassword;

const TITLE: &str = "Choose a new password";

/// The address to send a reset link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ForgotPasswordRequest {
    /// The account's email address.
    #[schema(value_type = crate::http::schema::Email)]
    email: String,
}

/// The reset link's token and the new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResetPasswordRequest {
    /// The `token` of the emailed link.
    #[schema(value_type = crate::http::schema::LinkToken)]
    token: String,
    /// The new password (the same rules as at registration).
    #[schema(value_type = crate::http::schema::NewPassword)]
    password: String,
}

/// Asks for a password-reset link (`202`, whatever the address: the answer never tells
/// whether an account exists). The link works once, for one hour, and dies if the password
/// changes meanwhile. `429` (with `Retry-After`) beyond the requests allowed for the address
/// from the caller's network, or from the caller's IP; once an address's share from everyone
/// is spent the answer stays `202` and no mail is sent. `404 not_found` on a server without
/// SMTP (a well-formed request; a malformed one is `400` first).
#[utoipa::path(post, path = "/password/forgot", tag = "users", request_body = ForgotPasswordRequest,
    responses((status = 202, description = "accepted; a mail follows if the address has an account"),
        (status = 400, body = ErrorResponse), (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 404, body = ErrorResponse, description = "`not_found`: password reset is not enabled on this server (no SMTP server)"),
        (status = 429, body = ErrorResponse, description = "too many requests; see Retry-After"),
        (status = 503, body = ErrorResponse, description = "the database is unreachable")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_password_forgot(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    ApiJson(request): ApiJson<ForgotPasswordRequest>,
) -> Result<StatusCode, ApiError> {
    let accounts = &state.sigil.accounts;
    accounts
        .forgot_password(&request.email, client_ip, state.clock.now())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// The link in the reset mail: a form for the new password (no script, no external asset),
/// posted to `POST /password/reset`.
#[utoipa::path(get, path = "/password/reset", tag = "users", params(LinkQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the form"),
        (status = 400, content_type = "text/html", body = String, description = "no token")))]
pub(crate) async fn get_password_reset(query: Result<ApiQuery<LinkQuery>, ApiError>) -> Response {
    let token = match LinkQuery::token(query) {
        Ok(token) => token,
        Err(error) => return Page::error(error, TITLE),
    };
    reset_form(StatusCode::OK, &token, None)
}

/// Sets a new password with a reset link's token and ends every session of the user (`204`;
/// from the HTML form, a page). `400 invalid_token` for an unknown, used, expired or outdated
/// link, `400 invalid_request` for a password the policy refuses (the link stays usable),
/// `429` (with `Retry-After`) beyond the requests allowed per IP.
#[utoipa::path(post, path = "/password/reset", tag = "users",
    request_body(content((ResetPasswordRequest = "application/json"), (ResetPasswordRequest = "application/x-www-form-urlencoded"))),
    responses((status = 204, description = "the password is set; every session ended"),
        (status = 200, content_type = "text/html", body = String, description = "the form's answer: the password is set"),
        (status = 400, description = "`invalid_token` or `invalid_request` (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html"))),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 429, description = "too many requests; see Retry-After (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html"))),
        (status = 503, description = "the database is unreachable (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html")))))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_password_reset(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    request: Request,
) -> Response {
    if !is_form(request.headers()) {
        let reset = async {
            let ApiJson(body) =
                ApiJson::<ResetPasswordRequest>::from_request(request, &state).await?;
            reset(&state, client_ip, body).await
        };
        return match reset.await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(error) => error.into_response(),
        };
    }
    let Ok(Form(body)) = Form::<ResetPasswordRequest>::from_request(request, &state).await else {
        let error = crate::oauth::Error::InvalidRequest(super::verify_email::INCOMPLETE);
        return Page::error(error.into(), TITLE);
    };
    let token = body.token.clone();
    match reset(&state, client_ip, body).await {
        Ok(()) => Page::message(
            StatusCode::OK,
            TITLE,
            "Your password is changed, and every session signed in with the old one has ended.",
        )
        .into_response(),
        // The link still works: the form again, saying what the policy wants.
        Err(error) if error.code() == "invalid_request" => {
            reset_form(StatusCode::BAD_REQUEST, &token, Some(error.description()))
        }
        Err(error) => Page::error(error, TITLE),
    }
}

/// The new-password form for `token`, with a `notice` about the last attempt if any.
fn reset_form(status: StatusCode, token: &str, notice: Option<&str>) -> Response {
    let form = ResetPassword {
        title: TITLE,
        token,
        notice,
    };
    Page::render(status, &form).into_response()
}

async fn reset(
    state: &AppState,
    client_ip: Option<std::net::IpAddr>,
    body: ResetPasswordRequest,
) -> Result<(), ApiError> {
    let token = checked_token(&body.token)?;
    let password = SecretString::from(body.password);
    let accounts = &state.sigil.accounts;
    accounts
        .reset_password(token, password, client_ip, state.clock.now())
        .await?;
    Ok(())
}
