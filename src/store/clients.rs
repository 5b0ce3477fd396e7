//! The `clients` table and the in-memory client cache in front of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::future::Cache;

use super::tx::on_tx;
use super::{Error, Pools, Store, Tx, on_pool};
use crate::domain::{ClientId, GrantTypes, RedirectUri, Scope, SecretHash};

/// Most clients kept in the lookup cache.
const CACHE_CAPACITY: u64 = 10_000;

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

/// Clients by id, read-mostly. An entry is *fresh* for the configured TTL (changes made by
/// another process are seen within that bound, at once on PostgreSQL, whose instances
/// announce changes). A stale entry is looked up again, but served while the database is
/// unreachable (up to `STALE_LIMIT`): client_credentials needs no write, so machine traffic
/// of known clients survives an outage.
///
/// Invalidation wins over lookups in flight: every invalidation bumps `generation`, and a
/// lookup stores what it read only when no invalidation happened since it started reading
/// (checked again after storing, and undone if one slipped in), so a secret rotation or a
/// delete racing a lookup never puts the old client back.
#[derive(Clone)]
pub(super) struct ClientCache {
    entries: Cache<ClientId, Arc<Cached>>,
    ttl: Duration,
    generation: Arc<AtomicU64>,
    epoch: Arc<AtomicU64>,
}

/// A cached client and when it was read.
struct Cached {
    client: Arc<Client>,
    fetched: Instant,
    epoch: u64,
}

/// Longest a client stays cached for use while the database is unreachable.
const STALE_LIMIT: Duration = Duration::from_secs(24 * 3600);

impl ClientCache {
    pub(super) fn new(ttl: Duration) -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CACHE_CAPACITY)
                .time_to_live(STALE_LIMIT.max(ttl))
                .build(),
            ttl,
            generation: Arc::new(AtomicU64::new(0)),
            epoch: Arc::new(AtomicU64::new(0)),
        }
    }

    fn is_fresh(&self, cached: &Cached) -> bool {
        cached.epoch == self.epoch.load(Ordering::SeqCst) && cached.fetched.elapsed() < self.ttl
    }

    /// Stores a client read since `generation` unless an invalidation came in between.
    async fn store(&self, client: Arc<Client>, generation: u64) {
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        let id = client.id.clone();
        let cached = Cached {
            client,
            fetched: Instant::now(),
            epoch: self.epoch.load(Ordering::SeqCst),
        };
        self.entries.insert(id.clone(), Arc::new(cached)).await;
        if self.generation.load(Ordering::SeqCst) != generation {
            self.entries.invalidate(&id).await;
        }
    }

    /// Drops one client (it changed).
    async fn invalidate(&self, id: &ClientId) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.entries.invalidate(id).await;
    }

    /// Marks every entry stale: each is looked up again, but still served if the database
    /// cannot answer (changes may have been missed while the change listener was away).
    fn revalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// The PostgreSQL channel on which instances announce client changes to each other.
const CHANGES_CHANNEL: &str = "sigil_clients";

/// Keeps this instance's client cache in step with changes made by other instances sharing
/// a PostgreSQL database; stops when dropped.
pub struct ClientWatcher(tokio::task::JoinHandle<()>);

