//! `TestDatabase`: a fresh SQLite file or PostgreSQL database per test, and the template
//! with a key ring that most apps start from.

use sigil::config::Config;
use sigil::store::StoreOptions;
use sqlx::Connection as _;
use tempfile::TempDir;

use super::*;

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
    pub(super) fn named() -> Self {
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
    pub(super) async fn materialize(&self, template: Option<&Template>) {
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
    /// How many rows `table` holds.
    pub async fn rows(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE $1 = $1");
        self.count(&sql, "").await
    }

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

/// A database with tables and a key ring (and the key-encryption key opening it), made once
/// per test run and copied into each app that needs nothing else.
pub struct Template {
    dir: TempDir,
    /// The PostgreSQL template database's name.
    postgres: Option<String>,
}

pub async fn template() -> &'static Template {
    static TEMPLATE: tokio::sync::OnceCell<Template> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            let database = TestDatabase::named();
            database.materialize(None).await;
            let config = test_config(&database);
            let options = StoreOptions::default();
            let store = sigil::core::open_store(&database.url, options)
                .await
                .unwrap();
            sigil::core::load_key_ring(&store, &config.keys, chrono::Utc::now())
                .await
                .unwrap();
            store.close().await;
            if !database.is_postgres() {
                // Copies take the database file alone: everything must be in it, none of it
                // left in the write-ahead log.
                let mut conn = sqlx::SqliteConnection::connect(&database.url)
                    .await
                    .unwrap();
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                conn.close().await.unwrap();
            }
            let mut database = database;
            let postgres = database.postgres.take().map(|(_, name)| name);
            let dir = std::mem::replace(&mut database.dir, tempfile::tempdir().unwrap());
            Template { dir, postgres }
        })
        .await
}

/// Whether two configurations make the same key ring at the same times.
pub fn same_key_settings(config: &Config, default: &Config) -> bool {
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
