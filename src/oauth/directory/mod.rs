//! Directory: user events from a user directory elsewhere (`--inbound-users`), which owns
//! the profiles while sigil keeps the credentials. `user.created` makes a user linked by the
//! directory's id with no password and mails an invitation (a reset link, 72 h); `updated`
//! syncs email, display name, verified and disabled (disabling ends the sessions);
//! `deleted` deletes. Each event's inbox row is written in the transaction of its change, so
//! a redelivered event changes nothing; an event older than the last one applied to its user
//! is recorded and ignored; a malformed one is recorded with its error, counted and audited.
//! Every outcome is final: the consumer acknowledges the message once `receive` returns `Ok`,
//! and only an unavailable database (an `Err`) makes it try again.
//!
//! Transports (the NATS and Kafka consumers in `events`) hand over `InboundMessage`s and
//! nothing else.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::events;
use super::users::{Change, UserError, change_user, delete_user};
use crate::domain::{Actor, LinkKind, UserId};
use crate::metrics::Metrics;
use crate::oauth::Error;
use crate::password::NO_PASSWORD;
use crate::store::{self, AuditEntry, InboundOutcome, InboundRecord, NewUser, Store, Tx};

mod event;

use event::{DirectoryEvent, Rejection, Verb};
pub use event::{InboundMessage, MAX_MESSAGE_BYTES};

/// How much of a rejected message the inbox keeps.
const KEPT_PAYLOAD_BYTES: usize = 1024;

/// The directory's use case; cheap to clone.
#[derive(Clone)]
pub struct Directory {
    store: Store,
    metrics: Metrics,
    settings: DirectorySettings,
}

/// What the directory's use case needs to know of the server.
#[derive(Debug, Clone)]
pub struct DirectorySettings {
    /// sigil's own CloudEvents `source` (the issuer): such events are not applied, so sigil's
    /// outbound user events can never loop back into it.
    pub own_source: String,
    /// Whether mail can be sent: a created user is then mailed an invitation.
    pub mail: bool,
    /// `--require-verified-email`: withdrawing verification ends the user's sessions.
    pub require_verified_email: bool,
}

impl Directory {
    /// The use case over `store`.
    pub fn new(store: Store, metrics: Metrics, settings: DirectorySettings) -> Self {
        Self {
            store,
            metrics,
            settings,
        }
    }

    /// Handles one message received at `now`: what became of it, `None` when it had been
    /// handled before. An `Err` (the database is unavailable) changed nothing: the consumer
    /// tries the message again later.
    #[tracing::instrument(skip_all, fields(position = %message.position))]
    pub async fn receive(
        &self,
        message: &InboundMessage,
        now: DateTime<Utc>,
    ) -> Result<Option<InboundOutcome>, Error> {
        let event = match DirectoryEvent::parse(message) {
            Ok(event) => event,
            Err(rejection) => return self.reject(message, &rejection, now).await,
        };
        if event.source == self.settings.own_source {
            let note = "sigil's own event: not applied";
            return self.note(&event, InboundOutcome::Ignored, note, now).await;
        }
        match self.apply(&event, now).await {
            Err(Error::User(UserError::EmailTaken)) => {
                let rejection = Rejection {
                    reason: "email_taken",
                    message: "another user has this email".into(),
                    id: Some(event.id.clone()),
                    kind: Some(event.kind.clone()),
                };
                self.reject(message, &rejection, now).await
            }
            outcome => outcome,
        }
    }

