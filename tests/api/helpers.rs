//! `spawn_app()` and the request helpers every test uses.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, TokenData, Validation};
use serde_json::Value;
use sigil::app::Application;
use sigil::clock::Clock;
use sigil::config::{Config, KeyConfig, PasswordConfig};
use sigil::domain::ClientId;
use sigil::hooks::Hooks;
use sigil::keys::{KeyRing, SigningAlgorithm};
use sigil::oauth::{Admin, Bootstrap, ClientSpec, LimitSettings, Operator};
use sigil::password::HashParams;
use sigil::store::{Store, StoreOptions};
use sqlx::Connection as _;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Issuer of every test app.
pub const ISSUER: &str = "https://sigil.test/tenant";
/// Cheap argon2id parameters, so tests spend their time on behaviour, not hashing.
pub const CHEAP_HASH: HashParams = HashParams {
    memory_kib: 256,
    iterations: 1,
    parallelism: 1,
};
/// A password that satisfies the policy.
pub const PASSWORD: &str = "correct horse battery";

/// The admin client every test app bootstraps (SIGIL_ADMIN_CLIENT_ID/_SECRET).
pub const ADMIN_CLIENT_ID: &str = "bootstrap-admin";
pub const ADMIN_CLIENT_SECRET: &str = "admin-secret-with-at-least-32-characters";

/// Default audience of every test app.
pub const AUDIENCE: &str = "https://api.test";

/// A fresh database: a SQLite file in a temp dir, or a randomly named PostgreSQL database
/// (dropped afterwards) when `TEST_DATABASE_URL` is set.
pub struct TestDatabase {
    pub url: String,
    pub dir: TempDir,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// An empty database: no tables, no keys (the first start creates them).
    pub async fn create() -> Self {
        let database = Self::named();
        database.materialize(None).await;
        database
    }

