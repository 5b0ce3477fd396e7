//! Brute-force and registration limits counted once for every instance sharing a PostgreSQL
//! database: two sigils behind a load balancer do not allow twice the guesses.

use serde_json::json;

use crate::helpers::{
    Api, PASSWORD, RunningServer, TestClient, TestDatabase, count_status, parallel, test_config,
};
use sigil::password::HashParams;

/// Two instances on one fresh PostgreSQL database, 5 failures per username and 8 per IP,
/// 3 registrations per IP; `None` on SQLite (one instance per file).
async fn two_instances() -> Option<(TestDatabase, RunningServer, RunningServer)> {
    sigil::telemetry::init_for_tests();
    let database = TestDatabase::create().await;
    if !database.is_postgres() {
        eprintln!("skipped: limits are shared only between instances on PostgreSQL");
        return None;
    }
    let mut config = test_config(&database);
    config.limits.login_failures_per_user = 5;
    config.limits.login_failures_per_ip = 8;
    config.limits.registrations_per_ip = 3;
    config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    config.passwords.hash_params = HashParams {
        memory_kib: 4096,
        iterations: 1,
        parallelism: 1,
    };
    let a = RunningServer::start(config.clone()).await;
    let b = RunningServer::start(config).await;
    Some((database, a, b))
}

async fn login(api: &Api, client: &TestClient, ip: &str, user: &str, password: &str) -> u16 {
    let response = api.login_from(client, ip, user, password).await;
    response.status().as_u16()
}

#[tokio::test]
async fn failed_logins_spread_over_two_instances_hit_the_limit_in_total() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (api_a, api_b) = (a.api(), b.api());
    let client = api_a.public_client(&["password"], "").await;
    api_a.create_user("victim@example.com").await;

    let per_user = parallel(20, |i| {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let client = client.clone();
        async move {
            let ip = format!("203.0.113.{i}");
            login(&api, &client, &ip, "victim@example.com", "wrong").await
        }
    })
    .await;
    let per_ip = parallel(20, |i| {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let client = client.clone();
        async move {
            let user = format!("guess{i}@example.com");
            login(&api, &client, "198.51.100.9", &user, "123456").await
        }
    })
    .await;

    assert_eq!(
        count_status(&per_user, 400),
        5,
        "per username: {per_user:?}"
    );
    assert_eq!(
        count_status(&per_user, 429),
        15,
        "per username: {per_user:?}"
    );
    assert_eq!(count_status(&per_ip, 400), 8, "per IP: {per_ip:?}");
    assert_eq!(count_status(&per_ip, 429), 12, "per IP: {per_ip:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_success_on_one_instance_clears_the_username_count_on_the_other() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (api_a, api_b) = (a.api(), b.api());
    let client = api_a.public_client(&["password"], "").await;
    api_a.create_user("ann@example.com").await;
    for n in 0..4 {
        let ip = format!("203.0.113.{n}");
        assert_eq!(
            login(&api_a, &client, &ip, "ann@example.com", "typo").await,
            400
        );
    }

    let success = login(&api_b, &client, "198.51.100.1", "ann@example.com", PASSWORD).await;

    assert_eq!(success, 200);
    let mut after = Vec::new();
    for n in 0..5 {
        let ip = format!("203.0.113.{}", 10 + n);
        after.push(login(&api_a, &client, &ip, "ann@example.com", "typo").await);
    }
    assert_eq!(after, [400; 5], "a fresh allowance of five on instance A");
    let sixth = login(&api_a, &client, "203.0.113.99", "ann@example.com", "typo").await;
    assert_eq!(sixth, 429);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn registrations_from_one_ip_are_throttled_across_two_instances() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (api_a, api_b) = (a.api(), b.api());

    let statuses = parallel(8, |i| {
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        async move {
            api.http
                .post(api.url("/register"))
                .header("x-forwarded-for", "203.0.113.50")
                .json(&json!({ "email": format!("u{i}@example.com"), "password": PASSWORD }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 201), 3, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 5, "{statuses:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn the_maintenance_statements_prune_only_what_expired() {
    // The app's own maintenance pass (its first runs at start, possibly after the rows below
    // are written) works a day in the past, so it prunes nothing this test looks at.
    let past = sigil::clock::Clock::manual(chrono::Utc::now() - chrono::Duration::days(1));
    let app = crate::helpers::spawn_app_with(|config| config.clock = past).await;
    let store = app.store().await;
    let now = chrono::Utc::now();
    let hour = chrono::Duration::hours(1);
    let (stale, live) = ([1u8; 32], [2u8; 32]);
    for (key, at) in [(&stale, now - hour * 2), (&live, now)] {
        let claim = sigil::store::CounterClaim { key, max_count: 5 };
        let outcome = store.claim_counters(&[claim], at, at - hour).await.unwrap();
        assert!(outcome[0].granted);
    }
    let mut tx = store.begin().await.unwrap();
    tx.revoke_access_token("expired", now - hour).await.unwrap();
    tx.revoke_access_token("live", now + hour).await.unwrap();
    tx.commit().await.unwrap();

    let counters = store.prune_counters(now - hour, 1_000).await.unwrap();
    let revocations = store.prune_revoked_access_tokens(now, 1_000).await.unwrap();

    assert_eq!((counters, revocations), (1, 1));
    assert_eq!(store.prune_counters(now - hour, 1_000).await.unwrap(), 0);
    let claim = sigil::store::CounterClaim {
        key: &live,
        max_count: 1,
    };
    let again = store
        .claim_counters(&[claim], now, now - hour)
        .await
        .unwrap();
    assert!(
        !again[0].granted,
        "the live counter survived, with its count"
    );
    assert!(store.is_access_token_revoked("live").await.unwrap());
    assert!(!store.is_access_token_revoked("expired").await.unwrap());
}
