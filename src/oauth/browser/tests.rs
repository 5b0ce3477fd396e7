//! The browser login without a socket: authorization requests, the hosted login, single
//! sign-on, consent and RP-initiated logout, driven through `Browser` as the pages drive it.

use super::{AuthorizeError, AuthorizeParams, EndSession, Logout, Step};
use crate::oauth::Error;
use crate::oauth::testing::{
    Harness, LOGGED_OUT_URI, REDIRECT_URI, authorize_params, code_grant, query_value, redirect,
    refresh,
};

const EMAIL: &str = "ada@example.com";

#[tokio::test]
async fn a_request_without_a_session_asks_for_the_login_form() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;

    let params = authorize_params(&client, "");

    let step = h.sigil.browser.authorize(&params, None, h.now()).await;

    match step.unwrap() {
        Step::Login { client_name, .. } => assert_eq!(client_name, "Web app"),
        other => panic!("expected the login form, got {other:?}"),
    }
}

#[tokio::test]
async fn signing_in_sends_a_code_with_state_and_issuer_and_records_the_login() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    h.user(EMAIL).await;

    let (step, session) = h
        .sign_in(&authorize_params(&client, ""), EMAIL)
        .await
        .unwrap();

    let uri = redirect(step);
    assert!(uri.starts_with(&format!("{REDIRECT_URI}?")), "{uri}");
    assert!(query_value(&uri, "code").is_some_and(|code| code.len() >= 43));
    assert_eq!(query_value(&uri, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_value(&uri, "iss").as_deref(),
        Some("https://auth.test")
    );
    assert!(session.is_some(), "a browser session starts");
    let rows = h.audit_rows("login.success").await;
    assert_eq!(rows.len(), 1);
    let details: serde_json::Value = serde_json::from_str(&rows[0].details).unwrap();
    assert_eq!(details["method"], "browser");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_one_refusal_and_no_session() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    h.user(EMAIL).await;
    let params = authorize_params(&client, "");
    let wrong = (
        "ada@example.com".to_owned(),
        "not the password".to_owned().into(),
    );
    let unknown = (
        "bob@example.com".to_owned(),
        "not the password".to_owned().into(),
    );

    let mut refusals = Vec::new();
    for credentials in [wrong, unknown] {
        let login = h.sigil.browser.login(&params, credentials, None, h.now());
        match login.await {
            Err(Error::Browser(AuthorizeError::Refused { why, return_to })) => {
                refusals.push((why, return_to));
            }
            other => panic!("expected the form again, got {other:?}"),
        }
    }

    assert_eq!(refusals[0], refusals[1], "no user enumeration");
    assert!(h.audit_rows("login.success").await.is_empty());
}

#[tokio::test]
async fn an_unregistered_redirect_uri_or_client_is_shown_never_redirected() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    let mut elsewhere = authorize_params(&client, "");
    elsewhere.redirect_uri = Some("https://evil.test/cb".to_owned());
    let cases = [
        ("another redirect URI", elsewhere),
        ("an unknown client", authorize_params("no-such-client", "")),
    ];

    for (case, params) in cases {
        let step = h.sigil.browser.authorize(&params, None, h.now()).await;

        assert!(
            matches!(step, Err(Error::Browser(AuthorizeError::Page(_)))),
            "{case}: {step:?}"
        );
    }
}

#[tokio::test]
async fn a_bad_request_with_a_trusted_redirect_uri_goes_back_as_an_error() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    let base = || authorize_params(&client, "");
    let cases = [
        (
            "response_type=token",
            AuthorizeParams {
                response_type: Some("token".to_owned()),
                ..base()
            },
            "unsupported_response_type",
        ),
        (
            "scope=admin",
            AuthorizeParams {
                scope: Some("admin".to_owned()),
                ..base()
            },
            "invalid_scope",
        ),
        (
            "no code_challenge",
            AuthorizeParams {
                code_challenge: None,
                ..base()
            },
            "invalid_request",
        ),
        (
            "prompt=none",
            authorize_params(&client, "prompt=none"),
            "login_required",
        ),
    ];

    for (extra, params, error) in cases {
        let step = h.sigil.browser.authorize(&params, None, h.now()).await;

        let uri = redirect(step.unwrap());
        assert_eq!(
            query_value(&uri, "error").as_deref(),
            Some(error),
            "{extra}"
        );
        assert_eq!(
            query_value(&uri, "state").as_deref(),
            Some("xyz"),
            "{extra}"
        );
    }
}

