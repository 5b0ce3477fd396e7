//! `GET /end-session` (OIDC RP-Initiated Logout, the `end_session_endpoint`) and the
//! confirmation form it shows when the request carries no ID token of the signed-in user
//! (`POST /end-session`, with the same CSRF double submit as the login form).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use super::authorize::{expired, redirect, verified};
use crate::http::client_ip::ClientIp;
use crate::http::page::{Page, form_target};
use crate::http::state::AppState;
use crate::http::templates;
use crate::oauth::{self, EndSession, Logout};

/// The logout confirmation form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct EndSessionForm {
    /// The logout request's query string, as the page received it.
    request: String,
    /// The CSRF token the page carried (signed for the pre-session cookie).
    csrf: String,
}

/// RP-initiated logout: with an `id_token_hint` of the signed-in user (or no session), ends
/// the browser session and every session it gave clients, clears the cookie, and sends the
/// browser to `post_logout_redirect_uri` (with `state`) when the client named by the hint or
/// `client_id` registered it, else shows that the user is signed out. Without such a hint a
/// signed-in user is asked to confirm first.
#[utoipa::path(get, path = "/end-session", tag = "oauth",
    params(("id_token_hint" = Option<String>, Query), ("post_logout_redirect_uri" = Option<String>, Query),
        ("state" = Option<String>, Query), ("client_id" = Option<String>, Query)),
    responses((status = 303, description = "back to the client's registered URI"),
        (status = 200, content_type = "text/html", body = String, description = "signed out, or asked to confirm")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_end_session(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let logout = end_session(&state, &headers, &query, (false, client_ip)).await;
    let pre_session = state.cookies.pre_session(&headers);
    let csrf = state.cookies.csrf_token(&pre_session);
    let mut response = render(logout, &query, &csrf, &state);
    state.cookies.set_pre_session(&mut response, &pre_session);
    response
}

/// The confirmed logout: the user pressed "Sign out" on the confirmation page.
#[utoipa::path(post, path = "/end-session", tag = "oauth",
    request_body(content = EndSessionForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "signed out, back to the client's registered URI"),
        (status = 200, content_type = "text/html", body = String, description = "signed out"),
        (status = 403, content_type = "text/html", body = String, description = "the CSRF token is missing or wrong")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_end_session(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<EndSessionForm>, FormRejection>,
) -> Response {
    let Some(form) = verified(&state.cookies, &headers, form, |form: &EndSessionForm| {
        &form.csrf
    }) else {
        return expired();
    };
    let logout = end_session(&state, &headers, &form.request, (true, client_ip)).await;
    render(logout, &form.request, &form.csrf, &state)
}

/// The one call into the application layer: the logout request of `query`, with the
/// browser's session cookie, confirmed by the user or not.
async fn end_session(
    state: &AppState,
    headers: &HeaderMap,
    query: &str,
    (confirmed, client_ip): (bool, Option<std::net::IpAddr>),
) -> Result<Logout, oauth::Error> {
    let session = state.cookies.session(headers);
    state
        .sigil
        .browser
        .end_session(
            &EndSession::from_query(query),
            session.as_deref(),
            (confirmed, client_ip),
            state.clock.now(),
        )
        .await
}

/// The page or redirect for a logout; the session cookie is cleared unless the user is
/// still asked.
fn render(
    logout: Result<Logout, oauth::Error>,
    query: &str,
    csrf: &str,
    state: &AppState,
) -> Response {
    let mut response = match logout {
        Ok(Logout::Redirect(location)) => redirect(&location),
        Ok(Logout::SignedOut) => {
            Page::message(StatusCode::OK, "Signed out", "You are signed out.").into_response()
        }
        Ok(Logout::Confirm { return_to }) => {
            let confirm = templates::Logout {
                title: "Sign out",
                request: query,
                csrf,
            };
            let page = Page::render(StatusCode::OK, &confirm);
            // Chromium applies `form-action` to the redirect that follows the form.
            let target = return_to.as_deref().and_then(form_target);
            return page.with_form_target(target);
        }
        Err(error) => return super::authorize::render(Err(error), "", "", None),
    };
    state.cookies.clear_session(&mut response);
    response
}
