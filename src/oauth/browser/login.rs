//! Browser login (RFC 6749 §4.1, OIDC Core §3.1, PKCE required): validating an authorization
//! request, the hosted login and consent steps, the browser session that gives single
//! sign-on, and issuing the code. No HTTP here: the transport renders each `Step`.
//!
//! Until the client and its redirect URI are known to match, an error is only ever shown to
//! the user (`AuthorizeError::Page`), never sent to a redirect URI (an open redirector).
//! After, errors go back to the client as RFC 6749 §4.1.2.1 parameters with `state` and
//! `iss` (RFC 9207).

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use secrecy::SecretString;

use super::request::{AuthorizeParams, AuthorizeRequest};
use crate::domain::{Actor, AuthorizationCode, BrowserSessionToken, Scope};
use crate::oauth::grants::password::{Login, check_login};
use crate::oauth::{Error, TokenIssuer, events};
use crate::store::{
    AuditEntry, BrowserSession, Client, NewAuthorizationCode, NewBrowserSession, Store, User,
};

/// How long a code lives (RFC 6749 §4.1.2: short; ten minutes at most).
const CODE_TTL: chrono::Duration = chrono::Duration::seconds(60);

/// What the browser sees next.
#[derive(Debug)]
pub enum Step {
    /// Back to the client: a code, or an error, in the redirect URI's query.
    Redirect(String),
    /// The login form, for this client.
    Login {
        /// The client's display name.
        client_name: String,
        /// Where the browser goes back to once done (the form's answer redirects there).
        return_to: String,
    },
    /// The consent page: this client asks for these scopes.
    Consent {
        /// The client's display name.
        client_name: String,
        /// Where the browser goes back to once done.
        return_to: String,
        /// The scopes asked for, each shown.
        scopes: Vec<String>,
        /// Who is signed in.
        email: String,
    },
}

/// Why the browser cannot be sent anywhere.
#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    /// Shown on a page, never redirected: the client or redirect URI is unknown or wrong.
    #[error("{0}")]
    Page(&'static str),
    /// The login was refused; the form is shown again with this message.
    #[error("{why}")]
    Refused {
        /// The one answer to every bad login.
        why: &'static str,
        /// Where the browser goes back to once signed in.
        return_to: String,
    },
}

/// A browser session just started: the cookie to set.
#[derive(Debug)]
pub struct NewSession {
    /// The cookie's value (shown this once).
    pub cookie: BrowserSessionToken,
    /// How long it lasts.
    pub max_age: std::time::Duration,
}

/// The browser-login use cases; cheap to clone.
#[derive(Clone)]
pub struct Browser {
    pub(super) store: Store,
    pub(super) issuer: TokenIssuer,
}

impl Browser {
    pub(in crate::oauth) fn new(store: Store, issuer: TokenIssuer) -> Self {
        Self { store, issuer }
    }

