//! What an rpc reads from its call besides the message: the client's IP (with the trusted-proxy
//! rule of HTTP applied to `x-forwarded-for` metadata), client credentials from `authorization:
//! Basic` metadata or the message, and a bearer token.

use std::net::IpAddr;

use tonic::Request;

use super::GrpcState;
use crate::oauth::{self, BasicCredentials, ClientAuthentication};

/// The caller's IP address: the TCP peer, or for a trusted proxy the hop it forwarded.
pub(super) fn client_ip<T>(state: &GrpcState, request: &Request<T>) -> Option<IpAddr> {
    // Canonical form, as over HTTP: a dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    let peer = request.remote_addr()?.ip().to_canonical();
    let forwarded = request
        .metadata()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok());
    let client = oauth::client_ip(peer, forwarded, &state.trusted_proxies);
    if client.unparsable_hop {
        state.metrics.unparsable_forwarded_hop();
    }
    Some(client.ip)
}

/// The client's credentials: `authorization: Basic` metadata or the message's `client_id` and
/// `client_secret` (empty means absent), one method only, exactly as over HTTP.
pub(super) fn client<T>(
    request: &Request<T>,
    client_id: &str,
    client_secret: &str,
) -> Result<ClientAuthentication, oauth::Error> {
    let basic = match request.metadata().get("authorization") {
        Some(value) => {
            BasicCredentials::parse(value.to_str().map_err(|_| oauth::Error::InvalidClient)?)?
        }
        None => None,
    };
    ClientAuthentication::resolve(basic, present(client_id), present(client_secret))
}

/// The token of `authorization: Bearer` metadata.
pub(super) fn bearer<T>(request: &Request<T>) -> Option<&str> {
    let value = request.metadata().get("authorization")?.to_str().ok()?;
    oauth::bearer_token(value)
}

/// A proto3 string field: empty is absent.
pub(super) fn present(field: &str) -> Option<String> {
    (!field.is_empty()).then(|| field.to_owned())
}

/// A required proto3 string field: `invalid_request` naming it when empty.
pub(super) fn required(field: String, missing: &'static str) -> Result<String, oauth::Error> {
    match field.is_empty() {
        true => Err(oauth::Error::InvalidRequest(missing)),
        false => Ok(field),
    }
}