impl Drop for ClientWatcher {
    fn drop(&mut self) {
        self.0.abort();
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
    /// when the table already had one.
    #[tracing::instrument(skip_all, fields(client_id = %client.id))]
    pub async fn insert_first_client(
        &mut self,
        client: &NewClient,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let condition = " WHERE NOT EXISTS (SELECT 1 FROM clients)";
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
    /// The client with this id, served from the cache when fresh, or when stale and the
    /// database is unreachable.
    #[tracing::instrument(skip_all, fields(client_id = %id))]
    pub async fn find_client(&self, id: &ClientId) -> Result<Option<Arc<Client>>, Error> {
        let cached = self.clients.entries.get(id).await;
        if let Some(cached) = &cached
            && self.clients.is_fresh(cached)
        {
            return Ok(Some(cached.client.clone()));
        }
        let generation = self.clients.generation.load(Ordering::SeqCst);
        let sql = format!("{SELECT_CLIENT} WHERE client_id = $1");
        let fetched: Result<Option<ClientRow>, Error> = async {
            Ok(on_pool!(&self.db, |pool| {
                sqlx::query_as(&sql)
                    .bind(id.as_str())
                    .fetch_optional(pool)
                    .await
            })?)
        }
        .await;
        let had_entry = cached.is_some();
        let row = match (fetched, cached) {
            (Ok(row), _) => row,
            (Err(Error::Unavailable(_)), Some(stale)) => return Ok(Some(stale.client.clone())),
            (Err(error), _) => return Err(error),
        };
        if let Some((hooked, checkpoint)) = &self.hooks.client_fetched
            && hooked == id.as_str()
        {
            checkpoint.pass().await;
        }
        let Some(row) = row else {
            // A stale entry of a client deleted meanwhile goes; an unknown id (junk traffic)
            // bumps no generation, so it never stops other lookups from caching.
            if had_entry {
                self.clients.invalidate(id).await;
            }
            return Ok(None);
        };
        let client = Arc::new(Client::try_from(row)?);
        self.clients.store(client.clone(), generation).await;
        Ok(Some(client))
    }

    /// Every client, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list_clients(&self) -> Result<Vec<Client>, Error> {
        let sql = format!("{SELECT_CLIENT} ORDER BY created_at, client_id");
        let rows: Vec<ClientRow> =
            on_pool!(&self.db, |pool| sqlx::query_as(&sql).fetch_all(pool).await)?;
        rows.into_iter().map(Client::try_from).collect()
    }

    /// Drops the cached entry here and, on PostgreSQL, tells every other instance to drop
    /// theirs, so a deleted client or a rotated secret stops working everywhere at once. A
    /// failed notice is logged: the others then see the change within the cache TTL.
    pub(super) async fn announce_client_change(&self, id: &ClientId) {
        self.clients.invalidate(id).await;
        if let Pools::Postgres(pool) = &self.db.pools {
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANGES_CHANNEL)
                .bind(id.as_str())
                .execute(pool)
                .await;
            if let Err(error) = sent {
                tracing::warn!(client_id = %id, %error, "cannot announce a client change");
            }
        }
    }

    /// On PostgreSQL, listens for other instances' client changes and drops those entries
    /// from the cache. A lost connection (notices may be missed) marks every entry stale
    /// instead of emptying the cache: while the database is unreachable, known clients keep
    /// working; once the listener is back, each is looked up again on its next use. `None`
    /// on SQLite, which one instance owns.
    /// (The same connection hears of events committed by other instances, to wake the relay.)
    pub async fn watch_client_changes(&self) -> Result<Option<ClientWatcher>, Error> {
        let Pools::Postgres(pool) = &self.db.pools else {
            return Ok(None);
        };
        let pool = pool.clone();
        let mut listener = listen(&pool).await?;
        let cache = self.clients.clone();
        let outbox = self.outbox.clone();
        Ok(Some(ClientWatcher(tokio::spawn(async move {
            loop {
                match listener.try_recv().await {
                    // Another instance committed events: this relay may be the one to send them.
                    Ok(Some(notice)) if notice.channel() == super::outbox::CHANNEL => {
                        outbox.written();
                        continue;
                    }
                    Ok(Some(notice)) => {
                        if let Ok(id) = ClientId::parse(notice.payload()) {
                            cache.invalidate(&id).await;
                        }
                        continue;
                    }
                    Ok(None) => tracing::warn!("client-change listener lost its connection"),
                    Err(error) => tracing::warn!(%error, "client-change listener failed"),
                }
                cache.revalidate_all();
                listener = loop {
                    match listen(&pool).await {
                        Ok(listener) => break listener,
                        Err(_) => tokio::time::sleep(std::time::Duration::from_secs(1)).await,
                    }
                };
                // Listening again: whatever changed while away is looked up anew.
                cache.revalidate_all();
                outbox.written();
                tracing::info!("client-change listener reconnected; cached clients revalidate");
            }
        }))))
    }
}

/// A listener on the client-change channel.
async fn listen(pool: &sqlx::PgPool) -> Result<sqlx::postgres::PgListener, Error> {
    let mut listener = sqlx::postgres::PgListener::connect_with(pool).await?;
    listener
        .listen_all([CHANGES_CHANNEL, super::outbox::CHANNEL])
        .await?;
    Ok(listener)
}
