//! `POST /token` with the client_credentials grant.

use serde_json::Value;

use crate::helpers::{AUDIENCE, ISSUER, serde_urlencoded, spawn_app, spawn_app_with, verify};

/// A form body as name/value pairs.
type Form<'a> = &'a [(&'a str, &'a str)];
/// Optional Basic credentials: client id and secret.
type Basic<'a> = Option<(&'a str, &'a str)>;

#[tokio::test]
async fn client_credentials_token_verifies_offline_with_every_rfc_9068_claim() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read write").await;

    let response = app
        .post_token(
            &[("grant_type", "client_credentials"), ("scope", "read")],
            Some((&client.id, &client.secret)),
        )
        .await;

    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read");
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh token for client_credentials"
    );
    let token = body["access_token"].as_str().unwrap();
    let verified = verify(token, &app.jwks().await, AUDIENCE);
    assert_eq!(verified.header.alg, jsonwebtoken::Algorithm::RS256);
    let claims = verified.claims;
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], client.id.as_str());
    assert_eq!(claims["client_id"], client.id.as_str());
    assert_eq!(claims["aud"], AUDIENCE);
    assert_eq!(claims["scope"], "read");
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 900);
    assert!(
        (chrono::Utc::now().timestamp() - iat).abs() <= 5,
        "iat is now"
    );
    assert!(
        uuid::Uuid::parse_str(claims["jti"].as_str().unwrap()).is_ok(),
        "jti is a UUID"
    );
}

#[tokio::test]
async fn each_token_has_a_unique_jti() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;

    let first = app.client_credentials_token(&client).await;
    let second = app.client_credentials_token(&client).await;

    let jwks = app.jwks().await;
    let (a, b) = (
        verify(&first, &jwks, AUDIENCE).claims,
        verify(&second, &jwks, AUDIENCE).claims,
    );
    assert_ne!(a["jti"], b["jti"]);
    assert!(
        a.get("scope").is_none(),
        "no scope claim when the client has no scope"
    );
}

#[tokio::test]
async fn es256_tokens_verify_when_es256_is_configured() {
    let app =
        spawn_app_with(|config| config.keys.signing_algorithm = "ES256".parse().unwrap()).await;
    let client = app.create_client("client_credentials", "read").await;

    let token = app.client_credentials_token(&client).await;

    let verified = verify(&token, &app.jwks().await, AUDIENCE);
    assert_eq!(verified.header.alg, jsonwebtoken::Algorithm::ES256);
}

/// The token-size budget: gateways cache small tokens (Envoy none over 4 KiB) and big headers
/// end in 431s. A typical client_credentials token (a generated client id, two scopes, the
/// default audience) stays under 1 KiB with either algorithm (809 and 553 bytes today; the
/// README states them).
#[tokio::test]
async fn a_typical_client_credentials_token_stays_under_one_kib() {
    let mut sizes = Vec::new();
    for alg in ["RS256", "ES256"] {
        let app =
            spawn_app_with(|config| config.keys.signing_algorithm = alg.parse().unwrap()).await;
        let client = app
            .create_client("client_credentials", "invoices:read invoices:write")
            .await;

        let token = app.client_credentials_token(&client).await;

        sizes.push((alg, token.len()));
    }

    for (alg, size) in sizes {
        assert!(size < 1024, "{alg}: a {size}-byte token");
        eprintln!("{alg} client_credentials access token: {size} bytes");
    }
}

#[tokio::test]
async fn client_secret_post_works() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;

    let response = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", &client.secret),
            ],
            None,
        )
        .await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        AUDIENCE,
    );
}

#[tokio::test]
async fn basic_credentials_are_percent_decoded() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before base64; encode every byte.
    let encode_all = |s: &str| s.bytes().map(|b| format!("%{b:02X}")).collect::<String>();

    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some((&encode_all(&client.id), &encode_all(&client.secret))),
        )
        .await;

    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn wrong_secret_is_401_invalid_client_with_basic_challenge() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;

    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some((&client.id, "not-the-secret")),
        )
        .await;

    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.starts_with("Basic"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(
        !body.to_string().contains("not-the-secret"),
        "secret never echoed"
    );
}

