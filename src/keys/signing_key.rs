//! One signing key: generation, its public JWK, and the parsed signer kept in memory.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::{Jwk, KeyPair as _};
use josekit::jws::{ES256, JwsSigner, RS256};
use sha2::{Digest as _, Sha256};

use crate::domain::SigningAlgorithm;

/// A freshly generated key pair, before it is sealed and stored.
pub(super) struct GeneratedKey {
    pub(super) kid: String,
    pub(super) alg: SigningAlgorithm,
    pub(super) public_jwk: String,
    pub(super) private_der: Vec<u8>,
}

/// Generates a key pair; CPU-heavy for RSA (tens of milliseconds), so run it off the runtime.
pub(super) fn generate(alg: SigningAlgorithm, rsa_bits: u32) -> anyhow::Result<GeneratedKey> {
    let (public, private_der) = match alg {
        SigningAlgorithm::Rs256 => {
            let pair = RS256.generate_key_pair(rsa_bits)?;
            (pair.to_jwk_public_key(), pair.to_der_private_key())
        }
        SigningAlgorithm::Es256 => {
            let pair = ES256.generate_key_pair()?;
            (pair.to_jwk_public_key(), pair.to_der_private_key())
        }
    };
    let kid = thumbprint(&public)?;
    Ok(GeneratedKey {
        public_jwk: publishable_jwk(public, &kid, alg)?,
        kid,
        alg,
        private_der,
    })
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): a stable `kid` derived from the public key.
fn thumbprint(public: &Jwk) -> anyhow::Result<String> {
    let members: &[&str] = match public.key_type() {
        "RSA" => &["e", "kty", "n"],
        "EC" => &["crv", "kty", "x", "y"],
        other => anyhow::bail!("no thumbprint rule for key type {other}"),
    };
    let required: BTreeMap<&str, &serde_json::Value> = members
        .iter()
        .map(|&name| public.parameter(name).map(|value| (name, value)))
        .collect::<Option<_>>()
        .ok_or_else(|| anyhow::anyhow!("public JWK lacks a required member"))?;
    let digest = Sha256::digest(serde_json::to_vec(&required)?);
    Ok(URL_SAFE_NO_PAD.encode(digest))
}

/// The JSON published in the JWKS: public members plus `kid`, `use: sig` and `alg`.
fn publishable_jwk(mut public: Jwk, kid: &str, alg: SigningAlgorithm) -> anyhow::Result<String> {
    public.set_key_id(kid);
    public.set_key_use("sig");
    public.set_algorithm(alg.as_str());
    Ok(serde_json::to_string(public.as_ref())?)
}

/// A parsed private key ready to sign; built once per ring load, never per request.
pub(super) struct Signer {
    pub(super) kid: String,
    pub(super) alg: SigningAlgorithm,
    signer: Box<dyn JwsSigner>,
}

impl Signer {
    /// Parses a PKCS#8 private key for `alg`.
    pub(super) fn from_der(kid: String, alg: SigningAlgorithm, der: &[u8]) -> anyhow::Result<Self> {
        let signer: Box<dyn JwsSigner> = match alg {
            SigningAlgorithm::Rs256 => Box::new(RS256.signer_from_der(der)?),
            SigningAlgorithm::Es256 => Box::new(ES256.signer_from_der(der)?),
        };
        Ok(Self { kid, alg, signer })
    }

    /// The signer josekit uses.
    pub(super) fn jws_signer(&self) -> &dyn JwsSigner {
        self.signer.as_ref()
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_publishes_only_public_members() {
        let key = generate(SigningAlgorithm::Rs256, 2048).unwrap();

        let jwk: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&key.public_jwk).unwrap();
        let mut names: Vec<_> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "e", "kid", "kty", "n", "use"]);
        assert_eq!(jwk["kid"], key.kid.as_str());
        assert_eq!(jwk["alg"], "RS256");
    }

    #[test]
    fn ec_key_publishes_only_public_members() {
        let key = generate(SigningAlgorithm::Es256, 0).unwrap();

        let jwk: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&key.public_jwk).unwrap();
        let mut names: Vec<_> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        assert_eq!(names, ["alg", "crv", "kid", "kty", "use", "x", "y"]);
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        // RFC 7638 §3.1 example key and its published thumbprint.
        let jwk = Jwk::from_bytes(
            br#"{"kty":"RSA","e":"AQAB","alg":"RS256","kid":"2011-04-29","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}"#,
        )
        .unwrap();

        assert_eq!(
            thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn signer_parses_the_generated_private_key() {
        let key = generate(SigningAlgorithm::Es256, 0).unwrap();

        assert!(Signer::from_der(key.kid, key.alg, &key.private_der).is_ok());
        assert!(Signer::from_der("x".into(), SigningAlgorithm::Es256, b"junk").is_err());
    }

    #[test]
    fn algorithm_names_round_trip_and_unknown_is_rejected() {
        for alg in [SigningAlgorithm::Rs256, SigningAlgorithm::Es256] {
            assert_eq!(alg.as_str().parse(), Ok(alg));
        }
        assert!("HS256".parse::<SigningAlgorithm>().is_err());
    }
}
