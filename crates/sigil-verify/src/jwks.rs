//! The JWKS as the verifier keeps it: decoding keys by kid, fresh for the `max-age` the
//! server sent, then revalidated with `If-None-Match`; refetched at once for an unknown kid,
//! but at most once per refetch interval. One fetch at a time: requests that find the keys
//! stale or the kid unknown while a fetch is running wait for it and use its result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::Error;

/// The keys of one JWKS URI.
pub(crate) struct KeyCache {
    http: reqwest::Client,
    uri: String,
    refetch_interval: Duration,
    default_max_age: Duration,
    state: RwLock<State>,
    /// Held while fetching; holds when the last refetch for an unknown kid began.
    fetching: Mutex<Option<Instant>>,
    fetches: AtomicU64,
}

struct State {
    keys: HashMap<String, Key>,
    etag: Option<String>,
    fresh_until: Instant,
}

#[derive(Clone)]
struct Key {
    alg: Option<String>,
    decoding: DecodingKey,
}

impl KeyCache {
    pub(crate) fn new(
        http: reqwest::Client,
        uri: String,
        refetch_interval: Duration,
        default_max_age: Duration,
    ) -> Self {
        Self {
            http,
            uri,
            refetch_interval,
            default_max_age,
            state: RwLock::new(State {
                keys: HashMap::new(),
                etag: None,
                fresh_until: Instant::now(),
            }),
            fetching: Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    pub(crate) fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches the set now (building the verifier).
    pub(crate) async fn fetch_now(&self) -> Result<(), Error> {
        let _fetching = self.fetching.lock().await;
        self.fetch().await
    }

    /// The key `kid` for algorithm `alg`, revalidating a stale set first and refetching for
    /// an unknown kid when the last such refetch is older than the interval.
    pub(crate) async fn key(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        if self.state.read().await.fresh_until <= Instant::now() {
            let _fetching = self.fetching.lock().await;
            if self.state.read().await.fresh_until <= Instant::now() {
                // A failed revalidation keeps the keys it had: an outage of the issuer does
                // not stop verification.
                let _ = self.fetch().await;
            }
        }
        if let Some(key) = self.lookup(kid, alg).await {
            return Some(key);
        }
        let mut last = self.fetching.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(key) = self.lookup(kid, alg).await {
            return Some(key);
        }
        if last.is_some_and(|at| at.elapsed() < self.refetch_interval) {
            return None;
        }
        *last = Some(Instant::now());
        let _ = self.fetch().await;
        drop(last);
        self.lookup(kid, alg).await
    }

    async fn lookup(&self, kid: &str, alg: Algorithm) -> Option<DecodingKey> {
        let state = self.state.read().await;
        let key = state.keys.get(kid)?;
        // A JWK that names its algorithm is used for that algorithm only.
        let alg_name = format!("{alg:?}");
        match &key.alg {
            Some(named) if *named != alg_name => None,
            _ => Some(key.decoding.clone()),
        }
    }

    /// One conditional GET of the set; the caller holds `fetching`.
    async fn fetch(&self) -> Result<(), Error> {
        let etag = self.state.read().await.etag.clone();
        let mut request = self.http.get(&self.uri);
        if let Some(etag) = &etag {
            request = request.header(http::header::IF_NONE_MATCH, etag);
        }
        let fetch_error = |error: reqwest::Error| Error::Fetch(error.to_string());
        let response = request.send().await.map_err(fetch_error)?;
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let max_age = max_age(response.headers()).unwrap_or(self.default_max_age);
        let fresh_until = Instant::now() + max_age;
        if response.status() == reqwest::StatusCode::NOT_MODIFIED {
            self.state.write().await.fresh_until = fresh_until;
            return Ok(());
        }
        let response = response.error_for_status().map_err(fetch_error)?;
        let new_etag = response
            .headers()
            .get(http::header::ETAG)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let set: JwkSet = response.json().await.map_err(fetch_error)?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(decoding)) = (&jwk.common.key_id, DecodingKey::from_jwk(jwk)) else {
                continue;
            };
            let alg = jwk.common.key_algorithm.map(|alg| format!("{alg:?}"));
            keys.insert(kid.clone(), Key { alg, decoding });
        }
        *self.state.write().await = State {
            keys,
            etag: new_etag,
            fresh_until,
        };
        Ok(())
    }
}

/// `max-age` of a `Cache-Control` header (`no-store`/`no-cache` count as zero).
fn max_age(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get(http::header::CACHE_CONTROL)?.to_str().ok()?;
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-store") || directive.eq_ignore_ascii_case("no-cache")
        {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = directive.strip_prefix("max-age=") {
            age = seconds
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        let header = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(http::header::CACHE_CONTROL, value.parse().unwrap());
            headers
        };

        assert_eq!(
            max_age(&header("public, max-age=600")),
            Some(Duration::from_secs(600))
        );
        assert_eq!(
            max_age(&header("max-age=\"30\"")),
            Some(Duration::from_secs(30))
        );
        assert_eq!(max_age(&header("no-store")), Some(Duration::ZERO));
        assert_eq!(max_age(&header("public")), None);
        assert_eq!(max_age(&http::HeaderMap::new()), None);
    }
}
