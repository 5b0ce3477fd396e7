//! `/admin/clients`: create (secret shown once), list, get, update, rotate the secret, delete;
//! and the bootstrap admin client.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    ADMIN_CLIENT_ID, AUDIENCE, PASSWORD, TestApp, TestClient, spawn_app, spawn_app_with, verify,
};

async fn create_client(app: &TestApp, body: Value) -> (Value, TestClient) {
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    let client = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    };
    (created, client)
}

async fn token_status(app: &TestApp, client: &TestClient) -> (u16, Value) {
    let response = app
        .post_token(&[("grant_type", "client_credentials")], client.basic())
        .await;
    (response.status().as_u16(), response.json().await.unwrap())
}

fn machine_client() -> Value {
    json!({ "name": "billing", "grant_types": ["client_credentials"], "scope": "read write" })
}

#[tokio::test]
async fn a_created_client_gets_tokens_and_its_secret_is_shown_only_once() {
    let app = spawn_app().await;

    let (created, client) = create_client(&app, machine_client()).await;

    assert_eq!(created["name"], "billing");
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    assert_eq!(
        (created["scope"].as_str(), created["public"].as_bool()),
        (Some("read write"), Some(false))
    );
    assert_eq!(
        client.secret.len(),
        43,
        "256 bits, base64url without padding"
    );
    assert_eq!(token_status(&app, &client).await.0, 200);
    let path = format!("/admin/clients/{}", client.id);
    let fetched = app.admin_ok(Method::GET, &path, None, 200).await;
    let listed = app.admin_ok(Method::GET, "/admin/clients", None, 200).await;
    let text = format!("{fetched}{listed}");
    assert!(fetched.get("client_secret").is_none());
    assert!(
        !text.contains(&client.secret),
        "the secret is never shown again"
    );
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [ADMIN_CLIENT_ID, client.id.as_str()],
        "bootstrap admin client first"
    );
}

#[tokio::test]
async fn a_deleted_client_cannot_get_its_next_token() {
    let app = spawn_app().await;
    let (_, client) = create_client(&app, machine_client()).await;
    assert_eq!(
        token_status(&app, &client).await.0,
        200,
        "cached by this request"
    );

    app.admin_ok(
        Method::DELETE,
        &format!("/admin/clients/{}", client.id),
        None,
        204,
    )
    .await;

    let (status, body) = token_status(&app, &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_client"))
    );
    app.admin_ok(
        Method::DELETE,
        &format!("/admin/clients/{}", client.id),
        None,
        404,
    )
    .await;
}

#[tokio::test]
async fn rotating_the_secret_retires_the_old_one_at_once() {
    let app = spawn_app().await;
    let (_, old) = create_client(&app, machine_client()).await;
    assert_eq!(token_status(&app, &old).await.0, 200);

    let rotated = app
        .admin_ok(
            Method::POST,
            &format!("/admin/clients/{}/secret", old.id),
            None,
            200,
        )
        .await;

    let new = TestClient {
        id: old.id.clone(),
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
    };
    assert_ne!(new.secret, old.secret);
    assert_eq!(token_status(&app, &old).await.0, 401, "old secret refused");
    assert_eq!(token_status(&app, &new).await.0, 200, "new secret accepted");
}

#[tokio::test]
async fn updates_apply_to_the_next_token_request() {
    let app = spawn_app().await;
    let (_, client) = create_client(&app, machine_client()).await;
    let path = format!("/admin/clients/{}", client.id);
    let _warm_cache = token_status(&app, &client).await;

    let updated = app
        .admin_ok(Method::PATCH, &path, Some(json!({ "scope": "read", "audience": "https://billing.test", "name": "billing v2" })), 200)
        .await;

    assert_eq!(
        (updated["scope"].as_str(), updated["name"].as_str()),
        (Some("read"), Some("billing v2"))
    );
    let (status, body) = token_status(&app, &client).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("read")));
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        "https://billing.test",
    )
    .claims;
    assert_eq!(claims["aud"], "https://billing.test");

    app.admin_ok(Method::PATCH, &path, Some(json!({ "audience": null })), 200)
        .await;
    let (_, body) = token_status(&app, &client).await;
    verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        AUDIENCE,
    );

    app.admin_ok(
        Method::PATCH,
        &path,
        Some(json!({ "grant_types": ["password"] })),
        200,
    )
    .await;
    let (status, body) = token_status(&app, &client).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("unauthorized_client"))
    );
}

