//! RP-initiated logout (OIDC RP-Initiated Logout 1.0, `end_session_endpoint`): ends the
//! browser session the cookie names and every session (refresh family) it gave clients, in
//! one transaction with its audit row and events. A request that carries an ID token of the
//! signed-in user (`id_token_hint`) ends it at once; any other request for a live session is
//! first confirmed by the user (§2: the OP should ask when the request may not come from the
//! user's own client), so a page elsewhere cannot sign the user out with a link.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use super::login::with_query;
use super::{AuthorizeError, Browser};
use crate::domain::{Actor, ClientId};
use crate::oauth::Error;
use crate::oauth::events;
use crate::oauth::params::{END_SESSION_PARAMETERS, Params};
use crate::store::{AuditEntry, BrowserSession};

/// An RP-initiated logout request.
#[derive(Debug, Clone, Default)]
pub struct EndSession {
    /// An ID token sigil issued to the client (its `aud` names the client, its `sub` the
    /// user).
    pub id_token_hint: Option<String>,
    /// Where to send the browser afterwards; one of the client's registered post-logout URIs.
    pub post_logout_redirect_uri: Option<String>,
    /// Echoed to that URI.
    pub state: Option<String>,
    /// The client, when no hint names it.
    pub client_id: Option<String>,
    /// The refusal of the first parameter that appeared twice (RFC 6749 §3.1), if any.
    pub repeated: Option<&'static str>,
}

impl EndSession {
    /// The logout request of a query string (or the confirmation form's hidden copy), by the
    /// one OAuth parameter rule (`Params`).
    pub fn from_query(query: &str) -> Self {
        let mut params = Params::from_urlencoded(query.as_bytes(), &END_SESSION_PARAMETERS);
        Self {
            id_token_hint: params.take("id_token_hint"),
            post_logout_redirect_uri: params.take("post_logout_redirect_uri"),
            state: params.take("state"),
            client_id: params.take("client_id"),
            repeated: params.check().err(),
        }
    }
}

/// What a logout request comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logout {
    /// Signed out (or nothing to end): the browser goes to this registered post-logout URI
    /// (with `state`).
    Redirect(String),
    /// Signed out (or nothing to end); no registered URI to go back to.
    SignedOut,
    /// A live session and no ID token of its user: the user is asked first. `return_to` is
    /// where the confirmed logout will send the browser, when anywhere.
    Confirm {
        /// The registered post-logout URI (with `state`), if any.
        return_to: Option<String>,
    },
}

impl Browser {
    /// Ends the browser session the cookie names (when `confirmed` by the user, or vouched
    /// for by an ID token of its user) and says where the browser goes. The browser goes back
    /// to `post_logout_redirect_uri` only when the client the hint (signed by sigil, expired
    /// or not) or `client_id` names registered it.
    #[tracing::instrument(skip_all)]
    pub async fn end_session(
        &self,
        request: &EndSession,
        cookie: Option<&str>,
        (confirmed, ip): (bool, Option<IpAddr>),
        now: DateTime<Utc>,
    ) -> Result<Logout, Error> {
        if let Some(why) = request.repeated {
            return Err(AuthorizeError::Page(why).into());
        }
        let hint = request
            .id_token_hint
            .as_deref()
            .and_then(|hint| self.issuer.id_token_parties(hint));
        let client_id = hint
            .as_ref()
            .map(|(audience, _)| audience.clone())
            .or_else(|| request.client_id.clone());
        let return_to = self.return_to(request, client_id).await?;
        if let Some(session) = self.session(cookie, now).await? {
            let vouched = hint
                .as_ref()
                .is_some_and(|(_, subject)| subject == session.user_id.as_str());
            if !confirmed && !vouched {
                return Ok(Logout::Confirm { return_to });
            }
            self.end(&session, ip, now).await?;
        }
        Ok(match return_to {
            Some(uri) => Logout::Redirect(uri),
            None => Logout::SignedOut,
        })
    }

    /// Ends `session` and the refresh families it started, recording `session.logout`.
    async fn end(
        &self,
        session: &BrowserSession,
        ip: Option<IpAddr>,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut tx = self.store.begin().await?;
        let families = tx.end_browser_session(&session.sid, now).await?;
        let actor = Actor::user(session.user_id.as_str(), None, ip);
        let entry = AuditEntry::new(&actor, "session.logout", now)
            .target("browser_session", session.sid.as_str())
            .details(serde_json::json!({ "sessions_ended": families.len() }));
        tx.record(&entry).await?;
        for family in &families {
            let ended = events::session_invalidated(
                family,
                &session.user_id,
                events::SessionEnd::Logout,
                now,
            );
            tx.emit(&ended).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The post-logout URI (with `state`) when `client_id` names a client that registered it.
    async fn return_to(
        &self,
        request: &EndSession,
        client_id: Option<String>,
    ) -> Result<Option<String>, Error> {
        let (Some(uri), Some(client_id)) = (request.post_logout_redirect_uri.as_deref(), client_id)
        else {
            return Ok(None);
        };
        let Ok(client_id) = ClientId::parse(client_id) else {
            return Ok(None);
        };
        let Some(client) = self.store.find_client(&client_id).await? else {
            return Ok(None);
        };
        let Some(uri) = client
            .post_logout_redirect_uris
            .iter()
            .find_map(|registered| registered.redirect_for(uri))
        else {
            return Ok(None);
        };
        let state = request.state.as_deref().filter(|state| !state.is_empty());
        Ok(Some(match state {
            Some(state) => with_query(&uri, &[("state", state)]),
            None => uri,
        }))
    }
}
