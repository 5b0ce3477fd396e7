//! The authorization code flow with PKCE over HTTP, as a browser drives it (cookies, forms,
//! redirects not followed so each step is seen): the login page, the code, its exchange,
//! single sign-on, `prompt=none`, consent, and every refusal.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use sigil::clock::Clock;

use crate::helpers::login::{
    Browser, REDIRECT, SIGNED_OUT, Seen, authorize_url, claims, dashboard, exchange, hidden,
    session, signed_in,
};
use crate::helpers::{ISSUER, PASSWORD, pkce, spawn_app, spawn_app_with, verify, verify_id_token};

#[tokio::test]
async fn a_user_signs_in_on_the_login_page_and_the_code_buys_verified_tokens() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let page = browser.get(&authorize_url(&client, &challenge, &[])).await;
    let back = browser.sign_in(&page, "ann@example.com", PASSWORD).await;
    let code = back.param("code").unwrap();
    let response = exchange(&app, &client, &code, &verifier).await;

    let (status, html) = page.page();
    assert_eq!(status, 200);
    assert!(
        html.contains("Billing dashboard") && html.contains("autocomplete=\"current-password\"")
    );
    assert!(html.contains("<label for=\"username\">"), "labelled fields");
    assert!(back.location().starts_with(&format!("{REDIRECT}?code=")));
    assert_eq!(back.param("state").as_deref(), Some("af0ifjsldkj"));
    assert_eq!(back.param("iss").as_deref(), Some(ISSUER), "RFC 9207");
    assert!(
        browser.cookie("__Host-sigil_session").is_some(),
        "a browser session started"
    );
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let jwks = app.jwks().await;
    let id = verify_id_token(tokens["id_token"].as_str().unwrap(), &jwks, &client).claims;
    assert_eq!(id["iss"], ISSUER);
    assert_eq!(id["nonce"], "n-0S6_WzA2Mj");
    assert_eq!(id["email"], "ann@example.com");
    let access = tokens["access_token"].as_str().unwrap();
    let digest = Sha256::digest(access.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest[..16]));
    assert!(id["auth_time"].is_number() && id["sid"].is_string());
    let access_claims = verify(access, &jwks, crate::helpers::AUDIENCE).claims;
    assert_eq!(access_claims["client_id"], client.as_str());
    assert_eq!(claims(access)["sub"], id["sub"]);
    assert!(tokens["refresh_token"].is_string());
}

#[tokio::test]
async fn a_second_client_gets_a_code_without_the_form_and_prompt_none_needs_a_session() {
    let app = spawn_app().await;
    let first = dashboard(&app, true).await;
    let second = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    signed_in(&app, &mut browser, &first, &challenge).await;

    let sso = browser.get(&authorize_url(&second, &challenge, &[])).await;
    let silent = browser
        .get(&authorize_url(&second, &challenge, &[("prompt", "none")]))
        .await;
    let forced = browser
        .get(&authorize_url(&second, &challenge, &[("prompt", "login")]))
        .await;
    let mut stranger = Browser::new(&app);
    let none = stranger
        .get(&authorize_url(&second, &challenge, &[("prompt", "none")]))
        .await;

    let code = sso.param("code").expect("single sign-on: a code at once");
    assert_eq!(
        exchange(&app, &second, &code, &verifier).await.status(),
        200
    );
    assert!(silent.param("code").is_some());
    assert_eq!(forced.page().0, 200, "prompt=login shows the form");
    assert_eq!(none.param("error").as_deref(), Some("login_required"));
    assert_eq!(none.param("state").as_deref(), Some("af0ifjsldkj"));
    assert_eq!(none.param("iss").as_deref(), Some(ISSUER));
}

#[tokio::test]
async fn id_tokens_name_the_browser_session_as_sid_across_clients_and_refreshes() {
    let app = spawn_app().await;
    let (first, second) = (dashboard(&app, true).await, dashboard(&app, true).await);
    app.create_user("ann@example.com").await;
    let (mut browser, mut other) = (Browser::new(&app), Browser::new(&app));

    let one = session(&app, &mut browser, &first).await;
    let (verifier, challenge) = pkce();
    let sso = browser.get(&authorize_url(&second, &challenge, &[])).await;
    let code = sso.param("code").unwrap();
    let two: Value = exchange(&app, &second, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();
    let elsewhere = session(&app, &mut other, &first).await;
    let refresh = one["refresh_token"].as_str().unwrap();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh),
        ("client_id", first.as_str()),
    ];
    let refreshed: Value = app.post_token(&form, None).await.json().await.unwrap();

    let sid = |tokens: &Value| claims(tokens["id_token"].as_str().unwrap())["sid"].clone();
    assert!(sid(&one).is_string());
    assert_eq!(sid(&one), sid(&two), "one browser session, one sid");
    assert_eq!(sid(&refreshed), sid(&one), "a refresh keeps the sid");
    assert_ne!(sid(&elsewhere), sid(&one), "another browser, another sid");
}

