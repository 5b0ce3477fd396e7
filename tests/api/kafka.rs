//! The Kafka sink: the outbox relayed to a real Kafka-compatible broker (tansu, one per test,
//! behind a proxy the test cuts), read back with confluent-kafka, an independent client; on
//! SQLite and PostgreSQL alike.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    ISSUER, Kafka, NatsServer, PASSWORD, Received, Record, SigilProcess, TestApp, TestDatabase,
    kid_of, metric_reaches, spawn_app_with,
};

const WITHIN: Duration = Duration::from_secs(30);
/// Every topic of the catalogue, with the default prefix.
const TOPICS: [&str; 6] = [
    "auth.user",
    "auth.session",
    "auth.token",
    "auth.login",
    "auth.client",
    "auth.key",
];

/// The CloudEvents binary-mode headers, in the order sigil writes them.
const CE_HEADERS: [&str; 7] = [
    "ce_specversion",
    "ce_id",
    "ce_source",
    "ce_type",
    "ce_subject",
    "ce_time",
    "content-type",
];

/// Changes that write every kind of event of the catalogue but the key removal (days away):
/// users, sessions, tokens, failed logins, clients, keys.
async fn every_kind_of_change(app: &TestApp) {
    let user = app.create_user("ann@example.com").await;
    let path = format!("/admin/users/{user}");
    let verified = json!({ "email_verified": true, "display_name": "Ann" });
    app.admin_ok(Method::PATCH, &path, Some(verified), 200)
        .await;
    let client = app.create_client("password,refresh_token", "").await;
    let tokens = app.logged_in(&client, "ann@example.com").await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&client, refresh, None).await.status(), 200);
    let wrong = app
        .login(&client, "ann@example.com", "not the password", None)
        .await;
    assert_eq!(wrong.status(), 400);
    let body = json!({ "name": "billing", "grant_types": ["client_credentials"] });
    let created = app
        .admin_ok(Method::POST, "/admin/clients", Some(body), 201)
        .await;
    let billing = format!("/admin/clients/{}", created["client_id"].as_str().unwrap());
    app.admin_ok(Method::POST, &format!("{billing}/secret"), None, 200)
        .await;
    app.admin_ok(Method::DELETE, &billing, None, 204).await;
    app.admin_ok(Method::POST, "/admin/keys/rotate?force=true", None, 200)
        .await;
    let token = app.admin_token().await;
    let revoke = format!("/admin/keys/{}/revoke", kid_of(&token));
    let revoked = app.admin(Method::POST, &revoke, Some(&token)).await;
    assert_eq!(revoked.status(), 200);
    app.admin_ok(Method::DELETE, &path, None, 204).await;
}

#[tokio::test]
async fn with_nats_and_kafka_each_gets_every_event_kafka_as_binary_cloudevents_keyed_by_entity() {
    let (Some(kafka), Some(nats)) = (Kafka::start(), NatsServer::start()) else {
        return;
    };
    let mut events = nats.event_config();
    events.kafka = Some(kafka.sink_config());
    let app = spawn_app_with(move |config| config.events = Some(events)).await;

    every_kind_of_change(&app).await;

    let written = app
        .database
        .strings("SELECT id FROM outbox_events ORDER BY seq")
        .await;
    let on_nats = nats.events(written.len(), WITHIN).await;
    let records = kafka.records(&TOPICS, written.len(), WITHIN).await;
    let nats_by_id: HashMap<&str, &Received> = on_nats
        .iter()
        .map(|event| (event.msg_id.as_str(), event))
        .collect();
    let kafka_ids: HashSet<&str> = records
        .iter()
        .map(|record| record.header("ce_id"))
        .collect();
    let written: HashSet<&str> = written.iter().map(String::as_str).collect();
    assert_eq!(kafka_ids, written, "every event on Kafka, once");
    assert_eq!(
        nats_by_id.keys().copied().collect::<HashSet<_>>(),
        written,
        "and on NATS"
    );
    let kinds: HashSet<&str> = records
        .iter()
        .map(|record| record.header("ce_type"))
        .collect();
    for kind in [
        "auth.user.created",
        "auth.user.updated",
        "auth.user.email_verified",
        "auth.user.deleted",
        "auth.session.created",
        "auth.session.invalidated",
        "auth.token.issued",
        "auth.login.failed",
        "auth.client.created",
        "auth.client.secret_rotated",
        "auth.client.deleted",
        "auth.key.published",
        "auth.key.activated",
        "auth.key.revoked",
    ] {
        assert!(kinds.contains(kind), "{kind} missing on Kafka: {kinds:?}");
    }

    for record in &records {
        let event = nats_by_id[record.header("ce_id")];
        let envelope = &event.envelope;
        assert_eq!(record.header_names, CE_HEADERS, "binary mode headers");
        assert_eq!(record.header("ce_specversion"), "1.0");
        assert_eq!(record.header("ce_source"), ISSUER);
        assert_eq!(record.header("content-type"), "application/json");
        for attribute in ["type", "subject", "time"] {
            assert_eq!(
                record.header(&format!("ce_{attribute}")),
                envelope[attribute].as_str().unwrap(),
                "ce_{attribute} of {}",
                event.kind()
            );
        }
        let entity = event.kind().split('.').nth(1).unwrap();
        assert_eq!(record.topic, format!("auth.{entity}"), "topic per entity");
        assert_eq!(
            record.key.as_deref(),
            envelope["subject"].as_str(),
            "key = entity id"
        );
        assert_eq!(record.data(), envelope["data"], "value = the data");
        for secret in ["$argon2", "\"client_secret\"", "\"password\":", PASSWORD] {
            assert!(!record.value.as_deref().unwrap().contains(secret));
        }
    }
    assert_entity_order(&records, &on_nats);
}

