//! What differs per grant; the shared steps are in `oauth/mod.rs`.

pub(super) mod authorization_code;
pub(super) mod client_credentials;
pub(super) mod password;
pub(super) mod refresh_token;
