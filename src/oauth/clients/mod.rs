//! Client management for the admin API and the CLI: registration (the secret is returned
//! once), updates, secret rotation and deletion. Input is parsed here, so both front ends
//! apply the same rules (`spec.rs`: the records an operator fills in and their parsing).

use chrono::{DateTime, Utc};

use super::admin::{Admin, audited, read_audited};
use super::events;
use crate::domain::{
    Actor, AudienceError, ClientId, ClientSecret, DisplayNameError, RedirectUri, RedirectUriError,
    ScopeError,
};
use crate::oauth::ClientView;
use crate::oauth::Error;
use crate::store::{self, AuditEntry, Client, NewClient, Store};

mod spec;

pub(super) use spec::new_client;
pub use spec::{ClientChanges, ClientSpec};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The name is empty, too long or has control characters.
    #[error("name: {0}")]
    InvalidName(#[from] DisplayNameError),
    /// A grant type is unknown, or none was given.
    #[error(
        "grant_types: expected one or more of client_credentials, password, refresh_token, authorization_code"
    )]
    InvalidGrantTypes,
    /// A redirect URI is malformed or of a refused kind.
    #[error("redirect_uris: {0}")]
    InvalidRedirectUri(RedirectUriError),
    /// A post-logout redirect URI is malformed or of a refused kind.
    #[error("post_logout_redirect_uris: {0}")]
    InvalidPostLogoutRedirectUri(RedirectUriError),
    /// The scope list is malformed.
    #[error("scope: {0}")]
    InvalidScope(#[from] ScopeError),
    /// The audience is malformed.
    #[error("audience: {0}")]
    InvalidAudience(#[from] AudienceError),
    /// RFC 6749 §4.4: client_credentials needs a confidential client.
    #[error("a public client cannot use client_credentials (RFC 6749 §4.4)")]
    PublicClientCredentials,
    /// A public client has no secret to rotate.
    #[error("a public client has no secret")]
    PublicClient,
    /// A change would give this public client client_credentials (a conflict with what the
    /// client is, not a malformed request: the same change suits a confidential client).
    #[error("this client is public and cannot use client_credentials (RFC 6749 §4.4)")]
    PublicClientConflict,
    /// No client has this id.
    #[error("no client has this id")]
    NotFound,
    /// The id is taken.
    #[error("a client with this id already exists")]
    IdTaken,
}

/// A registered client and, for a confidential one, its secret: shown this once.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The client as stored.
    pub client: ClientView,
    /// The generated secret; `None` for a public client.
    pub secret: Option<ClientSecret>,
}

/// Clients: cheap to clone.
#[derive(Clone)]
pub struct Clients {
    store: Store,
}

