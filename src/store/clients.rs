//! The `clients` table and the in-memory client cache in front of it.

use chrono::{DateTime, Utc};

use super::tx::on_tx;
use super::{Error, Store, Tx, on_pool};
use crate::domain::{ClientId, GrantTypes, RedirectUri, Scope, SecretHash};

/// A registered OAuth client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Public identifier.
    pub id: ClientId,
    /// Human-readable name.
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    /// Grants the client may use.
    pub grant_types: GrantTypes,
    /// Scopes the client may request; the default when it requests none.
    pub scopes: Scope,
    /// `aud` of its access tokens; `None` means the configured default audience.
    pub audience: Option<String>,
    /// May introspect tokens issued to other clients (a resource server).
    pub may_introspect: bool,
    /// Where authorization responses may go (authorization code grant).
    pub redirect_uris: Vec<RedirectUri>,
    /// Where the browser may be sent after an RP-initiated logout.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// A first-party client: its users are not asked for consent.
    pub first_party: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

/// What `insert_client` needs.
#[derive(Debug)]
pub struct NewClient {
    /// Public identifier.
    pub id: ClientId,
    /// Human-readable name.
    pub name: String,
    /// SHA-256 of the secret; `None` for a public client.
    pub secret_hash: Option<SecretHash>,
    /// Grants the client may use.
    pub grant_types: GrantTypes,
    /// Scopes the client may request.
    pub scopes: Scope,
    /// `aud` of its access tokens.
    pub audience: Option<String>,
    /// May introspect tokens issued to other clients.
    pub may_introspect: bool,
    /// Where authorization responses may go.
    pub redirect_uris: Vec<RedirectUri>,
    /// Where the browser may be sent after logout.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// A first-party client: no consent screen.
    pub first_party: bool,
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    secret_hash: Option<Vec<u8>>,
    grant_types: String,
    scopes: String,
    audience: Option<String>,
    may_introspect: bool,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    first_party: bool,
    created_at: DateTime<Utc>,
}

impl TryFrom<ClientRow> for Client {
    type Error = Error;

    fn try_from(row: ClientRow) -> Result<Self, Error> {
        let corrupt =
            |what: &str| Error::Other(anyhow::anyhow!("stored client has invalid {what}"));
        let secret_hash = match row.secret_hash {
            Some(bytes) => {
                Some(SecretHash::from_bytes(&bytes).ok_or_else(|| corrupt("secret hash"))?)
            }
            None => None,
        };
        Ok(Self {
            id: ClientId::parse(row.client_id).map_err(|_| corrupt("id"))?,
            name: row.name,
            secret_hash,
            grant_types: GrantTypes::parse(&row.grant_types).map_err(|_| corrupt("grant types"))?,
            scopes: Scope::parse(&row.scopes).map_err(|_| corrupt("scopes"))?,
            audience: row.audience,
            may_introspect: row.may_introspect,
            redirect_uris: split_uris(&row.redirect_uris).map_err(|_| corrupt("redirect URIs"))?,
            post_logout_redirect_uris: split_uris(&row.post_logout_redirect_uris)
                .map_err(|_| corrupt("post-logout redirect URIs"))?,
            first_party: row.first_party,
            created_at: row.created_at,
        })
    }
}

const SELECT_CLIENT: &str = "SELECT client_id, name, secret_hash, grant_types, scopes, audience, \
                             may_introspect, redirect_uris, post_logout_redirect_uris, first_party, \
                             created_at FROM clients";

/// The stored form of redirect URIs: one per line (a URI has no line break).
fn join_uris(uris: &[RedirectUri]) -> String {
    uris.iter()
        .map(RedirectUri::as_str)
        .collect::<Vec<_>>()
        .join("\n")
}

fn split_uris(stored: &str) -> Result<Vec<RedirectUri>, crate::domain::RedirectUriError> {
    stored.lines().map(RedirectUri::parse).collect()
}

