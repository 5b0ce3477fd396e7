//! `ClientIp`: the caller's address, for the failed-login and registration limits.
//!
//! The TCP peer is the client unless it is one of the configured trusted proxies; then the
//! client is the right-most `X-Forwarded-For` entry that is not itself a trusted proxy (the
//! left part of the header is whatever the client wrote, so it is never believed).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::state::AppState;

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
            client_ip(peer, &parts.headers, &state.trusted_proxies)
        })))
    }
}

fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in forwarded.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>().map(|ip| ip.to_canonical()) else {
            break;
        };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn ipv4_mapped_forwarded_hops_are_canonical() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];

        let got = client_ip(
            ip("10.0.0.1"),
            &forwarded(&["::ffff:198.51.100.1"]),
            &trusted,
        );

        assert_eq!(got, ip("198.51.100.1"));
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];

        let got = client_ip(ip("203.0.113.9"), &forwarded(&["198.51.100.1"]), &trusted);

        assert_eq!(got, ip("203.0.113.9"));
    }

    #[test]
    fn trusted_peers_name_the_rightmost_untrusted_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let cases = [
            (vec!["198.51.100.1"], "198.51.100.1", "one hop"),
            (
                vec!["6.6.6.6, 198.51.100.1, 10.1.2.3"],
                "198.51.100.1",
                "spoofed left part ignored",
            ),
            (
                vec!["6.6.6.6", "198.51.100.1"],
                "198.51.100.1",
                "several headers in order",
            ),
            (vec!["10.9.9.9"], "10.9.9.9", "only proxies: the left-most"),
            (
                vec!["garbage, 198.51.100.1"],
                "198.51.100.1",
                "garbage left of the real hop",
            ),
            (
                vec!["198.51.100.1, garbage"],
                "10.0.0.1",
                "garbage at the right: the peer",
            ),
            (vec![], "10.0.0.1", "no header: the peer"),
        ];
        for (values, expected, reason) in cases {
            let got = client_ip(ip("10.0.0.1"), &forwarded(&values), &trusted);
            assert_eq!(got, ip(expected), "{reason}");
        }
    }
}
