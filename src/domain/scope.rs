//! `Scope`: a set of scope tokens (RFC 6749 §3.3).

use std::collections::BTreeSet;
use std::fmt;

/// Longest accepted scope string, in bytes.
const MAX_LEN: usize = 1024;

/// A set of scope tokens, parsed from the space-delimited form and printed canonically
/// (sorted, single spaces). May be empty: a client can be allowed no scope at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

/// Why a string is not a valid scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The string is longer than 1024 characters (all ASCII).
    #[error("scope is longer than {MAX_LEN} characters")]
    TooLong,
    /// A token has a character outside RFC 6749's `%x21 / %x23-5B / %x5D-7E`.
    #[error("scope may only contain printable ASCII other than '\"' and '\\'")]
    InvalidCharacter,
}

impl Scope {
    /// Parses a space-delimited list; repeated spaces and repeated tokens are accepted.
    pub fn parse(value: &str) -> Result<Self, ScopeError> {
        if value.len() > MAX_LEN {
            return Err(ScopeError::TooLong);
        }
        // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let valid = |c: char| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e');
        let mut set = BTreeSet::new();
        for token in value.split(' ').filter(|token| !token.is_empty()) {
            if !token.chars().all(valid) {
                return Err(ScopeError::InvalidCharacter);
            }
            set.insert(token.to_owned());
        }
        Ok(Self(set))
    }

    /// Whether the set has no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every token of `self` is also in `other`.
    pub fn is_subset_of(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// The set without `token`.
    pub fn without(&self, token: &str) -> Scope {
        let mut set = self.0.clone();
        set.remove(token);
        Self(set)
    }

    /// The tokens in both `self` and `other`.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The tokens, in canonical order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether `token` is one of the scopes.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }
}

impl TryFrom<String> for Scope {
    type Error = ScopeError;

    fn try_from(value: String) -> Result<Self, ScopeError> {
        Self::parse(&value)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tokens: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&tokens.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_canonically() {
        let scope = Scope::parse("  write read  read ").unwrap();

        assert_eq!(scope.to_string(), "read write");
        assert_eq!(Scope::parse(&scope.to_string()), Ok(scope));
    }

    #[test]
    fn empty_input_is_the_empty_set() {
        assert!(Scope::parse("").unwrap().is_empty());
        assert!(Scope::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn accepts_the_whole_rfc_character_range() {
        let scope = Scope::parse("api:read https://x.example/y!#$%&'()*+,-./[]^_`{|}~").unwrap();

        assert!(scope.contains("api:read"));
    }

    #[test]
    fn rejects_each_invalid_form_with_its_reason() {
        let cases = [
            ("a\"b", ScopeError::InvalidCharacter, "double quote"),
            ("a\\b", ScopeError::InvalidCharacter, "backslash"),
            ("a\tb", ScopeError::InvalidCharacter, "tab is no delimiter"),
            ("é", ScopeError::InvalidCharacter, "non-ASCII"),
            (&*"a".repeat(1025), ScopeError::TooLong, "too long"),
        ];
        for (input, expected, reason) in cases {
            assert_eq!(Scope::parse(input), Err(expected), "{reason}");
        }
    }

    #[test]
    fn subset_checks_every_token() {
        let all = Scope::parse("read write").unwrap();

        assert!(Scope::parse("read").unwrap().is_subset_of(&all));
        assert!(Scope::parse("").unwrap().is_subset_of(&all));
        assert!(!Scope::parse("read admin").unwrap().is_subset_of(&all));
    }

    #[test]
    fn intersection_keeps_the_common_tokens() {
        let token = Scope::parse("read write admin").unwrap();
        let client = Scope::parse("read admin other").unwrap();

        assert_eq!(token.intersection(&client).to_string(), "admin read");
        assert!(token.intersection(&Scope::parse("").unwrap()).is_empty());
    }
}
