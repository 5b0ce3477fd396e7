//! What a client cannot do to the connection loop: keep a connection open with HTTP/2 PINGs
//! past the idle timeout, hold one forever, or open more than its share from one address
//! (security review 2026-12-07, finding 8).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, spawn_app_with};

/// The HTTP/2 connection preface and an empty SETTINGS frame.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
/// A PING frame (type 6, stream 0) with eight bytes of payload.
const PING: &[u8] = b"\x00\x00\x08\x06\x00\x00\x00\x00\x00sigil-pi";
const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: sigil\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    let address = app.address.trim_start_matches("http://");
    TcpStream::connect(address).await.unwrap()
}

/// Reads until the server closes the connection (`Some(elapsed)`) or `limit` passes, calling
/// `poke` every 200 ms meanwhile.
async fn closed_within(
    stream: &mut TcpStream,
    limit: Duration,
    poke: Option<&[u8]>,
) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 1024];
    while started.elapsed() < limit {
        if let Some(bytes) = poke
            && stream.write_all(bytes).await.is_err()
        {
            return Some(started.elapsed());
        }
        let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer));
        if let Ok(Ok(0) | Err(_)) = read.await {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn http2_pings_do_not_keep_a_connection_open_past_the_idle_timeout() {
    let app = spawn_app_with(|config| {
        config.connections.idle_timeout = Duration::from_millis(700);
    })
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(PREFACE).await.unwrap();

    let closed = closed_within(&mut stream, Duration::from_secs(6), Some(PING)).await;

    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "closed soon after the idle timeout despite a PING every 200 ms: {closed:?}"
    );
}

#[tokio::test]
async fn a_connection_is_closed_at_its_maximum_age() {
    let app = spawn_app_with(|config| {
        config.connections.max_age = Duration::from_millis(500);
    })
    .await;
    let mut stream = connect(&app).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).await.unwrap();

    let closed = closed_within(&mut stream, Duration::from_secs(6), None).await;

    assert_eq!(&answer, b"HTTP/1.1 200");
    assert!(
        closed.is_some_and(|after| after < Duration::from_secs(3)),
        "closed at its age, long before the 10 s header-read timeout: {closed:?}"
    );
}

/// Two connections from one address are served; a third is closed unanswered, unless the
/// address is a trusted proxy.
async fn third_connection(trusted_loopback: bool) -> Option<Duration> {
    let app = spawn_app_with(|config| {
        config.connections.max_per_ip = 2;
        if trusted_loopback {
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        }
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = connect(&app).await;
        stream.write_all(HEALTHZ).await.unwrap();
        let mut answer = [0u8; 12];
        stream.read_exact(&mut answer).await.unwrap();
        assert_eq!(&answer, b"HTTP/1.1 200");
        held.push(stream);
    }
    let mut third = connect(&app).await;
    let _ = third.write_all(HEALTHZ).await;
    closed_within(&mut third, Duration::from_secs(2), None).await
}

#[tokio::test]
async fn connections_beyond_the_per_address_cap_are_closed_except_from_trusted_proxies() {
    let capped = third_connection(false).await;
    let proxy = third_connection(true).await;

    assert!(
        capped.is_some(),
        "the third connection from one address is closed"
    );
    assert_eq!(proxy, None, "a trusted proxy's connections are not capped");
}
