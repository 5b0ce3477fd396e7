//! `/admin/users`: authentication rules, list with pagination, get, create, update (disable,
//! enable, admin flag, password reset) and delete.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, spawn_app};

/// Every admin route with a method and, where it takes one, a body.
const ROUTES: [(&str, &str); 14] = [
    ("GET", "/admin/users"),
    ("POST", "/admin/users"),
    ("GET", "/admin/users/some-id"),
    ("PATCH", "/admin/users/some-id"),
    ("DELETE", "/admin/users/some-id"),
    ("GET", "/admin/clients"),
    ("POST", "/admin/clients"),
    ("GET", "/admin/clients/some-id"),
    ("PATCH", "/admin/clients/some-id"),
    ("DELETE", "/admin/clients/some-id"),
    ("POST", "/admin/clients/some-id/secret"),
    ("GET", "/admin/keys"),
    ("POST", "/admin/keys/rotate"),
    ("POST", "/admin/keys/some-kid/revoke"),
];

async fn create_user(app: &TestApp, username: &str, admin: bool) -> Value {
    let body = json!({ "username": username, "password": PASSWORD, "admin": admin });
    app.admin_ok(Method::POST, "/admin/users", Some(body), 201)
        .await
}

#[tokio::test]
async fn every_admin_route_needs_a_token_with_scope_admin() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;
    let reader = app.client_credentials_token(&client).await;

    for (method, path) in ROUTES {
        let method: Method = method.parse().unwrap();
        let anonymous = app.admin(method.clone(), path, None).await;
        let forged = app.admin(method.clone(), path, Some("a.b.c")).await;
        let without_scope = app.admin(method.clone(), path, Some(&reader)).await;

        assert_eq!(anonymous.status(), 401, "{method} {path} without a token");
        assert_eq!(forged.status(), 401, "{method} {path} with a forged token");
        assert_eq!(
            without_scope.status(),
            403,
            "{method} {path} without scope admin"
        );
        let challenge = without_scope.headers()["www-authenticate"]
            .to_str()
            .unwrap();
        assert!(challenge.contains("insufficient_scope"), "{method} {path}");
    }
}

#[tokio::test]
async fn users_are_created_listed_page_by_page_fetched_and_deleted() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let user = create_user(&app, &format!("user{n}@example.com"), false).await;
        assert_eq!(user["username"], format!("user{n}@example.com"));
        assert_eq!(
            (user["admin"].as_bool(), user["disabled"].as_bool()),
            (Some(false), Some(false))
        );
        assert!(user.get("password_hash").is_none() && user.get("password").is_none());
        ids.push(user["id"].as_str().unwrap().to_owned());
    }

    let first = app
        .admin_ok(Method::GET, "/admin/users?limit=2", None, 200)
        .await;
    let second = app
        .admin_ok(Method::GET, "/admin/users?limit=2&offset=2", None, 200)
        .await;

    let listed: Vec<&str> = first["users"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["users"].as_array().unwrap())
        .map(|user| user["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids, "oldest first, no gaps, no repeats");
    assert_eq!(first["next_offset"], 2);
    assert!(second.get("next_offset").is_none(), "last page");
    let one = app
        .admin_ok(Method::GET, &format!("/admin/users/{}", ids[1]), None, 200)
        .await;
    assert_eq!(one["username"], "user1@example.com");

    app.admin_ok(
        Method::DELETE,
        &format!("/admin/users/{}", ids[1]),
        None,
        204,
    )
    .await;

    app.admin_ok(Method::GET, &format!("/admin/users/{}", ids[1]), None, 404)
        .await;
    app.admin_ok(
        Method::DELETE,
        &format!("/admin/users/{}", ids[1]),
        None,
        404,
    )
    .await;
    let client = app.create_client("password", "").await;
    let login = app
        .login(&client, "user1@example.com", PASSWORD, None)
        .await;
    assert_eq!(login.status(), 400, "a deleted user cannot log in");
}

#[tokio::test]
async fn disabling_a_user_revokes_every_session_and_their_refresh_fails() {
    let app = spawn_app().await;
    let client = app.create_client("password refresh_token", "").await;
    let user = create_user(&app, "ann@example.com", false).await;
    let id = user["id"].as_str().unwrap();
    let first = app.logged_in(&client, "ann@example.com").await;
    let second = app.logged_in(&client, "ann@example.com").await;

    let disabled = app
        .admin_ok(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(json!({ "disabled": true })),
            200,
        )
        .await;

    assert_eq!(disabled["disabled"], true);
    for session in [&first, &second] {
        let refresh = app
            .refresh(&client, session["refresh_token"].as_str().unwrap(), None)
            .await;
        assert_eq!(refresh.status(), 400);
        assert_eq!(
            refresh.json::<Value>().await.unwrap()["error"],
            "invalid_grant"
        );
    }
    let sql = "SELECT COUNT(*) FROM refresh_families WHERE user_id = $1 AND revoked_at IS NULL";
    assert_eq!(
        app.database.count(sql, id).await,
        0,
        "families revoked in the database"
    );
    let userinfo = app
        .get_with_token("/userinfo", first["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        userinfo.status(),
        401,
        "access tokens of the user stop at once"
    );
    let login = app.login(&client, "ann@example.com", PASSWORD, None).await;
    assert_eq!(login.status(), 400, "a disabled user cannot log in");

    app.admin_ok(
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "disabled": false })),
        200,
    )
    .await;

    app.logged_in(&client, "ann@example.com").await;
}

