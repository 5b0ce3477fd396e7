//! `Sigil`: the application layer, the one door every transport goes through. HTTP
//! handlers and CLI commands parse their input, make one call here and render the result;
//! policy (who may do what, limits, paging, audit) lives behind that call.

use std::sync::Arc;

use super::{
    AccountSettings, Accounts, AuditLog, Browser, Clients, Directory, DirectorySettings, Error,
    IssuerSettings, Keys, TokenIssuer,
};
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::password::PasswordHasher;
use crate::store::Store;

/// Every use case of a running server; cheap to clone.
#[derive(Clone)]
pub struct Sigil {
    /// Token issuance, sessions, revocation, introspection, userinfo, admin authorization.
    pub tokens: TokenIssuer,
    /// Registration and user administration.
    pub accounts: Accounts,
    /// Client administration.
    pub clients: Clients,
    /// Signing keys.
    pub keys: Keys,
    /// The audit log.
    pub audit: AuditLog,
    /// Browser login: the authorization endpoint, the login and consent steps.
    pub browser: Browser,
    /// User events from a directory elsewhere (`--inbound-users`).
    pub directory: Directory,
    pub(super) store: Store,
}

impl Sigil {
    /// Wires every use case to the store, key ring, password hasher and metrics.
    pub fn new(
        store: Store,
        ring: Arc<KeyRing>,
        hasher: PasswordHasher,
        settings: IssuerSettings,
        metrics: Metrics,
    ) -> Self {
        let accounts = AccountSettings {
            password_min_length: settings.password_min_length,
            registration: settings.registration,
            mail: settings.mail,
            require_verified_email: settings.require_verified_email,
        };
        let directory = Directory::new(
            store.clone(),
            metrics.clone(),
            DirectorySettings {
                own_source: settings.issuer.clone(),
                mail: settings.mail,
                require_verified_email: settings.require_verified_email,
            },
        );
        let tokens = TokenIssuer::new(
            store.clone(),
            ring.clone(),
            hasher.clone(),
            settings,
            metrics,
        );
        Self {
            accounts: Accounts::with_limits(
                store.clone(),
                hasher,
                accounts,
                Some(tokens.limits.clone()),
            ),
            clients: Clients::new(store.clone()),
            keys: Keys::new(ring, store.clone()),
            audit: AuditLog::new(store.clone()),
            browser: Browser::new(store.clone(), tokens.clone()),
            directory,
            tokens,
            store,
        }
    }

    /// Ready to serve: the database answers. The kid signing now.
    pub async fn ready(&self) -> Result<String, Error> {
        self.store.ping().await?;
        Ok(self.keys.current_kid())
    }
}

/// The use cases an operator runs at the host's command line, straight on the database (no
/// server needed). Every one takes `Admin::command_line()` and is audited like its HTTP twin.
#[derive(Clone)]
pub struct Operator {
    /// Client administration.
    pub clients: Clients,
    /// The audit log.
    pub audit: AuditLog,
    store: Store,
}

impl Operator {
    /// The operator's use cases over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            clients: Clients::new(store.clone()),
            audit: AuditLog::new(store.clone()),
            store,
        }
    }

    /// User administration, hashing with `hasher` under a minimum password length.
    pub fn accounts(&self, hasher: PasswordHasher, password_min_length: usize) -> Accounts {
        Accounts::new(self.store.clone(), hasher, password_min_length)
    }

    /// Accounts for `sigil user import`, which stores hashes and computes none: one hashing
    /// thread with the default parameters, idle.
    pub fn importer(&self) -> anyhow::Result<Accounts> {
        let hasher = PasswordHasher::new(crate::password::HashParams::OWASP, 1)?;
        Ok(self.accounts(hasher, 0))
    }

    /// Key administration over a loaded ring.
    pub fn keys(&self, ring: Arc<KeyRing>) -> Keys {
        Keys::new(ring, self.store.clone())
    }

    /// The public keys of the ring as files for verifiers that cannot fetch the JWKS, read
    /// without loading the ring (no key-encryption key needed). Not audited: it is the JWKS,
    /// public, and `--watch` reads it every few seconds.
    pub async fn export_keys(
        &self,
        format: crate::keys::ExportFormat,
    ) -> Result<Vec<crate::keys::ExportedFile>, super::Error> {
        let keys = self.store.list_signing_keys().await?;
        crate::keys::export(&keys, format).map_err(super::Error::Internal)
    }

    /// Every key ever in the ring, without loading it (no key-encryption key needed).
    pub async fn list_keys(
        &self,
        admin: &super::Admin,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<super::KeyView>, super::Error> {
        super::keys::list_keys(&self.store, admin, now).await
    }
}
