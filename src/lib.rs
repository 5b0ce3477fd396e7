//! sigil: an OAuth2/OIDC-style token issuer.
//!
//! Where each concern lives (dependencies point inward: {http, grpc, cli} → oauth → {store,
//! keys, events} → domain):
//! - `cli`, `config`, `telemetry`, `app`, `clock`: command line, typed configuration, logging,
//!   wiring, and the injectable time source; `hooks`, the test seams that hold a request at
//!   a named point.
//! - `http`: axum router, handlers, extractors, error rendering (one table from the
//!   application's error kinds), the hosted pages (askama templates under `templates/`, one
//!   layout, auto-escaped) and their cookies (through `axum_extra`'s jar), and the connection
//!   loop (`serve`:
//!   idle, age and per-address limits); the only user of axum besides `app`. Handlers parse,
//!   make one call into `oauth`, render; they never touch `store` or `keys`.
//! - `grpc`: the tonic server of `sigil.v1.Auth` (compiled from `proto/` by `build.rs`),
//!   health and reflection; the only user of tonic. Each rpc makes the one call into `oauth`
//!   that its HTTP twin makes.
//! - `oauth`: the application layer, the one door of every transport: `Sigil` (tokens,
//!   accounts, clients, keys, audit) for the server and `Operator` for the command line. Each
//!   use case carries its `Actor`, runs its writes in one store transaction and records its
//!   audit row in it. Grant logic (client authentication, scopes, token minting) lives here,
//!   free of HTTP; so do the emailed links (`verification`) and the mail relay (`postman`).
//! - `keys`: the key ring, JWKS and key encryption; the only user of josekit.
//! - `events`: the relay of the transactional outbox to NATS JetStream, the CloudEvents
//!   envelope and the sink seam; the only user of async-nats. Mail over SMTP (`mail.rs`,
//!   templates in the binary); the only user of lettre.
//! - `password`: argon2id hashing off the async runtime; the only user of argon2.
//! - `metrics`: Prometheus counters and gauges; the only user of prometheus-client.
//! - `store`: SQLite and PostgreSQL persistence and its unit of work (`Tx`); the only user of
//!   sqlx.
//! - `domain`: parsed value types shared by every layer.

pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod hooks;
pub mod http;
pub mod keys;
pub mod listen;
pub mod metrics;
pub mod oauth;
pub mod password;
mod signals;
pub mod store;
pub mod telemetry;
pub mod worker;