#[tokio::test]
async fn max_age_asks_for_the_password_again_once_the_sign_in_is_older() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    signed_in(&app, &mut browser, &client, &challenge).await;

    let recent = browser
        .get(&authorize_url(&client, &challenge, &[("max_age", "3600")]))
        .await;
    let stale = browser
        .get(&authorize_url(&client, &challenge, &[("max_age", "0")]))
        .await;
    let silent = browser
        .get(&authorize_url(
            &client,
            &challenge,
            &[("max_age", "0"), ("prompt", "none")],
        ))
        .await;
    let again = browser.sign_in(&stale, "ann@example.com", PASSWORD).await;

    let code = recent.param("code").expect("a sign-in within max_age");
    assert_eq!(
        exchange(&app, &client, &code, &verifier).await.status(),
        200
    );
    assert_eq!(stale.page().0, 200, "max_age=0 shows the form");
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    assert!(
        again.param("code").is_some(),
        "signing in again gives a code"
    );
}

#[tokio::test]
async fn unknown_clients_and_unregistered_redirect_uris_get_a_page_never_a_redirect() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let cases = [
        authorize_url("no-such-client", &challenge, &[]),
        authorize_url(
            &client,
            &challenge,
            &[("redirect_uri", "https://evil.example/cb")],
        ),
        authorize_url(
            &client,
            &challenge,
            &[("redirect_uri", "https://dash.example.com/cb/")],
        ),
        authorize_url(
            &client,
            &challenge,
            &[("redirect_uri", "https://dash.example.com/cb?x=1")],
        ),
        authorize_url(&client, &challenge, &[("client_id", "")]),
    ];
    for url in cases {
        let seen = browser.get(&url).await;
        let (status, html) = seen.page();
        assert_eq!(status, 400, "{url}");
        assert!(!html.contains("evil.example"), "{url}");
    }
}

#[tokio::test]
async fn bad_requests_after_the_redirect_uri_is_trusted_go_back_as_errors() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let cases = [
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge", "tooshort")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
    ];
    for (extra, error) in cases {
        let seen = browser
            .get(&authorize_url(&client, &challenge, &extra))
            .await;
        assert_eq!(seen.param("error").as_deref(), Some(error), "{extra:?}");
        assert_eq!(
            seen.param("state").as_deref(),
            Some("af0ifjsldkj"),
            "{extra:?}"
        );
        assert_eq!(seen.param("iss").as_deref(), Some(ISSUER), "{extra:?}");
    }
}

#[tokio::test]
async fn the_exchange_refuses_a_wrong_verifier_another_client_and_another_redirect_uri() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    let other = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let mut codes = Vec::new();
    for _ in 0..4 {
        let page = browser
            .get(&authorize_url(&client, &challenge, &[("prompt", "login")]))
            .await;
        let back = browser.sign_in(&page, "ann@example.com", PASSWORD).await;
        codes.push(back.param("code").unwrap());
    }
    let (wrong, _) = pkce();
    let no_verifier = [
        ("grant_type", "authorization_code"),
        ("code", codes[3].as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
    ];
    let other_uri = [
        ("grant_type", "authorization_code"),
        ("code", codes[2].as_str()),
        ("redirect_uri", "https://dash.example.com/other"),
        ("code_verifier", verifier.as_str()),
        ("client_id", client.as_str()),
    ];

    let statuses = [
        exchange(&app, &client, &codes[0], &wrong).await,
        exchange(&app, &other, &codes[1], &verifier).await,
        app.post_token(&other_uri, None).await,
        app.post_token(&no_verifier, None).await,
    ];

    for (i, response) in statuses.into_iter().enumerate() {
        assert_eq!(response.status(), 400, "case {i}");
        let body: Value = response.json().await.unwrap();
        let expected = if i == 3 {
            "invalid_request"
        } else {
            "invalid_grant"
        };
        assert_eq!(body["error"], expected, "case {i}");
    }
    let spent = exchange(&app, &client, &codes[0], &verifier).await;
    assert_eq!(spent.status(), 400, "a code presented wrongly is spent");
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_the_tokens_its_first_use_issued() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let back = signed_in(&app, &mut browser, &client, &challenge).await;
    let code = back.param("code").unwrap();
    let first: Value = exchange(&app, &client, &code, &verifier)
        .await
        .json()
        .await
        .unwrap();

    let second = exchange(&app, &client, &code, &verifier).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", first["refresh_token"].as_str().unwrap()),
        ("client_id", client.as_str()),
    ];
    let refresh = app.post_token(&form, None).await;
    let userinfo = app
        .get_with_token("/userinfo", first["access_token"].as_str().unwrap())
        .await;

    assert_eq!(second.status(), 400);
    assert_eq!(
        refresh.status(),
        400,
        "the session the code started is revoked"
    );
    assert_eq!(userinfo.status(), 401, "and its access token");
}

