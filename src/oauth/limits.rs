//! Brute-force protection for the password grant (RFC 6749 §4.3.2 makes it a MUST) and a
//! per-client request rate on `/token`.
//!
//! Failed logins are counted per username and per client IP in fixed windows that start at
//! the first failure. Once either count reaches its limit, logins for that username or from
//! that IP are refused with a retry time until the window ends, without spending an argon2
//! hash on them. Unknown usernames are counted like known ones, so the limit reveals nothing
//! about which accounts exist. A successful login clears its username's count. Counts live in
//! memory, per instance (several instances multiply the allowance by their number).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use moka::sync::Cache;

use super::Error;
use crate::domain::ClientId;
use crate::metrics::{Limit, Metrics};

/// Distinct usernames and IPs tracked at once; beyond that the least used are forgotten.
const TRACKED_KEYS: u64 = 100_000;
/// Usernames are counted by their first 256 characters, bounding memory per entry.
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
    /// `/token` requests per second per client (also the burst); `None` for no limit.
    pub client_rate: Option<NonZeroU32>,
}

/// Failures in the current window.
#[derive(Debug)]
struct Failures {
    since: DateTime<Utc>,
    count: u32,
}

type Counts<K> = Cache<K, Arc<Mutex<Failures>>>;

/// The limiters of one server; cheap to clone.
#[derive(Clone)]
pub(super) struct Limits {
    settings: LimitSettings,
    by_username: Counts<String>,
    by_ip: Counts<IpAddr>,
    clients: Option<Arc<DefaultKeyedRateLimiter<ClientId>>>,
    metrics: Metrics,
}

impl Limits {
    pub(super) fn new(settings: LimitSettings, metrics: Metrics) -> Self {
        Self {
            settings,
            by_username: counts(settings.login_window),
            by_ip: counts(settings.login_window),
            clients: settings
                .client_rate
                .map(|rate| Arc::new(DefaultKeyedRateLimiter::keyed(Quota::per_second(rate)))),
            metrics,
        }
    }

    /// Refuses a login attempt while its username or IP is over its failure limit.
    pub(super) fn check_login(
        &self,
        username: &str,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let limit = self.settings.login_failures_per_user;
        if let Some(wait) = blocked(
            &self.by_username,
            &username_key(username),
            limit,
            self.window(),
            now,
        ) {
            self.metrics.rejected(Limit::LoginUsername);
            return Err(Error::TooManyRequests(wait));
        }
        let limit = self.settings.login_failures_per_ip;
        if let Some(ip) = ip
            && let Some(wait) = blocked(&self.by_ip, &ip, limit, self.window(), now)
        {
            self.metrics.rejected(Limit::LoginIp);
            return Err(Error::TooManyRequests(wait));
        }
        Ok(())
    }

    /// Counts a failed login against its username and IP.
    pub(super) fn record_failure(&self, username: &str, ip: Option<IpAddr>, now: DateTime<Utc>) {
        self.metrics.failed_login();
        count(
            &self.by_username,
            username_key(username),
            self.window(),
            now,
        );
        if let Some(ip) = ip {
            count(&self.by_ip, ip, self.window(), now);
        }
    }

    /// A successful login clears its username's failures (not its IP's).
    pub(super) fn record_success(&self, username: &str) {
        self.by_username.invalidate(&username_key(username));
    }

