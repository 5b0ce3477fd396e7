//! Password hashing with argon2id: PHC strings, rehash detection, and a dummy hash so an
//! unknown user costs the same time as a wrong password. Hashes imported from the services
//! sigil replaces are verified too: argon2 PHC strings, and bcrypt (`$2a$`, `$2b$`, `$2y$`),
//! which a successful login replaces with argon2id (`rehash`). The dummy hash is argon2id, so
//! a wrong password for a user still on a bcrypt hash takes that hash's time (cost 12: about
//! ten times an argon2id check), not an unknown user's: until their first login, imported
//! bcrypt users can be told from unknown ones by timing.
//!
//! Hashing is CPU- and memory-heavy (about 20 ms and 19 MiB with the OWASP parameters), so it
//! runs on a fixed set of long-lived threads, one per core by default, fed through a channel;
//! a semaphore queues callers asynchronously. A flood of logins therefore waits here instead of
//! starving JWKS or client_credentials requests on the async workers, and memory stays at one
//! argon2 buffer per hashing thread (tokio's blocking pool would spread hashes over many
//! short-lived threads, each keeping a freed buffer in its own malloc arena). The only module
//! that imports `argon2` and `bcrypt`.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument as _;

use crate::domain::Password;

mod imported;

use crate::metrics::HashLoad;
use imported::is_bcrypt;
pub use imported::{HashFormat, HashFormatError, MAX_BCRYPT_COST, check_imported_hash};

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

    fn params(self) -> anyhow::Result<Params> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))
    }

    fn argon2(self) -> anyhow::Result<Argon2<'static>> {
        Ok(Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            self.params()?,
        ))
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

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords off the async runtime, a bounded number at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    params: HashParams,
    permits: Arc<Semaphore>,
    concurrency: usize,
    waiting: Arc<AtomicUsize>,
    computed: Arc<AtomicU64>,
    jobs: mpsc::Sender<Job>,
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// A hasher with `concurrency` hashing threads. They exit when the last clone is dropped.
    pub fn new(params: HashParams, concurrency: usize) -> anyhow::Result<Self> {
        let concurrency = concurrency.max(1);
        params.params()?;
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..concurrency {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("sigil-argon2-{index}"))
                .spawn(move || work(&queue))?;
        }
        // Made on a hashing thread, in the memory it will reuse, not on the caller's heap.
        let (made, dummy) = mpsc::channel();
        let job: Job = Box::new(move || {
            let _ = made.send(phc_hash(params, "sigil dummy password for unknown users"));
        });
        jobs.send(job)
            .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
        let dummy = dummy.recv()??;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            concurrency,
            waiting: Arc::new(AtomicUsize::new(0)),
            computed: Arc::new(AtomicU64::new(0)),
            jobs,
            dummy_hash: dummy.into(),
        })
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub async fn hash(&self, password: &Password) -> anyhow::Result<String> {
        let (params, password) = (self.params, password.clone());
        self.run(move || phc_hash(params, password.expose())).await
    }

    /// Checks `password` against `stored`; with `None` (unknown user) or a stored value that
    /// is no hash (`NO_PASSWORD`: a user who has not chosen one yet) it verifies against a
    /// dummy hash so the answer takes the same time, and is `Invalid`.
    pub async fn verify(
        &self,
        password: &Password,
        stored: Option<&str>,
    ) -> anyhow::Result<Verification> {
        let stored = stored.filter(|stored| is_bcrypt(stored) || PasswordHash::new(stored).is_ok());
        let known = stored.is_some();
        let stored = stored.map_or_else(|| self.dummy_hash.to_string(), str::to_owned);
        let (params, password) = (self.params, password.clone());
        self.run(move || {
            if is_bcrypt(&stored) {
                // Imported: checked as bcrypt once, then replaced with argon2id.
                let matches = bcrypt_matches(&stored, password.expose());
                return Ok(match matches && known {
                    true => Verification::Valid { rehash: true },
                    false => Verification::Invalid,
                });
            }
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Ok(Verification::Invalid);
            };
            let matches = matches(&parsed, password.expose()).unwrap_or(false);
            Ok(match matches && known {
                true => Verification::Valid {
                    rehash: !uses(&parsed, params),
                },
                false => Verification::Invalid,
            })
        })
        .await
    }

    /// Hashes being computed and hashes queued for a hashing thread, right now.
    pub fn load(&self) -> HashLoad {
        HashLoad {
            running: self.concurrency - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::Relaxed),
            computed: self.computed.load(Ordering::Relaxed),
        }
    }

    /// Runs `work` on a hashing thread once one is free, in a span of its own (`argon2`,
    /// child of the caller's, from the wait for a thread to the answer).
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let span = match tracing::debug_span!("argon2") {
            span if span.is_disabled() => tracing::Span::current(),
            span => span,
        };
        let queued = Queued::enter(&self.waiting);
        let permit = self.permits.acquire().instrument(span.clone()).await;
        drop(queued);
        let _permit = permit?;
        let (done, result) = oneshot::channel();
        let computed = self.computed.clone();
        let job: Job = Box::new(move || {
            let _ = done.send(span.in_scope(work));
            computed.fetch_add(1, Ordering::Relaxed);
        });
        self.jobs
            .send(job)
            .map_err(|_| anyhow::anyhow!("the password hashing threads are gone"))?;
        result
            .await
            .map_err(|_| anyhow::anyhow!("a password hashing thread panicked"))?
    }
}

