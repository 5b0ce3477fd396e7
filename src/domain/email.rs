//! `Email`: a user's login name.

use std::fmt;

/// Longest accepted address, in bytes (RFC 5321 path limit).
const MAX_LEN: usize = 254;

/// An email address as typed (trimmed), with a lower-cased form used for uniqueness and
/// lookups, so `Ann@Example.com` and `ann@example.com` are one account.
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    display: String,
    normalized: String,
}

/// Why a string is not an acceptable email address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("email is empty")]
    Empty,
    /// Longer than 254 bytes.
    #[error("email is longer than {MAX_LEN} characters")]
    TooLong,
    /// Not `local@domain` with exactly one `@` and a dotted domain.
    #[error("email must look like name@example.com")]
    Malformed,
    /// Whitespace, control characters or characters that need quoting.
    #[error("email contains characters that are not allowed")]
    InvalidCharacter,
}

impl Email {
    /// Parses an address: one `@`, a non-empty local part of at most 64 bytes, a domain of
    /// dot-separated non-empty labels (letters, digits, `-`, or non-ASCII for IDNs).
    pub fn parse(value: &str) -> Result<Self, EmailError> {
        let value = value.trim();
        if value.is_empty() {
            return Err(EmailError::Empty);
        }
        if value.len() > MAX_LEN {
            return Err(EmailError::TooLong);
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[]\\,;:\"".contains(c))
        {
            return Err(EmailError::InvalidCharacter);
        }
        let Some((local, domain)) = value.split_once('@') else {
            return Err(EmailError::Malformed);
        };
        let label_ok = |label: &str| {
            !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        };
        let domain_ok = domain.contains('.') && domain.split('.').all(label_ok);
        if local.is_empty() || local.len() > 64 || domain.contains('@') || !domain_ok {
            return Err(EmailError::Malformed);
        }
        Ok(Self {
            display: value.to_owned(),
            normalized: value.to_lowercase(),
        })
    }

    /// The address as the user typed it (trimmed).
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// The lower-cased form that identifies the account.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_addresses_and_normalizes_case() {
        for input in [
            "ann@example.com",
            " Ann.Lee+tag@Mail.Example.org ",
            "x@müller.de",
            "a_b-c@sub-1.example.co.uk",
        ] {
            let email = Email::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(email.normalized(), input.trim().to_lowercase());
        }
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let long = format!("{}@example.com", "a".repeat(250));
        let long_local = format!("{}@example.com", "a".repeat(65));
        let cases = [
            ("   ", EmailError::Empty, "blank"),
            (long.as_str(), EmailError::TooLong, "too long"),
            ("ann", EmailError::Malformed, "no @"),
            ("ann@", EmailError::Malformed, "no domain"),
            ("@example.com", EmailError::Malformed, "no local part"),
            ("ann@localhost", EmailError::Malformed, "undotted domain"),
            ("ann@example..com", EmailError::Malformed, "empty label"),
            ("a@b@example.com", EmailError::Malformed, "two @"),
            (
                long_local.as_str(),
                EmailError::Malformed,
                "local part over 64",
            ),
            ("ann lee@example.com", EmailError::InvalidCharacter, "space"),
            ("ann\u{0}@example.com", EmailError::InvalidCharacter, "NUL"),
            (
                "<ann@example.com>",
                EmailError::InvalidCharacter,
                "angle brackets",
            ),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(Email::parse(input), Err(expected), "{reason}");
        }
    }
}
