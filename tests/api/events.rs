//! Events: the outbox relayed to a real nats-server with JetStream (one per test), on SQLite
//! and PostgreSQL alike.

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    ISSUER, NatsServer, PASSWORD, Received, TestApp, kid_of, metric_reaches, spawn_app_with,
};

const WITHIN: Duration = Duration::from_secs(20);

fn events_to(nats: &NatsServer) -> sigil::config::EventConfig {
    nats.event_config()
}

async fn app_publishing_to(nats: &NatsServer) -> TestApp {
    let events = events_to(nats);
    spawn_app_with(move |config| config.events = Some(events)).await
}

/// Fails if any event carries a secret, a hash or a token.
fn assert_no_secret(events: &[Received], secrets: &[&str]) {
    for event in events {
        // Field names too: `password` may appear only as a grant type's name.
        let fields = [
            "$argon2",
            "\"client_secret\"",
            "\"password\":",
            "\"password_hash\"",
        ];
        for secret in secrets.iter().chain(fields.iter()) {
            assert!(
                !event.raw.contains(secret),
                "{} carries {secret:?}: {}",
                event.kind(),
                event.raw
            );
        }
    }
}

#[tokio::test]
async fn user_and_client_changes_publish_one_cloudevent_each_in_commit_order() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let app = app_publishing_to(&nats).await;

    // Users: self-registration, an admin change, deletion.
    let user = app.create_user("ann@example.com").await;
    let path = format!("/admin/users/{user}");
    app.admin_ok(
        Method::PATCH,
        &path,
        Some(json!({ "disabled": true, "admin": true })),
        200,
    )
    .await;
    app.admin_ok(Method::DELETE, &path, None, 204).await;
    // Clients: registration, a change, a new secret, deletion.
    let body = json!({ "name": "billing", "grant_types": ["client_credentials"], "scope": "invoices:read" });
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    let client = created["client_id"].as_str().unwrap().to_owned();
    let first_secret = created["client_secret"].as_str().unwrap().to_owned();
    let path = format!("/admin/clients/{client}");
    app.admin_ok(
        Method::PATCH,
        &path,
        Some(json!({ "name": "billing-v2" })),
        200,
    )
    .await;
    let rotated = app
        .admin_ok(Method::POST, &format!("{path}/secret"), None, 200)
        .await;
    let second_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    app.admin_ok(Method::DELETE, &path, None, 204).await;

    // The first is the bootstrap's admin client, created when the server started.
    let mut events = nats.events(8, WITHIN).await;
    let bootstrap = events.remove(0);
    assert_eq!(bootstrap.subject, "auth.client.bootstrap-admin.created");

    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|event| (event.subject.as_str(), event.kind()))
        .collect();
    let user_subject = |verb| format!("auth.user.{user}.{verb}");
    let client_subject = |verb| format!("auth.client.{client}.{verb}");
    let expected = [
        (user_subject("created"), "auth.user.created"),
        (user_subject("updated"), "auth.user.updated"),
        (user_subject("deleted"), "auth.user.deleted"),
        (client_subject("created"), "auth.client.created"),
        (client_subject("updated"), "auth.client.updated"),
        (
            client_subject("secret_rotated"),
            "auth.client.secret_rotated",
        ),
        (client_subject("deleted"), "auth.client.deleted"),
    ];
    let expected: Vec<(&str, &str)> = expected.iter().map(|(s, k)| (s.as_str(), *k)).collect();
    assert_eq!(seen, expected, "each change once, in commit order");

    for event in &events {
        let envelope = &event.envelope;
        assert_eq!(envelope["specversion"], "1.0");
        assert_eq!(envelope["source"], ISSUER);
        assert_eq!(envelope["datacontenttype"], "application/json");
        assert_eq!(
            envelope["id"],
            event.msg_id.as_str(),
            "Nats-Msg-Id is the event id"
        );
        assert!(uuid::Uuid::parse_str(&event.msg_id).is_ok());
        assert!(chrono::DateTime::parse_from_rfc3339(envelope["time"].as_str().unwrap()).is_ok());
    }
    let data = |i: usize| &events[i].envelope["data"];
    assert_eq!(events[0].envelope["subject"], user.as_str());
    assert_eq!(
        data(0),
        &json!({ "user_id": user, "email": "ann@example.com", "email_verified": false,
                 "admin": false, "disabled": false, "display_name": null })
    );
    assert_eq!(data(1)["changed"], json!(["disabled", "admin"]));
    assert_eq!(
        (data(1)["disabled"].clone(), data(1)["admin"].clone()),
        (json!(true), json!(true))
    );
    assert_eq!(data(2)["user_id"], user.as_str());
    assert_eq!(events[3].envelope["subject"], client.as_str());
    assert_eq!(
        data(3),
        &json!({ "client_id": client, "name": "billing",
                 "grant_types": ["client_credentials"], "scope": "invoices:read" })
    );
    assert_eq!(data(4)["name"], "billing-v2");
    assert_no_secret(&events, &[&first_secret, &second_secret, PASSWORD]);
}

