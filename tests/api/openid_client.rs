//! The Rust `openidconnect` crate, a strict OpenID Connect client written independently of
//! sigil, against the real server: discovery (`CoreProviderMetadata::discover_async`, which
//! also fetches the JWKS), the authorization code flow with PKCE whose login form headless
//! Chromium fills in, the crate's ID token checks (signature against the discovered keys,
//! `iss`, `aud`, `nonce`, expiry, `at_hash`), UserInfo and a refresh. The crate's requests go
//! through reqwest without redirects, with the issuer's host resolved to the test app.

use std::future::Future;

use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse as _, PkceCodeChallenge, RedirectUrl,
    Scope, TokenResponse as _,
};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Chrome, ISSUER, PASSWORD, TestApp, application, at_localhost, spawn_app};

/// The crate's HTTP client: `ISSUER` stands for the test app's address, as if resolved there.
fn http_client(
    app: &TestApp,
) -> impl Fn(HttpRequest) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>>>>
{
    let base = app.api.url("");
    let http = reqwest::Client::builder()
        // The crate's own advice: following redirects would expose the client to SSRF.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    move |request: HttpRequest| {
        let (http, base) = (http.clone(), base.clone());
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let rewritten = parts.uri.to_string().replacen(ISSUER, &base, 1);
            parts.uri = rewritten.parse().unwrap();
            let request = reqwest::Request::try_from(HttpRequest::from_parts(parts, body))?;
            let response = http.execute(request).await?;
            let mut answer = HttpResponse::new(Vec::new());
            *answer.status_mut() = response.status();
            *answer.headers_mut() = response.headers().clone();
            *answer.body_mut() = response.bytes().await?.to_vec();
            Ok(answer)
        })
    }
}

/// A confidential, first-party browser-login client; its id and secret.
async fn confidential_client(app: &TestApp) -> (String, String) {
    let body = json!({
        "name": "Ops dashboard", "first_party": true,
        "grant_types": ["authorization_code", "refresh_token"], "scope": "openid email",
        "redirect_uris": ["http://127.0.0.1/callback"],
    });
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    let field = |name: &str| created[name].as_str().unwrap().to_owned();
    (field("client_id"), field("client_secret"))
}

#[tokio::test]
async fn the_openidconnect_crate_discovers_sigil_and_completes_the_code_flow_in_a_browser() {
    let Some(chrome) = Chrome::start().await else {
        return;
    };
    let app = spawn_app().await;
    let port = application().await;
    let callback = format!("http://127.0.0.1:{port}/callback");
    let (client_id, secret) = confidential_client(&app).await;
    app.create_user("rp@example.com").await;
    let http = http_client(&app);

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(ISSUER.to_owned()).unwrap(), &http)
            .await
            .expect("the crate accepts the discovery document and the JWKS");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret)),
    )
    .set_redirect_uri(RedirectUrl::new(callback.clone()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let path = url.as_str().strip_prefix(ISSUER).unwrap();
    chrome.open(&at_localhost(&app, path)).await;
    chrome.type_into("#username", "rp@example.com").await;
    chrome.type_into("#password", PASSWORD).await;
    chrome.click("button[type=submit]").await;
    let landed = url::Url::parse(&chrome.wait_for_url(&callback).await).unwrap();
    let param = |name: &str| {
        landed
            .query_pairs()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.into_owned())
    };
    let code = AuthorizationCode::new(param("code").expect("a code"));
    let tokens = client
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the code is exchanged with client_secret_basic and the verifier");
    let id_token = tokens.id_token().expect("an ID token for scope openid");
    let id_verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the crate's ID token checks pass");
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    let userinfo: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().to_owned(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .expect("UserInfo answers for the access token, with the ID token's subject");
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http)
        .await
        .expect("the refresh token rotates");

    assert_eq!(param("state").as_deref(), Some(state.secret().as_str()));
    assert_eq!(param("iss").as_deref(), Some(ISSUER));
    assert_eq!(claims.issuer().as_str(), ISSUER);
    assert_eq!(claims.audiences()[0].as_str(), client_id);
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    assert!(claims.auth_time().is_some(), "auth_time is in the ID token");
    assert_eq!(
        claims.email().map(|email| email.as_str()),
        Some("rp@example.com")
    );
    assert_eq!(userinfo.subject(), claims.subject());
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        tokens.refresh_token().unwrap().secret()
    );
}
