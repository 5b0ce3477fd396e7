//! `SmtpSink`: a real SMTP server (Python's aiosmtpd, writing each message it accepts into a
//! Maildir), one per test, which the test may start late and stop; and reading what it got.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One message as the sink stored it.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The whole message, transfer encoding undone (quoted-printable soft breaks and `=3D`).
    pub text: String,
}

impl Mail {
    /// The value of a header (first occurrence).
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.text
            .lines()
            .take_while(|line| !line.is_empty())
            .find(|line| line.to_ascii_lowercase().starts_with(&prefix))
            .map(|line| line[prefix.len()..].trim().to_owned())
    }

    /// The first link in the message that starts with `prefix`, up to its token's end.
    pub fn link(&self, prefix: &str) -> Option<String> {
        let start = self.text.find(prefix)?;
        let rest = &self.text[start..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || "-_.:/?=&".contains(c)))
            .unwrap_or(rest.len());
        Some(rest[..end].to_owned())
    }

    /// The token of the first link that starts with `prefix`.
    pub fn token(&self, prefix: &str) -> String {
        let link = self
            .link(prefix)
            .unwrap_or_else(|| panic!("no link starting {prefix} in the message:\n{}", self.text));
        link.split("token=").nth(1).unwrap().to_owned()
    }
}

/// An aiosmtpd child process on a loopback port of its own, its Maildir in a temporary
/// directory.
pub struct SmtpSink {
    child: Option<Child>,
    dir: tempfile::TempDir,
    pub port: u16,
}

impl SmtpSink {
    /// Starts a sink, or `None` (the test is skipped) when aiosmtpd is not installed;
    /// `TEST_REQUIRE_SMTP=1` (set by scripts/test) turns that into a failure.
    pub fn start() -> Option<Self> {
        let mut sink = Self::reserve()?;
        sink.spawn();
        Some(sink)
    }

    /// A sink whose port is chosen but which is not running yet (an SMTP server that is
    /// down): `spawn` starts it.
    pub fn reserve() -> Option<Self> {
        if !available() {
            assert!(
                std::env::var_os("TEST_REQUIRE_SMTP").is_none(),
                "TEST_REQUIRE_SMTP is set but aiosmtpd cannot be imported by {}",
                python()
            );
            eprintln!("skipped: aiosmtpd not found (scripts/test installs it)");
            return None;
        }
        let port = super::free_port();
        Some(Self {
            child: None,
            dir: tempfile::tempdir().unwrap(),
            port,
        })
    }

    /// Starts the server on the sink's port.
    pub fn spawn(&mut self) {
        let maildir = self.dir.path().join("mail");
        let child = Command::new(python())
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{}", self.port))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("aiosmtpd did not start on port {}", self.port);
    }

    /// Stops the server.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// sigil's mail settings for this sink.
    pub fn mail_config(&self) -> sigil::config::MailConfig {
        sigil::config::MailConfig {
            smtp_url: format!("smtp://127.0.0.1:{}", self.port).into(),
            from: "sigil <noreply@sigil.test>".to_owned(),
            max_attempts: 15,
        }
    }

    /// Every message received so far, oldest first.
    pub fn received(&self) -> Vec<Mail> {
        let new = self.dir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(&new) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let modified = entry.metadata().ok()?.modified().ok()?;
                Some((modified, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .map(|raw| Mail {
                text: raw
                    .replace("=\r\n", "")
                    .replace("=\n", "")
                    .replace("=3D", "="),
            })
            .collect()
    }

    /// Waits until `count` messages arrived (at most `within`), and returns them all.
    pub async fn messages(&self, count: usize, within: Duration) -> Vec<Mail> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let received = self.received();
            if received.len() >= count || tokio::time::Instant::now() >= deadline {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Python that runs aiosmtpd: `TEST_SMTP_PYTHON`, or Debian's (whose `python3-aiosmtpd`
/// package installs there).
fn python() -> String {
    std::env::var("TEST_SMTP_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned())
}

fn available() -> bool {
    Command::new(python())
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}
