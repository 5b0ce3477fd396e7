//! `email_verified` is the truth wherever it appears: the admin API sets it (on creation or
//! later), userinfo over HTTP and gRPC, ID tokens with scope `email`, audit rows and events
//! report it, and `--require-verified-email` holds the password grant to it. (Verification by
//! mailed link comes with the mail delivery.)

use reqwest::Method;
use serde_json::{Value, json};
use sigil::grpc::proto::UserInfoRequest;

use crate::helpers::{
    NatsServer, PASSWORD, TestApp, TestClient, parallel, spawn_app, spawn_app_with, with_bearer,
};

/// A user token's `email_verified`, from `/userinfo` and from the gRPC `UserInfo`.
async fn userinfo_verified(app: &TestApp, access_token: &str) -> (Value, bool) {
    let http: Value = app
        .get_with_token("/userinfo", access_token)
        .await
        .json()
        .await
        .unwrap();
    let grpc = app
        .grpc()
        .await
        .user_info(with_bearer(UserInfoRequest {}, access_token))
        .await
        .unwrap()
        .into_inner();
    (http["email_verified"].clone(), grpc.email_verified)
}

/// The claims of an ID token, read without verification (the signature is checked elsewhere).
fn id_claims(token: &Value) -> Value {
    let id_token = token["id_token"].as_str().expect("an ID token");
    let payload = id_token.split('.').nth(1).unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// A successful password login's body, with `scope`.
async fn login_with(app: &TestApp, client: &TestClient, username: &str, scope: &str) -> Value {
    let response = app.login(client, username, PASSWORD, Some(scope)).await;
    assert_eq!(response.status(), 200, "login of {username} with {scope}");
    response.json().await.unwrap()
}

/// `PATCH` of the user at `path`: `email_verified` set to `verified`.
async fn set_verified(app: &TestApp, path: &str, verified: bool) -> Value {
    let body = json!({ "email_verified": verified });
    app.admin_ok(Method::PATCH, path, Some(body), 200).await
}

/// A broker, an app publishing to it and a registered user's id; `None` (skipped) without
/// nats-server.
async fn publishing_app_with_user() -> Option<(NatsServer, TestApp, String)> {
    let nats = NatsServer::start()?;
    let events = nats.event_config();
    let app = spawn_app_with(move |config| config.events = Some(events)).await;
    let user = app.create_user("ann@example.com").await;
    Some((nats, app, user))
}

async fn dashboard(app: &TestApp) -> TestClient {
    app.public_client(&["password", "refresh_token"], "openid email")
        .await
}

#[tokio::test]
async fn a_registered_user_is_unverified_until_an_admin_marks_the_address_verified() {
    let app = spawn_app().await;
    let client = dashboard(&app).await;
    let user = app.create_user("ann@example.com").await;
    let path = format!("/admin/users/{user}");

    let before = app.logged_in(&client, "ann@example.com").await;
    let listed = app.admin_ok(Method::GET, &path, None, 200).await;
    let patched = set_verified(&app, &path, true).await;
    let after = app.logged_in(&client, "ann@example.com").await;

    assert_eq!(listed["email_verified"], false);
    assert_eq!(patched["email_verified"], true);
    let before = userinfo_verified(&app, before["access_token"].as_str().unwrap()).await;
    assert_eq!(
        before,
        (json!(true), true),
        "userinfo reads the user as it is now"
    );
    let after = userinfo_verified(&app, after["access_token"].as_str().unwrap()).await;
    assert_eq!(after, (json!(true), true));
    let audit = app
        .admin_ok(
            Method::GET,
            &format!("/admin/audit?action=user.update&target={user}"),
            None,
            200,
        )
        .await;
    let details = &audit["events"][0]["details"];
    assert_eq!(details["changed"], json!(["email_verified"]), "{audit}");
    assert_eq!(details["email_verified"], true);
}

#[tokio::test]
async fn a_fresh_registration_reads_unverified_everywhere() {
    let app = spawn_app().await;
    let client = dashboard(&app).await;
    app.create_user("ann@example.com").await;

    let token = app.logged_in(&client, "ann@example.com").await;
    let with_email = login_with(&app, &client, "ann@example.com", "openid email").await;

    let seen = userinfo_verified(&app, token["access_token"].as_str().unwrap()).await;
    assert_eq!(seen, (json!(false), false));
    let claims = id_claims(&with_email);
    assert_eq!(claims["email_verified"], false);
    assert_eq!(claims["email"], "ann@example.com");
}

#[tokio::test]
async fn id_tokens_carry_email_verified_with_scope_email_only_and_follow_changes_on_refresh() {
    let app = spawn_app().await;
    let client = dashboard(&app).await;
    let created = app
        .admin_ok(
            Method::POST,
            "/admin/users",
            Some(json!({ "username": "bob@example.com", "password": PASSWORD,
                         "email_verified": true })),
            201,
        )
        .await;
    let path = format!("/admin/users/{}", created["id"].as_str().unwrap());

    let openid = login_with(&app, &client, "bob@example.com", "openid").await;
    let with_email = login_with(&app, &client, "bob@example.com", "openid email").await;
    set_verified(&app, &path, false).await;
    let refreshed = app
        .refresh(&client, with_email["refresh_token"].as_str().unwrap(), None)
        .await
        .json::<Value>()
        .await
        .unwrap();

    assert_eq!(created["email_verified"], true);
    let plain = id_claims(&openid);
    assert!(
        plain.get("email").is_none() && plain.get("email_verified").is_none(),
        "{plain}"
    );
    let claims = id_claims(&with_email);
    assert_eq!(
        (claims["email"].clone(), claims["email_verified"].clone()),
        (json!("bob@example.com"), json!(true))
    );
    assert_eq!(claims["aud"], client.id.as_str());
    assert_eq!(
        id_claims(&refreshed)["email_verified"],
        false,
        "the refreshed ID token is current"
    );
}

#[tokio::test]
async fn marking_an_address_verified_publishes_user_email_verified_once() {
    let Some((nats, app, user)) = publishing_app_with_user().await else {
        return;
    };
    let path = format!("/admin/users/{user}");

    set_verified(&app, &path, true).await;
    set_verified(&app, &path, true).await;
    app.admin_ok(Method::PATCH, &path, Some(json!({ "disabled": true })), 200)
        .await;

    // The bootstrap client's, the registration's, then the three updates and one verification.
    let events = nats.events(6, std::time::Duration::from_secs(20)).await;
    let kinds: Vec<&str> = events[1..].iter().map(|event| event.kind()).collect();
    assert_eq!(
        kinds,
        [
            "auth.user.created",
            "auth.user.updated",
            "auth.user.email_verified",
            "auth.user.updated",
            "auth.user.updated",
        ]
    );
    assert_eq!(
        events[3].subject,
        format!("auth.user.{user}.email_verified")
    );
    assert_eq!(events[3].envelope["data"]["email_verified"], true);
    assert_eq!(
        events[2].envelope["data"]["changed"],
        json!(["email_verified"])
    );
    assert_eq!(
        events[4].envelope["data"]["changed"],
        json!([]),
        "no change, no verification"
    );
    assert_eq!(
        events[5].envelope["data"]["email_verified"], true,
        "kept by later changes"
    );
}

#[tokio::test]
async fn require_verified_email_refuses_the_right_password_until_the_address_is_verified() {
    let app = spawn_app_with(|config| config.require_verified_email = true).await;
    let client = dashboard(&app).await;
    let user = app.create_user("ann@example.com").await;
    let login = sigil::grpc::proto::LoginRequest {
        email: "ann@example.com".into(),
        password: PASSWORD.into(),
        client_id: client.id.clone(),
        ..Default::default()
    };

    let wrong = app
        .login(&client, "ann@example.com", "not the password at all", None)
        .await;
    let refused = app.login(&client, "ann@example.com", PASSWORD, None).await;
    let over_grpc = app.grpc().await.login(login.clone()).await.unwrap_err();
    set_verified(&app, &format!("/admin/users/{user}"), true).await;
    let allowed = app.login(&client, "ann@example.com", PASSWORD, None).await;
    let allowed_grpc = app.grpc().await.login(login).await;

    assert_eq!(wrong.status(), 400);
    let wrong: Value = wrong.json().await.unwrap();
    assert_eq!(
        wrong["error_description"], "invalid username or password",
        "no hint without the password"
    );
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["error"], "invalid_grant");
    assert_eq!(
        refused["error_description"],
        "the email address is not verified yet"
    );
    assert_eq!(over_grpc.code(), tonic::Code::Unauthenticated);
    assert_eq!(over_grpc.message(), "the email address is not verified yet");
    assert_eq!(allowed.status(), 200, "verified: logs in");
    assert!(allowed_grpc.is_ok());
    let audit = app
        .admin_ok(Method::GET, "/admin/audit?action=login.failure", None, 200)
        .await;
    let reasons: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["details"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        ["email_unverified", "email_unverified", "wrong_password"],
        "newest first"
    );
}