    /// A directory, URL and name, with nothing created yet.
    fn named() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
            let url = format!("sqlite://{}", dir.path().join("sigil.db").display());
            return Self {
                url,
                dir,
                postgres: None,
            };
        };
        let name = format!("sigil_test_{}", uuid::Uuid::new_v4().simple());
        let url = match admin_url.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{name}"),
            None => unreachable!("TEST_DATABASE_URL has a database path"),
        };
        Self {
            url,
            dir,
            postgres: Some((admin_url, name)),
        }
    }

    /// Creates the database: empty, or a copy of `template` (its tables, its key ring and
    /// the key-encryption key that opens it).
    async fn materialize(&self, template: Option<&Template>) {
        if let Some(template) = template {
            copy_dir(
                &template.dir.path().join("keys"),
                &self.dir.path().join("keys"),
            );
        }
        let Some((admin_url, name)) = &self.postgres else {
            if let Some(template) = template {
                std::fs::copy(
                    template.dir.path().join("sigil.db"),
                    self.dir.path().join("sigil.db"),
                )
                .unwrap();
            }
            return;
        };
        let create = match template.and_then(|template| template.postgres.as_deref()) {
            Some(source) => format!("CREATE DATABASE {name} TEMPLATE {source}"),
            None => format!("CREATE DATABASE {name}"),
        };
        // PostgreSQL copies a template for one CREATE DATABASE at a time.
        static CREATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one = CREATING.lock().await;
        let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
        sqlx::query(&create).execute(&mut admin).await.unwrap();
    }

    /// Runs `SELECT COUNT(*) ...` with one text bind on whichever backend this is.
    pub async fn count(&self, sql: &str, bind: &str) -> i64 {
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql)
                .bind(bind)
                .fetch_one(&mut conn)
                .await
                .unwrap()
        }
    }

    /// Runs one statement with one text bind on whichever backend this is.
    pub async fn execute(&self, sql: &str, bind: &str) {
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .bind(bind)
                .execute(&mut conn)
                .await
                .unwrap();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query(sql)
                .bind(bind)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }

    /// The first column of every row of `sql`, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }

    /// Runs one statement with text binds; the database's refusal as an error.
    pub async fn try_execute(&self, sql: &str, binds: &[&str]) -> Result<u64, String> {
        if self.is_postgres() {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query
                .execute(&mut conn)
                .await
                .map(|done| done.rows_affected())
                .map_err(|error| error.to_string())
        } else {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            let mut query = sqlx::query(sql);
            for bind in binds {
                query = query.bind(*bind);
            }
            query
                .execute(&mut conn)
                .await
                .map(|done| done.rows_affected())
                .map_err(|error| error.to_string())
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    /// Everything stored: the raw SQLite files (database and WAL), or every row of every
    /// PostgreSQL table as JSON text.
    pub async fn dump(&self) -> Vec<u8> {
        let Some((_, _)) = &self.postgres else {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                let path = self.dir.path().join(format!("sigil.db{suffix}"));
                bytes.extend(std::fs::read(path).unwrap_or_default());
            }
            return bytes;
        };
        let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
        let tables: Vec<(String,)> = sqlx::query_as(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut dump = String::new();
        for (table,) in tables {
            let rows: Vec<(String,)> =
                sqlx::query_as(&format!("SELECT row_to_json(t)::text FROM {table} t"))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap();
            rows.into_iter().for_each(|(row,)| dump.push_str(&row));
        }
        dump.into_bytes()
    }
}

/// Runs `count` requests truly at once: each task waits at a barrier until all are ready,
/// then sends. Returns the results in task order.
pub async fn parallel<F, Fut, T>(count: usize, request: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(count));
    let tasks: Vec<_> = (0..count)
        .map(|i| {
            let barrier = barrier.clone();
            let future = request(i);
            tokio::spawn(async move {
                barrier.wait().await;
                future.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(count);
    for task in tasks {
        results.push(task.await.unwrap());
    }
    results
}

/// How many of `statuses` are `status`.
pub fn count_status(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: impl AsRef<[u8]>) -> bool {
    let needle = needle.as_ref();
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs inside the test's runtime, so the async cleanup gets a thread of its own.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
                let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                sqlx::query(&drop).execute(&mut admin).await.unwrap();
            });
        });
        let _ = cleanup.join();
    }
}

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
        issuer: ISSUER.to_owned(),
        default_audience: AUDIENCE.to_owned(),
        client_cache_ttl: Duration::from_secs(30),
        request_timeout: Duration::from_secs(10),
        connections: sigil::http::ConnectionLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        },
        refresh_token_ttl: Duration::from_secs(7 * 86_400),
        refresh_grace: Duration::ZERO,
        registration: true,
        audit_retention: Duration::from_secs(365 * 86_400),
        maintenance_interval: Duration::from_secs(60),
        passwords: PasswordConfig {
            min_length: 8,
            hash_params: CHEAP_HASH,
            hash_concurrency: 2,
        },
        keys: KeyConfig {
            database_url: database.url.clone(),
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
        limits: LimitSettings {
            login_failures_per_user: 0,
            login_failures_per_ip: 0,
            login_window: Duration::from_secs(900),
            shared: true,
            registrations_per_ip: 0,
            registrations_total: 0,
            registration_window: Duration::from_secs(3600),
            client_rate: None,
        },
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
    let running = RunningServer::start(config.clone()).await;
    TestApp {
        api: running.api(),
        keys: running.keys.clone(),
        config,
        database,
        server: Some(running),
        store: tokio::sync::OnceCell::new(),
    }
}

/// A database with tables and a key ring (and the key-encryption key opening it), made once
/// per test run and copied into each app that needs nothing else.
pub struct Template {
    dir: TempDir,
    /// The PostgreSQL template database's name.
    postgres: Option<String>,
}

async fn template() -> &'static Template {
    static TEMPLATE: tokio::sync::OnceCell<Template> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let database = TestDatabase::named();
            database.materialize(None).await;
            let config = test_config(&database);
            let options = StoreOptions::default();
            let store = sigil::app::open_store(&database.url, options)
                .await
                .unwrap();
            sigil::app::load_key_ring(&store, &config.keys, chrono::Utc::now())
                .await
                .unwrap();
            store.close().await;
            let mut database = database;
            let postgres = database.postgres.take().map(|(_, name)| name);
            let dir = std::mem::replace(&mut database.dir, tempfile::tempdir().unwrap());
            Template { dir, postgres }
        })
        .await
}

