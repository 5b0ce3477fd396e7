//! The audit log: one row per action, under the person who acted, written in the same
//! transaction as the change (a failure before the commit leaves neither), never holding a
//! secret; read through `GET /admin/audit` and `sigil audit list`; pruned after retention.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Digest as _;
use sigil::clock::Clock;
use sigil::hooks::{Fault, Hooks};

use crate::helpers::{
    ADMIN_CLIENT_ID, PASSWORD, TestApp, TestClient, admin_client, contains, count_status, parallel,
    spawn_app, spawn_app_with,
};

/// The rows of `action`, newest first, read through the admin API.
async fn rows(app: &TestApp, action: &str) -> Vec<Value> {
    let page = app
        .admin_ok(
            Method::GET,
            &format!("/admin/audit?action={action}&limit=1000"),
            None,
            200,
        )
        .await;
    page["events"].as_array().unwrap().clone()
}

/// The one row of `action`; panics unless there is exactly one.
async fn one_row(app: &TestApp, action: &str) -> Value {
    let rows = rows(app, action).await;
    assert_eq!(rows.len(), 1, "exactly one {action} row: {rows:#?}");
    rows[0].clone()
}

/// An admin user's session token, obtained through the shared bootstrap admin client.
async fn admin_user(app: &TestApp, email: &str) -> (String, String) {
    let body = json!({ "username": email, "password": PASSWORD, "admin": true });
    let created = app
        .admin_ok(Method::POST, "/admin/users", Some(body), 201)
        .await;
    let login = app.logged_in(&admin_client(), email).await;
    assert_eq!(login["scope"], "admin");
    (
        created["id"].as_str().unwrap().to_owned(),
        login["access_token"].as_str().unwrap().to_owned(),
    )
}

/// An admin call with `token` that must answer `expected`; the JSON body.
async fn call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    expected: u16,
) -> Value {
    let response = app
        .admin_json(method.clone(), path, Some(token), body)
        .await;
    assert_eq!(response.status(), expected, "{method} {path}");
    response.json().await.unwrap_or(Value::Null)
}

fn assert_actor(row: &Value, user_id: &str) {
    assert_eq!(row["actor_type"], "user", "{row}");
    assert_eq!(
        row["actor_id"], user_id,
        "the admin user, not only the client: {row}"
    );
    assert_eq!(row["client_id"], ADMIN_CLIENT_ID, "{row}");
    assert_eq!(row["ip"], "127.0.0.1", "{row}");
    assert_eq!(row["outcome"], "success", "{row}");
}

