//! `GET /authorize` (RFC 6749 §4.1.1, OIDC Core §3.1.2), the hosted login form it shows
//! (`POST /authorize`) and the consent form (`POST /authorize/consent`). The forms carry the
//! original request (re-validated on every post) and a CSRF token that must equal the
//! `sigil_csrf` cookie (double submit; the cookies are also `SameSite=Lax`).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use subtle::ConstantTimeEq as _;
use utoipa::ToSchema;

use crate::http::client_ip::ClientIp;
use crate::http::page::{Page, escape, form_target};
use crate::http::state::AppState;
use crate::oauth::{AuthorizeError, AuthorizeParams, NewSession, Step};

/// The browser-session cookie.
pub(super) const SESSION_COOKIE: &str = "sigil_session";
/// The CSRF cookie of the forms.
const CSRF_COOKIE: &str = "sigil_csrf";

/// The login form.
#[derive(Deserialize, ToSchema)]
pub(crate) struct LoginForm {
    /// The authorization request's query string, as the page received it.
    request: String,
    /// The CSRF token: the `sigil_csrf` cookie's value.
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
    /// The CSRF token: the `sigil_csrf` cookie's value.
    csrf: String,
    /// `approve` or `deny`.
    decision: String,
}

/// Starts a browser login: validates the request, then signs the user in through the hosted
/// login page (or the browser session, for single sign-on), asks a third-party client's
/// user for consent, and sends the browser back to the client with a code (`303`). An
/// unknown client or redirect URI is shown on a page, never redirected to.
#[utoipa::path(get, path = "/authorize", tag = "oauth",
    params(("client_id" = String, Query), ("redirect_uri" = Option<String>, Query),
        ("response_type" = Option<String>, Query, description = "`code` (required; without it the client is sent `invalid_request`)"),
        ("scope" = Option<String>, Query), ("state" = Option<String>, Query),
        ("nonce" = Option<String>, Query),
        ("code_challenge" = Option<String>, Query, description = "PKCE S256 challenge (required, as above)"),
        ("code_challenge_method" = Option<String>, Query, description = "`S256` (required, as above)"),
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
    let params = parse_params(&query);
    let cookie = cookie(&headers, SESSION_COOKIE);
    let step = state
        .sigil
        .browser
        .authorize(&params, cookie.as_deref(), state.clock.now())
        .await;
    let csrf = cookie_or_new(&headers);
    let mut response = render(step, &query, &csrf.0, None);
    set_csrf(&mut response, &csrf, state.secure_cookies);
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
    let Some(form) = verified(&headers, form, |form| &form.csrf) else {
        return expired();
    };
    let params = parse_params(&form.request);
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
                set_session(&mut response, &session, state.secure_cookies);
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
    let Some(form) = verified(&headers, form, |form| &form.csrf) else {
        return expired();
    };
    let params = parse_params(&form.request);
    let cookie = cookie(&headers, SESSION_COOKIE);
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
    step: Result<Step, AuthorizeError>,
    request: &str,
    csrf: &str,
    base: Option<&str>,
) -> Response {
    let base = base.unwrap_or("");
    let hidden = format!(
        "<input type=\"hidden\" name=\"request\" value=\"{}\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(request),
        escape(csrf)
    );
    match step {
        Ok(Step::Redirect(location)) => redirect(&location),
        Ok(Step::Login {
            client_name,
            return_to,
        }) => login_page(StatusCode::OK, &client_name, None, &hidden, base)
            .with_form_target(form_target(&return_to)),
        Ok(Step::Consent {
            client_name,
            return_to,
            scopes,
            email,
        }) => {
            let items: String = scopes
                .iter()
                .map(|scope| format!("<li><code>{}</code></li>", escape(scope)))
                .collect();
            let body = format!(
                "<p>Signed in as <strong>{email}</strong>.</p>\
                 <p><strong>{client}</strong> asks for:</p><ul>{items}</ul>\
                 <form method=\"post\" action=\"{base}authorize/consent\">{hidden}\
                 <button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button> \
                 <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>",
                email = escape(&email),
                client = escape(&client_name),
            );
            Page {
                status: StatusCode::OK,
                title: "Allow access",
                body,
            }
            .with_form_target(form_target(&return_to))
        }
        Err(AuthorizeError::Refused { why, return_to }) => {
            login_page(StatusCode::BAD_REQUEST, "", Some(why), &hidden, base)
                .with_form_target(form_target(&return_to))
        }
        Err(AuthorizeError::Page(why)) => {
            Page::message(StatusCode::BAD_REQUEST, "Sign-in request refused", why).into_response()
        }
        Err(AuthorizeError::TooManyRequests(wait)) => {
            let error = crate::http::ApiError::too_many_requests(wait);
            Page::error(error, "Sign in")
        }
        Err(AuthorizeError::Unavailable) => {
            Page::error(crate::http::ApiError::unavailable(), "Sign in")
        }
        Err(AuthorizeError::Internal(source)) => {
            Page::error(crate::http::ApiError::internal(source), "Sign in")
        }
    }
}

