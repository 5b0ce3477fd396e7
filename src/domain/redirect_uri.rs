//! `RedirectUri`: where an authorization response may be sent (RFC 6749 §3.1.2), as a client
//! registered it, and the rule that matches a presented one against it.

use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

/// Longest redirect URI accepted, in characters.
const MAX_CHARS: usize = 2000;

/// The accepted forms, stated once (the OpenAPI document carries the same pattern, so what it
/// allows is exactly what registration accepts): an `https` URI with a host name (any case;
/// its last label starts with a letter), an `http` URI on `127.0.0.1`, `[::1]` or
/// `localhost`, or a private-use scheme with a dot; an optional port from 0 to 65535; a path
/// and query of unreserved characters, percent-encodings, `/`, `?`, `&`, `=`, `+`, `:`, `@`,
/// `,` and `;`; no fragment. Registration also parses the URI as a URL and applies the
/// scheme rules to what the parser understood.
pub const REDIRECT_URI_PATTERN: &str = r"^(https://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|http://(127\.0\.0\.1|\[::1\]|localhost)(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:)(/([A-Za-z0-9._~/?&=+:@,;-]|%[0-9A-Fa-f]{2})*)?$";

static GRAMMAR: LazyLock<regex::Regex> = LazyLock::new(|| {
    // OK because the pattern is a constant checked by the tests below.
    regex::Regex::new(REDIRECT_URI_PATTERN).expect("a valid pattern")
});

/// A registered redirect URI: absolute, without a fragment, and either `https`, `http` to a
/// loopback address (a native app's local listener, RFC 8252 §7.3), or a private-use scheme
/// with a dot in it (`com.example.app:/callback`, RFC 8252 §7.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

/// Why a redirect URI is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI, or longer than 2000 characters.
    #[error("redirect URI must be an absolute URI of at most {MAX_CHARS} characters")]
    Malformed,
    /// RFC 6749 §3.1.2: no fragment.
    #[error("redirect URI must not have a fragment")]
    Fragment,
    /// A scheme that cannot be a redirect target (`http` off loopback, `javascript`, ...).
    #[error(
        "redirect URI must use https, http on a loopback address, or a private-use scheme such as com.example.app"
    )]
    Scheme,
    /// A client lists more redirect URIs than this.
    #[error("at most {0} URIs may be registered")]
    TooMany(usize),
}

impl RedirectUri {
    /// Parses a URI to register.
    pub fn parse(value: &str) -> Result<Self, RedirectUriError> {
        if value.chars().count() > MAX_CHARS || value.trim() != value {
            return Err(RedirectUriError::Malformed);
        }
        let url = url::Url::parse(value).map_err(|_| RedirectUriError::Malformed)?;
        if url.fragment().is_some() || value.contains('#') {
            return Err(RedirectUriError::Fragment);
        }
        let allowed = match url.scheme() {
            "https" => url.host().is_some(),
            "http" => is_loopback(&url),
            scheme => scheme.contains('.'),
        };
        if !allowed {
            return Err(RedirectUriError::Scheme);
        }
        if !GRAMMAR.is_match(value) {
            return Err(RedirectUriError::Malformed);
        }
        Ok(Self(value.to_owned()))
    }

    /// The URI as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Where to send the browser when `presented` names this URI, or `None` when it does
    /// not: the same string; or, for an `http` loopback URI, the same URI on any port (RFC
    /// 8252 §7.3: a native app listens on an ephemeral port). The answer is always the
    /// registered spelling (with the presented port), never the presented string, so a
    /// non-canonical spelling (`http://127.1:9999/cb`, `http://0x7f.0.0.1/cb`, a path with
    /// `..`) that a URL parser reads as the registered URI sends the browser to the
    /// registered URI itself.
    pub fn redirect_for(&self, presented: &str) -> Option<String> {
        if self.0 == presented {
            return Some(self.0.clone());
        }
        let (Ok(registered), Ok(mut parsed)) =
            (url::Url::parse(&self.0), url::Url::parse(presented))
        else {
            return None;
        };
        if registered.scheme() != "http" || !is_loopback(&registered) {
            return None;
        }
        let port = parsed.port();
        if parsed.scheme() != "http" || parsed.set_port(registered.port()).is_err() {
            return None;
        }
        (parsed.as_str() == registered.as_str()).then(|| self.on_port(port))
    }