#[tokio::test]
async fn every_admin_operation_is_one_row_under_the_admin_user_behind_the_shared_client() {
    let app = spawn_app().await;
    let (root, token) = admin_user(&app, "root@example.com").await;

    let user = call(
        &app,
        &token,
        Method::POST,
        "/admin/users",
        Some(json!({ "username": "ann@example.com", "password": PASSWORD })),
        201,
    )
    .await;
    let user_id = user["id"].as_str().unwrap();
    let user_path = format!("/admin/users/{user_id}");
    call(&app, &token, Method::GET, "/admin/users", None, 200).await;
    call(&app, &token, Method::GET, &user_path, None, 200).await;
    let disable = Some(json!({ "disabled": true }));
    call(&app, &token, Method::PATCH, &user_path, disable, 200).await;
    call(&app, &token, Method::DELETE, &user_path, None, 204).await;
    let spec = json!({ "name": "svc", "grant_types": ["client_credentials"], "scope": "read" });
    let client = call(
        &app,
        &token,
        Method::POST,
        "/admin/clients",
        Some(spec),
        201,
    )
    .await;
    let client_id = client["client_id"].as_str().unwrap();
    let client_path = format!("/admin/clients/{client_id}");
    call(&app, &token, Method::GET, "/admin/clients", None, 200).await;
    call(&app, &token, Method::GET, &client_path, None, 200).await;
    let rename = Some(json!({ "name": "svc 2" }));
    call(&app, &token, Method::PATCH, &client_path, rename, 200).await;
    let secret_path = format!("{client_path}/secret");
    call(&app, &token, Method::POST, &secret_path, None, 200).await;
    call(&app, &token, Method::DELETE, &client_path, None, 204).await;
    call(&app, &token, Method::GET, "/admin/keys", None, 200).await;
    let rotate = "/admin/keys/rotate?force=true";
    let keys = call(&app, &token, Method::POST, rotate, None, 200).await;
    let retired = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|key| key["state"] == "retired")
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoke = format!("/admin/keys/{retired}/revoke");
    call(&app, &token, Method::POST, &revoke, None, 200).await;

    for (action, target) in [
        ("user.create", Some(user_id)),
        ("user.list", None),
        ("user.read", Some(user_id)),
        ("user.update", Some(user_id)),
        ("user.delete", Some(user_id)),
        ("client.create", Some(client_id)),
        ("client.list", None),
        ("client.read", Some(client_id)),
        ("client.update", Some(client_id)),
        ("client.secret_rotate", Some(client_id)),
        ("client.delete", Some(client_id)),
        ("key.list", None),
        ("key.rotate", None),
        ("key.revoke", Some(retired.as_str())),
    ] {
        // The seeding admin created one more user and the list includes the test's reads.
        let rows: Vec<Value> = rows(&app, action)
            .await
            .into_iter()
            .filter(|row| row["actor_id"] == root.as_str())
            .collect();
        assert_eq!(
            rows.len(),
            1,
            "exactly one {action} row by the admin user: {rows:#?}"
        );
        assert_actor(&rows[0], &root);
        if let Some(target) = target {
            assert_eq!(rows[0]["target_id"], target, "{action}");
        }
    }
    let update = one_row(&app, "user.update").await;
    assert_eq!(update["details"]["changed"], json!(["disabled"]));
    let login = one_row(&app, "login.success").await;
    assert_eq!(login["actor_id"], root.as_str(), "logins are recorded too");
}

#[tokio::test]
async fn registration_logins_lockout_reuse_logout_and_revocation_are_recorded() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_user = 3).await;
    let client = app
        .create_client("password refresh_token client_credentials", "read")
        .await;
    let ann = app.create_user("ann@example.com").await;
    let bob = app.create_user("bob@example.com").await;

    let registered = rows(&app, "user.register").await;
    assert_eq!(registered.len(), 2);
    assert_eq!(registered[0]["actor_type"], "anonymous");
    assert_eq!(registered[0]["ip"], "127.0.0.1");
    assert_eq!(registered[0]["target_id"], bob.as_str());

    let session = app.logged_in(&client, "ann@example.com").await;
    let success = one_row(&app, "login.success").await;
    assert_eq!(success["actor_type"], "user");
    assert_eq!(success["actor_id"], ann.as_str());
    assert_eq!(success["client_id"], client.id.as_str());
    let family = success["target_id"].as_str().unwrap().to_owned();

    for _ in 0..5 {
        app.login(&client, "bob@example.com", "wrong password!", None)
            .await;
    }
    let failures = rows(&app, "login.failure").await;
    assert_eq!(
        failures.len(),
        3,
        "the 4th and 5th attempts were refused unhashed"
    );
    for row in &failures {
        assert_eq!(row["outcome"], "failure");
        assert_eq!(row["actor_type"], "anonymous");
        assert_eq!(row["client_id"], client.id.as_str());
        assert_eq!(row["target_id"], bob.as_str());
        assert_eq!(row["details"]["username"], "bob@example.com");
        assert_eq!(row["details"]["reason"], "wrong_password");
    }
    let lockout = one_row(&app, "login.lockout").await;
    assert_eq!(lockout["details"]["limit"], "username");
    assert_eq!(lockout["target_id"], bob.as_str());

    let first = session["refresh_token"].as_str().unwrap();
    let rotated = app.refresh(&client, first, None).await;
    assert_eq!(rotated.status(), 200);
    let second: Value = rotated.json().await.unwrap();
    assert_eq!(app.refresh(&client, first, None).await.status(), 400);
    let reuse = one_row(&app, "session.reuse_detected").await;
    assert_eq!(reuse["target_id"], family.as_str());
    assert_eq!(reuse["actor_id"], ann.as_str());
    assert_eq!(reuse["client_id"], client.id.as_str());

    let again = app.logged_in(&client, "ann@example.com").await;
    let token = again["refresh_token"].as_str().unwrap();
    let logout = app
        .client_post("/logout", &client, &[("refresh_token", token)])
        .await;
    assert_eq!(logout.status(), 204);
    let logout = one_row(&app, "session.logout").await;
    assert_eq!(logout["actor_id"], ann.as_str());

    let access = app.client_credentials_token(&client).await;
    let revoke = app
        .client_post("/revoke", &client, &[("token", &access)])
        .await;
    assert_eq!(revoke.status(), 200);
    let revoked = one_row(&app, "token.revoke").await;
    assert_eq!(revoked["actor_type"], "client");
    assert_eq!(revoked["actor_id"], client.id.as_str());
    assert!(second["refresh_token"].is_string());
}

