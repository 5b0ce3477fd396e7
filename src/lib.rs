//! sigil: an OAuth2/OIDC-style token issuer.
//!
//! Where each concern lives (dependencies point inward: {main, cli} → app → {http, grpc} →
//! core → oauth → {store, keys, events, password, metrics} → domain; nothing points back):
//! - `cli`: the command line; `cli/settings.rs` turns flags into `config::Config` (config
//!   imports neither cli nor any transport). `app`: binds the transports to a built core and
//!   serves until a stop signal, then stops in the phases of `shutdown`. `clock`, `hooks`,
//!   `telemetry`, `listen`: the time source, test seams, logs and OpenTelemetry traces (the
//!   only user of the opentelemetry crates), and the connection limits every listener shares.
//! - `core`: `Core::build(config)` assembles store, key ring, application layer and workers;
//!   `Core::stop` ends them. `core::open` opens what a single command needs.
//! - `http`: axum router (`routes` says which handler answers which path, `router` stacks the
//!   layers, `openapi` reads the routes), handlers, extractors, error rendering (one table
//!   from the application's error kinds), the hosted pages (askama templates under
//!   `templates/`, one layout, auto-escaped) and their cookies (through `axum_extra`'s jar),
//!   and the connection loop (`serve`: idle, age and per-address limits); the only user of
//!   axum. Handlers parse, make one call into `oauth`, render; they never touch `store` or
//!   `keys`, and take their settings as `HttpSettings`, never `Config`.
//! - `grpc`: the tonic server of `sigil.v1.Auth` (compiled from `proto/` by `build.rs`),
//!   health and reflection; the only user of tonic. Each rpc makes the one call into `oauth`
//!   that its HTTP twin makes, and maps errors by the same classification.
//! - `oauth`: the application layer, the one door of every transport: `Sigil` (tokens,
//!   accounts, clients, keys, audit, browser login) for the server and `Operator` for the
//!   command line. One error type (`oauth::Error`) classified once; transports get views
//!   (`UserView`, `ClientView`, `KeyView`, `AuditView`), never store rows. Each use case
//!   carries its `Actor`, runs its writes in one store transaction and records its audit row
//!   in it.
//! - `events`: the relay of the transactional outbox to NATS JetStream, the CloudEvents
//!   envelope and the sink seam; the only user of async-nats. Mail over SMTP (`mail.rs`,
//!   askama templates); the only user of lettre. `worker`: the one loop both relays run.
//! - `keys`: the key ring, JWKS and key encryption; the only user of josekit.
//! - `password`: argon2id hashing off the async runtime; the only user of argon2.
//! - `metrics`: Prometheus counters and gauges; the only user of prometheus-client.
//! - `store`: SQLite and PostgreSQL persistence and its unit of work (`Tx`); the only user of
//!   sqlx. It executes what the application decides and composes no audit row or event.
//! - `domain`: parsed value types shared by every layer (`UserId`, `FamilyId`, `ClientId`,
//!   `Scope`, `SigningAlgorithm`, ...).

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
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod worker;
