//! The holes a security review found, each shown closed: limits under truly parallel
//! requests, rights taken away reaching live tokens and sessions, and the smaller gaps.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Api, PASSWORD, TestApp, TestClient, admin_client, count_status, parallel, serde_urlencoded,
    spawn_app_with,
};
use sigil::hooks::Checkpoint;
use sigil::password::HashParams;

/// argon2id slow enough (a few ms) that parallel attempts are all in flight at once.
const SLOWER_HASH: HashParams = HashParams {
    memory_kib: 4096,
    iterations: 1,
    parallelism: 1,
};

/// A password login through `client` from `ip`: the status.
async fn login_from(api: &Api, client: &TestClient, ip: &str, user: &str, password: &str) -> u16 {
    let response = api.login_from(client, ip, user, password).await;
    response.status().as_u16()
}

async fn limited(per_user: u32, per_ip: u32) -> TestApp {
    spawn_app_with(|config| {
        config.limits.login_failures_per_user = per_user;
        config.limits.login_failures_per_ip = per_ip;
        config.passwords.hash_params = SLOWER_HASH;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

#[tokio::test]
async fn parallel_wrong_passwords_for_one_username_get_only_the_limit_of_guesses() {
    let app = limited(5, 0).await;
    let client = app.public_client(&["password"], "").await;
    app.create_user("victim@example.com").await;

    let statuses = parallel(30, |i| {
        let (api, client) = (app.api.clone(), client.clone());
        async move {
            let ip = format!("203.0.113.{i}");
            login_from(&api, &client, &ip, "victim@example.com", "wrong password").await
        }
    })
    .await;

    assert_eq!(
        count_status(&statuses, 400),
        5,
        "five verified: {statuses:?}"
    );
    assert_eq!(
        count_status(&statuses, 429),
        25,
        "the rest refused: {statuses:?}"
    );
}

#[tokio::test]
async fn attempts_in_flight_hold_their_slots_so_the_right_password_comes_too_late() {
    // The first five guesses to be checked are held there, slots in hand, as a slow hash
    // would hold them.
    let held = Checkpoint::holding(5);
    let app = spawn_app_with(|config| {
        config.limits.login_failures_per_user = 5;
        config.hooks.login_checked = Some(held.clone());
    })
    .await;
    let client = app.public_client(&["password"], "").await;
    app.create_user("victim@example.com").await;
    let guesses: Vec<_> = (0..24)
        .map(|_| {
            let (api, client) = (app.api.clone(), client.clone());
            tokio::spawn(async move {
                let login = api
                    .login(&client, "victim@example.com", "wrong", None)
                    .await;
                login.status().as_u16()
            })
        })
        .collect();
    held.reached(5).await;

    let right = app
        .login(&client, "victim@example.com", PASSWORD, None)
        .await;

    assert_eq!(
        right.status(),
        429,
        "five guesses in flight hold every slot"
    );
    held.release(5);
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.unwrap());
    }
    assert_eq!(count_status(&statuses, 400), 5, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 19, "{statuses:?}");
}

#[tokio::test]
async fn parallel_guesses_from_one_ip_across_usernames_get_only_the_ip_limit() {
    let app = limited(0, 8).await;
    let client = app.public_client(&["password"], "").await;

    let statuses = parallel(24, |i| {
        let (api, client) = (app.api.clone(), client.clone());
        async move {
            let user = format!("guess{i}@example.com");
            login_from(&api, &client, "203.0.113.7", &user, "123456").await
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 400), 8, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 16, "{statuses:?}");
}

/// An admin user's session token (scope admin) through the bootstrap admin client.
async fn admin_user_token(app: &TestApp, email: &str) -> (String, Value) {
    let created = app
        .admin_ok(
            Method::POST,
            "/admin/users",
            Some(json!({ "username": email, "password": PASSWORD, "admin": true })),
            201,
        )
        .await;
    let login = app
        .login(&admin_client(), email, PASSWORD, Some("admin"))
        .await;
    assert_eq!(login.status(), 200);
    let body: Value = login.json().await.unwrap();
    (created["id"].as_str().unwrap().to_owned(), body)
}

#[tokio::test]
async fn a_demoted_admin_users_live_token_no_longer_opens_the_admin_api() {
    let app = spawn_app_with(|_| {}).await;
    let (id, session) = admin_user_token(&app, "boss@example.com").await;
    let token = session["access_token"].as_str().unwrap();
    let before = app.admin(Method::GET, "/admin/users", Some(token)).await;
    assert_eq!(before.status(), 200);

    app.admin_ok(
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "admin": false })),
        200,
    )
    .await;

    let after = app.admin(Method::GET, "/admin/users", Some(token)).await;
    assert_eq!(after.status(), 401, "the session ended with the demotion");
    let promote = app
        .admin_json(
            Method::PATCH,
            &format!("/admin/users/{id}"),
            Some(token),
            Some(json!({ "admin": true })),
        )
        .await;
    assert_eq!(promote.status(), 401, "no self re-promotion");
    let refresh = session["refresh_token"].as_str().unwrap();
    let refreshed = app.refresh(&admin_client(), refresh, None).await;
    assert_eq!(refreshed.status(), 400, "demotion ends the user's sessions");
}