#[tokio::test]
async fn unknown_client_and_wrong_post_secret_get_the_same_invalid_client() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;

    let unknown = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "nobody"),
                ("client_secret", "x"),
            ],
            None,
        )
        .await;
    let wrong = app
        .post_token(
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &client.id),
                ("client_secret", "x"),
            ],
            None,
        )
        .await;

    assert_eq!(unknown.status(), 401);
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.text().await.unwrap(), wrong.text().await.unwrap());
}

#[tokio::test]
async fn missing_client_authentication_is_invalid_client() {
    let app = spawn_app().await;

    let response = app
        .post_token(&[("grant_type", "client_credentials")], None)
        .await;

    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
}

#[tokio::test]
async fn unknown_grant_type_is_unsupported_grant_type() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;

    for grant in [
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ] {
        let response = app
            .post_token(&[("grant_type", grant)], Some((&client.id, &client.secret)))
            .await;

        assert_eq!(response.status(), 400, "{grant}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "unsupported_grant_type", "{grant}");
    }
}

#[tokio::test]
async fn scope_outside_the_clients_scope_is_invalid_scope() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;

    for scope in ["admin", "read admin", "read\"quoted"] {
        let response = app
            .post_token(
                &[("grant_type", "client_credentials"), ("scope", scope)],
                Some((&client.id, &client.secret)),
            )
            .await;

        assert_eq!(response.status(), 400, "{scope}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_scope", "{scope}");
    }
}

#[tokio::test]
async fn no_requested_scope_grants_every_allowed_scope() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "write read").await;

    let token = app.client_credentials_token(&client).await;

    let claims = verify(&token, &app.jwks().await, AUDIENCE).claims;
    assert_eq!(claims["scope"], "read write");
}

#[tokio::test]
async fn client_without_the_grant_is_unauthorized_client() {
    let app = spawn_app().await;
    let client = app.create_client("password,refresh_token", "").await;

    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some((&client.id, &client.secret)),
        )
        .await;

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized_client");
}

#[tokio::test]
async fn client_audience_overrides_the_default() {
    let app = spawn_app().await;
    let client = app
        .create_client_with_audience("client_credentials", "", Some("https://billing.test"))
        .await;

    let token = app.client_credentials_token(&client).await;

    let claims = verify(&token, &app.jwks().await, "https://billing.test").claims;
    assert_eq!(claims["aud"], "https://billing.test");
}

#[tokio::test]
async fn malformed_requests_are_invalid_request() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;
    let basic = Some((client.id.as_str(), client.secret.as_str()));
    let cases: [(Form<'_>, Basic<'_>, &str); 4] = [
        (&[("scope", "read")], basic, "missing grant_type"),
        (
            &[
                ("grant_type", "client_credentials"),
                ("grant_type", "client_credentials"),
            ],
            basic,
            "repeated grant_type",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_secret", &client.secret),
            ],
            basic,
            "two auth methods",
        ),
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", "someone-else"),
            ],
            basic,
            "client_id differs from Basic",
        ),
    ];

    for (form, basic, reason) in cases {
        let response = app.post_token(form, basic).await;

        assert_eq!(response.status(), 400, "{reason}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{reason}");
        assert!(body["error_description"].is_string(), "{reason}");
    }
}

#[tokio::test]
async fn wrong_content_type_is_invalid_request() {
    let app = spawn_app().await;

    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/json")
        .body(r#"{"grant_type":"client_credentials"}"#)
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn oversized_body_is_413_with_a_json_error() {
    let app = spawn_app().await;
    let huge = "x".repeat(64 * 1024);

    let response = app
        .http
        .post(app.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded(&[
            ("grant_type", "client_credentials"),
            ("scope", &huge),
        ]))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn deleted_client_gets_no_token_after_its_cache_entry_expires() {
    let app =
        spawn_app_with(|config| config.client_cache_ttl = std::time::Duration::from_millis(200))
            .await;
    let client = app.create_client("client_credentials", "").await;
    app.client_credentials_token(&client).await;

    let operator = app.operator().await;
    let admin = sigil::oauth::Admin::command_line();
    let now = chrono::Utc::now();
    operator
        .clients
        .delete(&admin, &client.id, now)
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let response = app
        .post_token(
            &[("grant_type", "client_credentials")],
            Some((&client.id, &client.secret)),
        )
        .await;

    assert_eq!(response.status(), 401);
}
