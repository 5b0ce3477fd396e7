//! Brute-force protection for the password grant (RFC 6749 §4.3.2 makes it a MUST), the
//! registration throttle, the mail-request throttle (per email address and per IP: nobody
//! floods a mailbox or sprays reset tokens), and a per-client request rate on `/token`.
//!
//! Failed logins are counted per username and per client IP, registrations per IP and in
//! total, each in a fixed window that starts with its first attempt. An attempt *claims* a
//! slot before any hash work, in one atomic step per counter: attempts in flight count, so
//! parallel requests cannot all pass a check made before any of them was counted. A refused
//! attempt gets `429` with the time left in the window and costs no argon2 hash. A failed
//! login keeps its slot; a successful one clears its username's counter and gives its IP slot
//! back. Unknown usernames are counted like known ones, so the limit reveals nothing about
//! which accounts exist. Counters are keyed by a SHA-256 of what they count.
//!
//! Where counters live: on PostgreSQL in the shared database (every instance sees the same
//! counts: N instances do not allow N times the guesses), on SQLite in this process's memory
//! (a SQLite file has one instance). The per-client `/token` rate always stays in memory, per
//! instance: it protects the instance, and a database round trip per client_credentials token
//! would cost more than it saves.
//!
//! Here: the settings, where counters live and the claim mechanics (claim all or none, give
//! back). `attempts.rs`: what each kind of attempt claims (logins, registrations, mail
//! requests) and how a client IP becomes a counter key. `rate.rs`: the per-client `/token`
//! rate. Imports nothing from the transports.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::Clock as _;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use moka::ops::compute::Op;
use moka::sync::Cache;
use sha2::{Digest as _, Sha256};

mod attempts;
mod rate;

pub(super) use rate::RateKey;
use rate::{ClientLimiter, RateClock};

use super::Error;
use super::maintenance::{BATCH, drain};
use crate::clock::Clock;
use crate::metrics::{Limit, Metrics};
use crate::store::{ClaimOutcome, CounterClaim, Store};

/// Distinct counters kept in memory at once; beyond that the least used are forgotten.
const TRACKED_KEYS: u64 = 100_000;
/// Usernames are counted by their first 256 characters.
const MAX_KEY_CHARS: usize = 256;

/// The limits, from `Config`.
#[derive(Debug, Clone, Copy)]
pub struct LimitSettings {
    /// Failed logins per username within `login_window`. 0 switches the limit off.
    pub login_failures_per_user: u32,
    /// Failed logins per client IP within `login_window`. 0 switches the limit off.
    pub login_failures_per_ip: u32,
    /// Length of a failure window.
    pub login_window: Duration,
    /// On PostgreSQL, count in the shared database (every instance sees one count).
    pub shared: bool,
    /// Registrations per client IP within `registration_window`. 0 switches it off.
    pub registrations_per_ip: u32,
    /// Registrations in total within `registration_window`. 0 switches it off.
    pub registrations_total: u32,
    /// Length of a registration window.
    pub registration_window: Duration,
    /// Mails asked for (resend, forgot) per email address from one requester network
    /// within `mail_window` (`429` beyond). 0: off.
    pub mail_per_email: u32,
    /// Mails asked for per email address from everyone within `mail_window`; beyond it the
    /// request is answered as usual but no mail is sent, so strangers cannot turn the
    /// owner's own request into an error. 0: off.
    pub mail_per_email_total: u32,
    /// Mail requests (resend, forgot, reset) per client IP within `mail_window`. 0: off.
    pub mail_per_ip: u32,
    /// Length of a mail-request window.
    pub mail_window: Duration,
    /// `/token` requests per second per client (also the burst); `None` for no limit.
    pub client_rate: Option<NonZeroU32>,
    /// Per-IP counters count an IPv6 client by its network of this prefix length (one host
    /// usually holds a whole /64); IPv4 clients by their address.
    pub ipv6_prefix: u8,
}

