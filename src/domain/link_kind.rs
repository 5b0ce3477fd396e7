//! `LinkKind`: what an emailed one-time link does.

use std::fmt;
use std::str::FromStr;

/// What an emailed link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// Proves the user reads mail at their address (`/verify-email`).
    VerifyEmail,
    /// Lets the user choose a new password (`/password/reset`).
    ResetPassword,
    /// Lets a user a directory created choose their first password: a mail of its own
    /// whose link is a reset link (`/password/reset`), valid longer.
    Invitation,
}

/// A stored kind sigil does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown link kind")]
pub struct LinkKindError;

impl LinkKind {
    /// The stored name: `verify_email` or `reset_password`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Invitation => "invitation",
        }
    }

    /// The kind of the one-time token the mail's link carries: an invitation's is a reset
    /// token.
    pub fn token_kind(self) -> Self {
        match self {
            Self::Invitation => Self::ResetPassword,
            other => other,
        }
    }
}

impl FromStr for LinkKind {
    type Err = LinkKindError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "verify_email" => Ok(Self::VerifyEmail),
            "reset_password" => Ok(Self::ResetPassword),
            "invitation" => Ok(Self::Invitation),
            _ => Err(LinkKindError),
        }
    }
}

impl fmt::Display for LinkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_through_their_stored_names() {
        for kind in [
            LinkKind::VerifyEmail,
            LinkKind::ResetPassword,
            LinkKind::Invitation,
        ] {
            assert_eq!(kind.as_str().parse::<LinkKind>(), Ok(kind));
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        for name in ["", "verify", "VERIFY_EMAIL", "reset_password "] {
            assert_eq!(name.parse::<LinkKind>(), Err(LinkKindError), "{name:?}");
        }
    }
}
