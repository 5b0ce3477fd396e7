//! The non-server subcommands: `client`, `user`, `keys`, `audit`. Each parses its flags,
//! makes one call into the application layer as the operator (`Admin::command_line`,
//! audited as the system actor `cli`) and prints the result. They work on the database
//! directly; running servers see changes within their cache TTL or key check.

use anyhow::Context as _;
use chrono::{DateTime, Utc};

use super::{AuditCommand, ClientCommand, ClientCreateArgs, KeyArgs, KeysCommand, UserCommand};
use crate::core::operator_keys;
use crate::domain::{ClientSecret, RedirectUri};
use crate::oauth::{
    Admin, AuditFilter, AuditView, ClientError, ClientSpec, ClientView, Credential, Error,
    KeyError, KeyView, NewAccount, RegisteredClient, UserError,
};

/// Runs a client subcommand.
pub async fn run_client_command(command: ClientCommand) -> anyhow::Result<()> {
    let (admin, now) = (Admin::command_line(), Utc::now());
    match command {
        ClientCommand::Create(args) => create_client(args).await,
        ClientCommand::List { database, json } => {
            let operator = database.operator().await?;
            let clients = operator.clients.list(&admin, now).await?;
            print_clients(&clients, json)
        }
        ClientCommand::Delete {
            database,
            client_id,
        } => {
            let operator = database.operator().await?;
            match operator.clients.delete(&admin, &client_id, now).await {
                Ok(()) => println!("deleted client {client_id}"),
                Err(Error::Client(ClientError::NotFound)) => {
                    anyhow::bail!("no client with id {client_id}")
                }
                Err(error) => return Err(error.into()),
            }
            Ok(())
        }
    }
}

/// Runs a user subcommand.
pub async fn run_user_command(command: UserCommand) -> anyhow::Result<()> {
    let args = match command {
        UserCommand::Create(args) => args,
        UserCommand::Import(args) => return super::import::import_users(args).await,
    };
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .context("--password-stdin: cannot read standard input")?;
    let password = password.trim_end_matches(['\r', '\n']);
    let passwords = args.passwords.to_config()?;
    let operator = args.database.operator().await?;
    let accounts = operator.accounts(passwords.hasher()?, passwords.min_length);
    let account = NewAccount {
        email: args.username,
        credential: Credential::Password(password.into()),
        display_name: args.display_name,
        is_admin: args.admin,
        email_verified: args.email_verified,
    };
    let user = accounts
        .create(&Admin::command_line(), account, Utc::now())
        .await
        .map_err(|error| match error {
            Error::User(UserError::InvalidEmail(_)) | Error::User(UserError::EmailTaken) => {
                anyhow::anyhow!("--username: {error}")
            }
            Error::User(UserError::InvalidPassword(_)) => anyhow::anyhow!("password: {error}"),
            Error::User(UserError::InvalidDisplayName(inner)) => {
                anyhow::anyhow!("--display-name: {inner}")
            }
            other => anyhow::Error::from(other),
        })?;
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "user_id": user.id, "username": user.email,
                "admin": user.is_admin, "email_verified": user.email_verified,
                "display_name": user.display_name })
        );
    } else {
        println!("user_id: {}", user.id);
    }
    Ok(())
}

/// Runs a keys subcommand. Running servers see the change at their next check.
pub async fn run_keys_command(command: KeysCommand) -> anyhow::Result<()> {
    let (admin, now) = (Admin::command_line(), Utc::now());
    match command {
        KeysCommand::Export(args) => super::export::export_keys(args).await,
        KeysCommand::List { database, json } => {
            let operator = database.operator().await?;
            let keys = operator.list_keys(&admin, now).await?;
            print_keys(&keys, json)
        }
        KeysCommand::Rotate { keys, force } => {
            let keys = open_keys(keys, now).await?;
            keys.rotate(&admin, force, now).await?;
            println!("rotated: now signing with {}", keys.current_kid());
            Ok(())
        }
        KeysCommand::Revoke { keys, kid } => {
            let keys = open_keys(keys, now).await?;
            match keys.revoke(&admin, &kid, now).await {
                Ok(revoked) => println!(
                    "revoked {kid} (was {}); now signing with {}",
                    revoked.was.as_str(),
                    keys.current_kid()
                ),
                Err(Error::Key(KeyError::UnknownKid)) => {
                    anyhow::bail!("no published key with kid {kid}")
                }
                Err(error) => return Err(error.into()),
            }
            Ok(())
        }
    }
}

/// Runs an audit subcommand.
pub async fn run_audit_command(command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List(args) = command;
    let since = args
        .since
        .as_deref()
        .map(|since| {
            DateTime::parse_from_rfc3339(since)
                .map(|since| since.with_timezone(&Utc))
                .with_context(|| format!("--since {since:?}: expected an RFC 3339 time"))
        })
        .transpose()?;
    let filter = AuditFilter {
        actor: args.actor,
        action: args.action,
        target: args.target,
        since,
        cursor: args.cursor,
        limit: Some(args.limit),
    };
    let operator = args.database.operator().await?;
    let page = operator
        .audit
        .list(&Admin::command_line(), filter, Utc::now())
        .await?;
    print_audit(&page.events, page.next_cursor.as_deref(), args.json)
}

