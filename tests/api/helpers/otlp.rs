//! `OtlpReceiver`: a real OTLP/gRPC trace receiver (tests/otlp/receiver.py, on the
//! OpenTelemetry project's protocol package), one per test, and the spans it received.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A running receiver; stopped when dropped.
pub struct OtlpReceiver {
    child: Child,
    /// `http://127.0.0.1:PORT`, for `OTEL_EXPORTER_OTLP_ENDPOINT`.
    pub endpoint: String,
    spans: Arc<Mutex<Vec<Value>>>,
}

impl OtlpReceiver {
    /// Starts one with `TEST_OTLP_PYTHON` (scripts/test sets it up); `None` when that is not
    /// set, which fails the test when `TEST_REQUIRE_OTLP` is set.
    pub fn start() -> Option<Self> {
        let Some(python) = std::env::var_os("TEST_OTLP_PYTHON") else {
            assert!(
                std::env::var_os("TEST_REQUIRE_OTLP").is_none(),
                "TEST_REQUIRE_OTLP is set but TEST_OTLP_PYTHON is not"
            );
            eprintln!("skipped: no OTLP receiver (scripts/test sets TEST_OTLP_PYTHON)");
            return None;
        };
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/receiver.py");
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("the receiver starts").unwrap();
        let port = first.strip_prefix("listening ").expect("listening PORT");
        let endpoint = format!("http://127.0.0.1:{port}");
        let spans = Arc::new(Mutex::new(Vec::new()));
        let sink = spans.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock()
                    .unwrap()
                    .push(serde_json::from_str(&line).unwrap());
            }
        });
        Some(Self {
            child,
            endpoint,
            spans,
        })
    }

    /// The spans of trace `trace_id` (hex), once `done` says they are complete (panics
    /// after `within`).
    pub async fn trace(
        &self,
        trace_id: &str,
        within: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let spans: Vec<Value> = self
                .spans
                .lock()
                .unwrap()
                .iter()
                .filter(|span| span["trace_id"] == trace_id)
                .cloned()
                .collect();
            if done(&spans) {
                return spans;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "trace {trace_id} incomplete after {within:?}: {spans:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every span received so far.
    pub fn all(&self) -> Vec<Value> {
        self.spans.lock().unwrap().clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