/// Whether two configurations make the same key ring at the same times.
fn same_key_settings(config: &Config, default: &Config) -> bool {
    let (a, b) = (&config.keys, &default.keys);
    !config.clock.is_manual()
        && a.key_encryption_key.is_none()
        && a.keys_dir == b.keys_dir
        && a.signing_algorithm == b.signing_algorithm
        && a.rsa_bits == b.rsa_bits
        && a.access_token_ttl == b.access_token_ttl
        && a.jwks_max_age == b.jwks_max_age
        && a.key_rotation == b.key_rotation
        && a.key_check_interval == b.key_check_interval
        && a.clock_skew == b.clock_skew
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

/// One running `Application` and the handle that stops it.
pub struct RunningServer {
    pub address: String,
    pub keys: Arc<KeyRing>,
    stop: oneshot::Sender<()>,
    handle: JoinHandle<()>,
}

impl RunningServer {
    /// Builds and serves `config` exactly as `sigil serve` does.
    pub async fn start(config: Config) -> Self {
        let application = Application::build(config).await.expect("app builds");
        let address = format!("http://{}", application.local_addr());
        let keys = application.key_ring();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            application
                .run_until(async { stopped.await.unwrap_or(()) })
                .await
                .unwrap();
        });
        Self {
            address,
            keys,
            stop,
            handle,
        }
    }

    /// An HTTP client for this server.
    pub fn api(&self) -> Api {
        Api {
            address: self.address.clone(),
            http: reqwest::Client::new(),
        }
    }

    /// Graceful shutdown, waiting until the server has stopped.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        self.handle.await.unwrap();
    }
}

