//! The flags of `sigil serve` (turned into a `Config` by `config.rs`) and the groups of flags
//! it shares with other subcommands (keys and the database, passwords, limits, mail,
//! events, the first-start bootstrap).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::DatabaseArgs;

/// Flags of `sigil serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Address to listen on.
    #[arg(long, env = "SIGIL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Address of the gRPC listener (`sigil.v1.Auth`, health, reflection); `off` disables it.
    #[arg(long, env = "SIGIL_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    pub grpc_listen: String,

    /// Address of the management listener (`/healthz`, `/readyz`, `/metrics` on their own
    /// port, and then off the public one), e.g. 127.0.0.1:9000. Unset: they are served on
    /// the public port.
    #[arg(long, env = "SIGIL_MANAGEMENT_LISTEN")]
    pub management_listen: Option<SocketAddr>,

    /// After SIGTERM or SIGINT, how long new connections are still taken once readiness
    /// turned false (`/readyz` 503), so a load balancer can stop sending any (e.g. 5s).
    #[arg(long, env = "SIGIL_SHUTDOWN_DELAY", default_value = "0s")]
    pub shutdown_delay: String,

    /// Then how long requests in flight, and the event relay's last batch, have to finish
    /// before the process exits anyway (e.g. 20s).
    #[arg(long, env = "SIGIL_SHUTDOWN_GRACE", default_value = "20s")]
    pub shutdown_grace: String,

    /// Issuer URL, the `iss` of every token [default: http://<listen>].
    #[arg(long, env = "SIGIL_ISSUER")]
    pub issuer: Option<String>,

    /// `aud` of access tokens for clients without their own audience [default: the issuer].
    #[arg(long, env = "SIGIL_AUDIENCE")]
    pub audience: Option<String>,

    /// How long a client looked up in the database is served from memory (e.g. 30s).
    #[arg(long, env = "SIGIL_CLIENT_CACHE_TTL", default_value = "30s")]
    pub client_cache_ttl: String,

    /// Longest time one request may take before it is answered 408 (e.g. 10s).
    #[arg(long, env = "SIGIL_REQUEST_TIMEOUT", default_value = "10s")]
    pub request_timeout: String,

    /// Time for a request's headers to arrive once a connection waits for one (HTTP/1.1);
    /// also how long an idle keep-alive connection stays open (e.g. 10s).
    #[arg(long, env = "SIGIL_HEADER_READ_TIMEOUT", default_value = "10s")]
    pub header_read_timeout: String,

    /// A connection with no request in flight and none begun for this long is closed, also
    /// when the client keeps it busy with HTTP/2 PINGs (e.g. 60s).
    #[arg(long, env = "SIGIL_IDLE_TIMEOUT", default_value = "60s")]
    pub idle_timeout: String,

    /// A connection open this long is closed gracefully (HTTP/2 GOAWAY; HTTP/1.1 after the
    /// answer in flight), so no client holds one forever (e.g. 1h).
    #[arg(long, env = "SIGIL_MAX_CONNECTION_AGE", default_value = "1h")]
    pub max_connection_age: String,

    /// Connections open at once; more wait in the kernel's accept queue.
    #[arg(long, env = "SIGIL_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Connections open at once from one client address (an IPv6 client by its
    /// --ipv6-limit-prefix network; --trusted-proxies are exempt); more are closed at once
    /// (0 = no cap).
    #[arg(long, env = "SIGIL_MAX_CONNECTIONS_PER_IP", default_value_t = 256)]
    pub max_connections_per_ip: usize,

    /// Absolute lifetime of a login session and its refresh tokens (e.g. 7d).
    #[arg(long, env = "SIGIL_REFRESH_TOKEN_TTL", default_value = "7d")]
    pub refresh_token_ttl: String,

    /// How long a consumed refresh token may be presented again without revoking its family
    /// (0s = strict reuse detection).
    #[arg(long, env = "SIGIL_REFRESH_GRACE", default_value = "0s")]
    pub refresh_grace: String,

    /// Allow self-registration at POST /register.
    #[arg(long, env = "SIGIL_REGISTRATION", default_value_t = true, action = clap::ArgAction::Set)]
    pub registration: bool,

    /// Refuse the password grant to users whose email address is not verified (checked after
    /// the password).
    #[arg(long, env = "SIGIL_REQUIRE_VERIFIED_EMAIL", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_verified_email: bool,

    /// How long audit rows are kept before the maintenance task deletes them.
    #[arg(long, env = "SIGIL_AUDIT_RETENTION", default_value = "365d")]
    pub audit_retention: String,

    #[command(flatten)]
    pub passwords: PasswordArgs,

    #[command(flatten)]
    pub events: EventArgs,

    #[command(flatten)]
    pub mail: MailArgs,

    #[command(flatten)]
    pub limits: LimitArgs,

    #[command(flatten)]
    pub bootstrap: BootstrapArgs,
}

