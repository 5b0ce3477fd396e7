//! `DisplayName`: a human-readable label: a client's name, a user's display name.

use std::fmt;

/// Longest accepted name, in characters.
const MAX_CHARS: usize = 200;

/// A display name (a client's, a user's): 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// Why a string is not a valid client name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    /// Nothing but whitespace.
    #[error("name is empty")]
    Empty,
    /// More than 200 characters.
    #[error("name is longer than {MAX_CHARS} characters")]
    TooLong,
    /// A control character (newline, tab, escape, ...), which would garble listings and logs.
    #[error("name may not contain control characters")]
    ControlCharacter,
}

impl DisplayName {
    /// Parses a name, trimming surrounding whitespace; the length bound counts the name as
    /// sent, before trimming (as the OpenAPI `maxLength` does).
    pub fn parse(value: &str) -> Result<Self, DisplayNameError> {
        if value.chars().count() > MAX_CHARS {
            return Err(DisplayNameError::TooLong);
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(DisplayNameError::Empty);
        }
        if value.chars().any(char::is_control) {
            return Err(DisplayNameError::ControlCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> Self {
        name.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_trims_names() {
        for (input, expected) in [
            ("billing", "billing"),
            ("  Ops Dash ", "Ops Dash"),
            ("Zürich", "Zürich"),
        ] {
            assert_eq!(
                DisplayName::parse(input).unwrap().as_str(),
                expected,
                "{input:?}"
            );
        }
        assert!(
            DisplayName::parse(&"é".repeat(200)).is_ok(),
            "200 characters, 400 bytes"
        );
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let cases = [
            ("", DisplayNameError::Empty, "empty"),
            ("   ", DisplayNameError::Empty, "blank"),
            (&*"x".repeat(201), DisplayNameError::TooLong, "too long"),
            (
                "a\nb",
                DisplayNameError::ControlCharacter,
                "newline forges log lines",
            ),
            (
                "a\u{1b}[31m",
                DisplayNameError::ControlCharacter,
                "terminal escape",
            ),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(DisplayName::parse(input), Err(expected), "{reason}");
        }
    }
}