impl TestApp {
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
            grant_types: grants.into(),
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
            grant_types: "client_credentials".into(),
            introspection: true,
            ..ClientSpec::default()
        };
        register(&self.operator().await, spec).await
    }

    /// Registers a public client (no secret), as `sigil client create --public` does.
    pub async fn create_public_client(&self, grants: &str, scopes: &str) -> TestClient {
        let spec = ClientSpec {
            name: "public test client".into(),
            grant_types: grants.into(),
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
        grant_types: grants.into(),
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

/// Request helpers for one server.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub http: reqwest::Client,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST /token` with a form body and, optionally, Basic credentials (sent raw).
    pub async fn post_token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let body = serde_urlencoded(form);
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            let encoded = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        request.send().await.unwrap()
    }

    /// A client_credentials token via Basic auth; panics unless it is a 200.
    pub async fn client_credentials_token(&self, client: &TestClient) -> String {
        let response = self
            .post_token(
                &[("grant_type", "client_credentials")],
                Some((&client.id, &client.secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn jwks(&self) -> JwkSet {
        self.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap()
    }
}

impl TestClient {
    /// Basic credentials, or `None` for a public client (it sends `client_id` in the body).
    pub fn basic(&self) -> Option<(&str, &str)> {
        (!self.secret.is_empty()).then_some((self.id.as_str(), self.secret.as_str()))
    }

    /// The form fields a public client adds to identify itself.
    fn identify<'a>(&'a self, form: &mut Vec<(&'a str, &'a str)>) {
        if self.secret.is_empty() {
            form.push(("client_id", &self.id));
        }
    }
}

impl Api {
    /// `POST /register` with a JSON body.
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let body = serde_json::json!({ "email": email, "password": password });
        self.http
            .post(self.url("/register"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a user; panics unless `201`. Returns the user id.
    pub async fn create_user(&self, email: &str) -> String {
        let response = self.register(email, PASSWORD).await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The password grant.
    pub async fn login(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        client.identify(&mut form);
        self.post_token(&form, client.basic()).await
    }

    /// A successful password-grant response body; panics otherwise.
    pub async fn logged_in(&self, client: &TestClient, username: &str) -> Value {
        let response = self.login(client, username, PASSWORD, None).await;
        assert_eq!(response.status(), 200, "login of {username}");
        response.json().await.unwrap()
    }

    /// The refresh_token grant.
    pub async fn refresh(
        &self,
        client: &TestClient,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        client.identify(&mut form);
        self.post_token(&form, client.basic()).await
    }

    /// A password login through `client` that says it comes from `ip` (`X-Forwarded-For`,
    /// believed when loopback is a trusted proxy).
    pub async fn login_from(
        &self,
        client: &TestClient,
        ip: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        client.identify(&mut form);
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", ip)
            .body(serde_urlencoded(&form));
        if let Some((id, secret)) = client.basic() {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// A public client (no secret) registered through the admin API.
    pub async fn public_client(&self, grants: &[&str], scope: &str) -> TestClient {
        let body = serde_json::json!({
            "name": "dashboard", "grant_types": grants, "scope": scope, "public": true
        });
        let created = self
            .admin_ok(reqwest::Method::POST, "/admin/clients", Some(body), 201)
            .await;
        TestClient {
            id: created["client_id"].as_str().unwrap().to_owned(),
            secret: String::new(),
        }
    }

    /// A form POST to an OAuth endpoint with the client's credentials.
    pub async fn client_post(
        &self,
        path: &str,
        client: &TestClient,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = fields.to_vec();
        client.identify(&mut form);
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded(&form));
        if let Some((id, secret)) = client.basic() {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// `POST /introspect`; returns the JSON answer, panicking unless `200`.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        let response = self
            .client_post("/introspect", client, &[("token", token)])
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `GET` with a Bearer token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The bootstrap admin client.
pub fn admin_client() -> TestClient {
    TestClient {
        id: ADMIN_CLIENT_ID.to_owned(),
        secret: ADMIN_CLIENT_SECRET.to_owned(),
    }
}

impl Api {
    /// A client_credentials token of the bootstrap admin client (scope `admin`).
    pub async fn admin_token(&self) -> String {
        self.client_credentials_token(&admin_client()).await
    }

    /// An admin API call with an optional Bearer token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.admin_json(method, path, token, None).await
    }

    /// An admin API call with an optional Bearer token and an optional JSON body.
    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// An admin API call that must answer `expected`; returns the JSON body (`Null` if none).
    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let token = self.admin_token().await;
        let response = self
            .admin_json(method.clone(), path, Some(&token), body)
            .await;
        assert_eq!(response.status(), expected, "{method} {path}");
        let text = response.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// Form-encodes pairs (RFC 6749 appendix B).
pub fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}

/// Verifies `token` against `jwks` with the independent `jsonwebtoken` crate: signature,
/// `typ`, `iss`, `aud`, `exp`; returns the claims.
pub fn verify(token: &str, jwks: &JwkSet, audience: &str) -> TokenData<Value> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 typ");
    let kid = header.kid.as_deref().expect("token has a kid");
    let jwk = jwks
        .find(kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("token verifies")
}

/// Keys dir of an app, for tests that inspect the key-encryption key.
pub fn keys_dir(app: &TestApp) -> PathBuf {
    app.config.keys.keys_dir.clone()
}

/// A real `sigil serve` process, its stderr drained by a thread so it never blocks on logs.
pub struct SigilProcess {
    child: std::process::Child,
    pub address: String,
    logs: Arc<std::sync::Mutex<Vec<String>>>,
    stdout: Arc<std::sync::Mutex<String>>,
    drain: std::thread::JoinHandle<()>,
}

impl SigilProcess {
    /// Starts `sigil --log-format json serve --listen 127.0.0.1:0 <extra>` on `database`
    /// (sharing its keys dir) and waits until it logs its address.
    pub fn serve(database: &TestDatabase, extra: &[&str]) -> Self {
        Self::serve_with_env(database, extra, &[])
    }

    /// `serve` with extra environment variables; standard output is kept apart from the log.
    pub fn serve_with_env(database: &TestDatabase, extra: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead as _, Read as _};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args([
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--issuer",
                ISSUER,
            ])
            .args(extra)
            .env("DATABASE_URL", &database.url)
            .env("SIGIL_KEYS_DIR", database.dir.path().join("keys"))
            .env("SIGIL_AUDIENCE", AUDIENCE)
            .env_remove("SIGIL_KEY_ENCRYPTION_KEY")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = out.read(&mut chunk) {
                text.push_str(&String::from_utf8_lossy(&chunk[..read]));
                *sink.lock().unwrap() = text.clone();
            }
        });
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (found, address) = std::sync::mpsc::channel();
        let sink = logs.clone();
        let drain = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(log) = serde_json::from_str::<Value>(&line)
                    && log["message"] == "listening"
                {
                    let _ = found.send(log["address"].as_str().unwrap_or_default().to_owned());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(30))
            .expect("sigil logs its address");
        Self {
            child,
            address,
            logs,
            stdout,
            drain,
        }
    }

    /// What the process printed on standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn api(&self) -> Api {
        Api {
            address: format!("http://{}", self.address),
            http: reqwest::Client::new(),
        }
    }

    /// Sends SIGTERM, waits for the exit, and returns the status and every log line.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            self.drain.join().unwrap();
            status
        })
        .await
        .unwrap();
        let logs = std::mem::take(&mut *self.logs.lock().unwrap());
        (status, logs)
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Tokens an attacker could build from a genuine one and the public JWKS, each with the
/// reason it must be rejected: `alg: none`, HS256 keyed with the public key, a kid sigil
/// never published, and a payload altered under the original signature.
pub async fn forgeries(app: &Api, genuine: &str) -> Vec<(String, &'static str)> {
    use josekit::jws::{JwsHeader, RS256};
    let kid = jsonwebtoken::decode_header(genuine).unwrap().kid.unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = Value::from("admin openid");
    claims["sub"] = Value::from("attacker");
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let alg_none = format!("{}.{}.", b64(&header), b64(&claims));
    let hs256 = {
        let secret = serde_json::to_vec(&jwks["keys"][0]).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        (header.kid, header.typ) = (Some(kid.clone()), Some("at+jwt".into()));
        jsonwebtoken::encode(
            &header,
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let unknown_kid = {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = RS256
            .signer_from_der(josekit::jwk::KeyPair::to_der_private_key(&pair))
            .unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id("not-a-sigil-key");
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &header, &signer)
            .unwrap()
    };
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    vec![
        (alg_none, "alg none"),
        (hs256, "HS256 keyed with the public key"),
        (unknown_kid, "unknown kid"),
        (tampered, "tampered payload"),
    ]
}

/// The DER of every private key in the ring, opened with the key-encryption key in the
/// database's keys dir.
pub async fn private_keys_der(database: &TestDatabase) -> Vec<Vec<u8>> {
    use josekit::jwe::Dir;
    let options = StoreOptions {
        client_cache_ttl: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let store = Store::connect(&database.url, options).await.unwrap();
    let kek_file = database
        .dir
        .path()
        .join("keys")
        .join(sigil::keys::KEK_FILE_NAME);
    let kek = URL_SAFE_NO_PAD
        .decode(std::fs::read_to_string(kek_file).unwrap().trim())
        .unwrap();
    let decrypter = Dir.decrypter_from_bytes(&kek).unwrap();
    let mut ders = Vec::new();
    for key in store.list_signing_keys().await.unwrap() {
        let sealed = key.sealed_private_key.unwrap();
        let (der, _) = josekit::jwe::deserialize_compact(&sealed, &decrypter).unwrap();
        ders.push(der);
    }
    store.close().await;
    ders
}

/// Hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text forms of every private key in the ring (DER as base64, base64url and hex prefixes;
/// the JWK private members `d`, `p`, `q`): what must never appear outside the sealed envelope.
pub async fn private_key_material(database: &TestDatabase) -> Vec<String> {
    let mut material = Vec::new();
    for der in private_keys_der(database).await {
        let hex = hex(&der);
        material.push(STANDARD.encode(&der)[..64].to_owned());
        material.push(URL_SAFE_NO_PAD.encode(&der)[..64].to_owned());
        material.push(hex[..64].to_owned());
        let pair = josekit::jws::RS256.key_pair_from_der(&der).unwrap();
        let jwk = pair.to_jwk_private_key();
        for member in ["d", "p", "q"] {
            material.push(jwk.parameter(member).unwrap().as_str().unwrap().to_owned());
        }
    }
    material
}
