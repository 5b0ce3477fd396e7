//! Key lifecycle: when each transition is due, and performing it exactly once.
//!
//! Decisions are made from the ring's state in the database and the time passed in, never
//! from timer history, so an instance that was down at the due time catches up on start.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::encryption::KeyEncryptionKey;
use super::signing_key;
use super::{KeyRingError, KeySettings};
use crate::domain::Actor;
use crate::domain::{KeyState, SigningAlgorithm};
use crate::store::{self, AuditEntry, NewEvent, NewSigningKey, Store, StoredKey, Tx};

/// The actor of transitions sigil makes on its own (on start and at every key check).
fn scheduler() -> Actor {
    Actor::system("key-scheduler")
}

/// Writes `key.<verb>` for `kid` in `tx`, the transaction of the transition: one event per
/// transition across every instance, since only the instance whose statement changed the row
/// commits it. Data: the key as the transition left it, with its public JWK only.
pub(super) async fn key_event(
    tx: &mut Tx,
    kid: &str,
    verb: &'static str,
    now: DateTime<Utc>,
) -> Result<(), store::Error> {
    let Some(key) = tx.signing_key(kid).await? else {
        return Ok(());
    };
    let jwk: serde_json::Value = serde_json::from_str(&key.public_jwk).unwrap_or_default();
    let data = serde_json::json!({
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.as_str(),
        "jwk": jwk,
        "published_at": key.published_at,
        "activated_at": key.activated_at,
        "retired_at": key.retired_at,
        "removed_at": key.removed_at,
    });
    tx.emit(&NewEvent::new("key", kid, verb, data, now)).await
}

/// Timing of the lifecycle, derived from configuration.
#[derive(Debug, Clone, Copy)]
pub struct RotationPolicy {
    /// How long a key signs before the next one takes over (default 30 days).
    pub rotation_period: Duration,
    /// How long the next key is published before it may sign: two JWKS cache lifetimes plus
    /// one check interval (the longest an instance takes to start publishing a new key).
    pub publish_lead: Duration,
    /// How long a retired key stays published: the longest token lifetime, plus the clock-skew
    /// margin, plus one check interval (the longest another instance may still sign with it).
    pub retire_grace: Duration,
}

impl RotationPolicy {
    /// Derives the policy from the configured durations.
    pub fn new(
        rotation_period: Duration,
        jwks_max_age: Duration,
        check_interval: Duration,
        longest_token_ttl: Duration,
        clock_skew: Duration,
    ) -> Self {
        Self {
            rotation_period,
            publish_lead: jwks_max_age * 2 + check_interval,
            retire_grace: longest_token_ttl + clock_skew + check_interval,
        }
    }
}

/// One change the ring needs now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Transition {
    /// The ring has no current key (first start, or after revocations): make one.
    CreateCurrent,
    /// The ring has no next key: publish one.
    CreateNext,
    /// The current key's period is over and the next key has been published long enough.
    Promote { current: String, next: String },
    /// A newly configured algorithm's first key has been published long enough to sign (the
    /// ring signed with another algorithm's key meanwhile).
    Activate { next: String },
    /// Retired keys whose grace has passed leave the JWKS.
    RemoveRetired { retired_before: DateTime<Utc> },
}

