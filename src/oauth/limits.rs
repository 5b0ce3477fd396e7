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

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::Clock as _;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use moka::ops::compute::Op;
use moka::sync::Cache;
use sha2::{Digest as _, Sha256};

use super::Error;
use super::maintenance::{BATCH, drain};
use crate::clock::Clock;
use crate::domain::ClientId;
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

/// The slots a login attempt holds while its password is checked.
#[derive(Debug)]
pub(super) struct LoginClaim {
    username: Option<Slot>,
    ip: Option<Slot>,
}

/// Who is charged for a `/token` request: the client, and for a public client (whose id
/// anyone can send) the client from one IP, so junk sent with its id drains no one else's
/// allowance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct RateKey {
    client: ClientId,
    ip: Option<IpAddr>,
}

impl RateKey {
    pub(super) fn new(client: &ClientId, public: bool, ip: Option<IpAddr>) -> Self {
        Self {
            client: client.clone(),
            ip: ip.filter(|_| public),
        }
    }
}

/// The per-client `/token` rate limiter.
type ClientLimiter =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, RateClock, NoOpMiddleware<Duration>>;

/// The rate limiter's time: monotonic time since start, or under a manual server clock (tests)
/// that clock's time, so a test moves the limiter's time as it moves everything else's.
#[derive(Debug, Clone)]
struct RateClock {
    clock: Clock,
    started: std::time::Instant,
    epoch: DateTime<Utc>,
}

impl RateClock {
    fn new(clock: Clock) -> Self {
        Self {
            epoch: clock.now(),
            started: std::time::Instant::now(),
            clock,
        }
    }
}

