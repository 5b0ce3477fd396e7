//! Real gateways in front of a dummy upstream: HAProxy (its `jwt_verify` fed by
//! `sigil keys export`) and nginx with njs (fetching and caching the JWKS), started on a free
//! loopback port from the configuration in `gateway/`, reloaded the way an operator does, and stopped when dropped; and the tokens
//! every verifier must refuse.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::{AUDIENCE, ISSUER, TestApp, free_port, kid_of, sigil_command};

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
            .args(["-c", "-f"])
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
        wait_listening(self.port, "haproxy").await;
    }
}

/// Waits up to 10 s until something listens on `port`.
async fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A gateway's answer: status, body and `WWW-Authenticate`.
pub type Answer = (u16, String, Option<String>);

/// `GET /` on the gateway at `port`, with `token` as a bearer token when given.
pub async fn get_through(port: u16, token: Option<&str>) -> Answer {
    let mut request = reqwest::Client::new().get(format!("http://127.0.0.1:{port}/"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|value| value.to_str().unwrap().to_owned());
    (status, response.text().await.unwrap(), challenge)
}

/// nginx with njs verifying sigil tokens against the JWKS it fetches and caches
/// (gateway/nginx), as its configuration's @…@ fields are filled in for `app`.
pub struct Nginx {
    _dir: tempfile::TempDir,
    pub port: u16,
    process: Child,
}

impl Nginx {
    /// Starts nginx in front of `upstream`; `None` when it or its js module is not installed.
    pub async fn start(app: &TestApp, upstream: u16) -> Option<Self> {
        let binary = gateway_binary("nginx")?;
        let module = Path::new("/usr/lib/nginx/modules/ngx_http_js_module.so");
        assert!(
            module.exists() || std::env::var_os("TEST_REQUIRE_GATEWAYS").is_none(),
            "TEST_REQUIRE_GATEWAYS is set but libnginx-mod-http-js is missing"
        );
        if !module.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let source = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("gateway/nginx");
        let sigil = app.api.address.trim_start_matches("http://").to_owned();
        let config = std::fs::read_to_string(source.join("nginx.conf"))
            .unwrap()
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@UPSTREAM@", &format!("127.0.0.1:{upstream}"))
            .replace("@SIGIL@", &sigil)
            .replace("@ISSUER@", ISSUER)
            .replace("@AUDIENCE@", AUDIENCE)
            .replace("@JS_DIR@", source.to_str().unwrap())
            .replace("@CACHE_DIR@", dir.path().join("cache").to_str().unwrap());
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, config).unwrap();
        let pid = dir.path().join("nginx.pid");
        // The workers run as the test's own user (a root test would otherwise hand them to
        // `nobody`, who cannot enter the temporary directory).
        let globals = format!("daemon off; pid {}; user {};", pid.display(), whoami());
        let check = Command::new(&binary)
            .args(["-t", "-q", "-e", "stderr", "-g", &globals, "-c"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(check.status.success(), "nginx -t: {check:?}");
        let process = Command::new(&binary)
            .args(["-e", "stderr", "-g", &globals, "-c"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        wait_listening(port, "nginx").await;
        Some(Self {
            _dir: dir,
            port,
            process,
        })
    }
}

fn whoami() -> String {
    let output = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGQUIT would wait for the workers; the test is over, so the master and its workers
        // go at once: SIGTERM makes the master stop them.
        let _ = Command::new("kill")
            .args(["-TERM", &self.process.id().to_string()])
            .status();
        let _ = self.process.wait();
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
