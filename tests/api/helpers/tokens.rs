//! Checking tokens with an independent library, and forging the ones that must fail.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, TokenData, Validation};
use serde_json::Value;

use super::*;

/// Verifies `token` against `jwks` with the independent `jsonwebtoken` crate: signature,
/// `typ`, `iss`, `aud`, `exp`; returns the claims.
pub fn verify(token: &str, jwks: &JwkSet, audience: &str) -> TokenData<Value> {
    verify_typed(token, "at+jwt", jwks, audience)
}

/// Verifies an ID token (`typ` `JWT`) for client `audience` as `verify` does.
pub fn verify_id_token(token: &str, jwks: &JwkSet, audience: &str) -> TokenData<Value> {
    verify_typed(token, "JWT", jwks, audience)
}

fn verify_typed(token: &str, typ: &str, jwks: &JwkSet, audience: &str) -> TokenData<Value> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some(typ), "typ");
    let kid = header.kid.as_deref().expect("token has a kid");
    let jwk = jwks
        .find(kid)
        .unwrap_or_else(|| panic!("kid {kid} is not in the JWKS"));
    let key = DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = 0;
    jsonwebtoken::decode::<Value>(token, &key, &validation).expect("token verifies")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Tokens an attacker could build from a genuine one and the public JWKS, each with the
/// reason it must be rejected: `alg: none`, HS256 keyed with the public key, a kid sigil
/// never published, and a payload altered under the original signature.
pub async fn forgeries(app: &Api, genuine: &str) -> Vec<(String, &'static str)> {
    use josekit::jws::{JwsHeader, RS256};
    let kid = jsonwebtoken::decode_header(genuine).unwrap().kid.unwrap();
    let parts: Vec<&str> = genuine.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    claims["scope"] = Value::from("admin openid");
    claims["sub"] = Value::from("attacker");
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": kid});
    let alg_none = format!("{}.{}.", b64(&header), b64(&claims));
    let hs256 = {
        let secret = serde_json::to_vec(&jwks["keys"][0]).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        (header.kid, header.typ) = (Some(kid.clone()), Some("at+jwt".into()));
        jsonwebtoken::encode(
            &header,
            &claims,
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
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &header, &signer)
            .unwrap()
    };
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    vec![
        (alg_none, "alg none"),
        (hs256, "HS256 keyed with the public key"),
        (unknown_kid, "unknown kid"),
        (tampered, "tampered payload"),
    ]
}

/// The `kid` in a JWS header (unverified).
pub fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// A fresh PKCE verifier and its S256 challenge (RFC 7636).
pub fn pkce() -> (String, String) {
    use sha2::Digest as _;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}