#[tokio::test]
async fn a_code_expires_after_a_minute() {
    let clock = Clock::manual(chrono::Utc::now());
    let manual = clock.clone();
    let app = spawn_app_with(move |config| config.clock = manual).await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let code = signed_in(&app, &mut browser, &client, &challenge)
        .await
        .param("code")
        .unwrap();

    clock.advance(Duration::from_secs(61));
    let late = exchange(&app, &client, &code, &verifier).await;

    assert_eq!(late.status(), 400);
}

#[tokio::test]
async fn the_login_form_needs_its_csrf_token_and_answers_every_bad_login_alike() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (_, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let page = browser.get(&authorize_url(&client, &challenge, &[])).await;
    let (_, html) = page.page();
    let request = hidden(html, "request");

    let forged = [
        ("request", request.as_str()),
        ("csrf", "not-the-cookie"),
        ("username", "ann@example.com"),
        ("password", PASSWORD),
    ];
    let no_token = browser.post("/authorize", &forged).await;
    let mut cookieless = Browser::new(&app);
    let csrf = hidden(html, "csrf");
    let without_cookie = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "ann@example.com"),
        ("password", PASSWORD),
    ];
    let stolen = cookieless.post("/authorize", &without_cookie).await;
    let wrong = browser
        .sign_in(&page, "ann@example.com", "wrong password!")
        .await;
    let unknown = browser.sign_in(&page, "nobody@example.com", PASSWORD).await;

    assert_eq!(no_token.page().0, 403);
    assert_eq!(
        stolen.page().0,
        403,
        "the token without its cookie is refused"
    );
    let (wrong_status, wrong_html) = wrong.page();
    let (unknown_status, unknown_html) = unknown.page();
    assert_eq!((wrong_status, unknown_status), (400, 400));
    assert!(wrong_html.contains("invalid username or password"));
    assert_eq!(wrong_html, unknown_html, "no enumeration");
    assert!(browser.cookie("__Host-sigil_session").is_none());
}

#[tokio::test]
async fn a_self_chosen_csrf_cookie_and_field_pair_is_refused() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let mut honest = Browser::new(&app);
    let page = honest.get(&authorize_url(&client, &pkce().1, &[])).await;
    let (_, html) = page.page();
    let (request, token) = (hidden(html, "request"), hidden(html, "csrf"));
    let chosen = "A".repeat(43);

    let mut statuses = Vec::new();
    for (cookie, field) in [
        ("__Host-sigil_csrf", chosen.as_str()),
        ("sigil_csrf", chosen.as_str()),
        ("__Host-sigil_csrf", token.as_str()),
    ] {
        let mut forger = Browser::new(&app);
        forger.plant(cookie, field);
        let form = [
            ("request", request.as_str()),
            ("csrf", field),
            ("username", "ann@example.com"),
            ("password", PASSWORD),
        ];
        statuses.push(forger.post("/authorize", &form).await.page().0);
    }
    let genuine = honest.sign_in(&page, "ann@example.com", PASSWORD).await;

    assert_eq!(
        statuses,
        [403, 403, 403],
        "a planted cookie with its own value as the token, unprefixed, or the token as cookie"
    );
    assert!(
        genuine.location().starts_with(REDIRECT),
        "the real pair works"
    );
    assert!(
        html.contains(&format!("value=\"{token}\""))
            && token != honest.cookie("__Host-sigil_csrf").unwrap(),
        "the form carries a signature, not the cookie's value"
    );
}