#[tokio::test]
async fn password_reset_changes_the_password_and_ends_sessions() {
    let app = spawn_app().await;
    let client = app.create_client("password refresh_token", "").await;
    let user = create_user(&app, "bob@example.com", false).await;
    let session = app.logged_in(&client, "bob@example.com").await;
    let path = format!("/admin/users/{}", user["id"].as_str().unwrap());

    let new_password = "a brand new passphrase";
    app.admin_ok(
        Method::PATCH,
        &path,
        Some(json!({ "password": new_password })),
        200,
    )
    .await;

    let refresh = app
        .refresh(&client, session["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refresh.status(), 400, "sessions ended");
    let old = app.login(&client, "bob@example.com", PASSWORD, None).await;
    assert_eq!(old.status(), 400, "old password refused");
    let new = app
        .login(&client, "bob@example.com", new_password, None)
        .await;
    assert_eq!(new.status(), 200, "new password accepted");
}

#[tokio::test]
async fn an_admin_user_reaches_the_admin_api_until_disabled() {
    let app = spawn_app().await;
    let client = app.create_client("password", "admin").await;
    let root = create_user(&app, "root@example.com", true).await;
    let login = app.logged_in(&client, "root@example.com").await;
    let token = login["access_token"].as_str().unwrap();
    assert_eq!(login["scope"], "admin");

    let listed = app.admin(Method::GET, "/admin/users", Some(token)).await;
    assert_eq!(listed.status(), 200);

    let path = format!("/admin/users/{}", root["id"].as_str().unwrap());
    app.admin_ok(Method::PATCH, &path, Some(json!({ "disabled": true })), 200)
        .await;

    let after = app.admin(Method::GET, "/admin/users", Some(token)).await;
    assert_eq!(
        after.status(),
        401,
        "a disabled admin's unexpired token no longer works"
    );
}

#[tokio::test]
async fn malformed_or_conflicting_user_requests_get_clear_4xx() {
    let app = spawn_app().await;
    create_user(&app, "taken@example.com", false).await;
    let cases = [
        (
            Method::POST,
            "/admin/users",
            json!({ "username": "not-an-email", "password": PASSWORD }),
            400,
            "bad email",
        ),
        (
            Method::POST,
            "/admin/users",
            json!({ "username": "x@example.com", "password": "short" }),
            400,
            "short password",
        ),
        (
            Method::POST,
            "/admin/users",
            json!({ "username": "x@example.com" }),
            400,
            "missing password",
        ),
        (
            Method::POST,
            "/admin/users",
            json!({ "username": "x@example.com", "password": PASSWORD, "role": "god" }),
            400,
            "unknown field",
        ),
        (
            Method::POST,
            "/admin/users",
            json!({ "username": "TAKEN@example.com", "password": PASSWORD }),
            409,
            "taken, any case",
        ),
        (
            Method::PATCH,
            "/admin/users/no-such-user",
            json!({ "disabled": true }),
            404,
            "unknown user",
        ),
        (
            Method::PATCH,
            "/admin/users/no-such-user",
            json!({ "disabled": "yes" }),
            400,
            "wrong type",
        ),
    ];
    for (method, path, body, expected, reason) in cases {
        let answer = app.admin_ok(method, path, Some(body), expected).await;
        assert!(
            answer["error"].is_string() && answer["error_description"].is_string(),
            "{reason}: {answer}"
        );
    }
    for query in ["limit=0", "limit=201", "limit=x", "offset=-1", "page=2"] {
        let answer = app
            .admin_ok(Method::GET, &format!("/admin/users?{query}"), None, 400)
            .await;
        assert_eq!(answer["error"], "invalid_request", "{query}");
    }
}
