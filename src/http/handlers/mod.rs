//! One file per endpoint; each handler is `<method>_<resource>`.

pub(super) mod admin_audit;
pub(super) mod admin_clients;
pub(super) mod admin_keys;
pub(super) mod admin_users;
pub(super) mod authorize;
pub(super) mod discovery;
pub(super) mod end_session;
pub(super) mod health;
pub(super) mod introspect;
pub(super) mod jwks;
pub(super) mod logout;
pub(super) mod metrics;
pub(super) mod password_reset;
pub(super) mod register;
pub(super) mod revoke;
pub(super) mod token;
pub(super) mod userinfo;
pub(super) mod verify_email;
