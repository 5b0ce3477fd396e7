use chrono::{Duration, Utc};
use serde_json::{Value, json};

use super::*;
use crate::domain::Email;
use crate::oauth::testing::Harness;

async fn harness() -> Harness {
    Harness::with(|settings| settings.mail = true).await
}

/// A structured CloudEvent from the directory, `minutes` after a fixed time.
fn message(id: &str, kind: &str, minutes: i64, data: Value) -> InboundMessage {
    let time = chrono::DateTime::parse_from_rfc3339("2026-12-07T10:00:00Z").unwrap()
        + Duration::minutes(minutes);
    let envelope = json!({
        "specversion": "1.0", "id": id, "type": kind, "source": "https://directory.test",
        "time": time.to_rfc3339(), "data": data,
    });
    InboundMessage {
        position: format!("nats:USERS:{id}"),
        headers: Vec::new(),
        body: envelope.to_string().into_bytes(),
    }
}

async fn receive(h: &Harness, message: &InboundMessage) -> Option<InboundOutcome> {
    h.sigil
        .directory
        .receive(message, Utc::now())
        .await
        .unwrap()
}

async fn user(h: &Harness, email: &str) -> Option<crate::store::User> {
    let email = Email::parse(email).unwrap();
    h.sigil.store.find_user_by_email(&email).await.unwrap()
}

#[tokio::test]
async fn created_makes_a_password_less_user_once_and_queues_one_invitation() {
    let h = harness().await;
    let created = message(
        "e1",
        "user.created",
        0,
        json!({ "id": "d-1", "email": "ann@example.com", "display_name": "Ann" }),
    );

    assert_eq!(receive(&h, &created).await, Some(InboundOutcome::Applied));
    assert_eq!(
        receive(&h, &created).await,
        None,
        "a redelivery changes nothing"
    );

    let ann = user(&h, "ann@example.com").await.unwrap();
    assert_eq!(ann.password_hash, NO_PASSWORD);
    assert_eq!(ann.display_name.as_deref(), Some("Ann"));
    assert_eq!(
        h.sigil.store.mail_backlog().await.unwrap().0,
        1,
        "one invitation"
    );
    let mut tx = h.sigil.store.begin().await.unwrap();
    let linked = tx.lock_external_user("d-1").await.unwrap().unwrap();
    assert_eq!(linked.0, ann.id);
}

#[tokio::test]
async fn updates_apply_in_time_order_and_an_older_one_is_stale() {
    let h = harness().await;
    let created = json!({ "id": "d-1", "email": "ann@example.com" });
    receive(&h, &message("e1", "user.created", 0, created)).await;
    let newer = json!({ "id": "d-1", "email": "ann@new.example.com", "display_name": "Ann B", "email_verified": true });
    let older = json!({ "id": "d-1", "display_name": "Old name", "disabled": true });

    let applied = receive(&h, &message("e3", "user.updated", 10, newer)).await;
    let stale = receive(&h, &message("e2", "user.updated", 5, older)).await;

    assert_eq!(applied, Some(InboundOutcome::Applied));
    assert_eq!(stale, Some(InboundOutcome::Stale));
    let ann = user(&h, "ann@new.example.com").await.unwrap();
    assert_eq!(ann.display_name.as_deref(), Some("Ann B"));
    assert!(ann.email_verified);
    assert!(!ann.disabled, "the stale event changed nothing");
    assert!(user(&h, "ann@example.com").await.is_none());
}

#[tokio::test]
async fn deleted_deletes_and_later_events_for_that_user_are_ignored() {
    let h = harness().await;
    receive(
        &h,
        &message(
            "e1",
            "user.created",
            0,
            json!({ "id": 7, "email": "bob@example.com" }),
        ),
    )
    .await;

    let deleted = receive(
        &h,
        &message("e2", "com.acme.user.deleted", 1, json!({ "id": 7 })),
    )
    .await;
    let after = receive(
        &h,
        &message(
            "e3",
            "user.updated",
            2,
            json!({ "id": 7, "disabled": true }),
        ),
    )
    .await;

    assert_eq!(deleted, Some(InboundOutcome::Applied));
    assert_eq!(after, Some(InboundOutcome::Ignored));
    assert!(user(&h, "bob@example.com").await.is_none());
}

#[tokio::test]
async fn sigils_own_events_and_taken_emails_create_nobody() {
    let h = harness().await;
    let mut own = message(
        "e1",
        "auth.user.created",
        0,
        json!({ "id": "x", "email": "own@example.com" }),
    );
    own.body = String::from_utf8(own.body)
        .unwrap()
        .replace("https://directory.test", "https://auth.test")
        .into_bytes();
    receive(
        &h,
        &message(
            "e2",
            "user.created",
            0,
            json!({ "id": "a", "email": "taken@example.com" }),
        ),
    )
    .await;

    let own = receive(&h, &own).await;
    let taken = receive(
        &h,
        &message(
            "e3",
            "user.created",
            1,
            json!({ "id": "b", "email": "TAKEN@example.com" }),
        ),
    )
    .await;

    assert_eq!(own, Some(InboundOutcome::Ignored));
    assert!(user(&h, "own@example.com").await.is_none());
    assert_eq!(taken, Some(InboundOutcome::Rejected));
    let mut tx = h.sigil.store.begin().await.unwrap();
    assert!(tx.lock_external_user("b").await.unwrap().is_none());
}

#[tokio::test]
async fn a_malformed_message_is_rejected_once_by_its_position() {
    let h = harness().await;
    let garbage = InboundMessage {
        position: "kafka:users/0/3".into(),
        headers: Vec::new(),
        body: b"\xff not json".to_vec(),
    };

    assert_eq!(receive(&h, &garbage).await, Some(InboundOutcome::Rejected));
    assert_eq!(receive(&h, &garbage).await, None);
}
