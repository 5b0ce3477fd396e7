//! The served JWK Set: serialized once per key-ring change, with its ETag.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};

use crate::domain::KeyState;
use crate::store::StoredKey;

/// JWK members a verifier may see. Anything else in a stored JWK is dropped, so no private
/// member (`d`, `p`, `q`, `dp`, `dq`, `qi`, `oth`) can reach the JWKS even if one were stored.
const PUBLIC_MEMBERS: [&str; 9] = ["kty", "use", "alg", "kid", "n", "e", "crv", "x", "y"];

/// The JWKS document bytes and their strong ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    body: Bytes,
    etag: String,
}

impl Jwks {
    /// Builds the set from every published key (removed ones are skipped): current first,
    /// then next, then retired (oldest first), so every instance serializes byte-identical
    /// documents.
    pub(super) fn build(keys: &[StoredKey]) -> anyhow::Result<Self> {
        let rank = |state: KeyState| match state {
            KeyState::Current => 0,
            KeyState::Next => 1,
            KeyState::Retired => 2,
            KeyState::Removed => 3,
        };
        let mut published: Vec<&StoredKey> = keys
            .iter()
            .filter(|key| key.state != KeyState::Removed)
            .collect();
        published.sort_by(|a, b| {
            (rank(a.state), a.published_at, &a.kid).cmp(&(rank(b.state), b.published_at, &b.kid))
        });
        let keys = published
            .into_iter()
            .map(|key| public_members(&key.public_jwk))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let body = Bytes::from(serde_json::to_vec(&serde_json::json!({ "keys": keys }))?);
        let etag = format!(
            "\"{}\"",
            URL_SAFE_NO_PAD.encode(&Sha256::digest(&body)[..16])
        );
        Ok(Self { body, etag })
    }

    /// The serialized `{"keys": [...]}` document.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The strong ETag of the body, quoted.
    pub fn etag(&self) -> &str {
        &self.etag
    }
}

fn public_members(stored: &str) -> anyhow::Result<Map<String, Value>> {
    let mut jwk: Map<String, Value> = serde_json::from_str(stored)?;
    jwk.retain(|name, _| PUBLIC_MEMBERS.contains(&name.as_str()));
    Ok(jwk)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::domain::SigningAlgorithm;

    fn stored(kid: &str, state: KeyState, jwk: &str) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: SigningAlgorithm::Rs256,
            state,
            public_jwk: jwk.into(),
            sealed_private_key: None,
            published_at: Utc::now(),
            activated_at: None,
            retired_at: None,
            removed_at: None,
            revoked: false,
        }
    }

    #[test]
    fn private_members_never_reach_the_document() {
        let leaky = r#"{"kty":"RSA","kid":"a","n":"AQ","e":"AQAB","d":"SECRET","p":"P","q":"Q"}"#;

        let jwks = Jwks::build(&[stored("a", KeyState::Current, leaky)]).unwrap();

        let text = std::str::from_utf8(jwks.body()).unwrap();
        assert!(!text.contains("SECRET") && !text.contains("\"p\"") && !text.contains("\"d\""));
        assert!(text.contains("\"kid\":\"a\""));
    }

    #[test]
    fn current_key_comes_first_and_etag_follows_content() {
        let next = stored("n", KeyState::Next, r#"{"kty":"EC","kid":"n"}"#);
        let current = stored("c", KeyState::Current, r#"{"kty":"EC","kid":"c"}"#);

        let jwks = Jwks::build(&[next.clone(), current.clone()]).unwrap();
        let only_current = Jwks::build(&[current]).unwrap();

        let text = std::str::from_utf8(jwks.body()).unwrap();
        assert!(text.find("\"c\"").unwrap() < text.find("\"n\"").unwrap());
        assert_ne!(jwks.etag(), only_current.etag());
        assert!(jwks.etag().starts_with('"') && jwks.etag().ends_with('"'));
    }
}