/// The transitions due at `now` for the keys of one algorithm, in the order to apply them.
/// `others_sign` says whether a key of another algorithm is signing: then an algorithm new to
/// the ring starts with a published next key, which signs only after the publish lead (no
/// verifier meets an unknown kid); on an empty ring the first key signs at once.
pub(super) fn due(
    keys: &[StoredKey],
    now: DateTime<Utc>,
    policy: &RotationPolicy,
    others_sign: bool,
) -> Vec<Transition> {
    let find = |state| keys.iter().find(|key| key.state == state);
    let (current, next) = (find(KeyState::Current), find(KeyState::Next));
    let mut due = Vec::new();
    match (current, next) {
        (None, None) if others_sign => {}
        (None, Some(next)) if others_sign => {
            if now >= next.published_at + policy.publish_lead {
                due.push(Transition::Activate {
                    next: next.kid.clone(),
                });
            }
        }
        (None, _) => due.push(Transition::CreateCurrent),
        (Some(current), Some(next)) => {
            let activated = current.activated_at.unwrap_or(current.published_at);
            if now >= activated + policy.rotation_period
                && now >= next.published_at + policy.publish_lead
            {
                due.push(Transition::Promote {
                    current: current.kid.clone(),
                    next: next.kid.clone(),
                });
            }
        }
        (Some(_), None) => {}
    }
    let replaces_next =
        |t: &Transition| matches!(t, Transition::Promote { .. } | Transition::Activate { .. });
    if next.is_none() || due.iter().any(replaces_next) {
        due.push(Transition::CreateNext);
    }
    let retired_before = now - policy.retire_grace;
    if keys.iter().any(|key| {
        key.state == KeyState::Retired && key.retired_at.is_some_and(|at| at <= retired_before)
    }) {
        due.push(Transition::RemoveRetired { retired_before });
    }
    due
}

/// Performs lifecycle transitions in the database.
pub(super) struct KeyManager {
    pub(super) store: Store,
    pub(super) kek: KeyEncryptionKey,
    pub(super) settings: KeySettings,
    pub(super) policy: RotationPolicy,
}

impl KeyManager {
    /// Applies every transition due at `now`, for each configured algorithm; once every one
    /// of them has a signing key, keys of an algorithm no longer configured retire. Safe to
    /// run on several instances at once.
    pub(super) async fn check(&self, now: DateTime<Utc>) -> Result<(), KeyRingError> {
        let algorithms = self.settings.algorithms();
        // Decided from the ring as it was before this check: on an empty ring every
        // algorithm's first key signs at once.
        let before = self.store.list_signing_keys().await?;
        for &alg in &algorithms {
            let (own, others): (Vec<&StoredKey>, Vec<&StoredKey>) =
                before.iter().partition(|key| key.alg == alg);
            let own: Vec<StoredKey> = own.into_iter().cloned().collect();
            let others_sign = others.iter().any(|key| key.state == KeyState::Current);
            // Retired keys leave below, whatever their algorithm.
            for transition in due(&own, now, &self.policy, others_sign)
                .into_iter()
                .filter(|t| !matches!(t, Transition::RemoveRetired { .. }))
            {
                self.apply(transition, alg, now).await?;
            }
        }
        let keys = self.store.list_signing_keys().await?;
        self.retire_unconfigured(&keys, &algorithms, now).await?;
        let retired_before = now - self.policy.retire_grace;
        let removable = keys.iter().any(|key| {
            key.state == KeyState::Retired && key.retired_at.is_some_and(|at| at <= retired_before)
        });
        if removable {
            let transition = Transition::RemoveRetired { retired_before };
            self.apply(transition, self.settings.algorithm, now).await?;
        }
        Ok(())
    }

    /// Once every configured algorithm has a signing key, the keys of an algorithm no longer
    /// configured retire (its current key) or go (its next key).
    async fn retire_unconfigured(
        &self,
        keys: &[StoredKey],
        algorithms: &[SigningAlgorithm],
        now: DateTime<Utc>,
    ) -> Result<(), KeyRingError> {
        let configured = |key: &StoredKey| algorithms.contains(&key.alg);
        let all_sign = algorithms.iter().all(|alg| {
            keys.iter()
                .any(|key| key.alg == *alg && key.state == KeyState::Current)
        });
        let mut stale: Vec<&str> = keys
            .iter()
            .filter(|key| !configured(key) && key.state != KeyState::Retired)
            .map(|key| key.alg.as_str())
            .collect();
        stale.dedup();
        for alg in stale.into_iter().filter(|_| all_sign) {
            let mut tx = self.store.begin().await?;
            let changed = tx.retire_signing_algorithm(alg, now).await?;
            for kid in &changed {
                let entry = AuditEntry::new(&scheduler(), "key.retire", now)
                    .target("key", kid.as_str())
                    .details(
                        serde_json::json!({ "alg": alg, "why": "algorithm no longer configured" }),
                    );
                tx.record(&entry).await?;
                let verb = match tx.signing_key(kid).await?.map(|key| key.state) {
                    Some(KeyState::Retired) => "retired",
                    _ => "removed",
                };
                key_event(&mut tx, kid, verb, now).await?;
            }
            tx.commit().await?;
            for kid in changed {
                tracing::info!(kid, alg, "key transition: algorithm no longer configured");
            }
        }
        Ok(())
    }

