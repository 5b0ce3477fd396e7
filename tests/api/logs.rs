//! The log of a full flow (HTTP, gRPC, mailed links), captured from the real binary at debug
//! level, holds no password, client secret, token, link or private-key material.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use base64::Engine as _;
use sigil::grpc::proto::{LoginRequest, RefreshRequest, UserInfoRequest};

use crate::helpers::{
    Api, SigilProcess, SmtpSink, TestClient, TestDatabase, private_key_material, serde_urlencoded,
    with_basic, with_bearer,
};

const ADMIN_PASSWORD: &str = "bootstrap admin passphrase 1";
const REGISTERED_PASSWORD: &str = "registered user passphrase 2";
const CREATED_PASSWORD: &str = "admin-created passphrase 3";
const RESET_PASSWORD: &str = "reset passphrase number 4";
const WRONG_PASSWORD: &str = "almost the right passphrase 5";
const MAILED_PASSWORD: &str = "chosen through a mailed link 6";

/// Every secret the flow handled, to search the log for.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, secret: &str) -> String {
        assert!(
            secret.len() >= 16,
            "a secret worth searching for: {secret:?}"
        );
        self.0.push(secret.to_owned());
        secret.to_owned()
    }

    fn add_fields(&mut self, body: &Value, fields: &[&str]) {
        for field in fields {
            if let Some(secret) = body[field].as_str() {
                self.add(secret);
            }
        }
    }
}

