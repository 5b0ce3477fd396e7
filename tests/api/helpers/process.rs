//! `SigilProcess`: the real binary, served as a child process.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::*;

/// A real `sigil serve` process, its stderr drained by a thread so it never blocks on logs.
pub struct SigilProcess {
    child: std::process::Child,
    pub address: String,
    /// The gRPC listener's address, unless it is off.
    pub grpc_address: Option<String>,
    /// The management listener's address, when one was asked for.
    pub management_address: Option<String>,
    logs: Arc<std::sync::Mutex<Vec<String>>>,
    stdout: Arc<std::sync::Mutex<String>>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl SigilProcess {
    /// Starts `sigil --log-format json serve --listen 127.0.0.1:0 <extra>` on `database`
    /// (sharing its keys dir) and waits until it logs its address.
    pub fn serve(database: &TestDatabase, extra: &[&str]) -> Self {
        Self::serve_with_env(database, extra, &[])
    }

    /// `serve` with extra environment variables; standard output is kept apart from the log.
    pub fn serve_with_env(database: &TestDatabase, extra: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead as _, Read as _};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args([
                "--log-format",
                "json",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--issuer",
                ISSUER,
            ])
            .args(extra)
            .env("DATABASE_URL", &database.url)
            .env("SIGIL_KEYS_DIR", database.dir.path().join("keys"))
            .env("SIGIL_AUDIENCE", AUDIENCE)
            // Never the fixed default port: tests run side by side.
            .env("SIGIL_GRPC_LISTEN", "127.0.0.1:0")
            .env_remove("SIGIL_KEY_ENCRYPTION_KEY")
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = Arc::new(std::sync::Mutex::new(String::new()));
        let sink = stdout.clone();
        std::thread::spawn(move || {
            let mut text = String::new();
            let mut chunk = [0u8; 4096];
            while let Ok(read @ 1..) = out.read(&mut chunk) {
                text.push_str(&String::from_utf8_lossy(&chunk[..read]));
                *sink.lock().unwrap() = text.clone();
            }
        });
        let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let logs = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (found, address) = std::sync::mpsc::channel();
        let sink = logs.clone();
        let drain = std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if let Ok(log) = serde_json::from_str::<Value>(&line)
                    && log["message"] == "listening"
                {
                    let address = log["address"].as_str().unwrap_or_default().to_owned();
                    let other = |key: &str| {
                        let address = log[key].as_str().filter(|a| *a != "off");
                        address.map(str::to_owned)
                    };
                    let _ =
                        found.send((address, other("grpc_address"), other("management_address")));
                }
                sink.lock().unwrap().push(line);
            }
        });
        let Ok((address, grpc_address, management_address)) =
            address.recv_timeout(Duration::from_secs(30))
        else {
            let _ = child.kill();
            let logs = logs.lock().unwrap().join("\n");
            panic!("sigil did not log its address within 30 s; its log:\n{logs}");
        };
        Self {
            child,
            address,
            grpc_address,
            management_address,
            logs,
            stdout,
            drain: Some(drain),
        }
    }

    /// What the process printed on standard output so far.
    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    pub fn api(&self) -> Api {
        Api {
            address: format!("http://{}", self.address),
            http: reqwest::Client::new(),
            grpc: self.grpc_address.as_ref().map(|a| format!("http://{a}")),
        }
    }

    /// SIGKILL: the process dies at once, mid-request if it is in one.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM, waits for the exit, and returns the status and every log line.
    pub async fn terminate(self) -> (std::process::ExitStatus, Vec<String>) {
        self.signal("TERM");
        self.exited().await
    }

    /// Sends the signal named `name` (`TERM`, `INT`, ...).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let killed = std::process::Command::new("kill")
            .args([&format!("-{name}"), &pid])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// Waits for the exit; returns the status and every log line.
    pub async fn exited(mut self) -> (std::process::ExitStatus, Vec<String>) {
        let logs = self.logs.clone();
        let status = tokio::task::spawn_blocking(move || {
            let status = self.child.wait().unwrap();
            if let Some(drain) = self.drain.take() {
                drain.join().unwrap();
            }
            status
        })
        .await
        .unwrap();
        let logs = std::mem::take(&mut *logs.lock().unwrap());
        (status, logs)
    }
}

impl Drop for SigilProcess {
    /// A test that fails midway leaves no server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a `sigil` command (not `serve`) on `database` with its keys dir and extra `env`, and
/// waits for it.
pub fn sigil_command(
    database: &TestDatabase,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(args)
        .env("DATABASE_URL", &database.url)
        .env("SIGIL_KEYS_DIR", database.dir.path().join("keys"))
        .env("SIGIL_GRPC_LISTEN", "127.0.0.1:0")
        .env_remove("SIGIL_KEY_ENCRYPTION_KEY")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}
