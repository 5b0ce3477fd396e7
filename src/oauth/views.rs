//! What the use cases hand to transports: the application's own records, never store rows.
//!
//! A view carries what a caller may show and nothing it must not: a user without the password
//! hash or credentials version, a client without its secret hash (only whether it has one), a
//! key without its sealed private part. Each is made from its row here, once.

use chrono::{DateTime, Utc};

use crate::domain::{ClientId, GrantTypes, KeyState, RedirectUri, Scope, SigningAlgorithm, UserId};
use crate::store::{AuditRecord, Client, StoredKey, User};

/// A user account as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserView {
    /// Stable id, the `sub` of the user's tokens.
    pub id: UserId,
    /// Login name, as registered.
    pub email: String,
    /// Display name (OIDC `name`), if any.
    pub display_name: Option<String>,
    /// May be granted scope `admin`.
    pub is_admin: bool,
    /// A disabled user cannot log in or refresh.
    pub disabled: bool,
    /// Whether the email address was verified.
    pub email_verified: bool,
    /// When the user registered.
    pub created_at: DateTime<Utc>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            display_name: user.display_name,
            is_admin: user.is_admin,
            disabled: user.disabled,
            email_verified: user.email_verified,
            created_at: user.created_at,
        }
    }
}

/// A registered client as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientView {
    /// Public identifier.
    pub id: ClientId,
    /// Human-readable name.
    pub name: String,
    /// Whether it has no secret (RFC 6749 §2.1 public client).
    pub public: bool,
    /// Grants the client may use.
    pub grant_types: GrantTypes,
    /// Scopes the client may request; the default when it requests none.
    pub scopes: Scope,
    /// `aud` of its access tokens; `None` means the configured default audience.
    pub audience: Option<String>,
    /// May introspect tokens issued to other clients.
    pub may_introspect: bool,
    /// Where authorization responses may go.
    pub redirect_uris: Vec<RedirectUri>,
    /// Where the browser may be sent after an RP-initiated logout.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// Its users are not asked for consent.
    pub first_party: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
}

impl From<Client> for ClientView {
    fn from(client: Client) -> Self {
        Self {
            id: client.id,
            name: client.name,
            public: client.secret_hash.is_none(),
            grant_types: client.grant_types,
            scopes: client.scopes,
            audience: client.audience,
            may_introspect: client.may_introspect,
            redirect_uris: client.redirect_uris,
            post_logout_redirect_uris: client.post_logout_redirect_uris,
            first_party: client.first_party,
            created_at: client.created_at,
        }
    }
}

/// A signing key as callers see it: public facts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyView {
    /// Key id (RFC 7638 thumbprint).
    pub kid: String,
    /// JWS algorithm.
    pub alg: SigningAlgorithm,
    /// Lifecycle state.
    pub state: KeyState,
    /// When it entered the ring (and the JWKS).
    pub published_at: DateTime<Utc>,
    /// When it started signing.
    pub activated_at: Option<DateTime<Utc>>,
    /// When it stopped signing.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it left the JWKS.
    pub removed_at: Option<DateTime<Utc>>,
    /// Whether it was removed by an emergency revocation.
    pub revoked: bool,
}

impl From<StoredKey> for KeyView {
    fn from(key: StoredKey) -> Self {
        Self {
            kid: key.kid,
            alg: key.alg,
            state: key.state,
            published_at: key.published_at,
            activated_at: key.activated_at,
            retired_at: key.retired_at,
            removed_at: key.removed_at,
            revoked: key.revoked,
        }
    }
}

/// One audit row as callers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditView {
    /// Increasing id; the cursor of the listing.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `client`, `system` or `anonymous`.
    pub actor_type: String,
    /// The user id, client id or system label.
    pub actor_id: Option<String>,
    /// The client the call came through.
    pub client_id: Option<String>,
    /// The caller's IP address.
    pub ip: Option<String>,
    /// What.
    pub action: String,
    /// Kind of the target.
    pub target_type: Option<String>,
    /// Id of the target.
    pub target_id: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    /// More about it, as JSON text.
    pub details: String,
}

impl From<AuditRecord> for AuditView {
    fn from(record: AuditRecord) -> Self {
        Self {
            id: record.id,
            at: record.at,
            actor_type: record.actor_type,
            actor_id: record.actor_id,
            client_id: record.client_id,
            ip: record.ip,
            action: record.action,
            target_type: record.target_type,
            target_id: record.target_id,
            outcome: record.outcome,
            details: record.details,
        }
    }
}