impl Clients {
    /// Client management over `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// Every client, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, admin: &Admin, now: DateTime<Utc>) -> Result<Vec<ClientView>, Error> {
        let clients = self.store.list_clients().await.map_err(Error::from);
        let entry = AuditEntry::new(admin.actor(), "client.list", now);
        let clients = read_audited(&self.store, entry, clients).await?;
        Ok(clients.into_iter().map(ClientView::from).collect())
    }

    /// One client; an id that cannot be a client id names no client.
    #[tracing::instrument(skip_all)]
    pub async fn find(
        &self,
        admin: &Admin,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ClientView, Error> {
        let entry = AuditEntry::new(admin.actor(), "client.read", now).target("client", id);
        let found = async {
            let id = ClientId::parse(id).map_err(|_| ClientError::NotFound)?;
            let client = self.store.find_client(&id).await?;
            client.ok_or(ClientError::NotFound.into())
        }
        .await;
        let client = read_audited(&self.store, entry, found).await?;
        Ok(client.as_ref().clone().into())
    }

    /// Registers a client with a generated id and, unless public, a generated secret (in
    /// the answer, shown once).
    #[tracing::instrument(skip_all)]
    pub async fn register(
        &self,
        admin: &Admin,
        spec: ClientSpec,
        now: DateTime<Utc>,
    ) -> Result<RegisteredClient, Error> {
        let entry = AuditEntry::new(admin.actor(), "client.create", now);
        let registered = async {
            let public = spec.public;
            let secret = (!public).then(ClientSecret::generate);
            let new = new_client(
                ClientId::generate(),
                spec,
                secret.as_ref().map(ClientSecret::hash),
            )?;
            let mut tx = self.store.begin().await?;
            let client = tx
                .insert_client(&new, now)
                .await
                .map_err(|error| match error {
                    store::Error::Conflict => ClientError::IdTaken.into(),
                    other => Error::from(other),
                })?;
            tx.record(
                &entry
                    .clone()
                    .target("client", client.id.as_str())
                    .details(describe(&client)),
            )
            .await?;
            tx.emit(&events::client("created", &client, now)).await?;
            tx.commit().await?;
            tracing::info!(client_id = %client.id, public, "client registered");
            Ok(RegisteredClient {
                client: client.into(),
                secret,
            })
        }
        .await;
        audited(&self.store, entry, registered).await
    }

    /// Registers the first client on an empty database (the bootstrap admin client, system
    /// actor `bootstrap`); `false` when a client already existed.
    pub(super) async fn register_first(
        &self,
        new: &NewClient,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let mut tx = self.store.begin().await?;
        if !tx.insert_first_client(new, now).await? {
            return Ok(false);
        }
        let entry = AuditEntry::new(&Actor::system("bootstrap"), "client.create", now)
            .target("client", new.id.as_str())
            .details(
                serde_json::json!({ "name": new.name, "grant_types": new.grant_types.to_string(),
                "scope": new.scopes.to_string() }),
            );
        tx.record(&entry).await?;
        if let Some(client) = tx.lock_client(&new.id).await? {
            tx.emit(&events::client("created", &client, now)).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Applies `changes` to the client `id`; the next token request sees them.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn update(
        &self,
        admin: &Admin,
        id: &str,
        changes: ClientChanges,
        now: DateTime<Utc>,
    ) -> Result<ClientView, Error> {
        let entry = AuditEntry::new(admin.actor(), "client.update", now).target("client", id);
        let updated = async {
            let id = ClientId::parse(id).map_err(|_| ClientError::NotFound)?;
            let mut tx = self.store.begin().await?;
            let current = tx.lock_client(&id).await?.ok_or(ClientError::NotFound)?;
            let client = changes.apply(&current)?;
            if !tx.update_client(&client).await? {
                return Err(ClientError::NotFound.into());
            }
            tx.record(&entry.clone().details(describe(&client))).await?;
            tx.emit(&events::client("updated", &client, now)).await?;
            tx.commit().await?;
            tracing::info!(client_id = %id, "client updated");
            Ok(ClientView::from(client))
        }
        .await;
        audited(&self.store, entry, updated).await
    }

    /// Gives a confidential client a new secret (returned with the client, to be shown once);
    /// the old one stops working at once.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn rotate_secret(
        &self,
        admin: &Admin,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<RegisteredClient, Error> {
        let entry =
            AuditEntry::new(admin.actor(), "client.secret_rotate", now).target("client", id);
        let rotated = async {
            let id = ClientId::parse(id).map_err(|_| ClientError::NotFound)?;
            let mut tx = self.store.begin().await?;
            let client = tx.lock_client(&id).await?.ok_or(ClientError::NotFound)?;
            if client.secret_hash.is_none() {
                return Err(ClientError::PublicClient.into());
            }
            let secret = ClientSecret::generate();
            if !tx.update_client_secret(&id, &secret.hash()).await? {
                return Err(ClientError::NotFound.into());
            }
            tx.record(&entry).await?;
            tx.emit(&events::client("secret_rotated", &client, now))
                .await?;
            tx.commit().await?;
            tracing::info!(client_id = %id, "client secret rotated");
            Ok(RegisteredClient {
                client: client.into(),
                secret: Some(secret),
            })
        }
        .await;
        audited(&self.store, entry, rotated).await
    }

    /// Deletes a client: its next token request fails, its sessions go with it.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn delete(&self, admin: &Admin, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let entry = AuditEntry::new(admin.actor(), "client.delete", now).target("client", id);
        let deleted = async {
            let id = ClientId::parse(id).map_err(|_| ClientError::NotFound)?;
            let mut tx = self.store.begin().await?;
            let client = tx.lock_client(&id).await?.ok_or(ClientError::NotFound)?;
            if !tx.delete_client(&id).await? {
                return Err(ClientError::NotFound.into());
            }
            tx.record(&entry).await?;
            tx.emit(&events::client("deleted", &client, now)).await?;
            tx.commit().await?;
            tracing::info!(client_id = %id, "client deleted");
            Ok(())
        }
        .await;
        audited(&self.store, entry, deleted).await
    }
}

/// What the audit log keeps of a client: never its secret or the secret's hash.
fn describe(client: &Client) -> serde_json::Value {
    serde_json::json!({
        "name": client.name,
        "public": client.secret_hash.is_none(),
        "grant_types": client.grant_types.to_string(),
        "scope": client.scopes.to_string(),
        "audience": client.audience,
        "introspection": client.may_introspect,
        "redirect_uris": client.redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "post_logout_redirect_uris": client.post_logout_redirect_uris.iter().map(RedirectUri::as_str).collect::<Vec<_>>(),
        "first_party": client.first_party,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RedirectUriError;
    use crate::oauth::testing::Harness;
    use crate::oauth::{AuditFilter, Error};

    fn spec(redirect_uris: usize) -> ClientSpec {
        ClientSpec {
            name: "Billing".to_owned(),
            grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
            scopes: "openid email".to_owned(),
            public: true,
            redirect_uris: (0..redirect_uris)
                .map(|n| format!("https://app.example/cb/{n}"))
                .collect(),
            ..ClientSpec::default()
        }
    }

    async fn actions(harness: &Harness) -> Vec<(String, String)> {
        let page = harness
            .sigil
            .audit
            .list(&harness.admin(), AuditFilter::default(), harness.now())
            .await
            .unwrap();
        page.events
            .into_iter()
            .map(|event| (event.action, event.outcome))
            .collect()
    }

    #[tokio::test]
    async fn a_client_is_registered_changed_and_deleted_each_step_audited() {
        let harness = Harness::new().await;
        let (clients, admin, now) = (&harness.sigil.clients, harness.admin(), harness.now());

        let registered = clients.register(&admin, spec(1), now).await.unwrap();
        let id = registered.client.id.to_string();
        assert!(registered.client.public && registered.secret.is_none());
        let changes = ClientChanges {
            name: Some("Billing 2".to_owned()),
            ..ClientChanges::default()
        };
        let changed = clients.update(&admin, &id, changes, now).await.unwrap();
        clients.delete(&admin, &id, now).await.unwrap();
        let gone = clients.find(&admin, &id, now).await;

        assert_eq!(changed.name, "Billing 2");
        assert!(matches!(gone, Err(Error::Client(ClientError::NotFound))));
        let actions = actions(&harness).await;
        for action in ["client.create", "client.update", "client.delete"] {
            assert!(
                actions.contains(&(action.to_owned(), "success".to_owned())),
                "{action} in {actions:?}"
            );
        }
        assert!(actions.contains(&("client.read".to_owned(), "failure".to_owned())));
    }

    #[tokio::test]
    async fn more_redirect_uris_than_documented_are_refused() {
        let harness = Harness::new().await;
        let (clients, admin, now) = (&harness.sigil.clients, harness.admin(), harness.now());

        let most = clients.register(&admin, spec(20), now).await;
        let too_many = clients.register(&admin, spec(21), now).await;

        assert_eq!(most.unwrap().client.redirect_uris.len(), 20);
        assert!(matches!(
            too_many,
            Err(Error::Client(ClientError::InvalidRedirectUri(
                RedirectUriError::TooMany(20)
            )))
        ));
    }

    #[tokio::test]
    async fn grant_types_are_names_one_each_never_a_joined_list() {
        let harness = Harness::new().await;
        let (clients, admin, now) = (&harness.sigil.clients, harness.admin(), harness.now());
        let joined = ClientSpec {
            grant_types: vec!["authorization_code refresh_token".to_owned()],
            ..spec(1)
        };
        let none = ClientSpec {
            grant_types: Vec::new(),
            ..spec(1)
        };

        let joined = clients.register(&admin, joined, now).await;
        let none = clients.register(&admin, none, now).await;

        assert!(matches!(
            joined,
            Err(Error::Client(ClientError::InvalidGrantTypes))
        ));
        assert!(matches!(
            none,
            Err(Error::Client(ClientError::InvalidGrantTypes))
        ));
    }
}
