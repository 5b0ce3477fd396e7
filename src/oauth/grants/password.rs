//! RFC 6749 §4.3: a user's email and password for tokens and a new login session.

use std::net::IpAddr;

use chrono::{DateTime, Utc};

use secrecy::{ExposeSecret as _, SecretString};

use crate::domain::{Actor, Email, Password, Scope, UserId};
use crate::oauth::events;
use crate::oauth::{Error, IssuedTokens, TokenIssuer};
use crate::password::Verification;
use crate::store::{AuditEntry, Client, User};

/// The one answer to every failed login: unknown user, wrong password, disabled account.
const BAD_CREDENTIALS: &str = "invalid username or password";
/// The answer to the right password of a user whose address is unverified, when verification
/// is required (`--require-verified-email`).
const UNVERIFIED: &str = "the email address is not verified yet";

/// The credentials of one login attempt.
pub(in crate::oauth) struct Login {
    /// The username as sent.
    pub(in crate::oauth) username: String,
    /// The password as sent.
    pub(in crate::oauth) password: SecretString,
    /// Where the attempt came from.
    pub(in crate::oauth) ip: Option<IpAddr>,
}

/// Checks the login (`check_login`) and starts a session.
pub(in crate::oauth) async fn grant(
    issuer: &TokenIssuer,
    client: &Client,
    login: Login,
    requested: Option<Scope>,
    now: DateTime<Utc>,
) -> Result<IssuedTokens, Error> {
    let explicit = requested.is_some();
    let scope = TokenIssuer::narrow_scope(requested, &client.scopes)?;
    let user = check_login(issuer, client, &login, now).await?;
    let scope = TokenIssuer::limit_admin(scope, &user, explicit)?;
    issuer
        .start_session(client, &user, scope, login.ip, now)
        .await
}

/// Claims a slot of the failure limits (before any hash work, so attempts in flight count),
/// then checks the password (against a dummy hash when the user is unknown, so both take the
/// same time) and rehashes it when the parameters changed; the user whose login this is. A
/// bad-credentials answer keeps its slots as failures of the username and the IP, and is
/// audited. Shared by the password grant and the hosted login page.
pub(in crate::oauth) async fn check_login(
    issuer: &TokenIssuer,
    client: &Client,
    login: &Login,
    now: DateTime<Utc>,
) -> Result<User, Error> {
    let claim = issuer
        .limits
        .claim_login(&login.username, login.ip, now)
        .await?;
    let checked = authenticate(issuer, login).await;
    if let Some(checkpoint) = &issuer.settings.hooks.login_checked {
        checkpoint.pass().await;
    }
    let user = match checked {
        Ok(Checked::Valid { user, rehash }) => {
            issuer.limits.login_succeeded(claim).await;
            if let Some(password) = rehash {
                rehash_password(issuer, &user, &password, now).await;
            }
            user
        }
        Ok(Checked::Refused { reason, user_id }) => {
            let locked = issuer.limits.login_failed(claim);
            let failure = Failure {
                client,
                login,
                user_id,
                now,
            };
            record_failure(issuer, &failure, reason, &locked).await;
            return Err(Error::InvalidGrant(BAD_CREDENTIALS));
        }
        Err(other) => {
            issuer.limits.login_abandoned(claim).await;
            return Err(other);
        }
    };
    // Only after the password check: the answer tells nothing to someone without it.
    if issuer.settings.require_verified_email && !user.email_verified {
        let failure = Failure {
            client,
            login,
            user_id: Some(user.id.clone()),
            now,
        };
        record_failure(issuer, &failure, "email_unverified", &[]).await;
        return Err(Error::InvalidGrant(UNVERIFIED));
    }
    Ok(user)
}

/// What the password check found.
enum Checked {
    /// The enabled user whose password this is, and the password when its stored hash is
    /// to be replaced (old parameters, or bcrypt).
    Valid {
        user: User,
        rehash: Option<Password>,
    },
    /// Bad credentials; `reason` is for the audit log only (callers all get the same answer).
    Refused {
        reason: &'static str,
        user_id: Option<UserId>,
    },
}

