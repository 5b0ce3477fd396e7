//! The admin operations on existing users: list, read, update, delete; each audited, reads
//! included.

use chrono::{DateTime, Utc};

use super::change::{Change, change_user};
use super::{
    Accounts, DEFAULT_PAGE, MAX_PAGE, UserChanges, UserError, UserPage, parse_display_name,
};
use crate::domain::UserId;
use crate::oauth::Error;
use crate::oauth::UserView;
use crate::oauth::admin::{Admin, audited, read_audited};
use crate::oauth::events::{self, SessionEnd};
use crate::store::{AuditEntry, Tx, User};

impl Accounts {
    /// A page of users, oldest first: `limit` (1 to 200, default 50) after `offset`.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        admin: &Admin,
        limit: Option<u32>,
        offset: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<UserPage, Error> {
        let entry = AuditEntry::new(admin.actor(), "user.list", now);
        let page = async {
            let limit = limit.unwrap_or(DEFAULT_PAGE);
            if !(1..=MAX_PAGE).contains(&limit) {
                return Err(UserError::InvalidPage.into());
            }
            let offset =
                u64::try_from(offset.unwrap_or(0)).map_err(|_| UserError::InvalidOffset)?;
            let mut users = self.store.list_users(limit + 1, offset).await?;
            let more = users.len() > limit as usize;
            users.truncate(limit as usize);
            Ok(UserPage {
                users: users.into_iter().map(UserView::from).collect(),
                next_offset: more.then(|| offset.saturating_add(u64::from(limit))),
            })
        }
        .await;
        read_audited(&self.store, entry, page).await
    }

    /// One user.
    #[tracing::instrument(skip_all)]
    pub async fn find(
        &self,
        admin: &Admin,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let entry = AuditEntry::new(admin.actor(), "user.read", now).target("user", id);
        let found = match known_id(id) {
            Ok(id) => self
                .store
                .find_user(&id)
                .await?
                .ok_or(UserError::NotFound.into()),
            Err(error) => Err(error),
        };
        read_audited(&self.store, entry, found.map(UserView::from)).await
    }

    /// Applies `changes` to user `id` in one transaction. Disabling the user, resetting the
    /// password or withdrawing `admin` raises the credentials version (a login verified
    /// before the change cannot start a session after it) and ends every session of the
    /// user, in the same transaction as the change and its audit row: either all of it
    /// happens or none.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn update(
        &self,
        admin: &Admin,
        id: &str,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let entry = AuditEntry::new(admin.actor(), "user.update", now).target("user", id);
        let updated = match known_id(id) {
            Ok(id) => self.apply(&entry, &id, changes, now).await,
            Err(error) => Err(error),
        };
        audited(&self.store, entry, updated.map(UserView::from)).await
    }

    /// The transaction of `update`; `entry` is its audit row, completed with the details.
    async fn apply(
        &self,
        entry: &AuditEntry,
        id: &UserId,
        changes: UserChanges,
        now: DateTime<Utc>,
    ) -> Result<User, Error> {
        let display_name = match changes.display_name {
            Some(name) => Some(parse_display_name(name.as_deref())?),
            None => None,
        };
        let password_hash = match &changes.password {
            Some(password) => Some(self.hash_new_password(password).await?),
            None => None,
        };
        let change = Change {
            email: None,
            disabled: changes.disabled,
            admin: changes.admin,
            password_hash: password_hash.as_deref(),
            email_verified: changes.email_verified,
            display_name,
            verified_email_required: self.settings.require_verified_email,
        };
        let mut tx = self.store.begin().await?;
        let user = change_user(&mut tx, entry, id, &change, now).await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Deletes user `id`; the user's sessions go with the row.
    #[tracing::instrument(skip_all, fields(user_id = %id))]
    pub async fn delete(&self, admin: &Admin, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
        let entry = AuditEntry::new(admin.actor(), "user.delete", now).target("user", id);
        let deleted = async {
            let id = &known_id(id)?;
            let mut tx = self.store.begin().await?;
            delete_user(&mut tx, &entry, id, now).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        audited(&self.store, entry, deleted).await?;
        tracing::info!(user_id = %id, "user deleted");
        Ok(())
    }
}

/// Deletes user `id` inside `tx`, with its audit row (`entry`) and events: the user's
/// sessions end first, so their events can name them (the rows go with the user).
pub(in crate::oauth) async fn delete_user(
    tx: &mut Tx,
    entry: &AuditEntry,
    id: &UserId,
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let user = tx.lock_user(id).await?.ok_or(UserError::NotFound)?;
    let sessions = tx.revoke_user_sessions(id, now).await?;
    if !tx.delete_user(id).await? {
        return Err(UserError::NotFound.into());
    }
    tx.record(entry).await?;
    for session in &sessions {
        let ended = events::session_invalidated(session.as_str(), id, SessionEnd::UserDeleted, now);
        tx.emit(&ended).await?;
    }
    tx.emit(&events::user("deleted", &user, &[], now)).await?;
    Ok(())
}

/// An id from a caller: one that is not a sigil id names no user.
fn known_id(id: &str) -> Result<UserId, Error> {
    UserId::parse(id).map_err(|_| UserError::NotFound.into())
}