#[tokio::test]
async fn a_clients_admin_token_stops_working_when_the_client_loses_scope_admin() {
    let app = spawn_app_with(|_| {}).await;
    let created = app
        .admin_ok(
            Method::POST,
            "/admin/clients",
            Some(json!({ "name": "ops", "grant_types": ["client_credentials"], "scope": "admin" })),
            201,
        )
        .await;
    let ops = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.client_credentials_token(&ops).await;
    let before = app.admin(Method::GET, "/admin/clients", Some(&token)).await;
    assert_eq!(before.status(), 200);

    app.admin_ok(
        Method::PATCH,
        &format!("/admin/clients/{}", ops.id),
        Some(json!({ "scope": "" })),
        200,
    )
    .await;

    let after = app.admin(Method::GET, "/admin/clients", Some(&token)).await;
    assert_eq!(after.status(), 403, "the client's current scope decides");
}

#[tokio::test]
async fn a_login_verified_before_a_password_reset_gets_no_session_after_it() {
    let held = Checkpoint::holding(2);
    let app = spawn_app_with(|config| config.hooks.login_checked = Some(held.clone())).await;
    let client = app.public_client(&["password", "refresh_token"], "").await;
    let id = app.create_user("ann@example.com").await;
    let logins: Vec<_> = (0..2)
        .map(|_| {
            let (api, client) = (app.api.clone(), client.clone());
            tokio::spawn(async move {
                let response = api.login(&client, "ann@example.com", PASSWORD, None).await;
                (response.status().as_u16(), response.text().await.unwrap())
            })
        })
        .collect();
    held.reached(2).await;

    app.admin_ok(
        Method::PATCH,
        &format!("/admin/users/{id}"),
        Some(json!({ "password": "a brand new password" })),
        200,
    )
    .await;
    held.release(2);

    for login in logins {
        let (status, body) = login.await.unwrap();
        assert_eq!(
            status, 400,
            "the old password's login lost the race: {body}"
        );
    }
    let fresh = app
        .login(&client, "ann@example.com", "a brand new password", None)
        .await;
    assert_eq!(fresh.status(), 200, "the new password works");
}

#[tokio::test]
async fn refresh_refuses_a_session_older_than_the_users_credentials() {
    let app = spawn_app_with(|_| {}).await;
    let client = app.public_client(&["password", "refresh_token"], "").await;
    let id = app.create_user("ann@example.com").await;
    let session = app.logged_in(&client, "ann@example.com").await;

    // A credentials change whose session revocation never happened (as for a session that
    // slipped past one before this rule existed).
    app.database
        .execute(
            "UPDATE users SET credentials_version = credentials_version + 1 WHERE user_id = $1",
            &id,
        )
        .await;

    let refreshed = app
        .refresh(&client, session["refresh_token"].as_str().unwrap(), None)
        .await;
    assert_eq!(refreshed.status(), 400);
}

