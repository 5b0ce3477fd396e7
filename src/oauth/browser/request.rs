//! The authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636) as parameters
//! (`AuthorizeParams`, read by the one OAuth parameter rule) and, once its client and
//! redirect URI are trusted (`Browser::validate`: until then every error is shown on a page,
//! never redirected), as a checked `AuthorizeRequest` built from small named checks. Each
//! check's refusal is an RFC 6749 §4.1.2.1 error the client is sent.
//!
//! Imports nothing from the transports.

use std::sync::Arc;

use super::{AuthorizeError, Browser};
use crate::domain::{ClientId, CodeChallenge, GrantType, Scope};
use crate::oauth::Error;
use crate::oauth::TokenIssuer;
use crate::oauth::params::{AUTHORIZE_PARAMETERS, Known, Params};
use crate::store::Client;

/// Longest `state` or `nonce` accepted.
pub(super) const MAX_OPAQUE_CHARS: usize = 1024;

/// The parameters of an authorization request, as sent (query or the forms' hidden copy).
#[derive(Debug, Clone, Default)]
pub struct AuthorizeParams {
    /// `client_id`.
    pub client_id: Option<String>,
    /// `redirect_uri`.
    pub redirect_uri: Option<String>,
    /// `response_type` (only `code`).
    pub response_type: Option<String>,
    /// `response_mode` (only `query`).
    pub response_mode: Option<String>,
    /// `scope`.
    pub scope: Option<String>,
    /// `state`, echoed back.
    pub state: Option<String>,
    /// `nonce`, put into the ID token.
    pub nonce: Option<String>,
    /// `code_challenge` (PKCE).
    pub code_challenge: Option<String>,
    /// `code_challenge_method` (only `S256`).
    pub code_challenge_method: Option<String>,
    /// `prompt`: `none`, `login`, `consent`.
    pub prompt: Option<String>,
    /// `max_age` in seconds.
    pub max_age: Option<String>,
    /// The first parameter that appeared twice (RFC 6749 §3.1): its name and refusal.
    pub repeated: Option<Known>,
}

impl AuthorizeParams {
    /// The parameters of a query string (the request, or the forms' hidden copy of it), by
    /// the one OAuth parameter rule (`Params`): the first value of each, a repeat noted.
    pub fn from_query(query: &str) -> Self {
        let mut params = Params::from_urlencoded(query.as_bytes(), &AUTHORIZE_PARAMETERS);
        let repeated = params.repeated().and_then(|name| {
            AUTHORIZE_PARAMETERS
                .iter()
                .copied()
                .find(|(known, _)| *known == name)
        });
        Self {
            client_id: params.take("client_id"),
            redirect_uri: params.take("redirect_uri"),
            response_type: params.take("response_type"),
            response_mode: params.take("response_mode"),
            scope: params.take("scope"),
            state: params.take("state"),
            nonce: params.take("nonce"),
            code_challenge: params.take("code_challenge"),
            code_challenge_method: params.take("code_challenge_method"),
            prompt: params.take("prompt"),
            max_age: params.take("max_age"),
            repeated,
        }
    }
}

/// An error the client is sent through its redirect URI: the RFC 6749 §4.1.2.1 code and a
/// description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) error: &'static str,
    pub(super) why: String,
}

fn refuse(error: &'static str, why: impl Into<String>) -> Refusal {
    Refusal {
        error,
        why: why.into(),
    }
}

/// A checked request whose client and redirect URI match.
pub(super) struct AuthorizeRequest {
    pub(super) client: Arc<Client>,
    /// Where the browser goes back to.
    pub(super) redirect_to: String,
    /// The `redirect_uri` parameter as sent ("" when absent): the token request must repeat it.
    pub(super) redirect_param: String,
    pub(super) state: Option<String>,
    pub(super) scope: Option<Scope>,
    pub(super) nonce: Option<String>,
    pub(super) challenge: CodeChallenge,
    pub(super) prompt_none: bool,
    pub(super) prompt_login: bool,
    pub(super) prompt_consent: bool,
    pub(super) max_age: Option<i64>,
}

/// Where a request whose client and redirect URI are trusted goes back to.
pub(super) struct Trusted {
    pub(super) client: Arc<Client>,
    pub(super) redirect_to: String,
    pub(super) state: Option<String>,
}