/// One entity's records are on one partition, in the order the events happened (NATS'
/// stream order is commit order).
fn assert_entity_order(records: &[Record], commit_order: &[Received]) {
    let position: HashMap<&str, usize> = commit_order
        .iter()
        .enumerate()
        .map(|(at, event)| (event.msg_id.as_str(), at))
        .collect();
    let mut by_entity: BTreeMap<(&str, &str), Vec<&Record>> = BTreeMap::new();
    for record in records {
        let key = record.key.as_deref().unwrap();
        by_entity
            .entry((&record.topic, key))
            .or_default()
            .push(record);
    }
    for ((topic, key), mut records) in by_entity {
        let partitions: HashSet<i32> = records.iter().map(|record| record.partition).collect();
        assert_eq!(partitions.len(), 1, "{topic} {key}: one partition");
        records.sort_by_key(|record| record.offset);
        let order: Vec<usize> = records
            .iter()
            .map(|record| position[record.header("ce_id")])
            .collect();
        assert!(
            order.is_sorted(),
            "{topic} {key}: offsets follow commit order: {order:?}"
        );
    }
}

#[tokio::test]
async fn a_kafka_outage_under_registration_load_fails_no_request_holds_back_only_kafka_and_loses_nothing()
 {
    let (Some(kafka), Some(nats)) = (Kafka::start(), NatsServer::start()) else {
        return;
    };
    let mut events = nats.event_config();
    events.kafka = Some(kafka.sink_config());
    let app = spawn_app_with(move |config| config.events = Some(events)).await;
    app.create_user("first@example.com").await;
    kafka.records(&["auth.user"], 1, WITHIN).await;

    // 30 s without the broker while four clients register users back to back.
    kafka.cut();
    let cut_at = tokio::time::Instant::now();
    let registered = crate::helpers::parallel(4, |worker| {
        let api = app.api.clone();
        async move {
            let mut users = Vec::new();
            let mut n = 0;
            while cut_at.elapsed() < Duration::from_secs(30) {
                users.push(api.create_user(&format!("w{worker}-{n}@example.com")).await);
                n += 1;
            }
            users
        }
    })
    .await;
    let registered: Vec<String> = registered.into_iter().flatten().collect();
    assert!(
        registered.len() >= 20,
        "load: {} registrations",
        registered.len()
    );
    // NATS kept up; Kafka's rows wait, and say so.
    let pending = |sink: &'static str| {
        let sql = format!("SELECT sink FROM outbox_pending WHERE sink = '{sink}'");
        let database = &app.database;
        async move { database.strings(&sql).await.len() }
    };
    let kafka_waiting = pending("kafka").await;
    eprintln!(
        "{} registrations in the outage, {kafka_waiting} wait for Kafka",
        registered.len()
    );
    assert!(
        kafka_waiting >= registered.len() - 8,
        "{kafka_waiting} wait for Kafka"
    );
    metric_reaches(&app, r#"sigil_outbox_pending{sink="nats"} 0"#).await;
    let on_nats = nats.events(registered.len() + 1, WITHIN).await;
    assert!(on_nats.len() > registered.len());
    assert_eq!(
        app.get("/readyz").await.status(),
        200,
        "ready without Kafka"
    );
    kafka.restore();

    let records = kafka
        .records(&["auth.user"], registered.len() + 1, WITHIN * 2)
        .await;
    let mut ids_by_user: HashMap<&str, HashSet<&str>> = HashMap::new();
    for record in records
        .iter()
        .filter(|r| r.header("ce_type") == "auth.user.created")
    {
        ids_by_user
            .entry(record.key.as_deref().unwrap())
            .or_default()
            .insert(record.header("ce_id"));
    }
    for user in &registered {
        let ids = ids_by_user.get(user.as_str()).map_or(0, HashSet::len);
        assert_eq!(ids, 1, "{user}: delivered, duplicates only under one ce_id");
    }
    for _ in 0..200 {
        if pending("kafka").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending("kafka").await, 0, "the backlog drained");
    let unsent = app
        .database
        .strings("SELECT id FROM outbox_events WHERE sent_at IS NULL")
        .await;
    assert!(
        unsent.is_empty(),
        "every event done once both sinks have it"
    );
}

#[tokio::test]
async fn events_committed_before_a_kill_are_all_delivered_to_kafka_after_the_restart() {
    let Some(kafka) = Kafka::start() else {
        return;
    };
    let database = TestDatabase::create().await;
    let flags = [
        "--kafka-brokers",
        kafka.brokers.as_str(),
        "--kafka-partitions",
        "3",
    ];
    let sigil = SigilProcess::serve(&database, &flags);
    let api = sigil.api();
    api.create_user("first@example.com").await;
    kafka.records(&["auth.user"], 1, WITHIN).await;

    // Committed, sent or not, never reported delivered: the broker is cut off.
    kafka.cut();
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(api.create_user(&format!("user{i}@example.com")).await);
    }
    let waiting = database
        .strings("SELECT sink FROM outbox_pending WHERE sink = 'kafka'")
        .await;
    assert_eq!(waiting.len(), 5);
    sigil.kill();
    kafka.restore();

    let sigil = SigilProcess::serve(&database, &flags);
    let records = kafka.records(&["auth.user"], 6, WITHIN).await;
    for user in &users {
        let ids: HashSet<&str> = records
            .iter()
            .filter(|record| record.key.as_deref() == Some(user.as_str()))
            .map(|record| record.header("ce_id"))
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "{user} delivered, under one ce_id: {records:?}"
        );
    }
    drop(sigil);
}
