//! `/revoke`, `/logout`, `/introspect`, `/userinfo` and `/me`.

use serde_json::Value;
use sigil::clock::Clock;

use crate::helpers::{TestApp, TestClient, forgeries, spawn_app, spawn_app_with};

struct Login {
    client: TestClient,
    access: String,
    refresh: String,
}

async fn login(app: &TestApp, email: &str) -> Login {
    let client = app.create_client("password,refresh_token", "").await;
    if app.register(email, crate::helpers::PASSWORD).await.status() != 201 {
        assert!(
            app.store()
                .await
                .find_user_by_email(&sigil::domain::Email::parse(email).unwrap())
                .await
                .unwrap()
                .is_some()
        );
    }
    let body = app.logged_in(&client, email).await;
    let text = |name: &str| body[name].as_str().unwrap().to_owned();
    Login {
        client,
        access: text("access_token"),
        refresh: text("refresh_token"),
    }
}

#[tokio::test]
async fn revoking_a_refresh_token_ends_its_session_and_unknown_tokens_are_fine() {
    let app = spawn_app().await;
    let session = login(&app, "ann@example.com").await;

    let revoked = app
        .client_post("/revoke", &session.client, &[("token", &session.refresh)])
        .await;
    let unknown = app
        .client_post("/revoke", &session.client, &[("token", "no-such-token")])
        .await;

    assert_eq!(revoked.status(), 200);
    assert_eq!(unknown.status(), 200);
    assert_eq!(
        app.refresh(&session.client, &session.refresh, None)
            .await
            .status(),
        400
    );
    assert_eq!(
        app.introspect(&session.client, &session.access).await["active"],
        false,
        "its access token is dead too"
    );
}

#[tokio::test]
async fn revoke_requires_client_authentication() {
    let app = spawn_app().await;
    let session = login(&app, "ann@example.com").await;

    let response = app.post_token(&[], None).await;
    let anonymous = app
        .http
        .post(app.url("/revoke"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", session.refresh))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), 401);
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        app.refresh(&session.client, &session.refresh, None)
            .await
            .status(),
        200,
        "still alive"
    );
}

#[tokio::test]
async fn logout_ends_one_session_or_all_of_them() {
    let app = spawn_app().await;
    let first = login(&app, "ann@example.com").await;
    let second = login(&app, "ann@example.com").await;
    let third = login(&app, "ann@example.com").await;

    let one = app
        .client_post(
            "/logout",
            &first.client,
            &[("refresh_token", &first.refresh)],
        )
        .await;

    assert_eq!(one.status(), 204);
    assert_eq!(
        app.refresh(&first.client, &first.refresh, None)
            .await
            .status(),
        400
    );
    let alive = app.refresh(&second.client, &second.refresh, None).await;
    assert_eq!(alive.status(), 200);
    let second_refresh = alive.json::<Value>().await.unwrap()["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let all = app
        .client_post(
            "/logout",
            &second.client,
            &[("refresh_token", &second_refresh), ("all", "true")],
        )
        .await;

    assert_eq!(all.status(), 204);
    assert_eq!(
        app.refresh(&third.client, &third.refresh, None)
            .await
            .status(),
        400,
        "every session ended"
    );
    let stale = app
        .client_post("/logout", &second.client, &[("refresh_token", "unknown")])
        .await;
    assert_eq!(stale.status(), 400);
}

#[tokio::test]
async fn introspection_reports_live_access_and_refresh_tokens() {
    let app = spawn_app().await;
    let session = login(&app, "ann@example.com").await;
    let service = app.create_resource_server().await;

    let access = app.introspect(&service, &session.access).await;
    let refresh = app.introspect(&service, &session.refresh).await;

    assert_eq!(access["active"], true);
    assert_eq!(access["client_id"], session.client.id.as_str());
    assert_eq!(access["token_type"], "Bearer");
    assert!(access["exp"].is_i64() && access["sub"].is_string() && access["iss"].is_string());
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");
}

#[tokio::test]
async fn introspection_reports_inactive_for_dead_forged_and_unknown_tokens() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| config.clock = clock.clone()).await;
    let service = app.create_resource_server().await;
    let session = login(&app, "ann@example.com").await;
    let deleted = login(&app, "bob@example.com").await;
    let bob = app
        .store()
        .await
        .find_user_by_email(&sigil::domain::Email::parse("bob@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    app.delete_user(bob.id.as_str()).await;

    for (token, reason) in forgeries(&app, &session.access).await {
        assert_eq!(
            app.introspect(&service, &token).await,
            serde_json::json!({"active": false}),
            "{reason}"
        );
    }
    for (token, reason) in [
        ("garbage", "unknown"),
        (deleted.access.as_str(), "user deleted"),
        (deleted.refresh.as_str(), "refresh of a deleted user"),
    ] {
        assert_eq!(
            app.introspect(&service, token).await["active"],
            false,
            "{reason}"
        );
    }
    clock.advance(app.config.keys.access_token_ttl);
    assert_eq!(
        app.introspect(&service, &session.access).await["active"],
        false,
        "expired"
    );
    assert_eq!(
        app.introspect(&service, &session.refresh).await["active"],
        true,
        "the refresh token lives longer"
    );
}

#[tokio::test]
async fn public_clients_cannot_introspect() {
    let app = spawn_app().await;
    let session = login(&app, "ann@example.com").await;
    let public = app.create_public_client("password", "").await;

    let response = app
        .client_post("/introspect", &public, &[("token", &session.access)])
        .await;

    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "unauthorized_client"
    );
}

#[tokio::test]
async fn userinfo_and_me_describe_the_user_of_a_live_token() {
    let app = spawn_app().await;
    let session = login(&app, "Ann@Example.com").await;

    for path in ["/userinfo", "/me"] {
        let response = app.get_with_token(path, &session.access).await;

        assert_eq!(response.status(), 200, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["email"], "Ann@Example.com", "{path}");
        assert!(body["sub"].is_string(), "{path}");
    }
}

#[tokio::test]
async fn userinfo_rejects_forged_revoked_and_machine_tokens_with_invalid_token() {
    let app = spawn_app().await;
    let session = login(&app, "ann@example.com").await;
    let machine = app.create_client("client_credentials", "").await;
    let machine_token = app.client_credentials_token(&machine).await;
    let mut rejected = forgeries(&app, &session.access).await;
    rejected.push((machine_token, "client_credentials token has no user"));
    rejected.push(("garbage".into(), "not a JWT"));

    for (token, reason) in &rejected {
        let response = app.get_with_token("/userinfo", token).await;

        assert_eq!(response.status(), 401, "{reason}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(challenge, "Bearer error=\"invalid_token\"", "{reason}");
    }
    app.client_post(
        "/logout",
        &session.client,
        &[("refresh_token", &session.refresh)],
    )
    .await;
    assert_eq!(
        app.get_with_token("/userinfo", &session.access)
            .await
            .status(),
        401,
        "session ended"
    );
}