    async fn apply(
        &self,
        transition: Transition,
        alg: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<(), KeyRingError> {
        match transition {
            Transition::CreateCurrent => self.create(KeyState::Current, alg, now).await,
            Transition::CreateNext => self.create(KeyState::Next, alg, now).await,
            Transition::Promote { current, next } => self
                .promote(&current, &next, now, &scheduler())
                .await
                .map(drop),
            Transition::Activate { next } => {
                let mut tx = self.store.begin().await?;
                if tx.activate_signing_key(&next, now).await? {
                    let entry = AuditEntry::new(&scheduler(), "key.activate", now)
                        .target("key", next.as_str())
                        .details(serde_json::json!({ "alg": alg.as_str() }));
                    tx.record(&entry).await?;
                    key_event(&mut tx, &next, "activated", now).await?;
                    tx.commit().await?;
                    tracing::info!(kid = next, from = "next", to = "current", "key transition");
                }
                Ok(())
            }
            Transition::RemoveRetired { retired_before } => {
                let mut tx = self.store.begin().await?;
                let removed = tx.remove_retired_signing_keys(retired_before, now).await?;
                for kid in &removed {
                    let entry = AuditEntry::new(&scheduler(), "key.remove", now)
                        .target("key", kid.as_str());
                    tx.record(&entry).await?;
                    key_event(&mut tx, kid, "removed", now).await?;
                }
                tx.commit().await?;
                for kid in removed {
                    tracing::info!(kid, from = "retired", to = "removed", "key transition");
                }
                Ok(())
            }
        }
    }

    /// Makes `next` current and retires `current`, recording `key.rotate` by `actor`;
    /// `false` when another instance did it.
    pub(super) async fn promote(
        &self,
        current: &str,
        next: &str,
        now: DateTime<Utc>,
        actor: &Actor,
    ) -> Result<bool, KeyRingError> {
        let mut tx = self.store.begin().await?;
        let promoted = tx.promote_signing_key(current, next, now).await?;
        if promoted {
            let entry = AuditEntry::new(actor, "key.rotate", now)
                .target("key", next)
                .details(serde_json::json!({ "activated": next, "retired": current }));
            tx.record(&entry).await?;
            key_event(&mut tx, current, "retired", now).await?;
            key_event(&mut tx, next, "activated", now).await?;
            tx.commit().await?;
            tracing::info!(
                kid = current,
                from = "current",
                to = "retired",
                "key transition"
            );
            tracing::info!(kid = next, from = "next", to = "current", "key transition");
        }
        Ok(promoted)
    }

    /// Generates, seals and inserts a key in `state` unless another instance got there first.
    pub(super) async fn create(
        &self,
        state: KeyState,
        algorithm: SigningAlgorithm,
        now: DateTime<Utc>,
    ) -> Result<(), KeyRingError> {
        let rsa_bits = self.settings.rsa_bits;
        let generated =
            tokio::task::spawn_blocking(move || signing_key::generate(algorithm, rsa_bits))
                .await
                .map_err(anyhow::Error::from)??;
        let new = NewSigningKey {
            sealed_private_key: self.kek.seal(&generated.kid, &generated.private_der)?,
            kid: generated.kid,
            alg: generated.alg,
            public_jwk: generated.public_jwk,
        };
        let mut tx = self.store.begin().await?;
        if tx.insert_signing_key(&new, state, now).await? {
            let action = match state {
                KeyState::Current => "key.create",
                _ => "key.publish",
            };
            let entry = AuditEntry::new(&scheduler(), action, now)
                .target("key", new.kid.as_str())
                .details(serde_json::json!({ "alg": new.alg, "state": state.as_str() }));
            tx.record(&entry).await?;
            key_event(&mut tx, &new.kid, "published", now).await?;
            if state == KeyState::Current {
                key_event(&mut tx, &new.kid, "activated", now).await?;
            }
            tx.commit().await?;
            tracing::info!(kid = %new.kid, alg = %new.alg, from = "none", to = state.as_str(), "key transition");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn policy() -> RotationPolicy {
        RotationPolicy::new(
            30 * DAY,
            Duration::from_secs(900),
            Duration::from_secs(60),
            Duration::from_secs(900),
            Duration::from_secs(300),
        )
    }

    fn key(kid: &str, state: KeyState, published: DateTime<Utc>) -> StoredKey {
        StoredKey {
            kid: kid.into(),
            alg: SigningAlgorithm::Rs256,
            state,
            public_jwk: String::new(),
            sealed_private_key: None,
            published_at: published,
            activated_at: (state != KeyState::Next).then_some(published),
            retired_at: (state == KeyState::Retired).then_some(published),
            removed_at: None,
            revoked: false,
        }
    }

    #[test]
    fn policy_derives_lead_and_grace() {
        let policy = policy();

        assert_eq!(policy.publish_lead, Duration::from_secs(2 * 900 + 60));
        assert_eq!(policy.retire_grace, Duration::from_secs(900 + 300 + 60));
    }

    #[test]
    fn empty_ring_needs_a_current_and_a_next_key() {
        assert_eq!(
            due(&[], Utc::now(), &policy(), false),
            [Transition::CreateCurrent, Transition::CreateNext]
        );
    }

    #[test]
    fn nothing_is_due_in_the_middle_of_a_period() {
        let t0 = Utc::now();
        let keys = [
            key("c", KeyState::Current, t0),
            key("n", KeyState::Next, t0),
        ];

        assert!(due(&keys, t0 + 10 * DAY, &policy(), false).is_empty());
    }

    #[test]
    fn promotion_waits_for_the_period_and_the_publish_lead() {
        let t0 = Utc::now();
        let late_next = t0 + 30 * DAY - Duration::from_secs(60);
        let keys = [
            key("c", KeyState::Current, t0),
            key("n", KeyState::Next, late_next),
        ];

        assert!(
            due(&keys, t0 + 30 * DAY, &policy(), false).is_empty(),
            "next published too recently"
        );
        let later = late_next + policy().publish_lead;
        let promote = Transition::Promote {
            current: "c".into(),
            next: "n".into(),
        };
        assert_eq!(
            due(&keys, later, &policy(), false),
            [promote, Transition::CreateNext]
        );
    }

    #[test]
    fn a_long_outage_catches_up_with_one_promotion() {
        let t0 = Utc::now();
        let keys = [
            key("c", KeyState::Current, t0),
            key("n", KeyState::Next, t0),
        ];

        let due = due(&keys, t0 + 95 * DAY, &policy(), false);

        assert_eq!(due.len(), 2, "{due:?}");
    }

    #[test]
    fn retired_keys_leave_after_their_grace() {
        let t0 = Utc::now();
        let keys = [
            key("c", KeyState::Current, t0),
            key("n", KeyState::Next, t0),
            key("r", KeyState::Retired, t0),
        ];

        assert!(
            due(
                &keys,
                t0 + policy().retire_grace - Duration::from_secs(1),
                &policy(),
                false
            )
            .is_empty()
        );
        let at = t0 + policy().retire_grace;
        assert_eq!(
            due(&keys, at, &policy(), false),
            [Transition::RemoveRetired { retired_before: t0 }]
        );
    }

    #[test]
    fn a_new_algorithm_beside_a_signing_one_publishes_first_and_signs_after_the_lead() {
        let t0 = Utc::now();

        assert_eq!(
            due(&[], t0, &policy(), true),
            [Transition::CreateNext],
            "published, not signing"
        );
        let keys = [key("n", KeyState::Next, t0)];
        assert!(due(&keys, t0 + Duration::from_secs(60), &policy(), true).is_empty());
        let later = t0 + policy().publish_lead;
        assert_eq!(
            due(&keys, later, &policy(), true),
            [
                Transition::Activate { next: "n".into() },
                Transition::CreateNext
            ]
        );
    }
}
