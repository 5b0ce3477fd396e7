//! Browser login, the hosted pages' use cases: sign-in, consent and codes (`login.rs`), the
//! named checks of an authorization request (`request.rs`), and RP-initiated logout
//! (`end_session.rs`). Imports the rest of `oauth` (the password check of `grants`, the
//! issuer), never a transport.

mod end_session;
mod login;
mod request;
#[cfg(test)]
mod tests;

pub use end_session::{EndSession, Logout};
pub use login::{AuthorizeError, Browser, NewSession, Step};
pub use request::AuthorizeParams;
