//! The hosted login page in a real browser: headless Chromium, driven over WebDriver, follows
//! `/authorize`, fills the form, and lands back at the application (a listener of the test's
//! own on a loopback port) with a code, which the test exchanges with its PKCE verifier; a
//! second client then signs in without the form (SSO), a third-party client shows its consent
//! page, and logout ends it all. Screenshots of the pages go to `target/screenshots/`.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    AUDIENCE, Chrome, ISSUER, PASSWORD, TestApp, application, at_localhost, pkce, spawn_app,
    verify, verify_id_token,
};

/// A browser-login client registered for loopback callbacks on any port.
async fn client(app: &TestApp, first_party: bool) -> String {
    let body = json!({
        "name": if first_party { "Billing dashboard" } else { "Partner reports" },
        "public": true, "first_party": first_party,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "post_logout_redirect_uris": ["http://127.0.0.1/signed-out"],
    });
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    created["client_id"].as_str().unwrap().to_owned()
}

fn authorize(
    app: &TestApp,
    client: &str,
    callback: &str,
    challenge: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut pairs = vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", callback),
        ("scope", "openid email"),
        ("state", "xyz-state"),
        ("nonce", "nonce-123"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    pairs.extend_from_slice(extra);
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    at_localhost(app, &format!("/authorize?{query}"))
}

fn param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

async fn exchange(
    app: &TestApp,
    client: &str,
    callback: &str,
    code: &str,
    verifier: &str,
) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", callback),
        ("code_verifier", verifier),
        ("client_id", client),
    ];
    let response = app.post_token(&form, None).await;
    assert_eq!(response.status(), 200, "the code is exchanged");
    response.json().await.unwrap()
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots")
}

#[tokio::test]
async fn a_browser_signs_in_gets_sso_for_a_second_client_consents_for_a_third_and_logs_out() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    let port = application().await;
    let callback = format!("http://127.0.0.1:{port}/callback");
    let (first, second, partner) = (
        client(&app, true).await,
        client(&app, true).await,
        client(&app, false).await,
    );
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();

    // Sign in through the form.
    chrome
        .open(&authorize(&app, &first, &callback, &challenge, &[]))
        .await;
    let login = chrome.source().await;
    chrome.screenshot(&screenshots().join("login.png")).await;
    chrome.type_into("#username", "ann@example.com").await;
    chrome.type_into("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    let landed = chrome.wait_for_url(&callback).await;
    let tokens = exchange(
        &app,
        &first,
        &callback,
        &param(&landed, "code").unwrap(),
        &verifier,
    )
    .await;

    // A second first-party client: no form.
    chrome
        .open(&authorize(&app, &second, &callback, &challenge, &[]))
        .await;
    let sso = chrome.wait_for_url(&callback).await;
    let sso_code = param(&sso, "code").expect("single sign-on: a code without the form");
    exchange(&app, &second, &callback, &sso_code, &verifier).await;

    // A third-party client: the consent page.
    chrome
        .open(&authorize(&app, &partner, &callback, &challenge, &[]))
        .await;
    let consent = chrome.source().await;
    chrome.screenshot(&screenshots().join("consent.png")).await;
    chrome.click("button[value=approve]").await;
    let approved = chrome.wait_for_url(&callback).await;
    // Exchanged before the logout below: a code dies with the browser session that minted it.
    let approved_code = param(&approved, "code").unwrap();
    exchange(&app, &partner, &callback, &approved_code, &verifier).await;

    // Logout, then prompt=none finds no session.
    let hint = tokens["id_token"].as_str().unwrap();
    let signed_out = format!("http://127.0.0.1:{port}/signed-out");
    let logout = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", signed_out.as_str()),
            ("state", "bye"),
        ])
        .finish();
    chrome
        .open(&at_localhost(&app, &format!("/end-session?{logout}")))
        .await;
    let after_logout = chrome.wait_for_url(&signed_out).await;
    chrome
        .open(&authorize(
            &app,
            &first,
            &callback,
            &challenge,
            &[("prompt", "none")],
        ))
        .await;
    let silent = chrome.wait_for_url(&callback).await;

    assert!(
        login.contains("Billing dashboard") && login.contains("Sign in"),
        "{login}"
    );
    assert_eq!(param(&landed, "state").as_deref(), Some("xyz-state"));
    assert_eq!(param(&landed, "iss").as_deref(), Some(ISSUER));
    let jwks = app.jwks().await;
    let id = verify_id_token(hint, &jwks, &first).claims;
    assert_eq!(
        (id["iss"].as_str(), id["aud"].as_str(), id["nonce"].as_str()),
        (Some(ISSUER), Some(first.as_str()), Some("nonce-123"))
    );
    verify(tokens["access_token"].as_str().unwrap(), &jwks, AUDIENCE);
    assert!(
        consent.contains("Partner reports") && consent.contains("Allow"),
        "{consent}"
    );
    assert_eq!(param(&after_logout, "state").as_deref(), Some("bye"));
    assert_eq!(param(&silent, "error").as_deref(), Some("login_required"));
}
