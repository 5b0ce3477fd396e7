//! What every API test uses, one file per concern: the database, the app, requests, tokens,
//! key material, real processes, concurrency.

mod api;
mod app;
mod concurrency;
mod database;
mod gateway;
mod grpc;
mod kafka;
mod keys;
pub mod login;
mod nats;
mod otlp;
mod process;
mod smtp;
mod tokens;
mod webdriver;

pub use api::*;
pub use app::*;
pub use concurrency::*;
pub use database::*;
pub use gateway::*;
pub use grpc::*;
pub use kafka::*;
pub use keys::*;
pub use nats::*;
pub use otlp::*;
pub use process::*;
pub use smtp::*;
pub use tokens::*;
pub use webdriver::*;

use sigil::password::HashParams;

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

/// A loopback port nothing listens on right now (for a server started by a test).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
