//! Real gateways in front of a dummy upstream: HAProxy (its `jwt_verify` fed by
//! `sigil keys export`), started on a free loopback port from the configuration in
//! `gateway/`, reloaded the way an operator does, and stopped when dropped; and the tokens
//! every verifier must refuse.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{AUDIENCE, ISSUER, TestApp, kid_of, sigil_command};

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether a gateway binary is there; `TEST_REQUIRE_GATEWAYS=1` (set by scripts/test) turns
/// its absence into a failure instead of a skipped test.
pub fn gateway_binary(name: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin", "/usr/bin", "/usr/local/sbin"]
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists());
    assert!(
        found.is_some() || std::env::var_os("TEST_REQUIRE_GATEWAYS").is_none(),
        "TEST_REQUIRE_GATEWAYS is set but {name} is missing"
    );
    found
}

/// HAProxy verifying sigil tokens with the keys exported into its directory.
pub struct Haproxy {
    binary: PathBuf,
    dir: tempfile::TempDir,
    upstream: u16,
    pub port: u16,
    process: Option<Child>,
}

impl Haproxy {
    /// Exports `app`'s keys, renders the configuration and starts HAProxy; `None` when it is
    /// not installed.
    pub async fn start(app: &TestApp, upstream: u16) -> Option<Self> {
        let binary = gateway_binary("haproxy")?;
        let mut haproxy = Self {
            binary,
            dir: tempfile::tempdir().unwrap(),
            upstream,
            port: free_port(),
            process: None,
        };
        haproxy.export(app);
        haproxy.render();
        haproxy.process = Some(haproxy.spawn(None));
        haproxy.wait_ready().await;
        Some(haproxy)
    }

    fn keys(&self) -> PathBuf {
        self.dir.path().join("keys")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("haproxy.cfg")
    }

    /// `sigil keys export --format pem --dir …`, once.
    pub fn export(&self, app: &TestApp) {
        let dir = self.keys();
        let args = [
            "keys",
            "export",
            "--format",
            "pem",
            "--dir",
            dir.to_str().unwrap(),
        ];
        let output = sigil_command(&app.database, &args, &[]);
        assert!(output.status.success(), "{output:?}");
    }

    /// `gateway/haproxy/render` over the export directory.
    fn render(&self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("gateway/haproxy/render");
        let output = Command::new(script)
            .arg(self.keys())
            .args(["--listen", &format!("127.0.0.1:{}", self.port)])
            .args(["--upstream", &format!("127.0.0.1:{}", self.upstream)])
            .args(["--issuer", ISSUER, "--audience", AUDIENCE])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        std::fs::write(self.config(), output.stdout).unwrap();
    }

    fn spawn(&self, replacing: Option<u32>) -> Child {
        let check = Command::new(&self.binary)
            .args(["-c", "-q", "-f"])
            .arg(self.config())
            .output()
            .unwrap();
        assert!(check.status.success(), "haproxy -c: {check:?}");
        let mut command = Command::new(&self.binary);
        command.arg("-db").arg("-q").arg("-f").arg(self.config());
        if let Some(pid) = replacing {
            command.args(["-sf", &pid.to_string()]);
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }

    /// Re-exports, re-renders and reloads (a new process takes the port over from the old
    /// one, `-sf`), as an operator does when `--watch` reports a change.
    pub async fn reload(&mut self, app: &TestApp) {
        self.export(app);
        self.render();
        let mut old = self.process.take().unwrap();
        self.process = Some(self.spawn(Some(old.id())));
        let _ = old.wait();
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /` through the gateway with `token`: status and body.
    pub async fn get(&self, token: &str) -> (u16, String, Option<String>) {
        let response = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{}/", self.port))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|value| value.to_str().unwrap().to_owned());
        (status, response.text().await.unwrap(), challenge)
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }
}

pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

/// Tokens a gateway must refuse, each with its reason: signed by sigil's current key with a
/// bad claim or type (expired ten minutes ago: beyond any clock-skew leeway), or forged
/// with another key under the current kid.
pub fn bad_tokens(app: &TestApp, good: &str) -> Vec<(&'static str, String)> {
    let claims = claims_of(good);
    let resigned = |typ: &str, change: &dyn Fn(&mut Value)| {
        let mut claims = claims.clone();
        change(&mut claims);
        app.keys
            .sign(typ, &serde_json::to_vec(&claims).unwrap())
            .unwrap()
    };
    let now = chrono::Utc::now().timestamp();
    let forger = openssl::rsa::Rsa::generate(2048).unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(kid_of(good));
    header.typ = Some("at+jwt".to_owned());
    let forged = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&forger.private_key_to_pem().unwrap()).unwrap(),
    )
    .unwrap();
    vec![
        ("forged", forged),
        (
            "expired",
            resigned("at+jwt", &|c| c["exp"] = json!(now - 600)),
        ),
        (
            "wrong audience",
            resigned("at+jwt", &|c| c["aud"] = json!("https://other.test")),
        ),
        (
            "wrong issuer",
            resigned("at+jwt", &|c| c["iss"] = json!("https://evil.test")),
        ),
        ("an ID token's type", resigned("JWT", &|_| {})),
        ("garbage", "not.a.token".to_owned()),
    ]
}
