//! `TestApp`: sigil built and served in-process on a loopback port, its configuration, and
//! seeding through the application layer.

use std::sync::Arc;
use std::time::Duration;

use sigil::app::Application;
use sigil::clock::Clock;
use sigil::config::{Config, KeyConfig, PasswordConfig};
use sigil::domain::ClientId;
use sigil::domain::SigningAlgorithm;
use sigil::hooks::Hooks;
use sigil::keys::KeyRing;
use sigil::oauth::{Admin, Bootstrap, ClientSpec, LimitSettings, Operator};
use sigil::store::{Store, StoreOptions};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

/// A running sigil and a client to talk to it.
pub struct TestApp {
    pub api: Api,
    pub keys: Arc<KeyRing>,
    pub config: Config,
    pub database: TestDatabase,
    server: Option<RunningServer>,
    /// The test's own handle on the database, opened once on first use.
    store: tokio::sync::OnceCell<Store>,
}

/// A registered client and its one-time secret.
#[derive(Clone)]
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

pub fn test_config(database: &TestDatabase) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: Some("127.0.0.1:0".parse().unwrap()),
        management_listen: None,
        shutdown: sigil::shutdown::ShutdownSettings::default(),
        issuer: ISSUER.to_owned(),
        default_audience: AUDIENCE.to_owned(),
        client_cache_ttl: Duration::from_secs(30),
        request_timeout: Duration::from_secs(10),
        connections: sigil::listen::ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_age: Duration::from_secs(3600),
            max_connections: 10_000,
            max_per_ip: 0,
            ipv6_prefix: 64,
        },
        refresh_token_ttl: Duration::from_secs(7 * 86_400),
        refresh_grace: Duration::ZERO,
        registration: true,
        require_verified_email: false,
        audit_retention: Duration::from_secs(365 * 86_400),
        maintenance_interval: Duration::from_secs(60),
        events: None,
        mail: None,
        passwords: PasswordConfig {
            min_length: 8,
            hash_params: CHEAP_HASH,
            hash_concurrency: 2,
        },
        keys: KeyConfig {
            database_url: database.url.clone(),
            event_sinks: Vec::new(),
            keys_dir: database.dir.path().join("keys"),
            key_encryption_key: None,
            signing_algorithm: SigningAlgorithm::Rs256,
            rsa_bits: 2048,
            access_token_ttl: Duration::from_secs(900),
            jwks_max_age: Duration::from_secs(600),
            key_rotation: Duration::from_secs(30 * 86_400),
            key_check_interval: Duration::from_secs(60),
            clock_skew: Duration::from_secs(300),
        },
        // Off by default: the brute-force tests switch them on.
        limits: LimitSettings::off(),
        trusted_proxies: Vec::new(),
        bootstrap: Bootstrap {
            admin_client_id: Some(ClientId::parse(ADMIN_CLIENT_ID).unwrap()),
            admin_client_secret: Some(ADMIN_CLIENT_SECRET.to_owned().into()),
            admin_user: None,
        },
        clock: Clock::system(),
        hooks: Hooks::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(customize: impl FnOnce(&mut Config)) -> TestApp {
    try_spawn_app_with(customize).await.expect("app builds")
}

/// `spawn_app_with`, its start failure returned (a port another process took meanwhile).
pub async fn try_spawn_app_with(customize: impl FnOnce(&mut Config)) -> anyhow::Result<TestApp> {
    sigil::telemetry::init_for_tests();
    let database = TestDatabase::named();
    let mut config = test_config(&database);
    customize(&mut config);
    // Generating the two RSA-2048 keys of a new ring is most of a start's cost: an app whose
    // key settings are the defaults starts from a copy of one ring made once per run. One
    // that changes them (or runs on a manual clock) starts empty, as a first start does.
    let template = match same_key_settings(&config, &test_config(&database)) {
        true => Some(template().await),
        false => None,
    };
    database.materialize(template).await;
    let running = RunningServer::try_start(config.clone()).await?;
    Ok(TestApp {
        api: running.api(),
        keys: running.keys.clone(),
        config,
        database,
        server: Some(running),
        store: tokio::sync::OnceCell::new(),
    })
}

/// One running `Application` and the handle that stops it.
pub struct RunningServer {
    pub address: String,
    pub grpc: Option<String>,
    /// The management listener (`http://host:port`), when one is configured.
    pub management: Option<String>,
    pub keys: Arc<KeyRing>,
    /// The served router, for requests without a socket.
    pub router: axum::Router,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl RunningServer {
    /// Builds and serves `config` exactly as `sigil serve` does.
    pub async fn start(config: Config) -> Self {
        Self::try_start(config).await.expect("app builds")
    }

    /// `start`, its failure returned.
    pub async fn try_start(config: Config) -> anyhow::Result<Self> {
        let application = Application::build(config).await?;
        let address = format!("http://{}", application.local_addr());
        let grpc = application.grpc_addr().map(|a| format!("http://{a}"));
        let management = application.management_addr().map(|a| format!("http://{a}"));
        let keys = application.key_ring();
        let router = application.router();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            application
                .run_until(async { stopped.await.unwrap_or(()) })
                .await
                .unwrap();
        });
        Ok(Self {
            address,
            grpc,
            management,
            keys,
            router,
            stop,
            handle,
        })
    }

    /// An HTTP client for this server.
    pub fn api(&self) -> Api {
        Api {
            address: self.address.clone(),
            http: reqwest::Client::new(),
            grpc: self.grpc.clone(),
        }
    }

    /// Graceful shutdown, waiting until the server has stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap();
    }
}

