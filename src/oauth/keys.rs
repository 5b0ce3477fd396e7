//! Signing keys for operators: list, rotate now, revoke in an emergency; and what the
//! public endpoints publish (JWKS) and the operations endpoints report.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::admin::{Admin, audited, read_audited};
use crate::domain::KeyState;
use crate::keys::{Jwks, KeyRing, KeyRingError};
use crate::oauth::Error;
use crate::oauth::KeyView;
use crate::store::{AuditEntry, Store, StoredKey};

/// Why a key operation failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A manual rotation would sign with a key verifiers may not have fetched yet.
    #[error("{0}")]
    NextKeyTooFresh(String),
    /// No published key has this kid.
    #[error("no published key has this kid")]
    UnknownKid,
}

/// What an emergency revocation did.
#[derive(Debug)]
pub struct Revoked {
    /// The state the key was in.
    pub was: KeyState,
    /// Every key ever in the ring, afterwards.
    pub ring: Vec<KeyView>,
}

impl From<KeyRingError> for Error {
    fn from(error: KeyRingError) -> Self {
        match error {
            KeyRingError::NextKeyTooFresh { .. } => {
                KeyError::NextKeyTooFresh(error.to_string()).into()
            }
            KeyRingError::Store(error) => error.into(),
            other => Self::Internal(other.into()),
        }
    }
}

/// The key ring's use cases; cheap to clone.
#[derive(Clone)]
pub struct Keys {
    ring: Arc<KeyRing>,
    store: Store,
}

impl Keys {
    /// Use cases over `ring` (whose transitions `store` records).
    pub fn new(ring: Arc<KeyRing>, store: Store) -> Self {
        Self { ring, store }
    }

    /// The JWKS of every published key.
    pub fn jwks(&self) -> Arc<Jwks> {
        self.ring.jwks()
    }

    /// The `kid` of the key signing access tokens now.
    pub fn current_kid(&self) -> String {
        self.ring.current_kid()
    }

    /// The published keys (not removed, not revoked) with their states, for metrics.
    pub async fn published(&self) -> Result<Vec<(String, &'static str)>, Error> {
        let keys = self.ring.list().await?;
        Ok(keys
            .into_iter()
            .filter(|key| key.state != KeyState::Removed && !key.revoked)
            .map(|key| (key.kid, key.state.as_str()))
            .collect())
    }

    /// Every key ever in the ring, oldest first.
    #[tracing::instrument(skip_all)]
    pub async fn list(&self, admin: &Admin, now: DateTime<Utc>) -> Result<Vec<KeyView>, Error> {
        list_keys(&self.store, admin, now).await
    }

    /// Promotes the next key now (refused while it is younger than the publish lead, unless
    /// `force`) and publishes a fresh one; the ring afterwards.
    #[tracing::instrument(skip_all)]
    pub async fn rotate(
        &self,
        admin: &Admin,
        force: bool,
        now: DateTime<Utc>,
    ) -> Result<Vec<KeyView>, Error> {
        let entry = AuditEntry::new(admin.actor(), "key.rotate", now)
            .details(serde_json::json!({ "force": force }));
        let rotated = self.ring.rotate(now, force, admin.actor()).await;
        audited(&self.store, entry, rotated.map_err(Error::from)).await?;
        Ok(views(self.ring.list().await?))
    }

    /// Emergency revocation of `kid`: the key leaves the JWKS at once (its row is in the
    /// audit log with the revocation); an unknown kid is `UnknownKid`, recorded as a failure.
    #[tracing::instrument(skip_all, fields(kid = %kid))]
    pub async fn revoke(
        &self,
        admin: &Admin,
        kid: &str,
        now: DateTime<Utc>,
    ) -> Result<Revoked, Error> {
        let entry = AuditEntry::new(admin.actor(), "key.revoke", now).target("key", kid);
        let revoked = match self.ring.revoke(kid, now, admin.actor()).await {
            Ok(Some(was)) => Ok(was),
            Ok(None) => Err(KeyError::UnknownKid.into()),
            Err(error) => Err(Error::from(error)),
        };
        let was = audited(&self.store, entry, revoked).await?;
        Ok(Revoked {
            was,
            ring: views(self.ring.list().await?),
        })
    }
}

/// Every key ever in `store`'s ring, oldest first, recording `key.list`.
pub(super) async fn list_keys(
    store: &Store,
    admin: &Admin,
    now: DateTime<Utc>,
) -> Result<Vec<KeyView>, Error> {
    let keys = store.list_all_signing_keys().await.map_err(Error::from);
    let entry = AuditEntry::new(admin.actor(), "key.list", now);
    Ok(views(read_audited(store, entry, keys).await?))
}

fn views(keys: Vec<StoredKey>) -> Vec<KeyView> {
    keys.into_iter().map(KeyView::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::testing::Harness;

    fn current(ring: &[KeyView]) -> Vec<&str> {
        let current = ring.iter().filter(|key| key.state == KeyState::Current);
        current.map(|key| key.kid.as_str()).collect()
    }

    #[tokio::test]
    async fn a_forced_rotation_makes_the_next_key_current_and_publishes_another() {
        let harness = Harness::new().await;
        let (keys, admin, now) = (&harness.sigil.keys, harness.admin(), harness.now());
        let before = keys.list(&admin, now).await.unwrap();
        let next: Vec<&str> = before
            .iter()
            .filter(|key| key.state == KeyState::Next)
            .map(|key| key.kid.as_str())
            .collect();

        let fresh = keys.rotate(&admin, false, now).await;
        let after = keys.rotate(&admin, true, now).await.unwrap();

        assert!(matches!(
            fresh,
            Err(Error::Key(KeyError::NextKeyTooFresh(_)))
        ));
        assert_eq!(current(&after), next, "the published next key signs now");
        assert!(
            after
                .iter()
                .any(|key| key.state == KeyState::Next && !next.contains(&key.kid.as_str()))
        );
    }

    #[tokio::test]
    async fn revoking_an_unknown_kid_is_refused_and_recorded() {
        let harness = Harness::new().await;
        let (keys, admin, now) = (&harness.sigil.keys, harness.admin(), harness.now());

        let revoked = keys.revoke(&admin, "no-such-kid", now).await;

        assert!(matches!(revoked, Err(Error::Key(KeyError::UnknownKid))));
        let rows = harness.audit_rows("key.revoke").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].outcome, "failure");
    }
}
