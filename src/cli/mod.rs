//! The command-line interface: the clap tree (here; the flags of `serve` and the groups it
//! shares in `serve_args.rs`) and the non-server subcommands (`commands.rs`).
//!
//! Every flag can also come from the environment (`env = ...`). `serve` is turned into a
//! `Config` by `config.rs`; the other subcommands work on the database directly.

mod commands;
mod export;
mod import;
mod serve_args;
mod settings;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use commands::{run_audit_command, run_client_command, run_keys_command, run_user_command};
pub use serve_args::{
    BootstrapArgs, EventArgs, KeyArgs, LimitArgs, MailArgs, PasswordArgs, ServeArgs,
};

/// sigil: an OAuth2/OIDC-style token issuer.
#[derive(Debug, Parser)]
#[command(name = "sigil", version, about)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, env = "SIGIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

    /// OpenTelemetry: export traces over OTLP/gRPC to this collector (e.g.
    /// http://otel-collector:4317). Unset: no traces, no exporter. The SDK's other `OTEL_*`
    /// variables (service name, headers, timeout, batching) apply.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true)]
    pub otlp_endpoint: Option<String>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(Box<ServeArgs>),
    /// Apply database migrations and exit.
    Migrate(DatabaseArgs),
    /// Manage OAuth clients.
    Client {
        /// What to do with clients.
        #[command(subcommand)]
        command: ClientCommand,
    },
    /// Manage users.
    User {
        /// What to do with users.
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage the signing-key ring.
    Keys {
        /// What to do with keys.
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Read the audit log.
    Audit {
        /// What to do with the audit log.
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print the OpenAPI 3.1 document (the one served at /openapi.json).
    Openapi,
}

/// `sigil audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit rows, newest first.
    List(AuditListArgs),
}

/// Flags of `sigil audit list`.
#[derive(Debug, Args)]
pub struct AuditListArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Only rows of this actor (user id, client id or system label such as `cli`).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (e.g. `login.failure`, `user.update`).
    #[arg(long)]
    pub action: Option<String>,
    /// Only rows about this target id (user, client, session or key id).
    #[arg(long)]
    pub target: Option<String>,
    /// Only rows at or after this time (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    /// Continue after a previous page (its printed cursor).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Rows to print, 1 to 1000.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Print one JSON object (`events`, `next_cursor`) instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `sigil user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create(UserCreateArgs),
    /// Bring users over from another service: a file of JSON lines with `email`,
    /// `password_hash` (argon2 PHC or bcrypt $2a$/$2b$/$2y$) and optionally `display_name`,
    /// `email_verified`, `admin`, `created_at`. Every line is checked first; with a bad one,
    /// nothing is imported. Users whose email exists are skipped, so a re-run changes
    /// nothing.
    Import(UserImportArgs),
}

/// Flags of `sigil user import`.
#[derive(Debug, Args)]
pub struct UserImportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The JSON-lines file, or `-` for standard input.
    pub file: std::path::PathBuf,
    /// Print one JSON object (counts and bad lines) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `sigil user create`.
#[derive(Debug, Args)]
pub struct UserCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub passwords: PasswordArgs,
    /// The user's email address (their login name).
    #[arg(long)]
    pub username: String,
    /// Read the password from standard input (the only way: never on the command line).
    #[arg(long, required = true)]
    pub password_stdin: bool,
    /// May be granted scope `admin`.
    #[arg(long)]
    pub admin: bool,
    /// The address is known to be the user's: created verified.
    #[arg(long)]
    pub email_verified: bool,
    /// Display name (OIDC `name`), 1 to 200 characters.
    #[arg(long)]
    pub display_name: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `sigil keys ...`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List every key with its state and lifecycle times.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Promote the published next key to current now and publish a fresh next key.
    Rotate {
        #[command(flatten)]
        keys: KeyArgs,
        /// Rotate even if the next key was published less than two JWKS cache lifetimes ago.
        #[arg(long)]
        force: bool,
    },
    /// Emergency revocation: remove a key from the JWKS at once (a new key takes over).
    Revoke {
        #[command(flatten)]
        keys: KeyArgs,
        /// The key id (an RFC 7638 thumbprint: base64url, so it may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Write the published public keys for gateways that cannot fetch the JWKS (HAProxy,
    /// Kong): `<kid>.pem` per key and `kids.json` (`--format pem`), or `jwks.json`; to
    /// standard output without `--dir`. Needs no key-encryption key.
    Export(KeyExportArgs),
}

