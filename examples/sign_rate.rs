//! The benchmark's josekit signing limit: compact JWS per second on every core, with the same
//! library calls, header and payload size sigil uses for an access token (signing only; no
//! HTTP, JSON parsing or database).
//!
//! `cargo run --release --example sign_rate -- 5 ES256`

use std::time::{Duration, Instant};

use josekit::jws::{self, ES256, JwsHeader, JwsSigner, RS256};

fn signer(alg: &str) -> Box<dyn JwsSigner> {
    match alg {
        "RS256" => {
            let pair = RS256.generate_key_pair(2048).expect("RSA key");
            Box::new(
                RS256
                    .signer_from_der(pair.to_der_private_key())
                    .expect("signer"),
            )
        }
        "ES256" => {
            let pair = ES256.generate_key_pair().expect("EC key");
            Box::new(
                ES256
                    .signer_from_der(pair.to_der_private_key())
                    .expect("signer"),
            )
        }
        other => panic!("unknown algorithm {other}: expected RS256 or ES256"),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(5);
    let alg = args.next().unwrap_or_else(|| "ES256".into());
    let payload = br#"{"iss":"http://127.0.0.1:8080","sub":"0123456789abcdef0123456789abcdef","aud":"http://127.0.0.1:8080","iat":1795347146,"exp":1795348046,"jti":"06925c9e-8ab3-46e7-99c8-7188ce00dfc8","client_id":"0123456789abcdef0123456789abcdef","scope":"read write"}"#;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let total: u64 = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let alg = alg.clone();
                scope.spawn(move || {
                    let signer = signer(&alg);
                    let mut header = JwsHeader::new();
                    header.set_token_type("at+jwt");
                    header.set_key_id("0123456789abcdef0123456789abcdef0123456789a");
                    let mut signed = 0;
                    while Instant::now() < deadline {
                        jws::serialize_compact(payload, &header, signer.as_ref()).expect("sign");
                        signed += 1;
                    }
                    signed
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().expect("worker")).sum()
    });
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("signatures_per_second={rate:.0} threads={threads} alg={alg}");
}
