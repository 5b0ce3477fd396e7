//! The mail relay, a drain of the mail queue (`worker`): delivers queued mail (`mail_outbox`) through the SMTP mailer, outside any
//! request, so an SMTP outage fails no request and loses no mail.
//!
//! Each mail is claimed with a lease (a relay that dies mid-send leaves it to be tried again;
//! on PostgreSQL each mail goes to one instance). Its one-time token is made just before it
//! is sent, so no usable link ever waits in the database, and a link's lifetime counts from
//! the moment it is mailed. A mail nobody needs any more (user gone, disabled or already
//! verified, password changed since a reset was asked for) is skipped. A failed attempt
//! deletes its token and is retried with a doubling backoff; after the last attempt, or a
//! permanent refusal (5xx), the mail is a dead letter (`sigil_mail_dead_letters_total`).

use std::time::Duration;

use super::Sigil;
use super::verification::wants_link;
use crate::clock::Clock;
use crate::domain::{LinkKind, LinkToken};
use crate::events::{Letter, Mailer, SendError};
use crate::metrics::Metrics;
use crate::store::{MailEnd, MailJob, NewLinkToken, Store};
use crate::worker::{self, Drain};

/// Mails claimed per pass.
const BATCH: i64 = 5;
/// How long a claimed mail is left to its relay before another may try it: well beyond a
/// batch sent to a server that lets every SMTP command run into the 10 s timeout, so a slow
/// server does not get the same mail from two instances.
const LEASE: chrono::Duration = chrono::Duration::minutes(10);
/// The longest wait between passes when no commit wakes the relay (mail queued by another
/// instance, a retry falling due).
const POLL: Duration = Duration::from_secs(1);
/// Backoff after a failed attempt: 10 s doubling up to 1 h.
const BACKOFF: (i64, i64) = (10, 3600);

/// How long a verification link works.
pub(super) const VERIFY_TTL: chrono::Duration = chrono::Duration::hours(24);
/// How long a password-reset link works.
pub(super) const RESET_TTL: chrono::Duration = chrono::Duration::hours(1);
/// How long the link of an invitation (a user a directory created, with no password yet)
/// works.
pub(super) const INVITATION_TTL: chrono::Duration = chrono::Duration::hours(72);

/// What the mail relay needs besides the store.
#[derive(Clone)]
pub struct PostmanSettings {
    /// The SMTP mailer.
    pub mailer: Mailer,
    /// Attempts before a mail is given up.
    pub max_attempts: u32,
}

/// The running mail relay; `stop` ends it after the pass in flight.
pub type Postman = worker::Worker;

/// Starts delivering `sigil`'s queued mail.
pub fn spawn_postman(
    sigil: &Sigil,
    settings: PostmanSettings,
    clock: Clock,
    metrics: Metrics,
) -> Postman {
    let issuer = &sigil.tokens.settings.issuer;
    worker::spawn(Worker {
        store: sigil.store.clone(),
        issuer: issuer.trim_end_matches('/').to_owned(),
        settings,
        clock,
        metrics,
    })
}

impl Drain for Worker {
    async fn pass(&mut self) -> anyhow::Result<bool> {
        Ok(self.deliver_due().await? == BATCH as usize)
    }

    async fn between(&mut self, _full: bool) {
        self.report_backlog().await;
    }

    async fn woken(&self) {
        self.store.mail_queued().await;
    }

    fn poll(&self) -> Duration {
        POLL
    }

    /// A failed pass (the database): each mail keeps its own attempts and backoff.
    fn failed(&mut self, error: &anyhow::Error, _failures: u32) -> Duration {
        let error = format!("{error:#}");
        tracing::warn!(error, "mail relay pass failed; mail waits in the queue");
        POLL
    }
}

struct Worker {
    store: Store,
    issuer: String,
    settings: PostmanSettings,
    clock: Clock,
    metrics: Metrics,
}

/// A mail ready to go: its address, link and the token to delete if it does not.
struct Prepared {
    to: String,
    link: LinkToken,
    hours: i64,
}