#[tokio::test]
async fn malformed_or_impossible_client_requests_get_clear_4xx() {
    let app = spawn_app().await;
    let (_, public) = create_client(
        &app,
        json!({ "name": "spa", "grant_types": ["password"], "public": true }),
    )
    .await;
    let public_path = format!("/admin/clients/{}", public.id);
    let cases = [
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": ["implicit"] })),
            400,
            "unknown grant",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": [] })),
            400,
            "no grant",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "", "grant_types": ["password"] })),
            400,
            "empty name",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x".repeat(201), "grant_types": ["password"] })),
            400,
            "long name",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": format!(" {} ", "x".repeat(199)), "grant_types": ["password"] })),
            400,
            "long name counted before trimming, as the document's maxLength counts it",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": ["password"], "scope": "a\"b" })),
            400,
            "bad scope",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": ["password"], "audience": "two words" })),
            400,
            "bad audience",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": ["client_credentials"], "public": true })),
            400,
            "public machine client",
        ),
        (
            Method::POST,
            "/admin/clients".to_owned(),
            Some(json!({ "name": "x", "grant_types": ["password"], "secret": "mine" })),
            400,
            "unknown field",
        ),
        (
            Method::PATCH,
            public_path.clone(),
            Some(json!({ "grant_types": ["client_credentials"] })),
            409,
            "public client to client_credentials: a conflict with what the client is",
        ),
        (
            Method::POST,
            format!("{public_path}/secret"),
            None,
            409,
            "a public client has no secret",
        ),
        (
            Method::GET,
            "/admin/clients/no:such".to_owned(),
            None,
            404,
            "impossible id",
        ),
        (
            Method::PATCH,
            "/admin/clients/nosuch".to_owned(),
            Some(json!({ "name": "x" })),
            404,
            "unknown id",
        ),
    ];
    for (method, path, body, expected, reason) in cases {
        let answer = app.admin_ok(method, &path, body, expected).await;
        assert!(
            answer["error_description"].is_string(),
            "{reason}: {answer}"
        );
    }
}

#[tokio::test]
async fn bootstrap_creates_an_admin_user_who_logs_in_through_the_admin_client() {
    let app = spawn_app_with(|config| {
        config.bootstrap.admin_user = Some(("boss@example.com".into(), PASSWORD.to_owned().into()));
    })
    .await;

    let login = app
        .logged_in(&crate::helpers::admin_client(), "boss@example.com")
        .await;

    assert_eq!(login["scope"], "admin");
    let users = app
        .admin(Method::GET, "/admin/users", login["access_token"].as_str())
        .await;
    assert_eq!(users.status(), 200);
    let body: Value = users.json().await.unwrap();
    assert_eq!(body["users"][0]["admin"], true);
}

#[tokio::test]
async fn a_deleted_admin_client_loses_admin_access_at_once() {
    let app = spawn_app().await;
    let (_, second) = create_client(
        &app,
        json!({ "name": "ops", "grant_types": ["client_credentials"], "scope": "admin" }),
    )
    .await;
    let token = app.client_credentials_token(&second).await;
    assert_eq!(
        app.admin(Method::GET, "/admin/clients", Some(&token))
            .await
            .status(),
        200
    );

    app.admin_ok(
        Method::DELETE,
        &format!("/admin/clients/{}", second.id),
        None,
        204,
    )
    .await;

    assert_eq!(
        app.admin(Method::GET, "/admin/clients", Some(&token))
            .await
            .status(),
        401
    );
}