#[tokio::test]
async fn without_a_broker_url_nothing_is_written_to_the_outbox() {
    let app = crate::helpers::spawn_app().await;

    app.create_user("ann@example.com").await;

    let rows = app.database.strings("SELECT id FROM outbox_events").await;
    assert!(rows.is_empty(), "{rows:?}");
}

#[tokio::test]
async fn a_broker_outage_fails_no_request_and_the_backlog_drains_in_order_once_it_is_back() {
    let Some(mut nats) = NatsServer::start() else {
        return;
    };
    let app = app_publishing_to(&nats).await;
    app.create_user("first@example.com").await;
    nats.events(2, WITHIN).await;

    nats.stop();
    let mut users = Vec::new();
    for i in 0..20 {
        users.push(app.create_user(&format!("user{i}@example.com")).await);
    }
    assert_eq!(pending_events(&app).await, 20, "rows wait in the outbox");
    metric_reaches(&app, r#"sigil_outbox_pending{sink="nats"} 20"#).await;
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "ready without a broker"
    );
    nats.restart();

    let events = nats.events(22, WITHIN).await;
    let created: Vec<&str> = events
        .iter()
        .filter(|event| event.kind() == "auth.user.created")
        .skip(1)
        .map(|event| event.envelope["subject"].as_str().unwrap())
        .collect();
    let expected: Vec<&str> = users.iter().map(String::as_str).collect();
    assert_eq!(created, expected, "drained oldest first, each once");
    let ids: HashSet<&str> = events.iter().map(|event| event.msg_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "no duplicate reached the stream");
    assert_eq!(wait_for_drain(&app).await, 0);
    metric_reaches(&app, r#"sigil_outbox_pending{sink="nats"} 0"#).await;
    metric_reaches(
        &app,
        r#"sigil_events_published_total{sink="nats",type="auth.user.created"} 21"#,
    )
    .await;
}

#[tokio::test]
async fn events_committed_before_a_crash_are_all_delivered_after_the_restart() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let database = crate::helpers::TestDatabase::create().await;
    let url = nats.url.clone();
    let flags = ["--nats-url", url.as_str()];
    let sigil = crate::helpers::SigilProcess::serve(&database, &flags);
    let api = sigil.api();
    api.create_user("first@example.com").await;
    nats.events(2, WITHIN).await;

    // The broker freezes: publishes go out, acknowledgements never come back.
    nats.pause();
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(api.create_user(&format!("user{i}@example.com")).await);
    }
    let pending = database
        .strings("SELECT id FROM outbox_events WHERE sent_at IS NULL")
        .await;
    assert_eq!(
        pending.len(),
        5,
        "committed, published or not, never acknowledged"
    );
    sigil.kill();
    nats.resume();

    let sigil = crate::helpers::SigilProcess::serve(&database, &flags);
    let events = nats.events(7, WITHIN).await;
    let created: Vec<&str> = events
        .iter()
        .filter(|event| event.kind() == "auth.user.created")
        .map(|event| event.envelope["subject"].as_str().unwrap())
        .collect();
    for user in &users {
        assert_eq!(
            created.iter().filter(|id| *id == user).count(),
            1,
            "{user} delivered exactly once to the stream: {created:?}"
        );
    }
    drop(sigil);
}