/// Flags of `sigil keys export`.
#[derive(Debug, Args)]
pub struct KeyExportArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// `pem` (a SubjectPublicKeyInfo PEM file per key, and kids.json) or `jwks`.
    #[arg(long, value_parser = ["pem", "jwks"], default_value = "pem")]
    pub format: String,
    /// Write the files here (created if missing), each replaced atomically; PEM files of keys
    /// that left the JWKS are removed.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Keep the directory in step with the ring: check every --interval, rewrite on a change,
    /// print a line per change; runs until stopped.
    #[arg(long, requires = "dir")]
    pub watch: bool,
    /// How often --watch checks the ring.
    #[arg(long, default_value = "10s", value_parser = parse_interval)]
    pub interval: std::time::Duration,
}

fn parse_interval(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|error| error.to_string())
}

/// Where the database is.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// Database URL: `sqlite://FILE` (embedded default) or `postgres://USER@HOST/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://sigil.db",
        hide_env_values = true
    )]
    pub database_url: String,

    /// NATS server URL(s), comma-separated (`nats://`, `tls://`; credentials may be in the
    /// URL). With it, every change writes its event to the outbox: `serve` publishes them,
    /// and a change made by another command is published by the running servers. Without
    /// it no events are written.
    #[arg(long, env = "NATS_URL", hide_env_values = true)]
    pub nats_url: Option<String>,

    /// Apache Kafka bootstrap brokers, `host:port[,host:port]`: a second event sink beside
    /// (or instead of) NATS, fed by the same outbox. With it every change writes its event,
    /// as with `--nats-url`.
    #[arg(long, env = "KAFKA_BROKERS")]
    pub kafka_brokers: Option<String>,
}

impl DatabaseArgs {
    /// The operator's use cases over this database (connected and migrated).
    pub async fn operator(&self) -> anyhow::Result<crate::oauth::Operator> {
        crate::core::operator(&self.database_url, &self.event_sinks()).await
    }

    /// The NATS URL, when one is set.
    pub fn nats_url(&self) -> Option<&str> {
        given(self.nats_url.as_deref())
    }

    /// The Kafka brokers, when they are set.
    pub fn kafka_brokers(&self) -> Option<&str> {
        given(self.kafka_brokers.as_deref())
    }

    /// The event sinks these flags configure, in `EventSink::ALL` order.
    pub fn event_sinks(&self) -> Vec<crate::domain::EventSink> {
        let (nats, kafka) = (self.nats_url().is_some(), self.kafka_brokers().is_some());
        crate::domain::EventSink::configured(nats, kafka)
    }
}

/// `value` unless it is missing or blank (an empty environment variable sets nothing).
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|value| !value.is_empty())
}

/// `sigil client ...`
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its id and, for confidential clients, its secret (once).
    Create(ClientCreateArgs),
    /// List registered clients.
    List {
        #[command(flatten)]
        database: DatabaseArgs,
        /// Print a JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Delete a client; its tokens stop being issued at once.
    Delete {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The client id.
        client_id: String,
    },
}

/// Flags of `sigil client create`.
#[derive(Debug, Args)]
pub struct ClientCreateArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Human-readable name.
    #[arg(long)]
    pub name: String,
    /// Allowed grants, comma-separated: client_credentials, password, refresh_token,
    /// authorization_code.
    #[arg(long, default_value = "client_credentials")]
    pub grant_types: String,
    /// Allowed scopes, space-separated (e.g. "read write").
    #[arg(long, default_value = "")]
    pub scopes: String,
    /// `aud` of this client's access tokens [default: the server's default audience].
    #[arg(long)]
    pub audience: Option<String>,
    /// A public client (no secret): password and refresh_token grants only.
    #[arg(long)]
    pub public: bool,
    /// May introspect tokens issued to other clients (for resource servers); every
    /// confidential client may introspect its own.
    #[arg(long)]
    pub introspection: bool,
    /// A redirect URI for the authorization code grant (repeatable): https, http on a
    /// loopback address (any port matches), or a private-use scheme (com.example.app:/cb).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may send the browser afterwards (repeatable); same rules as
    /// --redirect-uri.
    #[arg(long = "post-logout-redirect-uri")]
    pub post_logout_redirect_uris: Vec<String>,
    /// A first-party client: its users are not asked for consent.
    #[arg(long)]
    pub first_party: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_kid_that_begins_with_a_hyphen_is_a_kid_not_a_flag() {
        let parsed = Cli::try_parse_from(["sigil", "keys", "revoke", "-eXv3_kid"]);

        let Ok(Cli {
            command:
                Command::Keys {
                    command: KeysCommand::Revoke { kid, .. },
                },
            ..
        }) = parsed
        else {
            panic!("parsed as a revocation: {parsed:?}");
        };
        assert_eq!(kid, "-eXv3_kid");
    }
}
