//! A browser on the authorization code flow, driven over HTTP by hand: cookies kept, forms
//! filled, redirects not followed so each step is seen.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};

use super::{PASSWORD, TestApp, pkce};

pub const REDIRECT: &str = "https://dash.example.com/cb";
pub const SIGNED_OUT: &str = "https://dash.example.com/signed-out";

/// A browser: its cookies, kept by hand (the issuer is https, the test server is not).
pub struct Browser {
    http: reqwest::Client,
    address: String,
    cookies: Vec<(String, String)>,
}

/// Where an authorize step ended.
#[derive(Debug)]
pub enum Seen {
    /// A `303` to this location.
    Redirect(String),
    /// A page: status and HTML.
    Page(u16, String),
}

impl Seen {
    pub fn location(&self) -> &str {
        match self {
            Self::Redirect(location) => location,
            Self::Page(status, html) => panic!("expected a redirect, got {status}: {html}"),
        }
    }

    pub fn page(&self) -> (u16, &str) {
        match self {
            Self::Page(status, html) => (*status, html),
            Self::Redirect(location) => panic!("expected a page, got a redirect to {location}"),
        }
    }

    /// A query parameter of the redirect.
    pub fn param(&self, name: &str) -> Option<String> {
        let url = url::Url::parse(self.location()).unwrap();
        url.query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            address: app.api.address.clone(),
            cookies: Vec::new(),
        }
    }

    /// Sets a cookie as another site (or an attacker on a sibling host) might.
    pub fn plant(&mut self, name: &str, value: &str) {
        self.cookies.retain(|(key, _)| key != name);
        self.cookies.push((name.to_owned(), value.to_owned()));
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    pub async fn send(&mut self, request: reqwest::RequestBuilder) -> Seen {
        let header: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let response = request
            .header("cookie", header.join("; "))
            .send()
            .await
            .unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=Lax"),
                "{set}"
            );
            let (name, value) = set.split(';').next().unwrap().split_once('=').unwrap();
            self.cookies.retain(|(key, _)| key != name);
            self.cookies.push((name.to_owned(), value.to_owned()));
        }
        let status = response.status().as_u16();
        if status == 303 {
            return Seen::Redirect(response.headers()["location"].to_str().unwrap().to_owned());
        }
        Seen::Page(status, response.text().await.unwrap())
    }

    pub async fn get(&mut self, path_and_query: &str) -> Seen {
        let request = self.http.get(format!("{}{path_and_query}", self.address));
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Seen {
        let request = self.http.post(format!("{}{path}", self.address)).form(form);
        self.send(request).await
    }

    /// Fills the login form of `page` and sends it.
    pub async fn sign_in(&mut self, page: &Seen, username: &str, password: &str) -> Seen {
        let (_, html) = page.page();
        let request = hidden(html, "request");
        let csrf = hidden(html, "csrf");
        let form = [
            ("request", request.as_str()),
            ("csrf", csrf.as_str()),
            ("username", username),
            ("password", password),
        ];
        self.post("/authorize", &form).await
    }
}

/// The value of hidden field `name` in `html` (HTML-unescaped).
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {html}"))
        + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

/// `text` with its character references (`&amp;`, `&#38;`, `&#x26;`) replaced.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find(';') else {
            out.push_str(tail);
            return out;
        };
        let entity = &tail[1..end];
        let decoded = match entity {
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "lt" => Some('<'),
            "gt" => Some('>'),
            _ => entity
                .strip_prefix("#x")
                .map(|hex| u32::from_str_radix(hex, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&tail[..=end]),
        }
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    out
}

/// An authorize URL for `client` with `challenge`, plus `extra` parameters.
pub fn authorize_url(client: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email"),
        ("state", "af0ifjsldkj"),
        ("nonce", "n-0S6_WzA2Mj"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        pairs.retain(|(key, _)| key != name);
        pairs.push((name, value));
    }
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().filter(|(_, v)| !v.is_empty()))
        .finish();
    format!("/authorize?{query}")
}

/// A registered dashboard: public, first-party unless told otherwise.
pub async fn dashboard(app: &TestApp, first_party: bool) -> String {
    let body = json!({
        "name": "Billing dashboard", "public": true, "first_party": first_party,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email",
        "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [SIGNED_OUT],
    });
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    created["client_id"].as_str().unwrap().to_owned()
}

/// Exchanges `code` at `/token`.
pub async fn exchange(
    app: &TestApp,
    client: &str,
    code: &str,
    verifier: &str,
) -> reqwest::Response {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
        ("client_id", client),
    ];
    app.post_token(&form, None).await
}

/// Signs `email` in through the login page of a fresh request; the redirect with the code.
pub async fn signed_in(
    _app: &TestApp,
    browser: &mut Browser,
    client: &str,
    challenge: &str,
) -> Seen {
    let page = browser.get(&authorize_url(client, challenge, &[])).await;
    browser.sign_in(&page, "ann@example.com", PASSWORD).await
}

/// Signs `ann@example.com` in for `client` and exchanges the code: the token response.
pub async fn session(app: &TestApp, browser: &mut Browser, client: &str) -> Value {
    let (verifier, challenge) = pkce();
    let back = signed_in(app, browser, client, &challenge).await;
    let code = back.param("code").unwrap();
    let response = exchange(app, client, &code, &verifier).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

pub fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}
