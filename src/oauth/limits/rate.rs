//! The per-client `/token` rate: a governor limiter keyed by client (and by IP for a public
//! client), on the server's clock.

use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::RateLimiter;
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;

use crate::clock::Clock;
use crate::domain::ClientId;

/// Who is charged for a `/token` request: the client, and for a public client (whose id
/// anyone can send) the client from one IP, so junk sent with its id drains no one else's
/// allowance.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(in crate::oauth) struct RateKey {
    client: ClientId,
    ip: Option<IpAddr>,
}

impl RateKey {
    pub(in crate::oauth) fn new(client: &ClientId, public: bool, ip: Option<IpAddr>) -> Self {
        Self {
            client: client.clone(),
            ip: ip.filter(|_| public),
        }
    }
}

/// The per-client `/token` rate limiter.
pub(super) type ClientLimiter =
    RateLimiter<RateKey, DefaultKeyedStateStore<RateKey>, RateClock, NoOpMiddleware<Duration>>;

/// The rate limiter's time: monotonic time since start, or under a manual server clock (tests)
/// that clock's time, so a test moves the limiter's time as it moves everything else's.
#[derive(Debug, Clone)]
pub(super) struct RateClock {
    clock: Clock,
    started: std::time::Instant,
    epoch: DateTime<Utc>,
}

impl RateClock {
    pub(super) fn new(clock: Clock) -> Self {
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
