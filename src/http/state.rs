//! `AppState`: what every handler may use, behind one `Arc`.

use std::ops::Deref;
use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;
use secrecy::SecretBox;

use super::cookies::Cookies;
use super::metadata;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::oauth::Sigil;
use crate::shutdown::Shutdown;

/// Shared state. axum clones it for every request, so it is one `Arc`: a single atomic
/// increment instead of one per handle inside.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The handles and precomputed documents behind `AppState`.
pub struct Shared {
    /// The application layer: every handler makes its one call here.
    pub(super) sigil: Sigil,
    pub(super) documents: Documents,
    pub(super) clock: Clock,
    pub(super) trusted_proxies: Vec<ipnet::IpNet>,
    pub(super) shutdown: Shutdown,
    pub(super) metrics: Metrics,
    /// The hosted pages' cookies (`Secure` and `__Host-` names when the issuer is `https`)
    /// and their CSRF key.
    pub(super) cookies: Cookies,
}

/// Responses computed once at start.
pub(super) struct Documents {
    /// The discovery document (OIDC Discovery and RFC 8414 share it).
    pub(super) discovery: Bytes,
    /// `Cache-Control` of the JWKS and discovery documents.
    pub(super) cache_control: HeaderValue,
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What the HTTP surface needs to know of the configuration.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The issuer URL: `iss`, and the base of every endpoint in the discovery document.
    pub issuer: String,
    /// `max-age` of the JWKS and discovery documents.
    pub jwks_max_age: std::time::Duration,
    /// The server's time source.
    pub clock: Clock,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The process's stop: `/readyz` answers 503 once it drains.
    pub shutdown: Shutdown,
}

impl AppState {
    /// Builds the state `serve` and the tests use; `csrf_key` signs the forms' CSRF tokens
    /// (the same on every instance: derived from the key-encryption key).
    pub fn new(
        settings: &HttpSettings,
        sigil: Sigil,
        metrics: Metrics,
        csrf_key: SecretBox<[u8; 32]>,
    ) -> anyhow::Result<Self> {
        let max_age = settings.jwks_max_age.as_secs();
        let cache_control = HeaderValue::from_str(&format!("public, max-age={max_age}"))?;
        let discovery = metadata::document(&settings.issuer)?;
        Ok(Self(Arc::new(Shared {
            sigil,
            documents: Documents {
                discovery,
                cache_control,
            },
            clock: settings.clock.clone(),
            trusted_proxies: settings.trusted_proxies.clone(),
            shutdown: settings.shutdown.clone(),
            metrics,
            cookies: Cookies::new(csrf_key, settings.issuer.starts_with("https://")),
        })))
    }
}
