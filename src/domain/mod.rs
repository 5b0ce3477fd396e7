//! Domain types: parsed, validated values shared by every layer.
//!
//! Each type lives in its own file, is built only through parsing and carries its own error
//! enum. Nothing here imports from the rest of the crate, HTTP or the database.

mod client_id;
mod client_secret;
mod grant_type;
mod scope;

pub use client_id::{ClientId, ClientIdError};
pub use client_secret::{ClientSecret, SecretHash};
pub use grant_type::{GrantType, GrantTypeError, GrantTypes};
pub use scope::{Scope, ScopeError};
