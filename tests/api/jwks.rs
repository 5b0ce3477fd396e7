//! `GET /.well-known/jwks.json`.

use serde_json::Value;

use crate::helpers::spawn_app;

/// Members a public RSA or EC JWK may carry.
const PUBLIC_MEMBERS: [&str; 9] = ["kty", "use", "alg", "kid", "n", "e", "crv", "x", "y"];

#[tokio::test]
async fn jwks_publishes_only_public_members_with_kid_use_and_alg() {
    let app = spawn_app().await;

    let response = app.get("/.well-known/jwks.json").await;

    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        for (member, _) in key.as_object().unwrap() {
            assert!(
                PUBLIC_MEMBERS.contains(&member.as_str()),
                "unexpected member {member}"
            );
        }
        assert_eq!(key["use"], "sig");
        assert_eq!(key["alg"], "RS256");
        assert!(key["kid"].as_str().is_some_and(|kid| !kid.is_empty()));
    }
}

#[tokio::test]
async fn jwks_is_cacheable_and_answers_304_to_a_matching_if_none_match() {
    let app = spawn_app().await;
    let first = app.get("/.well-known/jwks.json").await;
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert_eq!(first.headers()["cache-control"], "public, max-age=600");

    let matching = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    let stale = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();

    assert_eq!(matching.status(), 304);
    assert_eq!(matching.headers()["etag"], etag.as_str());
    assert_eq!(matching.headers()["cache-control"], "public, max-age=600");
    assert!(matching.bytes().await.unwrap().is_empty());
    assert_eq!(stale.status(), 200);
    assert_eq!(
        stale.headers()["etag"],
        etag.as_str(),
        "ETag is stable while the ring is"
    );
}