/// Brute-force protection, rate limits and the client IP.
#[derive(Debug, Clone, Args)]
pub struct LimitArgs {
    /// Failed password logins per username within --login-window before 429 (0 = no limit).
    #[arg(long, env = "SIGIL_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    pub login_failures_per_user: u32,

    /// Failed password logins per client IP within --login-window before 429 (0 = no limit).
    #[arg(long, env = "SIGIL_LOGIN_FAILURES_PER_IP", default_value_t = 50)]
    pub login_failures_per_ip: u32,

    /// Length of the failed-login window, counted from the first failure (e.g. 15m).
    #[arg(long, env = "SIGIL_LOGIN_WINDOW", default_value = "15m")]
    pub login_window: String,

    /// On PostgreSQL, count failed logins and registrations in the database, so every
    /// instance sees the same counts (false: each instance counts in its memory). SQLite
    /// always counts in memory.
    #[arg(long, env = "SIGIL_SHARED_LIMITS", default_value_t = true, action = clap::ArgAction::Set)]
    pub shared_limits: bool,

    /// Registrations (POST /register) per client IP within --registration-window before 429
    /// (0 = no limit).
    #[arg(long, env = "SIGIL_REGISTRATIONS_PER_IP", default_value_t = 10)]
    pub registrations_per_ip: u32,

    /// Registrations in total within --registration-window before 429 (0 = no limit).
    #[arg(long, env = "SIGIL_REGISTRATIONS_TOTAL", default_value_t = 1000)]
    pub registrations_total: u32,

    /// Length of the registration window, counted from its first registration (e.g. 1h).
    #[arg(long, env = "SIGIL_REGISTRATION_WINDOW", default_value = "1h")]
    pub registration_window: String,

    /// Verification and password-reset mails asked for per email address from one client
    /// network (an IPv4 address, an IPv6 /64) within --mail-window (resend, forgot) before
    /// 429 (0 = no limit). Strangers cannot spend the owner's share.
    #[arg(long, env = "SIGIL_MAIL_REQUESTS_PER_EMAIL", default_value_t = 3)]
    pub mail_requests_per_email: u32,

