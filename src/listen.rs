//! What every listener shares: the limits on its connections. Set by `config`, applied by
//! the HTTP connection loop (`http::serve`) and the gRPC server; imports nothing.

use std::time::Duration;

/// Connection limits of a listener.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Time for a request's headers to arrive once the connection waits for a request
    /// (HTTP/1.1; this also ends a keep-alive connection left idle that long).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight and none begun for this long is closed.
    pub idle_timeout: Duration,
    /// A connection is closed gracefully once it has been open this long.
    pub max_age: Duration,
    /// Connections open at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// Connections open at once from one client address (an IPv4 address, an IPv6 network
    /// of `ipv6_prefix` bits); further ones are closed at once. 0: no cap.
    pub max_per_ip: usize,
    /// Prefix length of the IPv6 network counted as one client.
    pub ipv6_prefix: u8,
}
