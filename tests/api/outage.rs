//! A real PostgreSQL outage: the server is stopped and started again under a running sigil,
//! spoken to over HTTP and gRPC.
//!
//! Needs a PostgreSQL of its own (stopping the shared one would break every other test):
//! `scripts/test` starts one and runs this module with `TEST_DATABASE_URL` pointing at it and
//! `TEST_PG_CTL` set to the `pg_ctl` command (with `-D`) that controls it. Elsewhere the test
//! reports itself skipped.

use std::time::{Duration, Instant};

use serde_json::Value;

use sigil::grpc::proto::{GetTokenRequest, LoginRequest};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{PASSWORD, TestClient, failure, spawn_app_with};

/// The gRPC health status of the whole server.
async fn serving(health: &mut HealthClient<tonic::transport::Channel>) -> ServingStatus {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    match health.check(request).await {
        Ok(answer) => ServingStatus::try_from(answer.into_inner().status).unwrap(),
        Err(_) => ServingStatus::Unknown,
    }
}

/// Runs `$TEST_PG_CTL <action>`.
fn pg_ctl(command: &str, action: &[&str]) {
    let mut words = command.split_whitespace();
    let program = words.next().expect("TEST_PG_CTL names a command");
    let status = std::process::Command::new(program)
        .args(words)
        .args(action)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("pg_ctl runs");
    assert!(status.success(), "pg_ctl {action:?} failed");
}

/// Polls `probe` every 50 ms until it is true, for at most `limit`.
async fn eventually(limit: Duration, mut probe: impl AsyncFnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if probe().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn a_postgres_outage_is_a_fast_503_machine_tokens_keep_flowing_and_recovery_needs_no_restart()
{
    let (Ok(command), Ok(_)) = (
        std::env::var("TEST_PG_CTL"),
        std::env::var("TEST_DATABASE_URL"),
    ) else {
        eprintln!("skipped: needs TEST_PG_CTL and its own PostgreSQL (scripts/test sets both)");
        return;
    };
    let app = spawn_app_with(|config| config.client_cache_ttl = Duration::from_secs(1)).await;
    let machine = app.create_client("client_credentials", "").await;
    let dashboard: TestClient = app.create_client("password,refresh_token", "").await;
    app.create_user("ann@example.com").await;
    app.client_credentials_token(&machine).await;
    let mut grpc = app.grpc().await;
    let mut health = HealthClient::new(app.grpc_channel().await);

    pg_ctl(&command, &["stop", "-m", "fast", "-w"]);
    let known_down = eventually(Duration::from_secs(10), async || {
        app.get("/readyz").await.status() == 503
    })
    .await;
    assert!(known_down, "readyz says 503 once the database is gone");

    let mut slowest = Duration::ZERO;
    for _ in 0..10 {
        let started = Instant::now();
        let login = app
            .login(&dashboard, "ann@example.com", PASSWORD, None)
            .await;
        let status = login.status();
        let body: Value = login.json().await.unwrap();
        slowest = slowest.max(started.elapsed());
        assert_eq!(status, 503);
        assert_eq!(body["error"], "temporarily_unavailable");
    }
    eprintln!("slowest 503 while the database was down: {slowest:?}");
    assert!(
        slowest < Duration::from_millis(500),
        "503 at once: {slowest:?}"
    );
    let (code, error) = failure(
        grpc.login(LoginRequest {
            email: "ann@example.com".into(),
            password: PASSWORD.into(),
            client_id: dashboard.id.clone(),
            client_secret: dashboard.secret.clone(),
            ..LoginRequest::default()
        })
        .await,
    );
    assert_eq!(
        (code, error.as_str()),
        (Code::Unavailable, "temporarily_unavailable")
    );
    let not_serving = eventually(Duration::from_secs(5), async || {
        serving(&mut health).await == ServingStatus::NotServing
    })
    .await;
    assert!(not_serving, "gRPC health follows readiness down");
    // Past the 1 s freshness of the cache, with the change listener's connection gone too.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for _ in 0..5 {
        let token = app
            .post_token(&[("grant_type", "client_credentials")], machine.basic())
            .await;
        assert_eq!(
            token.status(),
            200,
            "a cached machine client keeps its tokens"
        );
    }
    let machine_token = grpc
        .get_token(GetTokenRequest {
            client_id: machine.id.clone(),
            client_secret: machine.secret.clone(),
            scope: String::new(),
        })
        .await;
    assert!(
        machine_token.is_ok(),
        "and over gRPC too: {machine_token:?}"
    );

    pg_ctl(&command, &["start", "-w"]);
    let back = eventually(Duration::from_secs(15), async || {
        app.get("/readyz").await.status() == 200
    })
    .await;
    assert!(back, "ready again without a restart");
    let serving_again = eventually(Duration::from_secs(5), async || {
        serving(&mut health).await == ServingStatus::Serving
    })
    .await;
    assert!(serving_again, "gRPC health follows readiness back up");
    let login = app
        .login(&dashboard, "ann@example.com", PASSWORD, None)
        .await;
    assert_eq!(login.status(), 200, "logins work again");
    let fresh = app.create_client("client_credentials", "").await;
    app.client_credentials_token(&fresh).await;
}
