//! Raw argon2id hash rate on every core: the benchmark's ceiling for password logins.
//!
//! `cargo run --release --example argon2_rate -- SECONDS MEMORY_KIB ITERATIONS PARALLELISM`
//! prints `hashes_per_second=<all cores> threads=<n>`.

use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numeric argument"))
        .collect();
    let [seconds, memory, iterations, parallelism] = args[..] else {
        panic!("usage: argon2_rate SECONDS MEMORY_KIB ITERATIONS PARALLELISM");
    };
    let params = Params::new(memory as u32, iterations as u32, parallelism as u32, None)
        .expect("valid parameters");
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let counts: Vec<u64> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let params = params.clone();
                scope.spawn(move || {
                    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                    let mut hashes = 0;
                    while Instant::now() < deadline {
                        let salt = SaltString::generate(&mut OsRng);
                        argon2
                            .hash_password(b"benchmark password", &salt)
                            .expect("hash");
                        hashes += 1;
                    }
                    hashes
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| worker.join().expect("worker"))
            .collect()
    });
    let rate = counts.iter().sum::<u64>() as f64 / started.elapsed().as_secs_f64();
    println!("hashes_per_second={rate:.1} threads={threads}");
}
