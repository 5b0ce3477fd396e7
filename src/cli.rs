//! The command-line interface: the clap tree and the non-server subcommands.
//!
//! Every flag can also come from the environment (`env = ...`). `serve` is turned into a
//! `Config` by `config.rs`; the other subcommands work on the database directly.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::{KeyConfig, PasswordConfig};
use crate::domain::{ClientId, ClientSecret, GrantType, GrantTypes, Scope};
use crate::keys::KeyRing;
use crate::oauth::{NewAccount, RegisterError, create_user};
use crate::store::{Client, NewClient, Store, StoreOptions, StoredKey};

/// sigil: an OAuth2/OIDC-style token issuer.
#[derive(Debug, Parser)]
#[command(name = "sigil", version, about)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, env = "SIGIL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,

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
    Serve(ServeArgs),
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
}

/// `sigil user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create(UserCreateArgs),
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
        /// The key id.
        kid: String,
    },
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
}

/// Flags of `sigil serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub keys: KeyArgs,

    /// Address to listen on.
    #[arg(long, env = "SIGIL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

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

    #[command(flatten)]
    pub passwords: PasswordArgs,
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
    /// Allowed grants, comma-separated: client_credentials, password, refresh_token.
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
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs a client subcommand.
pub async fn run_client_command(command: ClientCommand) -> anyhow::Result<()> {
    match command {
        ClientCommand::Create(args) => create_client(args).await,
        ClientCommand::List { database, json } => {
            let clients = open_store(&database).await?.list_clients().await?;
            print_clients(&clients, json)
        }
        ClientCommand::Delete {
            database,
            client_id,
        } => {
            let id = ClientId::parse(client_id).context("client id")?;
            if !open_store(&database).await?.delete_client(&id).await? {
                anyhow::bail!("no client with id {id}");
            }
            println!("deleted client {id}");
            Ok(())
        }
    }
}

/// Runs a user subcommand.
pub async fn run_user_command(command: UserCommand) -> anyhow::Result<()> {
    let UserCommand::Create(args) = command;
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("--password-stdin: cannot read standard input")?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    let passwords = PasswordConfig::from_args(&args.passwords)?;
    let store = open_store(&args.database).await?;
    let account = NewAccount {
        email: &args.username,
        password,
        is_admin: args.admin,
    };
    let user = create_user(
        &store,
        &passwords.hasher()?,
        passwords.min_length,
        account,
        chrono::Utc::now(),
    )
    .await
    .map_err(|error| match error {
        RegisterError::InvalidEmail(_) | RegisterError::EmailTaken => {
            anyhow::anyhow!("--username: {error}")
        }
        RegisterError::InvalidPassword(_) => anyhow::anyhow!("password: {error}"),
        other => anyhow::Error::from(other),
    })?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "user_id": user.id, "username": user.email, "admin": user.is_admin })
        );
    } else {
        println!("user_id: {}", user.id);
    }
    Ok(())
}

/// Runs a keys subcommand. Running servers see the change at their next check.
pub async fn run_keys_command(command: KeysCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match command {
        KeysCommand::List { database, json } => {
            let keys = open_store(&database).await?.list_all_signing_keys().await?;
            print_keys(&keys, json)
        }
        KeysCommand::Rotate { keys, force } => {
            let (_, ring) = open_key_ring(keys, now).await?;
            ring.rotate(now, force).await?;
            println!("rotated: now signing with {}", ring.current_kid());
            Ok(())
        }
        KeysCommand::Revoke { keys, kid } => {
            let (_, ring) = open_key_ring(keys, now).await?;
            match ring.revoke(&kid, now).await? {
                Some(state) => println!(
                    "revoked {kid} (was {}); now signing with {}",
                    state.as_str(),
                    ring.current_kid()
                ),
                None => anyhow::bail!("no published key with kid {kid}"),
            }
            Ok(())
        }
    }
}

