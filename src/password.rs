//! Password hashing with argon2id: PHC strings, rehash detection, and a dummy hash so an
//! unknown user costs the same time as a wrong password.
//!
//! Hashing is CPU-heavy (about 14 ms with the OWASP parameters), so it runs on tokio's
//! blocking pool behind a semaphore sized to the cores: a flood of logins queues here instead
//! of starving JWKS or client_credentials requests on the async workers. The only module that
//! imports `argon2`.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use tracing::Instrument as _;

use crate::domain::Password;

/// argon2id cost parameters. Defaults are OWASP's: m = 19456 KiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's argon2id recommendation.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };

    fn argon2(self) -> anyhow::Result<Argon2<'static>> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches; `rehash` when the stored hash used other parameters.
    Valid {
        /// Whether the stored hash should be replaced with one made with today's parameters.
        rehash: bool,
    },
    /// Wrong password, unknown user, or an unreadable stored hash.
    Invalid,
}

/// Hashes and verifies passwords off the async runtime, a bounded number at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher running at most `concurrency` hashes at once.
    pub fn new(params: HashParams, concurrency: usize) -> anyhow::Result<Self> {
        let salt = SaltString::generate(&mut OsRng);
        let dummy = params
            .argon2()?
            .hash_password(b"sigil dummy password for unknown users", &salt)
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))?
            .to_string();
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let (params, password) = (self.params, password.clone());
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            params
                .argon2()?
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| anyhow::anyhow!("argon2: {e}"))
        })
        .await
    }

    /// Checks `password` against `stored`; with `None` (unknown user) it verifies against a
    /// dummy hash so the answer takes the same time, and is `Invalid`.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> anyhow::Result<Verification> {
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let (params, password) = (self.params, password.clone());
        self.run(move || {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(Verification::Invalid);
            };
            let matches = Argon2::default()
                .verify_password(password.expose().as_bytes(), &parsed)
                .is_ok();
            Ok(match matches && known {
                true => Verification::Valid {
                    rehash: !uses(&parsed, params),
                },
                false => Verification::Invalid,
            })
        })
        .await
    }

    /// Runs `work` on the blocking pool once a permit is free, in the caller's span.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .instrument(tracing::Span::current())
            .await?
    }
}

/// Whether a stored hash was made with argon2id and exactly `params`.
fn uses(hash: &PasswordHash<'_>, params: HashParams) -> bool {
    let Ok(stored) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm.as_str() == "argon2id"
        && (stored.m_cost(), stored.t_cost(), stored.p_cost())
            == (params.memory_kib, params.iterations, params.parallelism)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn password(text: &str) -> Password {
        Password::presented(text.to_owned()).unwrap()
    }

    #[tokio::test]
    async fn hash_is_an_argon2id_phc_string_that_verifies() {
        let hasher = PasswordHasher::new(CHEAP, 2).unwrap();

        let hash = hasher.hash(&password("correct horse")).await.unwrap();

        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{hash}");
        let ok = hasher
            .verify(&password("correct horse"), Some(&hash))
            .await
            .unwrap();
        let wrong = hasher
            .verify(&password("battery staple"), Some(&hash))
            .await
            .unwrap();
        assert_eq!(ok, Verification::Valid { rehash: false });
        assert_eq!(wrong, Verification::Invalid);
    }

    #[tokio::test]
    async fn unknown_user_and_garbage_hash_are_invalid() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();

        assert_eq!(
            hasher.verify(&password("x"), None).await.unwrap(),
            Verification::Invalid
        );
        assert_eq!(
            hasher
                .verify(&password("x"), Some("not a phc"))
                .await
                .unwrap(),
            Verification::Invalid
        );
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(CHEAP, 1).unwrap();
        let hash = old.hash(&password("pw")).await.unwrap();
        let new = PasswordHasher::new(
            HashParams {
                memory_kib: 128,
                ..CHEAP
            },
            1,
        )
        .unwrap();

        let verification = new.verify(&password("pw"), Some(&hash)).await.unwrap();

        assert_eq!(verification, Verification::Valid { rehash: true });
    }
}
