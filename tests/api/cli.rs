//! The real `sigil` binary: provisioning with `--json`, serving, graceful shutdown, and
//! one-line errors for bad configuration.

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{SigilProcess, TestDatabase, serde_urlencoded, verify};

const SIGIL: &str = env!("CARGO_BIN_EXE_sigil");

fn sigil(database: &TestDatabase, args: &[&str]) -> std::process::Output {
    crate::helpers::sigil_command(database, args, &[])
}

#[tokio::test]
async fn provisioned_client_gets_a_token_from_the_served_binary_which_stops_on_sigterm() {
    let database = TestDatabase::create().await;
    let created = sigil(
        &database,
        &[
            "client",
            "create",
            "--name",
            "svc",
            "--scopes",
            "read write",
            "--json",
        ],
    );
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let client: Value = serde_json::from_slice(&created.stdout).expect("one JSON object on stdout");
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );

    let server = SigilProcess::serve(&database, &[]);
    let address = server.address.clone();
    let http = reqwest::Client::new();
    let response = http
        .post(format!("http://{address}/token"))
        .basic_auth(id, Some(secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(serde_urlencoded(&[("grant_type", "client_credentials")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let jwks = http
        .get(format!("http://{address}/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    verify(
        token["access_token"].as_str().unwrap(),
        &jwks.json().await.unwrap(),
        crate::helpers::AUDIENCE,
    );

    let (status, logs) = server.terminate().await;
    assert!(status.success(), "graceful shutdown exits 0, got {status}");
    assert!(
        logs.iter().any(|line| line.contains("\"stopped\"")),
        "{logs:?}"
    );
    let all = logs.join("\n");
    assert!(
        !all.contains(secret),
        "the client secret never reaches the logs"
    );
}

#[tokio::test]
async fn client_list_and_delete_work_on_the_database() {
    let database = TestDatabase::create().await;
    let created = sigil(
        &database,
        &["client", "create", "--name", "to-delete", "--json"],
    );
    let id = serde_json::from_slice::<Value>(&created.stdout).unwrap()["client_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = sigil(&database, &["client", "list", "--json"]);
    let deleted = sigil(&database, &["client", "delete", &id]);
    let deleted_again = sigil(&database, &["client", "delete", &id]);

    let list: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(list[0]["client_id"], id.as_str());
    assert!(
        list[0].get("client_secret").is_none(),
        "list never shows secrets"
    );
    assert!(deleted.status.success());
    assert!(
        !deleted_again.status.success(),
        "deleting an unknown client fails"
    );
}

#[tokio::test]
async fn public_client_with_client_credentials_is_refused() {
    let database = TestDatabase::create().await;

    let output = sigil(
        &database,
        &[
            "client",
            "create",
            "--name",
            "spa",
            "--public",
            "--grant-types",
            "client_credentials",
        ],
    );

    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--public"));
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_with_one_line_naming_the_setting() {
    let database = TestDatabase::create().await;
    let unwritable = "/proc/sigil-cannot-write-here";
    let cases: [(&[&str], &str); 5] = [
        (&["serve", "--issuer", "not a url"], "--issuer"),
        (&["serve", "--grpc-listen", "everywhere"], "--grpc-listen"),
        (
            &["serve", "--access-token-ttl", "forever"],
            "--access-token-ttl",
        ),
        (
            &[
                "serve",
                "--database-url",
                "postgres://nobody@127.0.0.1:1/none",
            ],
            "--database-url",
        ),
        (
            &["serve", "--listen", "127.0.0.1:0", "--keys-dir", unwritable],
            "--keys-dir",
        ),
    ];

    for (args, setting) in cases {
        let output =
            tokio::time::timeout(Duration::from_secs(30), async { sigil(&database, args) })
                .await
                .unwrap();

        let stderr = String::from_utf8_lossy(&output.stderr);
        let error_lines: Vec<_> = stderr
            .lines()
            .filter(|line| line.contains("error"))
            .collect();
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(error_lines.len(), 1, "{args:?}: {stderr}");
        assert!(error_lines[0].contains(setting), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}");
    }
}

#[tokio::test]
async fn keys_commands_list_rotate_and_revoke() {
    let database = TestDatabase::create().await;
    let list = |database: &TestDatabase| -> Value {
        let output = sigil(database, &["keys", "list", "--json"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };

    let early = sigil(&database, &["keys", "rotate"]);
    let first = list(&database);
    let forced = sigil(&database, &["keys", "rotate", "--force"]);
    let rotated = list(&database);
    let current = rotated
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["state"] == "current")
        .unwrap()["kid"]
        .clone();
    let revoked = sigil(&database, &["keys", "revoke", current.as_str().unwrap()]);
    let after_revoke = list(&database);
    let unknown = sigil(&database, &["keys", "revoke", "no-such-kid"]);

    assert!(
        !early.status.success(),
        "a fresh next key is not promoted without --force"
    );
    assert!(String::from_utf8_lossy(&early.stderr).contains("force"));
    let states = |keys: &Value| {
        let mut states: Vec<String> = keys
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["state"].as_str().unwrap().to_owned())
            .collect();
        states.sort_unstable();
        states
    };
    assert_eq!(states(&first), ["current", "next"]);
    assert!(
        forced.status.success(),
        "{}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_eq!(states(&rotated), ["current", "next", "retired"]);
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let entry = after_revoke
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == current)
        .unwrap();
    assert_eq!(
        (entry["state"].as_str(), entry["revoked"].as_bool()),
        (Some("removed"), Some(true))
    );
    assert!(!unknown.status.success());
}

#[tokio::test]
async fn user_create_reads_the_password_from_stdin_and_the_user_can_log_in() {
    use std::io::Write as _;
    let app = crate::helpers::spawn_app().await;
    let create = |args: &[&str], stdin: &str| {
        let mut child = Command::new(SIGIL)
            .args([
                "user",
                "create",
                "--password-stdin",
                "--argon2-memory-kib",
                "256",
                "--argon2-iterations",
                "1",
            ])
            .args(args)
            .env("DATABASE_URL", &app.database.url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };

    let created = create(
        &["--username", "root@example.com", "--admin", "--json"],
        "correct horse battery\n",
    );
    let verified = create(
        &[
            "--username",
            "vera@example.com",
            "--email-verified",
            "--display-name",
            "Vera Verified",
            "--json",
        ],
        "correct horse battery\n",
    );
    let duplicate = create(
        &["--username", "ROOT@example.com"],
        "correct horse battery\n",
    );
    let short = create(&["--username", "x@example.com"], "short\n");
    let bad_name = create(
        &["--username", "n@example.com", "--display-name", "tab\there"],
        "correct horse battery\n",
    );

    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let user: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(
        (user["username"].as_str(), user["admin"].as_bool()),
        (Some("root@example.com"), Some(true))
    );
    assert_eq!(user["email_verified"], false);
    let vera: Value = serde_json::from_slice(&verified.stdout).unwrap();
    assert_eq!(vera["email_verified"], true, "created verified");
    assert_eq!(vera["display_name"], "Vera Verified");
    assert!(
        !bad_name.status.success()
            && String::from_utf8_lossy(&bad_name.stderr).contains("--display-name")
    );
    assert!(
        !duplicate.status.success()
            && String::from_utf8_lossy(&duplicate.stderr).contains("already exists")
    );
    assert!(
        !short.status.success() && String::from_utf8_lossy(&short.stderr).contains("at least 8")
    );
    let client = app.create_client("password", "admin").await;
    let body = app.logged_in(&client, "root@example.com").await;
    assert_eq!(body["scope"], "admin", "an admin user may hold scope admin");
}

#[tokio::test]
async fn client_create_registers_redirect_uris_and_refuses_a_bad_one() {
    let database = TestDatabase::create().await;

    let created = sigil(
        &database,
        &[
            "client",
            "create",
            "--name",
            "dash",
            "--public",
            "--grant-types",
            "authorization_code,refresh_token",
            "--redirect-uri",
            "https://dash.example.com/cb",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--post-logout-redirect-uri",
            "https://dash.example.com/bye",
            "--first-party",
            "--json",
        ],
    );
    let refused = sigil(
        &database,
        &[
            "client",
            "create",
            "--name",
            "bad",
            "--redirect-uri",
            "http://dash.example.com/cb",
        ],
    );
    let refused_logout = sigil(
        &database,
        &[
            "client",
            "create",
            "--name",
            "bad",
            "--post-logout-redirect-uri",
            "javascript:alert(1)",
        ],
    );

    let body: Value = serde_json::from_slice(&created.stdout).unwrap();
    assert_eq!(
        body["redirect_uris"],
        serde_json::json!(["https://dash.example.com/cb", "http://127.0.0.1/cb"])
    );
    assert_eq!(
        body["post_logout_redirect_uris"],
        serde_json::json!(["https://dash.example.com/bye"])
    );
    assert_eq!(body["first_party"], true);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--redirect-uri"));
    assert!(!refused_logout.status.success());
    assert!(String::from_utf8_lossy(&refused_logout.stderr).contains("--post-logout-redirect-uri"));
}
