//! The cookies of the hosted pages: the browser session and the signed CSRF token of the
//! forms (login, consent, logout confirmation).
//!
//! CSRF is a signed double submit (OWASP): the `csrf` cookie holds a random pre-session id,
//! and a form carries HMAC-SHA-256(key, id) under a key derived from the key-encryption key
//! (the same on every instance). A cookie an attacker plants (from a sibling subdomain, or
//! over plain HTTP) is useless without the server's key, and under https both cookies carry
//! the `__Host-` prefix, which browsers accept only with `Secure`, `Path=/` and no `Domain`,
//! so no other host can set them at all. Every cookie is `HttpOnly` and `SameSite=Lax`.
//! Cookies are read and written through `axum_extra`'s jar (the `cookie` crate), never by
//! hand.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::Mac as _;
use secrecy::{ExposeSecret as _, SecretBox};
use subtle::ConstantTimeEq as _;

/// Length of a pre-session id and of a CSRF token: 256 bits in base64url.
const TOKEN_CHARS: usize = 43;

/// The cookie rules of one server.
pub(crate) struct Cookies {
    csrf_key: SecretBox<[u8; 32]>,
    /// The issuer is `https`: cookies are `Secure` and `__Host-` names.
    secure: bool,
}

/// A browser's pre-session id, and whether it must be set (it came with no valid cookie).
pub(crate) struct PreSession {
    id: String,
    new: bool,
}

impl Cookies {
    /// The rules for a server whose CSRF tokens are signed with `csrf_key`.
    pub(crate) fn new(csrf_key: SecretBox<[u8; 32]>, secure: bool) -> Self {
        Self { csrf_key, secure }
    }

    /// The browser-session cookie's name.
    pub(crate) fn session_name(&self) -> &'static str {
        match self.secure {
            true => "__Host-sigil_session",
            false => "sigil_session",
        }
    }

    fn csrf_name(&self) -> &'static str {
        match self.secure {
            true => "__Host-sigil_csrf",
            false => "sigil_csrf",
        }
    }

    /// The browser's session cookie, if any.
    pub(crate) fn session(&self, headers: &HeaderMap) -> Option<String> {
        cookie(headers, self.session_name())
    }

    /// The browser's pre-session id, or a fresh one.
    pub(crate) fn pre_session(&self, headers: &HeaderMap) -> PreSession {
        if let Some(id) = cookie(headers, self.csrf_name()).filter(|id| id.len() == TOKEN_CHARS) {
            return PreSession { id, new: false };
        }
        let mut bytes = [0u8; 32];
        // OK because a machine without a working OS random source cannot run sigil.
        getrandom::fill(&mut bytes).expect("the OS random number generator failed");
        PreSession {
            id: URL_SAFE_NO_PAD.encode(bytes),
            new: true,
        }
    }

    /// The CSRF token a form of this pre-session carries.
    pub(crate) fn csrf_token(&self, pre_session: &PreSession) -> String {
        URL_SAFE_NO_PAD.encode(self.sign(&pre_session.id))
    }

    /// Whether `sent` is the CSRF token of the browser's pre-session cookie.
    pub(crate) fn csrf_matches(&self, headers: &HeaderMap, sent: &str) -> bool {
        let Some(id) = cookie(headers, self.csrf_name()) else {
            return false;
        };
        let Ok(sent) = URL_SAFE_NO_PAD.decode(sent) else {
            return false;
        };
        bool::from(self.sign(&id).as_slice().ct_eq(&sent))
    }

    /// Sets the pre-session cookie on `response` when it is new.
    pub(crate) fn set_pre_session(&self, response: &mut Response, pre_session: &PreSession) {
        if pre_session.new {
            let cookie = self.cookie(self.csrf_name(), pre_session.id.clone());
            add(response, cookie);
        }
    }

    /// Sets the browser-session cookie for `max_age` seconds.
    pub(crate) fn set_session(&self, response: &mut Response, value: &str, max_age: u64) {
        let mut cookie = self.cookie(self.session_name(), value.to_owned());
        cookie.set_max_age(cookie_duration(max_age));
        add(response, cookie);
    }

    /// Clears the browser-session cookie.
    pub(crate) fn clear_session(&self, response: &mut Response) {
        let mut cookie = self.cookie(self.session_name(), String::new());
        cookie.set_max_age(cookie_duration(0));
        add(response, cookie);
    }

    /// A cookie of this server: `Path=/`, `HttpOnly`, `SameSite=Lax`, `Secure` under https.
    fn cookie(&self, name: &'static str, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .build()
    }

    fn sign(&self, pre_session: &str) -> [u8; 32] {
        // OK because HMAC accepts a key of any length.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.csrf_key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(pre_session.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// The value of cookie `name`.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|cookie| cookie.value().to_owned())
}

/// Appends `cookie` to the response's `Set-Cookie` headers.
fn add(response: &mut Response, cookie: Cookie<'static>) {
    if let Ok(value) = HeaderValue::from_str(&cookie.encoded().to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// `Max-Age` of `seconds`, saturating.
fn cookie_duration(seconds: u64) -> cookie::time::Duration {
    cookie::time::Duration::seconds(i64::try_from(seconds).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookies(key: u8, secure: bool) -> Cookies {
        Cookies::new(SecretBox::new(Box::new([key; 32])), secure)
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn a_token_matches_only_its_own_pre_session_under_the_servers_key() {
        let server = cookies(1, false);
        let pre_session = server.pre_session(&HeaderMap::new());
        let token = server.csrf_token(&pre_session);
        let mine = with_cookie(&format!("sigil_csrf={}", pre_session.id));
        let planted = with_cookie(&format!("sigil_csrf={}", "A".repeat(43)));

        assert!(server.csrf_matches(&mine, &token));
        assert!(
            !server.csrf_matches(&planted, &token),
            "another pre-session"
        );
        assert!(
            !server.csrf_matches(&planted, &"A".repeat(43)),
            "a self-chosen pair"
        );
        assert!(
            !cookies(2, false).csrf_matches(&mine, &token),
            "another key"
        );
        assert!(!server.csrf_matches(&HeaderMap::new(), &token), "no cookie");
        assert!(!server.csrf_matches(&mine, ""), "no token");
    }

    #[test]
    fn https_cookies_are_host_only_and_secure() {
        let server = cookies(1, true);
        let pre_session = server.pre_session(&HeaderMap::new());
        let mut response = Response::default();

        server.set_pre_session(&mut response, &pre_session);
        server.set_session(&mut response, "v", 60);

        let set: Vec<&str> = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|value| value.to_str().unwrap())
            .collect();
        for cookie in &set {
            for attribute in ["; Path=/", "; HttpOnly", "; SameSite=Lax", "; Secure"] {
                assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
            }
        }
        assert!(set[0].starts_with("__Host-sigil_csrf="));
        assert!(set[1].starts_with("__Host-sigil_session=v;"));
        assert!(set[1].contains("; Max-Age=60"));
    }
}
