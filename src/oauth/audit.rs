//! Reading the audit log: filters, a cursor, page bounds.

use chrono::{DateTime, Utc};

use super::AuditView;
use super::admin::{Admin, read_audited};
use crate::oauth::Error;
use crate::store::{AuditEntry, AuditQuery, Store};

/// Page size when the caller gives none.
const DEFAULT_PAGE: u32 = 100;
/// Largest page size.
const MAX_PAGE: u32 = 1000;

/// Why the audit log cannot be read as asked.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A page size outside 1..=1000.
    #[error("limit must be between 1 and {MAX_PAGE}")]
    InvalidPage,
    /// The cursor is not one this server handed out.
    #[error("cursor is invalid")]
    InvalidCursor,
}

/// What to read: `None` means no filter.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    /// Only rows of this actor (user id, client id or system label).
    pub actor: Option<String>,
    /// Only this action (`user.update`, `login.failure`, ...).
    pub action: Option<String>,
    /// Only rows about this target id.
    pub target: Option<String>,
    /// Only rows at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Rows per page, 1 to 1000 (default 100).
    pub limit: Option<u32>,
}

/// One page of the audit log, newest first.
#[derive(Debug)]
pub struct AuditPage {
    /// The rows.
    pub events: Vec<AuditView>,
    /// Pass as `cursor` for the next (older) page; `None` on the last.
    pub next_cursor: Option<String>,
}

/// The audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
}

impl AuditLog {
    /// The audit log in `store`.
    pub fn new(store: Store) -> Self {
        Self { store }
    }

    /// A page of rows matching `filter`, newest first. Reading is itself recorded
    /// (`audit.read`), after the page it returns.
    #[tracing::instrument(skip_all)]
    pub async fn list(
        &self,
        admin: &Admin,
        filter: AuditFilter,
        now: DateTime<Utc>,
    ) -> Result<AuditPage, Error> {
        let entry = AuditEntry::new(admin.actor(), "audit.read", now);
        let page = self.page(filter).await;
        read_audited(&self.store, entry, page).await
    }

    async fn page(&self, filter: AuditFilter) -> Result<AuditPage, Error> {
        let limit = filter.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(AuditError::InvalidPage.into());
        }
        let before_id = match &filter.cursor {
            Some(cursor) => Some(
                cursor
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or(AuditError::InvalidCursor)?,
            ),
            None => None,
        };
        let query = AuditQuery {
            actor: filter.actor,
            action: filter.action,
            target: filter.target,
            since: filter.since,
            before_id,
            limit: limit + 1,
        };
        let mut events = self.store.list_audit(&query).await?;
        let more = events.len() > limit as usize;
        events.truncate(limit as usize);
        let next_cursor = match more {
            true => events.last().map(|event| event.id.to_string()),
            false => None,
        };
        Ok(AuditPage {
            events: events.into_iter().map(AuditView::from).collect(),
            next_cursor,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::testing::Harness;

    #[tokio::test]
    async fn a_cursor_this_server_did_not_hand_out_and_a_page_too_big_are_refused() {
        let harness = Harness::new().await;
        let (audit, admin, now) = (&harness.sigil.audit, harness.admin(), harness.now());
        let cursor = AuditFilter {
            cursor: Some("not-a-cursor".to_owned()),
            ..AuditFilter::default()
        };
        let big = AuditFilter {
            limit: Some(MAX_PAGE + 1),
            ..AuditFilter::default()
        };

        let cursor = audit.list(&admin, cursor, now).await;
        let big = audit.list(&admin, big, now).await;

        assert!(matches!(
            cursor,
            Err(Error::Audit(AuditError::InvalidCursor))
        ));
        assert!(matches!(big, Err(Error::Audit(AuditError::InvalidPage))));
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_newest_first() {
        let harness = Harness::new().await;
        let (audit, admin, now) = (&harness.sigil.audit, harness.admin(), harness.now());
        for n in 0..3 {
            harness
                .public_client(&format!("password{}", " refresh_token".repeat(n % 2)))
                .await;
        }
        let first = AuditFilter {
            action: Some("client.create".to_owned()),
            limit: Some(2),
            ..AuditFilter::default()
        };

        let page = audit.list(&admin, first.clone(), now).await.unwrap();
        let rest = AuditFilter {
            cursor: page.next_cursor.clone(),
            ..first
        };
        let rest = audit.list(&admin, rest, now).await.unwrap();

        assert_eq!(page.events.len(), 2);
        assert!(page.events[0].id > page.events[1].id, "newest first");
        assert_eq!(rest.events.len(), 1);
        assert!(rest.events[0].id < page.events[1].id);
        assert!(rest.next_cursor.is_none());
    }
}
