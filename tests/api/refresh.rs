//! `grant_type=refresh_token`: rotation on every use, reuse revokes the whole family.

use std::time::Duration;

use serde_json::Value;
use sigil::clock::Clock;

use crate::helpers::{TestApp, TestClient, contains, spawn_app, spawn_app_with};

async fn session(app: &TestApp, scopes: &str) -> (TestClient, String) {
    app.create_user("ann@example.com").await;
    let client = app.create_client("password,refresh_token", scopes).await;
    let body = app.logged_in(&client, "ann@example.com").await;
    (client, body["refresh_token"].as_str().unwrap().to_owned())
}

async fn rotate(app: &TestApp, client: &TestClient, token: &str) -> String {
    let response = app.refresh(client, token, None).await;
    assert_eq!(response.status(), 200, "refresh with a live token");
    let body: Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

async fn error_of(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 400);
    response.json::<Value>().await.unwrap()["error"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn reusing_a_consumed_token_revokes_its_family_but_not_other_sessions() {
    let app = spawn_app().await;
    let (client, first) = session(&app, "").await;
    let other_session = app.logged_in(&client, "ann@example.com").await["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = rotate(&app, &client, &first).await;
    let third = rotate(&app, &client, &second).await;

    let reuse = app.refresh(&client, &first, None).await;

    assert_eq!(error_of(reuse).await, "invalid_grant");
    let newest = app.refresh(&client, &third, None).await;
    assert_eq!(
        error_of(newest).await,
        "invalid_grant",
        "the newest token of the family died too"
    );
    rotate(&app, &client, &other_session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_one_token_have_exactly_one_winner() {
    let app = spawn_app().await;
    let (client, token) = session(&app, "").await;
    let mut attempts = tokio::task::JoinSet::new();

    for _ in 0..20 {
        let (api, client, token) = (app.api.clone(), client.clone(), token.clone());
        attempts.spawn(async move { api.refresh(&client, &token, None).await.status().as_u16() });
    }
    let statuses = attempts.join_all().await;

    let winners = statuses.iter().filter(|status| **status == 200).count();
    assert_eq!(winners, 1, "statuses: {statuses:?}");
    assert!(
        statuses.iter().all(|status| [200, 400].contains(status)),
        "{statuses:?}"
    );
    let email = sigil::domain::Email::parse("ann@example.com").unwrap();
    let user_id = app
        .store()
        .await
        .find_user_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .id;
    let sql = "SELECT COUNT(*) FROM refresh_families WHERE user_id = $1";
    assert_eq!(
        app.database.count(sql, user_id.as_str()).await,
        1,
        "no second family"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_refreshes_of_many_sessions_all_rotate() {
    let app = spawn_app().await;
    let client = app.create_client("password refresh_token", "").await;
    app.create_user("many@example.com").await;
    let mut refreshes = tokio::task::JoinSet::new();

    for _ in 0..24 {
        let login = app.logged_in(&client, "many@example.com").await;
        let token = login["refresh_token"].as_str().unwrap().to_owned();
        let (api, client) = (app.api.clone(), client.clone());
        refreshes.spawn(async move {
            let response = api.refresh(&client, &token, None).await;
            assert_eq!(response.status(), 200, "every session rotates");
            let body: Value = response.json().await.unwrap();
            (token, body["refresh_token"].as_str().unwrap().to_owned())
        });
    }
    let rotated = refreshes.join_all().await;

    let store = app.store().await;
    let family = |token: &str| {
        let hash = sigil::domain::RefreshToken::presented(token.to_owned()).hash();
        let store = store.clone();
        async move {
            store
                .find_refresh_token(hash.as_bytes())
                .await
                .unwrap()
                .unwrap()
                .family_id
        }
    };
    for (old, new) in &rotated {
        assert_eq!(
            family(old).await,
            family(new).await,
            "the successor joins its own session"
        );
        rotate(&app, &client, new).await;
        let reuse = app.refresh(&client, old, None).await;
        assert_eq!(
            error_of(reuse).await,
            "invalid_grant",
            "the old token is spent"
        );
    }
}

#[tokio::test]
async fn within_the_grace_period_a_consumed_token_works_again_without_revoking() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| {
        config.clock = clock.clone();
        config.refresh_grace = Duration::from_secs(30);
    })
    .await;
    let (client, first) = session(&app, "").await;
    let second = rotate(&app, &client, &first).await;

    clock.advance(Duration::from_secs(10));
    let retried = rotate(&app, &client, &first).await;
    rotate(&app, &client, &second).await;
    rotate(&app, &client, &retried).await;

    clock.advance(Duration::from_secs(60));
    let late = app.refresh(&client, &first, None).await;
    assert_eq!(error_of(late).await, "invalid_grant");
    let family_gone = app.refresh(&client, &retried, None).await;
    assert_eq!(
        error_of(family_gone).await,
        "invalid_grant",
        "reuse after the grace revokes the family"
    );
}

#[tokio::test]
async fn scope_may_narrow_on_refresh_but_never_widen() {
    let app = spawn_app().await;
    let (client, token) = session(&app, "read write").await;

    let wider = app.refresh(&client, &token, Some("read write admin")).await;
    let narrower = app.refresh(&client, &token, Some("read")).await;

    assert_eq!(error_of(wider).await, "invalid_scope");
    assert_eq!(
        narrower.status(),
        200,
        "the failed widening did not consume the token"
    );
    let body: Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "read");
    let next = body["refresh_token"].as_str().unwrap();
    let again_wider = app.refresh(&client, next, Some("read write")).await;
    assert_eq!(
        error_of(again_wider).await,
        "invalid_scope",
        "the narrowed family stays narrow"
    );
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let app = spawn_app().await;
    let (client, token) = session(&app, "").await;
    let thief = app.create_client("password,refresh_token", "").await;

    let stolen = app.refresh(&thief, &token, None).await;

    assert_eq!(error_of(stolen).await, "invalid_grant");
    rotate(&app, &client, &token).await;
}

#[tokio::test]
async fn a_deleted_users_refresh_fails() {
    let app = spawn_app().await;
    let (client, token) = session(&app, "").await;
    let user = app
        .store()
        .await
        .find_user_by_email(&sigil::domain::Email::parse("ann@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();

    app.delete_user(user.id.as_str()).await;
    let response = app.refresh(&client, &token, None).await;

    assert_eq!(error_of(response).await, "invalid_grant");
}

#[tokio::test]
async fn sessions_end_at_their_absolute_expiry() {
    let clock = Clock::manual(chrono::Utc::now());
    let app = spawn_app_with(|config| {
        config.clock = clock.clone();
        config.refresh_token_ttl = Duration::from_secs(3600);
    })
    .await;
    let (client, token) = session(&app, "").await;
    let token = rotate(&app, &client, &token).await;

    clock.advance(Duration::from_secs(3601));
    let response = app.refresh(&client, &token, None).await;

    assert_eq!(error_of(response).await, "invalid_grant");
}

#[tokio::test]
async fn refresh_tokens_are_stored_only_as_hashes() {
    let app = spawn_app().await;
    let (client, first) = session(&app, "").await;
    let second = rotate(&app, &client, &first).await;

    let dump = app.database.dump().await;

    assert!(contains(&dump, "ann@example.com"), "the dump has the user");
    assert!(!contains(&dump, &first) && !contains(&dump, &second));
}
