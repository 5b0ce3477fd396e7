//! RFC 6749 §4.3: a user's email and password for tokens and a new login session.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use crate::domain::{Email, Password, Scope};
use crate::oauth::{Error, IssuedTokens, TokenIssuer};
use crate::password::Verification;
use crate::store::{Client, User};

/// The one answer to every failed login: unknown user, wrong password, disabled account.
const BAD_CREDENTIALS: &str = "invalid username or password";

/// The credentials of one login attempt.
pub(in crate::oauth) struct Login {
    /// The username as sent.
    pub(in crate::oauth) username: String,
    /// The password as sent.
    pub(in crate::oauth) password: String,
    /// Where the attempt came from.
    pub(in crate::oauth) ip: Option<IpAddr>,
}

/// Claims a slot of the failure limits (before any hash work, so attempts in flight count),
/// then checks the password (against a dummy hash when the user is unknown, so both take the
/// same time), rehashes it when the parameters changed, and starts a session. A
/// bad-credentials answer keeps its slots as failures of the username and the IP.
pub(in crate::oauth) async fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    login: Login,
    requested: Option<Scope>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    let explicit = requested.is_some();
    let scope = TokenIssuer::narrow_scope(requested, &client.scopes)?;
    let claim = issuer
        .limits
        .claim_login(&login.username, login.ip, now)
        .await?;
    let checked = authenticate(issuer, &login, now).await;
    if let Some(checkpoint) = &issuer.settings.hooks.login_checked {
        checkpoint.pass().await;
    }
    let user = match checked {
        Ok(user) => {
            issuer.limits.login_succeeded(claim).await;
            user
        }
        Err(Error::InvalidGrant(why)) => {
            issuer.limits.login_failed(claim);
            return Err(Error::InvalidGrant(why));
        }
        Err(other) => {
            issuer.limits.login_abandoned(claim).await;
            return Err(other);
        }
    };
    let scope = TokenIssuer::limit_admin(scope, &user, explicit)?;
    issuer.start_session(client, &user, scope, now).await
}

/// The enabled user whose password this is; `InvalidGrant` for every bad credential.
async fn authenticate(
    issuer: &TokenIssuer,
    login: &Login,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    let password =
        Password::presented(login.password.clone()).ok_or(Error::InvalidGrant(BAD_CREDENTIALS))?;
    let user = match Email::parse(&login.username) {
        Ok(email) => issuer.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let stored = user.as_ref().map(|user| user.password_hash.as_str());
    let verification = issuer
        .hasher
        .verify(&password, stored)
        .await
        .map_err(Error::Internal)?;
    let (Verification::Valid { rehash }, Some(user)) = (verification, user) else {
        return Err(Error::InvalidGrant(BAD_CREDENTIALS));
    };
    if user.disabled {
        return Err(Error::InvalidGrant(BAD_CREDENTIALS));
    }
    if rehash {
        rehash_password(issuer, &user.id, &password, now).await;
    }
    Ok(user)
}

/// Replaces a hash made with old parameters. A failure is logged, not fatal: the login
/// already succeeded and the next one will try again.
async fn rehash_password(
    issuer: &TokenIssuer,
    user_id: &str,
    password: &Password,
    now: DateTime<Utc>,
) {
    let updated = match issuer.hasher.hash(password).await {
        Ok(hash) => issuer
            .store
            .update_password_hash(user_id, &hash, now)
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    match updated {
        Ok(()) => tracing::info!(
            user_id,
            "password rehashed with the current argon2id parameters"
        ),
        Err(error) => tracing::warn!(
            user_id,
            error = format!("{error:#}"),
            "password rehash failed"
        ),
    }
}