/// Several instances share PostgreSQL: a change made through one reaches the others' client
/// caches at once (LISTEN/NOTIFY). SQLite has one serving instance; there another process's
/// change (the CLI) is seen within `--client-cache-ttl`, which this test does not wait for.
#[tokio::test]
async fn a_client_deleted_through_one_instance_is_refused_by_another_at_once() {
    let app = spawn_app().await;
    if !app.database.is_postgres() {
        eprintln!("skipped: instances announce client changes to each other on PostgreSQL only");
        return;
    }
    let other = crate::helpers::RunningServer::start(app.config.clone()).await;
    let (_, client) = create_client(&app, machine_client()).await;
    let rotated = create_client(&app, machine_client()).await.1;
    let form = [("grant_type", "client_credentials")];
    let via_other = |client: TestClient| {
        let api = other.api();
        async move {
            api.post_token(&form, client.basic())
                .await
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        via_other(client.clone()).await,
        200,
        "now cached by the other instance"
    );
    assert_eq!(via_other(rotated.clone()).await, 200);

    app.admin_ok(
        Method::DELETE,
        &format!("/admin/clients/{}", client.id),
        None,
        204,
    )
    .await;
    app.admin_ok(
        Method::POST,
        &format!("/admin/clients/{}/secret", rotated.id),
        None,
        200,
    )
    .await;

    let mut statuses = (0, 0);
    for _ in 0..50 {
        statuses = (
            via_other(client.clone()).await,
            via_other(rotated.clone()).await,
        );
        if statuses == (401, 401) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        statuses,
        (401, 401),
        "refused within a second, not the 30 s cache TTL"
    );
    other.stop().await;
}

#[tokio::test]
async fn redirect_uris_are_registered_replaced_and_refused_when_unsafe() {
    let app = spawn_app().await;
    let body = json!({
        "name": "dashboard", "public": true, "first_party": true,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid",
        "redirect_uris": ["https://dash.example.com/cb", "com.example.app:/cb"],
        "post_logout_redirect_uris": ["https://dash.example.com/bye"],
    });

    let (created, client) = create_client(&app, body).await;
    let path = format!("/admin/clients/{}", client.id);
    let replaced = json!({
        "redirect_uris": ["http://127.0.0.1/cb"], "first_party": false,
        "post_logout_redirect_uris": ["http://127.0.0.1/bye"],
    });
    let patched = app
        .admin_ok(Method::PATCH, &path, Some(replaced), 200)
        .await;
    let refusals = [
        "http://dash.example.com/cb",
        "https://dash.example.com/cb#frag",
        "javascript:alert(1)",
        "/relative",
    ];

    assert_eq!(
        created["redirect_uris"],
        json!(["https://dash.example.com/cb", "com.example.app:/cb"])
    );
    assert_eq!(created["first_party"], true);
    assert_eq!(
        created["grant_types"],
        json!(["refresh_token", "authorization_code"])
    );
    assert_eq!(
        created["post_logout_redirect_uris"],
        json!(["https://dash.example.com/bye"])
    );
    assert_eq!(patched["redirect_uris"], json!(["http://127.0.0.1/cb"]));
    assert_eq!(
        patched["post_logout_redirect_uris"],
        json!(["http://127.0.0.1/bye"])
    );
    assert_eq!(patched["first_party"], false);
    for field in ["redirect_uris", "post_logout_redirect_uris"] {
        for uri in refusals {
            let body = json!({ field: [uri] });
            let token = app.admin_token().await;
            let response = app
                .admin_json(Method::PATCH, &path, Some(&token), Some(body))
                .await;
            assert_eq!(response.status(), 400, "{field}: {uri}");
            let error: Value = response.json().await.unwrap();
            assert!(
                error["error_description"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("{field}:")),
                "{uri}: {error}"
            );
        }
    }
}
