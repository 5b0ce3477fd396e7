//! From flags to configuration: each group of arguments turns into its part of `Config`,
//! validated, and every error names the offending flag. `config` holds the typed result and
//! imports nothing from here.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;

use super::{
    BootstrapArgs, DatabaseArgs, EventArgs, KeyArgs, LimitArgs, MailArgs, PasswordArgs, ServeArgs,
};
use crate::clock::Clock;
use crate::config::{
    Config, EventConfig, InboundUsers, KafkaConfig, KeyConfig, MailConfig, NatsConfig,
    PasswordConfig,
};
use crate::domain::ClientId;
use crate::hooks::Hooks;
use crate::listen::ConnectionLimits;
use crate::oauth::{Bootstrap, LimitSettings};
use crate::password::{HashParams, PasswordHasher};
use crate::shutdown::ShutdownSettings;

impl ServeArgs {
    /// The configuration these `serve` flags give; the error names the offending flag.
    pub fn into_config(self) -> anyhow::Result<Config> {
        let args = self;
        let issuer = args
            .issuer
            .unwrap_or_else(|| format!("http://{}", args.listen));
        validate_issuer(&issuer).with_context(|| format!("--issuer {issuer:?}"))?;
        let default_audience = args.audience.unwrap_or_else(|| issuer.clone());
        if default_audience.is_empty() {
            anyhow::bail!("--audience: must not be empty");
        }
        let request_timeout = duration("--request-timeout", &args.request_timeout)?;
        let idle_timeout = duration("--idle-timeout", &args.idle_timeout)?;
        if idle_timeout <= request_timeout {
            // A request waiting for its answer moves no byte: it must time out (408) first.
            anyhow::bail!("--idle-timeout: must be longer than --request-timeout");
        }
        let mail = args.mail.to_config(&issuer)?;
        Ok(Config {
            listen: args.listen,
            grpc_listen: grpc_listen(&args.grpc_listen)?,
            management_listen: args.management_listen,
            shutdown: ShutdownSettings {
                delay: duration_or_zero("--shutdown-delay", &args.shutdown_delay)?,
                grace: duration("--shutdown-grace", &args.shutdown_grace)?,
            },
            issuer,
            default_audience,
            client_cache_ttl: duration("--client-cache-ttl", &args.client_cache_ttl)?,
            request_timeout,
            connections: ConnectionLimits {
                header_read_timeout: duration("--header-read-timeout", &args.header_read_timeout)?,
                idle_timeout,
                max_age: duration("--max-connection-age", &args.max_connection_age)?,
                max_connections: match args.max_connections {
                    0 => anyhow::bail!("--max-connections: must be at least 1"),
                    n => n,
                },
                max_per_ip: args.max_connections_per_ip,
                ipv6_prefix: args.limits.ipv6_limit_prefix,
            },
            refresh_token_ttl: duration("--refresh-token-ttl", &args.refresh_token_ttl)?,
            refresh_grace: duration_or_zero("--refresh-grace", &args.refresh_grace)?,
            registration: args.registration,
            require_verified_email: args.require_verified_email,
            audit_retention: duration("--audit-retention", &args.audit_retention)?,
            maintenance_interval: Duration::from_secs(60),
            events: args.events.to_config(&args.keys.database)?,
            mail,
            passwords: args.passwords.to_config()?,
            keys: args.keys.into_config()?,
            limits: limit_settings(&args.limits)?,
            trusted_proxies: trusted_proxies(&args.limits.trusted_proxies)?,
            bootstrap: bootstrap(args.bootstrap)?,
            clock: Clock::system(),
            hooks: Hooks::default(),
        })
    }
}

impl PasswordArgs {
    /// The password policy these flags give.
    pub fn to_config(&self) -> anyhow::Result<PasswordConfig> {
        let args = self;
        let hash_params = HashParams {
            memory_kib: args.argon2_memory_kib,
            iterations: args.argon2_iterations,
            parallelism: args.argon2_parallelism,
        };
        PasswordHasher::new(hash_params, 1)
            .context("--argon2-memory-kib/--argon2-iterations/--argon2-parallelism")?;
        if args.password_min_length == 0 {
            anyhow::bail!("--password-min-length: must be at least 1");
        }
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(PasswordConfig {
            min_length: args.password_min_length,
            hash_params,
            hash_concurrency: cores,
        })
    }
}