impl AuthorizeRequest {
    /// Checks the rest of a request whose client and redirect URI are `trusted`.
    pub(super) fn parse(params: &AuthorizeParams, trusted: Trusted) -> Result<Self, Refusal> {
        let Trusted {
            client,
            redirect_to,
            state,
        } = trusted;
        no_repeated_parameter(params)?;
        client_may_use_codes(&client)?;
        response_type_is_code(params)?;
        response_mode_is_query(params)?;
        let challenge = pkce_challenge(params)?;
        let scope = allowed_scope(params, &client)?;
        let nonce = bounded_nonce(params)?;
        let prompts = prompts(params)?;
        let max_age = max_age(params)?;
        Ok(Self {
            client,
            redirect_to,
            redirect_param: params.redirect_uri.clone().unwrap_or_default(),
            state,
            scope,
            nonce,
            challenge,
            prompt_none: prompts.contains(&"none"),
            prompt_login: prompts.contains(&"login"),
            prompt_consent: prompts.contains(&"consent"),
            max_age,
        })
    }
}

impl Browser {
    /// Checks the request. `Err(Page)` while the redirect URI is not trusted; `Ok(Err(url))`
    /// for an error the client is told about through its redirect URI.
    pub(super) async fn validate(
        &self,
        params: &AuthorizeParams,
    ) -> Result<Result<AuthorizeRequest, String>, Error> {
        let trusted = self.trusted(params).await?;
        let (redirect_to, state) = (trusted.redirect_to.clone(), trusted.state.clone());
        Ok(
            AuthorizeRequest::parse(params, trusted).map_err(|Refusal { error, why }| {
                self.error_to(&redirect_to, state.as_deref(), error, &why)
            }),
        )
    }

    /// The client and the redirect URI, once they match (until then every error is shown on
    /// a page, never redirected), and the `state` to echo.
    async fn trusted(&self, params: &AuthorizeParams) -> Result<Trusted, Error> {
        // RFC 6749 §3.1 for the two parameters that decide where an error may go: shown.
        if let Some(("client_id", why) | ("redirect_uri", why)) = params.repeated {
            return Err(AuthorizeError::Page(why).into());
        }
        let client_id = params.client_id.as_deref().ok_or(AuthorizeError::Page(
            "the request names no client (client_id)",
        ))?;
        let unknown = || AuthorizeError::Page("the request names an unknown client");
        let client_id = ClientId::parse(client_id).map_err(|_| unknown())?;
        let client = self
            .store
            .find_client(&client_id)
            .await?
            .ok_or_else(unknown)?;
        let redirect_to = match params.redirect_uri.as_deref() {
            Some(uri) => client
                .redirect_uris
                .iter()
                .find_map(|registered| registered.redirect_for(uri)),
            None => match client.redirect_uris.as_slice() {
                [only] => Some(only.as_str().to_owned()),
                _ => None,
            },
        }
        .ok_or(AuthorizeError::Page(
            "the redirect URI is missing or not registered for this client",
        ))?;
        let state = params.state.clone();
        if state
            .as_ref()
            .is_some_and(|state| state.chars().count() > MAX_OPAQUE_CHARS)
        {
            return Err(AuthorizeError::Page("the state parameter is too long").into());
        }
        Ok(Trusted {
            client,
            redirect_to,
            state,
        })
    }
}

/// RFC 6749 §3.1 (a repeated `client_id` or `redirect_uri` was shown before this).
fn no_repeated_parameter(params: &AuthorizeParams) -> Result<(), Refusal> {
    match params.repeated {
        Some((_, why)) => Err(refuse("invalid_request", why)),
        None => Ok(()),
    }
}

fn client_may_use_codes(client: &Client) -> Result<(), Refusal> {
    match client.grant_types.contains(GrantType::AuthorizationCode) {
        true => Ok(()),
        false => Err(refuse(
            "unauthorized_client",
            "this client may not use the authorization code grant",
        )),
    }
}

fn response_type_is_code(params: &AuthorizeParams) -> Result<(), Refusal> {
    match params.response_type.as_deref() {
        Some("code") => Ok(()),
        None => Err(refuse("invalid_request", "response_type is required")),
        Some(_) => Err(refuse(
            "unsupported_response_type",
            "only response_type=code is supported",
        )),
    }
}

fn response_mode_is_query(params: &AuthorizeParams) -> Result<(), Refusal> {
    match params.response_mode.as_deref() {
        None | Some("query") => Ok(()),
        Some(_) => Err(refuse(
            "invalid_request",
            "only response_mode=query is supported",
        )),
    }
}