#[tokio::test]
async fn a_third_party_client_asks_for_consent_and_a_denial_goes_back_as_access_denied() {
    let app = spawn_app().await;
    let client = dashboard(&app, false).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);

    let consent = signed_in(&app, &mut browser, &client, &challenge).await;
    let (status, html) = consent.page();
    let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
    let approve = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "approve"),
    ];
    let approved = browser.post("/authorize/consent", &approve).await;
    let deny = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "deny"),
    ];
    let denied = browser.post("/authorize/consent", &deny).await;
    let silent = browser
        .get(&authorize_url(&client, &challenge, &[("prompt", "none")]))
        .await;

    assert_eq!(status, 200);
    assert!(
        html.contains("Billing dashboard") && html.contains("<code>email</code>"),
        "{html}"
    );
    let code = approved.param("code").unwrap();
    assert_eq!(
        exchange(&app, &client, &code, &verifier).await.status(),
        200
    );
    assert_eq!(denied.param("error").as_deref(), Some("access_denied"));
    assert_eq!(silent.param("error").as_deref(), Some("consent_required"));
}

#[tokio::test]
async fn discovery_advertises_the_authorization_endpoint_and_pkce() {
    let app = spawn_app().await;

    let doc: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/authorize"));
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    assert_eq!(doc["end_session_endpoint"], format!("{ISSUER}/end-session"));
    assert!(
        doc["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("authorization_code"))
    );
}

#[tokio::test]
async fn logout_ends_the_browser_session_and_its_sessions_and_returns_to_a_registered_uri() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let mut browser = Browser::new(&app);
    let tokens = session(&app, &mut browser, &client).await;
    let hint = tokens["id_token"].as_str().unwrap();

    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs([
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye"),
        ])
        .finish();
    let out = browser.get(&format!("/end-session?{query}")).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ("client_id", client.as_str()),
    ];
    let refresh = app.post_token(&form, None).await;
    let silent = browser
        .get(&authorize_url(&client, &pkce().1, &[("prompt", "none")]))
        .await;
    let mut refused = Vec::new();
    // Neither a stranger's URI nor the client's code redirect URI, which is not registered
    // for logout.
    for uri in ["https://evil.example/", REDIRECT] {
        let elsewhere = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("client_id", client.as_str()),
                ("post_logout_redirect_uri", uri),
            ])
            .finish();
        refused.push(browser.get(&format!("/end-session?{elsewhere}")).await);
    }

    assert_eq!(out.location(), format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(
        browser.cookie("__Host-sigil_session"),
        Some(""),
        "the cookie is cleared"
    );
    assert_eq!(
        refresh.status(),
        400,
        "the session the browser gave the client ended"
    );
    assert_eq!(silent.param("error").as_deref(), Some("login_required"));
    for page in &refused {
        let (status, html) = page.page();
        assert_eq!(
            status, 200,
            "an unregistered URI gets the signed-out page, no redirect"
        );
        assert!(html.contains("signed out"));
    }
}

