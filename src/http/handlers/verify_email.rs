//! `/verify-email`: the emailed verification link (`GET`, a page that asks to confirm), the
//! verification itself (`POST`, JSON for apps or the page's form), and
//! `POST /verify-email/resend` to ask for a new link.

use axum::Form;
use axum::extract::{FromRequest as _, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::http::client_ip::ClientIp;
use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::{ApiJson, ApiQuery, is_form};
use crate::http::page::Page;
use crate::http::state::AppState;
use crate::http::templates::VerifyEmail;

const TITLE: &str = "Email verification";

/// Longest token accepted: sigil's are 43 characters, anything longer is not one.
pub(super) const MAX_TOKEN_CHARS: usize = 512;

/// The link's token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyEmailRequest {
    /// The `token` of the emailed link.
    #[schema(value_type = crate::http::schema::LinkToken)]
    token: String,
}

/// The token of an emailed link (`?token=`): the verification link and the reset link.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct LinkQuery {
    /// The `token` of the emailed link.
    #[param(value_type = crate::http::schema::LinkToken)]
    token: String,
}

impl LinkQuery {
    /// The token of an emailed link's query, unless the query is malformed or the token
    /// cannot be one sigil made (`400`).
    pub(super) fn token(query: Result<ApiQuery<Self>, ApiError>) -> Result<String, ApiError> {
        let ApiQuery(query) = query?;
        Ok(checked_token(&query.token)?.to_owned())
    }
}

/// The address to send a new verification link to.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResendVerificationRequest {
    /// The account's email address.
    #[schema(value_type = crate::http::schema::Email)]
    email: String,
}

/// Verifies the email address a link was sent to (`204`; from the confirmation page's form,
/// a page). The token works once, for 24 hours from the moment it was mailed; `400
/// invalid_token` otherwise.
#[utoipa::path(post, path = "/verify-email", tag = "users",
    request_body(content((VerifyEmailRequest = "application/json"), (VerifyEmailRequest = "application/x-www-form-urlencoded"))),
    responses((status = 204, description = "the address is verified"),
        (status = 200, content_type = "text/html", body = String, description = "the form's answer: the address is verified"),
        (status = 400, description = "`invalid_token`: unknown, used or expired link (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html"))),
        (status = 413, body = ErrorResponse), (status = 415, body = ErrorResponse),
        (status = 429, description = "too many requests; see Retry-After (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html"))),
        (status = 503, description = "the database is unreachable (from the form, a page)",
            content((ErrorResponse = "application/json"), (String = "text/html")))))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_verify_email(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    request: Request,
) -> Response {
    if !is_form(request.headers()) {
        let verified = async {
            let ApiJson(body) =
                ApiJson::<VerifyEmailRequest>::from_request(request, &state).await?;
            verify(&state, client_ip, &body.token).await
        };
        return match verified.await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(error) => error.into_response(),
        };
    }
    let verified = async {
        let Ok(Form(body)) = Form::<VerifyEmailRequest>::from_request(request, &state).await else {
            return Err(crate::oauth::Error::InvalidRequest(INCOMPLETE).into());
        };
        verify(&state, client_ip, &body.token).await
    };
    match verified.await {
        Ok(()) => Page::message(
            StatusCode::OK,
            TITLE,
            "Your email address is verified. You can close this page.",
        )
        .into_response(),
        Err(error) => Page::error(error, TITLE),
    }
}

/// The link in the verification mail: a page asking the reader to confirm (no script, no
/// external asset), whose button posts to `POST /verify-email`. Opening the link changes
/// nothing, so a mail scanner that fetches every link verifies no address. `400` with a page
/// for a link without a usable token.
#[utoipa::path(get, path = "/verify-email", tag = "users", params(LinkQuery),
    responses((status = 200, content_type = "text/html", body = String, description = "the confirmation page"),
        (status = 400, content_type = "text/html", body = String, description = "no usable token")))]
pub(crate) async fn get_verify_email(query: Result<ApiQuery<LinkQuery>, ApiError>) -> Response {
    let token = match LinkQuery::token(query) {
        Ok(token) => token,
        Err(error) => return Page::error(error, TITLE),
    };
    let confirm = VerifyEmail {
        title: TITLE,
        token: &token,
    };
    Page::render(StatusCode::OK, &confirm).into_response()
}

async fn verify(
    state: &AppState,
    client_ip: Option<std::net::IpAddr>,
    token: &str,
) -> Result<(), ApiError> {
    let token = checked_token(token)?;
    let accounts = &state.sigil.accounts;
    accounts
        .verify_email(token, client_ip, state.clock.now())
        .await?;
    Ok(())
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

/// The answer to a form posted without its fields.
pub(super) const INCOMPLETE: &str = "the form is incomplete";

/// The token, unless it is empty or longer than any sigil makes (`400 invalid_token`, as
/// for any other token that cannot work).
pub(super) fn checked_token(token: &str) -> Result<&str, ApiError> {
    match token.chars().count() {
        1..=MAX_TOKEN_CHARS => Ok(token),
        _ => Err(ApiError::from(crate::oauth::UserError::InvalidLink)),
    }
}
