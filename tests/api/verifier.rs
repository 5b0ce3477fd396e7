//! `crates/sigil-verify`, the verifier for Rust services, against a real sigil whose issuer
//! is its own address (so discovery is real): the gateways' accept/refuse table, the tower
//! layer (claims in the extensions, 401 with `WWW-Authenticate`), a rotation with no 401 and
//! no refetch (the next key was in the cached JWKS), and a flood of unknown kids that makes
//! one refetch, not one per token.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sigil_verify::{Claims, Verifier, VerifyLayer};
use tower::ServiceExt as _;

use crate::gateways::rotate;
use crate::helpers::{AUDIENCE, TestApp, bad_tokens, claims_of, free_port, try_spawn_app_with};

/// An app whose issuer is the address it listens on. The port is chosen before the app binds
/// it, so another test's listener may take it meanwhile: then another port is tried.
async fn app_at_its_own_address() -> (TestApp, String) {
    for _ in 0..5 {
        let port = free_port();
        let issuer = format!("http://127.0.0.1:{port}");
        let started = try_spawn_app_with(|config| {
            config.listen = format!("127.0.0.1:{port}").parse().unwrap();
            config.issuer = issuer.clone();
        })
        .await;
        match started {
            Ok(app) => return (app, issuer),
            Err(error) => eprintln!("port {port}: {error:#}; trying another"),
        }
    }
    panic!("no free port in five tries");
}

#[tokio::test]
async fn the_verifier_accepts_sigil_tokens_refuses_bad_ones_and_survives_a_rotation() {
    let (app, issuer) = app_at_its_own_address().await;
    let client = app.create_client("client_credentials", "read").await;
    let verifier = Verifier::builder(&issuer, AUDIENCE).build().await.unwrap();

    let first = app.client_credentials_token(&client).await;
    let accepted = verifier.verify(&first).await;
    let mut refused = Vec::new();
    for (why, token) in bad_tokens(&app, &first) {
        refused.push((why, verifier.verify(&token).await));
    }
    let other_audience = Verifier::builder(&issuer, "https://other.test")
        .build()
        .await
        .unwrap()
        .verify(&first)
        .await;
    rotate(&app).await;
    let second = app.client_credentials_token(&client).await;
    let after_rotation = (
        verifier.verify(&second).await,
        verifier.verify(&first).await,
    );

    let claims = accepted.expect("a fresh token verifies");
    assert_eq!(claims.client_id, client.id);
    assert!(claims.has_scope("read") && !claims.has_scope("write"));
    for (why, outcome) in refused {
        assert!(outcome.is_err(), "{why} must be refused");
    }
    assert!(
        other_audience.is_err(),
        "another audience's verifier refuses it"
    );
    assert_ne!(claims_of(&second)["jti"], claims_of(&first)["jti"]);
    assert!(
        after_rotation.0.is_ok(),
        "the new key's token: {:?}",
        after_rotation.0
    );
    assert!(
        after_rotation.1.is_ok(),
        "the retired key's token still verifies"
    );
    assert_eq!(
        verifier.jwks_fetches(),
        1,
        "the next key was already in the cached JWKS"
    );
}

#[tokio::test]
async fn unknown_kids_cause_one_refetch_per_interval_and_a_new_key_is_found() {
    let (app, issuer) = app_at_its_own_address().await;
    let client = app.create_client("client_credentials", "read").await;
    let verifier = Verifier::builder(&issuer, AUDIENCE)
        .refetch_interval(Duration::from_secs(2))
        .build()
        .await
        .unwrap();
    let token = app.client_credentials_token(&client).await;
    let forged_kids: Vec<String> = (0..50)
        .map(|i| {
            let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
            let header = format!(r#"{{"alg":"RS256","typ":"at+jwt","kid":"made-up-{i}"}}"#);
            parts[0] =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, header);
            parts.join(".")
        })
        .collect();

    let flood =
        futures_util::future::join_all(forged_kids.iter().map(|token| verifier.verify(token)))
            .await;
    let after_flood = verifier.jwks_fetches();
    // Two forced rotations: the key signing now was never in the verifier's cache.
    rotate(&app).await;
    rotate(&app).await;
    let fresh = app.client_credentials_token(&client).await;
    let too_soon = verifier.verify(&fresh).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let later = verifier.verify(&fresh).await;

    assert!(flood.iter().all(Result::is_err), "made-up kids are refused");
    assert_eq!(
        after_flood, 2,
        "the first fetch and one refetch for 50 unknown kids"
    );
    assert!(
        too_soon.is_err(),
        "within the interval no refetch: the kid is unknown"
    );
    assert!(
        later.is_ok(),
        "after the interval one refetch finds it: {later:?}"
    );
    assert_eq!(verifier.jwks_fetches(), 3);
}

#[tokio::test]
async fn the_layer_puts_the_claims_in_the_request_and_answers_401_with_a_challenge() {
    let (app, issuer) = app_at_its_own_address().await;
    let client = app.create_client("client_credentials", "read").await;
    let verifier = Verifier::builder(&issuer, AUDIENCE).build().await.unwrap();
    let router = axum::Router::new()
        .route(
            "/whoami",
            axum::routing::get(|claims: axum::Extension<Claims>| async move { claims.0.sub }),
        )
        .layer(VerifyLayer::new(verifier));
    let token = app.client_credentials_token(&client).await;
    let request = |authorization: Option<String>| {
        let mut builder = Request::get("/whoami");
        if let Some(value) = authorization {
            builder = builder.header("authorization", value);
        }
        builder.body(Body::empty()).unwrap()
    };

    let ok = router
        .clone()
        .oneshot(request(Some(format!("Bearer {token}"))))
        .await
        .unwrap();
    let bad = router
        .clone()
        .oneshot(request(Some("Bearer not.a.token".to_owned())))
        .await
        .unwrap();
    let none = router.oneshot(request(None)).await.unwrap();

    assert_eq!(ok.status(), StatusCode::OK);
    let body = axum::body::to_bytes(ok.into_body(), 1024).await.unwrap();
    assert_eq!(body, client.id.as_bytes(), "the handler saw the claims");
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        bad.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(none.headers()["www-authenticate"], "Bearer");
}