async fn open_keys(args: KeyArgs, now: DateTime<Utc>) -> anyhow::Result<crate::oauth::Keys> {
    operator_keys(&args.into_config()?, now).await
}

fn print_keys(keys: &[KeyView], json: bool) -> anyhow::Result<()> {
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
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

async fn create_client(args: ClientCreateArgs) -> anyhow::Result<()> {
    let spec = ClientSpec {
        name: args.name,
        grant_types: names(&args.grant_types),
        scopes: args.scopes,
        audience: args.audience,
        public: args.public,
        introspection: args.introspection,
        redirect_uris: args.redirect_uris,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        first_party: args.first_party,
    };
    let operator = args.database.operator().await?;
    let RegisteredClient { client, secret } = operator
        .clients
        .register(&Admin::command_line(), spec, Utc::now())
        .await
        .map_err(|error| match error {
            Error::Client(ClientError::InvalidName(_)) => anyhow::anyhow!("--name: {error}"),
            Error::Client(ClientError::InvalidGrantTypes) => {
                anyhow::anyhow!("--grant-types: {error}")
            }
            Error::Client(ClientError::InvalidScope(_)) => anyhow::anyhow!("--scopes: {error}"),
            Error::Client(ClientError::InvalidAudience(_)) => {
                anyhow::anyhow!("--audience: {error}")
            }
            Error::Client(ClientError::PublicClientCredentials) => {
                anyhow::anyhow!("--public: {error}")
            }
            Error::Client(ClientError::InvalidRedirectUri(_)) => {
                anyhow::anyhow!("--redirect-uri: {error}")
            }
            Error::Client(ClientError::InvalidPostLogoutRedirectUri(_)) => {
                anyhow::anyhow!("--post-logout-redirect-uri: {error}")
            }
            other => anyhow::Error::from(other),
        })?;
    let secret = secret.as_ref().map(ClientSecret::expose);
    if args.json {
        fn uris(uris: &[RedirectUri]) -> Vec<&str> {
            uris.iter().map(RedirectUri::as_str).collect()
        }
        let out = serde_json::json!({ "client_id": client.id, "client_secret": secret, "name": client.name,
            "grant_types": client.grant_types.to_string(), "scope": client.scopes.to_string(),
            "redirect_uris": uris(&client.redirect_uris),
            "post_logout_redirect_uris": uris(&client.post_logout_redirect_uris),
            "first_party": client.first_party });
        println!("{out}");
    } else {
        println!("client_id:     {}", client.id);
        if let Some(secret) = secret {
            println!("client_secret: {secret}\n(the secret is shown only this once; store it now)");
        }
    }
    Ok(())
}

fn print_clients(clients: &[ClientView], json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = clients
            .iter()
            .map(|c| {
                serde_json::json!({ "client_id": c.id, "name": c.name, "public": c.public,
                "grant_types": c.grant_types.to_string(), "scope": c.scopes.to_string(),
                "audience": c.audience, "created_at": c.created_at })
            })
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

fn print_audit(events: &[AuditView], next: Option<&str>, json: bool) -> anyhow::Result<()> {
    if json {
        let rows: Vec<_> = events
            .iter()
            .map(|e| {
                let details: serde_json::Value =
                    serde_json::from_str(&e.details).unwrap_or_default();
                serde_json::json!({ "id": e.id, "at": e.at, "actor_type": e.actor_type,
                    "actor_id": e.actor_id, "client_id": e.client_id, "ip": e.ip,
                    "action": e.action, "target_type": e.target_type, "target_id": e.target_id,
                    "outcome": e.outcome, "details": details })
            })
            .collect();
        let page = serde_json::json!({ "events": rows, "next_cursor": next });
        println!("{}", serde_json::to_string_pretty(&page)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<26} {:<10} {:<38} {:<22} {:<8} TARGET",
        "ID", "AT", "ACTOR", "ACTOR_ID", "ACTION", "OUTCOME"
    );
    for e in events {
        let target = match (&e.target_type, &e.target_id) {
            (Some(kind), Some(id)) => format!("{kind}:{id}"),
            _ => "-".into(),
        };
        println!(
            "{:<8} {:<26} {:<10} {:<38} {:<22} {:<8} {}",
            e.id,
            e.at.to_rfc3339(),
            e.actor_type,
            e.actor_id.as_deref().unwrap_or("-"),
            e.action,
            e.outcome,
            target
        );
    }
    if let Some(next) = next {
        println!("(more: --cursor {next})");
    }
    Ok(())
}

/// The items of a comma- or space-separated flag.
fn names(flag: &str) -> Vec<String> {
    flag.split([',', ' '])
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}