    /// Mails asked for per email address from everyone within --mail-window; beyond it the
    /// request is still answered 202 but nothing is sent (0 = no limit).
    #[arg(
        long,
        env = "SIGIL_MAIL_REQUESTS_PER_EMAIL_TOTAL",
        default_value_t = 10
    )]
    pub mail_requests_per_email_total: u32,

    /// Requests to /verify-email/resend, /password/forgot and /password/reset per client IP
    /// within --mail-window before 429 (0 = no limit).
    #[arg(long, env = "SIGIL_MAIL_REQUESTS_PER_IP", default_value_t = 30)]
    pub mail_requests_per_ip: u32,

    /// Length of the mail-request window, counted from its first request (e.g. 1h).
    #[arg(long, env = "SIGIL_MAIL_WINDOW", default_value = "1h")]
    pub mail_window: String,

    /// /token requests per second per client, also the burst (0 = no limit). A public
    /// client is counted per client and IP.
    #[arg(long, env = "SIGIL_CLIENT_RATE_LIMIT", default_value_t = 200)]
    pub client_rate_limit: u32,

    /// Per-IP limits count an IPv6 client by its network of this many leading bits (one
    /// host usually holds a whole /64; 128 counts each address). IPv4 counts each address.
    #[arg(long, env = "SIGIL_IPV6_LIMIT_PREFIX", default_value_t = 64,
          value_parser = clap::value_parser!(u8).range(32..=128))]
    pub ipv6_limit_prefix: u8,

    /// Proxies whose X-Forwarded-For is believed: comma-separated IPs or CIDRs
    /// (e.g. 10.0.0.0/8,127.0.0.1). Empty: the peer address is the client IP.
    #[arg(
        long,
        env = "SIGIL_TRUSTED_PROXIES",
        default_value = "",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<String>,
}

/// The first-start bootstrap of an admin client and, optionally, an admin user.
#[derive(Debug, Clone, Args)]
pub struct BootstrapArgs {
    /// Id of the admin client created on an empty database [default: generated].
    #[arg(long, env = "SIGIL_ADMIN_CLIENT_ID")]
    pub admin_client_id: Option<String>,

    /// Secret of that admin client, at least 32 characters [default: generated and printed once].
    #[arg(long, env = "SIGIL_ADMIN_CLIENT_SECRET", hide_env_values = true)]
    pub admin_client_secret: Option<String>,

    /// Username (email) of an admin user created on an empty database.
    #[arg(long, env = "SIGIL_ADMIN_USERNAME", requires = "admin_password")]
    pub admin_username: Option<String>,

    /// Password of that admin user.
    #[arg(
        long,
        env = "SIGIL_ADMIN_PASSWORD",
        hide_env_values = true,
        requires = "admin_username"
    )]
    pub admin_password: Option<String>,
}

/// Password policy and argon2id cost: shared by `serve` and `user create`.
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// Minimum length of a new password, in characters.
    #[arg(long, env = "SIGIL_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,

    /// argon2id memory cost in KiB.
    #[arg(long, env = "SIGIL_ARGON2_MEMORY_KIB", default_value_t = 19_456)]
    pub argon2_memory_kib: u32,

    /// argon2id iterations.
    #[arg(long, env = "SIGIL_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,

    /// argon2id parallelism (lanes).
    #[arg(long, env = "SIGIL_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
}

/// The database, the key-encryption key and the key lifecycle: shared by `serve` and `keys`.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,

    /// Directory for the generated key-encryption key file.
    #[arg(long, env = "SIGIL_KEYS_DIR", default_value = "keys")]
    pub keys_dir: PathBuf,

    /// Key-encryption key (32 bytes, base64url); overrides the file in --keys-dir.
    #[arg(long, env = "SIGIL_KEY_ENCRYPTION_KEY", hide_env_values = true)]
    pub key_encryption_key: Option<String>,

    /// Algorithm of new signing keys: RS256 or ES256.
    #[arg(long, env = "SIGIL_SIGNING_ALG", default_value = "RS256")]
    pub signing_alg: String,

    /// RSA key size in bits for RS256: 2048, 3072 or 4096.
    #[arg(long, env = "SIGIL_RSA_BITS", default_value_t = 2048)]
    pub rsa_bits: u32,

    /// Access-token lifetime (e.g. 15m, 1h).
    #[arg(long, env = "SIGIL_ACCESS_TOKEN_TTL", default_value = "15m")]
    pub access_token_ttl: String,

    /// `Cache-Control: max-age` of the JWKS and discovery documents (e.g. 15m).
    #[arg(long, env = "SIGIL_JWKS_MAX_AGE", default_value = "15m")]
    pub jwks_max_age: String,

    /// How long a key signs before the next one takes over (e.g. 30d).
    #[arg(long, env = "SIGIL_KEY_ROTATION", default_value = "30d")]
    pub key_rotation: String,

    /// How often each instance checks the ring for due transitions and reloads it (e.g. 1m).
    #[arg(long, env = "SIGIL_KEY_CHECK_INTERVAL", default_value = "1m")]
    pub key_check_interval: String,

    /// Clock-skew margin added before a retired key leaves the JWKS (e.g. 5m).
    #[arg(long, env = "SIGIL_CLOCK_SKEW", default_value = "5m")]
    pub clock_skew: String,
}