    /// Applies `event` with its inbox row, in one transaction.
    async fn apply(
        &self,
        event: &DirectoryEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<InboundOutcome>, Error> {
        let mut tx = self.store.begin().await?;
        if !tx.admit_inbound(&event.id, now).await? {
            return Ok(None);
        }
        let linked = tx.lock_external_user(&event.external_id).await?;
        let (outcome, note) = match (event.verb, linked) {
            (_, Some((_, Some(last)))) if event.time < last => (
                InboundOutcome::Stale,
                Some("older than the last event applied to this user"),
            ),
            (Verb::Created, None) => {
                self.create(&mut tx, event, now).await?;
                (InboundOutcome::Applied, None)
            }
            (Verb::Created | Verb::Updated, Some((id, _))) => {
                self.update(&mut tx, &id, event, now).await?;
                (InboundOutcome::Applied, None)
            }
            (Verb::Deleted, Some((id, _))) => {
                let entry = self
                    .entry("user.delete", event, now)
                    .target("user", id.as_str());
                delete_user(&mut tx, &entry, &id, now).await?;
                (InboundOutcome::Applied, None)
            }
            (Verb::Updated | Verb::Deleted, None) => (
                InboundOutcome::Ignored,
                Some("no user has this directory id"),
            ),
        };
        self.settle(tx, event, outcome, note).await
    }

    /// A password-less user linked to the directory's id, and the invitation to choose a
    /// password.
    async fn create(
        &self,
        tx: &mut Tx,
        event: &DirectoryEvent,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let email = event.email.clone().ok_or_else(|| {
            Error::Internal(anyhow::anyhow!(
                "the parser let a user.created without an email by"
            ))
        })?;
        let new = NewUser {
            email,
            password_hash: NO_PASSWORD.to_owned(),
            display_name: event.display_name.clone().flatten(),
            is_admin: false,
            email_verified: event.email_verified.unwrap_or(false),
        };
        let user = tx.insert_user(&new, now).await.map_err(email_taken)?;
        tx.link_external_user(&user.id, &event.external_id, event.time)
            .await?;
        let entry = self.entry("user.create", event, now);
        tx.record(&entry.clone().target("user", user.id.as_str()))
            .await?;
        tx.emit(&events::user("created", &user, &[], now)).await?;
        if self.settings.mail {
            tx.queue_mail(
                LinkKind::Invitation,
                &user.id,
                user.credentials_version,
                now,
            )
            .await?;
        }
        if event.disabled == Some(true) {
            self.update(tx, &user.id, event, now).await?;
        }
        tracing::info!(user_id = %user.id, external_id = %event.external_id, "directory user created");
        Ok(())
    }

    /// The directory's fields onto user `id`.
    async fn update(
        &self,
        tx: &mut Tx,
        id: &UserId,
        event: &DirectoryEvent,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let change = Change {
            email: event.email.as_ref(),
            display_name: event.display_name.clone(),
            email_verified: event.email_verified,
            disabled: event.disabled,
            verified_email_required: self.settings.require_verified_email,
            ..Change::default()
        };
        let entry = self
            .entry("user.update", event, now)
            .target("user", id.as_str());
        change_user(tx, &entry, id, &change, now)
            .await
            .map_err(|error| match error {
                Error::Internal(inner)
                    if matches!(inner.downcast_ref(), Some(store::Error::Conflict)) =>
                {
                    UserError::EmailTaken.into()
                }
                other => other,
            })?;
        tx.link_external_user(id, &event.external_id, event.time)
            .await?;
        Ok(())
    }

    /// Records a well-formed event that changes nothing, with why.
    async fn note(
        &self,
        event: &DirectoryEvent,
        outcome: InboundOutcome,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<InboundOutcome>, Error> {
        let mut tx = self.store.begin().await?;
        if !tx.admit_inbound(&event.id, now).await? {
            return Ok(None);
        }
        self.settle(tx, event, outcome, Some(note)).await
    }

    /// Completes `event`'s inbox row with its `outcome` (and why), commits and counts it.
    async fn settle(
        &self,
        mut tx: Tx,
        event: &DirectoryEvent,
        outcome: InboundOutcome,
        note: Option<&str>,
    ) -> Result<Option<InboundOutcome>, Error> {
        let record = InboundRecord {
            kind: Some(&event.kind),
            external_id: Some(&event.external_id),
            outcome,
            error: note,
            payload: None,
        };
        tx.settle_inbound(&event.id, &record).await?;
        tx.commit().await?;
        self.metrics.inbound_event(outcome.as_str());
        Ok(Some(outcome))
    }

    /// Records a message that is no directory event (keyed by its id, or by its position
    /// when it has none), with its error and first bytes, counted and audited.
    async fn reject(
        &self,
        message: &InboundMessage,
        rejection: &Rejection,
        now: DateTime<Utc>,
    ) -> Result<Option<InboundOutcome>, Error> {
        let key = match &rejection.id {
            Some(id) => id.clone(),
            None => format!("position:{}", message.position),
        };
        let mut tx = self.store.begin().await?;
        if !tx.admit_inbound(&key, now).await? {
            return Ok(None);
        }
        let end = message.body.len().min(KEPT_PAYLOAD_BYTES);
        let payload = String::from_utf8_lossy(&message.body[..end]);
        let record = InboundRecord {
            kind: rejection.kind.as_deref(),
            external_id: None,
            outcome: InboundOutcome::Rejected,
            error: Some(&rejection.message),
            payload: Some(&payload),
        };
        tx.settle_inbound(&key, &record).await?;
        let entry = AuditEntry::new(&Actor::system("directory"), "directory.event", now)
            .target("event", key.as_str())
            .details(json!({ "type": rejection.kind, "position": message.position }))
            .failed(rejection.reason);
        tx.record(&entry).await?;
        tx.commit().await?;
        self.metrics.inbound_rejected(rejection.reason);
        self.metrics
            .inbound_event(InboundOutcome::Rejected.as_str());
        let (reason, error) = (rejection.reason, &rejection.message);
        tracing::warn!(event = %key, reason, error, "directory event rejected");
        Ok(Some(InboundOutcome::Rejected))
    }

    /// The audit row of a change the directory asked for.
    fn entry(
        &self,
        action: &'static str,
        event: &DirectoryEvent,
        now: DateTime<Utc>,
    ) -> AuditEntry {
        AuditEntry::new(&Actor::system("directory"), action, now).details(json!({
            "event_id": event.id,
            "external_id": event.external_id,
        }))
    }
}

/// A taken email, as the unique index reports it.
fn email_taken(error: store::Error) -> Error {
    match error {
        store::Error::Conflict => UserError::EmailTaken.into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests;
