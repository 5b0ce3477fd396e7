//! The non-server subcommands: `migrate`, `client`, `user`, `keys`. They work on the
//! database directly; running servers see changes within their cache TTL or key check.

use anyhow::Context as _;

use super::{ClientCommand, ClientCreateArgs, DatabaseArgs, KeyArgs, KeysCommand, UserCommand};
use crate::config::{KeyConfig, PasswordConfig};
use crate::domain::{ClientId, ClientSecret};
use crate::keys::KeyRing;
use crate::oauth::{
    ClientError, ClientSpec, NewAccount, RegisteredClient, UserError, create_user, register_client,
};
use crate::store::{Client, Store, StoreOptions, StoredKey};

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
        UserError::InvalidEmail(_) | UserError::EmailTaken => {
            anyhow::anyhow!("--username: {error}")
        }
        UserError::InvalidPassword(_) => anyhow::anyhow!("password: {error}"),
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
    let store = crate::app::open_store(&config.database_url, cli_store_options()).await?;
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
    crate::app::open_store(&database.database_url, cli_store_options()).await
}

/// The CLI makes one-off lookups: a short client cache is plenty.
fn cli_store_options() -> StoreOptions {
    StoreOptions {
        client_cache_ttl: std::time::Duration::from_secs(1),
        ..StoreOptions::default()
    }
}

async fn create_client(args: ClientCreateArgs) -> anyhow::Result<()> {
    let spec = ClientSpec {
        name: args.name,
        grant_types: args.grant_types,
        scopes: args.scopes,
        audience: args.audience,
        public: args.public,
        introspection: args.introspection,
    };
    let store = open_store(&args.database).await?;
    let RegisteredClient { client, secret } = register_client(&store, spec, None, None)
        .await
        .map_err(|error| match error {
            ClientError::InvalidName(_) => anyhow::anyhow!("--name: {error}"),
            ClientError::InvalidGrantTypes => anyhow::anyhow!("--grant-types: {error}"),
            ClientError::InvalidScope(_) => anyhow::anyhow!("--scopes: {error}"),
            ClientError::InvalidAudience(_) => anyhow::anyhow!("--audience: {error}"),
            ClientError::PublicClientCredentials => anyhow::anyhow!("--public: {error}"),
            other => anyhow::Error::from(other),
        })?;
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