#[tokio::test]
async fn logout_without_an_id_token_of_the_user_asks_first_and_needs_the_forms_csrf_token() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    app.create_user("bob@example.com").await;
    let mut browser = Browser::new(&app);
    session(&app, &mut browser, &client).await;
    let mut other = Browser::new(&app);
    let bobs = {
        let (verifier, challenge) = pkce();
        let page = other.get(&authorize_url(&client, &challenge, &[])).await;
        let back = other.sign_in(&page, "bob@example.com", PASSWORD).await;
        let code = back.param("code").unwrap();
        let tokens: Value = exchange(&app, &client, &code, &verifier)
            .await
            .json()
            .await
            .unwrap();
        tokens["id_token"].as_str().unwrap().to_owned()
    };
    let logout = |hint: Option<&str>| {
        let mut pairs = vec![
            ("client_id", client.as_str()),
            ("post_logout_redirect_uri", SIGNED_OUT),
            ("state", "bye"),
        ];
        pairs.extend(hint.map(|hint| ("id_token_hint", hint)));
        let query = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/end-session?{query}")
    };
    let signed_in = |seen: &Seen| seen.param("code").is_some();

    // A link from elsewhere (no hint), and one with another user's ID token.
    let asked = browser.get(&logout(None)).await;
    let asked_again = browser.get(&logout(Some(&bobs))).await;
    let still_in = browser
        .get(&authorize_url(&client, &pkce().1, &[("prompt", "none")]))
        .await;
    let (_, html) = asked.page();
    let (request, csrf) = (hidden(html, "request"), hidden(html, "csrf"));
    let forged = browser
        .post(
            "/end-session",
            &[("request", request.as_str()), ("csrf", "guess")],
        )
        .await;
    let after_forgery = browser
        .get(&authorize_url(&client, &pkce().1, &[("prompt", "none")]))
        .await;
    let confirmed = browser
        .post(
            "/end-session",
            &[("request", request.as_str()), ("csrf", csrf.as_str())],
        )
        .await;
    let after_logout = browser
        .get(&authorize_url(&client, &pkce().1, &[("prompt", "none")]))
        .await;

    assert_eq!(asked.page().0, 200);
    assert!(html.contains("Do you want to sign out?"), "{html}");
    assert!(asked_again.page().1.contains("Do you want to sign out?"));
    assert!(signed_in(&still_in), "asking ends nothing");
    assert_eq!(forged.page().0, 403, "a post without the form's token");
    assert!(signed_in(&after_forgery));
    assert_eq!(confirmed.location(), format!("{SIGNED_OUT}?state=bye"));
    assert_eq!(
        after_logout.param("error").as_deref(),
        Some("login_required")
    );
}

#[tokio::test]
async fn parallel_exchanges_of_one_code_issue_tokens_exactly_once() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let back = signed_in(&app, &mut browser, &client, &challenge).await;
    let code = back.param("code").unwrap();

    let statuses = crate::helpers::parallel(8, |_| {
        let (api, client, code, verifier) = (
            app.api.clone(),
            client.clone(),
            code.clone(),
            verifier.clone(),
        );
        async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.as_str()),
                ("client_id", client.as_str()),
            ];
            api.post_token(&form, None).await.status().as_u16()
        }
    })
    .await;

    assert_eq!(
        crate::helpers::count_status(&statuses, 200),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        crate::helpers::count_status(&statuses, 400),
        7,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request_on_every_browser_endpoint() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    let mut browser = Browser::new(&app);
    let url = authorize_url(&client, &pkce().1, &[]);

    let scope_twice = browser.get(&format!("{url}&scope=openid")).await;
    let state_twice = browser.get(&format!("{url}&state=other")).await;
    let client_twice = browser.get(&format!("{url}&client_id={client}")).await;
    let logout_twice = browser
        .get(&format!("/end-session?state=a&state=b&client_id={client}"))
        .await;

    for (seen, name) in [(&scope_twice, "scope"), (&state_twice, "state")] {
        assert_eq!(
            seen.param("error").as_deref(),
            Some("invalid_request"),
            "{name}"
        );
        assert_eq!(
            seen.param("error_description"),
            Some(format!("parameter {name} is repeated")),
        );
    }
    let (status, html) = client_twice.page();
    assert_eq!(
        status, 400,
        "a repeated client_id is shown, never redirected"
    );
    assert!(html.contains("parameter client_id is repeated"), "{html}");
    let (status, html) = logout_twice.page();
    assert_eq!(status, 400);
    assert!(html.contains("parameter state is repeated"), "{html}");
}

#[tokio::test]
async fn an_exchange_without_a_verifier_is_refused_and_does_not_spend_the_code() {
    let app = spawn_app().await;
    let client = dashboard(&app, true).await;
    app.create_user("ann@example.com").await;
    let (verifier, challenge) = pkce();
    let mut browser = Browser::new(&app);
    let code = signed_in(&app, &mut browser, &client, &challenge)
        .await
        .param("code")
        .unwrap();

    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client.as_str()),
    ];
    let without = app.post_token(&form, None).await;
    let with = exchange(&app, &client, &code, &verifier).await;

    assert_eq!(without.status(), 400);
    let body: serde_json::Value = without.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert_eq!(
        body["error_description"],
        "code_verifier is required (PKCE)"
    );
    assert_eq!(with.status(), 200, "the code was not spent");
}
