//! What one client is for the per-IP limits: an IPv6 host is its /64 (it usually holds all of
//! it), and a forwarded hop written `ip:port` or `[v6]:port` is still that client (security
//! review 2026-12-07, findings 2 and 3).

use std::time::Duration;

use serde_json::json;
use sigil::oauth::LimitSettings;

use crate::helpers::{PASSWORD, TestApp, count_status, parallel, spawn_app_with};

/// Per-IP limits only (eight failed logins, ten registrations), loopback a trusted proxy.
async fn per_ip_app() -> TestApp {
    spawn_app_with(|config| {
        config.limits = LimitSettings {
            login_failures_per_ip: 8,
            registrations_per_ip: 10,
            login_window: Duration::from_secs(900),
            ..config.limits
        };
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

async fn failed_login_from(app: &TestApp, forwarded: &str, username: &str) -> u16 {
    let client = app.public_client(&["password"], "").await;
    app.login_from(&client, forwarded, username, "wrong password")
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn failed_logins_sprayed_from_one_ipv6_64_share_one_allowance_in_parallel() {
    let app = per_ip_app().await;
    let client = app.public_client(&["password"], "").await;

    let statuses = parallel(60, |i| {
        let (api, client) = (app.api.clone(), client.clone());
        async move {
            let address = format!("2001:db8:7:7:{i:x}::{:x}", i * 7 + 1);
            let username = format!("u{i}@example.com");
            api.login_from(&client, &address, &username, "wrong password")
                .await
                .status()
                .as_u16()
        }
    })
    .await;
    let neighbour = failed_login_from(&app, "2001:db8:7:8::1", "n@example.com").await;

    assert_eq!(count_status(&statuses, 400), 8, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 52, "{statuses:?}");
    assert_eq!(neighbour, 400, "the next /64 is another client");
}

#[tokio::test]
async fn registrations_from_one_ipv6_64_share_one_allowance_in_parallel() {
    let app = per_ip_app().await;

    let statuses = parallel(15, |i| {
        let api = app.api.clone();
        async move {
            api.http
                .post(api.url("/register"))
                .header("x-forwarded-for", format!("2001:db8:9:9::{:x}", i + 1))
                .json(&json!({ "email": format!("r{i}@example.com"), "password": PASSWORD }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 201), 10, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 5, "{statuses:?}");
}

#[tokio::test]
async fn forwarded_hops_with_ports_are_their_clients_not_the_proxy() {
    let app = per_ip_app().await;
    app.create_user("ann@example.com").await;
    let client = app.public_client(&["password"], "").await;

    let mut attacker = Vec::new();
    for port in 0..9 {
        let hop = format!("198.51.100.1:{}", 5000 + port);
        attacker.push(failed_login_from(&app, &hop, &format!("a{port}@example.com")).await);
    }
    let v4 = app
        .login_from(&client, "198.51.100.2:6000", "ann@example.com", PASSWORD)
        .await;
    let v6 = app
        .login_from(&client, "[2001:db8::5]:6000", "ann@example.com", PASSWORD)
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert_eq!(
        attacker,
        [400, 400, 400, 400, 400, 400, 400, 400, 429],
        "one client on many source ports"
    );
    assert_eq!(v4.status(), 200, "another client behind the same proxy");
    assert_eq!(v6.status(), 200, "a bracketed IPv6 hop with a port");
    assert!(
        metrics.contains("sigil_forwarded_for_unparsable_total 0"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_forwarded_hop_that_is_no_address_is_counted() {
    let app = per_ip_app().await;

    failed_login_from(&app, "unknown", "x@example.com").await;
    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert!(
        metrics.contains("sigil_forwarded_for_unparsable_total 1"),
        "{metrics}"
    );
}
