//! The names of the limits that turn requests away, as the `limit` label of
//! `sigil_rate_limit_rejections_total`.

/// Which limit turned a request away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Too many failed logins for one username.
    LoginUsername,
    /// Too many failed logins from one client IP.
    LoginIp,
    /// A client exceeded its `/token` request rate.
    ClientRate,
    /// Too many registrations from one client IP.
    RegistrationIp,
    /// Too many registrations in total.
    RegistrationTotal,
    /// Too many mails asked for one email address from one requester.
    MailEmail,
    /// Too many mails asked for one email address from everyone (answered, not sent).
    MailEmailTotal,
    /// Too many mail requests (resend, forgot, reset) from one client IP.
    MailIp,
}

impl Limit {
    pub(super) fn label(self) -> &'static str {
        match self {
            Self::LoginUsername => "login_username",
            Self::LoginIp => "login_ip",
            Self::ClientRate => "client_rate",
            Self::RegistrationIp => "registration_ip",
            Self::RegistrationTotal => "registration_total",
            Self::MailEmail => "mail_email",
            Self::MailEmailTotal => "mail_email_total",
            Self::MailIp => "mail_ip",
        }
    }
}
