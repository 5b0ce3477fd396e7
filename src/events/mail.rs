//! Mail delivery over SMTP (`--smtp-url`, `--mail-from`): the only user of `lettre`. Builds a
//! plain-text and HTML message from the askama templates under `templates/mail/` (compiled
//! into the binary; the HTML part auto-escaped) and hands it to the SMTP server. What to send, and when, is the mail relay's business (`oauth::postman`).
//!
//! Only the issuer's name, the recipient's address (escaped in the HTML part) and the link
//! are put into a template: nothing a user typed becomes markup.

use std::time::Duration;

use anyhow::Context as _;
use askama::Template;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use secrecy::{ExposeSecret as _, SecretString};

use crate::domain::LinkKind;

/// One message to send.
pub struct Letter<'a> {
    /// The recipient's address.
    pub to: &'a str,
    /// What the link does.
    pub kind: LinkKind,
    /// The one-time link.
    pub link: &'a str,
    /// How long the link works, in hours.
    pub hours: i64,
}

/// Why a message was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Worth another attempt: the server is unreachable, timed out or answered 4xx.
    #[error("{0}")]
    Transient(String),
    /// Never worth another attempt: the server refused it for good (5xx), or the address
    /// cannot be written in a message.
    #[error("{0}")]
    Permanent(String),
}

/// The SMTP connection settings and the sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    issuer_name: String,
}

impl Mailer {
    /// A mailer for `url` (`smtp://host:port`, `smtps://user:pass@host`, or with
    /// `?tls=required`) sending as `from`, each SMTP exchange given `timeout`. No connection
    /// is made until the first message.
    pub fn new(
        url: &SecretString,
        from: &str,
        issuer: &str,
        timeout: Duration,
    ) -> anyhow::Result<Self> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|_| anyhow::anyhow!("--smtp-url is not a valid smtp:// or smtps:// URL"))?
            .timeout(Some(timeout))
            .build();
        let from = from
            .parse()
            .context("--mail-from is not a valid mailbox (`name <address>` or `address`)")?;
        let issuer_name = url::Url::parse(issuer)
            .ok()
            .and_then(|url| url.host_str().map(str::to_owned))
            .unwrap_or_else(|| issuer.to_owned());
        Ok(Self {
            transport,
            from,
            issuer_name,
        })
    }

    /// Sends `letter`, returning once the server accepted it for delivery.
    pub async fn send(&self, letter: &Letter<'_>) -> Result<(), SendError> {
        let message = self.compose(letter)?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(error) if error.is_permanent() => Err(SendError::Permanent(error.to_string())),
            Err(error) => Err(SendError::Transient(error.to_string())),
        }
    }

    fn compose(&self, letter: &Letter<'_>) -> Result<Message, SendError> {
        let to: Mailbox = letter.to.parse().map_err(|_| {
            SendError::Permanent("the recipient's address cannot be written in a message".into())
        })?;
        let fields = Fields {
            issuer: &self.issuer_name,
            email: letter.to,
            link: letter.link,
            hours: letter.hours,
        };
        let rendered = match letter.kind {
            LinkKind::VerifyEmail => (
                "Verify your email address",
                VerifyEmailText(&fields).render(),
                VerifyEmailHtml(&fields).render(),
            ),
            LinkKind::ResetPassword => (
                "Reset your password",
                ResetPasswordText(&fields).render(),
                ResetPasswordHtml(&fields).render(),
            ),
            LinkKind::Invitation => (
                "Choose your password",
                InvitationText(&fields).render(),
                InvitationHtml(&fields).render(),
            ),
        };
        let (subject, Ok(text), Ok(html)) = rendered else {
            return Err(SendError::Permanent(
                "a mail template failed to render".into(),
            ));
        };
        Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(format!("{subject} for {}", self.issuer_name))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(html),
                    ),
            )
            .map_err(|error| SendError::Permanent(format!("cannot build the message: {error}")))
    }
}

/// What a link mail says: the only values its templates see.
struct Fields<'a> {
    issuer: &'a str,
    email: &'a str,
    link: &'a str,
    hours: i64,
}

/// One template per kind and part, each reading `Fields` (as `f`).
macro_rules! mail_template {
    ($($name:ident => $path:literal),*) => {$(
        #[derive(Template)]
        #[template(path = $path)]
        struct $name<'a>(&'a Fields<'a>);

        impl<'a> $name<'a> {
            fn f(&self) -> &Fields<'a> {
                self.0
            }
        }
    )*};
}

mail_template!(
    VerifyEmailText => "mail/verify_email.txt",
    VerifyEmailHtml => "mail/verify_email.html",
    ResetPasswordText => "mail/reset_password.txt",
    ResetPasswordHtml => "mail/reset_password.html",
    InvitationText => "mail/invitation.txt",
    InvitationHtml => "mail/invitation.html"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn mailer() -> Mailer {
        let url = SecretString::from("smtp://127.0.0.1:2525".to_owned());
        Mailer::new(
            &url,
            "sigil <noreply@auth.example.com>",
            "https://auth.example.com",
            Duration::from_secs(5),
        )
        .unwrap()
    }

    #[test]
    fn a_message_has_a_text_and_an_html_part_with_the_link_and_escapes_the_address() {
        let letter = Letter {
            to: "o'brien@example.com",
            kind: LinkKind::VerifyEmail,
            link: "https://auth.example.com/verify-email?token=abc",
            hours: 24,
        };

        let message = String::from_utf8(mailer().compose(&letter).unwrap().formatted()).unwrap();
        // Long lines go out quoted-printable: undo the soft breaks and the escaped `=`.
        let message = message.replace("=\r\n", "").replace("=3D", "=");

        assert!(message.contains("Subject: Verify your email address for auth.example.com"));
        assert!(message.contains("text/plain") && message.contains("text/html"));
        assert!(message.contains("o&#39;brien@example.com"), "{message}");
        assert!(message.contains("verify-email?token=abc"));
    }

    #[test]
    fn a_bad_smtp_url_or_sender_is_refused_at_start() {
        let bad = SecretString::from("http://example.com".to_owned());
        assert!(Mailer::new(&bad, "a@b.c", "https://x", Duration::from_secs(1)).is_err());
        let url = SecretString::from("smtp://127.0.0.1:25".to_owned());
        assert!(Mailer::new(&url, "not an address", "https://x", Duration::from_secs(1)).is_err());
    }
}