impl LimitSettings {
    /// Every limit off (the default windows kept, counters shared): for tests and for
    /// embedding sigil behind a gateway that limits itself.
    pub fn off() -> Self {
        Self {
            login_failures_per_user: 0,
            login_failures_per_ip: 0,
            login_window: Duration::from_secs(900),
            shared: true,
            registrations_per_ip: 0,
            registrations_total: 0,
            registration_window: Duration::from_secs(3600),
            mail_per_email: 0,
            mail_per_email_total: 0,
            mail_per_ip: 0,
            mail_window: Duration::from_secs(3600),
            client_rate: None,
            ipv6_prefix: 64,
        }
    }

    /// The longest window of any counter: how long a count must be remembered.
    fn longest_window(&self) -> Duration {
        self.login_window
            .max(self.registration_window)
            .max(self.mail_window)
    }
}

/// A counter's key: SHA-256 of what it counts.
type Key = [u8; 32];

/// A slot held by an attempt in flight.
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot {
    key: Key,
    window_start: DateTime<Utc>,
    /// This slot was the window's last: its failure locks the counter until the window ends.
    last: bool,
}

/// One window's count, in memory.
#[derive(Debug, Clone, Copy)]
struct Window {
    start: DateTime<Utc>,
    count: u32,
}

/// Where the attempt counters live.
#[derive(Clone)]
enum Counters {
    /// This process (one SQLite instance).
    Memory(Cache<Key, Window>),
    /// The shared database (PostgreSQL).
    Shared(Store),
}

/// The limiters of one server; cheap to clone.
#[derive(Clone)]
pub(super) struct Limits {
    settings: LimitSettings,
    counters: Counters,
    clients: Option<Arc<ClientLimiter>>,
    metrics: Metrics,
}

/// One counter an attempt claims.
struct Claim {
    limit: Limit,
    key: Key,
    max: u32,
}

impl Limits {
    pub(super) fn new(
        settings: LimitSettings,
        store: &Store,
        metrics: Metrics,
        clock: Clock,
    ) -> Self {
        let counters = if settings.shared && store.is_shared() {
            Counters::Shared(store.clone())
        } else {
            Counters::Memory(
                Cache::builder()
                    .max_capacity(TRACKED_KEYS)
                    .time_to_live(settings.longest_window())
                    .build(),
            )
        };
        Self {
            settings,
            counters,
            clients: settings.client_rate.map(|rate| {
                let clock = RateClock::new(clock.clone());
                Arc::new(RateLimiter::new(
                    Quota::per_second(rate),
                    DefaultKeyedStateStore::default(),
                    clock,
                ))
            }),
            metrics,
        }
    }

    // Login, registration and mail claims: attempts.rs.

    /// Refuses a client's `/token` request beyond its rate.
    pub(super) fn check_client(&self, key: &RateKey) -> Result<(), Error> {
        let Some(limiter) = &self.clients else {
            return Ok(());
        };
        limiter.check_key(key).map_err(|not_until| {
            self.metrics.rejected(Limit::ClientRate);
            Error::TooManyRequests(not_until.wait_time_from(limiter.clock().now()))
        })
    }

    /// Forgets what no window needs any more: expired shared counters, idle client buckets.
    pub(super) async fn prune(&self, now: DateTime<Utc>) -> Result<(), Error> {
        if let Some(limiter) = &self.clients {
            limiter.retain_recent();
        }
        match &self.counters {
            Counters::Memory(cache) => cache.run_pending_tasks(),
            Counters::Shared(store) => {
                let before = now - to_chrono(self.settings.longest_window());
                drain(|| store.prune_counters(before, BATCH)).await?;
            }
        }
        Ok(())
    }

