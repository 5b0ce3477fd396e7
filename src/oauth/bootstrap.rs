//! First start: an empty database gets an admin client (and, when configured, an admin
//! user), so a newcomer can call the admin API without touching the database. Both are
//! recorded in the audit log under the system actor `bootstrap`.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};

use super::clients::new_client;
use super::{ClientSpec, Credential, Error, NewAccount, Sigil, UserError};
use crate::domain::{ClientId, ClientSecret, UserId};

/// What to create on an empty database.
#[derive(Debug, Clone, Default)]
pub struct Bootstrap {
    /// The admin client's id. Default: generated.
    pub admin_client_id: Option<ClientId>,
    /// The admin client's secret. Default: generated and returned once.
    pub admin_client_secret: Option<SecretString>,
    /// An admin user (username, password) to create when there is no user yet.
    pub admin_user: Option<(String, SecretString)>,
}

/// What the bootstrap created.
#[derive(Debug, Default)]
pub struct Bootstrapped {
    /// The admin client, and its secret when sigil generated it (to be shown once).
    pub admin_client: Option<(ClientId, Option<ClientSecret>)>,
    /// The admin user's id.
    pub admin_user: Option<UserId>,
}

/// Grants and scope of the bootstrap admin client: its own tokens (client_credentials) and
/// an admin user's logins through it.
const ADMIN_CLIENT_GRANTS: [&str; 3] = ["client_credentials", "password", "refresh_token"];

impl Sigil {
    /// Creates the admin client when there is no client at all, and the admin user when one
    /// is configured and there is no user at all. Instances starting together on one empty
    /// database may each create an admin client; each prints its own.
    #[tracing::instrument(skip_all)]
    pub async fn bootstrap(
        &self,
        bootstrap: &Bootstrap,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Bootstrapped> {
        let mut done = Bootstrapped {
            admin_client: self.bootstrap_client(bootstrap, now).await?,
            admin_user: None,
        };
        if let Some((username, password)) = &bootstrap.admin_user
            && !self.accounts.any().await?
        {
            let account = NewAccount {
                email: username.clone(),
                credential: Credential::Password(password.expose_secret().into()),
                display_name: None,
                is_admin: true,
                email_verified: false,
            };
            match self.accounts.create_first_admin(account, now).await {
                Ok(user) => done.admin_user = Some(user.id),
                Err(Error::User(UserError::EmailTaken)) => {}
                Err(error) => {
                    return Err(anyhow::anyhow!("SIGIL_ADMIN_USERNAME/PASSWORD: {error}"));
                }
            }
        }
        Ok(done)
    }

    async fn bootstrap_client(
        &self,
        bootstrap: &Bootstrap,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Option<(ClientId, Option<ClientSecret>)>> {
        let given = bootstrap
            .admin_client_secret
            .as_ref()
            .map(|secret| ClientSecret::presented(secret.expose_secret().to_owned()));
        let generated = given.is_none();
        let secret = given.unwrap_or_else(ClientSecret::generate);
        let spec = ClientSpec {
            name: "admin (bootstrap)".into(),
            grant_types: ADMIN_CLIENT_GRANTS.map(String::from).to_vec(),
            scopes: super::ADMIN_SCOPE.into(),
            audience: None,
            ..ClientSpec::default()
        };
        let id = bootstrap
            .admin_client_id
            .clone()
            .unwrap_or_else(ClientId::generate);
        let new = new_client(id.clone(), spec, Some(secret.hash()))
            .map_err(|error| anyhow::anyhow!("bootstrap admin client: {error}"))?;
        if !self.clients.register_first(&new, now).await? {
            return Ok(None);
        }
        tracing::info!(client_id = %id, "bootstrap: admin client created");
        Ok(Some((id, generated.then_some(secret))))
    }
}
