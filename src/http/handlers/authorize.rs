//! `GET /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the hosted login form it shows
//! (`POST /authorize`) and the consent form (`POST /authorize/consent`). The forms carry the
//! original request (re-validated on every post) and a CSRF token signed for the browser's
//! pre-session cookie (`http::cookies`).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::http::client_ip::ClientIp;
use crate::http::cookies::Cookies;
use crate::http::page::{Page, form_target};
use crate::http::state::AppState;
use crate::http::templates::{Consent, Login};
use crate::oauth::{self, AuthorizeError, AuthorizeParams, Step};

/// The login form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginForm {
    /// The authorization request's query string, as the page received it.
    request: String,
    /// The CSRF token the page carried (signed for the pre-session cookie).
    csrf: String,
    /// The user's email address.
    username: String,
    /// The password.
    password: String,
}

/// The consent form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct ConsentForm {
    /// The authorization request's query string.
    request: String,
    /// The CSRF token the page carried (signed for the pre-session cookie).
    csrf: String,
    /// `approve` or `deny`.
    decision: String,
}

/// Starts a browser login: validates the request, then signs the user in through the hosted
/// login page (or the browser session, for single sign-on), asks a third-party client's
/// user for consent, and sends the browser back to the client with a code (`303`). An
/// unknown client or redirect URI is shown on a page, never redirected to.
#[utoipa::path(get, path = "/authorize", tag = "oauth",
    params(("client_id" = String, Query, min_length = 1),
        ("redirect_uri" = Option<String>, Query, min_length = 1),
        ("response_type" = Option<String>, Query, min_length = 1, description = "`code` (required; without it the client is sent `invalid_request`)"),
        ("scope" = Option<String>, Query), ("state" = Option<String>, Query),
        ("nonce" = Option<String>, Query),
        ("code_challenge" = Option<String>, Query, min_length = 1, description = "PKCE S256 challenge (required, as above)"),
        ("code_challenge_method" = Option<String>, Query, min_length = 1, description = "`S256` (required, as above)"),
        ("prompt" = Option<String>, Query, description = "`none`, `login`, `consent`"),
        ("max_age" = Option<String>, Query)),
    responses((status = 303, description = "back to the client: `code` (or `error`), `state`, `iss`"),
        (status = 200, content_type = "text/html", body = String, description = "the login or consent page"),
        (status = 400, content_type = "text/html", body = String, description = "unknown client or redirect URI")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn get_authorize(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let params = AuthorizeParams::from_query(&query);
    let cookie = state.cookies.session(&headers);
    let step = state
        .sigil
        .browser
        .authorize(&params, cookie.as_deref(), state.clock.now())
        .await;
    let pre_session = state.cookies.pre_session(&headers);
    let csrf = state.cookies.csrf_token(&pre_session);
    let mut response = render(step, &query, &csrf, None);
    state.cookies.set_pre_session(&mut response, &pre_session);
    response
}

/// The login form: the same checks, limits and answers as the password grant; on success a
/// browser session starts (`sigil_session`, HttpOnly, SameSite=Lax) and the flow goes on.
#[utoipa::path(post, path = "/authorize", tag = "oauth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "signed in: on to the client"),
        (status = 200, content_type = "text/html", body = String, description = "the consent page"),
        (status = 400, content_type = "text/html", body = String, description = "refused: the form again"),
        (status = 403, content_type = "text/html", body = String, description = "CSRF check failed")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_authorize(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    let Some(form) = verified(&state.cookies, &headers, form, |form| &form.csrf) else {
        return expired();
    };
    let params = AuthorizeParams::from_query(&form.request);
    let login = state
        .sigil
        .browser
        .login(
            &params,
            (form.username, form.password.into()),
            client_ip,
            state.clock.now(),
        )
        .await;
    match login {
        Ok((step, session)) => {
            let mut response = render(Ok(step), &form.request, &form.csrf, None);
            if let Some(session) = session {
                let max_age = session.max_age.as_secs();
                (state.cookies).set_session(&mut response, session.cookie.expose(), max_age);
            }
            response
        }
        Err(error) => render(Err(error), &form.request, &form.csrf, None),
    }
}

/// The consent form: `decision=approve` sends the browser back with a code, anything else
/// with `access_denied`.
#[utoipa::path(post, path = "/authorize/consent", tag = "oauth",
    request_body(content = ConsentForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 303, description = "back to the client"),
        (status = 200, content_type = "text/html", body = String, description = "the login page, when the browser session has ended"),
        (status = 400, content_type = "text/html", body = String, description = "the request is no longer valid"),
        (status = 403, content_type = "text/html", body = String, description = "CSRF check failed")))]