    /// Claims one slot of each counter, all or none: when one is refused, the slots already
    /// taken are given back and the answer is `429` with the longest wait.
    async fn claim(
        &self,
        claims: &[Claim],
        window: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<Slot>, Error> {
        if claims.is_empty() {
            return Ok(Vec::new());
        }
        let window = to_chrono(window);
        let outcomes = match &self.counters {
            Counters::Memory(cache) => claims
                .iter()
                .map(|claim| claim_in_memory(cache, claim, window, now))
                .collect(),
            Counters::Shared(store) => {
                let shared: Vec<CounterClaim<'_>> = claims
                    .iter()
                    .map(|claim| CounterClaim {
                        key: &claim.key,
                        max_count: claim.max,
                    })
                    .collect();
                store.claim_counters(&shared, now, now - window).await?
            }
        };
        let slots: Vec<Slot> = claims
            .iter()
            .zip(&outcomes)
            .map(|(claim, outcome)| Slot {
                key: claim.key,
                window_start: outcome.window_start,
                last: outcome.count >= claim.max,
            })
            .collect();
        let refused = claims.iter().zip(&outcomes).filter(|(_, o)| !o.granted);
        let Some(wait) = refused
            .map(|(claim, outcome)| {
                self.metrics.rejected(claim.limit);
                (outcome.window_start + window - now)
                    .to_std()
                    .unwrap_or_default()
            })
            .max()
        else {
            return Ok(slots);
        };
        for (slot, outcome) in slots.iter().zip(&outcomes) {
            if outcome.granted {
                self.release(*slot).await;
            }
        }
        Err(Error::TooManyRequests(wait))
    }

    /// Gives a slot back. A failure is logged: the slot then counts as a failure, which
    /// errs on the safe side.
    async fn release(&self, slot: Slot) {
        match &self.counters {
            Counters::Memory(cache) => {
                cache.entry(slot.key).and_compute_with(|entry| match entry {
                    Some(entry)
                        if entry.value().start == slot.window_start && entry.value().count > 0 =>
                    {
                        let window = entry.into_value();
                        Op::Put(Window {
                            count: window.count - 1,
                            ..window
                        })
                    }
                    _ => Op::Nop,
                });
            }
            Counters::Shared(store) => {
                if let Err(error) = store.release_counter(&slot.key, slot.window_start).await {
                    tracing::warn!(%error, "cannot give a limit slot back");
                }
            }
        }
    }
}

/// The in-memory twin of `Store::claim_counters`, atomic per key.
fn claim_in_memory(
    cache: &Cache<Key, Window>,
    claim: &Claim,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> ClaimOutcome {
    let mut outcome = ClaimOutcome {
        granted: true,
        window_start: now,
        count: 1,
    };
    cache.entry(claim.key).and_compute_with(|entry| {
        let current = entry.map(|entry| entry.into_value());
        match current {
            Some(current) if now < current.start + window => {
                outcome.window_start = current.start;
                if current.count >= claim.max {
                    outcome.granted = false;
                    outcome.count = current.count;
                    return Op::Nop;
                }
                outcome.count = current.count + 1;
                Op::Put(Window {
                    count: current.count + 1,
                    ..current
                })
            }
            _ => Op::Put(Window {
                start: now,
                count: 1,
            }),
        }
    });
    outcome
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

fn counter_key(kind: &str, value: &[u8]) -> Key {
    let mut hasher = Sha256::new();
    hasher.update(kind.as_bytes());
    hasher.update([0]);
    hasher.update(value);
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> Cache<Key, Window> {
        Cache::builder().max_capacity(100).build()
    }

    fn claim(max: u32) -> Claim {
        Claim {
            limit: Limit::LoginUsername,
            key: counter_key("test", b"a@example.com"),
            max,
        }
    }

    #[test]
    fn a_window_grants_its_slots_then_refuses_until_it_ends() {
        let (cache, window) = (cache(), chrono::Duration::seconds(900));
        let start = Utc::now();

        let granted: Vec<bool> = (0..4)
            .map(|_| claim_in_memory(&cache, &claim(3), window, start).granted)
            .collect();
        let later = start + chrono::Duration::seconds(900);

        assert_eq!(granted, [true, true, true, false]);
        let refused = claim_in_memory(&cache, &claim(3), window, start);
        assert_eq!(refused.window_start, start, "the refusal names the window");
        assert!(claim_in_memory(&cache, &claim(3), window, later).granted);
    }
}
