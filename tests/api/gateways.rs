//! Real gateways verify sigil's tokens: HAProxy 2.6 with `jwt_verify` and the keys
//! `sigil keys export` writes (gateway/haproxy), and nginx 1.22 with njs fetching and caching
//! the JWKS (gateway/nginx), each in front of a dummy upstream. A fresh token
//! passes; a forged, expired, wrong-audience, wrong-issuer or wrong-type one gets 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`; and tokens keep passing across key
//! rotations forced with the CLI: the next key was exported before it signed.

use crate::helpers::{
    Haproxy, Nginx, TestApp, application, bad_tokens, kid_of, sigil_command, spawn_app,
};

/// Rotates with the CLI and reloads the app's ring (as its key check would, later).
pub(crate) async fn rotate(app: &TestApp) {
    let rotated = sigil_command(&app.database, &["keys", "rotate", "--force"], &[]);
    assert!(rotated.status.success(), "{rotated:?}");
    app.keys.refresh(chrono::Utc::now()).await.unwrap();
}

#[tokio::test]
async fn haproxy_accepts_sigil_tokens_refuses_bad_ones_and_keeps_accepting_across_rotations() {
    let app = spawn_app().await;
    let upstream = application().await;
    let Some(mut haproxy) = Haproxy::start(&app, upstream).await else {
        return;
    };
    let client = app.create_client("client_credentials", "read").await;

    let first = app.client_credentials_token(&client).await;
    let accepted = haproxy.get(&first).await;
    let mut refused = Vec::new();
    for (why, token) in bad_tokens(&app, &first) {
        refused.push((why, haproxy.get(&token).await));
    }
    let no_token = reqwest::get(format!("http://127.0.0.1:{}/", haproxy.port))
        .await
        .unwrap()
        .status();
    // The next key was exported before it signs: no reload needed for the rotation.
    rotate(&app).await;
    let second = app.client_credentials_token(&client).await;
    let after_rotation = (haproxy.get(&second).await, haproxy.get(&first).await);
    // The operator's step when `--watch` reports a change: re-export, re-render, reload.
    haproxy.reload(&app).await;
    rotate(&app).await;
    let third = app.client_credentials_token(&client).await;
    let after_reload = haproxy.get(&third).await;

    assert_eq!(accepted.0, 200, "{accepted:?}");
    assert!(accepted.1.contains("back at the application"));
    for (why, (status, body, challenge)) in refused {
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{why}"
        );
    }
    assert_eq!(no_token, 401);
    assert_ne!(
        kid_of(&second),
        kid_of(&first),
        "the rotation changed the signing key"
    );
    assert_eq!(
        after_rotation.0.0, 200,
        "the new key's token, without a reload"
    );
    assert_eq!(after_rotation.1.0, 200, "the retired key's token still");
    assert_ne!(kid_of(&third), kid_of(&second));
    assert_eq!(after_reload.0, 200, "the key published after the reload");
}

#[tokio::test]
async fn nginx_accepts_sigil_tokens_refuses_bad_ones_and_keeps_accepting_across_rotations() {
    let app = spawn_app().await;
    let upstream = application().await;
    let Some(nginx) = Nginx::start(&app, upstream).await else {
        return;
    };
    let client = app.create_client("client_credentials", "read").await;

    let first = app.client_credentials_token(&client).await;
    let accepted = nginx.get(&first).await;
    let mut refused = Vec::new();
    for (why, token) in bad_tokens(&app, &first) {
        refused.push((why, nginx.get(&token).await));
    }
    // The JWKS nginx cached (max-age 10 min) already holds the next key.
    rotate(&app).await;
    let second = app.client_credentials_token(&client).await;
    let after_rotation = (nginx.get(&second).await, nginx.get(&first).await);
    // Two more: the key signing now was published after nginx cached the JWKS, so the
    // unknown kid makes one uncached fetch.
    rotate(&app).await;
    rotate(&app).await;
    let third = app.client_credentials_token(&client).await;
    let unknown_before = nginx.get(&third).await;

    assert_eq!(accepted.0, 200, "{accepted:?}");
    assert!(accepted.1.contains("back at the application"));
    for (why, (status, body, challenge)) in refused {
        assert_eq!(status, 401, "{why}: {body}");
        assert_eq!(
            challenge.as_deref(),
            Some("Bearer error=\"invalid_token\""),
            "{why}"
        );
    }
    assert_ne!(kid_of(&second), kid_of(&first));
    assert_eq!(
        after_rotation.0.0, 200,
        "the new key's token, from the cached JWKS"
    );
    assert_eq!(after_rotation.1.0, 200, "the retired key's token still");
    assert_eq!(
        unknown_before.0, 200,
        "a key newer than the cache: one refetch finds it"
    );
}