impl KeyArgs {
    /// The key configuration these flags give; the error names the offending flag.
    pub fn into_config(self) -> anyhow::Result<KeyConfig> {
        let args = self;
        if ![2048, 3072, 4096].contains(&args.rsa_bits) {
            anyhow::bail!("--rsa-bits {}: must be 2048, 3072 or 4096", args.rsa_bits);
        }
        let signing_algorithm = args
            .signing_alg
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--signing-alg")?;
        Ok(KeyConfig {
            event_sinks: args.database.event_sinks(),
            database_url: args.database.database_url,
            keys_dir: args.keys_dir,
            key_encryption_key: args.key_encryption_key.map(SecretString::from),
            signing_algorithm,
            rsa_bits: args.rsa_bits,
            access_token_ttl: duration("--access-token-ttl", &args.access_token_ttl)?,
            jwks_max_age: duration("--jwks-max-age", &args.jwks_max_age)?,
            key_rotation: duration("--key-rotation", &args.key_rotation)?,
            key_check_interval: duration("--key-check-interval", &args.key_check_interval)?,
            clock_skew: duration("--clock-skew", &args.clock_skew)?,
        })
    }
}

impl EventArgs {
    /// The event configuration these flags give; `None` without a sink (`--nats-url`,
    /// `--kafka-brokers`, given in `database`).
    pub fn to_config(&self, database: &DatabaseArgs) -> anyhow::Result<Option<EventConfig>> {
        let args = self;
        if database.event_sinks().is_empty() {
            return Ok(None);
        }
        let prefix = &args.events_subject_prefix;
        if !dotted_tokens(prefix) {
            anyhow::bail!(
                "--events-subject-prefix {prefix:?}: expected dot-separated tokens of letters, digits, '-' and '_'"
            );
        }
        let nats = database.nats_url().map(|url| NatsConfig {
            url: url.to_owned(),
            creds: args.nats_creds.clone(),
        });
        let kafka = match database.kafka_brokers() {
            Some(brokers) => Some(args.kafka_config(brokers, prefix)?),
            None => None,
        };
        let inbound_users = match args.inbound_users.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(source) => Some(inbound_users(source, nats.is_some(), kafka.is_some())?),
        };
        Ok(Some(EventConfig {
            nats,
            kafka,
            inbound_users,
            subject_prefix: prefix.clone(),
            retention: duration("--outbox-retention", &args.outbox_retention)?,
            client_credentials: args.events_client_credentials,
        }))
    }

    fn kafka_config(&self, brokers: &str, events_prefix: &str) -> anyhow::Result<KafkaConfig> {
        let args = self;
        let topic_prefix = args
            .kafka_topic_prefix
            .clone()
            .unwrap_or_else(|| events_prefix.to_owned());
        if !dotted_tokens(&topic_prefix) || topic_prefix.len() > 200 {
            anyhow::bail!(
                "--kafka-topic-prefix {topic_prefix:?}: expected dot-separated tokens of letters, digits, '-' and '_'"
            );
        }
        for (flag, value) in [
            ("--kafka-partitions", args.kafka_partitions),
            ("--kafka-replication", args.kafka_replication),
        ] {
            if value == 0 || value < -1 {
                anyhow::bail!(
                    "{flag} {value}: expected a positive number, or -1 for the broker's default"
                );
            }
        }
        Ok(KafkaConfig {
            brokers: brokers.to_owned(),
            topic_prefix,
            partitions: args.kafka_partitions,
            replication: args.kafka_replication,
        })
    }
}

/// `nats://SUBJECT` or `kafka://TOPIC`, with the broker it needs configured.
fn inbound_users(source: &str, nats: bool, kafka: bool) -> anyhow::Result<InboundUsers> {
    let flag = "--inbound-users";
    if let Some(subject) = source.strip_prefix("nats://") {
        let token = |token: &str| {
            !token.is_empty() && !token.chars().any(|c| c.is_whitespace() || c.is_control())
        };
        if !subject.split('.').all(token) {
            anyhow::bail!("{flag} {source:?}: expected nats://SUBJECT, e.g. nats://users.events");
        }
        if !nats {
            anyhow::bail!("{flag} {source:?}: needs --nats-url");
        }
        return Ok(InboundUsers::Nats(subject.to_owned()));
    }
    if let Some(topic) = source.strip_prefix("kafka://") {
        let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) {
            anyhow::bail!("{flag} {source:?}: expected kafka://TOPIC, e.g. kafka://users");
        }
        if !kafka {
            anyhow::bail!("{flag} {source:?}: needs --kafka-brokers");
        }
        return Ok(InboundUsers::Kafka(topic.to_owned()));
    }
    anyhow::bail!("{flag} {source:?}: expected nats://SUBJECT or kafka://TOPIC")
}

