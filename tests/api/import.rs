//! Bringing users over: `sigil user import` with hashes made by other implementations
//! (tests/fixtures/import: Python bcrypt, Node bcryptjs, Go x/crypto, argon2-cffi), the
//! first login's move to argon2id, bad files imported not at all, re-runs that change
//! nothing, `password_hash` and `display_name` in the admin API, and `name` in userinfo and
//! the ID token.

use std::path::PathBuf;

use reqwest::Method;
use serde_json::{Value, json};

use sigil::hooks::Checkpoint;

use crate::helpers::{
    CHEAP_HASH, PASSWORD, TestApp, TestClient, sigil_command, spawn_app, spawn_app_with,
};

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import/users.jsonl")
}

/// The fixture's users: email and password.
fn fixture_users() -> Vec<(String, String)> {
    std::fs::read_to_string(fixture())
        .unwrap()
        .lines()
        .map(|line| {
            let user: Value = serde_json::from_str(line).unwrap();
            let email = user["email"].as_str().unwrap().to_owned();
            let local = email.split('@').next().unwrap().to_owned();
            (email, format!("imported password for {local}"))
        })
        .collect()
}

/// `sigil user import FILE --json` against the app's database: exit status and report.
fn import(app: &TestApp, file: &std::path::Path) -> (bool, Value) {
    let output = sigil_command(
        &app.database,
        &["user", "import", file.to_str().unwrap(), "--json"],
        &[],
    );
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "a JSON report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.success(), report)
}

async fn stored_hash(app: &TestApp, email: &str) -> String {
    let sql = format!("SELECT password_hash FROM users WHERE email = '{email}'");
    app.database.strings(&sql).await.remove(0)
}

/// The prefix of sigil's own hashes in the test configuration.
fn sigils_argon2id() -> String {
    let (m, t, p) = (
        CHEAP_HASH.memory_kib,
        CHEAP_HASH.iterations,
        CHEAP_HASH.parallelism,
    );
    format!("$argon2id$v=19$m={m},t={t},p={p}$")
}

/// The Go x/crypto vector of the fixture, and its password.
const GO_HASH: &str = "$2a$04$pZGwL6DlYtr/lrJHhz8HzO2BFNNsuFYqju7b6QtQgz2szp11O0.kO";
const GO_PASSWORD: &str = "imported password for go-x-crypto";

/// `gopher@example.com` made over the admin API from the Go hash; its admin path.
async fn gopher(app: &TestApp, display_name: Option<&str>) -> String {
    let body = json!({
        "username": "gopher@example.com", "password_hash": GO_HASH, "display_name": display_name,
    });
    let created = app
        .admin_ok(Method::POST, "/admin/users", Some(body), 201)
        .await;
    assert_eq!(created["display_name"].as_str(), display_name);
    format!("/admin/users/{}", created["id"].as_str().unwrap())
}

async fn login_client(app: &TestApp) -> TestClient {
    app.create_client("password refresh_token", "openid email profile")
        .await
}

#[tokio::test]
async fn users_hashed_by_other_implementations_log_in_and_move_to_argon2id() {
    let app = spawn_app().await;
    let client = login_client(&app).await;

    let (ok, report) = import(&app, &fixture());
    let mut outcomes = Vec::new();
    for (email, password) in fixture_users() {
        let before = stored_hash(&app, &email).await;
        let wrong = app.login(&client, &email, "not the password", None).await;
        let after_wrong = stored_hash(&app, &email).await;
        let right = app.login(&client, &email, &password, None).await;
        let after_login = stored_hash(&app, &email).await;
        let again = app.login(&client, &email, &password, None).await;
        outcomes.push((
            email,
            before,
            (wrong.status(), after_wrong),
            (right.status(), after_login),
            again.status(),
        ));
    }

    assert!(ok, "{report}");
    assert_eq!(report["imported"], 7, "{report}");
    for (email, before, (wrong, after_wrong), (right, after_login), again) in outcomes {
        assert_eq!(wrong, 400, "{email}: a wrong password fails");
        assert_eq!(
            after_wrong, before,
            "{email}: a failed login changes nothing"
        );
        assert_eq!(right, 200, "{email}: the old password works");
        assert!(
            after_login.starts_with(&sigils_argon2id()),
            "{email}: rehashed to sigil's argon2id, got {after_login}"
        );
        assert_eq!(again, 200, "{email}: and works on the new hash");
    }
}