/// Counts a caller as waiting for as long as it lives (also when its future is dropped).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::Relaxed);
        Self(waiting)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A hashing thread: runs jobs until every sender is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match queue.lock() {
            Ok(receiver) => receiver.recv(),
            Err(poisoned) => poisoned.into_inner().recv(),
        };
        match job {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

thread_local! {
    /// A hashing thread's argon2 memory, allocated once and reused by every hash it computes.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn argon2_error(error: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("argon2: {error}")
}

/// Hashes `password` with `argon2`'s parameters into an output of `len` bytes, in this
/// thread's reusable memory (the same steps as the crate's `hash_password`).
fn compute(
    argon2: &Argon2<'_>,
    password: &str,
    salt: Salt<'_>,
    len: usize,
) -> anyhow::Result<Output> {
    let mut salt_bytes = [0u8; 64];
    let salt = salt.decode_b64(&mut salt_bytes).map_err(argon2_error)?;
    let blocks = argon2.params().block_count();
    MEMORY.with_borrow_mut(|memory| {
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        Output::init_with(len, |out| {
            argon2
                .hash_password_into_with_memory(
                    password.as_bytes(),
                    salt,
                    out,
                    &mut memory[..blocks],
                )
                .map_err(|_| argon2::password_hash::Error::Crypto)
        })
        .map_err(argon2_error)
    })
}

/// A PHC string of `password` with `params` and a fresh random salt (the same steps as the
/// crate's `hash_password`).
fn phc_hash(params: HashParams, password: &str) -> anyhow::Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    let argon2 = params.argon2()?;
    let output = compute(
        &argon2,
        password,
        salt.as_salt(),
        Params::DEFAULT_OUTPUT_LEN,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(argon2.params()).map_err(argon2_error)?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(phc.to_string())
}

/// Recomputes a stored PHC hash with its own algorithm, version, parameters and salt, and
/// compares the outputs in constant time (`Output`'s equality is constant-time).
fn matches(stored: &PasswordHash<'_>, password: &str) -> anyhow::Result<bool> {
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return Ok(false);
    };
    let algorithm = Algorithm::try_from(stored.algorithm).map_err(argon2_error)?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(argon2_error)?;
    let params = Params::try_from(stored).map_err(argon2_error)?;
    let argon2 = Argon2::new(algorithm, version.unwrap_or_default(), params);
    Ok(compute(&argon2, password, salt, expected.len())? == expected)
}

/// The stored "hash" of a user without a password (one a directory created, until they
/// follow their invitation): no password matches it, and checking one takes a real hash's
/// time.
pub const NO_PASSWORD: &str = "!";

