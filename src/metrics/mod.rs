//! Prometheus metrics: what `GET /metrics` exposes, counted by the layers that know.
//!
//! One `Metrics` per server (never a global registry, so tests in one process stay apart).
//! Counters are lock-free increments on the request path; gauges that describe state (the key
//! ring, the password-hash queue) are set when the metrics are rendered. The only module that
//! imports `prometheus_client`.

use std::sync::{Arc, Mutex};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

mod events;
mod limit;

pub use limit::Limit;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcMethodLabels {
    method: &'static str,
}

/// Buckets of the gRPC latency histogram, in seconds: from a cached machine token (well under
/// a millisecond) to a login queued behind the password hasher.
const RPC_LATENCY_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MailLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    kid: String,
    state: &'static str,
}

/// The password-hash queue at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct HashLoad {
    /// Hashes being computed.
    pub running: usize,
    /// Hashes waiting for a free hashing thread.
    pub waiting: usize,
    /// Hashes and verifications computed since start.
    pub computed: u64,
}

/// The server's metrics; cheap to clone.
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    rpcs: Family<RpcLabels, Counter>,
    rpc_latency: Family<RpcMethodLabels, Histogram, fn() -> Histogram>,
    tokens: Family<GrantLabels, Counter>,
    failed_logins: Counter,
    unparsable_hops: Counter,
    rejections: Family<LimitLabels, Counter>,
    keys: Family<KeyLabels, Gauge>,
    hashes_running: Gauge,
    hashes_waiting: Gauge,
    hashes_computed: Counter,
    events: events::EventMetrics,
    mail_sent: Family<MailLabels, Counter>,
    mail_failures: Counter,
    mail_dead_letters: Family<MailLabels, Counter>,
    mail_pending: Gauge,
    mail_dead: Gauge,
    /// Serialises renders, which bring the state-derived values up to date.
    rendering: Mutex<()>,
}

impl Inner {
    /// Registers the metrics of requests, calls and issued tokens.
    fn register_traffic(&self, registry: &mut Registry) {
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            self.requests.clone(),
        );
        registry.register(
            "grpc_requests",
            "gRPC calls by method and status code",
            self.rpcs.clone(),
        );
        registry.register(
            "grpc_request_duration_seconds",
            "gRPC call latency by method",
            self.rpc_latency.clone(),
        );
        registry.register(
            "tokens_issued",
            "Tokens issued by grant type",
            self.tokens.clone(),
        );
    }

    /// Registers the metrics of refused logins, limits and proxies.
    fn register_guards(&self, registry: &mut Registry) {
        registry.register(
            "failed_logins",
            "Password logins refused for bad credentials",
            self.failed_logins.clone(),
        );
        registry.register(
            "forwarded_for_unparsable",
            "Requests from a trusted proxy whose X-Forwarded-For chain held an entry that is no \
             address (the proxy's own address was used for the limits)",
            self.unparsable_hops.clone(),
        );
        registry.register(
            "rate_limit_rejections",
            "Requests answered 429, by limit",
            self.rejections.clone(),
        );
    }

    /// Registers the metrics of signing keys and password hashing.
    fn register_keys_and_hashing(&self, registry: &mut Registry) {
        registry.register(
            "signing_keys",
            "Published signing keys (1 per kid and state)",
            self.keys.clone(),
        );
        registry.register(
            "password_hashes_running",
            "argon2id hashes being computed",
            self.hashes_running.clone(),
        );
        registry.register(
            "password_hashes_waiting",
            "argon2id hashes waiting for a hashing thread",
            self.hashes_waiting.clone(),
        );
        registry.register(
            "password_hashes",
            "argon2id hashes and verifications computed",
            self.hashes_computed.clone(),
        );
    }

    /// Registers the metrics of the mail relay.
    fn register_mail(&self, registry: &mut Registry) {
        registry.register(
            "mail_sent",
            "Mails accepted by the SMTP server, by kind",
            self.mail_sent.clone(),
        );
        registry.register(
            "mail_send_failures",
            "Mail delivery attempts that failed (retried, or given up)",
            self.mail_failures.clone(),
        );
        registry.register(
            "mail_dead_letters",
            "Mails given up after the last attempt or a permanent refusal, by kind",
            self.mail_dead_letters.clone(),
        );
        registry.register(
            "mail_pending",
            "Mails queued and not yet sent",
            self.mail_pending.clone(),
        );
        registry.register(
            "mail_dead",
            "Given-up mails kept in the queue table (until pruned)",
            self.mail_dead.clone(),
        );
    }
}

