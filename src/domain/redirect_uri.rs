//! `RedirectUri`: where an authorization response may be sent (RFC 6749 §3.1.2), as a client
//! registered it, and the rule that matches a presented one against it.

use std::fmt;
use std::net::IpAddr;
use std::sync::LazyLock;

/// Longest redirect URI accepted, in characters.
const MAX_CHARS: usize = 2000;

/// The accepted forms, stated once (the OpenAPI document carries the same pattern): an
/// `https` URI with a lower-case host name, an `http` URI on `127.0.0.1`, `[::1]` or
/// `localhost`, or a private-use scheme with a dot; an optional port of up to four digits; a
/// path and query of unreserved characters, `/`, `?`, `&`, `=` and `+`; no fragment.
pub const REDIRECT_URI_PATTERN: &str = r"^(https://([a-z0-9-]+\.)*[a-z][a-z0-9-]*(:[0-9]{1,4})?|http://(127\.0\.0\.1|\[::1\]|localhost)(:[0-9]{1,4})?|[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:)(/[A-Za-z0-9._~/?&=+-]*)?$";

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

    /// Whether `presented` names this URI: the same string, or, for an `http` loopback URI,
    /// the same URI on any port (RFC 8252 §7.3: a native app listens on an ephemeral port).
    pub fn matches(&self, presented: &str) -> bool {
        if self.0 == presented {
            return true;
        }
        let (Ok(registered), Ok(mut presented)) =
            (url::Url::parse(&self.0), url::Url::parse(presented))
        else {
            return false;
        };
        if registered.scheme() != "http" || !is_loopback(&registered) {
            return false;
        }
        if presented.scheme() != "http" || presented.set_port(registered.port()).is_err() {
            return false;
        }
        presented.as_str() == registered.as_str()
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
            ("https://App.example.com/cb", RedirectUriError::Malformed),
            ("https://app.example.com/a%20b", RedirectUriError::Malformed),
            (
                "https://app.example.com:65535/cb",
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
        assert!(web.matches("https://app.example.com/cb"));
        for other in [
            "https://app.example.com/cb/",
            "https://app.example.com/cb?x=1",
            "https://APP.example.com/cb",
            "https://app.example.com:443/cb",
            "https://app.example.com:8443/cb",
            "https://evil.example/cb",
        ] {
            assert!(!web.matches(other), "{other}");
        }

        let native = RedirectUri::parse("http://127.0.0.1/cb").unwrap();
        assert!(native.matches("http://127.0.0.1:51004/cb"));
        assert!(native.matches("http://127.0.0.1/cb"));
        assert!(!native.matches("http://127.0.0.1:51004/other"));
        assert!(!native.matches("http://[::1]:51004/cb"), "another host");
        assert!(
            !native.matches("https://127.0.0.1:51004/cb"),
            "another scheme"
        );
    }
}
