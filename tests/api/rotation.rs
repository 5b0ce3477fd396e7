//! Automatic key rotation seen from outside: gateways that cache the JWKS never meet an
//! unknown kid, across rotations, restarts and several instances on one database.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use jsonwebtoken::jwk::JwkSet;
use sigil::clock::Clock;
use sigil::config::Config;
use sigil::domain::KeyState;

use crate::helpers::{
    AUDIENCE, Api, RunningServer, SigilProcess, TestApp, kid_of, spawn_app_with, verify,
};

const MINUTE: Duration = Duration::from_secs(60);

/// A verifier that caches the JWKS for its `Cache-Control` max-age, as gateways do, and
/// never refetches on an unknown kid.
struct Gateway {
    cached: Option<(JwkSet, DateTime<Utc>)>,
    fetches: usize,
}

impl Gateway {
    async fn keys(&mut self, app: &TestApp, now: DateTime<Utc>) -> &JwkSet {
        let fresh = self
            .cached
            .as_ref()
            .is_some_and(|(_, expires)| now < *expires);
        if !fresh {
            let response = app.get("/.well-known/jwks.json").await;
            let cache_control = response.headers()["cache-control"]
                .to_str()
                .unwrap()
                .to_owned();
            let max_age: i64 = cache_control
                .rsplit("max-age=")
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let jwks = response.json().await.unwrap();
            self.cached = Some((jwks, now + chrono::Duration::seconds(max_age)));
            self.fetches += 1;
        }
        &self.cached.as_ref().unwrap().0
    }
}

fn fast_rotation(config: &mut Config, clock: &Clock) {
    config.clock = clock.clone();
    config.keys.key_rotation = 120 * MINUTE;
    config.keys.jwks_max_age = 10 * MINUTE;
    config.keys.key_check_interval = 2 * MINUTE;
    config.keys.access_token_ttl = 5 * MINUTE;
    config.keys.clock_skew = MINUTE;
}

async fn served_kids(app: &Api) -> BTreeSet<String> {
    app.served_kids().await.into_iter().collect()
}

#[tokio::test]
async fn cached_jwks_always_verifies_tokens_across_three_rotations() {
    let clock = Clock::manual(Utc::now());
    let app = spawn_app_with(|config| fast_rotation(config, &clock)).await;
    let client = app.create_client("client_credentials", "").await;
    let step = app.config.keys.key_check_interval;
    let ttl = chrono::Duration::from_std(app.config.keys.access_token_ttl).unwrap();
    let grace = app.config.keys.rotation_policy().retire_grace;
    let mut gateway = Gateway {
        cached: None,
        fetches: 0,
    };
    let mut live: Vec<(String, DateTime<Utc>)> = Vec::new();
    let mut last_signed: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut left_jwks: BTreeMap<String, DateTime<Utc>> = BTreeMap::new();
    let mut published = BTreeSet::new();

    // 7 simulated hours of 2-minute steps: more than three 2-hour rotation periods.
    for _ in 0..210 {
        clock.advance(step);
        let now = clock.now();
        app.keys.refresh(now).await.unwrap();
        let token = app.client_credentials_token(&client).await;
        last_signed.insert(kid_of(&token), now);
        live.push((token, now + ttl));
        live.retain(|(_, expires)| *expires > now);

        let cached = gateway.keys(&app, now).await;
        for (token, _) in &live {
            let kid = kid_of(token);
            assert!(
                cached.find(&kid).is_some(),
                "unknown kid {kid} at {now}: the gateway never saw it"
            );
            verify(token, cached, AUDIENCE);
        }
        let served = served_kids(&app).await;
        assert!(
            served.len() <= 3,
            "at most next, current and one retired key: {served:?}"
        );
        for kid in published.difference(&served) {
            left_jwks.entry(kid.clone()).or_insert(now);
        }
        published = served;
    }

    assert!(
        last_signed.len() >= 4,
        "three rotations mean four signing keys: {last_signed:?}"
    );
    assert!(
        gateway.fetches >= 30,
        "the gateway refetched only on expiry: {}",
        gateway.fetches
    );
    let grace = chrono::Duration::from_std(grace + step).unwrap();
    for (kid, left) in &left_jwks {
        let signed_until = last_signed[kid];
        assert!(
            *left >= signed_until + ttl,
            "{kid} left the JWKS before its tokens expired"
        );
        assert!(
            *left <= signed_until + grace,
            "{kid} stayed published past its grace"
        );
    }
    assert!(
        left_jwks.len() >= 2,
        "retired keys left the JWKS: {left_jwks:?}"
    );
}