impl Worker {
    /// Delivers the mails due now; returns how many were claimed.
    async fn deliver_due(&self) -> Result<usize, crate::store::Error> {
        let now = self.clock.now();
        let jobs = self.store.claim_mail(now, now + LEASE, BATCH).await?;
        for job in &jobs {
            self.deliver(job).await?;
        }
        Ok(jobs.len())
    }

    async fn deliver(&self, job: &MailJob) -> Result<(), crate::store::Error> {
        let Some(prepared) = self.prepare(job).await? else {
            return self
                .store
                .finish_mail(job.seq, MailEnd::Skipped, self.clock.now(), None)
                .await;
        };
        let path = match job.kind {
            LinkKind::VerifyEmail => "verify-email",
            LinkKind::ResetPassword | LinkKind::Invitation => "password/reset",
        };
        let link = format!("{}/{path}?token={}", self.issuer, prepared.link.expose());
        let letter = Letter {
            to: &prepared.to,
            kind: job.kind,
            link: &link,
            hours: prepared.hours,
        };
        let sent = self.settings.mailer.send(&letter).await;
        let now = self.clock.now();
        let kind = job.kind.as_str();
        let error = match sent {
            Ok(()) => {
                self.metrics.mail_sent(kind);
                tracing::info!(seq = job.seq, kind, user_id = %job.user_id, "mail sent");
                return self
                    .store
                    .finish_mail(job.seq, MailEnd::Sent, now, None)
                    .await;
            }
            Err(error) => error,
        };
        // Never delivered, so never usable: the link goes.
        self.store.delete_link_token(&prepared.link.hash()).await?;
        self.metrics.mail_send_failed();
        let last = job.attempts >= i64::from(self.settings.max_attempts);
        let reason = error.to_string();
        match error {
            SendError::Transient(_) if !last => {
                let retry = now + backoff(job.attempts);
                tracing::warn!(seq = job.seq, kind, attempts = job.attempts, error = %reason, %retry, "mail not sent; will retry");
                self.store.retry_mail(job.seq, retry, &reason).await
            }
            _ => {
                self.metrics.mail_dead_letter(kind);
                tracing::error!(seq = job.seq, kind, attempts = job.attempts, error = %reason, "mail given up (dead letter)");
                self.store
                    .finish_mail(job.seq, MailEnd::Dead, now, Some(&reason))
                    .await
            }
        }
    }

    /// Makes the mail's token in its own transaction, unless the mail is no longer wanted.
    async fn prepare(&self, job: &MailJob) -> Result<Option<Prepared>, crate::store::Error> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let Some(user) = tx.lock_user(&job.user_id).await? else {
            return Ok(None);
        };
        let outdated = job.kind.token_kind() == LinkKind::ResetPassword
            && user.credentials_version != job.credentials_version;
        if outdated || !wants_link(&user, job.kind) {
            return Ok(None);
        }
        let ttl = match job.kind {
            LinkKind::VerifyEmail => VERIFY_TTL,
            LinkKind::ResetPassword => RESET_TTL,
            LinkKind::Invitation => INVITATION_TTL,
        };
        let link = LinkToken::generate();
        tx.insert_link_token(&NewLinkToken {
            hash: &link.hash(),
            kind: job.kind.token_kind(),
            user_id: &user.id,
            credentials_version: user.credentials_version,
            created_at: now,
            expires_at: now + ttl,
        })
        .await?;
        tx.commit().await?;
        Ok(Some(Prepared {
            to: user.email,
            link,
            hours: ttl.num_hours(),
        }))
    }

    async fn report_backlog(&self) {
        if let Ok((pending, dead)) = self.store.mail_backlog().await {
            self.metrics.mail_backlog(pending, dead);
        }
    }
}

/// The wait after failed attempt number `attempts`: 10 s doubling up to 1 h.
fn backoff(attempts: i64) -> chrono::Duration {
    let (first, cap) = BACKOFF;
    let doublings = (attempts - 1).clamp(0, 20) as u32;
    chrono::Duration::seconds(first.saturating_mul(1 << doublings).min(cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_seconds_up_to_an_hour() {
        let waits: Vec<i64> = (1..=12).map(|n| backoff(n).num_seconds()).collect();

        assert_eq!(
            waits,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600, 3600]
        );
        assert_eq!(backoff(i64::MAX).num_seconds(), 3600);
    }
}
