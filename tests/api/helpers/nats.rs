//! `NatsServer`: a real nats-server with JetStream, one per test, which the test may stop,
//! restart and pause; and reading what sigil published to it.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// One event as a consumer sees it.
#[derive(Debug, Clone)]
pub struct Received {
    /// The NATS subject.
    pub subject: String,
    /// The `Nats-Msg-Id` header.
    pub msg_id: String,
    /// The CloudEvents envelope.
    pub envelope: Value,
    /// The raw payload, for searching.
    pub raw: String,
}

impl Received {
    /// The CloudEvents `type`.
    pub fn kind(&self) -> &str {
        self.envelope["type"].as_str().unwrap_or_default()
    }
}

/// A nats-server child process with JetStream, its store in a temporary directory.
pub struct NatsServer {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
    pub url: String,
}

impl NatsServer {
    /// Starts a server, or `None` (the test is skipped) when no nats-server binary is
    /// installed; `TEST_REQUIRE_NATS=1` (set by scripts/test) turns that into a failure.
    pub fn start() -> Option<Self> {
        let Some(binary) = binary() else {
            assert!(
                std::env::var_os("TEST_REQUIRE_NATS").is_none(),
                "TEST_REQUIRE_NATS is set but no nats-server is installed"
            );
            eprintln!("skipped: nats-server not found (scripts/test installs it)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self {
            child: None,
            dir,
            port: 0,
            url: String::new(),
        };
        server.spawn(&binary, "-1");
        Some(server)
    }

    fn spawn(&mut self, binary: &str, port: &str) {
        let ports = self.dir.path().join("ports");
        let _ = std::fs::remove_dir_all(&ports);
        std::fs::create_dir_all(&ports).unwrap();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", port, "-js", "-sd"])
            .arg(self.dir.path().join("store"))
            .arg("--ports_file_dir")
            .arg(&ports)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..200 {
            let file = std::fs::read_dir(&ports)
                .unwrap()
                .filter_map(Result::ok)
                .find(|entry| entry.path().extension().is_some_and(|ext| ext == "ports"));
            let json = file
                .and_then(|file| std::fs::read_to_string(file.path()).ok())
                .and_then(|text| serde_json::from_str::<Value>(&text).ok());
            if let Some(json) = json {
                self.url = json["nats"][0].as_str().unwrap().to_owned();
                self.port = self.url.rsplit(':').next().unwrap().parse().unwrap();
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("nats-server did not start");
    }

    /// Events to this server: prefix `auth`, the default retention, no client_credentials.
    pub fn event_config(&self) -> sigil::config::EventConfig {
        sigil::config::EventConfig {
            nats: Some(sigil::config::NatsConfig {
                url: self.url.clone(),
                creds: None,
            }),
            kafka: None,
            subject_prefix: "auth".to_owned(),
            retention: Duration::from_secs(7 * 86_400),
            client_credentials: false,
            inbound_users: None,
        }
    }

    /// Stops the server (SIGKILL: a broker that vanishes).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port with the same store.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port.to_string();
        self.spawn(&binary().unwrap(), &port);
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is acknowledged.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Thaws a paused server (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    /// Every message in the `SIGIL_EVENTS` stream, in stream order, once there are at least
    /// `count` (panics after `within`).
    pub async fn events(&self, count: usize, within: Duration) -> Vec<Received> {
        let client = async_nats::connect(&self.url).await.unwrap();
        let jetstream = async_nats::jetstream::new(client);
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Ok(mut stream) = jetstream.get_stream("SIGIL_EVENTS").await {
                let state = stream.info().await.unwrap().state.clone();
                if state.messages as usize >= count {
                    let mut events = Vec::new();
                    for sequence in state.first_sequence..=state.last_sequence {
                        let message = stream.get_raw_message(sequence).await.unwrap();
                        let raw = String::from_utf8(message.payload.to_vec()).unwrap();
                        events.push(Received {
                            subject: message.subject.to_string(),
                            msg_id: message
                                .headers
                                .get("Nats-Msg-Id")
                                .map(|id| id.to_string())
                                .unwrap_or_default(),
                            envelope: serde_json::from_str(&raw).unwrap(),
                            raw,
                        });
                    }
                    return events;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "fewer than {count} events reached the broker in {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(child) = &self.child {
            // A paused server would not die of SIGKILL until thawed on some systems.
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
        }
        self.stop();
    }
}

fn binary() -> Option<String> {
    if let Some(path) = std::env::var_os("TEST_NATS_SERVER") {
        return Some(path.to_string_lossy().into_owned());
    }
    [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
    .map(str::to_owned)
}
