//! `AppState`: cheap handles shared by every handler.

use std::sync::Arc;

use axum::http::HeaderValue;
use bytes::Bytes;

use super::handlers::discovery;
use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::oauth::TokenIssuer;
use crate::store::Store;

/// Everything a handler may need; cloning copies a few pointers.
#[derive(Clone)]
pub struct AppState {
    pub(super) store: Store,
    pub(super) keys: Arc<KeyRing>,
    pub(super) issuer: TokenIssuer,
    pub(super) documents: Arc<Documents>,
    pub(super) clock: Clock,
    pub(super) registration: bool,
}

/// Responses computed once at start.
pub(super) struct Documents {
    /// The discovery document (OIDC Discovery and RFC 8414 share it).
    pub(super) discovery: Bytes,
    /// `Cache-Control` of the JWKS and discovery documents.
    pub(super) cache_control: HeaderValue,
}

impl AppState {
    /// Builds the state `serve` and the tests use.
    pub fn new(
        config: &Config,
        store: Store,
        keys: Arc<KeyRing>,
        issuer: TokenIssuer,
    ) -> anyhow::Result<Self> {
        let cache_control = HeaderValue::from_str(&format!(
            "public, max-age={}",
            config.keys.jwks_max_age.as_secs()
        ))?;
        let discovery = discovery::document(config, keys.settings().algorithm)?;
        Ok(Self {
            store,
            keys,
            issuer,
            documents: Arc::new(Documents {
                discovery,
                cache_control,
            }),
            clock: config.clock.clone(),
            registration: config.registration,
        })
    }
}