/// RFC 9700 §2.1.1: PKCE with S256 for every client.
fn pkce_challenge(params: &AuthorizeParams) -> Result<CodeChallenge, Refusal> {
    CodeChallenge::parse(
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    )
    .map_err(|error| refuse("invalid_request", error.to_string()))
}

/// RFC 6749 §3.3: well-formed, and within what the client may have.
fn allowed_scope(params: &AuthorizeParams, client: &Client) -> Result<Option<Scope>, Refusal> {
    let Ok(scope) = crate::oauth::requested_scope(params.scope.as_deref()) else {
        return Err(refuse("invalid_scope", "the scope is malformed"));
    };
    if TokenIssuer::narrow_scope(scope.clone(), &client.scopes).is_err() {
        return Err(refuse(
            "invalid_scope",
            "the requested scope is not allowed for this client",
        ));
    }
    Ok(scope)
}

fn bounded_nonce(params: &AuthorizeParams) -> Result<Option<String>, Refusal> {
    match params.nonce.clone() {
        Some(nonce) if nonce.chars().count() > MAX_OPAQUE_CHARS => {
            Err(refuse("invalid_request", "the nonce is too long"))
        }
        nonce => Ok(nonce),
    }
}

/// OIDC Core §3.1.2.1: `none` alone, or any of `login`, `consent`, `select_account`.
fn prompts(params: &AuthorizeParams) -> Result<Vec<&str>, Refusal> {
    let prompts: Vec<&str> = params
        .prompt
        .as_deref()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    let known = ["none", "login", "consent", "select_account"];
    if prompts.iter().any(|p| !known.contains(p))
        || (prompts.contains(&"none") && prompts.len() > 1)
    {
        return Err(refuse(
            "invalid_request",
            "prompt must be none, or any of login and consent",
        ));
    }
    Ok(prompts)
}

fn max_age(params: &AuthorizeParams) -> Result<Option<i64>, Refusal> {
    match params.max_age.as_deref() {
        None => Ok(None),
        Some(age) => match age.parse::<i64>() {
            Ok(age) if age >= 0 => Ok(Some(age)),
            _ => Err(refuse(
                "invalid_request",
                "max_age must be a number of seconds",
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(query: &str) -> AuthorizeParams {
        AuthorizeParams::from_query(query)
    }

    #[test]
    fn each_malformed_parameter_is_refused_with_its_code() {
        let cases = [
            (
                "response_type=token",
                response_type_is_code(&params("response_type=token")),
                "unsupported_response_type",
            ),
            (
                "no response_type",
                response_type_is_code(&params("")),
                "invalid_request",
            ),
            (
                "response_mode",
                response_mode_is_query(&params("response_mode=fragment")),
                "invalid_request",
            ),
            (
                "repeat",
                no_repeated_parameter(&params("state=a&state=b")),
                "invalid_request",
            ),
        ];
        for (what, outcome, error) in cases {
            assert_eq!(outcome.unwrap_err().error, error, "{what}");
        }
    }

    #[test]
    fn prompts_are_none_alone_or_known_ones_together() {
        assert_eq!(
            prompts(&params("prompt=login+consent")).unwrap(),
            ["login", "consent"]
        );
        assert!(prompts(&params("prompt=none+login")).is_err());
        assert!(prompts(&params("prompt=bogus")).is_err());
        assert!(prompts(&params("")).unwrap().is_empty());
    }

    #[test]
    fn max_age_is_a_non_negative_number_of_seconds() {
        assert_eq!(max_age(&params("max_age=0")), Ok(Some(0)));
        assert_eq!(max_age(&params("")), Ok(None));
        assert!(max_age(&params("max_age=-1")).is_err());
        assert!(max_age(&params("max_age=soon")).is_err());
    }

    #[test]
    fn pkce_needs_an_s256_challenge() {
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        let good = format!("code_challenge={challenge}&code_challenge_method=S256");
        let plain = format!("code_challenge={challenge}&code_challenge_method=plain");

        assert!(pkce_challenge(&params(&good)).is_ok());
        assert!(pkce_challenge(&params(&plain)).is_err());
        assert!(pkce_challenge(&params("")).is_err());
    }

    #[test]
    fn a_nonce_longer_than_the_bound_is_refused() {
        let long = format!("nonce={}", "n".repeat(MAX_OPAQUE_CHARS + 1));

        assert!(bounded_nonce(&params(&long)).is_err());
        assert_eq!(bounded_nonce(&params("nonce=n")), Ok(Some("n".to_owned())));
    }
}
