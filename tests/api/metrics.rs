//! `GET /metrics`: Prometheus text with requests, tokens, keys and the hash queue.

use crate::helpers::spawn_app;

fn has_line(text: &str, line: &str) -> bool {
    text.lines().any(|l| l == line)
}

#[tokio::test]
async fn metrics_count_requests_tokens_and_show_the_key_ring() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials password", "").await;
    app.create_user("m@example.com").await;
    app.client_credentials_token(&client).await;
    app.client_credentials_token(&client).await;
    app.logged_in(&client, "m@example.com").await;
    app.get("/.well-known/jwks.json").await;
    app.get("/admin/users/unknown").await;
    app.get("/no/such/path").await;

    let response = app.get("/metrics").await;

    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    for line in [
        "sigil_http_requests_total{route=\"/token\",status=\"200\"} 3",
        "sigil_http_requests_total{route=\"/.well-known/jwks.json\",status=\"200\"} 1",
        "sigil_http_requests_total{route=\"/admin/users/{id}\",status=\"401\"} 1",
        "sigil_http_requests_total{route=\"unmatched\",status=\"404\"} 1",
        "sigil_tokens_issued_total{grant_type=\"client_credentials\"} 2",
        "sigil_tokens_issued_total{grant_type=\"password\"} 1",
        "sigil_password_hashes_running 0",
        "sigil_password_hashes_waiting 0",
    ] {
        assert!(has_line(&text, line), "missing {line} in\n{text}");
    }
    let current = format!(
        "sigil_signing_keys{{kid=\"{}\",state=\"current\"}} 1",
        app.keys.current_kid()
    );
    assert!(has_line(&text, &current), "{text}");
    assert_eq!(text.matches("state=\"next\"").count(), 1, "{text}");
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn with_a_management_listener_metrics_and_health_leave_the_public_port() {
    let app = crate::helpers::spawn_app_with(|config| {
        config.management_listen = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let management = app.management_url();
    let http = reqwest::Client::new();
    let get = |base: String, path: &'static str| {
        let http = http.clone();
        async move { http.get(format!("{base}{path}")).send().await.unwrap() }
    };

    let mut public = Vec::new();
    for path in ["/metrics", "/healthz", "/readyz"] {
        public.push(get(app.address.clone(), path).await.status().as_u16());
    }
    let metrics = get(management.clone(), "/metrics").await;
    let healthz = get(management.clone(), "/healthz").await.status();
    let readyz = get(management.clone(), "/readyz").await.status();
    let token = get(management, "/.well-known/jwks.json").await.status();
    let jwks = app.get("/.well-known/jwks.json").await.status();

    assert_eq!(public, [404, 404, 404], "not on the public port");
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("sigil_http_requests_total")
    );
    assert_eq!((healthz.as_u16(), readyz.as_u16()), (200, 200));
    assert_eq!(token, 404, "the management port serves operations only");
    assert_eq!(jwks, 200);
}
