//! The application layer without a socket, for the unit tests of each part: a `Sigil` over a
//! fresh SQLite database in a temporary directory, its key ring loaded, cheap password hashes,
//! limits off and the clock manual.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use secrecy::SecretString;

use super::{
    Admin, AuditFilter, AuditView, AuthMethod, ClientAuthentication, ClientSpec, Credential, Error,
    Grant, IssuedTokens, IssuerSettings, LimitSettings, NewAccount, Sigil, TokenRequest,
};
use crate::clock::Clock;
use crate::domain::SigningAlgorithm;
use crate::hooks::Hooks;
use crate::keys::{KeyEncryptionKey, KeyRing, KeySettings, RotationPolicy};
use crate::metrics::Metrics;
use crate::password::{HashParams, PasswordHasher};
use crate::store::{Store, StoreOptions};

/// The cheapest argon2id the hasher accepts: tests check logic, not cost.
const CHEAP: HashParams = HashParams {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

/// A `Sigil` on its own database; the directory goes with it.
pub(crate) struct Harness {
    pub(crate) sigil: Sigil,
    pub(crate) clock: Clock,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A fresh instance: empty database, a new key ring, no limits.
    pub(crate) async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sigil.db").display()
        );
        let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Clock::manual(Utc::now());
        let ring = load_ring(&store, clock.now()).await;
        let sigil = Sigil::new(
            store.clone(),
            Arc::new(ring),
            PasswordHasher::new(CHEAP, 1).unwrap(),
            settings(clock.clone()),
            Metrics::new(),
        );
        Self {
            sigil,
            clock,
            _dir: dir,
        }
    }

    /// Now, on the harness's clock.
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The admin capability of the command line.
    pub(crate) fn admin(&self) -> Admin {
        Admin::command_line()
    }

    /// The audit rows of `action`, newest first.
    pub(crate) async fn audit_rows(&self, action: &str) -> Vec<AuditView> {
        let filter = AuditFilter {
            action: Some(action.to_owned()),
            ..AuditFilter::default()
        };
        let admin = self.admin();
        let page = self.sigil.audit.list(&admin, filter, self.now());
        page.await.unwrap().events
    }

    /// A public client allowed `grant_types` (space-separated) and scope `openid`; its id.
    pub(crate) async fn public_client(&self, grant_types: &str) -> String {
        let spec = ClientSpec {
            name: "Dashboard".to_owned(),
            grant_types: grant_types.split(' ').map(str::to_owned).collect(),
            scopes: "openid".to_owned(),
            public: true,
            ..ClientSpec::default()
        };
        let admin = self.admin();
        let registered = self.sigil.clients.register(&admin, spec, self.now());
        registered.await.unwrap().client.id.to_string()
    }

    /// A verified user with password `PASSWORD`.
    pub(crate) async fn user(&self, email: &str) {
        let account = NewAccount {
            email: email.to_owned(),
            credential: Credential::Password(PASSWORD.to_owned().into()),
            display_name: None,
            is_admin: false,
            email_verified: true,
        };
        let admin = self.admin();
        let created = self.sigil.accounts.create(&admin, account, self.now());
        created.await.unwrap();
    }

    /// A token request of public client `client_id`.
    pub(crate) async fn issue(&self, client_id: &str, grant: Grant) -> Result<IssuedTokens, Error> {
        let request = TokenRequest {
            client: public(client_id),
            grant,
            client_ip: None,
        };
        self.sigil.tokens.issue(request, self.now()).await
    }

    /// A password login of `email` through public client `client_id`.
    pub(crate) async fn login(&self, client_id: &str, email: &str) -> IssuedTokens {
        let grant = Grant::Password {
            username: email.to_owned(),
            password: SecretString::from(PASSWORD.to_owned()),
            scope: None,
        };
        self.issue(client_id, grant).await.unwrap()
    }
}

/// The password of every test user.
pub(crate) const PASSWORD: &str = "correct horse battery";

/// Public client `client_id` presenting no secret.
pub(crate) fn public(client_id: &str) -> ClientAuthentication {
    ClientAuthentication {
        client_id: client_id.to_owned(),
        secret: None,
        method: AuthMethod::None,
    }
}

/// The refresh grant of `tokens`' refresh token.
pub(crate) fn refresh(tokens: &IssuedTokens) -> Grant {
    Grant::RefreshToken {
        refresh_token: tokens.refresh_token.clone().unwrap(),
        scope: None,
    }
}

async fn load_ring(store: &Store, now: DateTime<Utc>) -> KeyRing {
    let kek = KeyEncryptionKey::parse(&"A".repeat(43)).unwrap();
    let settings = KeySettings {
        algorithm: SigningAlgorithm::Rs256,
        rsa_bits: 2048,
    };
    let minute = Duration::from_secs(60);
    let policy = RotationPolicy::new(
        30 * 24 * 60 * minute,
        10 * minute,
        minute,
        15 * minute,
        5 * minute,
    );
    KeyRing::load(store.clone(), kek, settings, policy, now)
        .await
        .unwrap()
}

fn settings(clock: Clock) -> IssuerSettings {
    IssuerSettings {
        issuer: "https://auth.test".to_owned(),
        default_audience: "https://api.test".to_owned(),
        access_token_ttl: Duration::from_secs(900),
        refresh_token_ttl: Duration::from_secs(86_400),
        refresh_grace: Duration::ZERO,
        password_min_length: 8,
        registration: true,
        mail: false,
        require_verified_email: false,
        audit_retention: Duration::from_secs(86_400),
        limits: LimitSettings::off(),
        hooks: Hooks::default(),
        clock,
        events_client_credentials: false,
    }
}
