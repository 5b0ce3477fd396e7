//! The in-memory client cache in front of the `clients` table, and, on PostgreSQL, the
//! listener that keeps every instance's cache in step with the others' changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::future::Cache;

use super::clients::Client;
use super::{Error, Pools, Store};
use crate::domain::ClientId;

/// Most clients kept in the lookup cache.
const CACHE_CAPACITY: u64 = 10_000;

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
        let fetched = self.read_client(id).await;
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
        let client = Arc::new(row);
        self.clients.store(client.clone(), generation).await;
        Ok(Some(client))
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
                    Ok(Some(notice)) if notice.channel() == super::OUTBOX_CHANNEL => {
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
        .listen_all([CHANGES_CHANNEL, super::OUTBOX_CHANNEL])
        .await?;
    Ok(listener)
}
