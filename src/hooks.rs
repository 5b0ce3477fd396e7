//! Test seams: named points where a test holds one request and acts while it waits, so a
//! race that real traffic hits by chance is reproduced every time. Production leaves every
//! hook unset, and an unset hook costs one `Option` check.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

/// The hooks of one server (all unset by default).
#[derive(Clone, Default)]
pub struct Hooks {
    /// Passed by a password login after its password was checked (right or wrong), while it
    /// still holds its limit slots and before its session is created.
    pub login_checked: Option<Arc<Checkpoint>>,
    /// Passed by a lookup of the client with this id after it was read from the database
    /// and before it is cached.
    pub client_fetched: Option<(String, Arc<Checkpoint>)>,
    /// A failure injected into the store's unit of work.
    pub fault: Option<Arc<Fault>>,
    /// Passed by a key revocation after its commit, before the ring is reloaded and a fresh
    /// next key made: the moment another instance sees the ring as the revocation left it.
    pub key_revoked: Option<Arc<Checkpoint>>,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("login_checked", &self.login_checked.is_some())
            .field("client_fetched", &self.client_fetched.is_some())
            .field("fault", &self.fault)
            .field("key_revoked", &self.key_revoked.is_some())
            .finish()
    }
}

/// A point where the first requests to arrive wait until the test lets them through; later
/// ones pass freely.
#[derive(Debug)]
pub struct Checkpoint {
    holds: AtomicUsize,
    arrived: Semaphore,
    proceed: Semaphore,
}

impl Checkpoint {
    /// A checkpoint that holds the first `count` requests to arrive.
    pub fn holding(count: usize) -> Arc<Self> {
        Arc::new(Self {
            holds: AtomicUsize::new(count),
            arrived: Semaphore::new(0),
            proceed: Semaphore::new(0),
        })
    }

    /// Called by the code under test: if this request is one to hold, announces its arrival
    /// and waits to be let through.
    pub async fn pass(&self) {
        let held = self
            .holds
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        if held.is_err() {
            return;
        }
        self.arrived.add_permits(1);
        if let Ok(permit) = self.proceed.acquire().await {
            permit.forget();
        }
    }

    /// Waits until `count` requests have arrived (and are held).
    pub async fn reached(&self, count: u32) {
        if let Ok(permits) = self.arrived.acquire_many(count).await {
            permits.forget();
        }
    }

    /// Lets `count` held (or future) requests through.
    pub fn release(&self, count: usize) {
        self.proceed.add_permits(count);
    }
}

/// A failure armed at a named point of the store's unit of work (`"commit"`, or a step such
/// as `"revoke_sessions"`): the next transaction to pass it fails there and rolls back, as a
/// lost connection or a full disk would.
#[derive(Debug)]
pub struct Fault {
    point: &'static str,
    remaining: AtomicUsize,
}

impl Fault {
    /// Fails the next `times` passes through `point`.
    pub fn at(point: &'static str, times: usize) -> Arc<Self> {
        Arc::new(Self {
            point,
            remaining: AtomicUsize::new(times),
        })
    }

    /// Arms it again for `times` more passes.
    pub fn arm(&self, times: usize) {
        self.remaining.store(times, Ordering::SeqCst);
    }

    /// Whether a pass through `point` fails now (counting it).
    pub fn trips(&self, point: &str) -> bool {
        point == self.point
            && self
                .remaining
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
    }
}
