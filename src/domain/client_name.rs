//! `ClientName`: the human-readable label of an OAuth client.

use std::fmt;

/// Longest accepted name, in characters.
const MAX_CHARS: usize = 200;

/// A client's display name: 1 to 200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientName(String);

/// Why a string is not a valid client name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientNameError {
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

impl ClientName {
    /// Parses a name, trimming surrounding whitespace; the length bound counts the name as
    /// sent, before trimming (as the OpenAPI `maxLength` does).
    pub fn parse(value: &str) -> Result<Self, ClientNameError> {
        if value.chars().count() > MAX_CHARS {
            return Err(ClientNameError::TooLong);
        }
        let value = value.trim();
        if value.is_empty() {
            return Err(ClientNameError::Empty);
        }
        if value.chars().any(char::is_control) {
            return Err(ClientNameError::ControlCharacter);
        }
        Ok(Self(value.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<ClientName> for String {
    fn from(name: ClientName) -> Self {
        name.0
    }
}

impl fmt::Display for ClientName {
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
                ClientName::parse(input).unwrap().as_str(),
                expected,
                "{input:?}"
            );
        }
        assert!(
            ClientName::parse(&"é".repeat(200)).is_ok(),
            "200 characters, 400 bytes"
        );
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let cases = [
            ("", ClientNameError::Empty, "empty"),
            ("   ", ClientNameError::Empty, "blank"),
            (&*"x".repeat(201), ClientNameError::TooLong, "too long"),
            (
                "a\nb",
                ClientNameError::ControlCharacter,
                "newline forges log lines",
            ),
            (
                "a\u{1b}[31m",
                ClientNameError::ControlCharacter,
                "terminal escape",
            ),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(ClientName::parse(input), Err(expected), "{reason}");
        }
    }
}
