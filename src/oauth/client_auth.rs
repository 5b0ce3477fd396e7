//! How credentials are read from a request, the same for every transport: an `Authorization:
//! Basic` value (an HTTP header or gRPC metadata) and the id and secret a request body or
//! message may carry, at most one method per request (RFC 6749 §2.3); and the token of an
//! `Authorization: Bearer` value (RFC 6750 §2.1).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{AuthMethod, ClientAuthentication, Error};
use crate::domain::ClientSecret;

/// Client id and secret from an `Authorization: Basic` value.
#[derive(Debug)]
pub struct BasicCredentials {
    client_id: String,
    client_secret: String,
}

impl BasicCredentials {
    /// Reads an `Authorization` value; `Ok(None)` when it is of another scheme. RFC 6749
    /// §2.3.1: both parts are form-urlencoded before base64, so both are decoded here. Every
    /// malformed value is `invalid_client`.
    pub fn parse(value: &str) -> Result<Option<Self>, Error> {
        let Some((scheme, encoded)) = value.split_once(' ') else {
            return Ok(None);
        };
        if !scheme.eq_ignore_ascii_case("basic") {
            return Ok(None);
        }
        let decoded = STANDARD
            .decode(encoded.trim())
            .map_err(|_| Error::InvalidClient)?;
        let decoded = String::from_utf8(decoded).map_err(|_| Error::InvalidClient)?;
        let (id, secret) = decoded.split_once(':').ok_or(Error::InvalidClient)?;
        Ok(Some(Self {
            client_id: form_decode(id)?,
            client_secret: form_decode(secret)?,
        }))
    }
}

/// The token of an `Authorization: Bearer` value; `None` for another scheme.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn form_decode(part: &str) -> Result<String, Error> {
    let plus_as_space = part.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|text| text.into_owned())
        .map_err(|_| Error::InvalidClient)
}

impl ClientAuthentication {
    /// RFC 6749 §2.3: one authentication method per request; a body `client_id` beside Basic
    /// must name the same client; a `client_id` without a secret is a public client. `None`
    /// stands for an absent or empty field.
    pub fn resolve(
        basic: Option<BasicCredentials>,
        body_id: Option<String>,
        body_secret: Option<String>,
    ) -> Result<Self, Error> {
        match (basic, body_secret) {
            (Some(_), Some(_)) => Err(Error::InvalidRequest(
                "use only one client authentication method",
            )),
            (Some(basic), None) => {
                if body_id.is_some_and(|id| id != basic.client_id) {
                    return Err(Error::InvalidRequest(
                        "client_id does not match the Authorization header",
                    ));
                }
                Ok(Self {
                    client_id: basic.client_id,
                    secret: Some(ClientSecret::presented(basic.client_secret)),
                    method: AuthMethod::ClientSecretBasic,
                })
            }
            (None, secret) => {
                let client_id = body_id.ok_or(Error::InvalidClient)?;
                let method = match secret {
                    Some(_) => AuthMethod::ClientSecretPost,
                    None => AuthMethod::None,
                };
                Ok(Self {
                    client_id,
                    secret: secret.map(ClientSecret::presented),
                    method,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(raw: &str) -> String {
        format!("Basic {}", STANDARD.encode(raw))
    }

    #[test]
    fn basic_parts_are_form_urldecoded() {
        let creds = BasicCredentials::parse(&basic("my%3Aclient:s%2Bc+r%25t"))
            .unwrap()
            .unwrap();

        assert_eq!(creds.client_id, "my:client");
        assert_eq!(creds.client_secret, "s+c r%t");
    }

    #[test]
    fn malformed_basic_is_invalid_client() {
        let cases = [
            ("Basic !!!", "bad base64"),
            (&basic("nocolon") as &str, "no colon"),
            (&basic("a:%ff") as &str, "not UTF-8 once decoded"),
        ];
        for (value, reason) in cases {
            let parsed = BasicCredentials::parse(value);
            assert!(matches!(parsed, Err(Error::InvalidClient)), "{reason}");
        }
    }

    #[test]
    fn other_schemes_are_not_basic() {
        assert!(BasicCredentials::parse("Bearer abc").unwrap().is_none());
        assert!(BasicCredentials::parse("Basic").unwrap().is_none());
    }

    #[test]
    fn one_method_per_request() {
        let basic_creds = || BasicCredentials::parse(&basic("a:s")).unwrap();
        let both = ClientAuthentication::resolve(basic_creds(), None, Some("s".into()));
        let mismatch = ClientAuthentication::resolve(basic_creds(), Some("b".into()), None);
        let nothing = ClientAuthentication::resolve(None, None, None);
        let public = ClientAuthentication::resolve(None, Some("a".into()), None).unwrap();
        let same = ClientAuthentication::resolve(basic_creds(), Some("a".into()), None).unwrap();

        assert!(
            matches!(both, Err(Error::InvalidRequest(_))),
            "both methods"
        );
        assert!(
            matches!(mismatch, Err(Error::InvalidRequest(_))),
            "mismatch"
        );
        assert!(matches!(nothing, Err(Error::InvalidClient)), "no client");
        assert_eq!(public.method, AuthMethod::None);
        assert_eq!(same.method, AuthMethod::ClientSecretBasic);
    }
}
