//! Domain types: parsed, validated values shared by every layer.
//!
//! Each type lives in its own file, is built only through parsing and carries its own error
//! enum. Nothing here imports from the rest of the crate, HTTP or the database.

mod actor;
mod audience;
mod client_id;
mod display_name;
mod email;
mod event_sink;
mod grant_type;
mod ids;
mod link_kind;
mod opaque_secret;
mod password;
mod pkce;
mod redirect_uri;
mod scope;
mod signing;

pub use actor::{Actor, Principal};
pub use audience::{Audience, AudienceError};
pub use client_id::{ClientId, ClientIdError};
pub use display_name::{DisplayName, DisplayNameError};
pub use email::{Email, EmailError};
pub use event_sink::EventSink;
pub use grant_type::{GrantType, GrantTypeError, GrantTypes};
pub use ids::{FamilyId, IdError, UserId};
pub use link_kind::{LinkKind, LinkKindError};
pub use opaque_secret::{
    AuthorizationCode, BrowserSessionToken, ClientSecret, LinkToken, RefreshToken, SecretHash,
};
pub use password::{MAX_PASSWORD_CHARS, Password, PasswordError};
pub use pkce::{CodeChallenge, PkceError};
pub use redirect_uri::{REDIRECT_URI_PATTERN, RedirectUri, RedirectUriError};
pub use scope::{Scope, ScopeError};
pub use signing::{KeyState, SigningAlgorithm};
