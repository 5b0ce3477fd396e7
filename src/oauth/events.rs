//! The events the application layer writes with its changes (SPEC "Events"): one builder per
//! entity, so each event's data has one shape wherever it is written. Data never holds a
//! secret, a hash or a token.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::store::{Client, NewEvent, User};

/// `user.<verb>`: `created`, `updated` (with the names of the `changed` fields) or `deleted`.
pub(super) fn user(
    verb: &'static str,
    user: &User,
    changed: &[&str],
    at: DateTime<Utc>,
) -> NewEvent {
    let mut data = json!({
        "user_id": user.id,
        "email": user.email,
        "email_verified": false,
        "admin": user.is_admin,
        "disabled": user.disabled,
    });
    if verb == "updated" {
        data["changed"] = json!(changed);
    }
    NewEvent::new("user", user.id.as_str(), verb, data, at)
}

/// `client.<verb>`: `created`, `updated`, `deleted` or `secret_rotated`.
pub(super) fn client(verb: &'static str, client: &Client, at: DateTime<Utc>) -> NewEvent {
    let grant_types: Vec<&str> = client
        .grant_types
        .iter()
        .map(|grant| grant.as_str())
        .collect();
    let data = json!({
        "client_id": client.id.as_str(),
        "name": client.name,
        "grant_types": grant_types,
        "scope": client.scopes.to_string(),
    });
    NewEvent::new("client", client.id.as_str(), verb, data, at)
}