/// Waits for the bootstrap banner and reads the admin client's credentials off stdout.
async fn bootstrap_admin(process: &SigilProcess) -> TestClient {
    for _ in 0..100 {
        let out = process.stdout();
        let field = |name: &str| {
            out.lines()
                .find_map(|line| line.trim().strip_prefix(name))
                .map(|value| value.trim().to_owned())
        };
        if let (Some(id), Some(secret)) = (field("client_id:"), field("client_secret:")) {
            return TestClient { id, secret };
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no bootstrap banner on stdout: {}", process.stdout());
}

async fn token(api: &Api, client: &TestClient, form: &[(&str, &str)]) -> Value {
    let response = api.post_token(form, client.basic()).await;
    assert_eq!(response.status(), 200, "{form:?}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_full_flow_at_debug_level_logs_no_secret() {
    let database = TestDatabase::create().await;
    let sink = SmtpSink::start();
    let smtp_url = sink
        .as_ref()
        .map(|sink| format!("smtp://127.0.0.1:{}", sink.port))
        .unwrap_or_default();
    let flags = ["--argon2-memory-kib", "256", "--argon2-iterations", "1"];
    let env = [
        ("RUST_LOG", "debug"),
        ("SIGIL_ADMIN_USERNAME", "root@example.com"),
        ("SIGIL_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("SIGIL_SMTP_URL", smtp_url.as_str()),
    ];
    let process = SigilProcess::serve_with_env(&database, &flags, &env);
    let api = process.api();
    let mut secrets = Secrets::default();
    let admin_client = bootstrap_admin(&process).await;
    secrets.add(&admin_client.secret);
    for password in [
        ADMIN_PASSWORD,
        REGISTERED_PASSWORD,
        CREATED_PASSWORD,
        RESET_PASSWORD,
        WRONG_PASSWORD,
        MAILED_PASSWORD,
    ] {
        secrets.add(password);
    }

    // Admin calls: a client (secret shown, then rotated) and a user (created, password reset).
    let admin = token(&api, &admin_client, &[("grant_type", "client_credentials")]).await;
    secrets.add_fields(&admin, &["access_token"]);
    let admin_token = admin["access_token"].as_str().unwrap();
    let call = |method: Method, path: String, body: Option<Value>| {
        let api = &api;
        async move {
            let response = api.admin_json(method, &path, Some(admin_token), body).await;
            assert!(response.status().is_success(), "{path}");
            response.json::<Value>().await.unwrap_or(Value::Null)
        }
    };
    let created = call(
        Method::POST,
        "/admin/clients".into(),
        Some(json!({ "name": "dash",
        "grant_types": ["password", "refresh_token", "client_credentials"], "scope": "openid" })),
    )
    .await;
    secrets.add_fields(&created, &["client_secret"]);
    let client_id = created["client_id"].as_str().unwrap().to_owned();
    let rotated = call(
        Method::POST,
        format!("/admin/clients/{client_id}/secret"),
        None,
    )
    .await;
    let client = TestClient {
        id: client_id,
        secret: secrets.add(rotated["client_secret"].as_str().unwrap()),
    };
    let user = call(
        Method::POST,
        "/admin/users".into(),
        Some(json!({ "username": "made@example.com", "password": CREATED_PASSWORD })),
    )
    .await;
    call(
        Method::PATCH,
        format!("/admin/users/{}", user["id"].as_str().unwrap()),
        Some(json!({ "password": RESET_PASSWORD })),
    )
    .await;
    call(Method::GET, "/admin/keys".into(), None).await;

    // Registration, logins (one wrong), refresh with reuse, introspection, revocation, logout.
    let registered = api.register("reg@example.com", REGISTERED_PASSWORD).await;
    assert_eq!(registered.status(), 201);
    let wrong = api
        .login(&client, "reg@example.com", WRONG_PASSWORD, None)
        .await;
    assert_eq!(wrong.status(), 400);
    let login = token(
        &api,
        &client,
        &[
            ("grant_type", "password"),
            ("username", "reg@example.com"),
            ("password", REGISTERED_PASSWORD),
        ],
    )
    .await;
    secrets.add_fields(&login, &["access_token", "refresh_token", "id_token"]);
    let first = login["refresh_token"].as_str().unwrap();
    let refreshed = token(
        &api,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", first)],
    )
    .await;
    secrets.add_fields(&refreshed, &["access_token", "refresh_token", "id_token"]);
    let reused = api.refresh(&client, first, None).await;
    assert_eq!(reused.status(), 400, "reuse detected");
    let root = token(
        &api,
        &admin_client,
        &[
            ("grant_type", "password"),
            ("username", "root@example.com"),
            ("password", ADMIN_PASSWORD),
        ],
    )
    .await;
    secrets.add_fields(&root, &["access_token", "refresh_token"]);
    let reset = token(
        &api,
        &client,
        &[
            ("grant_type", "password"),
            ("username", "made@example.com"),
            ("password", RESET_PASSWORD),
        ],
    )
    .await;
    secrets.add_fields(&reset, &["access_token", "refresh_token"]);
    api.introspect(&client, refreshed["refresh_token"].as_str().unwrap())
        .await;
    api.client_post(
        "/revoke",
        &client,
        &[("token", refreshed["refresh_token"].as_str().unwrap())],
    )
    .await;
    api.client_post(
        "/logout",
        &client,
        &[("refresh_token", reset["refresh_token"].as_str().unwrap())],
    )
    .await;
    api.get_with_token("/userinfo", login["access_token"].as_str().unwrap())
        .await;
    // A careless client putting secrets into the query string.
    let query = serde_urlencoded(&[
        ("client_secret", &client.secret),
        ("password", REGISTERED_PASSWORD),
    ]);
    api.get(&format!("/token?{query}")).await;

    // The same over gRPC: Basic metadata, a login, a refresh, userinfo with a bearer token.
    let mut grpc = api.grpc().await;
    let basic = format!("{}:{}", client.id, client.secret);
    secrets.add(&base64::engine::general_purpose::STANDARD.encode(basic));
    let login = LoginRequest {
        email: "reg@example.com".into(),
        password: REGISTERED_PASSWORD.into(),
        ..LoginRequest::default()
    };
    let tokens = grpc
        .login(with_basic(login, &client.id, &client.secret))
        .await
        .unwrap()
        .into_inner();
    secrets.add(&tokens.access_token);
    secrets.add(&tokens.refresh_token);
    let refresh = RefreshRequest {
        refresh_token: tokens.refresh_token.clone(),
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        ..RefreshRequest::default()
    };
    let refreshed = grpc.refresh(refresh).await.unwrap().into_inner();
    secrets.add(&refreshed.access_token);
    secrets.add(&refreshed.refresh_token);
    grpc.user_info(with_bearer(UserInfoRequest {}, &refreshed.access_token))
        .await
        .unwrap();
    let wrong = LoginRequest {
        email: "reg@example.com".into(),
        password: WRONG_PASSWORD.into(),
        ..LoginRequest::default()
    };
    grpc.login(with_basic(wrong, &client.id, &client.secret))
        .await
        .unwrap_err();

    // Mailed links: the verification link of the registration, then a password reset.
    if let Some(sink) = &sink {
        mailed_links(&api, sink, &mut secrets).await;
    }

    let material = private_key_material(&database).await;
    let (status, logs) = process.terminate().await;

    assert!(status.success());
    let log = logs.join("\n");
    for expected in [
        "client registered",
        "client secret rotated",
        "user created",
        "refresh token reused",
        "user updated",
        "rpc finished",
    ] {
        assert!(
            log.contains(expected),
            "the capture works: {expected:?} missing from\n{log}"
        );
    }
    assert!(log.contains("\"level\":\"DEBUG\""), "debug lines captured");
    assert!(
        sink.is_none() || log.contains("mail sent"),
        "the mail flow ran:\n{log}"
    );
    let encoded = |s: &str| serde_urlencoded(&[("x", s)])[2..].to_owned();
    for secret in &secrets.0 {
        for form in [secret.clone(), encoded(secret), secret[..12].to_owned()] {
            assert!(!log.contains(&form), "secret {form:?} in the log:\n{log}");
        }
    }
    for fragment in &material {
        assert!(
            !log.contains(fragment.as_str()),
            "private key material in the log"
        );
    }
}

/// Follows the registration's verification link, asks for a reset link and sets a password
/// through it; the tokens and links join the secrets.
async fn mailed_links(api: &Api, sink: &SmtpSink, secrets: &mut Secrets) {
    let verify = sink.messages(1, Duration::from_secs(15)).await;
    let verify_link = verify[0].link("http").expect("a verification link");
    secrets.add(&verify_link);
    let token = secrets.add(&verify[0].token("http"));
    assert_eq!(
        api.get(&format!("/verify-email?token={token}"))
            .await
            .status(),
        200
    );
    let confirm = [("token", token.as_str())];
    let confirmed = api
        .http
        .post(api.url("/verify-email"))
        .form(&confirm)
        .send();
    assert_eq!(confirmed.await.unwrap().status(), 200);
    let forgot = api
        .post_json("/password/forgot", json!({ "email": "made@example.com" }))
        .await;
    assert_eq!(forgot.status(), 202);
    let reset = sink.messages(2, Duration::from_secs(15)).await;
    secrets.add(&reset[1].link("http").expect("a reset link"));
    let token = secrets.add(&reset[1].token("http"));
    assert_eq!(
        api.get(&format!("/password/reset?token={token}"))
            .await
            .status(),
        200
    );
    let form = [("token", token.as_str()), ("password", MAILED_PASSWORD)];
    let done = api
        .http
        .post(api.url("/password/reset"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
}