#[tracing::instrument(skip_all)]
pub(crate) async fn post_authorize_consent(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<ConsentForm>, FormRejection>,
) -> Response {
    let Some(form) = verified(&state.cookies, &headers, form, |form| &form.csrf) else {
        return expired();
    };
    let params = AuthorizeParams::from_query(&form.request);
    let cookie = state.cookies.session(&headers);
    let step = state
        .sigil
        .browser
        .consent(
            &params,
            cookie.as_deref(),
            form.decision == "approve",
            state.clock.now(),
        )
        .await;
    render(step, &form.request, &form.csrf, Some("../"))
}

/// The page or redirect for a step. `base` leads from the current path to `/authorize`'s
/// directory (the pages use relative form actions, so sigil may sit under a path prefix).
pub(super) fn render(
    step: Result<Step, oauth::Error>,
    request: &str,
    csrf: &str,
    base: Option<&str>,
) -> Response {
    let base = base.unwrap_or("");
    let form = |client_name, notice| Login {
        title: "Sign in",
        client_name,
        notice,
        request,
        csrf,
        base,
    };
    match step {
        Ok(Step::Redirect(location)) => redirect(&location),
        Ok(Step::Login {
            client_name,
            return_to,
        }) => Page::render(StatusCode::OK, &form(&client_name, None))
            .with_form_target(form_target(&return_to)),
        Ok(Step::Consent {
            client_name,
            return_to,
            scopes,
            email,
        }) => {
            let consent = Consent {
                title: "Allow access",
                email: &email,
                client_name: &client_name,
                scopes: &scopes,
                request,
                csrf,
                base,
            };
            Page::render(StatusCode::OK, &consent).with_form_target(form_target(&return_to))
        }
        Err(oauth::Error::Browser(AuthorizeError::Refused { why, return_to })) => {
            Page::render(StatusCode::BAD_REQUEST, &form("", Some(why)))
                .with_form_target(form_target(&return_to))
        }
        Err(oauth::Error::Browser(AuthorizeError::Page(why)) | oauth::Error::InvalidGrant(why)) => {
            Page::message(StatusCode::BAD_REQUEST, "Sign-in request refused", why).into_response()
        }
        Err(other) => Page::error(crate::http::ApiError::from(other), "Sign in"),
    }
}

/// `303 See Other` to `location` (the browser follows with a `GET`).
pub(super) fn redirect(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => Page::message(
            StatusCode::BAD_REQUEST,
            "Sign-in request refused",
            "the redirect URI cannot be used",
        )
        .into_response(),
    }
}

/// The answer to a form whose CSRF token does not match (or that is malformed).
pub(super) fn expired() -> Response {
    Page::message(
        StatusCode::FORBIDDEN,
        "Sign in",
        "This form has expired or did not come from this site. Go back to the application and start again.",
    )
    .into_response()
}

/// The posted form when it parsed and carries the CSRF token of the browser's pre-session
/// (else the caller shows that the form expired).
pub(super) fn verified<T>(
    cookies: &Cookies,
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
    csrf: fn(&T) -> &str,
) -> Option<T> {
    form.ok()
        .map(|Form(form)| form)
        .filter(|form| cookies.csrf_matches(headers, csrf(form)))
}