/// Checks the credentials; an error only when the check itself failed.
async fn authenticate(issuer: &TokenIssuer, login: &Login) -> Result<Checked, Error> {
    let user = match Email::parse(&login.username) {
        Ok(email) => issuer.store.find_user_by_email(&email).await?,
        Err(_) => None,
    };
    let refused = |reason, user: Option<&User>| Checked::Refused {
        reason,
        user_id: user.map(|user| user.id.clone()),
    };
    let Some(password) = Password::presented(login.password.expose_secret().to_owned()) else {
        return Ok(refused("password_too_long", user.as_ref()));
    };
    let stored = user.as_ref().map(|user| user.password_hash.as_str());
    let verification = issuer
        .hasher
        .verify(&password, stored)
        .await
        .map_err(Error::Internal)?;
    let (user, rehash) = match (verification, user) {
        (_, None) => return Ok(refused("unknown_user", None)),
        (Verification::Valid { rehash }, Some(user)) => (user, rehash),
        (_, Some(user)) => return Ok(refused("wrong_password", Some(&user))),
    };
    if user.disabled {
        return Ok(refused("disabled", Some(&user)));
    }
    Ok(Checked::Valid {
        user,
        rehash: rehash.then_some(password),
    })
}

/// A refused login, as the audit log records it.
struct Failure<'a> {
    client: &'a Client,
    login: &'a Login,
    user_id: Option<UserId>,
    now: DateTime<Utc>,
}

/// Records `login.failure` (and `login.lockout` for each limit this failure used up) in one
/// short transaction of their own. The username is kept as typed when it is a well-formed email
/// address; anything else (often a password typed into the wrong field) is not kept at all,
/// not even hashed (an unsalted hash of a password can be reversed by guessing). Never the
/// password.
async fn record_failure(
    issuer: &TokenIssuer,
    failure: &Failure<'_>,
    reason: &str,
    locked: &[&str],
) {
    let actor = Actor::anonymous(failure.login.ip).via(failure.client.id.as_str());
    let username = match Email::parse(&failure.login.username) {
        Ok(email) => serde_json::json!({ "username": email.as_str() }),
        Err(_) => serde_json::json!({ "username": null, "username_malformed": true }),
    };
    let target = |entry: AuditEntry| match &failure.user_id {
        Some(id) => entry.target("user", id.as_str()),
        None => entry,
    };
    let mut entries = vec![
        target(AuditEntry::new(&actor, "login.failure", failure.now).details(username.clone()))
            .failed(reason),
    ];
    for limit in locked {
        let mut details = username.clone();
        details["limit"] = (*limit).into();
        entries.push(target(
            AuditEntry::new(&actor, "login.lockout", failure.now).details(details),
        ));
    }
    let event = events::login_failed(
        &failure.login.username,
        failure.user_id.as_ref().map(UserId::as_str),
        failure.login.ip,
        reason,
        locked,
        failure.now,
    );
    if let Err(error) = issuer.store.record_all(&entries, &[event]).await {
        tracing::warn!(%error, "cannot record a failed login in the audit log");
    }
}

/// Replaces a hash made with old parameters, or an imported bcrypt hash, with argon2id of
/// today's parameters, unless the password changed since it was read. A failure is logged,
/// not fatal: the login already succeeded and the next one will try again.
async fn rehash_password(
    issuer: &TokenIssuer,
    user: &User,
    password: &Password,
    now: DateTime<Utc>,
) {
    let user_id = user.id.as_str();
    let updated = match issuer.hasher.hash(password).await {
        Ok(hash) => issuer
            .store
            .rehash_password(&user.id, (&user.password_hash, &hash), now)
            .await
            .map_err(anyhow::Error::from),
        Err(error) => Err(error),
    };
    match updated {
        Ok(replaced) => tracing::info!(
            user_id,
            replaced,
            "password rehashed with the current argon2id parameters"
        ),
        Err(error) => tracing::warn!(
            user_id,
            error = format!("{error:#}"),
            "password rehash failed"
        ),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use crate::oauth::testing::{Harness, PASSWORD};
    use crate::oauth::{Error, Grant};

    fn login(username: &str, password: &str) -> Grant {
        Grant::Password {
            username: username.to_owned(),
            password: SecretString::from(password.to_owned()),
            scope: None,
        }
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_user_get_one_answer_and_one_audit_row_each() {
        let harness = Harness::new().await;
        let client_id = harness.public_client("password").await;
        harness.user("ann@example.com").await;

        let right = harness
            .issue(&client_id, login("ann@example.com", PASSWORD))
            .await;
        let wrong = harness
            .issue(&client_id, login("ann@example.com", "nope nope"))
            .await;
        let unknown = harness
            .issue(&client_id, login("bob@example.com", PASSWORD))
            .await;

        assert!(right.is_ok());
        let (Err(Error::InvalidGrant(wrong)), Err(Error::InvalidGrant(unknown))) = (wrong, unknown)
        else {
            panic!("both refused as invalid_grant");
        };
        assert_eq!(wrong, unknown, "no user enumeration");
        let rows = harness.audit_rows("login.failure").await;
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|event| event.outcome == "failure"));
        assert!(!rows.iter().any(|event| event.details.contains(PASSWORD)));
    }
}
