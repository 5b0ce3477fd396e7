//! Who the caller is at the network level, the same rule for every transport.

use std::net::IpAddr;

use ipnet::IpNet;

/// The client's IP address. The TCP `peer` is the client unless it is one of the `trusted`
/// proxies; then the client is the right-most `X-Forwarded-For` entry that is not itself a
/// trusted proxy (the left part of the header is whatever the client wrote, so it is never
/// believed). `forwarded` yields the header's values in order (HTTP headers or gRPC
/// metadata); `peer` should be in canonical form (IPv4-mapped IPv6 as IPv4).
pub fn client_ip<'a>(
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &[IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in hops.iter().rev() {
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

        assert_eq!(got, ip("198.51.100.1"));
    }

    #[test]
    fn untrusted_peers_are_the_client_whatever_they_forward() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];

        let got = client_ip(ip("203.0.113.9"), forwarded(&["198.51.100.1"]), &trusted);

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
            let got = client_ip(ip("10.0.0.1"), forwarded(&values), &trusted);
            assert_eq!(got, ip(expected), "{reason}");
        }
    }
}
