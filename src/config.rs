//! Typed configuration, built once from the parsed flags (`cli::settings`) and passed down.
//!
//! Every check names the flag it concerns, so a bad setting fails at start with one line.
//! No config file, no globals.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::clock::Clock;
use crate::domain::{EventSink, SigningAlgorithm};
use crate::hooks::Hooks;
use crate::keys::{KeySettings, RotationPolicy};
use crate::listen::ConnectionLimits;
use crate::oauth::{Bootstrap, LimitSettings};
use crate::password::{HashParams, PasswordHasher};
use crate::shutdown::ShutdownSettings;

/// Everything `serve` needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Socket address to bind. Default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Socket address of the gRPC listener; `None` (`off`) serves no gRPC. Default
    /// `127.0.0.1:50051`.
    pub grpc_listen: Option<SocketAddr>,
    /// Where `/healthz`, `/readyz` and `/metrics` are served instead of the public port;
    /// `None` (the default) serves them on the public port.
    pub management_listen: Option<SocketAddr>,
    /// How a stop unfolds: readiness off, new connections for `delay` (default 0 s), then
    /// `grace` (default 20 s) for what is in flight.
    pub shutdown: ShutdownSettings,
    /// Issuer URL, exactly as configured (the `iss` claim). Default `http://<listen>`.
    pub issuer: String,
    /// `aud` for clients without their own. Default: the issuer.
    pub default_audience: String,
    /// Lifetime of cached client lookups. Default 30 seconds.
    pub client_cache_ttl: Duration,
    /// Per-request time limit. Default 10 seconds.
    pub request_timeout: Duration,
    /// Header-read timeout (default 10 s), idle timeout (default 60 s) and the cap on open
    /// connections (default 10,000).
    pub connections: ConnectionLimits,
    /// Absolute lifetime of a login session (refresh family). Default 7 days.
    pub refresh_token_ttl: Duration,
    /// Reuse grace for consumed refresh tokens. Default 0 (strict).
    pub refresh_grace: Duration,
    /// Whether `POST /register` is open. Default true.
    pub registration: bool,
    /// Whether the password grant refuses users with an unverified email. Default false.
    pub require_verified_email: bool,
    /// How long audit rows are kept. Default 365 days.
    pub audit_retention: Duration,
    /// How often the maintenance task prunes what expired. Default 1 minute.
    pub maintenance_interval: Duration,
    /// Where events go; `None` (no `--nats-url`) writes no events.
    pub events: Option<EventConfig>,
    /// How mail is sent; `None` (no `--smtp-url`) sends none.
    pub mail: Option<MailConfig>,
    /// Password policy and hashing cost.
    pub passwords: PasswordConfig,
    /// Database, key encryption and key lifecycle.
    pub keys: KeyConfig,
    /// Failed-login limits (default 5 per username and 50 per IP in 15 minutes), the
    /// registration throttle (default 10 per IP and 1000 in total per hour) and the
    /// per-client `/token` rate (default 200 per second).
    pub limits: LimitSettings,
    /// Peers whose `X-Forwarded-For` names the client IP. Default none.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What to create on first start with an empty database.
    pub bootstrap: Bootstrap,
    /// Time source. The system clock except in tests.
    pub clock: Clock,
    /// Test seams; all unset in production.
    pub hooks: Hooks,
}

/// Password policy and argon2id cost (shared by `serve` and `user create`).
#[derive(Debug, Clone, Copy)]
pub struct PasswordConfig {
    /// Minimum length of a new password, in characters. Default 8.
    pub min_length: usize,
    /// argon2id parameters. Default OWASP: m = 19456 KiB, t = 2, p = 1.
    pub hash_params: HashParams,
    /// Hashes computed at once. Default: the number of cores.
    pub hash_concurrency: usize,
}

impl PasswordConfig {
    /// A hasher with these parameters.
    pub fn hasher(&self) -> anyhow::Result<PasswordHasher> {
        PasswordHasher::new(self.hash_params, self.hash_concurrency)
    }
}

