//! Input hardening: security headers on every response, length limits, and a generative
//! test that throws malformed requests at every endpoint and expects no 5xx and no crash.

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Api, PASSWORD, TestApp, spawn_app};

const SECURITY_HEADERS: [(&str, &str); 4] = [
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    (
        "content-security-policy",
        "default-src 'none'; frame-ancestors 'none'",
    ),
];

#[tokio::test]
async fn every_kind_of_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "").await;
    let token = app.client_credentials_token(&client).await;
    let responses = [
        ("jwks", app.get("/.well-known/jwks.json").await),
        (
            "discovery",
            app.get("/.well-known/openid-configuration").await,
        ),
        ("health", app.get("/healthz").await),
        (
            "token",
            app.post_token(&[("grant_type", "client_credentials")], client.basic())
                .await,
        ),
        (
            "token error",
            app.post_token(&[("grant_type", "nope")], client.basic())
                .await,
        ),
        (
            "admin 403",
            app.admin(Method::GET, "/admin/users", Some(&token)).await,
        ),
        ("404", app.get("/nowhere").await),
        ("405", app.get("/token").await),
        ("metrics", app.get("/metrics").await),
    ];

    for (what, response) in responses {
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(
                response.headers().get(name).map(|v| v.to_str().unwrap()),
                Some(value),
                "{what}: {name}"
            );
        }
        assert!(response.headers().contains_key("cache-control"), "{what}");
    }
}

#[tokio::test]
async fn overlong_fields_get_a_clear_400() {
    let app = spawn_app().await;
    let long = |n: usize| "a".repeat(n);
    let cases = [
        (
            "/register",
            json!({ "email": format!("{}@example.com", long(250)), "password": PASSWORD }),
            "email",
        ),
        (
            "/register",
            json!({ "email": "ok@example.com", "password": long(1025) }),
            "password",
        ),
        (
            "/admin/clients",
            json!({ "name": long(201), "grant_types": ["password"] }),
            "name",
        ),
        (
            "/admin/clients",
            json!({ "name": "x", "grant_types": ["password"], "scope": long(1025) }),
            "scope",
        ),
        (
            "/admin/clients",
            json!({ "name": "x", "grant_types": ["password"], "audience": long(257) }),
            "audience",
        ),
    ];
    let token = app.admin_token().await;

    for (path, body, field) in cases {
        let response = app
            .admin_json(Method::POST, path, Some(&token), Some(body))
            .await;
        assert_eq!(response.status(), 400, "{field}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"], "invalid_request", "{field}");
    }
    let scope = long(1025);
    let oversized_scope = app
        .post_token(
            &[("grant_type", "client_credentials"), ("scope", &scope)],
            None,
        )
        .await;
    assert_eq!(
        oversized_scope.status(),
        401,
        "no client: invalid_client before the scope is read"
    );
    let body = "x".repeat(17 * 1024);
    let too_big = app
        .http
        .post(app.url("/register"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
}

/// One malformed request: where, how, with which headers and body. Values may hold the
/// placeholders `{client_id}`, `{client_secret}`, `{username}`, `{password}` and `{refresh}`,
/// replaced by real credentials when sent, so requests get past authentication and reach the
/// parsing and logic behind it.
#[derive(Debug, Clone)]
struct Malformed {
    method: Method,
    path: String,
    content_type: Option<String>,
    authorization: Option<String>,
    body: Vec<u8>,
}

/// How an endpoint takes its input.
#[derive(Debug, Clone, Copy)]
enum Input {
    Form(&'static [&'static str]),
    Json(&'static [&'static str]),
    Nothing,
}

const TOKEN_FIELDS: &[&str] = &[
    "grant_type",
    "scope",
    "client_id",
    "client_secret",
    "username",
    "password",
    "refresh_token",
];
const SESSION_FIELDS: &[&str] = &[
    "token",
    "token_type_hint",
    "refresh_token",
    "all",
    "client_id",
    "client_secret",
];
const USER_FIELDS: &[&str] = &["username", "email", "password", "admin", "disabled"];
const CLIENT_FIELDS: &[&str] = &["name", "grant_types", "scope", "audience", "public"];

