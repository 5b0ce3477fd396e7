//! `GrantType` (RFC 6749) and the set of grants a client may use.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// An OAuth 2.0 grant type sigil knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.4: a confidential client acting on its own behalf.
    ClientCredentials,
    /// RFC 6749 §4.3: resource owner password credentials.
    Password,
    /// RFC 6749 §6: exchanging a refresh token.
    RefreshToken,
    /// RFC 6749 §4.1 with PKCE (RFC 7636): a user's browser login.
    AuthorizationCode,
}

/// Why a string is not a known grant type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown grant type")]
pub struct GrantTypeError;

impl GrantType {
    /// The wire name, as in RFC 6749.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::RefreshToken => "refresh_token",
            Self::AuthorizationCode => "authorization_code",
        }
    }
}

impl FromStr for GrantType {
    type Err = GrantTypeError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "client_credentials" => Ok(Self::ClientCredentials),
            "password" => Ok(Self::Password),
            "refresh_token" => Ok(Self::RefreshToken),
            "authorization_code" => Ok(Self::AuthorizationCode),
            _ => Err(GrantTypeError),
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The non-empty set of grants one client is allowed, written comma- or space-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantTypes(BTreeSet<GrantType>);

impl GrantTypes {
    /// Parses `client_credentials,password` or `client_credentials password`.
    pub fn parse(value: &str) -> Result<Self, GrantTypeError> {
        Self::from_names(value.split([',', ' ']).filter(|part| !part.is_empty()))
    }

    /// Parses a list of grant names, one name each (a JSON array, repeated flags).
    pub fn from_names<'a>(
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, GrantTypeError> {
        let set = names
            .into_iter()
            .map(GrantType::from_str)
            .collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err(GrantTypeError);
        }
        Ok(Self(set))
    }

    /// Whether `grant` is in the set.
    pub fn contains(&self, grant: GrantType) -> bool {
        self.0.contains(&grant)
    }

    /// The grants, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.0.iter().copied()
    }
}

impl fmt::Display for GrantTypes {
    /// The canonical space-separated form used for storage.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = self.iter().map(GrantType::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_known_grant_and_round_trips() {
        for grant in [
            GrantType::ClientCredentials,
            GrantType::Password,
            GrantType::RefreshToken,
            GrantType::AuthorizationCode,
        ] {
            assert_eq!(grant.as_str().parse(), Ok(grant));
        }
    }

    #[test]
    fn rejects_unknown_and_differently_cased_grants() {
        for input in ["authorization code", "CLIENT_CREDENTIALS", "", "implicit"] {
            assert_eq!(input.parse::<GrantType>(), Err(GrantTypeError), "{input:?}");
        }
    }

    #[test]
    fn set_accepts_commas_and_spaces_and_prints_canonically() {
        let set = GrantTypes::parse("refresh_token,client_credentials password").unwrap();

        assert_eq!(set.to_string(), "client_credentials password refresh_token");
        assert_eq!(GrantTypes::parse(&set.to_string()), Ok(set));
    }

    #[test]
    fn set_rejects_empty_and_unknown_members() {
        assert_eq!(GrantTypes::parse(""), Err(GrantTypeError), "empty");
        assert_eq!(
            GrantTypes::parse(" , "),
            Err(GrantTypeError),
            "separators only"
        );
        assert_eq!(
            GrantTypes::parse("password,magic"),
            Err(GrantTypeError),
            "unknown member"
        );
    }
}