#[tokio::test]
async fn the_session_cookie_signs_the_browser_in_again_unless_a_fresh_login_is_asked() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    h.user(EMAIL).await;
    let (_, session) = h.code(&client, EMAIL).await;
    let cookie = Some(session.cookie.expose());
    h.clock.advance(std::time::Duration::from_secs(5));

    let params = authorize_params(&client, "");
    let again = h.sigil.browser.authorize(&params, cookie, h.now());
    let prompt_login = authorize_params(&client, "prompt=login");
    let max_age = authorize_params(&client, "max_age=3");

    assert!(query_value(&redirect(again.await.unwrap()), "code").is_some());
    for params in [prompt_login, max_age] {
        let step = h.sigil.browser.authorize(&params, cookie, h.now()).await;
        assert!(matches!(step, Ok(Step::Login { .. })), "{step:?}");
    }
}

#[tokio::test]
async fn a_third_party_client_asks_for_consent_and_a_refusal_is_access_denied() {
    let h = Harness::new().await;
    let client = h.browser_client(false).await;
    h.user(EMAIL).await;
    let params = authorize_params(&client, "");

    let (step, session) = h.sign_in(&params, EMAIL).await.unwrap();
    let cookie = session.unwrap().cookie;
    let declined = h
        .sigil
        .browser
        .consent(&params, Some(cookie.expose()), false, h.now());
    let approved = h
        .sigil
        .browser
        .consent(&params, Some(cookie.expose()), true, h.now());

    match step {
        Step::Consent { scopes, email, .. } => {
            assert_eq!(scopes, ["openid"]);
            assert_eq!(email, EMAIL);
        }
        other => panic!("expected the consent page, got {other:?}"),
    }
    let declined = redirect(declined.await.unwrap());
    assert_eq!(
        query_value(&declined, "error").as_deref(),
        Some("access_denied")
    );
    assert!(query_value(&redirect(approved.await.unwrap()), "code").is_some());
}

#[tokio::test]
async fn a_logout_without_an_id_token_is_confirmed_first_then_ends_every_session_it_started() {
    let h = Harness::new().await;
    let client = h.browser_client(true).await;
    h.user(EMAIL).await;
    let (code, session) = h.code(&client, EMAIL).await;
    let tokens = h.issue(&client, code_grant(&code)).await.unwrap();
    let cookie = Some(session.cookie.expose());
    let request = EndSession::from_query(&format!(
        "client_id={client}&post_logout_redirect_uri={LOGGED_OUT_URI}&state=s1"
    ));

    let unconfirmed = h
        .sigil
        .browser
        .end_session(&request, cookie, (false, None), h.now())
        .await
        .unwrap();
    let still_live = h.issue(&client, refresh(&tokens)).await.unwrap();
    let confirmed = h
        .sigil
        .browser
        .end_session(&request, cookie, (true, None), h.now())
        .await
        .unwrap();

    let back = format!("{LOGGED_OUT_URI}?state=s1");
    assert_eq!(
        unconfirmed,
        Logout::Confirm {
            return_to: Some(back.clone())
        }
    );
    assert_eq!(confirmed, Logout::Redirect(back));
    let refreshed = h.issue(&client, refresh(&still_live)).await;
    assert!(
        matches!(refreshed, Err(Error::InvalidGrant(_))),
        "{refreshed:?}"
    );
    let params = authorize_params(&client, "");
    let step = h.sigil.browser.authorize(&params, cookie, h.now());
    assert!(
        matches!(step.await, Ok(Step::Login { .. })),
        "the cookie is dead"
    );
    assert_eq!(h.audit_rows("session.logout").await.len(), 1);
}
