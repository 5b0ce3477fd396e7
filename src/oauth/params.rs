//! OAuth parameters as every endpoint reads them, with one rule (RFC 6749 §3.1, §3.2):
//! a parameter the endpoint knows may appear at most once — a repeat is `invalid_request`,
//! wherever it comes (token, revocation, introspection, logout, the authorization and
//! end-session requests); a parameter sent without a value counts as omitted; parameters the
//! endpoint does not know are ignored, and so may repeat. The pairs come from a form body or
//! a query string (`application/x-www-form-urlencoded`, the encoding RFC 6749 defines).
//!
//! Imports nothing from the transports.

use std::collections::HashMap;

/// A parameter an endpoint knows: its name, and the sentence that refuses a repeat of it.
pub type Known = (&'static str, &'static str);

/// The token, revocation, introspection and logout endpoints' parameters (RFC 6749 §4,
/// §6, RFC 7009 §2.1, RFC 7662 §2.1, sigil's logout).
pub const TOKEN_PARAMETERS: [Known; 13] = [
    ("grant_type", "parameter grant_type is repeated"),
    ("scope", "parameter scope is repeated"),
    ("client_id", "parameter client_id is repeated"),
    ("client_secret", "parameter client_secret is repeated"),
    ("username", "parameter username is repeated"),
    ("password", "parameter password is repeated"),
    ("refresh_token", "parameter refresh_token is repeated"),
    ("token", "parameter token is repeated"),
    ("token_type_hint", "parameter token_type_hint is repeated"),
    ("all", "parameter all is repeated"),
    ("code", "parameter code is repeated"),
    ("redirect_uri", "parameter redirect_uri is repeated"),
    ("code_verifier", "parameter code_verifier is repeated"),
];

/// The authorization request's parameters (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636).
pub(super) const AUTHORIZE_PARAMETERS: [Known; 11] = [
    ("client_id", "parameter client_id is repeated"),
    ("redirect_uri", "parameter redirect_uri is repeated"),
    ("response_type", "parameter response_type is repeated"),
    ("response_mode", "parameter response_mode is repeated"),
    ("scope", "parameter scope is repeated"),
    ("state", "parameter state is repeated"),
    ("nonce", "parameter nonce is repeated"),
    ("code_challenge", "parameter code_challenge is repeated"),
    (
        "code_challenge_method",
        "parameter code_challenge_method is repeated",
    ),
    ("prompt", "parameter prompt is repeated"),
    ("max_age", "parameter max_age is repeated"),
];

/// The RP-initiated logout request's parameters (OIDC RP-Initiated Logout §2).
pub(super) const END_SESSION_PARAMETERS: [Known; 4] = [
    ("id_token_hint", "parameter id_token_hint is repeated"),
    (
        "post_logout_redirect_uri",
        "parameter post_logout_redirect_uri is repeated",
    ),
    ("state", "parameter state is repeated"),
    ("client_id", "parameter client_id is repeated"),
];

/// The known parameters of one request: the first value of each, and the first repeat seen.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<&'static str, String>,
    repeated: Option<Known>,
}

impl Params {
    /// Reads `pairs` against `known`.
    pub fn parse<N, V>(pairs: impl IntoIterator<Item = (N, V)>, known: &[Known]) -> Self
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let mut params = Self::default();
        let mut seen: Vec<&'static str> = Vec::new();
        for (name, value) in pairs {
            let Some(&entry) = known.iter().find(|(k, _)| *k == name.as_ref()) else {
                continue;
            };
            if seen.contains(&entry.0) {
                params.repeated.get_or_insert(entry);
                continue;
            }
            seen.push(entry.0);
            if !value.as_ref().is_empty() {
                params.values.insert(entry.0, value.as_ref().to_owned());
            }
        }
        params
    }

    /// Reads a form-encoded body or query string against `known`.
    pub fn from_urlencoded(encoded: &[u8], known: &[Known]) -> Self {
        Self::parse(url::form_urlencoded::parse(encoded), known)
    }

    /// `Err` with the refusal of the first repeated parameter, if any was repeated.
    pub fn check(&self) -> Result<(), &'static str> {
        match self.repeated {
            Some((_, why)) => Err(why),
            None => Ok(()),
        }
    }

    /// The name of the first repeated parameter, if any.
    pub fn repeated(&self) -> Option<&'static str> {
        self.repeated.map(|(name, _)| name)
    }

    /// Takes a parameter's value out.
    pub fn take(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [Known; 2] = [
        ("scope", "parameter scope is repeated"),
        ("state", "parameter state is repeated"),
    ];

    #[test]
    fn a_known_parameter_twice_is_refused_by_name() {
        let params = Params::from_urlencoded(b"scope=a&state=s&scope=b", &KNOWN);

        assert_eq!(params.check(), Err("parameter scope is repeated"));
        assert_eq!(params.repeated(), Some("scope"));
    }

    #[test]
    fn empty_values_are_omitted_and_unknown_parameters_may_repeat() {
        let mut params = Params::from_urlencoded(b"scope=&x=1&x=2&state=s", &KNOWN);

        assert_eq!(params.check(), Ok(()));
        assert_eq!(params.take("scope"), None);
        assert_eq!(params.take("state").as_deref(), Some("s"));
        assert_eq!(params.take("x"), None, "unknown parameters are not kept");
    }

    #[test]
    fn an_empty_repeat_is_a_repeat_too() {
        let params = Params::from_urlencoded(b"state=s&state=", &KNOWN);

        assert_eq!(params.repeated(), Some("state"));
    }
}