impl TestApp {
    /// The management listener's base URL; panics unless one is configured.
    pub fn management_url(&self) -> String {
        let server = self.server.as_ref().expect("the app is running");
        server.management.clone().expect("a management listener")
    }

    /// The running server's router, for requests sent in-process (`oneshot`, no socket).
    pub fn router(&self) -> axum::Router {
        self.server
            .as_ref()
            .expect("the app is running")
            .router
            .clone()
    }

    /// Starts the server again with the current configuration.
    async fn start(&mut self) {
        let running = RunningServer::start(self.config.clone()).await;
        self.api = running.api();
        self.keys = running.keys.clone();
        self.server = Some(running);
    }

    /// Stops the server gracefully and starts a new one on the same database and keys.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.start().await;
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
    }

    /// The test's handle on the database (one per app: one pool, one writer).
    pub async fn store(&self) -> Store {
        let open = || async {
            let options = StoreOptions {
                client_cache_ttl: Duration::from_secs(1),
                ..StoreOptions::default()
            };
            Store::connect(&self.database.url, options).await.unwrap()
        };
        self.store.get_or_init(open).await.clone()
    }

    /// The application layer as an operator at the command line uses it: how tests seed
    /// and change clients and users (audited as the system actor `cli`).
    pub async fn operator(&self) -> Operator {
        Operator::new(self.store().await)
    }

    /// Registers a confidential client, as `sigil client create` does.
    pub async fn create_client(&self, grants: &str, scopes: &str) -> TestClient {
        self.create_client_with_audience(grants, scopes, None).await
    }

    pub async fn create_client_with_audience(
        &self,
        grants: &str,
        scopes: &str,
        audience: Option<&str>,
    ) -> TestClient {
        let spec = ClientSpec {
            name: "test client".into(),
            grant_types: names(grants),
            scopes: scopes.into(),
            audience: audience.map(str::to_owned),
            ..ClientSpec::default()
        };
        register(&self.operator().await, spec).await
    }
}

impl TestApp {
    /// Registers a confidential client allowed to introspect other clients' tokens.
    pub async fn create_resource_server(&self) -> TestClient {
        let spec = ClientSpec {
            name: "resource server".into(),
            grant_types: names("client_credentials"),
            introspection: true,
            ..ClientSpec::default()
        };
        register(&self.operator().await, spec).await
    }

    /// Registers a public client (no secret), as `sigil client create --public` does.
    pub async fn create_public_client(&self, grants: &str, scopes: &str) -> TestClient {
        let spec = ClientSpec {
            name: "public test client".into(),
            grant_types: names(grants),
            scopes: scopes.into(),
            public: true,
            ..ClientSpec::default()
        };
        register(&self.operator().await, spec).await
    }

    /// Deletes a user through the application layer.
    pub async fn delete_user(&self, id: &str) {
        let operator = self.operator().await;
        let accounts = operator.accounts(
            sigil::password::PasswordHasher::new(CHEAP_HASH, 1).unwrap(),
            8,
        );
        accounts
            .delete(&Admin::command_line(), id, chrono::Utc::now())
            .await
            .unwrap();
    }
}

/// Registers a confidential client through `operator`, as `sigil client create` does.
pub async fn create_client(operator: &Operator, grants: &str, scopes: &str) -> TestClient {
    let spec = ClientSpec {
        name: "test client".into(),
        grant_types: names(grants),
        scopes: scopes.into(),
        ..ClientSpec::default()
    };
    register(operator, spec).await
}

/// Registers a client through the application layer, as `sigil client create` does.
async fn register(operator: &Operator, spec: ClientSpec) -> TestClient {
    let registered = operator
        .clients
        .register(&Admin::command_line(), spec, chrono::Utc::now())
        .await
        .unwrap();
    TestClient {
        id: registered.client.id.to_string(),
        secret: registered
            .secret
            .map(|secret| secret.expose().to_owned())
            .unwrap_or_default(),
    }
}

/// The grant names of a space- or comma-separated list, one each (as the CLI splits its flag).
fn names(list: &str) -> Vec<String> {
    list.split([' ', ','])
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Waits until `/metrics` shows `line` (the relays report after each pass).
pub async fn metric_reaches(app: &TestApp, line: &str) {
    let mut metrics = String::new();
    for _ in 0..200 {
        metrics = app.get("/metrics").await.text().await.unwrap();
        if metrics.lines().any(|shown| shown == line) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/metrics never showed {line:?}:\n{metrics}");
}
