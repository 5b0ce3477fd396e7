//! A directory's user event, parsed once from what the broker delivered: CloudEvents
//! structured JSON (NATS; Kafka without `ce_` headers) or binary mode (Kafka: attributes in
//! `ce_*` headers, the value is the data). Whatever does not parse is a `Rejection` with a
//! reason from a closed list, the label of `sigil_inbound_rejected_total`.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::{DisplayName, Email};

/// The largest message accepted (a user profile is a few hundred bytes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// One message as a consumer received it.
#[derive(Debug, Clone, Default)]
pub struct InboundMessage {
    /// Where the broker keeps it (`nats:<stream>:<sequence>`, `kafka:<topic>/<partition>/
    /// <offset>`): the inbox key of a message without a usable event id.
    pub position: String,
    /// The message's headers (Kafka's `ce_*` carry the attributes in binary mode).
    pub headers: Vec<(String, Vec<u8>)>,
    /// The message's body.
    pub body: Vec<u8>,
}

/// What a directory event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Created,
    Updated,
    Deleted,
}

/// A well-formed directory event.
#[derive(Debug, Clone)]
pub(super) struct DirectoryEvent {
    /// The CloudEvents `id`: the inbox key.
    pub(super) id: String,
    /// The CloudEvents `type`, as sent.
    pub(super) kind: String,
    pub(super) verb: Verb,
    /// The CloudEvents `source`.
    pub(super) source: String,
    /// The CloudEvents `time`: an event older than the last one applied to the user is stale.
    pub(super) time: DateTime<Utc>,
    /// The directory's id of the user.
    pub(super) external_id: String,
    pub(super) email: Option<Email>,
    /// `Some(None)`: the directory removed the name.
    pub(super) display_name: Option<Option<String>>,
    pub(super) email_verified: Option<bool>,
    pub(super) disabled: Option<bool>,
}

/// Why a message is not a directory event.
#[derive(Debug, Clone)]
pub(super) struct Rejection {
    /// `not_json`, `missing_id`, `unknown_type`, `bad_email`, `too_large` or `bad_data`.
    pub(super) reason: &'static str,
    /// What was wrong, for the inbox row and the audit log.
    pub(super) message: String,
    /// The event id, when the message had one.
    pub(super) id: Option<String>,
    /// The CloudEvents `type`, when the message had one.
    pub(super) kind: Option<String>,
}

impl Rejection {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            id: None,
            kind: None,
        }
    }
}

/// The attributes, wherever they came from.
#[derive(Deserialize, Default)]
struct Attributes {
    #[serde(default)]
    id: Option<Value>,
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    source: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    data: Option<Value>,
}

impl DirectoryEvent {
    /// Parses `message`.
    pub(super) fn parse(message: &InboundMessage) -> Result<Self, Rejection> {
        if message.body.len() > MAX_MESSAGE_BYTES {
            let size = message.body.len();
            let text = format!("{size} bytes, more than the {MAX_MESSAGE_BYTES} accepted");
            return Err(Rejection::new("too_large", text));
        }
        let attributes = attributes(message)?;
        let id = match &attributes.id {
            Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 200 => id.clone(),
            _ => return Err(Rejection::new("missing_id", "no usable event id")),
        };
        let kind = attributes.kind.clone().unwrap_or_default();
        let with_id = |mut rejection: Rejection| {
            rejection.id = Some(id.clone());
            rejection.kind = Some(kind.clone()).filter(|kind| !kind.is_empty());
            rejection
        };
        let verb = verb(&kind).ok_or_else(|| {
            with_id(Rejection::new(
                "unknown_type",
                format!("type {kind:?} is not user.created, user.updated or user.deleted"),
            ))
        })?;
        fields(id.clone(), kind.clone(), verb, attributes).map_err(with_id)
    }
}

/// The attributes and data of a binary-mode message (a `ce_type` or `ce_id` header) or of a
/// structured one (a JSON envelope).
fn attributes(message: &InboundMessage) -> Result<Attributes, Rejection> {
    let header = |name: &str| {
        message
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| String::from_utf8_lossy(value).into_owned())
    };
    let json = |bytes: &[u8]| {
        serde_json::from_slice::<Value>(bytes)
            .map_err(|error| Rejection::new("not_json", format!("not JSON: {error}")))
    };
    if header("ce_type").is_some() || header("ce_id").is_some() {
        return Ok(Attributes {
            id: header("ce_id").map(Value::String),
            kind: header("ce_type"),
            source: header("ce_source"),
            time: header("ce_time"),
            data: Some(json(&message.body)?),
        });
    }
    let envelope = json(&message.body)?;
    if !envelope.is_object() {
        return Err(Rejection::new("not_json", "not a JSON object"));
    }
    serde_json::from_value(envelope)
        .map_err(|error| Rejection::new("bad_data", format!("attributes: {error}")))
}

/// `user.created`, `user.updated`, `user.deleted`, also under a prefix (`acme.user.created`).
fn verb(kind: &str) -> Option<Verb> {
    let verb = kind.strip_prefix("user.").or_else(|| {
        kind.rsplit_once(".user.")
            .map(|(_, verb)| verb)
            .filter(|_| !kind.starts_with('.'))
    })?;
    match verb {
        "created" => Some(Verb::Created),
        "updated" => Some(Verb::Updated),
        "deleted" => Some(Verb::Deleted),
        _ => None,
    }
}

