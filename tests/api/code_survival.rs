//! An authorization code is worth what the browser session that minted it is worth: a
//! password reset, disabling the user (even when re-enabled at once) or logging out between
//! the code's minting and its exchange leaves the code nothing to start (security review
//! 2026-12-07, finding 1).

use reqwest::Method;
use serde_json::json;

use crate::helpers::login::{Browser, SIGNED_OUT, authorize_url, dashboard, exchange, session};
use crate::helpers::{PASSWORD, TestApp, pkce, spawn_app};

/// A signed-in browser holding an unexchanged code (minted silently, `prompt=none`, as a
/// stolen session cookie would), its verifier, the client and the user's id.
struct Minted {
    browser: Browser,
    client: String,
    user_id: String,
    code: String,
    verifier: String,
    id_token: String,
}

async fn minted(app: &TestApp) -> Minted {
    let client = dashboard(app, true).await;
    let user_id = app.create_user("ann@example.com").await;
    let mut browser = Browser::new(app);
    let first = session(app, &mut browser, &client).await;
    let (verifier, challenge) = pkce();
    let silent = browser
        .get(&authorize_url(&client, &challenge, &[("prompt", "none")]))
        .await;
    let code = silent.param("code").expect("a silent code");
    Minted {
        browser,
        client,
        user_id,
        code,
        verifier,
        id_token: first["id_token"].as_str().unwrap().to_owned(),
    }
}

async fn patch_user(app: &TestApp, id: &str, body: serde_json::Value) {
    app.admin_ok(
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(body),
        200,
    )
    .await;
}

async fn refused(app: &TestApp, minted: &Minted) -> serde_json::Value {
    let response = exchange(app, &minted.client, &minted.code, &minted.verifier).await;
    assert_eq!(response.status(), 400);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_code_minted_before_an_admin_password_reset_buys_nothing_after_it() {
    let app = spawn_app().await;
    let minted = minted(&app).await;

    patch_user(
        &app,
        &minted.user_id,
        json!({ "password": "a brand new passphrase" }),
    )
    .await;

    assert_eq!(refused(&app, &minted).await["error"], "invalid_grant");
}

#[tokio::test]
async fn a_code_minted_before_the_user_was_disabled_buys_nothing_after_re_enabling() {
    let app = spawn_app().await;
    let minted = minted(&app).await;

    patch_user(&app, &minted.user_id, json!({ "disabled": true })).await;
    patch_user(&app, &minted.user_id, json!({ "disabled": false })).await;

    assert_eq!(refused(&app, &minted).await["error"], "invalid_grant");
    let login = app
        .login(
            &app.public_client(&["password"], "").await,
            "ann@example.com",
            PASSWORD,
            None,
        )
        .await;
    assert_eq!(login.status(), 200, "the re-enabled user signs in afresh");
}

#[tokio::test]
async fn a_code_minted_before_a_confirmed_logout_buys_nothing_after_it() {
    let app = spawn_app().await;
    let mut minted = minted(&app).await;

    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("id_token_hint", minted.id_token.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
        ])
        .finish();
    let out = minted.browser.get(&format!("/end-session?{query}")).await;

    assert_eq!(out.location(), SIGNED_OUT);
    assert_eq!(refused(&app, &minted).await["error"], "invalid_grant");
}