/// Every endpoint with its method and input; `{}` is a path parameter.
const ENDPOINTS: &[(&str, &str, Input)] = &[
    ("POST", "/token", Input::Form(TOKEN_FIELDS)),
    ("POST", "/revoke", Input::Form(SESSION_FIELDS)),
    ("POST", "/introspect", Input::Form(SESSION_FIELDS)),
    ("POST", "/logout", Input::Form(SESSION_FIELDS)),
    ("POST", "/register", Input::Json(USER_FIELDS)),
    ("GET", "/userinfo", Input::Nothing),
    ("GET", "/me", Input::Nothing),
    ("GET", "/admin/users", Input::Nothing),
    ("POST", "/admin/users", Input::Json(USER_FIELDS)),
    ("GET", "/admin/users/{}", Input::Nothing),
    ("PATCH", "/admin/users/{}", Input::Json(USER_FIELDS)),
    ("DELETE", "/admin/users/{}", Input::Nothing),
    ("GET", "/admin/clients", Input::Nothing),
    ("POST", "/admin/clients", Input::Json(CLIENT_FIELDS)),
    ("GET", "/admin/clients/{}", Input::Nothing),
    ("PATCH", "/admin/clients/{}", Input::Json(CLIENT_FIELDS)),
    ("POST", "/admin/clients/{}/secret", Input::Nothing),
    ("GET", "/admin/keys", Input::Nothing),
    ("POST", "/admin/keys/rotate", Input::Nothing),
    ("POST", "/admin/keys/{}/revoke", Input::Nothing),
    ("GET", "/metrics", Input::Nothing),
    ("GET", "/readyz", Input::Nothing),
    ("GET", "/healthz", Input::Nothing),
    ("GET", "/openapi.json", Input::Nothing),
    ("GET", "/.well-known/jwks.json", Input::Nothing),
    ("GET", "/.well-known/openid-configuration", Input::Nothing),
    ("GET", "/{}", Input::Nothing),
];

/// Text a field might hold: plausible values, real credentials, and hostile strings.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "client_credentials",
            "password",
            "refresh_token",
            "implicit",
            "admin",
            "openid read",
            "true",
            "false",
            "{client_id}",
            "{client_secret}",
            "{username}",
            "{password}",
            "{refresh}",
            "access_token",
            "",
            " ",
            "x@y",
            "a\"b",
            "\u{0}",
            "é",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,64}",
        "[%+&=;:/?#]{0,8}[a-z@.]{0,12}",
        (0usize..3).prop_map(|n| "x".repeat([300, 1100, 6000][n])),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(2, 12, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z]{1,6}", inner, 0..3)
                .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A body shaped for `input` most of the time, arbitrary bytes otherwise.
fn body(input: Input) -> BoxedStrategy<Vec<u8>> {
    let raw = prop::collection::vec(any::<u8>(), 0..256).boxed();
    match input {
        Input::Form(fields) => {
            let pair = (prop::sample::select(fields.to_vec()), text());
            let form = prop::collection::vec(pair, 0..7).prop_map(|pairs| {
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(pairs)
                    .finish()
                    .into_bytes()
            });
            prop_oneof![6 => form, 1 => raw].boxed()
        }
        Input::Json(fields) => {
            let member = (prop::sample::select(fields.to_vec()), json_value());
            let object = prop::collection::vec(member, 0..6).prop_map(|members| {
                let object: serde_json::Map<_, _> = members
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect();
                serde_json::Value::Object(object).to_string().into_bytes()
            });
            let other = json_value().prop_map(|value| value.to_string().into_bytes());
            prop_oneof![6 => object, 1 => other, 1 => raw].boxed()
        }
        Input::Nothing => prop_oneof![3 => Just(Vec::new()), 1 => raw].boxed(),
    }
}

fn content_type(input: Input) -> BoxedStrategy<Option<String>> {
    let usual = match input {
        Input::Form(_) => Some("application/x-www-form-urlencoded".to_owned()),
        Input::Json(_) => Some("application/json".to_owned()),
        Input::Nothing => None,
    };
    let other = prop::option::of(prop::sample::select(vec![
        "application/json; charset=utf-8".to_owned(),
        "text/plain".to_owned(),
        "multipart/form-data; boundary=x".to_owned(),
        "application/x-www-form-urlencoded; charset=latin1".to_owned(),
        "application/json-seq".to_owned(),
    ]));
    prop_oneof![4 => Just(usual), 1 => other].boxed()
}

fn authorization() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        4 => Just("Basic {client}".to_owned()),
        4 => Just("Bearer {admin}".to_owned()),
        1 => "Basic [A-Za-z0-9+/=]{0,60}",
        1 => "Bearer [A-Za-z0-9._-]{0,80}",
        1 => Just("Basic Og==".to_owned()),
        1 => "\\PC{0,30}",
    ])
}

fn malformed() -> impl Strategy<Value = Malformed> {
    let methods = vec![
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::PUT,
    ];
    (prop::sample::select(ENDPOINTS.to_vec()), any::<bool>()).prop_flat_map(
        move |((method, template, input), other_method)| {
            let method: Method = method.parse().unwrap();
            let method = if other_method {
                prop::sample::select(methods.clone()).boxed()
            } else {
                Just(method).boxed()
            };
            let parameter = prop_oneof![
                Just("{user_id}".to_owned()),
                Just("{client_id}".to_owned()),
                "[a-zA-Z0-9%._~:@!$&'()*+,;=-]{0,40}"
            ];
            let query =
                prop::option::of("[a-z_]{1,8}=[^#\\s]{0,20}(&[a-z_]{1,8}=[^#\\s]{0,20}){0,2}");
            (
                method,
                parameter,
                query,
                content_type(input),
                authorization(),
                body(input),
            )
                .prop_map(
                    move |(method, parameter, query, content_type, authorization, body)| {
                        let path = template.replace("{}", &parameter);
                        let path = match query {
                            Some(query) => format!("{path}?{query}"),
                            None => path,
                        };
                        Malformed {
                            method,
                            path,
                            content_type,
                            authorization,
                            body,
                        }
                    },
                )
        },
    )
}

