//! API tests: sigil on an ephemeral loopback port, spoken to over HTTP and gRPC.
//!
//! Every test runs against SQLite by default, or against a fresh PostgreSQL database when
//! `TEST_DATABASE_URL` is set (`scripts/test` runs the suite both ways).
#![expect(
    unreachable_pub,
    reason = "helpers are shared by the modules of this one test binary"
)]

mod admin_clients;
mod admin_keys;
mod admin_users;
mod audit;
mod authorize;
mod browser;
mod cli;
mod code_survival;
mod connections;
mod discovery;
mod email;
mod email_verified;
mod events;
mod gateways;
mod grpc;
mod grpc_hardening;
mod hardening;
mod health;
mod helpers;
mod import;
mod inbound;
mod ip_limits;
mod jwks;
mod kafka;
mod keys_export;
mod limits;
mod logs;
mod metrics;
mod openapi;
mod openid_client;
mod outage;
mod outbox;
mod password_grant;
mod redirect_uris;
mod refresh;
mod register;
mod restart;
mod rotation;
mod security;
mod sessions;
mod shared_limits;
mod shutdown;
mod storage;
mod token;
mod tracing;
mod verifier;