async fn open_key_ring(
    args: KeyArgs,
    now: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<(Store, KeyRing)> {
    let config = KeyConfig::from_args(args)?;
    let store = crate::app::open_store(&config.database_url, CLI_STORE_OPTIONS).await?;
    let ring = crate::app::load_key_ring(&store, &config, now).await?;
    Ok((store, ring))
}

fn print_keys(keys: &[StoredKey], json: bool) -> anyhow::Result<()> {
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into())
    };
    if json {
        let rows: Vec<_> = keys
            .iter()
            .map(|k| serde_json::json!({ "kid": k.kid, "alg": k.alg, "state": k.state.as_str(),
                "published_at": k.published_at, "activated_at": k.activated_at, "retired_at": k.retired_at,
                "removed_at": k.removed_at, "revoked": k.revoked }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!(
        "{:<44} {:<6} {:<8} {:<26} {:<26} RETIRED",
        "KID", "ALG", "STATE", "PUBLISHED", "ACTIVATED"
    );
    for k in keys {
        let state = if k.revoked {
            "revoked"
        } else {
            k.state.as_str()
        };
        println!(
            "{:<44} {:<6} {:<8} {:<26} {:<26} {}",
            k.kid,
            k.alg,
            state,
            k.published_at.to_rfc3339(),
            time(k.activated_at),
            time(k.retired_at)
        );
    }
    Ok(())
}

/// Connects and migrates, so provisioning works before the first `serve`.
pub async fn open_store(database: &DatabaseArgs) -> anyhow::Result<Store> {
    crate::app::open_store(&database.database_url, CLI_STORE_OPTIONS).await
}

/// The CLI makes one-off lookups: a short client cache is plenty.
const CLI_STORE_OPTIONS: StoreOptions = StoreOptions {
    client_cache_ttl: std::time::Duration::from_secs(1),
};

async fn create_client(args: ClientCreateArgs) -> anyhow::Result<()> {
    let grant_types = GrantTypes::parse(&args.grant_types)
        .context("--grant-types: expected a comma-separated list of client_credentials, password, refresh_token")?;
    let scopes = Scope::parse(&args.scopes).context("--scopes")?;
    if args.public && grant_types.contains(GrantType::ClientCredentials) {
        anyhow::bail!("--public: a public client cannot use client_credentials (RFC 6749 §4.4)");
    }
    if args.name.trim().is_empty() || args.name.len() > 200 {
        anyhow::bail!("--name: must be 1 to 200 characters");
    }
    let secret = (!args.public).then(ClientSecret::generate);
    let new = NewClient {
        id: ClientId::generate(),
        name: args.name,
        secret_hash: secret.as_ref().map(ClientSecret::hash),
        grant_types,
        scopes,
        audience: args.audience,
    };
    let client = open_store(&args.database)
        .await?
        .insert_client(&new)
        .await?;
    let secret = secret.as_ref().map(ClientSecret::expose);
    if args.json {
        let out = serde_json::json!({ "client_id": client.id, "client_secret": secret, "name": client.name,
            "grant_types": client.grant_types.to_string(), "scope": client.scopes.to_string() });
        println!("{out}");
    } else {
        println!("client_id:     {}", client.id);
        if let Some(secret) = secret {
            println!("client_secret: {secret}\n(the secret is shown only this once; store it now)");
        }
    }
    Ok(())
}

fn print_clients(clients: &[Client], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = clients
            .iter()
            .map(|c| serde_json::json!({ "client_id": c.id, "name": c.name, "public": c.secret_hash.is_none(),
                "grant_types": c.grant_types.to_string(), "scope": c.scopes.to_string(),
                "audience": c.audience, "created_at": c.created_at }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    println!("{:<34} {:<20} {:<40} SCOPE", "CLIENT_ID", "NAME", "GRANTS");
    for c in clients {
        println!(
            "{:<34} {:<20} {:<40} {}",
            c.id,
            c.name,
            c.grant_types.to_string(),
            c.scopes
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