#[tokio::test]
async fn a_restart_across_a_due_rotation_performs_it_on_start() {
    let clock = Clock::manual(Utc::now());
    let mut app = spawn_app_with(|config| fast_rotation(config, &clock)).await;
    let client = app.create_client("client_credentials", "").await;
    let token = app.client_credentials_token(&client).await;
    app.stop().await;

    clock.advance(3 * 60 * MINUTE);
    app.restart().await;

    let after = app.client_credentials_token(&client).await;
    assert_ne!(
        kid_of(&after),
        kid_of(&token),
        "the overdue rotation happened on start"
    );
    let keys = app.store().await.list_all_signing_keys().await.unwrap();
    let state_of = |kid: &str| keys.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state_of(&kid_of(&token)), KeyState::Retired);
    assert_eq!(state_of(&kid_of(&after)), KeyState::Current);
    verify(&token, &app.jwks().await, AUDIENCE);
}

#[tokio::test]
async fn two_instances_rotate_once_per_transition_and_serve_the_same_jwks() {
    let clock = Clock::manual(Utc::now());
    // Both publish their events (where a broker is installed): one per transition in all.
    let nats = crate::helpers::NatsServer::start();
    let events = nats.as_ref().map(crate::helpers::NatsServer::event_config);
    let app = spawn_app_with(|config| {
        fast_rotation(config, &clock);
        // Both schedulers tick every 100 ms of real time; the test moves the clock between.
        config.keys.key_check_interval = Duration::from_millis(100);
        config.events = events;
    })
    .await;
    let other = RunningServer::start(app.config.clone()).await;
    let other_view = other.api();
    let client = app.create_client("client_credentials", "").await;
    let store = app.store().await;
    let mut signing = BTreeSet::new();

    for _ in 0..16 {
        clock.advance(20 * MINUTE);

        // Bound: one check interval plus one key generation by the instance that lost the race.
        let converged = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let ring = store.list_signing_keys().await.unwrap();
                let in_db: BTreeSet<String> = ring.iter().map(|key| key.kid.clone()).collect();
                let due_done = ring.iter().any(|key| key.state == KeyState::Next);
                if due_done
                    && served_kids(&app).await == in_db
                    && served_kids(&other_view).await == in_db
                {
                    break;
                }
            }
        });
        converged
            .await
            .expect("both instances serve the database's ring within 5 s");

        let (jwks_a, jwks_b) = (
            app.get("/.well-known/jwks.json").await,
            other_view.get("/.well-known/jwks.json").await,
        );
        assert_eq!(
            jwks_a.bytes().await.unwrap(),
            jwks_b.bytes().await.unwrap(),
            "byte-identical JWKS"
        );
        let (token_a, token_b) = (
            app.client_credentials_token(&client).await,
            other_view.client_credentials_token(&client).await,
        );
        assert_eq!(
            kid_of(&token_a),
            kid_of(&token_b),
            "both sign with the same current key"
        );
        verify(&token_a, &other_view.jwks().await, AUDIENCE);
        verify(&token_b, &app.jwks().await, AUDIENCE);
        signing.insert(kid_of(&token_a));
    }

    let rotations = signing.len() - 1;
    assert!(rotations >= 2, "at least two rotations: {signing:?}");
    let created = app
        .store()
        .await
        .list_all_signing_keys()
        .await
        .unwrap()
        .len();
    assert_eq!(
        created,
        rotations + 2,
        "exactly one key created per transition"
    );
    if let Some(nats) = &nats {
        // The first key's activation, then one per rotation; one publication per key; one
        // retirement per rotation. Read until the relays are done (more would be a failure).
        let expected = [rotations + 1, created, rotations];
        let mut counts = [0; 3];
        for _ in 0..100 {
            let events = nats.events(1, Duration::from_secs(20)).await;
            let count = |kind: &str| events.iter().filter(|event| event.kind() == kind).count();
            counts = [
                count("auth.key.activated"),
                count("auth.key.published"),
                count("auth.key.retired"),
            ];
            if counts.iter().zip(&expected).any(|(seen, due)| seen > due) || counts == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(
            counts, expected,
            "activated, published, retired: one event each"
        );
    }
    other.stop().await;
}

