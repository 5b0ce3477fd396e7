//! `grant_type=password`: users log in with email and password.

use std::time::{Duration, Instant};

use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{AUDIENCE, CHEAP_HASH, ISSUER, PASSWORD, spawn_app, spawn_app_with, verify};

#[tokio::test]
async fn password_grant_issues_an_access_token_for_the_user_and_a_refresh_token() {
    let app = spawn_app().await;
    let user_id = app.create_user("ann@example.com").await;
    let client = app
        .create_client("password,refresh_token", "read write")
        .await;

    let response = app
        .login(&client, "Ann@Example.com", PASSWORD, Some("read"))
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "read");
    assert!(
        body.get("id_token").is_none(),
        "no openid scope, no ID token"
    );
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 43, "at least 256 bits");
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        AUDIENCE,
    )
    .claims;
    assert_eq!(
        claims["sub"],
        user_id.as_str(),
        "sub is the user's stable id"
    );
    assert_eq!(claims["client_id"], client.id.as_str());
    assert!(claims["sid"].is_string(), "the token names its session");
}

#[tokio::test]
async fn openid_scope_adds_an_id_token_for_the_client() {
    let app = spawn_app().await;
    let user_id = app.create_user("ann@example.com").await;
    let client = app.create_client("password", "openid").await;

    let body: Value = app
        .login(&client, "ann@example.com", PASSWORD, None)
        .await
        .json()
        .await
        .unwrap();

    let id_token = body["id_token"].as_str().expect("an ID token");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwks = app.jwks().await;
    let key = DecodingKey::from_jwk(jwks.find(&header.kid.unwrap()).unwrap()).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[client.id.as_str()]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation)
        .unwrap()
        .claims;
    assert_eq!(claims["sub"], user_id.as_str());
    assert!(claims["auth_time"].as_i64().unwrap() <= claims["iat"].as_i64().unwrap());
    assert!(
        body.get("refresh_token").is_none(),
        "the client may not use refresh_token"
    );
}

#[tokio::test]
async fn public_clients_log_in_without_a_secret() {
    let app = spawn_app().await;
    app.create_user("ann@example.com").await;
    let client = app.create_public_client("password,refresh_token", "").await;

    let body = app.logged_in(&client, "ann@example.com").await;
    let refreshed = app
        .refresh(&client, body["refresh_token"].as_str().unwrap(), None)
        .await;

    assert_eq!(refreshed.status(), 200);
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_answer_in_about_the_same_time() {
    // Real OWASP parameters here, so hashing dominates the time as in production.
    let app =
        spawn_app_with(|config| config.passwords.hash_params = sigil::password::HashParams::OWASP)
            .await;
    app.create_user("ann@example.com").await;
    let client = app.create_client("password", "").await;
    let mut timings = [Vec::new(), Vec::new()];
    let mut bodies = Vec::new();

    for round in 0..32 {
        let (username, password) = match round % 2 {
            0 => ("ann@example.com", "wrong password"),
            _ => ("nobody@example.com", PASSWORD),
        };
        let started = Instant::now();
        let response = app.login(&client, username, password, None).await;
        timings[round % 2].push(started.elapsed());
        assert_eq!(response.status(), 400);
        bodies.push(response.text().await.unwrap());
    }

    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "identical bodies: {bodies:?}"
    );
    assert!(bodies[0].contains("invalid_grant"));
    // The fastest of 16 interleaved tries is the intrinsic cost; slower ones are noise from
    // the other tests sharing the two cores (run alone, the ratio is about 1.0). The leak
    // this guards against is gross: skipping the hash for unknown users makes them ~20x
    // faster, which a 2x bound still catches under any load.
    let fastest = |times: &[Duration]| times.iter().min().unwrap().as_secs_f64();
    let (wrong, unknown) = (fastest(&timings[0]), fastest(&timings[1]));
    let ratio = wrong.max(unknown) / wrong.min(unknown);
    assert!(
        ratio < 2.0,
        "wrong password {wrong:.4}s vs unknown user {unknown:.4}s"
    );
}

#[tokio::test]
async fn a_client_without_the_password_grant_is_unauthorized_client() {
    let app = spawn_app().await;
    app.create_user("ann@example.com").await;
    let client = app.create_client("client_credentials", "").await;

    let response = app.login(&client, "ann@example.com", PASSWORD, None).await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
}

#[tokio::test]
async fn missing_username_or_password_is_invalid_request() {
    let app = spawn_app().await;
    let client = app.create_client("password", "").await;

    for form in [
        vec![("grant_type", "password"), ("password", "x")],
        vec![("grant_type", "password"), ("username", "a@b.co")],
    ] {
        let response = app.post_token(&form, client.basic()).await;

        assert_eq!(response.status(), 400);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{form:?}");
    }
}

#[tokio::test]
async fn admin_scope_goes_only_to_admin_users() {
    let app = spawn_app().await;
    app.create_user("ann@example.com").await;
    let client = app.create_client("password", "read admin").await;

    let asked = app
        .login(&client, "ann@example.com", PASSWORD, Some("admin"))
        .await;
    let default = app.logged_in(&client, "ann@example.com").await;

    assert_eq!(asked.status(), 400);
    assert_eq!(
        asked.json::<Value>().await.unwrap()["error"],
        "invalid_scope"
    );
    assert_eq!(
        default["scope"], "read",
        "admin silently dropped from the default scope"
    );
}

#[tokio::test]
async fn a_login_rehashes_a_password_made_with_old_parameters() {
    let mut app = spawn_app().await;
    let user_id = app.create_user("ann@example.com").await;
    let client = app.create_client("password", "").await;
    let stronger = sigil::password::HashParams {
        memory_kib: 512,
        ..CHEAP_HASH
    };
    app.config.passwords.hash_params = stronger;
    app.restart().await;

    app.logged_in(&client, "ann@example.com").await;

    let user = app
        .store()
        .await
        .find_user(&sigil::domain::UserId::parse(user_id.as_str()).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(
        user.password_hash
            .starts_with("$argon2id$v=19$m=512,t=1,p=1$"),
        "{}",
        user.password_hash
    );
    app.logged_in(&client, "ann@example.com").await;
}
