//! The key-encryption key (KEK) that seals private signing keys at rest.
//!
//! Private keys are stored as compact JWEs (`alg: dir`, `enc: A256GCM`) whose protected header
//! carries the key's `kid`, so a sealed key cannot be swapped onto another row unnoticed. The
//! KEK comes from `SIGIL_KEY_ENCRYPTION_KEY` or from `<keys dir>/key-encryption-key`, created
//! with mode 0600 on first start. A database dump alone therefore yields no usable key.

use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jwe::{self, Dir, JweHeader};
use secrecy::{ExposeSecret as _, SecretBox};

/// File name of the generated KEK inside the keys directory.
pub const KEK_FILE_NAME: &str = "key-encryption-key";

/// KEK length: 256 bits for A256GCM.
const KEK_BYTES: usize = 32;

/// The 256-bit key-encryption key; `Debug` is redacted.
pub struct KeyEncryptionKey(SecretBox<[u8; KEK_BYTES]>);

/// Why a sealed private key could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Authentication failed: a different KEK sealed it, or the ciphertext was altered.
    #[error("the key-encryption key cannot decrypt signing key {kid}")]
    WrongKey {
        /// The key that could not be opened.
        kid: String,
    },
    /// The envelope was sealed for another key id.
    #[error("sealed private key of {kid} is bound to another key id")]
    KidMismatch {
        /// The row's key id.
        kid: String,
    },
}

impl KeyEncryptionKey {
    /// Parses a KEK given as base64 or base64url (padding optional) of exactly 32 bytes.
    pub fn parse(encoded: &str) -> anyhow::Result<Self> {
        let trimmed = encoded.trim().trim_end_matches('=');
        let bytes = URL_SAFE_NO_PAD
            .decode(trimmed)
            .or_else(|_| {
                STANDARD.decode(format!(
                    "{trimmed}{}",
                    "=".repeat((4 - trimmed.len() % 4) % 4)
                ))
            })
            .context("not valid base64")?;
        let bytes: [u8; KEK_BYTES] = bytes
            .try_into()
            .map_err(|_| anyhow::anyhow!("must decode to exactly {KEK_BYTES} bytes"))?;
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// A 256-bit key for `purpose`, derived from the KEK (HMAC-SHA-256 of the purpose under
    /// the KEK): every instance that shares the KEK derives the same key, and no derived key
    /// reveals the KEK or another purpose's key.
    pub fn derive(&self, purpose: &str) -> SecretBox<[u8; 32]> {
        use hmac::Mac as _;
        // OK because HMAC accepts a key of any length.
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(b"sigil derived key\0");
        mac.update(purpose.as_bytes());
        SecretBox::new(Box::new(mac.finalize().into_bytes().into()))
    }

    /// Reads `<dir>/key-encryption-key`, creating the directory (0700) and the file (0600,
    /// 256 random bits) on first use.
    pub fn load_or_create_file(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(KEK_FILE_NAME);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                warn_if_readable_by_others(&path);
                Self::parse(&text).with_context(|| format!("{} is invalid", path.display()))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                Self::create_file(dir, path)
            }
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    fn create_file(dir: &Path, path: PathBuf) -> anyhow::Result<Self> {
        // Nobody but the owner may read it (0600 inside 0700), whatever the umask.
        use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};

        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut bytes = [0u8; KEK_BYTES];
        getrandom::fill(&mut bytes).context("the OS random number generator failed")?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{}", URL_SAFE_NO_PAD.encode(bytes))
            .and_then(|()| file.sync_all())
            .with_context(|| format!("cannot write {}", path.display()))?;
        tracing::info!(path = %path.display(), "created a new key-encryption key");
        Ok(Self(SecretBox::new(Box::new(bytes))))
    }

    /// Seals a private key (PKCS#8 DER) for the key `kid`.
    pub(super) fn seal(&self, kid: &str, private_der: &[u8]) -> anyhow::Result<String> {
        let mut header = JweHeader::new();
        header.set_content_encryption("A256GCM");
        header.set_key_id(kid);
        let encrypter = Dir.encrypter_from_bytes(self.0.expose_secret())?;
        Ok(jwe::serialize_compact(private_der, &header, &encrypter)?)
    }

    /// Opens a sealed private key, checking it was sealed for `kid`.
    pub(super) fn open(&self, kid: &str, sealed: &str) -> Result<Vec<u8>, OpenError> {
        let wrong_key = || OpenError::WrongKey {
            kid: kid.to_owned(),
        };
        let decrypter = Dir
            .decrypter_from_bytes(self.0.expose_secret())
            .map_err(|_| wrong_key())?;
        let (der, header) =
            jwe::deserialize_compact(sealed, &decrypter).map_err(|_| wrong_key())?;
        if header.key_id() != Some(kid) {
            return Err(OpenError::KidMismatch {
                kid: kid.to_owned(),
            });
        }
        Ok(der)
    }
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([REDACTED])")
    }
}

/// Warns when the key-encryption key file can be read by its group or by anyone: whoever
/// reads it and a database dump can sign tokens.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;

    if let Ok(metadata) = std::fs::metadata(path)
        && metadata.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format!("{:o}", metadata.permissions().mode() & 0o777),
            "the key-encryption key file is readable by group or others; chmod 600 it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::parse(&URL_SAFE_NO_PAD.encode([7u8; 32])).unwrap()
    }

    #[test]
    fn sealed_key_opens_with_the_same_kek_and_kid() {
        let sealed = kek().seal("kid-1", b"private").unwrap();

        assert_eq!(kek().open("kid-1", &sealed).unwrap(), b"private");
        assert!(!sealed.contains("private"));
    }

    #[test]
    fn another_kek_cannot_open() {
        let sealed = kek().seal("kid-1", b"private").unwrap();
        let other = KeyEncryptionKey::parse(&URL_SAFE_NO_PAD.encode([8u8; 32])).unwrap();

        assert!(matches!(
            other.open("kid-1", &sealed),
            Err(OpenError::WrongKey { .. })
        ));
    }

    #[test]
    fn envelope_is_bound_to_its_kid() {
        let sealed = kek().seal("kid-1", b"private").unwrap();

        assert!(matches!(
            kek().open("kid-2", &sealed),
            Err(OpenError::KidMismatch { .. })
        ));
    }

    #[test]
    fn parse_accepts_both_base64_alphabets_and_rejects_wrong_lengths() {
        let bytes = [0xfbu8; 32];

        assert!(
            KeyEncryptionKey::parse(&STANDARD.encode(bytes)).is_ok(),
            "standard, padded"
        );
        assert!(
            KeyEncryptionKey::parse(&URL_SAFE_NO_PAD.encode(bytes)).is_ok(),
            "url-safe"
        );
        assert!(
            KeyEncryptionKey::parse(&STANDARD.encode([1u8; 16])).is_err(),
            "128 bits"
        );
        assert!(KeyEncryptionKey::parse("not base64!").is_err(), "garbage");
    }

    #[test]
    fn file_is_created_with_mode_0600_and_read_back() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");

        let created = KeyEncryptionKey::load_or_create_file(&keys).unwrap();
        let loaded = KeyEncryptionKey::load_or_create_file(&keys).unwrap();

        let mode = std::fs::metadata(keys.join(KEK_FILE_NAME))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(created.0.expose_secret(), loaded.0.expose_secret());
    }
}
