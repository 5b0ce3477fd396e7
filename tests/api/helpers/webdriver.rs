//! `Chrome`: a headless Chromium driven over the W3C WebDriver protocol by a ChromeDriver of
//! its own (one per test), spoken to with plain HTTP: open a URL, type into and click
//! elements, read the current URL and the page, take a screenshot.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::TestApp;

/// A ChromeDriver child process and one browser session in it.
pub struct Chrome {
    driver: Child,
    http: reqwest::Client,
    session: String,
    _profile: tempfile::TempDir,
}

impl Chrome {
    /// Starts ChromeDriver and a headless Chromium, or `None` (the test is skipped) when they
    /// are not installed; `TEST_REQUIRE_BROWSER=1` (set by scripts/test) turns that into a
    /// failure.
    pub async fn start() -> Option<Self> {
        let (Some(driver), Some(chromium)) = (
            binary("TEST_CHROMEDRIVER", "chromedriver"),
            binary("TEST_CHROMIUM", "chromium"),
        ) else {
            assert!(
                std::env::var_os("TEST_REQUIRE_BROWSER").is_none(),
                "TEST_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
            );
            eprintln!("skipped: chromium or chromedriver not found (scripts/test installs them)");
            return None;
        };
        let port = super::free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // A command that hangs fails the test instead of stalling the suite.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium off the network it cannot reach here (it would retry, many
        // connections at a time) and fit a container (no sandbox, no GPU, small /dev/shm).
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--disable-features=Translate,OptimizationHints,MediaRouter",
                    "--window-size=900,800", format!("--user-data-dir={}", profile.path().display())],
            },
        }}});
        let mut last_error = String::new();
        for _ in 0..100 {
            match http
                .post(format!("{base}/session"))
                .json(&capabilities)
                .send()
                .await
            {
                Ok(response) => {
                    let body: Value = response.json().await.unwrap();
                    let session = body["value"]["sessionId"]
                        .as_str()
                        .unwrap_or_else(|| panic!("ChromeDriver refused the session: {body}"));
                    return Some(Self {
                        driver: child,
                        http,
                        session: format!("{base}/session/{session}"),
                        _profile: profile,
                    });
                }
                Err(error) => last_error = error.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("ChromeDriver did not start: {last_error}");
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await;
        let response: Value = match response {
            Ok(response) => response.json().await.unwrap(),
            Err(error) => panic!("WebDriver {path}: {error}"),
        };
        if let Some(error) = response["value"].get("error") {
            panic!(
                "WebDriver {path}: {error}: {}",
                response["value"]["message"]
            );
        }
        response["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub async fn open(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    /// The URL the browser is at.
    pub async fn url(&self) -> String {
        let url = self.call(reqwest::Method::GET, "/url", None).await;
        url.as_str().unwrap().to_owned()
    }

    /// The page's HTML.
    pub async fn source(&self) -> String {
        let source = self.call(reqwest::Method::GET, "/source", None).await;
        source.as_str().unwrap().to_owned()
    }

    async fn element(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        // The W3C element reference: an object with the one key `element-6066-…`.
        let reference = found.as_object().and_then(|object| object.values().next());
        reference.and_then(Value::as_str).unwrap().to_owned()
    }

    /// Types `text` into the element `css` selects.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        let path = format!("/element/{element}/value");
        self.call(reqwest::Method::POST, &path, Some(json!({ "text": text })))
            .await;
    }

    /// Clicks the element `css` selects (and waits for the navigation it starts).
    pub async fn click(&self, css: &str) {
        let element = self.element(css).await;
        let path = format!("/element/{element}/click");
        self.call(reqwest::Method::POST, &path, Some(json!({})))
            .await;
    }

    /// Waits until the URL starts with `prefix` (at most 15 s); the URL.
    pub async fn wait_for_url(&self, prefix: &str) -> String {
        for _ in 0..150 {
            let url = self.url().await;
            if url.starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (url, page) = (self.url().await, self.source().await);
        panic!("the browser never reached {prefix}: at {url}, showing\n{page}");
    }

    /// A PNG screenshot of the window, written to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        // Chromium's processes are the ones started with this test's own profile directory:
        // they go, whatever state the test left the browser in, and then the driver.
        let profile = self._profile.path().display().to_string();
        let _ = Command::new("pkill").args(["-9", "-f", &profile]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn binary(variable: &str, name: &str) -> Option<String> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(path.to_string_lossy().into_owned());
    }
    ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|dir| format!("{dir}/{name}"))
        .find(|path| std::path::Path::new(path).exists())
}

/// A stand-in for the application's callback: answers every request with a small page.
pub async fn application() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buffer = [0u8; 8192];
                let _ = socket.read(&mut buffer).await;
                let body = "<!DOCTYPE html><title>app</title><p>back at the application</p>";
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body.as_bytes()).await;
            });
        }
    });
    port
}

/// `path` on the app as the browser reaches it: by the name `localhost`, where Chromium keeps
/// the `Secure` cookies of an https issuer served over plain http on loopback.
pub fn at_localhost(app: &TestApp, path: &str) -> String {
    app.api.url(path).replacen("127.0.0.1", "localhost", 1)
}
