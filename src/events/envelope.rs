//! One outbox row as an event: the CloudEvents 1.0 attributes, rendered for each sink — the
//! structured JSON envelope and subject for NATS, the binary-mode headers, topic and key for
//! Kafka.

use bytes::Bytes;
use chrono::SecondsFormat;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::OutboxEvent;

/// One event ready to publish.
pub(super) struct Message {
    /// The event id (a UUID): the CloudEvents `id`, sent as `Nats-Msg-Id` so JetStream
    /// drops a republished duplicate.
    pub(super) id: String,
    /// The CloudEvents `type`, `<prefix>.<entity>.<verb>`.
    pub(super) kind: String,
    /// What it is about: `user`, `session`, ... (the Kafka topic is `<prefix>.<entity>`).
    pub(super) entity: String,
    /// The CloudEvents `subject`: the entity id (the Kafka record key).
    pub(super) subject: String,
    /// The CloudEvents `source`: the issuer URL.
    pub(super) source: String,
    /// The CloudEvents `time`, RFC 3339 with microseconds.
    pub(super) time: String,
    /// The trace context of the request that caused it, when it was traced (the
    /// distributed-tracing extension).
    pub(super) traceparent: Option<String>,
    /// The payload (a JSON object).
    pub(super) data: Box<RawValue>,
    /// `<prefix>.<entity>.<id>.<verb>`.
    pub(super) nats_subject: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    subject: &'a str,
    time: &'a str,
    datacontenttype: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    data: &'a RawValue,
}

impl Message {
    /// The event of `event`: `source` is the issuer URL, `prefix` the events prefix.
    pub(super) fn new(event: &OutboxEvent, prefix: &str, source: &str) -> anyhow::Result<Self> {
        Ok(Self {
            id: event.id.clone(),
            kind: format!("{prefix}.{}.{}", event.entity, event.verb),
            entity: event.entity.clone(),
            subject: event.entity_id.clone(),
            source: source.to_owned(),
            time: event
                .occurred_at
                .to_rfc3339_opts(SecondsFormat::Micros, true),
            traceparent: event.traceparent.clone(),
            data: serde_json::from_str(&event.data)?,
            nats_subject: format!(
                "{prefix}.{}.{}.{}",
                event.entity,
                subject_token(&event.entity_id),
                event.verb
            ),
        })
    }

    /// The CloudEvents structured-mode JSON envelope (NATS).
    pub(super) fn structured(&self) -> Bytes {
        let envelope = Envelope {
            specversion: "1.0",
            id: &self.id,
            source: &self.source,
            kind: &self.kind,
            subject: &self.subject,
            time: &self.time,
            datacontenttype: "application/json",
            traceparent: self.traceparent.as_deref(),
            data: &self.data,
        };
        Bytes::from(serde_json::to_vec(&envelope).expect("an envelope of JSON values serializes"))
    }

    /// The CloudEvents Kafka binary-mode headers: every attribute as `ce_<name>`, and the
    /// data's `content-type` (the record value is the data).
    pub(super) fn binary_headers(&self) -> Vec<(&'static str, &str)> {
        let mut headers = vec![
            ("ce_specversion", "1.0"),
            ("ce_id", self.id.as_str()),
            ("ce_source", self.source.as_str()),
            ("ce_type", self.kind.as_str()),
            ("ce_subject", self.subject.as_str()),
            ("ce_time", self.time.as_str()),
            ("content-type", "application/json"),
        ];
        if let Some(traceparent) = &self.traceparent {
            headers.push(("ce_traceparent", traceparent));
        }
        headers
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
        let json: serde_json::Value = serde_json::from_slice(&message.structured()).unwrap();

        assert_eq!(message.nats_subject, "auth.user.42.created");
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

        let json: serde_json::Value = serde_json::from_slice(&message.structured()).unwrap();
        assert_eq!(json["traceparent"], traceparent);
        let json: serde_json::Value = serde_json::from_slice(&untraced.structured()).unwrap();
        assert!(json.get("traceparent").is_none());
    }

    #[test]
    fn kafka_binary_mode_carries_every_attribute_as_a_ce_header_and_the_data_alone() {
        let traced = OutboxEvent {
            traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
            ..event("a.b 42")
        };
        let message = Message::new(&traced, "auth", "https://id.example.com").unwrap();

        assert_eq!(
            message.binary_headers(),
            [
                ("ce_specversion", "1.0"),
                ("ce_id", "0b1c6c55-4d5e-4c07-9d0a-3f1f2f6a7b8c"),
                ("ce_source", "https://id.example.com"),
                ("ce_type", "auth.user.created"),
                ("ce_subject", "a.b 42"),
                ("ce_time", "2026-11-29T12:00:00.000000Z"),
                ("content-type", "application/json"),
                (
                    "ce_traceparent",
                    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                ),
            ]
        );
        assert_eq!(message.entity, "user");
        assert_eq!(
            message.data.get(),
            r#"{"user_id":"42","email":"ann@example.com"}"#
        );
    }

    #[test]
    fn ids_that_are_not_one_subject_token_are_escaped_in_the_subject_only() {
        let message = Message::new(&event("a.b *>"), "acme.auth", "https://x").unwrap();
        let json: serde_json::Value = serde_json::from_slice(&message.structured()).unwrap();

        assert_eq!(message.nats_subject, "acme.auth.user.a_b___.created");
        assert_eq!(json["subject"], "a.b *>");
    }
}
