//! `/admin/keys`: bearer authentication with scope `admin`, list, rotate, revoke.

use serde_json::Value;
use sigil::clock::Clock;

use sigil::hooks::Checkpoint;

use crate::helpers::{TestApp, kid_of, spawn_app, spawn_app_with};

async fn admin_token(app: &TestApp) -> String {
    let client = app.create_client("client_credentials", "admin").await;
    app.client_credentials_token(&client).await
}

#[tokio::test]
async fn missing_or_garbage_bearer_token_is_401_invalid_token() {
    let app = spawn_app().await;

    for token in [None, Some("garbage"), Some("a.b.c")] {
        let response = app.admin(reqwest::Method::GET, "/admin/keys", token).await;

        assert_eq!(response.status(), 401, "{token:?}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn token_without_admin_scope_is_403_insufficient_scope() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;
    let token = app.client_credentials_token(&client).await;

    let response = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;

    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn forged_and_expired_tokens_are_rejected() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| config.clock = clock.clone()).await;
    let genuine = admin_token(&app).await;
    let cases = crate::helpers::forgeries(&app, &genuine).await;

    for (token, reason) in &cases {
        let response = app
            .admin(reqwest::Method::GET, "/admin/keys", Some(token))
            .await;
        assert_eq!(response.status(), 401, "{reason}");
    }
    assert_eq!(
        app.admin(reqwest::Method::GET, "/admin/keys", Some(&genuine))
            .await
            .status(),
        200,
        "genuine works"
    );
    clock.advance(app.config.keys.access_token_ttl);
    let expired = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&genuine))
        .await;
    assert_eq!(expired.status(), 401, "expired");
}

#[tokio::test]
async fn admin_lists_keys_with_states_and_no_key_material() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;

    let response = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;

    assert_eq!(response.status(), 200);
    let keys: Value = response.json().await.unwrap();
    let mut states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(states, ["current", "next"]);
    let text = keys.to_string();
    for secret_member in ["\"d\"", "sealed", "private", "\"n\""] {
        assert!(!text.contains(secret_member), "{secret_member} in {text}");
    }
}

#[tokio::test]
async fn rotate_waits_for_the_publish_lead_unless_forced() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let before = kid_of(&token);

    let early = app
        .admin(reqwest::Method::POST, "/admin/keys/rotate", Some(&token))
        .await;
    let forced = app
        .admin(
            reqwest::Method::POST,
            "/admin/keys/rotate?force=true",
            Some(&token),
        )
        .await;

    assert_eq!(early.status(), 409);
    assert_eq!(forced.status(), 200);
    let keys: Value = forced.json().await.unwrap();
    let state_of = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&before), "retired");
    let after = kid_of(&admin_token(&app).await);
    assert_ne!(after, before);
    assert_eq!(state_of(&after), "current");
    let served = app.served_kids().await;
    assert_eq!(
        served.len(),
        3,
        "current, fresh next, and the retired key: {served:?}"
    );
}

#[tokio::test]
async fn revoking_the_current_key_removes_it_from_the_jwks_at_once() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let compromised = kid_of(&token);

    let response = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{compromised}/revoke"),
            Some(&token),
        )
        .await;

    assert_eq!(response.status(), 200);
    let served = app.served_kids().await;
    assert!(
        !served.contains(&compromised),
        "revoked key still published"
    );
    assert_eq!(
        served.len(),
        2,
        "a new current and a new next key: {served:?}"
    );
    let after = admin_token(&app).await;
    assert_ne!(kid_of(&after), compromised);
    let stale = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;
    assert_eq!(
        stale.status(),
        401,
        "tokens signed by the revoked key no longer verify"
    );
    let unknown = app
        .admin(
            reqwest::Method::POST,
            "/admin/keys/nope/revoke",
            Some(&after),
        )
        .await;
    assert_eq!(unknown.status(), 404);
}

/// Waits for `future`, failing the test after ten seconds instead of hanging.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("{what} in time"))
}

/// The ring in the database, as another instance would load it: kids by state.
async fn stored(app: &TestApp, state: &str) -> Vec<String> {
    let sql = format!("SELECT kid FROM signing_keys WHERE state = '{state}'");
    app.database.strings(&sql).await
}

#[tokio::test]
async fn revoking_the_current_key_while_the_next_is_being_replaced_never_leaves_the_ring_without_a_signing_key()
 {
    // Each revocation is held after its commit, before it reloads the ring and publishes a
    // fresh next key: the ring as other instances see it in that moment.
    let held = Checkpoint::holding(2);
    let app = spawn_app_with(|config| config.hooks.key_revoked = Some(held.clone())).await;
    let token = admin_token(&app).await;
    let current = kid_of(&token);
    let next = stored(&app, "next").await.pop().unwrap();
    let revoke = |kid: String| {
        let (api, token) = (app.api.clone(), token.clone());
        tokio::spawn(async move {
            let path = format!("/admin/keys/{kid}/revoke");
            api.admin(reqwest::Method::POST, &path, Some(&token))
                .await
                .status()
        })
    };

    // The next key is revoked; its replacement is not made yet.
    let first = revoke(next.clone());
    within("the first revocation committed", held.reached(1)).await;
    assert!(stored(&app, "next").await.is_empty());
    // The current key is revoked now: it may leave only with a successor in its place.
    let second = revoke(current.clone());
    within("the second revocation committed", held.reached(1)).await;
    let signing = stored(&app, "current").await;
    assert_eq!(signing.len(), 1, "exactly one signing key: {signing:?}");
    assert!(!signing.contains(&current) && !signing.contains(&next));

    held.release(2);
    assert_eq!(first.await.unwrap(), 200);
    assert_eq!(second.await.unwrap(), 200);
    let fresh = admin_token(&app).await;
    assert_eq!(kid_of(&fresh), signing[0], "the successor signs");
    let served = app.served_kids().await;
    assert!(
        !served.contains(&current) && !served.contains(&next),
        "{served:?}"
    );
    assert_eq!(
        stored(&app, "next").await.len(),
        1,
        "and a fresh next key is published"
    );
}
