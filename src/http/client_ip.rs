//! `ClientIp`: the caller's address, for the failed-login and registration limits.
//!
//! The TCP peer is the client unless it is one of the configured trusted proxies; then the
//! rule of `oauth::client_ip` reads `X-Forwarded-For` (gRPC applies the same rule to its
//! metadata).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::state::AppState;
use crate::oauth;

/// The client's IP address; `None` when the server runs without peer addresses (in-process
/// router tests).
#[derive(Debug, Clone, Copy)]
pub(super) struct ClientIp(pub(super) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            // With a dual-stack listener ([::]) Linux reports IPv4 peers as ::ffff:a.b.c.d;
            // canonical form matches IPv4 proxy ranges and counts one client once.
            .map(|ConnectInfo(address)| address.ip().to_canonical());
        Ok(Self(peer.map(|peer| {
            let client = oauth::client_ip(peer, forwarded(&parts.headers), &state.trusted_proxies);
            if client.unparsable_hop {
                state.metrics.unparsable_forwarded_hop();
            }
            client.ip
        })))
    }
}

/// The `X-Forwarded-For` values of a request, in order.
fn forwarded(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
}