impl Tx {
    /// Registers a client; `Error::Conflict` when the id is taken.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_client(
        &mut self,
        client: &NewClient,
        now: DateTime<Utc>,
    ) -> Result<Client, Error> {
        self.insert_client_row(client, now, "").await?;
        Ok(Client {
            id: client.id.clone(),
            name: client.name.clone(),
            secret_hash: client.secret_hash.clone(),
            grant_types: client.grant_types.clone(),
            scopes: client.scopes.clone(),
            audience: client.audience.clone(),
            may_introspect: client.may_introspect,
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            first_party: client.first_party,
            created_at: now,
        })
    }

    /// Registers `client` only when no client exists yet (first-start bootstrap); `false`
    /// when the table already had one, or another instance starting at the same moment
    /// inserted the same id first (the unique index decides; no error).
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_first_client(
        &mut self,
        client: &NewClient,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let condition = " WHERE NOT EXISTS (SELECT 1 FROM clients) \
                         ON CONFLICT (client_id) DO NOTHING";
        Ok(self.insert_client_row(client, now, condition).await? == 1)
    }

    /// Inserts `client` when `condition` (a `WHERE` clause, or nothing) holds.
    async fn insert_client_row(
        &mut self,
        client: &NewClient,
        created_at: DateTime<Utc>,
        condition: &str,
    ) -> Result<u64, Error> {
        let sql = format!(
            "INSERT INTO clients (client_id, name, secret_hash, grant_types, scopes, audience, \
             created_at, may_introspect, redirect_uris, first_party, post_logout_redirect_uris) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11{condition}"
        );
        let inserted = on_tx!(self, |conn| {
            sqlx::query(&sql)
                .bind(client.id.as_str())
                .bind(&client.name)
                .bind(client.secret_hash.as_ref().map(SecretHash::as_bytes))
                .bind(client.grant_types.to_string())
                .bind(client.scopes.to_string())
                .bind(client.audience.as_deref())
                .bind(created_at)
                .bind(client.may_introspect)
                .bind(join_uris(&client.redirect_uris))
                .bind(client.first_party)
                .bind(join_uris(&client.post_logout_redirect_uris))
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
        })?;
        self.changed_clients.push(client.id.clone());
        Ok(inserted)
    }

    /// The client with this id as stored (never from the cache), locked until the
    /// transaction ends on PostgreSQL.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn lock_client(&mut self, id: &ClientId) -> Result<Option<Client>, Error> {
        let lock = self.row_lock();
        let sql = format!("{SELECT_CLIENT} WHERE client_id = $1{lock}");
        let row: Option<ClientRow> = on_tx!(self, |conn| {
            sqlx::query_as(&sql)
                .bind(id.as_str())
                .fetch_optional(&mut *conn)
                .await
        })?;
        row.map(Client::try_from).transpose()
    }

    /// Stores `client`'s name, grants, scopes, audience and introspection right (its secret
    /// is left alone); `false` when there is no client with its id. After the commit the
    /// cached entry is dropped here and on every instance, so the change applies to the next
    /// request.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn update_client(&mut self, client: &Client) -> Result<bool, Error> {
        let updated = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE clients SET name = $2, grant_types = $3, scopes = $4, audience = $5, \
                 may_introspect = $6, redirect_uris = $7, first_party = $8, \
                 post_logout_redirect_uris = $9 WHERE client_id = $1",
            )
            .bind(client.id.as_str())
            .bind(&client.name)
            .bind(client.grant_types.to_string())
            .bind(client.scopes.to_string())
            .bind(client.audience.as_deref())
            .bind(client.may_introspect)
            .bind(join_uris(&client.redirect_uris))
            .bind(client.first_party)
            .bind(join_uris(&client.post_logout_redirect_uris))
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.changed_clients.push(client.id.clone());
        Ok(updated == 1)
    }

    /// Replaces a confidential client's secret hash: the old secret stops working at the
    /// commit. `false` when there is no confidential client with this id.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn update_client_secret(
        &mut self,
        id: &ClientId,
        secret_hash: &SecretHash,
    ) -> Result<bool, Error> {
        let updated = on_tx!(self, |conn| {
            sqlx::query(
                "UPDATE clients SET secret_hash = $2 WHERE client_id = $1 \
                 AND secret_hash IS NOT NULL",
            )
            .bind(id.as_str())
            .bind(secret_hash.as_bytes())
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })?;
        self.changed_clients.push(id.clone());
        Ok(updated == 1)
    }

    /// Deletes a client; `false` when there was none with this id.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn delete_client(&mut self, id: &ClientId) -> Result<bool, Error> {
        let deleted = on_tx!(self, |conn| {
            sqlx::query("DELETE FROM clients WHERE client_id = $1")
                .bind(id.as_str())
                .execute(&mut *conn)
                .await
                .map(|done| done.rows_affected())
        })?;
        self.changed_clients.push(id.clone());
        Ok(deleted > 0)
    }
}

impl Store {
    /// The client with this id as the database has it now (the cache's source).
    pub(super) async fn read_client(&self, id: &ClientId) -> Result<Option<Client>, Error> {
        let sql = format!("{SELECT_CLIENT} WHERE client_id = $1");
        let row: Option<ClientRow> = on_pool!(&self.db, |pool| {
            sqlx::query_as(&sql)
                .bind(id.as_str())
                .fetch_optional(pool)
                .await
        })?;
        row.map(Client::try_from).transpose()
    }

    /// Every client, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_clients(&self) -> Result<Vec<Client>, Error> {
        let sql = format!("{SELECT_CLIENT} ORDER BY created_at, client_id");
        let rows: Vec<ClientRow> =
            on_pool!(&self.db, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(Client::try_from).collect()
    }
}
