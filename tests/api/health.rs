//! Liveness, readiness and unknown paths.

use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn healthz_and_readyz_answer_200_when_the_database_is_up() {
    let app = spawn_app().await;

    let health = app.get("/healthz").await;
    let ready = app.get("/readyz").await;

    assert_eq!(health.status(), 200);
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let app = spawn_app().await;

    let response = app.get("/no/such/thing").await;

    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn suite_runs_on_the_backend_test_database_url_names() {
    let app = spawn_app().await;

    let wanted = if std::env::var_os("TEST_DATABASE_URL").is_some() {
        "postgres"
    } else {
        "sqlite"
    };

    assert_eq!(app.database.is_postgres(), wanted == "postgres");
    assert_eq!(app.store().await.backend(), wanted);
}