    /// Refuses a client's request beyond its rate.
    pub(super) fn check_client(&self, client: &ClientId) -> Result<(), Error> {
        let Some(limiter) = &self.clients else {
            return Ok(());
        };
        limiter.check_key(client).map_err(|not_until| {
            self.metrics.rejected(Limit::ClientRate);
            Error::TooManyRequests(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    fn window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.settings.login_window).unwrap_or(chrono::Duration::MAX)
    }
}

fn counts<K>(window: Duration) -> Counts<K>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(TRACKED_KEYS)
        .time_to_live(window)
        .build()
}

/// Failures are counted case-insensitively, as logins match usernames.
fn username_key(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(MAX_KEY_CHARS)
        .collect::<String>()
        .to_lowercase()
}

/// How long `key` stays blocked, if it has reached `limit` failures in its current window.
fn blocked<K>(
    counts: &Counts<K>,
    key: &K,
    limit: u32,
    window: chrono::Duration,
    now: DateTime<Utc>,
) -> Option<Duration>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    if limit == 0 {
        return None;
    }
    let entry = counts.get(key)?;
    let failures = entry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let ends = failures.since + window;
    (failures.count >= limit && now < ends).then(|| (ends - now).to_std().unwrap_or_default())
}

fn count<K>(counts: &Counts<K>, key: K, window: chrono::Duration, now: DateTime<Utc>)
where
    K: std::hash::Hash + Eq + Send + Sync + Clone + 'static,
{
    let entry = counts.get_with(key, || {
        Arc::new(Mutex::new(Failures {
            since: now,
            count: 0,
        }))
    });
    let mut failures = entry
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if now >= failures.since + window {
        *failures = Failures {
            since: now,
            count: 0,
        };
    }
    failures.count = failures.count.saturating_add(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_user: u32, per_ip: u32) -> Limits {
        let settings = LimitSettings {
            login_failures_per_user: per_user,
            login_failures_per_ip: per_ip,
            login_window: Duration::from_secs(900),
            client_rate: NonZeroU32::new(2),
        };
        Limits::new(settings, Metrics::new())
    }

    fn retry_after(result: Result<(), Error>) -> Option<Duration> {
        match result {
            Ok(()) => None,
            Err(Error::TooManyRequests(wait)) => Some(wait),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn username_is_blocked_after_its_limit_until_the_window_ends() {
        let limits = limits(3, 0);
        let start = Utc::now();
        for _ in 0..3 {
            assert!(limits.check_login("a@example.com", None, start).is_ok());
            limits.record_failure("a@example.com", None, start);
        }

        let wait = retry_after(limits.check_login(
            "A@Example.com ",
            None,
            start + chrono::Duration::seconds(60),
        ));

        assert_eq!(
            wait,
            Some(Duration::from_secs(840)),
            "blocked case-insensitively, 14 min left"
        );
        assert!(
            limits.check_login("b@example.com", None, start).is_ok(),
            "other users unaffected"
        );
        let after = start + chrono::Duration::seconds(900);
        assert!(
            limits.check_login("a@example.com", None, after).is_ok(),
            "window over"
        );
    }

    #[test]
    fn ip_is_blocked_across_usernames() {
        let limits = limits(0, 2);
        let (ip, other): (IpAddr, IpAddr) = (
            "198.51.100.7".parse().unwrap(),
            "198.51.100.8".parse().unwrap(),
        );
        let now = Utc::now();
        limits.record_failure("a@example.com", Some(ip), now);
        limits.record_failure("b@example.com", Some(ip), now);

        assert!(retry_after(limits.check_login("c@example.com", Some(ip), now)).is_some());
        assert!(
            limits
                .check_login("c@example.com", Some(other), now)
                .is_ok()
        );
    }

    #[test]
    fn success_clears_the_username_count() {
        let limits = limits(2, 0);
        let now = Utc::now();
        limits.record_failure("a@example.com", None, now);
        limits.record_success("a@example.com");
        limits.record_failure("a@example.com", None, now);

        assert!(limits.check_login("a@example.com", None, now).is_ok());
    }

    #[test]
    fn client_rate_refuses_beyond_the_burst_per_client() {
        let limits = limits(0, 0);
        let (a, b) = (ClientId::parse("a").unwrap(), ClientId::parse("b").unwrap());

        let results: Vec<_> = (0..3).map(|_| limits.check_client(&a).is_ok()).collect();

        assert_eq!(results, [true, true, false]);
        assert!(limits.check_client(&b).is_ok(), "limits are per client");
    }
}
