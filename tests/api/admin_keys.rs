//! `/admin/keys`: bearer authentication with scope `admin`, list, rotate, revoke.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jws::{JwsHeader, RS256};
use serde_json::{Value, json};
use sigil::clock::Clock;

use crate::helpers::{Api, ISSUER, TestApp, spawn_app, spawn_app_with};

async fn admin_token(app: &TestApp) -> String {
    let client = app.create_client("client_credentials", "admin").await;
    app.client_credentials_token(&client).await
}

impl Api {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap()
    }
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

#[tokio::test]
async fn missing_or_garbage_bearer_token_is_401_invalid_token() {
    let app = spawn_app().await;

    for token in [None, Some("garbage"), Some("a.b.c")] {
        let response = app.admin(reqwest::Method::GET, "/admin/keys", token).await;

        assert_eq!(response.status(), 401, "{token:?}");
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn token_without_admin_scope_is_403_insufficient_scope() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;
    let token = app.client_credentials_token(&client).await;

    let response = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;

    assert_eq!(response.status(), 403);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn forged_and_expired_tokens_are_rejected() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| config.clock = clock.clone()).await;
    let genuine = admin_token(&app).await;
    let kid = kid_of(&genuine);
    let [_, payload, signature] = genuine.split('.').collect::<Vec<_>>()[..] else {
        unreachable!()
    };
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let forged_claims = json!({ "iss": ISSUER, "sub": "attacker", "aud": "x", "exp": claims["exp"],
        "iat": claims["iat"], "jti": "j", "client_id": "attacker", "scope": "admin" });

    let alg_none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})),
        b64(&forged_claims)
    );
    let hs256_with_public_key = {
        let secret = serde_json::to_vec(&jwks["keys"][0]).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        header.kid = Some(kid.clone());
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(
            &header,
            &forged_claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let unknown_kid = {
        let pair = RS256.generate_key_pair(2048).unwrap();
        let signer = RS256
            .signer_from_der(josekit::jwk::KeyPair::to_der_private_key(&pair))
            .unwrap();
        let mut header = JwsHeader::new();
        header.set_token_type("at+jwt");
        header.set_key_id("not-a-sigil-key");
        josekit::jws::serialize_compact(
            &serde_json::to_vec(&forged_claims).unwrap(),
            &header,
            &signer,
        )
        .unwrap()
    };
    let tampered = format!(
        "{}.{}.{signature}",
        genuine.split('.').next().unwrap(),
        b64(&forged_claims)
    );
    let cases = [
        (alg_none, "alg none"),
        (hs256_with_public_key, "HS256 keyed with the public key"),
        (unknown_kid, "unknown kid"),
        (tampered, "tampered payload"),
    ];

    for (token, reason) in &cases {
        let response = app
            .admin(reqwest::Method::GET, "/admin/keys", Some(token))
            .await;
        assert_eq!(response.status(), 401, "{reason}");
    }
    assert_eq!(
        app.admin(reqwest::Method::GET, "/admin/keys", Some(&genuine))
            .await
            .status(),
        200,
        "genuine works"
    );
    clock.advance(app.config.keys.access_token_ttl);
    let expired = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&genuine))
        .await;
    assert_eq!(expired.status(), 401, "expired");
}

#[tokio::test]
async fn admin_lists_keys_with_states_and_no_key_material() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;

    let response = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;

    assert_eq!(response.status(), 200);
    let keys: Value = response.json().await.unwrap();
    let mut states: Vec<&str> = keys
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["state"].as_str().unwrap())
        .collect();
    states.sort_unstable();
    assert_eq!(states, ["current", "next"]);
    let text = keys.to_string();
    for secret_member in ["\"d\"", "sealed", "private", "\"n\""] {
        assert!(!text.contains(secret_member), "{secret_member} in {text}");
    }
}

#[tokio::test]
async fn rotate_waits_for_the_publish_lead_unless_forced() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let before = kid_of(&token);

    let early = app
        .admin(reqwest::Method::POST, "/admin/keys/rotate", Some(&token))
        .await;
    let forced = app
        .admin(
            reqwest::Method::POST,
            "/admin/keys/rotate?force=true",
            Some(&token),
        )
        .await;

    assert_eq!(early.status(), 409);
    assert_eq!(forced.status(), 200);
    let keys: Value = forced.json().await.unwrap();
    let state_of = |kid: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == kid)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(state_of(&before), "retired");
    let after = kid_of(&admin_token(&app).await);
    assert_ne!(after, before);
    assert_eq!(state_of(&after), "current");
    let served: Vec<String> = app
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert_eq!(
        served.len(),
        3,
        "current, fresh next, and the retired key: {served:?}"
    );
}

#[tokio::test]
async fn revoking_the_current_key_removes_it_from_the_jwks_at_once() {
    let app = spawn_app().await;
    let token = admin_token(&app).await;
    let compromised = kid_of(&token);

    let response = app
        .admin(
            reqwest::Method::POST,
            &format!("/admin/keys/{compromised}/revoke"),
            Some(&token),
        )
        .await;

    assert_eq!(response.status(), 200);
    let served: Vec<String> = app
        .jwks()
        .await
        .keys
        .iter()
        .filter_map(|k| k.common.key_id.clone())
        .collect();
    assert!(
        !served.contains(&compromised),
        "revoked key still published"
    );
    assert_eq!(
        served.len(),
        2,
        "a new current and a new next key: {served:?}"
    );
    let after = admin_token(&app).await;
    assert_ne!(kid_of(&after), compromised);
    let stale = app
        .admin(reqwest::Method::GET, "/admin/keys", Some(&token))
        .await;
    assert_eq!(
        stale.status(),
        401,
        "tokens signed by the revoked key no longer verify"
    );
    let unknown = app
        .admin(
            reqwest::Method::POST,
            "/admin/keys/nope/revoke",
            Some(&after),
        )
        .await;
    assert_eq!(unknown.status(), 404);
}