#[tokio::test]
async fn a_file_with_bad_lines_imports_nothing_and_names_each_bad_line() {
    let app = spawn_app().await;
    let good = std::fs::read_to_string(fixture()).unwrap();
    let first = good.lines().next().unwrap();
    let bcrypt = "$2b$04$xAH9v/YU1R6uL1L.h2rPAutf6rcgWaKwFevhiQXvZtCcYEr3WF8G6";
    let long_line = format!(
        "{{\"email\":\"long@example.com\",\"password_hash\":\"{bcrypt}\",\"display_name\":\"{}\"}}",
        "x".repeat(5000)
    );
    let bad_lines = [
        ("{\"email\": \"broken@example.com\"".to_owned(), "JSON"),
        (
            json!({"email": "md5@example.com", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}).to_string(),
            "neither an argon2 PHC string nor a bcrypt hash",
        ),
        (
            json!({"email": "costly@example.com", "password_hash": bcrypt.replace("$04$", "$15$")}).to_string(),
            "bcrypt cost 15",
        ),
        (
            first.replace("python-bcrypt-2b@", "PYTHON-bcrypt-2b@"),
            "duplicate email: also on line 1",
        ),
        (
            json!({"email": "named@example.com", "password_hash": bcrypt, "display_name": "n".repeat(201)}).to_string(),
            "display_name",
        ),
        (
            json!({"email": format!("{}@example.com", "e".repeat(250)), "password_hash": bcrypt}).to_string(),
            "email",
        ),
        (long_line, "longer than 4096 bytes"),
        (
            json!({"email": "extra@example.com", "password_hash": bcrypt, "role": "x"}).to_string(),
            "unknown field `role`",
        ),
    ];
    let mut text = good.clone();
    for (line, _) in &bad_lines {
        text.push_str(line);
        text.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let (bad_file, good_file) = (dir.path().join("bad.jsonl"), dir.path().join("good.jsonl"));
    std::fs::write(&bad_file, text).unwrap();
    std::fs::write(&good_file, &good).unwrap();
    let users_before = app.database.rows("users").await;

    let (refused, bad_report) = import(&app, &bad_file);
    let users_after_bad = app.database.rows("users").await;
    let (first_ok, first_run) = import(&app, &good_file);
    let (second_ok, second_run) = import(&app, &good_file);

    assert!(!refused, "a bad file fails the command");
    assert_eq!(users_after_bad, users_before, "nothing half-imported");
    let rejected = bad_report["rejected"].as_array().unwrap();
    let good_lines = good.lines().count();
    assert_eq!(rejected.len(), bad_lines.len(), "{bad_report}");
    for (index, (_, why)) in bad_lines.iter().enumerate() {
        let number = good_lines + index + 1;
        let entry = &rejected[index];
        assert_eq!(entry["line"], number, "{entry}");
        assert!(
            entry["reason"].as_str().unwrap().contains(why),
            "line {number}: {entry} should say {why:?}"
        );
    }
    assert!(
        !bad_report.to_string().contains(bcrypt),
        "reasons never quote a hash"
    );
    assert!(first_ok && second_ok);
    assert_eq!(
        (
            first_run["imported"].as_u64(),
            first_run["existing"].as_u64()
        ),
        (Some(7), Some(0))
    );
    assert_eq!(
        (
            second_run["imported"].as_u64(),
            second_run["existing"].as_u64()
        ),
        (Some(0), Some(7))
    );
    assert_eq!(app.database.rows("users").await, users_before + 7);
    let audited = app
        .database
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE action = $1",
            "user.import",
        )
        .await;
    assert_eq!(
        audited, 7,
        "one audit row per imported user, none for the re-run"
    );
}

#[tokio::test]
async fn standard_input_imports_too_and_keeps_flags_names_and_creation_times() {
    let app = spawn_app().await;
    let client = login_client(&app).await;
    let file = std::fs::File::open(fixture()).unwrap();

    // With an events URL the command writes the outbox rows a running server relays.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["user", "import", "-"])
        .env("DATABASE_URL", &app.database.url)
        .env("NATS_URL", "nats://127.0.0.1:1")
        .stdin(file)
        .output()
        .unwrap();
    let login = app
        .login(
            &client,
            "argon2-cffi@example.com",
            "imported password for argon2-cffi",
            Some("openid profile email"),
        )
        .await;

    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("imported 7 user(s)"));
    let users = app
        .admin_ok(Method::GET, "/admin/users?limit=200", None, 200)
        .await;
    let find = |email: &str| {
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|user| user["username"] == email)
            .unwrap()
            .clone()
    };
    let python = find("python-bcrypt-2b@example.com");
    assert_eq!(python["display_name"], "Python Bcrypt");
    assert_eq!(python["email_verified"], true);
    assert_eq!(python["created_at"], "2023-04-01T12:00:00Z");
    let argon = find("argon2-cffi@example.com");
    assert_eq!(
        (argon["admin"].as_bool(), argon["email_verified"].as_bool()),
        (Some(true), Some(false))
    );
    assert_eq!(login.status(), 200);
    let tokens: Value = login.json().await.unwrap();
    let id = crate::helpers::verify_id_token(
        tokens["id_token"].as_str().unwrap(),
        &app.jwks().await,
        &client.id,
    );
    assert_eq!(id.claims["name"], "Ärger Zweimal");
    let access = tokens["access_token"].as_str().unwrap();
    let info: Value = app
        .get_with_token("/userinfo", access)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(info["name"], "Ärger Zweimal");
    let events = app
        .database
        .strings("SELECT data FROM outbox_events WHERE entity = 'user' AND verb = 'created'")
        .await;
    assert_eq!(events.len(), 7, "one auth.user.created per imported user");
    let named = events
        .iter()
        .map(|data| serde_json::from_str::<Value>(data).unwrap())
        .find(|data| data["email"] == "go-x-crypto@example.com")
        .unwrap();
    assert_eq!(named["display_name"], "Go Gopher");
    assert!(
        events
            .iter()
            .all(|data| !data.contains("$2") && !data.contains("$argon2")),
        "no hash in an event"
    );
}

