//! Brute-force and registration limits counted once for every instance sharing a PostgreSQL
//! database: two sigils behind a load balancer do not allow twice the guesses.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    Api, PASSWORD, RunningServer, TestClient, TestDatabase, parallel, serde_urlencoded, test_config,
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
    let form = [
        ("grant_type", "password"),
        ("username", user),
        ("password", password),
        ("client_id", client.id.as_str()),
    ];
    let response = api
        .http
        .post(api.url("/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-forwarded-for", ip)
        .body(serde_urlencoded(&form))
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

async fn dashboard(api: &Api) -> TestClient {
    let created = api
        .admin_ok(
            Method::POST,
            "/admin/clients",
            Some(json!({ "name": "dash", "grant_types": ["password"], "public": true })),
            201,
        )
        .await;
    TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: String::new(),
    }
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

#[tokio::test]
async fn failed_logins_spread_over_two_instances_hit_the_limit_in_total() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (api_a, api_b) = (a.api(), b.api());
    let client = dashboard(&api_a).await;
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

    assert_eq!(count(&per_user, 400), 5, "per username: {per_user:?}");
    assert_eq!(count(&per_user, 429), 15, "per username: {per_user:?}");
    assert_eq!(count(&per_ip, 400), 8, "per IP: {per_ip:?}");
    assert_eq!(count(&per_ip, 429), 12, "per IP: {per_ip:?}");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_success_on_one_instance_clears_the_username_count_on_the_other() {
    let Some((_database, a, b)) = two_instances().await else {
        return;
    };
    let (api_a, api_b) = (a.api(), b.api());
    let client = dashboard(&api_a).await;
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

    assert_eq!(count(&statuses, 201), 3, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 5, "{statuses:?}");
    a.stop().await;
    b.stop().await;
}