    /// This `http` loopback URI, as registered, on `port` (none: the default port).
    fn on_port(&self, port: Option<u16>) -> String {
        let rest = self.0.strip_prefix("http://").unwrap_or(&self.0);
        let host_end = match rest.strip_prefix('[') {
            Some(bracketed) => bracketed.find(']').map_or(rest.len(), |end| end + 2),
            None => rest.find([':', '/', '?']).unwrap_or(rest.len()),
        };
        let (host, after) = rest.split_at(host_end);
        let path = match after.strip_prefix(':') {
            Some(port_and_path) => {
                let digits = port_and_path.find(|c: char| !c.is_ascii_digit());
                &port_and_path[digits.unwrap_or(port_and_path.len())..]
            }
            None => after,
        };
        match port {
            Some(port) => format!("http://{host}:{port}{path}"),
            None => format!("http://{host}{path}"),
        }
    }
}

/// `http://127.0.0.1`, `http://[::1]` or `http://localhost`, any port.
fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_loopback_and_private_use_uris_are_accepted() {
        for uri in [
            "https://app.example.com/callback",
            "https://app.example.com/cb?tenant=a",
            "http://127.0.0.1/callback",
            "http://[::1]:8400/cb",
            "http://localhost:3000/auth",
            "com.example.app:/oauth2redirect",
            "http://127.0.0.1:45678/callback",
            "https://app.example.com:44300/cb",
            "https://app.example.com:65535/cb",
            "https://App.Example.com/cb",
            "https://app.example.com/a%20b?next=%2Fhome",
        ] {
            assert_eq!(RedirectUri::parse(uri).unwrap().as_str(), uri);
        }
    }

    #[test]
    fn each_bad_uri_is_refused_for_its_reason() {
        let cases = [
            ("/callback", RedirectUriError::Malformed),
            ("not a uri", RedirectUriError::Malformed),
            (" https://a.example/cb", RedirectUriError::Malformed),
            ("https://a.example/cb#x", RedirectUriError::Fragment),
            ("https://a.example/cb#", RedirectUriError::Fragment),
            ("http://app.example.com/cb", RedirectUriError::Scheme),
            ("javascript:alert(1)", RedirectUriError::Scheme),
            ("data:text/html,hi", RedirectUriError::Scheme),
            ("myapp:/cb", RedirectUriError::Scheme),
            (
                "https://app.example.com:65536/cb",
                RedirectUriError::Malformed,
            ),
            ("https://app.example.com/a b", RedirectUriError::Malformed),
            ("https://app.example.com/a%2", RedirectUriError::Malformed),
            (
                "https://user@app.example.com/cb",
                RedirectUriError::Malformed,
            ),
            ("https://10.0.0.1/cb", RedirectUriError::Malformed),
        ];
        for (uri, reason) in cases {
            assert_eq!(RedirectUri::parse(uri), Err(reason), "{uri}");
        }
        let long = format!("https://a.example/{}", "x".repeat(MAX_CHARS));
        assert_eq!(RedirectUri::parse(&long), Err(RedirectUriError::Malformed));
    }

    #[test]
    fn only_the_exact_string_matches_except_loopback_ports() {
        let web = RedirectUri::parse("https://app.example.com/cb").unwrap();
        assert_eq!(
            web.redirect_for("https://app.example.com/cb").as_deref(),
            Some("https://app.example.com/cb")
        );
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com:8443/cb",
            "https://evil.example/cb",
        ] {
            assert_eq!(web.redirect_for(other), None, "{other}");
        }

        let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        let to = |presented: &str| native.redirect_for(presented);
        assert_eq!(
            to("http://127.0.0.1:51004/cb").as_deref(),
            Some("http://127.0.0.1:51004/cb")
        );
        assert_eq!(
            to("http://127.0.0.1/cb").as_deref(),
            Some("http://127.0.0.1/cb")
        );
        assert_eq!(to("http://127.0.0.1:51004/other"), None);
        assert_eq!(to("http://[::1]:51004/cb"), None, "another host");
        assert_eq!(to("https://127.0.0.1:51004/cb"), None, "another scheme");
    }

    #[test]
    fn non_canonical_loopback_spellings_go_to_the_registered_spelling() {
        let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        for presented in [
            "http://0x7f.0.0.1:9999/cb",
            "http://127.1:9999/cb",
            "http://127.0.0.1:9999/x/../cb",
        ] {
            assert_eq!(
                native.redirect_for(presented).as_deref(),
                Some("http://127.0.0.1:9999/cb"),
                "{presented}"
            );
        }
        let with_port = RedirectUri::parse("http://[::1]:8400/cb?a=1").unwrap();
        assert_eq!(
            with_port
                .redirect_for("http://[::1]:51000/cb?a=1")
                .as_deref(),
            Some("http://[::1]:51000/cb?a=1")
        );
        let named = RedirectUri::parse("http://localhost:3000/auth").unwrap();
        assert_eq!(
            named.redirect_for("http://LOCALHOST/auth").as_deref(),
            Some("http://localhost/auth")
        );
    }
}
