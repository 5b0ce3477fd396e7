//! The benchmark's gRPC load client (ghz is not available here): `GetToken` calls with a fixed
//! number in flight, multiplexed as HTTP/2 streams over a few connections, for a fixed time.
//! Prints `rps=.. p50_ms=.. p99_ms=.. errors=..` on one line. One runtime thread: the client
//! shares the machine with the server it loads, and a single thread spends the least CPU per
//! call (as wrk does for the HTTP loads).
//!
//! `cargo run --release --example grpc_load -- http://127.0.0.1:50051 ID SECRET 32 2 10`
//! (endpoint, client id, client secret, calls in flight, connections, seconds)

use std::time::{Duration, Instant};

use sigil::grpc::proto::GetTokenRequest;
use sigil::grpc::proto::auth_client::AuthClient;
use tonic::transport::{Channel, Endpoint};

/// One caller: keeps one call in flight until `end`; returns its latencies and error count.
async fn caller(channel: Channel, request: GetTokenRequest, end: Instant) -> (Vec<Duration>, u64) {
    let mut client = AuthClient::new(channel);
    let mut latencies = Vec::new();
    let mut errors = 0;
    while Instant::now() < end {
        let started = Instant::now();
        match client.get_token(request.clone()).await {
            Ok(_) => latencies.push(started.elapsed()),
            Err(_) => errors += 1,
        }
    }
    (latencies, errors)
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, id, secret, in_flight, connections, seconds] = args.as_slice() else {
        return Err("usage: grpc_load ENDPOINT ID SECRET IN_FLIGHT CONNECTIONS SECONDS".into());
    };
    let (in_flight, connections): (usize, usize) = (in_flight.parse()?, connections.parse()?);
    let duration = Duration::from_secs(seconds.parse()?);
    let mut channels = Vec::new();
    for _ in 0..connections.max(1) {
        channels.push(Endpoint::from_shared(endpoint.clone())?.connect().await?);
    }
    let request = GetTokenRequest {
        client_id: id.clone(),
        client_secret: secret.clone(),
        scope: String::new(),
    };
    let started = Instant::now();
    let end = started + duration;
    let callers: Vec<_> = (0..in_flight)
        .map(|n| {
            let channel = channels[n % channels.len()].clone();
            tokio::spawn(caller(channel, request.clone(), end))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for handle in callers {
        let (mine, failed) = handle.await?;
        latencies.extend(mine);
        errors += failed;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    println!(
        "rps={:.1} p50_ms={:.3} p99_ms={:.3} errors={errors}",
        latencies.len() as f64 / elapsed,
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
    );
    Ok(())
}
