//! `UserId` and `FamilyId`: the ids sigil mints for users and login sessions.
//!
//! Both are UUID v4 in their canonical hyphenated lower-case form, the form they are stored
//! and sent in (`sub`, `sid`, audit targets, event subjects); any other spelling is not an id
//! sigil made, so it parses to an error rather than to a second name for the same row.

use std::fmt;

/// A text is not an id sigil minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a sigil id (a lower-case hyphenated UUID)")]
pub struct IdError;

macro_rules! minted_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(into = "String")]
        pub struct $name(String);

        impl $name {
            /// A fresh random id.
            pub fn generate() -> Self {
                Self(uuid::Uuid::new_v4().hyphenated().to_string())
            }

            /// Parses an id in its canonical form.
            pub fn parse(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                match uuid::Uuid::try_parse(&value) {
                    Ok(uuid) if uuid.hyphenated().to_string() == value => Ok(Self(value)),
                    _ => Err(IdError),
                }
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

minted_id! {
    /// A user's stable id: the `sub` of their tokens.
    UserId
}

minted_id! {
    /// A login session's id (a refresh-token family): the `sid` of tokens without a browser
    /// session, the target of session audit rows and events.
    FamilyId
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_id_parses_back_to_itself() {
        let id = UserId::generate();
        assert_eq!(UserId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn only_the_canonical_spelling_is_an_id() {
        let id = FamilyId::generate().to_string();
        assert!(FamilyId::parse(id.to_uppercase()).is_err());
        assert!(FamilyId::parse(id.replace('-', "")).is_err());
        assert!(FamilyId::parse(format!("{{{id}}}")).is_err());
        assert!(FamilyId::parse("").is_err());
        assert!(FamilyId::parse(id).is_ok());
    }
}
