//! The claims each kind of attempt makes: failed logins (per username and IP),
//! registrations (per IP and in total), mail requests (per address and requester network,
//! per IP, and per address from everyone); and how a client IP becomes a counter key.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::{Claim, Counters, Key, Limits, MAX_KEY_CHARS, Slot, counter_key};
use crate::metrics::Limit;
use crate::oauth::Error;

/// The slots a login attempt holds while its password is checked.
#[derive(Debug)]
pub(in crate::oauth) struct LoginClaim {
    username: Option<Slot>,
    ip: Option<Slot>,
}

impl Limits {
    /// Claims a failed-login slot for the username and the IP before the password is
    /// checked; `429` when either has none left.
    pub(in crate::oauth) async fn claim_login(
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
    pub(in crate::oauth) fn login_failed(&self, claim: LoginClaim) -> Vec<&'static str> {
        self.metrics.failed_login();
        [("username", claim.username), ("ip", claim.ip)]
            .into_iter()
            .filter(|(_, slot)| slot.is_some_and(|slot| slot.last))
            .map(|(limit, _)| limit)
            .collect()
    }

    /// A successful login clears its username's failures and gives its IP slot back.
    pub(in crate::oauth) async fn login_succeeded(&self, claim: LoginClaim) {
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
    pub(in crate::oauth) async fn login_abandoned(&self, claim: LoginClaim) {
        for slot in [claim.username, claim.ip].into_iter().flatten() {
            self.release(slot).await;
        }
    }

    /// Claims a registration slot for the IP and in total; `429` when either has none.
    /// Every attempt counts, whatever its outcome.
    pub(in crate::oauth) async fn claim_registration(
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
    pub(in crate::oauth) async fn claim_mail_request(
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
    use std::time::Duration;

    use moka::sync::Cache;

    use super::*;
    use crate::metrics::Metrics;
    use crate::oauth::LimitSettings;

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
            counters: Counters::Memory(Cache::builder().max_capacity(100).build()),
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