/// Mail: verification and password-reset links, sent over SMTP by the mail relay.
#[derive(Debug, Clone, Args)]
pub struct MailArgs {
    /// SMTP server to send mail through: `smtp://host:port` (plain), `smtp://host?tls=required`
    /// (STARTTLS) or `smtps://user:pass@host` (TLS). Unset: no mail, and the endpoints that
    /// would send one answer 404 not_found.
    #[arg(long, env = "SIGIL_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender of sigil's mail, `address` or `Name <address>` [default: noreply@<issuer host>].
    #[arg(long, env = "SIGIL_MAIL_FROM")]
    pub mail_from: Option<String>,

    /// Delivery attempts per mail before it is given up as a dead letter (retries wait 10 s,
    /// doubling up to 1 h: 15 attempts span about 6 hours).
    #[arg(long, env = "SIGIL_MAIL_MAX_ATTEMPTS", default_value_t = 15)]
    pub mail_max_attempts: u32,
}

/// Events: a transactional outbox relayed to NATS JetStream and Apache Kafka (the URL and the
/// brokers are with the database flags, which every command shares).
#[derive(Debug, Clone, Args)]
pub struct EventArgs {
    /// NATS credentials file (a `.creds` file with a JWT and an NKey seed).
    #[arg(long, env = "SIGIL_NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// First token of every event type and NATS subject (`<prefix>.user.42.created`).
    #[arg(long, env = "SIGIL_EVENTS_SUBJECT_PREFIX", default_value = "auth")]
    pub events_subject_prefix: String,

    /// Also write `token.issued` for client_credentials grants. Machine traffic makes many,
    /// and each token then waits for its event's commit: client_credentials stops surviving a
    /// database outage.
    #[arg(long, env = "SIGIL_EVENTS_CLIENT_CREDENTIALS", default_value_t = false, action = clap::ArgAction::Set)]
    pub events_client_credentials: bool,

    /// How long sent events stay in the outbox table before they are deleted (e.g. 7d).
    #[arg(long, env = "SIGIL_OUTBOX_RETENTION", default_value = "7d")]
    pub outbox_retention: String,

    /// Read a user directory's `user.created` / `.updated` / `.deleted` CloudEvents from
    /// `nats://SUBJECT` (a durable JetStream consumer; needs --nats-url) or `kafka://TOPIC`
    /// (consumer group `sigil`; needs --kafka-brokers). A created user gets no password and
    /// an invitation mail to choose one.
    #[arg(long, env = "SIGIL_INBOUND_USERS")]
    pub inbound_users: Option<String>,

    /// First part of every Kafka topic name (`<prefix>.user`) [default: the events prefix].
    #[arg(long, env = "SIGIL_KAFKA_TOPIC_PREFIX")]
    pub kafka_topic_prefix: Option<String>,

    /// Partitions of each topic sigil creates when it is missing; -1: the broker's default.
    #[arg(long, env = "SIGIL_KAFKA_PARTITIONS", default_value_t = -1, allow_negative_numbers = true)]
    pub kafka_partitions: i32,

    /// Replication factor of each topic sigil creates when it is missing; -1: the broker's
    /// default.
    #[arg(long, env = "SIGIL_KAFKA_REPLICATION", default_value_t = -1, allow_negative_numbers = true)]
    pub kafka_replication: i32,
}