#[tokio::test]
async fn parallel_verifications_of_one_address_publish_one_email_verified() {
    let Some((nats, app, user)) = publishing_app_with_user().await else {
        return;
    };
    let path = format!("/admin/users/{user}");
    let token = app.admin_token().await;
    let api = app.api.clone();

    let statuses = parallel(4, |_| {
        let (api, path, token) = (api.clone(), path.clone(), token.clone());
        async move {
            let body = json!({ "email_verified": true });
            let response = api
                .admin_json(Method::PATCH, &path, Some(&token), Some(body))
                .await;
            response.status().as_u16()
        }
    })
    .await;
    // Committed after the four: once its event is relayed, theirs are too (commit order).
    app.admin_ok(Method::PATCH, &path, Some(json!({ "disabled": true })), 200)
        .await;

    assert_eq!(statuses, [200; 4]);
    let events = nats.events(8, std::time::Duration::from_secs(20)).await;
    let verified = events
        .iter()
        .filter(|event| event.kind() == "auth.user.email_verified")
        .count();
    assert_eq!(
        verified, 1,
        "one verification, however many raced to make it"
    );
    let last = events.last().unwrap();
    assert_eq!(last.envelope["data"]["changed"], json!(["disabled"]));
}

#[tokio::test]
async fn withdrawing_verification_where_it_is_required_ends_the_users_sessions() {
    let app = spawn_app_with(|config| config.require_verified_email = true).await;
    let client = dashboard(&app).await;
    let user = app.create_user("ann@example.com").await;
    let path = format!("/admin/users/{user}");
    set_verified(&app, &path, true).await;
    let session = app.logged_in(&client, "ann@example.com").await;

    set_verified(&app, &path, false).await;
    let refresh = app
        .refresh(&client, session["refresh_token"].as_str().unwrap(), None)
        .await;
    let introspected = app
        .admin_ok(Method::GET, "/admin/audit?action=user.update", None, 200)
        .await;

    assert_eq!(
        refresh.status(),
        400,
        "the session ended with the verification"
    );
    let row = &introspected["events"][0];
    assert_eq!(row["details"]["sessions_ended"], 1, "{row}");
}