#[tokio::test]
async fn refresh_narrows_to_the_clients_current_scope() {
    let app = spawn_app_with(|_| {}).await;
    let client = app
        .public_client(&["password", "refresh_token"], "read write")
        .await;
    app.create_user("ann@example.com").await;
    let session = app.logged_in(&client, "ann@example.com").await;
    assert_eq!(session["scope"], "read write");

    app.admin_ok(
        Method::PATCH,
        &format!("/admin/clients/{}", client.id),
        Some(json!({ "scope": "read" })),
        200,
    )
    .await;

    let refresh = session["refresh_token"].as_str().unwrap();
    let asked = app.refresh(&client, refresh, Some("write")).await;
    assert_eq!(asked.status(), 400, "write is gone from the client");
    let refreshed: Value = app
        .refresh(&client, refresh, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(refreshed["scope"], "read", "{refreshed}");
}

#[tokio::test]
async fn logging_out_everywhere_needs_a_live_refresh_token() {
    let app = spawn_app_with(|_| {}).await;
    let client = app.public_client(&["password", "refresh_token"], "").await;
    app.create_user("ann@example.com").await;
    let first = app.logged_in(&client, "ann@example.com").await;
    let other = app.logged_in(&client, "ann@example.com").await;
    let spent = first["refresh_token"].as_str().unwrap();
    let rotated: Value = app
        .refresh(&client, spent, None)
        .await
        .json()
        .await
        .unwrap();
    assert!(rotated["refresh_token"].is_string());

    let logout = app
        .client_post(
            "/logout",
            &client,
            &[("refresh_token", spent), ("all", "true")],
        )
        .await;

    assert_eq!(
        logout.status(),
        400,
        "a spent token cannot end every session"
    );
    let other_refresh = other["refresh_token"].as_str().unwrap();
    let survived = app.refresh(&client, other_refresh, None).await;
    assert_eq!(survived.status(), 200, "the other session lives on");
}

#[tokio::test]
async fn junk_sent_with_a_public_client_id_drains_no_one_elses_rate() {
    let app = spawn_app_with(|config| {
        config.limits.client_rate = std::num::NonZeroU32::new(5);
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let client = app.public_client(&["password"], "").await;
    app.create_user("ann@example.com").await;
    let junk = [
        ("grant_type", "client_credentials"),
        ("client_id", &client.id),
    ];
    for _ in 0..50 {
        let response = app
            .http
            .post(app.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", "203.0.113.66")
            .body(serde_urlencoded(&junk))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "unauthorized_client is not charged");
    }
    let same_ip = login_from(&app, &client, "203.0.113.66", "ann@example.com", PASSWORD).await;
    assert_eq!(
        same_ip, 200,
        "junk rejected before grant work costs nothing"
    );

    let mut flood = Vec::new();
    for _ in 0..10 {
        flood.push(login_from(&app, &client, "203.0.113.66", "ann@example.com", "wrong").await);
    }
    assert!(
        flood.contains(&429),
        "real work from one IP is charged: {flood:?}"
    );
    let elsewhere = login_from(&app, &client, "198.51.100.5", "ann@example.com", PASSWORD).await;
    assert_eq!(elsewhere, 200, "another IP has its own bucket");
}

async fn register_from(api: &Api, ip: &str, email: &str) -> (u16, Option<String>) {
    let response = api
        .http
        .post(api.url("/register"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    let retry = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), retry)
}

#[tokio::test]
async fn registrations_are_throttled_per_ip_and_in_total_under_parallel_requests() {
    let app = spawn_app_with(|config| {
        config.limits.registrations_per_ip = 3;
        config.limits.registrations_total = 5;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;

    let results = parallel(8, |i| {
        let api = app.api.clone();
        async move { register_from(&api, "203.0.113.1", &format!("u{i}@example.com")).await }
    })
    .await;

    let statuses: Vec<u16> = results.iter().map(|(s, _)| *s).collect();
    assert_eq!(count_status(&statuses, 201), 3, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 5, "{statuses:?}");
    assert!(
        results
            .iter()
            .filter(|(s, _)| *s == 429)
            .all(|(_, r)| r.is_some())
    );
    let other_ip = register_from(&app, "198.51.100.1", "v1@example.com").await;
    assert_eq!(other_ip.0, 201, "another IP registers");
    register_from(&app, "198.51.100.2", "v2@example.com").await;
    let beyond_total = register_from(&app, "198.51.100.3", "v3@example.com").await;
    assert_eq!(beyond_total.0, 429, "five in total per window");
}

async fn hashes_computed(app: &TestApp) -> u64 {
    let metrics = app.get("/metrics").await.text().await.unwrap();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("sigil_password_hashes_total "))
        .expect("hash counter exported")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_taken_email_is_refused_without_hashing_a_password() {
    let app = spawn_app_with(|_| {}).await;
    app.create_user("ann@example.com").await;
    let before = hashes_computed(&app).await;

    let taken = app.register("ANN@example.com", PASSWORD).await;

    assert_eq!(taken.status(), 409);
    assert_eq!(hashes_computed(&app).await, before, "no argon2 spent");
    app.create_user("bob@example.com").await;
    assert_eq!(
        hashes_computed(&app).await,
        before + 1,
        "the counter counts"
    );
}

#[tokio::test]
async fn a_revoked_client_credentials_token_is_dead_everywhere() {
    let app = spawn_app_with(|_| {}).await;
    let client = app.create_client("client_credentials", "").await;
    let token = app.client_credentials_token(&client).await;
    assert_eq!(app.introspect(&client, &token).await["active"], true);
    let admin = app.admin_token().await;

    let revoked = app
        .client_post("/revoke", &client, &[("token", &token)])
        .await;
    let admin_revoked = app
        .client_post("/revoke", &admin_client(), &[("token", &admin)])
        .await;

    assert_eq!(revoked.status(), 200);
    assert_eq!(admin_revoked.status(), 200);
    assert_eq!(app.introspect(&client, &token).await["active"], false);
    let denied = app.admin(Method::GET, "/admin/users", Some(&admin)).await;
    assert_eq!(
        denied.status(),
        401,
        "the revoked admin token opens nothing"
    );
    let fresh = app.admin_token().await;
    let allowed = app.admin(Method::GET, "/admin/users", Some(&fresh)).await;
    assert_eq!(allowed.status(), 200, "only that token is dead");
}

#[tokio::test]
async fn only_the_tokens_client_or_a_resource_server_may_introspect_it() {
    let app = spawn_app_with(|_| {}).await;
    let owner = app.create_client("client_credentials", "").await;
    let nosy = app.create_client("client_credentials", "").await;
    let created = app
        .admin_ok(
            Method::POST,
            "/admin/clients",
            Some(json!({ "name": "api", "grant_types": ["client_credentials"], "introspection": true })),
            201,
        )
        .await;
    assert_eq!(created["introspection"], true);
    let resource_server = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.client_credentials_token(&owner).await;

    assert_eq!(app.introspect(&owner, &token).await["active"], true);
    assert_eq!(
        app.introspect(&nosy, &token).await,
        json!({ "active": false })
    );
    let seen = app.introspect(&resource_server, &token).await;
    assert_eq!(seen["active"], true);
    assert_eq!(seen["client_id"], owner.id.as_str());
}

#[tokio::test]
async fn ipv4_mapped_peers_of_a_dual_stack_listener_match_trusted_proxies() {
    let app = spawn_app_with(|config| {
        config.listen = "[::]:0".parse().unwrap();
        config.limits.login_failures_per_ip = 2;
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_owned();
    let api = Api {
        address: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        grpc: None,
    };
    let client = app.public_client(&["password"], "").await;

    for n in 0..2 {
        let user = format!("u{n}@example.com");
        login_from(&api, &client, "203.0.113.1", &user, "x").await;
    }
    let other = login_from(&api, &client, "203.0.113.2", "u9@example.com", "x").await;

    assert_eq!(
        other, 400,
        "the forwarded IP is the client, not the mapped peer"
    );
}

#[tokio::test]
async fn a_client_lookup_racing_a_secret_rotation_never_caches_the_old_secret() {
    let held = Checkpoint::holding(1);
    let app = spawn_app_with(|_| {}).await;
    let client = app.create_client("client_credentials", "").await;
    // A second server on the same database, holding its first lookup of this client.
    let mut config = app.config.clone();
    config.hooks.client_fetched = Some((client.id.clone(), held.clone()));
    let running = crate::helpers::RunningServer::start(config).await;
    let api = running.api();
    let in_flight = {
        let (api, client) = (api.clone(), client.clone());
        tokio::spawn(async move {
            api.post_token(&[("grant_type", "client_credentials")], client.basic())
                .await
                .status()
        })
    };
    held.reached(1).await;

    let token = api.admin_token().await;
    let rotated = api
        .admin_json(
            Method::POST,
            &format!("/admin/clients/{}/secret", client.id),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(rotated.status(), 200);
    held.release(1);
    in_flight.await.unwrap();

    let old_secret = api
        .post_token(&[("grant_type", "client_credentials")], client.basic())
        .await;
    assert_eq!(old_secret.status(), 401, "the old secret stays refused");
    running.stop().await;
}

#[tokio::test]
async fn a_wrong_method_on_a_document_route_gets_a_json_405() {
    let app = spawn_app_with(|_| {}).await;

    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/healthz",
    ] {
        let response = app.http.post(app.url(path)).send().await.unwrap();

        assert_eq!(response.status(), 405, "{path}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
}

#[tokio::test]
async fn the_sqlite_database_files_are_private_to_their_owner() {
    use std::os::unix::fs::PermissionsExt as _;

    let app = spawn_app_with(|_| {}).await;
    if app.database.is_postgres() {
        eprintln!("skipped: a PostgreSQL database has no file");
        return;
    }
    app.create_user("ann@example.com").await;

    for suffix in ["", "-wal", "-shm"] {
        let path = app.database.dir.path().join(format!("sigil.db{suffix}"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "sigil.db{suffix} is {mode:o}");
    }
}

#[tokio::test]
async fn discovery_does_not_advertise_the_admin_scope() {
    let app = spawn_app_with(|_| {}).await;

    let metadata: Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .unwrap();

    assert_eq!(
        metadata["scopes_supported"],
        json!(["openid", "email", "profile"])
    );
}

/// Reads from `stream` until the server closes it; `true` if that happens within `limit`.
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: std::time::Duration) -> bool {
    use tokio::io::AsyncReadExt as _;

    let mut buf = [0u8; 4096];
    let reading = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, reading).await.is_ok()
}

fn socket_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

#[tokio::test]
async fn a_connection_that_sends_half_a_request_is_cut_off() {
    use tokio::io::AsyncWriteExt as _;

    let app = spawn_app_with(|config| {
        config.connections.header_read_timeout = std::time::Duration::from_millis(500);
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(socket_address(&app))
        .await
        .unwrap();

    stream
        .write_all(b"POST /token HTTP/1.1\r\nHost: sigil\r\nContent-Type: app")
        .await
        .unwrap();

    assert!(
        closed_within(&mut stream, std::time::Duration::from_secs(5)).await,
        "closed soon after the header-read timeout"
    );
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    use tokio::io::AsyncWriteExt as _;

    let app = spawn_app_with(|config| {
        config.connections.idle_timeout = std::time::Duration::from_millis(700);
    })
    .await;
    let mut stream = tokio::net::TcpStream::connect(socket_address(&app))
        .await
        .unwrap();

    // The HTTP/2 connection preface and an empty SETTINGS frame, then silence.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await
        .unwrap();

    assert!(
        closed_within(&mut stream, std::time::Duration::from_secs(5)).await,
        "closed soon after the idle timeout"
    );
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    use tokio::io::AsyncWriteExt as _;

    let app = spawn_app_with(|config| config.connections.max_connections = 2).await;
    let address = socket_address(&app);
    let first = tokio::net::TcpStream::connect(&address).await.unwrap();
    let _second = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: sigil\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();

    let mut answer = [0u8; 12];
    let early = tokio::time::timeout(
        std::time::Duration::from_millis(500),
        tokio::io::AsyncReadExt::read_exact(&mut third, &mut answer),
    )
    .await;
    assert!(early.is_err(), "the third connection is not served yet");
    drop(first);

    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::io::AsyncReadExt::read_exact(&mut third, &mut answer),
    )
    .await
    .expect("served once a slot is free")
    .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
}