#[tokio::test]
async fn a_failed_admin_action_is_recorded_as_a_failure() {
    let app = spawn_app().await;
    let unknown = "/admin/users/00000000-0000-0000-0000-000000000000";
    app.admin_ok(Method::PATCH, unknown, Some(json!({ "admin": true })), 404)
        .await;
    let body = json!({ "username": "x@example.com", "password": "short" });
    app.admin_ok(Method::POST, "/admin/users", Some(body), 400)
        .await;

    let update = one_row(&app, "user.update").await;
    assert_eq!(update["outcome"], "failure");
    assert_eq!(update["actor_type"], "client");
    assert_eq!(update["actor_id"], ADMIN_CLIENT_ID);
    assert_eq!(update["details"]["reason"], "no user has this id");
    let create = one_row(&app, "user.create").await;
    assert_eq!(create["outcome"], "failure");
}

#[tokio::test]
async fn a_failure_before_the_commit_leaves_neither_the_change_nor_its_row() {
    let fault = Fault::at("commit", 0);
    let hooks = Hooks {
        fault: Some(fault.clone()),
        ..Hooks::default()
    };
    let app = spawn_app_with(|config| config.hooks = hooks).await;
    let spec = json!({ "name": "before", "grant_types": ["client_credentials"] });
    let client = app
        .admin_ok(Method::POST, "/admin/clients", Some(spec), 201)
        .await;
    let path = format!("/admin/clients/{}", client["client_id"].as_str().unwrap());

    fault.arm(1);
    let rename = Some(json!({ "name": "after" }));
    app.admin_ok(Method::PATCH, &path, rename, 500).await;

    let stored = app.admin_ok(Method::GET, &path, None, 200).await;
    assert_eq!(stored["name"], "before", "the change was rolled back");
    let renamed = "SELECT COUNT(*) FROM clients WHERE name = $1";
    assert_eq!(
        app.database.count(renamed, "after").await,
        0,
        "not in the database either"
    );
    let updates = rows(&app, "client.update").await;
    assert!(
        updates.iter().all(|row| row["outcome"] == "failure"),
        "no success row for a change that never committed: {updates:#?}"
    );
    assert_eq!(updates.len(), 1, "the failed attempt itself is recorded");
}

