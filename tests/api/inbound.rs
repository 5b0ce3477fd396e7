//! Inbound user events: a directory's `user.created` / `.updated` / `.deleted` read from a
//! real nats-server (JetStream) or a real Kafka-compatible broker (tansu, written to with
//! confluent-kafka), every message delivered twice, malformed ones among them; on SQLite and
//! PostgreSQL alike. The invitation arrives at a real SMTP server and its link sets the
//! password.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    ISSUER, Kafka, NatsServer, SmtpSink, TestApp, metric_reaches, spawn_app_with,
};

const WITHIN: Duration = Duration::from_secs(60);
const RESET_LINK: &str = "https://sigil.test/tenant/password/reset?token=";
const CHOSEN: &str = "a password of my own choosing";
const DIRECTORY: &str = "https://directory.test";

/// A directory event, `minutes` after a fixed time, as structured JSON.
fn event(id: &str, kind: &str, minutes: i64, data: Value) -> Value {
    let time = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z").unwrap()
        + chrono::Duration::minutes(minutes);
    json!({
        "specversion": "1.0", "id": id, "type": kind, "source": DIRECTORY,
        "time": time.to_rfc3339(), "datacontenttype": "application/json", "data": data,
    })
}

/// One message to publish: headers (Kafka binary mode) and body.
struct Outgoing {
    headers: Vec<(String, String)>,
    body: String,
}

fn structured(event: Value) -> Outgoing {
    Outgoing {
        headers: Vec::new(),
        body: event.to_string(),
    }
}

/// Every message twice, as an at-least-once broker may deliver it.
fn twice(messages: Vec<Outgoing>) -> Vec<Outgoing> {
    messages
        .into_iter()
        .flat_map(|message| {
            let copy = Outgoing {
                headers: message.headers.clone(),
                body: message.body.clone(),
            };
            [message, copy]
        })
        .collect()
}

/// Five messages that are no directory event, then a valid one.
fn malformed() -> Vec<Outgoing> {
    let mut bad_email = event(
        "m-4",
        "user.created",
        0,
        json!({ "id": "x", "email": "nope" }),
    );
    bad_email["data"]["email"] = json!("not an email");
    vec![
        Outgoing {
            headers: Vec::new(),
            body: "this is not JSON".into(),
        },
        structured(json!({ "type": "user.created", "data": { "id": "y" } })),
        structured(event("m-3", "user.renamed", 0, json!({ "id": "z" }))),
        structured(bad_email),
        structured(event(
            "m-5",
            "user.created",
            0,
            json!({ "id": "big", "email": "big@example.com", "pad": "x".repeat(100_000) }),
        )),
    ]
}

/// The first batch: Ann and Bea created, Ann updated, then an older update of Ann (stale),
/// sigil's own event, and the malformed ones before Bea's creation.
fn first_batch(binary: bool) -> Vec<Outgoing> {
    let update = |id: &str, minutes, data| {
        let event = event(id, "user.updated", minutes, data);
        if binary {
            binary_mode(&event)
        } else {
            structured(event)
        }
    };
    let mut own = event(
        "own-1",
        "auth.user.created",
        0,
        json!({ "id": "o", "email": "own@example.com" }),
    );
    own["source"] = json!(ISSUER);
    let mut messages = twice(vec![structured(event(
        "e-1",
        "user.created",
        0,
        json!({ "id": "ann", "email": "ann@example.com" }),
    ))]);
    messages.extend(malformed());
    messages.extend(twice(vec![
        structured(event(
            "e-2",
            "user.created",
            1,
            json!({ "id": 42, "email": "bea@example.com" }),
        )),
        update(
            "e-3",
            10,
            json!({ "id": "ann", "display_name": "Ann B", "email_verified": true }),
        ),
        update(
            "e-4",
            5,
            json!({ "id": "ann", "display_name": "Old", "disabled": true }),
        ),
        structured(own),
    ]));
    messages
}