/// The event's time and the user's fields from its data.
fn fields(
    id: String,
    kind: String,
    verb: Verb,
    attributes: Attributes,
) -> Result<DirectoryEvent, Rejection> {
    let bad = |text: &str| Rejection::new("bad_data", text);
    let time = attributes
        .time
        .as_deref()
        .and_then(|time| DateTime::parse_from_rfc3339(time).ok())
        .ok_or_else(|| bad("time: an RFC 3339 time is required"))?
        .with_timezone(&Utc);
    let Some(Value::Object(data)) = attributes.data else {
        return Err(bad("data: a JSON object is required"));
    };
    let external_id = match data.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() && id.len() <= 200 => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(bad("data.id: the directory's user id is required")),
    };
    let email = match data.get("email") {
        None | Some(Value::Null) if verb == Verb::Created => {
            return Err(Rejection::new("bad_email", "data.email is required"));
        }
        None | Some(Value::Null) => None,
        Some(Value::String(email)) => Some(
            Email::parse(email).map_err(|error| Rejection::new("bad_email", error.to_string()))?,
        ),
        Some(_) => return Err(Rejection::new("bad_email", "data.email is not a string")),
    };
    let display_name = match data.get("display_name") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(name)) => Some(Some(
            DisplayName::parse(name)
                .map_err(|error| bad(&format!("data.display_name: {error}")))?
                .as_str()
                .to_owned(),
        )),
        Some(_) => return Err(bad("data.display_name is not a string")),
    };
    let flag = |name: &str| match data.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(value)) => Ok(Some(*value)),
        Some(_) => Err(bad(&format!("data.{name} is not true or false"))),
    };
    Ok(DirectoryEvent {
        id,
        kind,
        verb,
        source: attributes.source.unwrap_or_default(),
        time,
        external_id,
        email,
        display_name,
        email_verified: flag("email_verified")?,
        disabled: flag("disabled")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn structured(json: &str) -> InboundMessage {
        InboundMessage {
            position: "nats:USERS:1".into(),
            headers: Vec::new(),
            body: json.as_bytes().to_vec(),
        }
    }

    const CREATED: &str = r#"{"specversion":"1.0","id":"e1","type":"user.created",
        "source":"https://directory.example.com","time":"2026-12-07T10:00:00Z",
        "data":{"id":42,"email":"Ann@Example.com","display_name":"Ann","email_verified":true}}"#;

    #[test]
    fn a_structured_created_event_parses_with_its_fields() {
        let event = DirectoryEvent::parse(&structured(CREATED)).unwrap();

        assert_eq!(event.id, "e1");
        assert_eq!(event.verb, Verb::Created);
        assert_eq!(event.external_id, "42");
        assert_eq!(event.email.unwrap().as_str(), "Ann@Example.com");
        assert_eq!(event.display_name, Some(Some("Ann".to_owned())));
        assert_eq!(event.email_verified, Some(true));
        assert_eq!(event.disabled, None);
        assert_eq!(event.time.to_rfc3339(), "2026-12-07T10:00:00+00:00");
    }

    #[test]
    fn a_binary_mode_event_takes_its_attributes_from_ce_headers() {
        let header = |name: &str, value: &str| (name.to_owned(), value.as_bytes().to_vec());
        let message = InboundMessage {
            position: "kafka:users/0/7".into(),
            headers: vec![
                header("ce_specversion", "1.0"),
                header("ce_id", "e2"),
                header("ce_type", "com.acme.user.updated"),
                header("ce_source", "directory"),
                header("ce_time", "2026-12-07T10:00:00.5+01:00"),
            ],
            body: br#"{"id":"u-1","disabled":true,"display_name":null}"#.to_vec(),
        };

        let event = DirectoryEvent::parse(&message).unwrap();

        assert_eq!((event.id.as_str(), event.verb), ("e2", Verb::Updated));
        assert_eq!(event.external_id, "u-1");
        assert_eq!(event.disabled, Some(true));
        assert_eq!(event.display_name, Some(None));
        assert_eq!(event.email, None);
    }

    #[test]
    fn malformed_messages_are_rejected_with_their_reason() {
        let huge = format!(r#"{{"id":"x","pad":"{}"}}"#, "a".repeat(MAX_MESSAGE_BYTES));
        let cases = [
            ("not json at all", "not_json"),
            ("[1, 2]", "not_json"),
            (r#"{"type":"user.created","data":{}}"#, "missing_id"),
            (
                r#"{"id":"e","type":"user.renamed","data":{}}"#,
                "unknown_type",
            ),
            (
                r#"{"id":"e","type":"auth.session.created","data":{}}"#,
                "unknown_type",
            ),
            (
                &CREATED.replace("Ann@Example.com", "not an email"),
                "bad_email",
            ),
            (
                &CREATED.replace(r#""time":"2026-12-07T10:00:00Z","#, ""),
                "bad_data",
            ),
            (&CREATED.replace(r#""id":42,"#, ""), "bad_data"),
            (&CREATED.replace("true}", r#""yes"}"#), "bad_data"),
            (huge.as_str(), "too_large"),
        ];
        for (body, reason) in cases {
            let rejection = DirectoryEvent::parse(&structured(body)).unwrap_err();
            assert_eq!(
                rejection.reason, reason,
                "{body:.80}: {}",
                rejection.message
            );
        }
    }

    #[test]
    fn a_rejection_after_the_id_keeps_the_id_and_type() {
        let body = CREATED.replace("Ann@Example.com", "nope");

        let rejection = DirectoryEvent::parse(&structured(&body)).unwrap_err();

        assert_eq!(rejection.id.as_deref(), Some("e1"));
        assert_eq!(rejection.kind.as_deref(), Some("user.created"));
    }
}
