//! `Audience`: the `aud` a client's access tokens carry.

use std::fmt;

/// Longest accepted audience, in bytes.
const MAX_LEN: usize = 256;

/// A token audience (RFC 7519 §4.1.3, usually the URL of the API): 1 to 256 visible ASCII
/// characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience(String);

/// Why a string is not a valid audience.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AudienceError {
    /// The audience is empty.
    #[error("audience is empty")]
    Empty,
    /// More than 256 bytes.
    #[error("audience is longer than {MAX_LEN} characters")]
    TooLong,
    /// A space, control or non-ASCII character.
    #[error("audience may only contain visible ASCII characters")]
    InvalidCharacter,
}

impl Audience {
    /// Parses an audience.
    pub fn parse(value: &str) -> Result<Self, AudienceError> {
        if value.is_empty() {
            return Err(AudienceError::Empty);
        }
        if value.len() > MAX_LEN {
            return Err(AudienceError::TooLong);
        }
        if !value.chars().all(|c| c.is_ascii_graphic()) {
            return Err(AudienceError::InvalidCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    /// The audience as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<Audience> for String {
    fn from(audience: Audience) -> Self {
        audience.0
    }
}

impl fmt::Display for Audience {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_urls_and_names() {
        for input in ["https://api.example.com", "billing-api", &"a".repeat(256)] {
            assert_eq!(Audience::parse(input).unwrap().as_str(), input, "{input}");
        }
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let cases = [
            ("", AudienceError::Empty, "empty"),
            (&*"a".repeat(257), AudienceError::TooLong, "too long"),
            ("two words", AudienceError::InvalidCharacter, "space"),
            ("api\n", AudienceError::InvalidCharacter, "newline"),
            ("ä", AudienceError::InvalidCharacter, "non-ASCII"),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(Audience::parse(input), Err(expected), "{reason}");
        }
    }
}