/// The second batch: Ann disabled, Bea deleted.
fn second_batch() -> Vec<Outgoing> {
    twice(vec![
        structured(event(
            "e-5",
            "user.updated",
            20,
            json!({ "id": "ann", "disabled": true }),
        )),
        structured(event("e-6", "user.deleted", 21, json!({ "id": 42 }))),
    ])
}

/// The CloudEvents Kafka binary mode of `event`: attributes as `ce_` headers, data as value.
fn binary_mode(event: &Value) -> Outgoing {
    let header = |name: &str| {
        (
            format!("ce_{name}"),
            event[name].as_str().unwrap().to_owned(),
        )
    };
    Outgoing {
        headers: vec![
            header("specversion"),
            header("id"),
            header("type"),
            header("source"),
            header("time"),
            ("content-type".into(), "application/json".into()),
        ],
        body: event["data"].to_string(),
    }
}

async fn inbox(app: &TestApp, rows: usize) -> Vec<String> {
    let sql = "SELECT event_id || ' ' || outcome FROM inbound_events ORDER BY event_id";
    for _ in 0..(WITHIN.as_millis() / 100) {
        let found = app.database.strings(sql).await;
        if found.len() >= rows {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "fewer than {rows} inbox rows: {:?}",
        app.database.strings(sql).await
    );
}

/// The whole exchange, whatever brings the messages: `publish` sends a batch.
async fn the_directory_drives_the_users<F, Fut>(
    app: &TestApp,
    sink: &SmtpSink,
    binary: bool,
    publish: F,
) where
    F: Fn(Vec<Outgoing>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    publish(first_batch(binary)).await;

    let rows = inbox(app, 10).await;
    let expected = [
        "e-1 applied",
        "e-2 applied",
        "e-3 applied",
        "e-4 stale",
        "m-3 rejected",
        "m-4 rejected",
        "own-1 ignored",
    ];
    for row in expected {
        assert!(rows.iter().any(|found| found == row), "{row} in {rows:?}");
    }
    let by_position = rows
        .iter()
        .filter(|row| row.starts_with("position:"))
        .count();
    assert_eq!(by_position, 3, "not JSON, no id, too large: {rows:?}");
    assert_eq!(
        rows.len(),
        10,
        "each message once, duplicates added nothing: {rows:?}"
    );
    for reason in [
        "not_json",
        "missing_id",
        "unknown_type",
        "bad_email",
        "too_large",
    ] {
        let line = format!(r#"sigil_inbound_rejected_total{{reason="{reason}"}} 1"#);
        metric_reaches(app, &line).await;
    }
    metric_reaches(app, r#"sigil_inbound_events_total{outcome="applied"} 3"#).await;
    let audited = app
        .database
        .strings("SELECT action FROM audit_events WHERE action = 'directory.event' AND outcome = 'failure'")
        .await;
    assert_eq!(audited.len(), 5, "each rejection audited");
    let ann = app
        .admin_ok(reqwest::Method::GET, "/admin/users?limit=200", None, 200)
        .await;
    let users = ann["users"].as_array().unwrap();
    let find = |email: &str| users.iter().find(|user| user["username"] == email).cloned();
    let ann = find("ann@example.com").unwrap_or_else(|| panic!("Ann created: {users:?} {rows:?}"));
    assert_eq!(ann["display_name"], "Ann B");
    assert_eq!(ann["email_verified"], true);
    assert_eq!(ann["disabled"], false, "the older update was ignored");
    assert!(
        find("bea@example.com").is_some(),
        "the valid event after the malformed ones"
    );
    assert!(
        find("own@example.com").is_none(),
        "sigil's own event is not applied"
    );

    // The invitation's link chooses a password; a login follows.
    let mails = sink.messages(2, WITHIN).await;
    let invitation = mails
        .iter()
        .find(|mail| {
            mail.header("To")
                .unwrap_or_default()
                .contains("ann@example.com")
        })
        .expect("Ann's invitation");
    assert_eq!(
        invitation.header("Subject").as_deref(),
        Some("Choose your password for sigil.test")
    );
    let token = invitation.token(RESET_LINK);
    let chosen = app
        .post_json(
            "/password/reset",
            json!({ "token": token, "password": CHOSEN }),
        )
        .await;
    assert_eq!(chosen.status(), 204, "{:?}", chosen.text().await);
    let client = app.create_client("password,refresh_token", "").await;
    let login = app.login(&client, "ann@example.com", CHOSEN, None).await;
    assert_eq!(login.status(), 200);
    let session: Value = login.json().await.unwrap();

    publish(second_batch()).await;

    inbox(app, 12).await;
    let refresh = session["refresh_token"].as_str().unwrap();
    assert_eq!(
        app.refresh(&client, refresh, None).await.status(),
        400,
        "disabling ended the session"
    );
    let gone = app
        .database
        .strings("SELECT user_id FROM users WHERE email = 'bea@example.com'")
        .await;
    assert!(gone.is_empty(), "Bea deleted");
}

fn directory_app_config(
    events: sigil::config::EventConfig,
    sink: &SmtpSink,
) -> impl FnOnce(&mut sigil::config::Config) {
    let mail = sink.mail_config();
    move |config| {
        config.events = Some(events);
        config.mail = Some(mail);
    }
}

#[tokio::test]
async fn a_directory_on_nats_creates_updates_and_deletes_users_once_each() {
    let (Some(nats), Some(sink)) = (NatsServer::start(), SmtpSink::start()) else {
        return;
    };
    // The directory's own stream, as it would have it.
    let client = async_nats::connect(&nats.url).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "DIRECTORY".into(),
            subjects: vec!["directory.users".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let mut events = nats.event_config();
    events.inbound_users = Some(sigil::config::InboundUsers::Nats("directory.users".into()));
    let app = spawn_app_with(directory_app_config(events, &sink)).await;

    let publish = |messages: Vec<Outgoing>| {
        let jetstream = jetstream.clone();
        async move {
            for message in messages {
                let ack = jetstream
                    .publish("directory.users", message.body.into())
                    .await
                    .unwrap();
                ack.await.unwrap();
            }
        }
    };
    the_directory_drives_the_users(&app, &sink, false, publish).await;

    // sigil's own outbound events: Ann's creation once, never read back.
    let written = app
        .database
        .strings("SELECT id FROM outbox_events")
        .await
        .len();
    let outbound = nats.events(written, WITHIN).await;
    let created: Vec<&Value> = outbound
        .iter()
        .filter(|event| event.kind() == "auth.user.created")
        .map(|event| &event.envelope["data"])
        .collect();
    let ann = created
        .iter()
        .filter(|data| data["email"] == "ann@example.com")
        .count();
    assert_eq!(ann, 1, "{created:?}");
}

#[tokio::test]
async fn a_directory_on_kafka_creates_updates_and_deletes_users_once_each() {
    let (Some(kafka), Some(sink)) = (Kafka::start(), SmtpSink::start()) else {
        return;
    };
    let events = sigil::config::EventConfig {
        nats: None,
        kafka: Some(kafka.sink_config()),
        subject_prefix: "auth".into(),
        retention: Duration::from_secs(86_400),
        client_credentials: false,
        inbound_users: Some(sigil::config::InboundUsers::Kafka("directory.users".into())),
    };
    // The directory's topic, as it would have it before sigil subscribes.
    kafka.produce("directory.users", &[]).await;
    let app = spawn_app_with(directory_app_config(events, &sink)).await;

    let publish = |messages: Vec<Outgoing>| {
        let records: Vec<Value> = messages
            .into_iter()
            .map(|message| json!({ "value": message.body, "headers": message.headers }))
            .collect();
        let kafka = &kafka;
        async move { kafka.produce("directory.users", &records).await }
    };
    the_directory_drives_the_users(&app, &sink, true, publish).await;

    let written = "SELECT id FROM outbox_events WHERE entity = 'user'";
    let written = app.database.strings(written).await.len();
    let outbound = kafka.records(&["auth.user"], written, WITHIN).await;
    let ann = outbound
        .iter()
        .filter(|record| record.header("ce_type") == "auth.user.created")
        .filter(|record| record.data()["email"] == "ann@example.com")
        .count();
    assert_eq!(ann, 1);
}