    /// `GET /authorize`: validates the request, then continues with the browser session the
    /// cookie names (single sign-on), or asks for a login.
    #[tracing::instrument(skip_all)]
    pub async fn authorize(
        &self,
        params: &AuthorizeParams,
        cookie: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Step, Error> {
        let request = match self.validate(params).await? {
            Ok(request) => request,
            Err(redirect) => return Ok(Step::Redirect(redirect)),
        };
        let session = self.session(cookie, now).await?;
        self.proceed(&request, session, false, now).await
    }

    /// The login form was sent: checks the credentials as the password grant does (same
    /// limits, same answer for every bad login), starts a browser session, and continues.
    #[tracing::instrument(skip_all)]
    pub async fn login(
        &self,
        params: &AuthorizeParams,
        (username, password): (String, SecretString),
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(Step, Option<NewSession>), Error> {
        let request = match self.validate(params).await? {
            Ok(request) => request,
            Err(redirect) => return Ok((Step::Redirect(redirect), None)),
        };
        let login = Login {
            username,
            password,
            ip,
        };
        let user = match check_login(&self.issuer, &request.client, &login, now).await {
            Ok(user) => user,
            Err(Error::InvalidGrant(why)) => {
                let return_to = request.redirect_to.clone();
                return Err(AuthorizeError::Refused { why, return_to }.into());
            }
            Err(other) => return Err(other),
        };
        let (session, cookie) = self.start(&user, &request.client, ip, now).await?;
        let step = self.proceed(&request, Some(session), true, now).await?;
        Ok((step, Some(cookie)))
    }

    /// The consent form was sent: `approve` issues the code, anything else answers
    /// `access_denied`. Needs the browser session.
    #[tracing::instrument(skip_all)]
    pub async fn consent(
        &self,
        params: &AuthorizeParams,
        cookie: Option<&str>,
        approve: bool,
        now: DateTime<Utc>,
    ) -> Result<Step, Error> {
        let request = match self.validate(params).await? {
            Ok(request) => request,
            Err(redirect) => return Ok(Step::Redirect(redirect)),
        };
        let Some(session) = self.session(cookie, now).await? else {
            return Ok(Step::Login {
                client_name: request.client.name.clone(),
                return_to: request.redirect_to.clone(),
            });
        };
        if !approve {
            return Ok(Step::Redirect(self.error(
                &request,
                "access_denied",
                "the user declined",
            )));
        }
        self.issue_code(&request, &session, now).await
    }

    /// The live browser session the cookie names.
    pub(super) async fn session(
        &self,
        cookie: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Option<BrowserSession>, Error> {
        let Some(cookie) = cookie.filter(|cookie| !cookie.is_empty()) else {
            return Ok(None);
        };
        let hash = BrowserSessionToken::presented(cookie.to_owned()).hash();
        Ok(self.store.find_browser_session(&hash, now).await?)
    }

    /// Starts a browser session for `user`, who just signed in through `client`'s request.
    async fn start(
        &self,
        user: &User,
        client: &Client,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(BrowserSession, NewSession), Error> {
        let cookie = BrowserSessionToken::generate();
        let sid = uuid::Uuid::new_v4().to_string();
        let lifetime = self.issuer.settings.refresh_token_ttl;
        let expires_at =
            now + chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::MAX);
        let mut tx = self.store.begin().await?;
        tx.insert_browser_session(&NewBrowserSession {
            hash: &cookie.hash(),
            sid: &sid,
            user_id: &user.id,
            credentials_version: user.credentials_version,
            auth_time: now,
            expires_at,
        })
        .await?;
        let actor = Actor::user(user.id.as_str(), Some(client.id.to_string()), ip);
        let entry = AuditEntry::new(&actor, "login.success", now)
            .target("browser_session", sid.as_str())
            .details(serde_json::json!({ "method": "browser" }));
        tx.record(&entry).await?;
        let created = (client.id.as_str(), "browser");
        tx.emit(&events::session_created(&sid, &user.id, created, ip, now))
            .await?;
        tx.commit().await?;
        let session = BrowserSession {
            sid,
            user_id: user.id.clone(),
            auth_time: now,
        };
        let new = NewSession {
            cookie,
            max_age: lifetime,
        };
        Ok((session, new))
    }

    /// The step after validation: login when there is no usable session, consent for a
    /// third-party client, else the code.
    async fn proceed(
        &self,
        request: &AuthorizeRequest,
        session: Option<BrowserSession>,
        fresh: bool,
        now: DateTime<Utc>,
    ) -> Result<Step, Error> {
        // OIDC Core §3.1.2.1 (errata 2): `max_age=0` always asks for the password again.
        let too_old = |session: &BrowserSession| {
            request
                .max_age
                .is_some_and(|max_age| (now - session.auth_time).num_seconds() >= max_age)
        };
        let session =
            session.filter(|session| fresh || !(request.prompt_login || too_old(session)));
        let Some(session) = session else {
            if request.prompt_none {
                let why = "the user is not signed in";
                return Ok(Step::Redirect(self.error(request, "login_required", why)));
            }
            return Ok(Step::Login {
                client_name: request.client.name.clone(),
                return_to: request.redirect_to.clone(),
            });
        };
        if !request.client.first_party || request.prompt_consent {
            if request.prompt_none {
                let why = "the user has not consented to this client";
                return Ok(Step::Redirect(self.error(request, "consent_required", why)));
            }
            let user = self.store.find_user(&session.user_id).await?;
            let email = user.map(|user| user.email).unwrap_or_default();
            let scopes = self
                .granted_scope(request)?
                .iter()
                .map(str::to_owned)
                .collect();
            return Ok(Step::Consent {
                client_name: request.client.name.clone(),
                return_to: request.redirect_to.clone(),
                scopes,
                email,
            });
        }
        self.issue_code(request, &session, now).await
    }

    /// The scope the code will carry: what was asked, within what the client may have.
    fn granted_scope(&self, request: &AuthorizeRequest) -> Result<Scope, Error> {
        TokenIssuer::narrow_scope(request.scope.clone(), &request.client.scopes).map_err(|_| {
            AuthorizeError::Page("the requested scope is not allowed for this client").into()
        })
    }

    /// Issues a code for `session`'s user and sends the browser back with it.
    async fn issue_code(
        &self,
        request: &AuthorizeRequest,
        session: &BrowserSession,
        now: DateTime<Utc>,
    ) -> Result<Step, Error> {
        let Some(user) = self.store.find_user(&session.user_id).await? else {
            return Ok(Step::Login {
                client_name: request.client.name.clone(),
                return_to: request.redirect_to.clone(),
            });
        };
        let explicit = request.scope.is_some();
        let scope = self.granted_scope(request)?;
        let Ok(scope) = TokenIssuer::limit_admin(scope, &user, explicit) else {
            let why = "scope admin is only for administrators";
            return Ok(Step::Redirect(self.error(request, "invalid_scope", why)));
        };
        let code = AuthorizationCode::generate();
        let mut tx = self.store.begin().await?;
        tx.insert_authorization_code(&NewAuthorizationCode {
            hash: &code.hash(),
            client_id: &request.client.id,
            user_id: &user.id,
            sid: &session.sid,
            redirect_uri: &request.redirect_param,
            code_challenge: request.challenge.as_str(),
            nonce: request.nonce.as_deref(),
            scope: &scope,
            auth_time: session.auth_time,
            expires_at: now + CODE_TTL,
        })
        .await?;
        tx.commit().await?;
        let mut pairs = vec![("code", code.expose())];
        pairs.extend(request.state.as_deref().map(|state| ("state", state)));
        pairs.push(("iss", &self.issuer.settings.issuer));
        Ok(Step::Redirect(with_query(&request.redirect_to, &pairs)))
    }

    /// The redirect carrying `error` for a validated request.
    fn error(&self, request: &AuthorizeRequest, error: &str, why: &str) -> String {
        self.error_to(&request.redirect_to, request.state.as_deref(), error, why)
    }

    /// RFC 6749 §4.1.2.1: `redirect_to` carrying `error`, its description, `state` and `iss`.
    pub(super) fn error_to(
        &self,
        redirect_to: &str,
        state: Option<&str>,
        error: &str,
        why: &str,
    ) -> String {
        let mut pairs = vec![("error", error), ("error_description", why)];
        pairs.extend(state.map(|state| ("state", state)));
        pairs.push(("iss", &self.issuer.settings.issuer));
        with_query(redirect_to, &pairs)
    }
}

/// `uri` with `pairs` added to its query (RFC 6749 §4.1.2: keeping the query it has).
pub(super) fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    let separator = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{separator}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_join_the_query_the_redirect_uri_has() {
        assert_eq!(
            with_query("https://a.example/cb", &[("code", "x y"), ("state", "s&t")]),
            "https://a.example/cb?code=x+y&state=s%26t"
        );
        assert_eq!(
            with_query("https://a.example/cb?tenant=1", &[("code", "c")]),
            "https://a.example/cb?tenant=1&code=c"
        );
    }
}
