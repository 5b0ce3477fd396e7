//! The CloudEvents 1.0 structured JSON envelope of an outbox row, and its NATS subject.

use bytes::Bytes;
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::OutboxEvent;

/// One event ready to publish.
pub(super) struct Message {
    /// `<prefix>.<entity>.<id>.<verb>`.
    pub(super) subject: String,
    /// The event id, sent as `Nats-Msg-Id` so the broker drops a republished duplicate.
    pub(super) id: String,
    /// The CloudEvents `type`, `<prefix>.<entity>.<verb>`.
    pub(super) kind: String,
    /// The envelope as JSON.
    pub(super) payload: Bytes,
}

#[derive(Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    subject: &'a str,
    time: String,
    datacontenttype: &'static str,
    /// The CloudEvents distributed-tracing extension: the trace of the request that caused
    /// the event, when it was traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    data: &'a RawValue,
}

impl Message {
    /// The envelope of `event`: `source` is the issuer URL, `prefix` the subject prefix.
    pub(super) fn new(event: &OutboxEvent, prefix: &str, source: &str) -> anyhow::Result<Self> {
        let kind = format!("{prefix}.{}.{}", event.entity, event.verb);
        let data: Box<RawValue> = serde_json::from_str(&event.data)?;
        let envelope = Envelope {
            specversion: "1.0",
            id: &event.id,
            source,
            kind: &kind,
            subject: &event.entity_id,
            time: event
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            datacontenttype: "application/json",
            traceparent: event.traceparent.as_deref(),
            data: &data,
        };
        let payload = Bytes::from(serde_json::to_vec(&envelope)?);
        Ok(Self {
            subject: format!(
                "{prefix}.{}.{}.{}",
                event.entity,
                subject_token(&event.entity_id),
                event.verb
            ),
            id: event.id.clone(),
            kind,
            payload,
        })
    }
}

/// `id` as one NATS subject token: characters outside letters, digits, `-`, `_` and `=` (a
/// dot, a space, a wildcard) become `_`. The envelope's `subject` keeps the id as it is.
fn subject_token(id: &str) -> String {
    let token: String = id
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '=' => c,
            _ => '_',
        })
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn event(entity_id: &str) -> OutboxEvent {
        OutboxEvent {
            seq: 1,
            id: "0b1c6c55-4d5e-4c07-9d0a-3f1f2f6a7b8c".into(),
            entity: "user".into(),
            entity_id: entity_id.into(),
            verb: "created".into(),
            data: r#"{"user_id":"42","email":"ann@example.com"}"#.into(),
            occurred_at: Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap(),
            traceparent: None,
        }
    }

    #[test]
    fn envelope_is_cloudevents_structured_json() {
        let message = Message::new(&event("42"), "auth", "https://id.example.com").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();

        assert_eq!(message.subject, "auth.user.42.created");
        assert_eq!(message.kind, "auth.user.created");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], "0b1c6c55-4d5e-4c07-9d0a-3f1f2f6a7b8c");
        assert_eq!(json["source"], "https://id.example.com");
        assert_eq!(json["type"], "auth.user.created");
        assert_eq!(json["subject"], "42");
        assert_eq!(json["time"], "2026-11-29T12:00:00.000000Z");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["data"]["email"], "ann@example.com");
    }

    #[test]
    fn a_traced_event_carries_its_traceparent_and_an_untraced_one_none() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let traced = OutboxEvent {
            traceparent: Some(traceparent.into()),
            ..event("42")
        };

        let message = Message::new(&traced, "auth", "https://x").unwrap();
        let untraced = Message::new(&event("42"), "auth", "https://x").unwrap();

        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(json["traceparent"], traceparent);
        let json: serde_json::Value = serde_json::from_slice(&untraced.payload).unwrap();
        assert!(json.get("traceparent").is_none());
    }

    #[test]
    fn ids_that_are_not_one_subject_token_are_escaped_in_the_subject_only() {
        let message = Message::new(&event("a.b *>"), "acme.auth", "https://x").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&message.payload).unwrap();

        assert_eq!(message.subject, "acme.auth.user.a_b___.created");
        assert_eq!(json["subject"], "a.b *>");
    }
}
