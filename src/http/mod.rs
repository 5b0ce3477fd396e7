//! The HTTP surface: router, shared state, extractors, handlers and error rendering.
//!
//! Handlers are thin: parse the wire form into a domain request, make one call into `oauth`
//! or `keys`, render the answer. No SQL, josekit or grant policy here.

mod auth;
mod client_ip;
mod error;
mod extract;
mod handlers;
mod middleware;
mod openapi;
mod router;
mod state;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};
pub use router::router;
pub use state::AppState;