async fn pending_events(app: &TestApp) -> usize {
    app.database
        .strings("SELECT id FROM outbox_events WHERE sent_at IS NULL")
        .await
        .len()
}

async fn wait_for_drain(app: &TestApp) -> usize {
    for _ in 0..100 {
        let pending = pending_events(app).await;
        if pending == 0 {
            return 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    pending_events(app).await
}

#[tokio::test]
async fn two_instances_on_one_postgresql_publish_every_event_once() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let database = crate::helpers::TestDatabase::create().await;
    if !database.is_postgres() {
        eprintln!("skipped: several instances share one database only on PostgreSQL");
        return;
    }
    let mut config = crate::helpers::test_config(&database);
    config.events = Some(events_to(&nats));
    let a = crate::helpers::RunningServer::start(config.clone()).await;
    let b = crate::helpers::RunningServer::start(config).await;

    // Registrations through both at once: both relays see rows written by both.
    let registered = crate::helpers::parallel(20, |i| {
        let api = if i % 2 == 0 { a.api() } else { b.api() };
        async move { api.create_user(&format!("user{i}@example.com")).await }
    })
    .await;

    // And, from the first start on this fresh database: the admin client and the first keys.
    let expected = registered.len() + 4;
    nats.events(expected, WITHIN).await;
    // Long enough for a second publication of any row to reach the broker too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = nats.events(expected, WITHIN).await;
    assert_eq!(events.len(), expected, "nothing more in the stream");
    let ids: HashSet<&str> = events.iter().map(|event| event.msg_id.as_str()).collect();
    assert_eq!(ids.len(), expected, "each event once in the stream");
    let kinds: Vec<&str> = events.iter().map(Received::kind).collect();
    let activated = kinds
        .iter()
        .filter(|kind| **kind == "auth.key.activated")
        .count();
    assert_eq!(
        activated, 1,
        "one key activated, by one instance: {kinds:?}"
    );
    // The stream drops a duplicate id, so count at the publishers: each row left one relay.
    let published = |api: crate::helpers::Api| async move {
        let metrics = api.get("/metrics").await.text().await.unwrap();
        let line = r#"sigil_events_published_total{sink="nats",type="auth.user.created"} "#;
        metrics
            .lines()
            .find_map(|shown| shown.strip_prefix(line))
            .map_or(0, |count| count.parse::<usize>().unwrap())
    };
    assert_eq!(
        published(a.api()).await + published(b.api()).await,
        registered.len()
    );
    let users: HashSet<&str> = events
        .iter()
        .filter(|event| event.kind() == "auth.user.created")
        .map(|event| event.envelope["subject"].as_str().unwrap())
        .collect();
    let registered: HashSet<&str> = registered.iter().map(String::as_str).collect();
    assert_eq!(users, registered);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn each_key_transition_publishes_one_event_with_the_public_key_only() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let app = app_publishing_to(&nats).await;
    let token = app.admin_token().await;
    let first = kid_of(&token);

    let rotated = app
        .admin(Method::POST, "/admin/keys/rotate?force=true", Some(&token))
        .await;
    assert_eq!(rotated.status(), 200);
    let token = app.admin_token().await;
    let second = kid_of(&token);
    let revoked = app
        .admin(
            Method::POST,
            &format!("/admin/keys/{second}/revoke"),
            Some(&token),
        )
        .await;
    assert_eq!(revoked.status(), 200);

    let events: Vec<Received> = nats
        .events(7, WITHIN)
        .await
        .into_iter()
        .filter(|event| event.kind().starts_with("auth.key."))
        .collect();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|event| (event.kind(), event.envelope["subject"].as_str().unwrap()))
        .collect();
    let third = seen[2].1;
    let fourth = seen[5].1;
    assert_eq!(
        seen,
        [
            ("auth.key.retired", first.as_str()),
            ("auth.key.activated", second.as_str()),
            ("auth.key.published", third),
            ("auth.key.revoked", second.as_str()),
            ("auth.key.activated", third),
            ("auth.key.published", fourth),
        ],
        "one event per transition, in order"
    );
    for event in &events {
        let data = &event.envelope["data"];
        assert_eq!(data["kid"], event.envelope["subject"]);
        assert_eq!(data["alg"], "RS256");
        assert_eq!(data["jwk"]["kid"], data["kid"]);
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                data["jwk"].get(private).is_none(),
                "private member {private}"
            );
        }
    }
    let state = |i: usize| events[i].envelope["data"]["state"].as_str().unwrap();
    assert_eq!(
        [state(0), state(1), state(2), state(3), state(4), state(5)],
        ["retired", "current", "next", "removed", "current", "next"]
    );
}

