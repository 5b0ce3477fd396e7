//! `Actor`: who performs a use case, for the audit log (and, later, events).

use std::fmt;
use std::net::IpAddr;

/// The principal behind a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A user: the user behind a login session's token, or a user logging in.
    User(String),
    /// An OAuth client acting for itself (a client_credentials token, a client
    /// authenticating at `/revoke` or `/logout`).
    Client(String),
    /// sigil itself (bootstrap, key rotation, maintenance) or an operator at the host's
    /// command line; the label says which (`bootstrap`, `key-scheduler`, `cli`, ...).
    System(&'static str),
    /// Nobody known yet (a registration, a failed login).
    Anonymous,
}

/// Who acts, through which client, from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// Who.
    pub principal: Principal,
    /// The OAuth client the call came through, if any.
    pub client_id: Option<String>,
    /// The caller's IP address, when known.
    pub ip: Option<IpAddr>,
}

impl Actor {
    /// sigil itself, or an operator at the command line (`label` says which).
    pub fn system(label: &'static str) -> Self {
        Self {
            principal: Principal::System(label),
            client_id: None,
            ip: None,
        }
    }

    /// An unauthenticated caller from `ip`.
    pub fn anonymous(ip: Option<IpAddr>) -> Self {
        Self {
            principal: Principal::Anonymous,
            client_id: None,
            ip,
        }
    }

    /// An authenticated client acting for itself.
    pub fn client(client_id: impl Into<String>, ip: Option<IpAddr>) -> Self {
        let client_id = client_id.into();
        Self {
            principal: Principal::Client(client_id.clone()),
            client_id: Some(client_id),
            ip,
        }
    }

    /// A user acting through `client_id`.
    pub fn user(user_id: impl Into<String>, client_id: Option<String>, ip: Option<IpAddr>) -> Self {
        Self {
            principal: Principal::User(user_id.into()),
            client_id,
            ip,
        }
    }

    /// The same actor seen through `client_id`.
    pub fn via(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// `user`, `client`, `system` or `anonymous`.
    pub fn kind(&self) -> &'static str {
        match self.principal {
            Principal::User(_) => "user",
            Principal::Client(_) => "client",
            Principal::System(_) => "system",
            Principal::Anonymous => "anonymous",
        }
    }

    /// The user id, client id or system label; `None` for an anonymous caller.
    pub fn id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(id) | Principal::Client(id) => Some(id),
            Principal::System(label) => Some(label),
            Principal::Anonymous => None,
        }
    }

    /// The user behind the call, if one is.
    pub fn user_id(&self) -> Option<&str> {
        match &self.principal {
            Principal::User(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id() {
            Some(id) => write!(f, "{}:{id}", self.kind()),
            None => f.write_str(self.kind()),
        }
    }
}
