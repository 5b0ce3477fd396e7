//! The application layer without a socket, for the unit tests of each part: a `Sigil` over a
//! fresh SQLite database in a temporary directory, its key ring loaded, cheap password hashes,
//! limits off and the clock manual.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use secrecy::SecretString;

use super::{
    Admin, AuditFilter, AuditView, AuthMethod, AuthorizeParams, ClientAuthentication, ClientSpec,
    Credential, Error, Grant, IssuedTokens, IssuerSettings, LimitSettings, NewAccount, NewSession,
    Sigil, Step, TokenRequest,
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
    /// A fresh instance: empty database, a new key ring, no limits, no mail.
    pub(crate) async fn new() -> Self {
        Self::with(|_| {}).await
    }

    /// A fresh instance with the test settings as `adjust` changes them.
    pub(crate) async fn with(adjust: impl FnOnce(&mut IssuerSettings)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("sigil.db").display()
        );
        let store = Store::connect(&url, StoreOptions::default()).await.unwrap();
        store.migrate().await.unwrap();
        let clock = Clock::manual(Utc::now());
        let ring = load_ring(&store, clock.now()).await;
        let mut settings = settings(clock.clone());
        adjust(&mut settings);
        let sigil = Sigil::new(
            store.clone(),
            Arc::new(ring),
            PasswordHasher::new(CHEAP, 1).unwrap(),
            settings,
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

    /// A browser client (authorization code with PKCE, refresh) going back to
    /// `REDIRECT_URI` and, after a logout, to `LOGGED_OUT_URI`; its id. A third-party client
    /// asks for consent.
    pub(crate) async fn browser_client(&self, first_party: bool) -> String {
        let spec = ClientSpec {
            name: "Web app".to_owned(),
            grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
            scopes: "openid profile".to_owned(),
            public: true,
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            post_logout_redirect_uris: vec![LOGGED_OUT_URI.to_owned()],
            first_party,
            ..ClientSpec::default()
        };
        let admin = self.admin();
        let registered = self.sigil.clients.register(&admin, spec, self.now());
        registered.await.unwrap().client.id.to_string()
    }

    /// A verified user with password `PASSWORD`; its id.
    pub(crate) async fn user(&self, email: &str) -> String {
        self.user_verified(email, true).await
    }

    /// A user with password `PASSWORD`, its address verified or not; its id.
    pub(crate) async fn user_verified(&self, email: &str, email_verified: bool) -> String {
        let account = NewAccount {
            email: email.to_owned(),
            credential: Credential::Password(PASSWORD.to_owned().into()),
            display_name: None,
            is_admin: false,
            email_verified,
        };
        let admin = self.admin();
        let created = self.sigil.accounts.create(&admin, account, self.now());
        created.await.unwrap().id.to_string()
    }

    /// Signs `email` in with `PASSWORD` at the hosted login of `params`' request.
    pub(crate) async fn sign_in(
        &self,
        params: &AuthorizeParams,
        email: &str,
    ) -> Result<(Step, Option<NewSession>), Error> {
        let credentials = (email.to_owned(), SecretString::from(PASSWORD.to_owned()));
        let login = self
            .sigil
            .browser
            .login(params, credentials, None, self.now());
        login.await
    }

    /// A code for `email` from first-party browser client `client_id` (PKCE with
    /// `VERIFIER`), and the browser session's cookie.
    pub(crate) async fn code(&self, client_id: &str, email: &str) -> (String, NewSession) {
        let params = authorize_params(client_id, "");
        let (step, session) = self.sign_in(&params, email).await.unwrap();
        (
            query_value(&redirect(step), "code").unwrap(),
            session.unwrap(),
        )
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

/// Where the browser clients of the tests go back to.
pub(crate) const REDIRECT_URI: &str = "https://app.test/cb";
/// Where they go after a logout.
pub(crate) const LOGGED_OUT_URI: &str = "https://app.test/bye";
/// A PKCE verifier and its S256 challenge (RFC 7636 appendix B).
pub(crate) const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An authorization request of `client_id` for `REDIRECT_URI` with scope `openid`, state
/// `xyz`, nonce `n-1`, the S256 challenge of `VERIFIER`, and the parameters of `extra` (a
/// query string).
pub(crate) fn authorize_params(client_id: &str, extra: &str) -> AuthorizeParams {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", "openid")
        .append_pair("state", "xyz")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .finish();
    let query = match extra {
        "" => query,
        extra => format!("{query}&{extra}"),
    };
    AuthorizeParams::from_query(&query)
}

/// The URI of a redirect step; panics on any other step.
pub(crate) fn redirect(step: Step) -> String {
    match step {
        Step::Redirect(uri) => uri,
        other => panic!("expected a redirect, got {other:?}"),
    }
}

/// The value of query parameter `name` of `uri`.
pub(crate) fn query_value(uri: &str, name: &str) -> Option<String> {
    let uri = url::Url::parse(uri).unwrap();
    uri.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The code grant for `code` with `REDIRECT_URI` and `VERIFIER`.
pub(crate) fn code_grant(code: &str) -> Grant {
    Grant::AuthorizationCode {
        code: crate::domain::AuthorizationCode::presented(code.to_owned()),
        redirect_uri: Some(REDIRECT_URI.to_owned()),
        code_verifier: Some(VERIFIER.to_owned()),
    }
}

/// The claims of a JWT, read without checking its signature (the tests check what was put
/// in; verification is tested against the JWKS elsewhere).
pub(crate) fn claims(jwt: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

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
