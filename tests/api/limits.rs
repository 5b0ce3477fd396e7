//! Brute-force protection (failed logins per username and per IP) and the per-client rate
//! limit on `/token`.

use std::time::Duration;

use crate::helpers::{PASSWORD, TestApp, TestClient, spawn_app_with};
use sigil::oauth::LimitSettings;

/// Five failures per username, eight per IP, in 15 minutes; loopback is a trusted proxy, so
/// `X-Forwarded-For` names the client IP.
async fn limited_app() -> TestApp {
    spawn_app_with(|config| {
        config.limits = LimitSettings {
            login_failures_per_user: 5,
            login_failures_per_ip: 8,
            login_window: Duration::from_secs(900),
            client_rate: None,
            ..config.limits
        };
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

/// A password login from `ip` (behind a spoofed hop): the status and `Retry-After`, if any.
async fn login_from(
    app: &TestApp,
    client: &TestClient,
    ip: &str,
    username: &str,
    password: &str,
) -> (u16, Option<u64>) {
    let response = app
        .login_from(client, &format!("6.6.6.6, {ip}"), username, password)
        .await;
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (response.status().as_u16(), retry)
}

async fn public_client(app: &TestApp) -> TestClient {
    app.public_client(&["password"], "").await
}

#[tokio::test]
async fn flooding_one_username_is_refused_while_others_still_log_in() {
    let app = limited_app().await;
    let client = public_client(&app).await;
    app.create_user("victim@example.com").await;
    app.create_user("other@example.com").await;
    let attacker = "203.0.113.1";

    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(
            login_from(
                &app,
                &client,
                attacker,
                "victim@example.com",
                "wrong password",
            )
            .await,
        );
    }

    let codes: Vec<u16> = statuses.iter().map(|(status, _)| *status).collect();
    assert_eq!(
        codes,
        [400, 400, 400, 400, 400, 429, 429],
        "five failures, then refused"
    );
    let retry = statuses[5].1.expect("429 carries Retry-After");
    assert!(
        (890..=900).contains(&retry),
        "about the rest of the 15-minute window: {retry}"
    );
    let correct = login_from(
        &app,
        &client,
        "198.51.100.2",
        "victim@example.com",
        PASSWORD,
    )
    .await;
    assert_eq!(
        correct.0, 429,
        "the username is locked whatever the IP and password"
    );
    let other_user = login_from(&app, &client, attacker, "other@example.com", PASSWORD).await;
    assert_eq!(
        other_user.0, 200,
        "another username logs in, even from the attacker's IP"
    );
    let other_ip = login_from(&app, &client, "198.51.100.2", "other@example.com", PASSWORD).await;
    assert_eq!(other_ip.0, 200, "another IP logs in");
    let unknown = login_from(&app, &client, "198.51.100.3", "nobody@example.com", "x").await;
    assert_eq!(
        unknown.0, 400,
        "unknown usernames are counted alike, not refused up front"
    );
}

#[tokio::test]
async fn flooding_from_one_ip_is_refused_while_other_ips_still_log_in() {
    let app = limited_app().await;
    let client = public_client(&app).await;
    app.create_user("user@example.com").await;
    let sprayer = "203.0.113.9";

    for n in 0..8 {
        let (status, _) = login_from(
            &app,
            &client,
            sprayer,
            &format!("guess{n}@example.com"),
            "123456",
        )
        .await;
        assert_eq!(status, 400, "failure {n}");
    }

    let blocked = login_from(&app, &client, sprayer, "user@example.com", PASSWORD).await;
    assert_eq!(blocked.0, 429, "the IP is over its limit");
    assert!(blocked.1.is_some());
    let elsewhere = login_from(&app, &client, "198.51.100.20", "user@example.com", PASSWORD).await;
    assert_eq!(elsewhere.0, 200, "the same user from another IP");
    let spoofed = app.login(&client, "user@example.com", PASSWORD, None).await;
    assert_eq!(
        spoofed.status(),
        200,
        "without the header the peer (loopback) is the client"
    );
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = spawn_app_with(|config| {
        config.limits.login_failures_per_ip = 2;
        config.limits.login_failures_per_user = 0;
    })
    .await;
    let client = public_client(&app).await;

    for n in 0..2 {
        login_from(
            &app,
            &client,
            &format!("203.0.113.{n}"),
            &format!("u{n}@example.com"),
            "x",
        )
        .await;
    }
    let (status, _) = login_from(&app, &client, "203.0.113.99", "u9@example.com", "x").await;

    assert_eq!(
        status, 429,
        "all attempts count against the loopback peer, whatever they claim"
    );
}

#[tokio::test]
async fn limits_are_counted_in_the_metrics() {
    let app = limited_app().await;
    let client = public_client(&app).await;
    for _ in 0..6 {
        login_from(&app, &client, "203.0.113.1", "x@example.com", "wrong").await;
    }

    let metrics = app.get("/metrics").await.text().await.unwrap();

    assert!(
        metrics.lines().any(|l| l == "sigil_failed_logins_total 5"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == "sigil_rate_limit_rejections_total{limit=\"login_username\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn each_client_is_held_to_its_token_rate() {
    // One request per second, burst one: the second request right after the first is refused.
    // The limiter runs on the server's clock, stopped here, so no scheduling delay between
    // the two requests can let the second one through.
    let clock = sigil::clock::Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| {
        config.limits.client_rate = std::num::NonZeroU32::new(1);
        config.clock = clock.clone();
    })
    .await;
    let busy = app.create_client("client_credentials", "").await;
    let calm = app.create_client("client_credentials", "").await;

    let first = app
        .post_token(&[("grant_type", "client_credentials")], busy.basic())
        .await;
    let second = app
        .post_token(&[("grant_type", "client_credentials")], busy.basic())
        .await;

    assert_eq!(first.status(), 200);
    assert_eq!(second.status(), 429);
    assert_eq!(second.headers()["retry-after"], "1");
    let body: serde_json::Value = second.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    let other = app
        .post_token(&[("grant_type", "client_credentials")], calm.basic())
        .await;
    assert_eq!(other.status(), 200, "another client is unaffected");

    clock.advance(std::time::Duration::from_secs(1));
    let later = app
        .post_token(&[("grant_type", "client_credentials")], busy.basic())
        .await;
    assert_eq!(
        later.status(),
        200,
        "a second later the client may ask again"
    );
}
