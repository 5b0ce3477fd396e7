//! Opaque secrets sigil generates (`ClientSecret`, `RefreshToken`, `LinkToken`) and their
//! stored form `SecretHash`.
//!
//! They are generated with 256 bits of randomness and encoded as base64url without padding,
//! so they survive every client library's encoding. Only their SHA-256 is stored: a
//! high-entropy secret needs no slow KDF, which keeps `client_credentials` and refreshes fast.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret as _, SecretString};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// Bytes of randomness in a generated secret (256 bits).
const SECRET_BYTES: usize = 32;

/// Defines a 256-bit opaque secret type: generated from the OS CSPRNG, base64url without
/// padding, stored only as its SHA-256 (`SecretHash`), `Debug` redacted.
macro_rules! opaque_secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(SecretString);

        impl $name {
            /// Wraps a value presented by a client. Any string is accepted: a wrong one simply
            /// fails verification, so nothing about its shape is revealed.
            pub fn presented(value: String) -> Self {
                Self(SecretString::from(value))
            }

            /// Generates a fresh value from the operating system's CSPRNG.
            pub fn generate() -> Self {
                let mut bytes = [0u8; SECRET_BYTES];
                // OK because a machine without a working OS random source cannot issue secrets.
                getrandom::fill(&mut bytes).expect("the OS random number generator failed");
                Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
            }

            /// The text, for the single moment it is handed out.
            pub fn expose(&self) -> &str {
                self.0.expose_secret()
            }

            /// The SHA-256, the only form that is stored.
            pub fn hash(&self) -> SecretHash {
                SecretHash(Sha256::digest(self.0.expose_secret().as_bytes()).into())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([REDACTED])"))
            }
        }
    };
}

opaque_secret!(
    /// A client secret: shown once at creation, then only its hash is kept.
    ClientSecret
);

opaque_secret!(
    /// A refresh token (≥ 256 bits): handed to the client, stored only as its hash.
    RefreshToken
);

opaque_secret!(
    /// The one-time token of an emailed link (verify an address, reset a password): mailed
    /// once, stored only as its hash, deleted when used.
    LinkToken
);

opaque_secret!(
    /// An authorization code (RFC 6749 §4.1.2): handed to the client in the redirect, stored
    /// only as its hash, usable once.
    AuthorizationCode
);

opaque_secret!(
    /// The value of the browser-session cookie: set once, stored only as its hash.
    BrowserSessionToken
);

/// The stored SHA-256 of an opaque secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Rebuilds a hash read from storage; `None` unless it is exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The raw 32 bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether `secret` hashes to this value, compared in constant time.
    pub fn verify(&self, secret: &ClientSecret) -> bool {
        secret.hash().0.ct_eq(&self.0).into()
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_256_bit_base64url_without_padding() {
        let secret = ClientSecret::generate();

        let decoded = URL_SAFE_NO_PAD.decode(secret.expose()).unwrap();
        assert_eq!(decoded.len(), 32);
        assert!(!secret.expose().contains(['=', '+', '/']));
        assert_ne!(secret.expose(), ClientSecret::generate().expose());
    }

    #[test]
    fn hash_verifies_only_the_same_secret() {
        let secret = ClientSecret::generate();
        let hash = secret.hash();

        assert!(hash.verify(&ClientSecret::presented(secret.expose().to_owned())));
        assert!(!hash.verify(&ClientSecret::presented(format!("{}x", secret.expose()))));
        assert!(!hash.verify(&ClientSecret::presented(String::new())));
    }

    #[test]
    fn stored_hash_round_trips_and_rejects_wrong_length() {
        let hash = ClientSecret::generate().hash();

        assert_eq!(SecretHash::from_bytes(hash.as_bytes()), Some(hash));
        assert_eq!(SecretHash::from_bytes(&[0; 31]), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let secret = ClientSecret::generate();
        let token = RefreshToken::generate();

        assert!(!format!("{secret:?}").contains(secret.expose()));
        assert_eq!(format!("{token:?}"), "RefreshToken([REDACTED])");
        assert_eq!(
            token.hash(),
            RefreshToken::presented(token.expose().to_owned()).hash()
        );
    }
}
