//! The HTTP surface: router, shared state, extractors, handlers, error rendering and the
//! connection loop (`serve`).
//!
//! Handlers are thin: parse the wire form into a domain request, make one call into `oauth`
//! or `keys`, render the answer. No SQL, josekit or grant policy here.

mod auth;
mod client_ip;
mod cookies;
mod error;
mod extract;
mod handlers;
mod metadata;
mod middleware;
mod openapi;
mod page;
mod router;
mod routes;
mod schema;
mod serve;
mod state;
mod templates;

pub use error::ApiError;
pub use openapi::{openapi, openapi_json};
pub use router::{Operations, management_router, router};
pub use serve::serve;
pub use state::{AppState, HttpSettings};