/// Whether `text` is dot-separated tokens of letters, digits, `-` and `_` (a NATS subject
/// prefix, a Kafka topic prefix).
fn dotted_tokens(text: &str) -> bool {
    text.split('.').all(|token| {
        !token.is_empty()
            && token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

impl MailArgs {
    /// `None` without `--smtp-url`; the sender defaults to `noreply@<issuer host>`. The URL
    /// and sender are checked when the mailer is built, at start.
    pub fn to_config(&self, issuer: &str) -> anyhow::Result<Option<MailConfig>> {
        let args = self;
        let Some(url) = args
            .smtp_url
            .as_deref()
            .filter(|url| !url.trim().is_empty())
        else {
            return Ok(None);
        };
        let from = match &args.mail_from {
            Some(from) => from.clone(),
            None => {
                let host = url::Url::parse(issuer)
                    .ok()
                    .and_then(|url| url.host_str().map(str::to_owned))
                    .context("--mail-from is needed when the issuer URL has no host")?;
                format!(
                    "noreply@{}",
                    host.trim_start_matches('[').trim_end_matches(']')
                )
            }
        };
        if args.mail_max_attempts == 0 {
            anyhow::bail!("--mail-max-attempts: must be at least 1");
        }
        Ok(Some(MailConfig {
            smtp_url: SecretString::from(url.trim().to_owned()),
            from,
            max_attempts: args.mail_max_attempts,
        }))
    }
}

/// Shortest operator-chosen admin client secret: it is stored as a plain SHA-256, which is
/// only safe for high-entropy secrets.
const MIN_ADMIN_SECRET_CHARS: usize = 32;

fn bootstrap(args: BootstrapArgs) -> anyhow::Result<Bootstrap> {
    let admin_client_id = args
        .admin_client_id
        .map(ClientId::parse)
        .transpose()
        .context("SIGIL_ADMIN_CLIENT_ID")?;
    if let Some(secret) = &args.admin_client_secret
        && secret.chars().count() < MIN_ADMIN_SECRET_CHARS
    {
        anyhow::bail!(
            "SIGIL_ADMIN_CLIENT_SECRET: must be at least {MIN_ADMIN_SECRET_CHARS} characters"
        );
    }
    Ok(Bootstrap {
        admin_client_id,
        admin_client_secret: args.admin_client_secret.map(SecretString::from),
        admin_user: args
            .admin_username
            .zip(args.admin_password.map(SecretString::from)),
    })
}

fn limit_settings(args: &LimitArgs) -> anyhow::Result<LimitSettings> {
    Ok(LimitSettings {
        login_failures_per_user: args.login_failures_per_user,
        login_failures_per_ip: args.login_failures_per_ip,
        login_window: duration("--login-window", &args.login_window)?,
        shared: args.shared_limits,
        registrations_per_ip: args.registrations_per_ip,
        registrations_total: args.registrations_total,
        registration_window: duration("--registration-window", &args.registration_window)?,
        mail_per_email: args.mail_requests_per_email,
        mail_per_email_total: args.mail_requests_per_email_total,
        mail_per_ip: args.mail_requests_per_ip,
        mail_window: duration("--mail-window", &args.mail_window)?,
        client_rate: NonZeroU32::new(args.client_rate_limit),
        ipv6_prefix: args.ipv6_limit_prefix,
    })
}

/// `--grpc-listen`: a socket address, or `off`.
fn grpc_listen(value: &str) -> anyhow::Result<Option<SocketAddr>> {
    if value.trim().eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    let address = value.trim().parse().with_context(|| {
        format!("--grpc-listen {value:?}: expected an address such as 127.0.0.1:50051, or off")
    })?;
    Ok(Some(address))
}

fn trusted_proxies(entries: &[String]) -> anyhow::Result<Vec<ipnet::IpNet>> {
    entries
        .iter()
        .map(|entry| entry.trim())
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<ipnet::IpNet>()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .with_context(|| format!("--trusted-proxies: {entry:?} is not an IP or CIDR"))
        })
        .collect()
}

/// RFC 8414 §2: an https (or, for development, http) URL with no query or fragment.
fn validate_issuer(issuer: &str) -> anyhow::Result<()> {
    let url = url::Url::parse(issuer).context("not a valid URL")?;
    if !matches!(url.scheme(), "https" | "http") {
        anyhow::bail!("must be an http(s) URL");
    }
    if url.query().is_some() || url.fragment().is_some() {
        anyhow::bail!("must not have a query or fragment");
    }
    Ok(())
}

/// Parses `10s`, `15m`, `7d` …; zero is rejected.
fn duration(flag: &str, value: &str) -> anyhow::Result<Duration> {
    let parsed = duration_or_zero(flag, value)?;
    if parsed.is_zero() {
        anyhow::bail!("{flag} {value:?}: must be greater than zero");
    }
    Ok(parsed)
}

/// A duration flag that may be zero.
fn duration_or_zero(flag: &str, value: &str) -> anyhow::Result<Duration> {
    humantime::parse_duration(value)
        .with_context(|| format!("{flag} {value:?}: expected a duration such as 0s, 10s, 15m"))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};
    use crate::domain::SigningAlgorithm;
    use crate::password::HashParams;

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let argv = [&["sigil", "serve"], flags].concat();
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(args) => *args,
            _ => unreachable!("parsed a serve command"),
        }
    }

    #[test]
    fn defaults_produce_a_working_config() {
        let config = serve_args(&[]).into_config().unwrap();

        assert_eq!(config.issuer, "http://127.0.0.1:8080");
        assert_eq!(config.default_audience, config.issuer);
        assert_eq!(config.keys.access_token_ttl, Duration::from_secs(900));
        assert_eq!(config.keys.signing_algorithm, SigningAlgorithm::Rs256);
        assert_eq!(config.keys.key_rotation, Duration::from_secs(30 * 86_400));
        let policy = config.keys.rotation_policy();
        assert_eq!(policy.publish_lead, Duration::from_secs(2 * 900 + 60));
        assert_eq!(config.passwords.hash_params, HashParams::OWASP);
        assert_eq!(config.refresh_grace, Duration::ZERO);
        assert!(config.registration);
        assert_eq!(config.grpc_listen, Some("127.0.0.1:50051".parse().unwrap()));
        let off = serve_args(&["--grpc-listen", "off"]).into_config().unwrap();
        assert_eq!(off.grpc_listen, None);
    }

    #[test]
    fn each_bad_setting_is_named_in_the_error() {
        let cases = [
            (&["--issuer", "not a url"][..], "--issuer"),
            (&["--issuer", "ftp://x"], "--issuer"),
            (&["--issuer", "https://x/?a=b"], "--issuer"),
            (&["--access-token-ttl", "soon"], "--access-token-ttl"),
            (&["--access-token-ttl", "0s"], "--access-token-ttl"),
            (&["--signing-alg", "HS256"], "--signing-alg"),
            (&["--rsa-bits", "1024"], "--rsa-bits"),
            (&["--jwks-max-age", "x"], "--jwks-max-age"),
            (&["--key-rotation", "monthly"], "--key-rotation"),
            (&["--key-check-interval", "0m"], "--key-check-interval"),
            (&["--refresh-grace", "a bit"], "--refresh-grace"),
            (&["--argon2-memory-kib", "1"], "--argon2"),
            (&["--password-min-length", "0"], "--password-min-length"),
            (&["--idle-timeout", "5s"], "--idle-timeout"),
            (&["--max-connections", "0"], "--max-connections"),
            (&["--grpc-listen", "50051"], "--grpc-listen"),
            (&["--registration-window", "soon"], "--registration-window"),
        ];
        for (flags, named) in cases {
            let error = format!("{:#}", serve_args(flags).into_config().unwrap_err());
            assert!(error.contains(named), "{flags:?} gave {error:?}");
        }
    }

    #[test]
    fn durations_accept_days() {
        assert_eq!(
            duration("--x", "7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
    }
}