#[tokio::test]
async fn sessions_tokens_and_failed_logins_publish_their_events_without_a_secret() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let app = app_publishing_to(&nats).await;
    let client = app.create_client("password,refresh_token", "").await;
    let user = app.create_user("ann@example.com").await;
    let mut tokens = Vec::new();
    let mut keep = |body: &serde_json::Value| {
        for field in ["access_token", "refresh_token"] {
            tokens.push(body[field].as_str().unwrap().to_owned());
        }
        body["refresh_token"].as_str().unwrap().to_owned()
    };

    // A login, a refresh, then the spent token presented again (reuse ends the session).
    let first = keep(&app.logged_in(&client, "ann@example.com").await);
    let refreshed = app.refresh(&client, &first, None).await;
    assert_eq!(refreshed.status(), 200);
    keep(&refreshed.json().await.unwrap());
    assert_eq!(app.refresh(&client, &first, None).await.status(), 400);
    // A login ended by logout; one ended by revocation.
    let second = keep(&app.logged_in(&client, "ann@example.com").await);
    let fields = [("refresh_token", second.as_str())];
    assert_eq!(
        app.client_post("/logout", &client, &fields).await.status(),
        204
    );
    let third = keep(&app.logged_in(&client, "ann@example.com").await);
    let fields = [("token", third.as_str())];
    assert_eq!(
        app.client_post("/revoke", &client, &fields).await.status(),
        200
    );
    // Failed logins: a wrong password, and a password typed as the username.
    let wrong = app
        .login(&client, "ann@example.com", "not the password", None)
        .await;
    assert_eq!(wrong.status(), 400);
    let misplaced = app.login(&client, PASSWORD, PASSWORD, None).await;
    assert_eq!(misplaced.status(), 400);
    // A password reset ends the live session; deleting the user ends the next one.
    keep(&app.logged_in(&client, "ann@example.com").await);
    let path = format!("/admin/users/{user}");
    let reset = json!({ "password": "a brand new password" });
    app.admin_ok(Method::PATCH, &path, Some(reset), 200).await;
    let body = app
        .login(&client, "ann@example.com", "a brand new password", None)
        .await
        .json()
        .await
        .unwrap();
    keep(&body);
    app.admin_ok(Method::DELETE, &path, None, 204).await;

    let events = nats.events(22, WITHIN).await;
    let sessions: Vec<(&str, &str)> = events
        .iter()
        .filter(|event| {
            event.kind().starts_with("auth.session.") || event.kind() == "auth.token.issued"
        })
        .map(|event| {
            let data = &event.envelope["data"];
            let detail = data["reason"]
                .as_str()
                .or(data["grant_type"].as_str())
                .unwrap_or("");
            (event.kind(), detail)
        })
        .collect();
    assert_eq!(
        sessions,
        [
            ("auth.session.created", ""),
            ("auth.token.issued", "password"),
            ("auth.token.issued", "refresh_token"),
            ("auth.session.invalidated", "reuse_detected"),
            ("auth.session.created", ""),
            ("auth.token.issued", "password"),
            ("auth.session.invalidated", "logout"),
            ("auth.session.created", ""),
            ("auth.token.issued", "password"),
            ("auth.session.invalidated", "revoked"),
            ("auth.session.created", ""),
            ("auth.token.issued", "password"),
            ("auth.session.invalidated", "password_changed"),
            ("auth.session.created", ""),
            ("auth.token.issued", "password"),
            ("auth.session.invalidated", "user_deleted"),
        ]
    );
    let created = events
        .iter()
        .find(|event| event.kind() == "auth.session.created")
        .unwrap();
    let session = created.envelope["subject"].as_str().unwrap();
    assert_eq!(
        created.envelope["data"],
        json!({ "session_id": session, "user_id": user, "client_id": client.id, "method": "password", "ip": "127.0.0.1" })
    );
    let issued = events
        .iter()
        .find(|event| event.kind() == "auth.token.issued")
        .unwrap();
    let claims = claims_of(&tokens[0]);
    let data = &issued.envelope["data"];
    assert_eq!(
        data["jti"], claims["jti"],
        "the event names the token by its jti"
    );
    assert_eq!(data["exp"], claims["exp"]);
    assert_eq!(
        (data["user_id"].as_str(), data["session_id"].as_str()),
        (Some(user.as_str()), Some(session))
    );
    let failed: Vec<&serde_json::Value> = events
        .iter()
        .filter(|event| event.kind() == "auth.login.failed")
        .map(|event| &event.envelope["data"])
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(
        (
            failed[0]["username"].as_str(),
            failed[0]["reason"].as_str(),
            failed[0]["user_id"].as_str()
        ),
        (
            Some("ann@example.com"),
            Some("wrong_password"),
            Some(user.as_str())
        )
    );
    assert!(
        failed[1]["username"].is_null(),
        "a non-email username is not kept: {}",
        failed[1]
    );
    let secrets: Vec<&str> = tokens.iter().map(String::as_str).collect();
    assert_no_secret(
        &events,
        &[
            &secrets[..],
            &[client.secret.as_str(), "a brand new password"],
        ]
        .concat(),
    );
}