/// Checks `password` against a bcrypt hash (the crate compares in constant time). Like the
/// services the hash comes from (Go's x/crypto before 2022, Node's bcrypt, PHP), bcrypt reads
/// at most 72 bytes of the password. A cost above the import limit is refused unchecked.
fn bcrypt_matches(stored: &str, password: &str) -> bool {
    let cost_ok = stored
        .parse::<bcrypt::HashParts>()
        .is_ok_and(|parts| parts.get_cost() <= MAX_BCRYPT_COST);
    cost_ok && bcrypt::verify(password, stored).unwrap_or(false)
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
    async fn hashes_interoperate_with_the_argon2_crates_own_api() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        let by_crate = CHEAP
            .argon2()
            .unwrap()
            .hash_password(b"pw", &salt)
            .unwrap()
            .to_string();

        let ours = hasher.hash(&password("pw")).await.unwrap();

        let verified = hasher
            .verify(&password("pw"), Some(&by_crate))
            .await
            .unwrap();
        assert_eq!(verified, Verification::Valid { rehash: false });
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(
            Argon2::default()
                .verify_password(b"other", &parsed)
                .is_err()
        );
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
        assert_eq!(
            hasher
                .verify(&password("!"), Some(NO_PASSWORD))
                .await
                .unwrap(),
            Verification::Invalid,
            "no password matches a user who has none"
        );
    }

    #[test]
    fn imported_hashes_are_accepted_by_kind_and_refused_with_a_reason() {
        let bcrypt = "$2b$04$xAH9v/YU1R6uL1L.h2rPAutf6rcgWaKwFevhiQXvZtCcYEr3WF8G6";
        let argon = "$argon2id$v=19$m=65536,t=3,p=4$VnXJoaSL9oy4IAf8KjLBnQ$8lCRIF6wxp0RJ+rSLvEy+TB2euislFASVz1+CsN6ONw";

        for (hash, expected) in [
            (bcrypt.to_owned(), Ok(HashFormat::Bcrypt)),
            (bcrypt.replace("$2b$", "$2a$"), Ok(HashFormat::Bcrypt)),
            (bcrypt.replace("$2b$", "$2y$"), Ok(HashFormat::Bcrypt)),
            (bcrypt.replace("$04$", "$14$"), Ok(HashFormat::Bcrypt)),
            (argon.to_owned(), Ok(HashFormat::Argon2)),
            (
                bcrypt.replace("$2b$", "$2x$"),
                Err(HashFormatError::Unknown),
            ),
            (
                bcrypt.replace("$04$", "$15$"),
                Err(HashFormatError::BcryptCost(15)),
            ),
            (
                bcrypt.replace("$04$", "$03$"),
                Err(HashFormatError::BcryptCost(3)),
            ),
            (
                bcrypt[..40].to_owned(),
                Err(HashFormatError::MalformedBcrypt),
            ),
            (
                "5f4dcc3b5aa765d61d8327deb882cf99".to_owned(),
                Err(HashFormatError::Unknown),
            ),
            ("".to_owned(), Err(HashFormatError::Unknown)),
            (
                argon.replace("m=65536", "m=1048576"),
                Err(HashFormatError::Argon2Cost),
            ),
            (
                argon.replace("t=3", "t=99"),
                Err(HashFormatError::Argon2Cost),
            ),
            (
                argon.replace("v=19", "v=16"),
                Err(HashFormatError::MalformedArgon2),
            ),
            (
                argon.replace("argon2id", "argon2x"),
                Err(HashFormatError::MalformedArgon2),
            ),
            (
                argon.rsplit_once('$').unwrap().0.to_owned(),
                Err(HashFormatError::MalformedArgon2),
            ),
        ] {
            assert_eq!(check_imported_hash(&hash), expected, "{hash}");
        }
    }

    #[tokio::test]
    async fn a_bcrypt_hash_verifies_and_asks_to_become_argon2id() {
        let hasher = PasswordHasher::new(CHEAP, 1).unwrap();
        let stored = bcrypt::hash("old service password", 4).unwrap();
        let php = stored.replacen("$2b$", "$2y$", 1);

        let right = hasher
            .verify(&password("old service password"), Some(&stored))
            .await
            .unwrap();
        let wrong = hasher
            .verify(&password("old service passworD"), Some(&stored))
            .await
            .unwrap();
        let prefixed = hasher
            .verify(&password("old service password"), Some(&php))
            .await
            .unwrap();

        assert_eq!(right, Verification::Valid { rehash: true });
        assert_eq!(wrong, Verification::Invalid);
        assert_eq!(prefixed, Verification::Valid { rehash: true });
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
