//! PKCE (RFC 7636): the `S256` code challenge a client sends to `/authorize` and the check of
//! the `code_verifier` it later sends to `/token`. `plain` is refused (RFC 9700 §2.1.1).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// An `S256` code challenge: BASE64URL(SHA-256(verifier)), exactly 43 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

/// Why a challenge or verifier is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PkceError {
    /// No challenge: PKCE is required for every client.
    #[error("code_challenge is required (PKCE, RFC 7636)")]
    Missing,
    /// A method other than `S256`.
    #[error("code_challenge_method must be S256")]
    Method,
    /// Not 43 base64url characters.
    #[error("code_challenge must be 43 base64url characters (S256)")]
    Malformed,
}

impl CodeChallenge {
    /// Parses the challenge and its method (absent means `plain`, which is refused).
    pub fn parse(challenge: Option<&str>, method: Option<&str>) -> Result<Self, PkceError> {
        let challenge = challenge
            .filter(|c| !c.is_empty())
            .ok_or(PkceError::Missing)?;
        if method != Some("S256") {
            return Err(PkceError::Method);
        }
        let decoded = URL_SAFE_NO_PAD.decode(challenge);
        if challenge.len() != 43 || decoded.map(|bytes| bytes.len()) != Ok(32) {
            return Err(PkceError::Malformed);
        }
        Ok(Self(challenge.to_owned()))
    }

    /// Rebuilds a challenge read from storage (it was parsed before it was stored).
    pub fn stored(challenge: String) -> Self {
        Self(challenge)
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `verifier` (43 to 128 unreserved characters, RFC 7636 §4.1) hashes to this
    /// challenge, compared in constant time.
    pub fn verifies(&self, verifier: &str) -> bool {
        let well_formed = (43..=128).contains(&verifier.len())
            && verifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        well_formed && bool::from(computed.as_bytes().ct_eq(self.0.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn the_rfc_example_verifies_and_nothing_else_does() {
        let challenge = CodeChallenge::parse(Some(CHALLENGE), Some("S256")).unwrap();

        assert!(challenge.verifies(VERIFIER));
        assert!(!challenge.verifies(&VERIFIER.replace('d', "e")));
        assert!(
            !challenge.verifies(CHALLENGE),
            "the challenge is not its own verifier"
        );
        assert!(!challenge.verifies(""));
    }

    #[test]
    fn plain_missing_and_malformed_challenges_are_refused() {
        let cases = [
            (None, Some("S256"), PkceError::Missing),
            (Some(""), Some("S256"), PkceError::Missing),
            (Some(CHALLENGE), None, PkceError::Method),
            (Some(CHALLENGE), Some("plain"), PkceError::Method),
            (Some(CHALLENGE), Some("s256"), PkceError::Method),
            (Some("short"), Some("S256"), PkceError::Malformed),
            (Some(&CHALLENGE[..42]), Some("S256"), PkceError::Malformed),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256"),
                PkceError::Malformed,
            ),
        ];
        for (challenge, method, reason) in cases {
            assert_eq!(
                CodeChallenge::parse(challenge, method),
                Err(reason),
                "{challenge:?} {method:?}"
            );
        }
    }

    #[test]
    fn a_verifier_outside_the_rfc_alphabet_or_length_never_verifies() {
        let short = "a".repeat(42);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(short.as_bytes()));
        let parsed = CodeChallenge::parse(Some(&challenge), Some("S256")).unwrap();

        assert!(!parsed.verifies(&short), "42 characters is too short");
    }
}