/// Real credentials the placeholders stand for.
struct Fixture {
    client_id: String,
    client_secret: String,
    username: String,
    user_id: String,
    refresh: String,
    admin: String,
}

impl Fixture {
    /// A client of its own (the fuzzer may delete it or rotate its secret) and the
    /// bootstrap admin client's token.
    async fn create(app: &TestApp) -> Self {
        let api: &Api = app;
        let client = app
            .create_client("client_credentials password refresh_token", "openid")
            .await;
        let username = "fuzz@example.com".to_owned();
        let user_id = api.create_user(&username).await;
        let session = api.logged_in(&client, &username).await;
        Self {
            refresh: session["refresh_token"].as_str().unwrap().to_owned(),
            admin: api.admin_token().await,
            client_id: client.id,
            client_secret: client.secret,
            username,
            user_id,
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("{client_id}", &self.client_id)
            .replace("{client_secret}", &self.client_secret)
            .replace("{username}", &self.username)
            .replace("{user_id}", &self.user_id)
            .replace("{password}", PASSWORD)
            .replace("{refresh}", &self.refresh)
            .replace("{admin}", &self.admin)
    }
}

/// Sends `request` through the router in-process: parsing and logic are the same as over a
/// socket, without a connection per case.
async fn send(router: &axum::Router, request: &Malformed, fixture: &Fixture) -> u16 {
    use base64::Engine as _;
    use tower::ServiceExt as _;
    let path = fixture.fill(&request.path);
    let Ok(uri) = path.parse::<axum::http::Uri>() else {
        return 400;
    };
    let method = axum::http::Method::from_bytes(request.method.as_str().as_bytes()).unwrap();
    let mut builder = axum::http::Request::builder().method(method).uri(uri);
    if let Some(content_type) = &request.content_type {
        builder = builder.header("content-type", content_type);
    }
    if let Some(value) = &request.authorization {
        let basic = format!("{}:{}", fixture.client_id, fixture.client_secret);
        let client = base64::engine::general_purpose::STANDARD.encode(basic);
        let value = fixture.fill(value).replace("{client}", &client);
        if let Ok(header) = axum::http::HeaderValue::from_str(&value) {
            builder = builder.header("authorization", header);
        }
    }
    let body = match std::str::from_utf8(&request.body) {
        Ok(text) => fixture.fill(text).into_bytes(),
        Err(_) => request.body.clone(),
    };
    let request = builder.body(axum::body::Body::from(body)).unwrap();
    let response = router.clone().oneshot(request).await;
    match response {
        Ok(response) => response.status().as_u16(),
        Err(never) => match never {},
    }
}

#[test]
fn malformed_requests_to_every_endpoint_never_get_a_5xx() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let fixture = runtime.block_on(Fixture::create(&app));
    let router = app.router();
    let cases = std::env::var("SIGIL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, u32>::new());

    let outcome = runner.run(&malformed(), |request| {
        let status = runtime.block_on(send(&router, &request, &fixture));
        *statuses.lock().unwrap().entry(status).or_default() += 1;
        prop_assert!(status < 500, "{status} for {request:?}");
        Ok(())
    });

    outcome.unwrap();
    let health = runtime.block_on(app.get("/healthz"));
    assert_eq!(health.status(), 200, "still serving after the barrage");
    let statuses = statuses.into_inner().unwrap();
    let reached_logic = statuses
        .iter()
        .filter(|(s, _)| **s < 300)
        .map(|(_, n)| n)
        .sum::<u32>();
    assert!(
        reached_logic > cases / 20,
        "too few requests got past the checks: {statuses:?}"
    );
}

#[tokio::test]
async fn client_authentication_is_checked_before_the_token_parameter() {
    let app = spawn_app().await;
    for path in ["/introspect", "/revoke", "/logout"] {
        let response = app
            .http
            .post(app.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            401,
            "{path} without any client authentication"
        );
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{path}");
    }
    let client = app.create_client("client_credentials", "").await;
    let missing = app.client_post("/introspect", &client, &[]).await;
    assert_eq!(
        missing.status(),
        400,
        "an authenticated client without a token"
    );
}

#[tokio::test]
async fn a_user_list_offset_beyond_the_documented_range_is_a_400() {
    let app = spawn_app().await;
    let token = app.admin_token().await;
    for offset in ["9223372036854775808", "-1"] {
        let path = format!("/admin/users?offset={offset}");
        let response = app.admin(Method::GET, &path, Some(&token)).await;
        assert_eq!(response.status(), 400, "offset {offset}");
    }
    let last = "/admin/users?offset=9223372036854775807";
    assert_eq!(
        app.admin(Method::GET, last, Some(&token)).await.status(),
        200
    );
}