impl governor::clock::Clock for RateClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        match self.clock.is_manual() {
            true => (self.clock.now() - self.epoch).to_std().unwrap_or_default(),
            false => self.started.elapsed(),
        }
    }
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

    /// Claims a failed-login slot for the username and the IP before the password is
    /// checked; `429` when either has none left.
    pub(super) async fn claim_login(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<LoginClaim, Error> {
        let username_claim = Claim {
            limit: Limit::LoginUsername,
            key: username_key(username),
            max: self.settings.login_failures_per_user,
        };
        let ip_claim = ip.map(|ip| Claim {
            limit: Limit::LoginIp,
            key: self.ip_key("login", ip),
            max: self.settings.login_failures_per_ip,
        });
        let claims: Vec<Claim> = [Some(username_claim), ip_claim]
            .into_iter()
            .flatten()
            .filter(|claim| claim.max > 0)
            .collect();
        let slots = self.claim(&claims, self.settings.login_window, now).await?;
        let slot_of = |limit| {
            claims
                .iter()
                .zip(&slots)
                .find(|(claim, _)| claim.limit == limit)
                .map(|(_, slot)| *slot)
        };
        Ok(LoginClaim {
            username: slot_of(Limit::LoginUsername),
            ip: slot_of(Limit::LoginIp),
        })
    }

    /// Bad credentials: the attempt keeps its slots as failures. Returns the limits this
    /// failure used up (`username`, `ip`): a lockout begins.
    pub(super) fn login_failed(&self, claim: LoginClaim) -> Vec<&'static str> {
        self.metrics.failed_login();
        [("username", claim.username), ("ip", claim.ip)]
            .into_iter()
            .filter(|(_, slot)| slot.is_some_and(|slot| slot.last))
            .map(|(limit, _)| limit)
            .collect()
    }

    /// A successful login clears its username's failures and gives its IP slot back.
    pub(super) async fn login_succeeded(&self, claim: LoginClaim) {
        match (&self.counters, &claim.username) {
            (Counters::Shared(store), Some(username)) => {
                let ip = claim.ip.as_ref().map(|slot| (&slot.key, slot.window_start));
                if let Err(error) = store.settle_counters(&username.key, ip).await {
                    tracing::warn!(%error, "cannot clear a login counter");
                }
                return;
            }
            (Counters::Memory(cache), Some(username)) => cache.invalidate(&username.key),
            (_, None) => {}
        }
        if let Some(slot) = claim.ip {
            self.release(slot).await;
        }
    }

    /// The attempt ended without a verdict on the credentials (an internal error): it
    /// gives every slot back.
    pub(super) async fn login_abandoned(&self, claim: LoginClaim) {
        for slot in [claim.username, claim.ip].into_iter().flatten() {
            self.release(slot).await;
        }
    }

    /// Claims a registration slot for the IP and in total; `429` when either has none.
    /// Every attempt counts, whatever its outcome.
    pub(super) async fn claim_registration(
        &self,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let per_ip = ip.map(|ip| Claim {
            limit: Limit::RegistrationIp,
            key: self.ip_key("register", ip),
            max: self.settings.registrations_per_ip,
        });
        let total = Claim {
            limit: Limit::RegistrationTotal,
            key: counter_key("register-total", b""),
            max: self.settings.registrations_total,
        };
        let claims: Vec<Claim> = [per_ip, Some(total)]
            .into_iter()
            .flatten()
            .filter(|claim| claim.max > 0)
            .collect();
        self.claim(&claims, self.settings.registration_window, now)
            .await?;
        Ok(())
    }

    /// Claims a mail-request slot for the IP and, when an address is named, for that
    /// address from the requester's network; `429` when either has none. Every request
    /// counts, whatever the address, so the answer is the same for addresses nobody has.
    /// Then the address's share from everyone: `false` (send nothing, answer as usual) once
    /// that is spent.
    pub(super) async fn claim_mail_request(
        &self,
        email: Option<&str>,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let address = email.map(|email| normalized_key_text(email).to_lowercase());
        let requester = ip
            .map(|ip| self.network(ip).to_string())
            .unwrap_or_default();
        let per_email = address.as_ref().map(|address| Claim {
            limit: Limit::MailEmail,
            key: counter_key("mail-email", format!("{address}\0{requester}").as_bytes()),
            max: self.settings.mail_per_email,
        });
        let per_ip = ip.map(|ip| Claim {
            limit: Limit::MailIp,
            key: self.ip_key("mail", ip),
            max: self.settings.mail_per_ip,
        });
        let claims: Vec<Claim> = [per_email, per_ip]
            .into_iter()
            .flatten()
            .filter(|claim| claim.max > 0)
            .collect();
        let window = self.settings.mail_window;
        self.claim(&claims, window, now).await?;
        let Some(address) = address.filter(|_| self.settings.mail_per_email_total > 0) else {
            return Ok(true);
        };
        let total = Claim {
            limit: Limit::MailEmailTotal,
            key: counter_key("mail-email-total", address.as_bytes()),
            max: self.settings.mail_per_email_total,
        };
        match self.claim(&[total], window, now).await {
            Ok(_) => Ok(true),
            Err(Error::TooManyRequests(_)) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The counter key of `ip` for `kind`: IPv4 by address, IPv6 by its network.
    fn ip_key(&self, kind: &str, ip: IpAddr) -> Key {
        counter_key(kind, self.network(ip).to_string().as_bytes())
    }

    /// What one client is for the per-IP counters: an IPv4 address, or the IPv6 network of
    /// `ipv6_prefix` bits around an IPv6 address.
    fn network(&self, ip: IpAddr) -> ipnet::IpNet {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ipnet::IpNet::from(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = self.settings.ipv6_prefix.min(128);
                ipnet::Ipv6Net::new(v6, prefix)
                    .map(|net| ipnet::IpNet::V6(net.trunc()))
                    .unwrap_or_else(|_| ipnet::IpNet::from(IpAddr::V6(v6)))
            }
        }
    }

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

/// Usernames are counted case-insensitively, as logins match them.
fn username_key(username: &str) -> Key {
    counter_key(
        "login-username",
        normalized_key_text(username).to_lowercase().as_bytes(),
    )
}

/// What a counter keyed by typed text counts: the text trimmed, at most `MAX_KEY_CHARS`.
fn normalized_key_text(text: &str) -> String {
    text.trim().chars().take(MAX_KEY_CHARS).collect()
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
            key: username_key("a@example.com"),
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

    fn limits(ipv6_prefix: u8) -> Limits {
        let settings = LimitSettings {
            login_failures_per_user: 1,
            login_failures_per_ip: 1,
            login_window: Duration::from_secs(60),
            shared: false,
            registrations_per_ip: 1,
            registrations_total: 1,
            registration_window: Duration::from_secs(60),
            mail_per_email: 1,
            mail_per_email_total: 1,
            mail_per_ip: 1,
            mail_window: Duration::from_secs(60),
            client_rate: None,
            ipv6_prefix,
        };
        Limits {
            settings,
            counters: Counters::Memory(cache()),
            clients: None,
            metrics: Metrics::new(),
        }
    }

    #[test]
    fn usernames_are_counted_case_insensitively_and_ips_canonically() {
        let limits = limits(64);
        assert_eq!(
            username_key("A@Example.com "),
            username_key("a@example.com")
        );
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap();
        let plain: IpAddr = "198.51.100.7".parse().unwrap();
        let neighbour: IpAddr = "198.51.100.8".parse().unwrap();
        assert_eq!(
            limits.ip_key("login", mapped),
            limits.ip_key("login", plain)
        );
        assert_ne!(
            limits.ip_key("login", plain),
            limits.ip_key("register", plain)
        );
        assert_ne!(
            limits.ip_key("login", plain),
            limits.ip_key("login", neighbour)
        );
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_network() {
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        let (by_64, by_128) = (limits(64), limits(128));

        let same = [ip("2001:db8:1:2::1"), ip("2001:db8:1:2:ffff:0:0:9")];
        let next = ip("2001:db8:1:3::1");

        assert_eq!(
            by_64.ip_key("login", same[0]),
            by_64.ip_key("login", same[1])
        );
        assert_ne!(by_64.ip_key("login", same[0]), by_64.ip_key("login", next));
        assert_ne!(
            by_128.ip_key("login", same[0]),
            by_128.ip_key("login", same[1])
        );
    }
}