/// The database, the key-encryption key and the key lifecycle (shared by `serve` and `keys`).
#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// `sqlite://…` or `postgres://…`. Default `sqlite://sigil.db`.
    pub database_url: String,
    /// The event sinks configured (key transitions then write their events for them).
    pub event_sinks: Vec<EventSink>,
    /// Directory of the generated key-encryption key file. Default `keys`.
    pub keys_dir: PathBuf,
    /// Key-encryption key from the environment; when `None` the file in `keys_dir` is used.
    pub key_encryption_key: Option<SecretString>,
    /// Algorithm of newly generated keys. Default RS256.
    pub signing_algorithm: SigningAlgorithm,
    /// RSA modulus bits for RS256 keys. Default 2048.
    pub rsa_bits: u32,
    /// Access-token lifetime (the longest token a key signs). Default 15 minutes.
    pub access_token_ttl: Duration,
    /// `Cache-Control: max-age` of JWKS and discovery. Default 15 minutes.
    pub jwks_max_age: Duration,
    /// How long a key signs. Default 30 days.
    pub key_rotation: Duration,
    /// How often each instance checks and reloads the ring. Default 1 minute.
    pub key_check_interval: Duration,
    /// Clock-skew margin before a retired key leaves the JWKS. Default 5 minutes.
    pub clock_skew: Duration,
}

impl KeyConfig {
    /// How new keys are made.
    pub fn key_settings(&self) -> KeySettings {
        KeySettings {
            algorithm: self.signing_algorithm,
            rsa_bits: self.rsa_bits,
        }
    }

    /// When transitions are due.
    pub fn rotation_policy(&self) -> RotationPolicy {
        RotationPolicy::new(
            self.key_rotation,
            self.jwks_max_age,
            self.key_check_interval,
            self.access_token_ttl,
            self.clock_skew,
        )
    }
}

/// Events: the brokers, the subject prefix and what is published.
#[derive(Debug, Clone)]
pub struct EventConfig {
    /// NATS JetStream, if configured.
    pub nats: Option<NatsConfig>,
    /// Apache Kafka, if configured.
    pub kafka: Option<KafkaConfig>,
    /// First token of event types and subjects. Default `auth`.
    pub subject_prefix: String,
    /// How long sent rows stay in the outbox. Default 7 days.
    pub retention: Duration,
    /// Whether client_credentials tokens write `token.issued`. Default false.
    pub client_credentials: bool,
    /// Where a user directory's events are read from, if anywhere.
    pub inbound_users: Option<InboundUsers>,
}

/// Where a directory's `user.created` / `.updated` / `.deleted` events come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundUsers {
    /// A NATS subject, read through a durable JetStream consumer (`sigil-users`).
    Nats(String),
    /// A Kafka topic, read in the consumer group `sigil`.
    Kafka(String),
}

impl EventConfig {
    /// The configured sinks, in `EventSink::ALL` order.
    pub fn sinks(&self) -> Vec<EventSink> {
        EventSink::configured(self.nats.is_some(), self.kafka.is_some())
    }
}

/// The NATS JetStream sink.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// Server URL(s), comma-separated.
    pub url: String,
    /// Credentials file, if any.
    pub creds: Option<PathBuf>,
}

/// The Apache Kafka sink.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap brokers, `host:port[,host:port]`.
    pub brokers: String,
    /// First part of every topic name (`<prefix>.user`). Default: the events prefix.
    pub topic_prefix: String,
    /// Partitions of a topic sigil creates; -1 (the default): the broker's default.
    pub partitions: i32,
    /// Replication factor of a topic sigil creates; -1 (the default): the broker's default.
    pub replication: i32,
}

/// Mail: the SMTP server and the sender.
#[derive(Debug, Clone)]
pub struct MailConfig {
    /// `smtp://` or `smtps://` URL, possibly with credentials (hence secret).
    pub smtp_url: SecretString,
    /// The `From` of every mail.
    pub from: String,
    /// Delivery attempts before a mail is given up. Default 15.
    pub max_attempts: u32,
}