impl Metrics {
    /// A fresh registry with every sigil metric, all at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("sigil");
        let inner = Inner {
            requests: Family::default(),
            rpcs: Family::default(),
            rpc_latency: Family::new_with_constructor(|| {
                Histogram::new(RPC_LATENCY_BUCKETS.iter().copied())
            }),
            tokens: Family::default(),
            failed_logins: Counter::default(),
            unparsable_hops: Counter::default(),
            rejections: Family::default(),
            keys: Family::default(),
            hashes_running: Gauge::default(),
            hashes_waiting: Gauge::default(),
            hashes_computed: Counter::default(),
            events: events::EventMetrics::default(),
            mail_sent: Family::default(),
            mail_failures: Counter::default(),
            mail_dead_letters: Family::default(),
            mail_pending: Gauge::default(),
            mail_dead: Gauge::default(),
            rendering: Mutex::new(()),
            registry: Registry::default(),
        };
        inner.register_traffic(&mut registry);
        inner.register_guards(&mut registry);
        inner.register_keys_and_hashing(&mut registry);
        inner.events.register(&mut registry);
        inner.register_mail(&mut registry);
        Self(Arc::new(Inner { registry, ..inner }))
    }

    /// Counts one mail of `kind` accepted by the SMTP server.
    pub fn mail_sent(&self, kind: &'static str) {
        self.0.mail_sent.get_or_create(&MailLabels { kind }).inc();
    }

    /// Counts one failed delivery attempt.
    pub fn mail_send_failed(&self) {
        self.0.mail_failures.inc();
    }

    /// Counts one mail of `kind` given up.
    pub fn mail_dead_letter(&self, kind: &'static str) {
        self.0
            .mail_dead_letters
            .get_or_create(&MailLabels { kind })
            .inc();
    }

    /// Sets the mail queue: mails pending, and given-up mails still in the table.
    pub fn mail_backlog(&self, pending: i64, dead: i64) {
        self.0.mail_pending.set(pending);
        self.0.mail_dead.set(dead);
    }

    /// Counts one answered request; `route` is the matched route template.
    pub fn request(&self, route: &str, status: u16) {
        let labels = RequestLabels {
            route: route.to_owned(),
            status,
        };
        self.0.requests.get_or_create(&labels).inc();
    }

    /// Counts one answered gRPC call by method and status code, and its latency.
    pub fn rpc(&self, method: &'static str, code: &'static str, seconds: f64) {
        self.0.rpcs.get_or_create(&RpcLabels { method, code }).inc();
        self.0
            .rpc_latency
            .get_or_create(&RpcMethodLabels { method })
            .observe(seconds);
    }

    /// Counts one successful token response.
    pub fn token_issued(&self, grant_type: &'static str) {
        self.0
            .tokens
            .get_or_create(&GrantLabels { grant_type })
            .inc();
    }

    /// Counts one login refused for bad credentials.
    pub fn failed_login(&self) {
        self.0.failed_logins.inc();
    }

    /// Counts one request whose forwarded chain held an entry that is no address.
    pub fn unparsable_forwarded_hop(&self) {
        self.0.unparsable_hops.inc();
    }

    /// Counts one request turned away by `limit`.
    pub fn rejected(&self, limit: Limit) {
        let labels = LimitLabels {
            limit: limit.label(),
        };
        self.0.rejections.get_or_create(&labels).inc();
    }

    /// The text exposition (format 0.0.4 / OpenMetrics text) with the key ring and the
    /// hash queue as they are now.
    pub fn render(&self, keys: &[(String, &'static str)], hashing: HashLoad) -> String {
        let _rendering = self
            .0
            .rendering
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let counted = self.0.hashes_computed.get();
        self.0
            .hashes_computed
            .inc_by(hashing.computed.saturating_sub(counted));
        self.0.keys.clear();
        for (kid, state) in keys {
            let labels = KeyLabels {
                kid: kid.clone(),
                state,
            };
            self.0.keys.get_or_create(&labels).set(1);
        }
        self.0.hashes_running.set(gauge(hashing.running));
        self.0.hashes_waiting.set(gauge(hashing.waiting));
        let mut text = String::new();
        // OK because writing into a String cannot fail.
        encode(&mut text, &self.0.registry).expect("encoding into a String");
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn gauge(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_text_has_every_metric_with_its_labels() {
        let metrics = Metrics::new();
        metrics.request("/token", 200);
        metrics.request("/token", 200);
        metrics.token_issued("password");
        metrics.failed_login();
        metrics.rejected(Limit::LoginIp);

        let text = metrics.render(
            &[("k1".into(), "current"), ("k2".into(), "next")],
            HashLoad {
                running: 2,
                waiting: 5,
                computed: 7,
            },
        );

        for line in [
            "sigil_http_requests_total{route=\"/token\",status=\"200\"} 2",
            "sigil_password_hashes_total 7",
            "sigil_tokens_issued_total{grant_type=\"password\"} 1",
            "sigil_failed_logins_total 1",
            "sigil_rate_limit_rejections_total{limit=\"login_ip\"} 1",
            "sigil_signing_keys{kid=\"k1\",state=\"current\"} 1",
            "sigil_password_hashes_running 2",
            "sigil_password_hashes_waiting 5",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn key_gauges_follow_the_ring() {
        let metrics = Metrics::new();
        metrics.render(&[("old".into(), "current")], HashLoad::default());

        let text = metrics.render(&[("new".into(), "current")], HashLoad::default());

        assert!(
            !text.contains("kid=\"old\""),
            "a key that left the ring is gone"
        );
        assert!(text.contains("kid=\"new\""));
    }
}
