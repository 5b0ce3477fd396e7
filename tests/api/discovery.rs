//! Discovery metadata (OIDC Discovery and RFC 8414).

use serde_json::Value;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn both_metadata_documents_name_the_issuer_exactly_and_list_what_is_supported() {
    let issuer = "https://auth.example.test/sigil/";
    let app = spawn_app_with(|config| config.issuer = issuer.to_owned()).await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path).await;

        assert_eq!(response.status(), 200, "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(
            doc["issuer"], issuer,
            "{path}: issuer exactly as configured"
        );
        assert_eq!(
            doc["token_endpoint"], "https://auth.example.test/sigil/token",
            "{path}"
        );
        assert_eq!(
            doc["jwks_uri"], "https://auth.example.test/sigil/.well-known/jwks.json",
            "{path}"
        );
        let grants = serde_json::json!([
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token"
        ]);
        assert_eq!(doc["grant_types_supported"], grants, "{path}");
        let methods = serde_json::json!(["client_secret_basic", "client_secret_post", "none"]);
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"], methods,
            "{path}"
        );
        for (member, endpoint) in [
            ("revocation_endpoint", "revoke"),
            ("introspection_endpoint", "introspect"),
            ("userinfo_endpoint", "userinfo"),
        ] {
            let url = format!("https://auth.example.test/sigil/{endpoint}");
            assert_eq!(doc[member], url, "{path}: {member}");
        }
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"]),
            "{path}"
        );
        assert!(doc["response_types_supported"].is_array(), "{path}");
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["public"]),
            "{path}"
        );
    }
}

/// The header `alg` and `kid` of a compact JWS.
fn alg_and_kid(token: &str) -> (jsonwebtoken::Algorithm, String) {
    let header = jsonwebtoken::decode_header(token).unwrap();
    (header.alg, header.kid.unwrap())
}

#[tokio::test]
async fn under_es256_id_tokens_are_rs256_as_discovery_says() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.keys.signing_algorithm = "ES256".parse().unwrap();
    })
    .await;
    let client = app.create_client("password", "openid").await;
    app.create_user("ann@example.com").await;

    let metadata: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();
    let body = app.logged_in(&client, "ann@example.com").await;

    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256"])
    );
    let jwks = app.jwks().await;
    let (id_alg, id_kid) = alg_and_kid(body["id_token"].as_str().unwrap());
    assert_eq!(id_alg, jsonwebtoken::Algorithm::RS256);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(&id_kid).unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(id_alg);
    validation.set_audience(&[client.id.as_str()]);
    jsonwebtoken::decode::<serde_json::Value>(
        body["id_token"].as_str().unwrap(),
        &key,
        &validation,
    )
    .expect("the ID token verifies against the JWKS");
    let (access_alg, _) = alg_and_kid(body["access_token"].as_str().unwrap());
    assert_eq!(
        access_alg,
        jsonwebtoken::Algorithm::ES256,
        "access tokens stay ES256"
    );
    let algs: std::collections::BTreeSet<String> = jwks
        .keys
        .iter()
        .map(|jwk| format!("{:?}", jwk.common.key_algorithm.unwrap()))
        .collect();
    assert_eq!(algs.len(), 2, "both lifecycles published: {algs:?}");
}

#[tokio::test]
async fn switching_to_es256_signs_with_the_new_key_only_after_it_was_published_long_enough() {
    let clock = sigil::clock::Clock::manual(chrono::Utc::now());
    let mut app = crate::helpers::spawn_app_with(|config| config.clock = clock.clone()).await;
    let client = app.create_client("client_credentials", "").await;
    let rs256 = alg_and_kid(&app.client_credentials_token(&client).await);

    app.config.keys.signing_algorithm = "ES256".parse().unwrap();
    app.restart().await;
    let during = alg_and_kid(&app.client_credentials_token(&client).await);
    let published = app.served_kids().await;
    clock.advance(app.config.keys.rotation_policy().publish_lead);
    app.keys.refresh(clock.now()).await.unwrap();
    let after = alg_and_kid(&app.client_credentials_token(&client).await);

    assert_eq!(
        during, rs256,
        "the old key signs while the ES256 key is being published"
    );
    assert_eq!(after.0, jsonwebtoken::Algorithm::ES256);
    assert!(
        published.contains(&after.1),
        "the ES256 key was in the JWKS before it signed"
    );
}
