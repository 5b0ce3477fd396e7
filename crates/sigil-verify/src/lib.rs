//! Verify sigil access tokens (RFC 9068 JWTs) offline, in a Rust service behind the gateway.
//!
//! A [`Verifier`] finds the JWKS through the issuer's discovery document, keeps it for the
//! `Cache-Control: max-age` the server sent and revalidates it with `If-None-Match` after
//! that; a token whose `kid` it does not know makes it refetch at once, but at most once per
//! [`Builder::refetch_interval`] (so a flood of made-up kids cannot turn into a flood of
//! fetches). It checks the signature with an allowed algorithm (RS256 and ES256 by default,
//! never `none` or HMAC), `typ` `at+jwt`, `iss`, `aud`, and `exp`/`nbf` with a leeway.
//! [`VerifyLayer`] does the same for every request of a tower (axum, tonic) service: the
//! [`Claims`] go into the request's extensions, and a missing or bad token is answered with
//! `401` and `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1).
//!
//! ```no_run
//! # async fn example() -> Result<(), sigil_verify::Error> {
//! let verifier = sigil_verify::Verifier::builder("https://auth.example.com", "https://api.example.com")
//!     .build()
//!     .await?;
//! let claims = verifier.verify("eyJ…").await?;
//! println!("{} via {}", claims.sub, claims.client_id);
//! // Or for every request of an axum router:
//! // let app = axum::Router::new().route(…).layer(sigil_verify::VerifyLayer::new(verifier));
//! # Ok(()) }
//! ```
//!
//! This crate does not depend on the sigil server.

mod jwks;
mod layer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;

pub use layer::{VerifyLayer, VerifyService};

use jwks::KeyCache;

/// Why a verifier could not be built or a token was refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The discovery document or the JWKS could not be fetched or read.
    #[error("cannot fetch the keys: {0}")]
    Fetch(String),
    /// The token is malformed, forged, expired, for another audience or issuer, of another
    /// type, signed with a refused algorithm or by an unknown key.
    #[error("invalid token: {0}")]
    InvalidToken(String),
}

/// The claims of a verified access token.
#[derive(Debug, Clone, Deserialize)]
pub struct Claims {
    /// The user id, or the client id for a client_credentials token.
    pub sub: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-separated, when any.
    #[serde(default)]
    pub scope: Option<String>,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Token id.
    pub jti: String,
    /// The login session of a user token.
    #[serde(default)]
    pub sid: Option<String>,
    /// Every other claim.
    #[serde(flatten)]
    pub other: HashMap<String, serde_json::Value>,
}

impl Claims {
    /// Whether the token was granted `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|scopes| scopes.split(' ').any(|granted| granted == scope))
    }
}

/// Settings of a [`Verifier`].
#[derive(Debug, Clone)]
pub struct Builder {
    issuer: String,
    audience: String,
    discovery_url: Option<String>,
    jwks_uri: Option<String>,
    algorithms: Vec<Algorithm>,
    leeway: Duration,
    refetch_interval: Duration,
    default_max_age: Duration,
    http: Option<reqwest::Client>,
}

impl Builder {
    /// Where the discovery document is, when not at `<issuer>/.well-known/openid-configuration`
    /// (e.g. sigil reached by an internal name).
    pub fn discovery_url(mut self, url: impl Into<String>) -> Self {
        self.discovery_url = Some(url.into());
        self
    }

    /// Fetch the JWKS from here instead of the discovery document's `jwks_uri`.
    pub fn jwks_uri(mut self, url: impl Into<String>) -> Self {
        self.jwks_uri = Some(url.into());
        self
    }

    /// The accepted signature algorithms (default RS256 and ES256; HMAC and `none` are never
    /// accepted).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms
            .iter()
            .copied()
            .filter(|alg| !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512))
            .collect();
        self
    }

    /// Clock skew allowed for `exp` and `nbf` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The least time between two refetches caused by unknown kids (default 30 s).
    pub fn refetch_interval(mut self, interval: Duration) -> Self {
        self.refetch_interval = interval;
        self
    }

    /// The HTTP client for discovery and the JWKS (default: one with 10 s timeouts that does
    /// not follow redirects).
    pub fn http_client(mut self, http: reqwest::Client) -> Self {
        self.http = Some(http);
        self
    }

    /// Finds the JWKS (discovery, unless `jwks_uri` was given) and fetches it once.
    pub async fn build(self) -> Result<Verifier, Error> {
        let http = match self.http.clone() {
            Some(http) => http,
            None => reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|error| Error::Fetch(error.to_string()))?,
        };
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => discover(&http, &self).await?,
        };
        let keys = KeyCache::new(http, jwks_uri, self.refetch_interval, self.default_max_age);
        keys.fetch_now().await?;
        Ok(Verifier {
            inner: Arc::new(Inner {
                settings: self,
                keys,
            }),
        })
    }
}

async fn discover(http: &reqwest::Client, settings: &Builder) -> Result<String, Error> {
    #[derive(Deserialize)]
    struct Discovery {
        issuer: String,
        jwks_uri: String,
    }
    let url = settings.discovery_url.clone().unwrap_or_else(|| {
        format!(
            "{}/.well-known/openid-configuration",
            settings.issuer.trim_end_matches('/')
        )
    });
    let fetch_error = |error: reqwest::Error| Error::Fetch(error.to_string());
    let document: Discovery = http
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(fetch_error)?
        .json()
        .await
        .map_err(fetch_error)?;
    // OIDC Discovery §4.3: the document must name the issuer it was fetched for.
    if document.issuer != settings.issuer {
        return Err(Error::Fetch(format!(
            "the discovery document names issuer {}, not {}",
            document.issuer, settings.issuer
        )));
    }
    Ok(document.jwks_uri)
}

/// Verifies access tokens of one issuer for one audience; cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<Inner>,
}

struct Inner {
    settings: Builder,
    keys: KeyCache,
}

impl Verifier {
    /// Settings for tokens of `issuer` (exactly as in its tokens' `iss`) meant for `audience`.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> Builder {
        Builder {
            issuer: issuer.into(),
            audience: audience.into(),
            discovery_url: None,
            jwks_uri: None,
            algorithms: vec![Algorithm::RS256, Algorithm::ES256],
            leeway: Duration::from_secs(60),
            refetch_interval: Duration::from_secs(30),
            default_max_age: Duration::from_secs(300),
            http: None,
        }
    }

    /// The claims of `token` when it is a valid access token of the issuer for the audience.
    pub async fn verify(&self, token: &str) -> Result<Claims, Error> {
        let invalid = |why: &str| Error::InvalidToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        let settings = &self.inner.settings;
        if !settings.algorithms.contains(&header.alg) {
            return Err(invalid("algorithm not allowed"));
        }
        // RFC 9068 §4: `typ` is `at+jwt` (or its media-type form).
        let typ = header.typ.as_deref().unwrap_or_default();
        if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
            return Err(invalid("not an access token (typ)"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| invalid("no kid"))?;
        let key = self
            .inner
            .keys
            .key(kid, header.alg)
            .await
            .ok_or_else(|| invalid("unknown key"))?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = settings.leeway.as_secs();
        validation.validate_nbf = true;
        jsonwebtoken::decode::<Claims>(token, &key, &validation)
            .map(|data| data.claims)
            .map_err(|error| Error::InvalidToken(error.to_string()))
    }

    /// How many times the JWKS was fetched (200 or 304) since the verifier was built.
    pub fn jwks_fetches(&self) -> u64 {
        self.inner.keys.fetches()
    }
}
