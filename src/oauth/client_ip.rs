//! Who the caller is at the network level, the same rule for every transport.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Who the caller is, and whether the forwarded chain held a hop that could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress {
    /// The client's IP address.
    pub ip: IpAddr,
    /// A trusted proxy forwarded a hop that is no address (it was not believed, and the
    /// search stopped there): worth a metric, since it makes clients share a proxy's limits.
    pub unparsable_hop: bool,
}

/// The client's IP address. The TCP `peer` is the client unless it is one of the `trusted`
/// proxies; then the client is the right-most `X-Forwarded-For` entry that is not itself a
/// trusted proxy (the left part of the header is whatever the client wrote, so it is never
/// believed). An entry is an address, optionally with a port (`192.0.2.1:5100`,
/// `[2001:db8::1]:5100`, as some proxies write them). `forwarded` yields the header's values
/// in order (HTTP headers or gRPC metadata); `peer` should be in canonical form
/// (IPv4-mapped IPv6 as IPv4).
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> ClientAddress {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    let mut client = ClientAddress {
        ip: peer,
        unparsable_hop: false,
    };
    if !is_trusted(&peer) {
        return client;
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in hops.iter().rev() {
        let Some(ip) = parse_hop(entry) else {
            client.unparsable_hop = true;
            break;
        };
        client.ip = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// One `X-Forwarded-For` entry: an IP address, or an address and port, in canonical form.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|address| address.ip()))
        .ok()
        .or_else(|| {
            // `[2001:db8::1]` without a port.
            let inner = entry.strip_prefix('[')?.strip_suffix(']')?;
            inner.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6)
        })?;
    Some(ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded<'a>(values: &'a [&'a str]) -> impl Iterator<Item = &'a str> {
        values.iter().copied()
    }

    #[test]
    fn ipv4_mapped_forwarded_hops_are_canonical() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];

        let got = client_ip(
            ip("10.0.0.1"),
            forwarded(&["::ffff:198.51.100.1"]),
            &trusted,
        );

        assert_eq!(got.ip, ip("198.51.100.1"));
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];

        let got = client_ip(ip("203.0.113.9"), forwarded(&["198.51.100.1"]), &trusted);

        assert_eq!(got.ip, ip("203.0.113.9"));
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
            (
                vec!["198.51.100.1:5123"],
                "198.51.100.1",
                "IPv4 with a port",
            ),
            (
                vec!["[2001:db8::7]:5123"],
                "2001:db8::7",
                "bracketed IPv6 with a port",
            ),
            (vec!["[2001:db8::7]"], "2001:db8::7", "bracketed IPv6"),
            (
                vec!["198.51.100.1, 10.1.2.3:443"],
                "198.51.100.1",
                "a proxy hop with a port",
            ),
        ];
        for (values, expected, reason) in cases {
            let got = client_ip(ip("10.0.0.1"), forwarded(&values), &trusted);
            assert_eq!(got.ip, ip(expected), "{reason}");
        }
    }

    #[test]
    fn a_hop_that_is_no_address_is_reported() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];

        let bad = client_ip(ip("10.0.0.1"), forwarded(&["unknown"]), &trusted);
        let good = client_ip(ip("10.0.0.1"), forwarded(&["198.51.100.1:80"]), &trusted);

        assert!(bad.unparsable_hop && bad.ip == ip("10.0.0.1"));
        assert!(!good.unparsable_hop);
    }
}
