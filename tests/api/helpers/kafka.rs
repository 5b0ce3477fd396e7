//! `Kafka`: a real Kafka-compatible broker (tansu, memory-backed), one per test, behind a TCP
//! proxy the test can cut and restore (a memory-backed tansu forgets idempotent producers when
//! it restarts, which a real Kafka does not: an outage is a cut network, not a restart); and
//! what sigil published to it, read with confluent-kafka (tests/kafka/consume.py).

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::free_port;

/// One record as a confluent-kafka consumer sees it.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub header_names: Vec<String>,
    pub value: Option<String>,
}

impl Record {
    /// A header's value (`ce_id`, `ce_type`, ...).
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }

    /// The value as JSON.
    pub fn data(&self) -> serde_json::Value {
        serde_json::from_str(self.value.as_deref().unwrap_or("null")).unwrap()
    }
}

/// A tansu broker and the proxy every client reaches it through.
pub struct Kafka {
    broker: Child,
    proxy: Proxy,
    /// `127.0.0.1:PORT` of the proxy: the bootstrap address, and the one the broker advertises.
    pub brokers: String,
    python: String,
}

impl Kafka {
    /// Starts a broker, or `None` (the test is skipped) when `TEST_TANSU` is not set;
    /// `TEST_REQUIRE_KAFKA=1` (set by scripts/test) turns that into a failure.
    pub fn start() -> Option<Self> {
        let (Some(tansu), Some(python)) = (
            std::env::var_os("TEST_TANSU"),
            std::env::var_os("TEST_KAFKA_PYTHON"),
        ) else {
            assert!(
                std::env::var_os("TEST_REQUIRE_KAFKA").is_none(),
                "TEST_REQUIRE_KAFKA is set but TEST_TANSU or TEST_KAFKA_PYTHON is not"
            );
            eprintln!("skipped: no Kafka broker (scripts/test sets TEST_TANSU)");
            return None;
        };
        let proxy = Proxy::start();
        let python = python.to_string_lossy().into_owned();
        // A port found free may be taken before tansu binds it (tests run in parallel): a
        // broker that exits is started again on another.
        for _ in 0..10 {
            let broker_port = free_port();
            let mut broker = Command::new(&tansu)
                .args(["broker", "--listener-url"])
                .arg(format!("tcp://127.0.0.1:{broker_port}"))
                .arg("--advertised-listener-url")
                .arg(format!("tcp://127.0.0.1:{}", proxy.port))
                .args(["--storage-engine", "memory://tansu/"])
                .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
                .env("RUST_LOG", "warn")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            if listening(&mut broker, broker_port) {
                proxy.forward_to(broker_port);
                return Some(Self {
                    broker,
                    brokers: format!("127.0.0.1:{}", proxy.port),
                    proxy,
                    python,
                });
            }
            let _ = broker.kill();
            let _ = broker.wait();
        }
        panic!("tansu did not start");
    }

    /// The Kafka sink's settings: prefix `auth`, three partitions per topic.
    pub fn sink_config(&self) -> sigil::config::KafkaConfig {
        sigil::config::KafkaConfig {
            brokers: self.brokers.clone(),
            topic_prefix: "auth".to_owned(),
            partitions: 3,
            replication: -1,
        }
    }

    /// Cuts the network: open connections are closed and new ones refused.
    pub fn cut(&self) {
        self.proxy.cut();
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.proxy.restore();
    }

    /// Every record of `topics`, once there are at least `count` (panics after `within`).
    pub async fn records(&self, topics: &[&str], count: usize, within: Duration) -> Vec<Record> {
        let mut command = Command::new(&self.python);
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/kafka/consume.py"
            ))
            .arg(&self.brokers)
            .arg(count.to_string())
            .arg(within.as_secs_f64().to_string())
            .args(topics)
            .stderr(Stdio::inherit());
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(output.status.success(), "consume.py failed");
        let records: Vec<Record> = serde_json::from_slice(&output.stdout).unwrap();
        assert!(
            records.len() >= count,
            "{} of {count} records on {topics:?} within {within:?}",
            records.len()
        );
        records
    }
}

impl Kafka {
    /// Produces `records` (value, key, headers) to `topic` in order, with confluent-kafka,
    /// creating the topic when missing.
    pub async fn produce(&self, topic: &str, records: &[serde_json::Value]) {
        let mut command = Command::new(&self.python);
        command
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/kafka/produce.py"
            ))
            .arg(&self.brokers)
            .arg(topic)
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit());
        let lines: String = records.iter().map(|record| format!("{record}\n")).collect();
        let status = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(lines.as_bytes())
                .unwrap();
            child.wait().unwrap()
        })
        .await
        .unwrap();
        assert!(status.success(), "produce.py failed");
    }
}

/// Whether `broker` listens on `port` and is still running a moment later (a port another
/// process holds would also accept the connection).
fn listening(broker: &mut Child, port: u16) -> bool {
    for _ in 0..200 {
        if broker.try_wait().unwrap().is_some() {
            return false;
        }
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            std::thread::sleep(Duration::from_millis(100));
            return broker.try_wait().unwrap().is_none();
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

impl Drop for Kafka {
    fn drop(&mut self) {
        let _ = self.broker.kill();
        let _ = self.broker.wait();
    }
}

/// A TCP proxy on threads of its own (it keeps forwarding whatever the test's runtime is
/// doing); while cut, its listener is closed and every connection it carried is shut down.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    /// The broker's port, once it listens (0 until then).
    target: std::sync::atomic::AtomicU16,
    cut: AtomicBool,
    stopped: AtomicBool,
    connections: Mutex<Vec<std::net::TcpStream>>,
}

impl Proxy {
    fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState::default());
        let shared = state.clone();
        std::thread::spawn(move || forward(Some(listener), port, &shared));
        Self { port, state }
    }

    fn forward_to(&self, target: u16) {
        self.state.target.store(target, Ordering::SeqCst);
    }

    fn cut(&self) {
        self.state.cut.store(true, Ordering::SeqCst);
        for connection in self.state.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.state.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.state.stopped.store(true, Ordering::SeqCst);
        self.cut();
    }
}

/// Accepts on `port` while not cut and pipes each connection to the broker.
fn forward(mut listener: Option<std::net::TcpListener>, port: u16, state: &ProxyState) {
    while !state.stopped.load(Ordering::SeqCst) {
        if state.cut.load(Ordering::SeqCst) {
            listener = None;
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let Some(open) = &listener else {
            listener = std::net::TcpListener::bind(("127.0.0.1", port)).ok();
            if let Some(open) = &listener {
                open.set_nonblocking(true).unwrap();
            }
            continue;
        };
        open.set_nonblocking(true).unwrap();
        let Ok((inbound, _)) = open.accept() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        inbound.set_nonblocking(false).unwrap();
        let target = state.target.load(Ordering::SeqCst);
        let Ok(outbound) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
            continue;
        };
        let mut connections = state.connections.lock().unwrap();
        connections.push(inbound.try_clone().unwrap());
        connections.push(outbound.try_clone().unwrap());
        pipe(inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
        pipe(outbound, inbound);
    }
}

/// Copies `from` into `to` on a thread of its own until either closes.
fn pipe(mut from: std::net::TcpStream, mut to: std::net::TcpStream) {
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Both);
        let _ = from.shutdown(std::net::Shutdown::Both);
    });
}
