//! `Password`: a user's password, never printed.

use std::fmt;

use secrecy::{ExposeSecret as _, SecretString};

/// Longest accepted password, in characters (so at most 4 KiB): bounds the work one request
/// can cause, and is a bound an OpenAPI `maxLength` can state.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// A password; `Debug` is redacted and nothing else prints it.
#[derive(Clone)]
pub struct Password(SecretString);

/// Why a new password is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer characters than the configured minimum.
    #[error("password must be at least {0} characters long")]
    TooShort(usize),
    /// More than 1024 characters.
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters long")]
    TooLong,
}

impl Password {
    /// A new password chosen by a user: at least `min_chars` characters, at most 1024.
    pub fn parse_new(value: String, min_chars: usize) -> Result<Self, PasswordError> {
        let chars = value.chars().count();
        if chars > MAX_PASSWORD_CHARS {
            return Err(PasswordError::TooLong);
        }
        if chars < min_chars {
            return Err(PasswordError::TooShort(min_chars));
        }
        Ok(Self(SecretString::from(value)))
    }

    /// A password presented at login; `None` when over 1024 characters (it cannot be right).
    pub fn presented(value: String) -> Option<Self> {
        (value.chars().count() <= MAX_PASSWORD_CHARS).then(|| Self(SecretString::from(value)))
    }

    /// The bytes to hash.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_passwords_respect_the_minimum_in_characters_and_the_byte_limit() {
        assert!(
            Password::parse_new("ééééééé".into(), 8).is_err(),
            "7 characters"
        );
        assert!(
            Password::parse_new("éééééééé".into(), 8).is_ok(),
            "8 characters, 16 bytes"
        );
        assert_eq!(
            Password::parse_new("short".into(), 8).unwrap_err(),
            PasswordError::TooShort(8)
        );
        assert_eq!(
            Password::parse_new("x".repeat(1025), 8).unwrap_err(),
            PasswordError::TooLong
        );
    }

    #[test]
    fn presented_passwords_are_bounded_and_never_printed() {
        let password = Password::presented("hunter22".into()).unwrap();

        assert!(!format!("{password:?}").contains("hunter22"));
        assert!(Password::presented("x".repeat(1025)).is_none());
    }
}