fn login_page(
    status: StatusCode,
    client_name: &str,
    notice: Option<&str>,
    hidden: &str,
    base: &str,
) -> Page {
    let intro = match client_name {
        "" => String::new(),
        name => format!(
            "<p>Sign in to continue to <strong>{}</strong>.</p>",
            escape(name)
        ),
    };
    let notice = notice
        .map(|notice| format!("<p role=\"alert\">{}</p>", escape(notice)))
        .unwrap_or_default();
    let body = format!(
        "{intro}{notice}<form method=\"post\" action=\"{base}authorize\">{hidden}\
         <label for=\"username\">Email</label>\
         <input id=\"username\" name=\"username\" type=\"email\" autocomplete=\"username\" \
         required autofocus>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" \
         autocomplete=\"current-password\" required>\
         <button type=\"submit\">Sign in</button></form>"
    );
    Page {
        status,
        title: "Sign in",
        body,
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

/// The authorization request's parameters from a query string.
fn parse_params(query: &str) -> AuthorizeParams {
    let mut params = AuthorizeParams::default();
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "client_id" => &mut params.client_id,
            "redirect_uri" => &mut params.redirect_uri,
            "response_type" => &mut params.response_type,
            "response_mode" => &mut params.response_mode,
            "scope" => &mut params.scope,
            "state" => &mut params.state,
            "nonce" => &mut params.nonce,
            "code_challenge" => &mut params.code_challenge,
            "code_challenge_method" => &mut params.code_challenge_method,
            "prompt" => &mut params.prompt,
            "max_age" => &mut params.max_age,
            _ => continue,
        };
        // RFC 6749 §3.1: parameters must not repeat; the first one counts, a repeat empties
        // it (then it is refused as missing).
        *slot = match slot {
            None => Some(value.into_owned()),
            Some(_) => Some(String::new()),
        };
    }
    params
}

/// The value of cookie `name`.
pub(super) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The CSRF token: the cookie's, or a fresh one (and whether it is new).
pub(super) fn cookie_or_new(headers: &HeaderMap) -> (String, bool) {
    if let Some(token) = cookie(headers, CSRF_COOKIE).filter(|token| token.len() == 43) {
        return (token, false);
    }
    let mut bytes = [0u8; 32];
    // OK because a machine without a working OS random source cannot run sigil.
    getrandom::fill(&mut bytes).expect("the OS random number generator failed");
    (URL_SAFE_NO_PAD.encode(bytes), true)
}

/// The posted form when it parsed and carries the CSRF cookie's token (else the caller shows
/// that the form expired).
pub(super) fn verified<T>(
    headers: &HeaderMap,
    form: Result<Form<T>, FormRejection>,
    csrf: fn(&T) -> &str,
) -> Option<T> {
    form.ok()
        .map(|Form(form)| form)
        .filter(|form| csrf_matches(headers, csrf(form)))
}

fn csrf_matches(headers: &HeaderMap, sent: &str) -> bool {
    let Some(expected) = cookie(headers, CSRF_COOKIE) else {
        return false;
    };
    !sent.is_empty() && bool::from(expected.as_bytes().ct_eq(sent.as_bytes()))
}

pub(super) fn set_csrf(response: &mut Response, (token, new): &(String, bool), secure: bool) {
    if *new {
        add_cookie(response, &format!("{CSRF_COOKIE}={token}; Path=/"), secure);
    }
}

fn set_session(response: &mut Response, session: &NewSession, secure: bool) {
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Max-Age={}",
        session.cookie.expose(),
        session.max_age.as_secs()
    );
    add_cookie(response, &cookie, secure);
}

pub(super) fn add_cookie(response: &mut Response, cookie: &str, secure: bool) {
    let secure = if secure { "; Secure" } else { "" };
    let value = format!("{cookie}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(value) = HeaderValue::from_str(&value) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}