#[tokio::test]
async fn the_admin_api_creates_a_user_from_a_password_hash_and_edits_the_display_name() {
    let app = spawn_app().await;
    let client = login_client(&app).await;
    let fixture_text = std::fs::read_to_string(fixture()).unwrap();
    assert!(fixture_text.contains(GO_HASH), "the Go x/crypto vector");
    let hash = GO_HASH;

    let path = gopher(&app, Some("Go Gopher")).await;
    let login = app
        .login(&client, "gopher@example.com", GO_PASSWORD, None)
        .await;
    let renamed = app
        .admin_ok(
            Method::PATCH,
            &path,
            Some(json!({"display_name": "Gordon"})),
            200,
        )
        .await;
    let cleared = app
        .admin_ok(
            Method::PATCH,
            &path,
            Some(json!({"display_name": null})),
            200,
        )
        .await;
    let token = app.admin_token().await;
    let mut refusals = Vec::new();
    for body in [
        json!({"username": "both@example.com", "password": PASSWORD, "password_hash": hash}),
        json!({"username": "neither@example.com"}),
        json!({"username": "md5@example.com", "password_hash": "5f4dcc3b5aa765d61d8327deb882cf99"}),
        json!({"username": "ctl@example.com", "password": PASSWORD, "display_name": "a\u{7}b"}),
    ] {
        let response = app
            .admin_json(
                Method::POST,
                "/admin/users",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        let status = response.status();
        let error: Value = response.json().await.unwrap();
        refusals.push((body, status, error));
    }

    assert_eq!(login.status(), 200, "the Go hash logs in");
    assert!(
        stored_hash(&app, "gopher@example.com")
            .await
            .starts_with(&sigils_argon2id())
    );
    assert_eq!(renamed["display_name"], "Gordon");
    assert!(cleared.get("display_name").is_none(), "{cleared}");
    for (body, status, error) in refusals {
        assert_eq!(status, 400, "{body}: {error}");
        assert_eq!(error["error"], "invalid_request");
    }
    let changed: Vec<Value> = app
        .database
        .strings("SELECT details FROM audit_events WHERE action = 'user.update' ORDER BY id")
        .await
        .iter()
        .map(|details| serde_json::from_str::<Value>(details).unwrap()["changed"].clone())
        .collect();
    assert_eq!(changed, [json!(["display_name"]), json!(["display_name"])]);
}

#[tokio::test]
async fn a_password_reset_during_a_bcrypt_login_is_never_undone_by_its_rehash() {
    let held = Checkpoint::holding(1);
    let app = spawn_app_with(|config| config.hooks.login_checked = Some(held.clone())).await;
    let client = login_client(&app).await;
    let path = gopher(&app, None).await;
    let login = {
        let (api, client) = (app.api.clone(), client.clone());
        tokio::spawn(async move {
            let old = api.login(&client, "gopher@example.com", GO_PASSWORD, None);
            old.await.status()
        })
    };
    held.reached(1).await;

    // The old password was verified; the admin resets it before the login goes on.
    let reset = json!({ "password": PASSWORD });
    app.admin_ok(Method::PATCH, &path, Some(reset), 200).await;
    held.release(1);
    let old_login = login.await.unwrap();
    let old_again = app
        .login(&client, "gopher@example.com", GO_PASSWORD, None)
        .await;
    let new_login = app
        .login(&client, "gopher@example.com", PASSWORD, None)
        .await;

    assert_eq!(
        old_login, 400,
        "the login verified before the reset gets no session"
    );
    assert_eq!(old_again.status(), 400, "the old password stays dead");
    assert_eq!(new_login.status(), 200, "the new password works");
}