/// The claims of a JWS, unverified (the event is compared with the token it names).
fn claims_of(token: &str) -> serde_json::Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

#[tokio::test]
async fn a_change_made_at_the_command_line_is_published_by_the_running_server() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let app = app_publishing_to(&nats).await;

    let args = [
        "client",
        "create",
        "--name",
        "batch",
        "--grant-types",
        "client_credentials",
        "--json",
    ];
    let created = crate::helpers::sigil_command(&app.database, &args, &[("NATS_URL", &nats.url)]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let client: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();

    // The bootstrap's admin client, then this one (published by the server's relay).
    let events = nats.events(2, WITHIN).await;
    let last = events.last().unwrap();
    assert_eq!(last.kind(), "auth.client.created");
    assert_eq!(last.envelope["subject"], client["client_id"]);
    assert_eq!(last.envelope["data"]["name"], "batch");
}

#[tokio::test]
async fn client_credentials_tokens_publish_token_issued_only_when_asked_to() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let mut events = events_to(&nats);
    events.client_credentials = true;
    let with = spawn_app_with(move |config| config.events = Some(events)).await;
    let quiet = app_publishing_to(&nats).await;
    let machine = with.create_client("client_credentials", "").await;
    let token = with.client_credentials_token(&machine).await;
    let other = quiet.create_client("client_credentials", "").await;
    quiet.client_credentials_token(&other).await;

    // Two bootstrap admin clients (one per app), then the one token asked for.
    let events = nats.events(3, WITHIN).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let issued: Vec<Received> = nats
        .events(3, WITHIN)
        .await
        .into_iter()
        .filter(|event| event.kind() == "auth.token.issued")
        .collect();
    assert_eq!(
        issued.len(),
        1,
        "only the app asked to publishes them: {events:?}"
    );
    let claims = claims_of(&token);
    assert_eq!(
        issued[0].envelope["data"],
        json!({ "grant_type": "client_credentials", "user_id": null, "client_id": machine.id,
                "session_id": null, "jti": claims["jti"], "exp": claims["exp"] })
    );
}