#[tokio::test]
async fn two_instances_starting_at_once_on_an_empty_database_share_one_ring() {
    let app = spawn_app_with(|_| {}).await;
    let fresh = crate::helpers::TestDatabase::create().await;
    let mut config = crate::helpers::test_config(&fresh);
    config.keys.keys_dir = app.config.keys.keys_dir.clone();

    let (a, b) = tokio::join!(
        RunningServer::start(config.clone()),
        RunningServer::start(config.clone())
    );

    let store = sigil::store::Store::connect(
        &fresh.url,
        sigil::store::StoreOptions {
            client_cache_ttl: MINUTE,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let keys = store.list_all_signing_keys().await.unwrap();
    let count = |state| keys.iter().filter(|k| k.state == state).count();
    assert_eq!(
        (keys.len(), count(KeyState::Current), count(KeyState::Next)),
        (2, 1, 1),
        "one ring, not two"
    );
    assert_eq!(a.keys.jwks(), b.keys.jwks());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn two_sigil_processes_started_together_rotate_in_step_on_real_time() {
    let database = crate::helpers::TestDatabase::create().await;
    // Real time, compressed: sign 4 s, publish next keys 2.2 s ahead, check every 200 ms.
    let fast = [
        "--key-rotation",
        "4s",
        "--jwks-max-age",
        "1s",
        "--key-check-interval",
        "200ms",
        "--access-token-ttl",
        "3s",
        "--clock-skew",
        "1s",
    ];
    let (a, b) = (
        SigilProcess::serve(&database, &fast),
        SigilProcess::serve(&database, &fast),
    );
    let (api_a, api_b) = (a.api(), b.api());
    let store = sigil::store::Store::connect(
        &database.url,
        sigil::store::StoreOptions {
            client_cache_ttl: MINUTE,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let client = crate::helpers::create_client(
        &sigil::oauth::Operator::new(store.clone()),
        "client_credentials",
        "",
    )
    .await;
    let started = tokio::time::Instant::now();
    let mut signing = BTreeSet::new();
    let mut disagreeing_since: Option<tokio::time::Instant> = None;

    while started.elapsed() < Duration::from_secs(11) {
        let (token_a, token_b) = (
            api_a.client_credentials_token(&client).await,
            api_b.client_credentials_token(&client).await,
        );
        let (jwks_a, jwks_b) = (api_a.jwks().await, api_b.jwks().await);
        verify(&token_a, &jwks_b, AUDIENCE);
        verify(&token_b, &jwks_a, AUDIENCE);
        signing.extend([kid_of(&token_a), kid_of(&token_b)]);
        let same = api_a
            .get("/.well-known/jwks.json")
            .await
            .bytes()
            .await
            .unwrap()
            == api_b
                .get("/.well-known/jwks.json")
                .await
                .bytes()
                .await
                .unwrap();
        match (same, disagreeing_since) {
            (true, _) => disagreeing_since = None,
            (false, None) => disagreeing_since = Some(tokio::time::Instant::now()),
            (false, Some(since)) => {
                assert!(
                    since.elapsed() < Duration::from_secs(2),
                    "JWKS differed for over 2 s"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status_a, _) = a.terminate().await;
    let (status_b, _) = b.terminate().await;
    assert!(status_a.success() && status_b.success());
    assert!(signing.len() >= 3, "at least two rotations: {signing:?}");
    let keys = store.list_all_signing_keys().await.unwrap();
    let never_signed = keys.iter().filter(|key| key.activated_at.is_none()).count();
    // One key per transition: every key but the newest next one has signed. (The newest
    // next key may not exist yet if a process stopped between promoting and publishing.)
    assert!(
        never_signed <= 1,
        "{never_signed} keys never signed: {keys:?}"
    );
}
