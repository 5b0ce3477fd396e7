//! The few HTML pages sigil serves itself (login, consent, logout, the answers to emailed
//! links): askama templates under `templates/` sharing one layout (`layout.html`), rendered
//! with auto-escaping; self-contained (no script, no external asset), under one strict
//! Content-Security-Policy that allows only the layout's stylesheet (by hash) and forms posting
//! back to sigil.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use super::templates::Message;

/// The only style of every page (the layout puts it in), allowed by its hash.
pub(crate) const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;\
padding:0 1rem;line-height:1.5}label,input,button{display:block;font-size:1rem}\
input{width:100%;box-sizing:border-box;margin:.25rem 0 1rem;padding:.4rem}\
button{padding:.5rem 1rem}";

/// `default-src 'none'`, the style above by hash, forms to this origin only, no framing.
static CSP: LazyLock<HeaderValue> = LazyLock::new(|| {
    // OK because the policy is ASCII built from base64.
    HeaderValue::from_str(&policy("")).expect("a valid header value")
});

/// The policy, its forms also allowed to lead to `form_target` (a CSP source, or nothing).
fn policy(form_target: &str) -> String {
    let hash = STANDARD.encode(Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'{form_target}; \
         frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The CSP source of `uri`'s origin (`https://host:port`, or `scheme:` for a private-use
/// scheme), for a form whose answer redirects there: `form-action` also governs redirects.
pub(super) fn form_target(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    // A source is a single token: nothing that could end it or start another directive.
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/.-+[]".contains(&b))
        .then_some(source)
}

/// A rendered page and its status.
pub(super) struct Page {
    status: StatusCode,
    html: String,
}

impl Page {
    /// `template`, rendered, answered with `status`.
    pub(super) fn render(status: StatusCode, template: &impl askama::Template) -> Self {
        match template.render() {
            Ok(html) => Self { status, html },
            Err(error) => {
                // Only a failing `Display` of a field can get here: a bug, never input.
                tracing::error!(%error, "a page template failed to render");
                Self {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    html: "internal server error".to_owned(),
                }
            }
        }
    }

    /// A page with one paragraph of plain text.
    pub(super) fn message(status: StatusCode, title: &'static str, text: &str) -> Self {
        Self::render(status, &Message { title, text })
    }

    /// The page for `error`: its status, description and headers (`Retry-After`), and the
    /// cause of a 500 for the log; the JSON body becomes a page.
    pub(super) fn error(error: ApiError, title: &'static str) -> Response {
        let text = match error.code() {
            "invalid_token" => {
                "This link is invalid, has expired or was already used. Ask for a new one."
                    .to_owned()
            }
            "server_error" => "Something went wrong on our side. Try again later.".to_owned(),
            "temporarily_unavailable" => {
                "The service is unavailable right now. Try again in a minute.".to_owned()
            }
            "too_many_requests" => "Too many attempts. Wait a while and try again.".to_owned(),
            _ => format!("The request was refused: {}.", error.description()),
        };
        let (parts, _) = error.into_response().into_parts();
        let mut page = Self::message(parts.status, title, &text).into_response();
        if let Some(retry) = parts.headers.get(header::RETRY_AFTER) {
            page.headers_mut()
                .insert(header::RETRY_AFTER, retry.clone());
        }
        *page.extensions_mut() = parts.extensions;
        page
    }
}

impl Page {
    /// The page, its forms also allowed to lead to `target` (see `form_target`).
    pub(super) fn with_form_target(self, target: Option<String>) -> Response {
        let mut response = self.into_response();
        if let Some(value) =
            target.and_then(|target| HeaderValue::from_str(&policy(&format!(" {target}"))).ok())
        {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        response
    }
}

impl IntoResponse for Page {
    fn into_response(self) -> Response {
        let headers = [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CONTENT_SECURITY_POLICY, CSP.clone()),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ];
        (self.status, headers, self.html).into_response()
    }
}
