//! `POST /register`.

use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn register_returns_201_with_the_new_user_id() {
    let app = spawn_app().await;

    let response = app.register("ann@example.com", PASSWORD).await;

    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    assert!(uuid::Uuid::parse_str(body["id"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn a_taken_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    app.create_user("ann@example.com").await;

    let response = app.register("  ANN@Example.COM ", "another password").await;

    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "user_already_exists");
}

#[tokio::test]
async fn malformed_email_or_short_password_is_400_with_a_clear_message() {
    let app = spawn_app().await;
    let cases = [
        ("not-an-email", PASSWORD, "email must look like"),
        ("ann@example.com", "short", "at least 8 characters"),
        (
            "ann@example.com",
            &*"x".repeat(2000),
            "at most 1024 characters",
        ),
    ];

    for (email, password, message) in cases {
        let response = app.register(email, password).await;

        assert_eq!(response.status(), 400, "{message}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{message}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains(message),
            "{body}"
        );
        assert!(
            !body.to_string().contains(password),
            "the password is never echoed"
        );
    }
}

#[tokio::test]
async fn the_password_bound_counts_characters_as_the_document_states() {
    let app = spawn_app().await;
    let client = app.create_client("password", "").await;
    // 1024 characters, 2048 bytes: within the documented `maxLength`.
    let longest = "ü".repeat(1024);

    let response = app.register("ann@example.com", &longest).await;
    assert_eq!(
        response.status(),
        201,
        "1024 two-byte characters are accepted"
    );
    let login = app.login(&client, "ann@example.com", &longest, None).await;
    assert_eq!(login.status(), 200, "and that password logs in");

    let response = app.register("bob@example.com", &"ü".repeat(1025)).await;
    assert_eq!(response.status(), 400, "1025 characters are not");
}

#[tokio::test]
async fn malformed_json_is_a_clear_4xx() {
    let app = spawn_app().await;
    let post = |content_type: &'static str, body: &'static str| {
        app.http
            .post(app.url("/register"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    let not_json = post("application/json", "{not json").await.unwrap();
    let missing_field = post("application/json", r#"{"email":"ann@example.com"}"#)
        .await
        .unwrap();
    let wrong_type = post("text/plain", r#"{"email":"a@b.co","password":"xxxxxxxxx"}"#)
        .await
        .unwrap();

    assert_eq!(not_json.status(), 400);
    assert_eq!(missing_field.status(), 400);
    assert_eq!(wrong_type.status(), 415);
    let body: Value = missing_field.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn registration_can_be_switched_off() {
    let app = spawn_app_with(|config| config.registration = false).await;

    let response = app.register("ann@example.com", PASSWORD).await;

    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "registration_disabled");
}
