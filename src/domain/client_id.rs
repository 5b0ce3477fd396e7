//! `ClientId`: the public identifier of an OAuth client.

use std::fmt;

/// Longest accepted client id, in bytes.
const MAX_LEN: usize = 128;

/// A client identifier: 1 to 128 characters from the URL-safe set `A-Z a-z 0-9 - . _ ~`.
///
/// RFC 6749 allows any visible ASCII; sigil narrows it so an id survives URLs, Basic auth
/// (no `:`) and logs without escaping.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientId(String);

/// Why a string is not a valid client id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientIdError {
    /// The id is empty.
    #[error("client id is empty")]
    Empty,
    /// The id is longer than 128 bytes.
    #[error("client id is longer than {MAX_LEN} characters")]
    TooLong,
    /// The id has a character outside `A-Z a-z 0-9 - . _ ~`.
    #[error("client id may only contain A-Z a-z 0-9 - . _ ~")]
    InvalidCharacter,
}

impl ClientId {
    /// Parses a client id.
    pub fn parse(value: impl Into<String>) -> Result<Self, ClientIdError> {
        let value = value.into();
        if value.is_empty() {
            return Err(ClientIdError::Empty);
        }
        if value.len() > MAX_LEN {
            return Err(ClientIdError::TooLong);
        }
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~');
        if !value.chars().all(allowed) {
            return Err(ClientIdError::InvalidCharacter);
        }
        Ok(Self(value))
    }

    /// A fresh random client id (a UUID v4 in its simple 32-hex-digit form).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientId {
    type Error = ClientIdError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<ClientId> for String {
    fn from(id: ClientId) -> Self {
        id.0
    }
}

impl AsRef<str> for ClientId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ClientId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClientId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_url_safe_ids() {
        for id in ["a", "my-client", "svc.billing_v2~x", &"x".repeat(128)] {
            assert_eq!(
                ClientId::parse(id).unwrap().as_str(),
                id,
                "{id} should be accepted"
            );
        }
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let cases = [
            ("", ClientIdError::Empty, "empty"),
            (&*"x".repeat(129), ClientIdError::TooLong, "too long"),
            (
                "a:b",
                ClientIdError::InvalidCharacter,
                "colon breaks Basic auth",
            ),
            ("a b", ClientIdError::InvalidCharacter, "space"),
            ("é", ClientIdError::InvalidCharacter, "non-ASCII"),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(ClientId::parse(input), Err(expected), "{reason}");
        }
    }

    #[test]
    fn generated_ids_parse_and_differ() {
        let (a, b) = (ClientId::generate(), ClientId::generate());

        assert_ne!(a, b);
        assert_eq!(ClientId::parse(a.as_str()), Ok(a));
    }

    #[test]
    fn serde_round_trip_parses() {
        let id: ClientId = serde_json::from_str("\"abc\"").unwrap();

        assert_eq!(serde_json::to_string(&id).unwrap(), "\"abc\"");
        assert!(serde_json::from_str::<ClientId>("\"a:b\"").is_err());
    }
}