#[tokio::test]
async fn a_password_reset_whose_session_revocation_fails_changes_nothing() {
    let fault = Fault::at("revoke_sessions", 0);
    let hooks = Hooks {
        fault: Some(fault.clone()),
        ..Hooks::default()
    };
    let app = spawn_app_with(|config| config.hooks = hooks).await;
    let client = app.create_client("password refresh_token", "").await;
    let ann = app.create_user("ann@example.com").await;
    let session = app.logged_in(&client, "ann@example.com").await;

    fault.arm(1);
    let reset = Some(json!({ "password": "a brand new password" }));
    app.admin_ok(Method::PATCH, &format!("/admin/users/{ann}"), reset, 500)
        .await;

    let old = app.login(&client, "ann@example.com", PASSWORD, None).await;
    assert_eq!(old.status(), 200, "the old password still works");
    let new = app
        .login(&client, "ann@example.com", "a brand new password", None)
        .await;
    assert_eq!(new.status(), 400, "the new password was never stored");
    let token = session["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.refresh(&client, token, None).await.status(),
        200,
        "the old session lives on: nothing of the reset happened"
    );
    let updates = rows(&app, "user.update").await;
    assert!(updates.iter().all(|row| row["outcome"] == "failure"));
}

#[tokio::test]
async fn no_audit_row_holds_a_secret_a_hash_or_a_token() {
    let app = spawn_app().await;
    let client = app.create_client("password refresh_token", "").await;
    app.create_user("ann@example.com").await;
    let login = app.logged_in(&client, "ann@example.com").await;
    let refreshed: Value = app
        .refresh(&client, login["refresh_token"].as_str().unwrap(), None)
        .await
        .json()
        .await
        .unwrap();
    // A password typed into the username field, and a wrong password.
    let typed = "my secret password in the wrong field";
    app.login(&client, typed, PASSWORD, None).await;
    app.login(&client, "ann@example.com", "wrong but secret", None)
        .await;
    let spec = json!({ "name": "svc", "grant_types": ["client_credentials"] });
    let svc = app
        .admin_ok(Method::POST, "/admin/clients", Some(spec), 201)
        .await;
    let svc_id = svc["client_id"].as_str().unwrap();
    let rotated = app
        .admin_ok(
            Method::POST,
            &format!("/admin/clients/{svc_id}/secret"),
            None,
            200,
        )
        .await;
    let body = json!({ "username": "bob@example.com", "password": "bob's own password" });
    let bob = app
        .admin_ok(Method::POST, "/admin/users", Some(body), 201)
        .await;
    let reset = Some(json!({ "password": "bob's next password" }));
    let bob_path = format!("/admin/users/{}", bob["id"].as_str().unwrap());
    app.admin_ok(Method::PATCH, &bob_path, reset, 200).await;

    let mut secrets: Vec<String> = vec![
        PASSWORD.into(),
        typed.into(),
        "wrong but secret".into(),
        "bob's own password".into(),
        "bob's next password".into(),
        client.secret.clone(),
        svc["client_secret"].as_str().unwrap().into(),
        rotated["client_secret"].as_str().unwrap().into(),
    ];
    for response in [&login, &refreshed] {
        for field in ["access_token", "refresh_token"] {
            secrets.push(response[field].as_str().unwrap().into());
        }
    }
    // What is stored of them: SHA-256 of client secrets and refresh tokens, argon2id PHC
    // strings of passwords.
    let digests: Vec<String> = secrets
        .iter()
        .flat_map(|secret| {
            let digest = sha2::Sha256::digest(secret.as_bytes());
            [
                hex(&digest),
                URL_SAFE_NO_PAD.encode(digest),
                STANDARD.encode(digest),
            ]
        })
        .collect();
    secrets.extend(digests);
    secrets.extend(
        app.database
            .strings("SELECT password_hash FROM users")
            .await,
    );

    let dump = audit_dump(&app).await;
    assert!(dump.contains("login.failure") && dump.contains("client.secret_rotate"));
    for secret in &secrets {
        for form in [secret.as_str(), &secret[..12]] {
            assert!(
                !contains(dump.as_bytes(), form),
                "{form:?} is in the audit log"
            );
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every column of every audit row, as text.
async fn audit_dump(app: &TestApp) -> String {
    let rows = app
        .database
        .strings(
            "SELECT COALESCE(actor_id, '') || ' ' || COALESCE(client_id, '') || ' ' || \
             COALESCE(ip, '') || ' ' || action || ' ' || COALESCE(target_id, '') || ' ' || \
             outcome || ' ' || details FROM audit_events",
        )
        .await;
    rows.join("\n")
}

#[tokio::test]
async fn the_database_refuses_to_change_or_delete_audit_rows() {
    let app = spawn_app().await;
    app.create_user("ann@example.com").await;
    let update = app
        .database
        .try_execute(
            "UPDATE audit_events SET outcome = 'success' WHERE action = $1",
            &["user.register"],
        )
        .await;
    let refusal = update.expect_err("UPDATE of an audit row is refused");
    assert!(refusal.contains("append-only"), "{refusal}");
    if !app.database.is_postgres() {
        eprintln!("skipped: DELETE and TRUNCATE refusal is enforced on PostgreSQL only");
        return;
    }
    let delete = app
        .database
        .try_execute(
            "DELETE FROM audit_events WHERE action = $1",
            &["user.register"],
        )
        .await;
    let refusal = delete.expect_err("DELETE outside the pruning job is refused");
    assert!(refusal.contains("append-only"), "{refusal}");
    let truncate = app.database.try_execute("TRUNCATE audit_events", &[]).await;
    let refusal = truncate.expect_err("TRUNCATE is refused");
    assert!(refusal.contains("append-only"), "{refusal}");
    assert_eq!(rows(&app, "user.register").await.len(), 1);
}

#[tokio::test]
async fn the_audit_log_pages_by_cursor_and_filters() {
    let app = spawn_app().await;
    for i in 0..5 {
        app.create_user(&format!("user{i}@example.com")).await;
    }
    let token = app.admin_token().await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/admin/audit?action=user.register&limit=2&cursor={cursor}"),
            None => "/admin/audit?action=user.register&limit=2".to_owned(),
        };
        let page = call(&app, &token, Method::GET, &path, None, 200).await;
        let events = page["events"].as_array().unwrap();
        assert!(events.len() <= 2);
        seen.extend(events.iter().map(|event| event["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "every row once: {seen:?}");
    assert!(
        seen.windows(2).all(|pair| pair[0] > pair[1]),
        "newest first"
    );

    let user = app.create_user("target@example.com").await;
    let by_target = call(
        &app,
        &token,
        Method::GET,
        &format!("/admin/audit?target={user}"),
        None,
        200,
    )
    .await;
    assert_eq!(by_target["events"].as_array().unwrap().len(), 1);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let since = format!("/admin/audit?since={}", urlencode(&future));
    let none = call(&app, &token, Method::GET, &since, None, 200).await;
    assert_eq!(none["events"], json!([]));
    let by_actor = call(
        &app,
        &token,
        Method::GET,
        &format!("/admin/audit?actor={ADMIN_CLIENT_ID}&action=audit.read"),
        None,
        200,
    )
    .await;
    assert!(
        !by_actor["events"].as_array().unwrap().is_empty(),
        "reads are recorded"
    );
    for bad in [
        "limit=0",
        "limit=1001",
        "cursor=abc",
        "cursor=-1",
        "since=yesterday",
        "x=1",
    ] {
        call(
            &app,
            &token,
            Method::GET,
            &format!("/admin/audit?{bad}"),
            None,
            400,
        )
        .await;
    }
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

#[tokio::test]
async fn sigil_audit_list_prints_the_rows_as_json() {
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com").await;
    let args = ["audit", "list", "--json", "--action", "user.register"];
    let output = crate::helpers::sigil_command(&app.database, &args, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let page: Value = serde_json::from_slice(&output.stdout).unwrap();
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target_id"], ann.as_str());
    let reads = rows(&app, "audit.read").await;
    assert!(
        reads
            .iter()
            .any(|row| row["actor_type"] == "system" && row["actor_id"] == "cli"),
        "the command line's read is recorded as the operator: {reads:#?}"
    );
}

#[tokio::test]
async fn maintenance_prunes_ended_sessions_and_expired_audit_rows() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| {
        config.clock = clock.clone();
        config.refresh_token_ttl = Duration::from_secs(3600);
        config.audit_retention = Duration::from_secs(30 * 86_400);
        config.maintenance_interval = Duration::from_millis(50);
    })
    .await;
    let client = app.create_client("password refresh_token", "").await;
    app.create_user("ann@example.com").await;
    let live: TestClient = client.clone();
    let old = app.logged_in(&live, "ann@example.com").await;
    app.refresh(&live, old["refresh_token"].as_str().unwrap(), None)
        .await;
    let count = |table: &'static str| app.database.rows(table);
    assert_eq!(count("refresh_families").await, 1);
    assert_eq!(count("refresh_tokens").await, 2);

    // Two days on: the session ended a day and 23 hours ago; a new one starts.
    clock.advance(Duration::from_secs(2 * 86_400));
    app.logged_in(&live, "ann@example.com").await;
    wait_for(|| async { count("refresh_tokens").await == 1 }).await;
    wait_for(|| async { count("refresh_families").await == 1 }).await;
    let audit_before = count("audit_events").await;

    // A month on: every audit row written before is past retention.
    clock.advance(Duration::from_secs(31 * 86_400));
    app.logged_in(&live, "ann@example.com").await;
    wait_for(|| async { count("audit_events").await < audit_before }).await;
    wait_for(|| async { count("audit_events").await == 1 }).await;
    assert_eq!(one_row(&app, "login.success").await["outcome"], "success");
}

/// Polls `condition` for up to 10 s.
async fn wait_for<F, Fut>(condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}

#[tokio::test]
async fn a_due_rotation_is_one_row_under_the_key_scheduler() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| config.clock = clock.clone()).await;
    let before = app.keys.current_kid();

    clock.advance(Duration::from_secs(31 * 86_400));
    app.keys.refresh(clock.now()).await.unwrap();
    // A second instance's check at the same moment changes nothing more.
    app.keys.refresh(clock.now()).await.unwrap();

    let rotation = one_row(&app, "key.rotate").await;
    assert_eq!(rotation["actor_type"], "system");
    assert_eq!(rotation["actor_id"], "key-scheduler");
    assert_eq!(rotation["details"]["retired"], before.as_str());
    assert_eq!(rotation["target_id"], app.keys.current_kid().as_str());
    let published = rows(&app, "key.publish").await;
    assert_eq!(
        published.len(),
        2,
        "the first next key, and the one after the rotation"
    );
}

#[tokio::test]
async fn parallel_wrong_passwords_begin_exactly_one_lockout() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_user = 3).await;
    let client = app.create_client("password", "").await;
    app.create_user("ann@example.com").await;

    let api = app.api.clone();
    let statuses = parallel(12, |_| {
        let (api, client) = (api.clone(), client.clone());
        async move {
            let response = api
                .login(&client, "ann@example.com", "wrong password!", None)
                .await;
            response.status().as_u16()
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 400), 3, "{statuses:?}");
    assert_eq!(rows(&app, "login.failure").await.len(), 3);
    one_row(&app, "login.lockout").await;
}

#[tokio::test]
async fn parallel_admin_changes_to_one_user_are_both_kept() {
    let app = spawn_app().await;
    let ann = app.create_user("ann@example.com").await;
    let path = format!("/admin/users/{ann}");
    let token = app.admin_token().await;

    let api = app.api.clone();
    let bodies = [json!({ "disabled": true }), json!({ "admin": true })];
    let statuses = parallel(2, |i| {
        let (api, path, token, body) =
            (api.clone(), path.clone(), token.clone(), bodies[i].clone());
        async move {
            api.admin_json(Method::PATCH, &path, Some(&token), Some(body))
                .await
                .status()
                .as_u16()
        }
    })
    .await;

    assert_eq!(statuses, [200, 200]);
    let user = app.admin_ok(Method::GET, &path, None, 200).await;
    assert_eq!(user["disabled"], true, "{user}");
    assert_eq!(
        user["admin"], true,
        "neither change overwrote the other: {user}"
    );
}
