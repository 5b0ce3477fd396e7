//! Redirect URIs as native apps and web apps register them (a loopback listener on an
//! ephemeral five-digit port, a host in capitals, a percent-encoded path), and where a
//! presented loopback URI sends the browser: always the registered spelling, never the
//! presented string (security review 2026-12-07, findings 6 and 7).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::login::{Browser, authorize_url};
use crate::helpers::{TestApp, pkce, spawn_app};

const NATIVE: &str = "http://127.0.0.1:45678/callback";

/// A public first-party client registered with `redirect_uris`.
async fn native_app(app: &TestApp, redirect_uris: &[&str]) -> reqwest::Response {
    let body = json!({
        "name": "CLI", "public": true, "first_party": true,
        "grant_types": ["authorization_code"], "scope": "openid email",
        "redirect_uris": redirect_uris,
    });
    let token = app.admin_token().await;
    app.admin_json(Method::POST, "/admin/clients", Some(&token), Some(body))
        .await
}

async fn client_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    body["client_id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn redirect_uris_with_five_digit_ports_capitals_and_escapes_are_registered() {
    let app = spawn_app().await;

    let mut statuses = Vec::new();
    for uri in [
        NATIVE,
        "https://app.example.com:44300/cb",
        "https://App.Example.com/cb",
        "https://app.example.com/sign%20in/cb",
    ] {
        statuses.push((uri, native_app(&app, &[uri]).await.status().as_u16()));
    }
    let too_high = native_app(&app, &["http://127.0.0.1:65536/cb"]).await;

    for (uri, status) in statuses {
        assert_eq!(status, 201, "{uri}");
    }
    assert_eq!(too_high.status(), 400, "no port above 65535");
}

#[tokio::test]
async fn a_native_app_on_an_ephemeral_port_completes_a_login() {
    let app = spawn_app().await;
    let client = client_id(native_app(&app, &[NATIVE]).await).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let page = browser
        .get(&authorize_url(
            &client,
            &challenge,
            &[("redirect_uri", NATIVE)],
        ))
        .await;
    let back = browser
        .sign_in(&page, "ann@example.com", crate::helpers::PASSWORD)
        .await;
    let code = back.param("code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", NATIVE),
        ("code_verifier", verifier.as_str()),
        ("client_id", client.as_str()),
    ];
    let tokens = app.post_token(&form, None).await;

    assert!(back.location().starts_with(&format!("{NATIVE}?code=")));
    assert_eq!(tokens.status(), 200);
}

#[tokio::test]
async fn non_canonical_loopback_spellings_are_sent_to_the_registered_spelling() {
    let app = spawn_app().await;
    let client = client_id(native_app(&app, &["http://127.0.0.1/cb"]).await).await;
    app.create_user("ann@example.com").await;
    let mut browser = Browser::new(&app);
    let page = browser
        .get(&authorize_url(
            &client,
            &pkce().1,
            &[("redirect_uri", "http://127.0.0.1/cb")],
        ))
        .await;
    browser
        .sign_in(&page, "ann@example.com", crate::helpers::PASSWORD)
        .await;

    for presented in [
        "http://0x7f.0.0.1:9999/cb",
        "http://127.1:9999/cb",
        "http://127.0.0.1:9999/x/../cb",
    ] {
        let back = browser
            .get(&authorize_url(
                &client,
                &pkce().1,
                &[("redirect_uri", presented)],
            ))
            .await;

        assert!(
            back.location()
                .starts_with("http://127.0.0.1:9999/cb?code="),
            "{presented} -> {}",
            back.location()
        );
    }
}

#[tokio::test]
async fn a_client_lists_at_most_the_documented_twenty_uris_of_each_kind() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    let uris = |n: usize| -> Vec<String> {
        (0..n)
            .map(|i| format!("https://app.example.com/{i}"))
            .collect()
    };
    let register = |field: &'static str, n: usize| {
        let mut body = json!({
            "name": "Web", "public": true, "grant_types": ["authorization_code"],
            "redirect_uris": ["https://app.example.com/cb"],
        });
        body[field] = json!(uris(n));
        app.admin_json(Method::POST, "/admin/clients", Some(&token), Some(body))
    };

    let twenty = register("redirect_uris", 20).await.status();
    let too_many = register("redirect_uris", 21).await;
    let logout_twenty = register("post_logout_redirect_uris", 20).await.status();
    let logout_too_many = register("post_logout_redirect_uris", 21).await.status();

    assert_eq!((twenty.as_u16(), logout_twenty.as_u16()), (201, 201));
    assert_eq!(too_many.status(), 400);
    let body: Value = too_many.json().await.unwrap();
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("redirect_uris: at most 20"),
        "{body}"
    );
    assert_eq!(logout_too_many, 400);
}
