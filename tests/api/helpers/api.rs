//! `Api`: HTTP request helpers for one server (token grants, admin calls, forms).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use super::*;

/// Request helpers for one server.
#[derive(Clone)]
pub struct Api {
    pub address: String,
    pub http: reqwest::Client,
    /// The gRPC endpoint (`http://host:port`), when the server serves gRPC.
    pub grpc: Option<String>,
}

impl std::ops::Deref for TestApp {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// `POST /token` with a form body and, optionally, Basic credentials (sent raw).
    pub async fn post_token(
        &self,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> reqwest::Response {
        let body = serde_urlencoded(form);
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            let encoded = STANDARD.encode(format!("{id}:{secret}"));
            request = request.header("authorization", format!("Basic {encoded}"));
        }
        request.send().await.unwrap()
    }

    /// A client_credentials token via Basic auth; panics unless it is a 200.
    pub async fn client_credentials_token(&self, client: &TestClient) -> String {
        let response = self
            .post_token(
                &[("grant_type", "client_credentials")],
                Some((&client.id, &client.secret)),
            )
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(&self, path: &str, body: Value) -> reqwest::Response {
        let request = self.http.post(self.url(path)).json(&body);
        request.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    pub async fn jwks(&self) -> JwkSet {
        self.get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap()
    }

    /// The kids the JWKS serves, in its order.
    pub async fn served_kids(&self) -> Vec<String> {
        self.jwks()
            .await
            .keys
            .iter()
            .filter_map(|key| key.common.key_id.clone())
            .collect()
    }
}

impl TestClient {
    /// Basic credentials, or `None` for a public client (it sends `client_id` in the body).
    pub fn basic(&self) -> Option<(&str, &str)> {
        (!self.secret.is_empty()).then_some((self.id.as_str(), self.secret.as_str()))
    }

    /// The form fields a public client adds to identify itself.
    fn identify<'a>(&'a self, form: &mut Vec<(&'a str, &'a str)>) {
        if self.secret.is_empty() {
            form.push(("client_id", &self.id));
        }
    }
}

impl Api {
    /// `POST /register` with a JSON body.
    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let body = serde_json::json!({ "email": email, "password": password });
        self.http
            .post(self.url("/register"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Registers a user; panics unless `201`. Returns the user id.
    pub async fn create_user(&self, email: &str) -> String {
        let response = self.register(email, PASSWORD).await;
        assert_eq!(response.status(), 201);
        response.json::<Value>().await.unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// The password grant.
    pub async fn login(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        client.identify(&mut form);
        self.post_token(&form, client.basic()).await
    }

    /// A successful password-grant response body; panics otherwise.
    pub async fn logged_in(&self, client: &TestClient, username: &str) -> Value {
        let response = self.login(client, username, PASSWORD, None).await;
        assert_eq!(response.status(), 200, "login of {username}");
        response.json().await.unwrap()
    }

    /// The refresh_token grant.
    pub async fn refresh(
        &self,
        client: &TestClient,
        refresh_token: &str,
        scope: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ];
        form.extend(scope.map(|scope| ("scope", scope)));
        client.identify(&mut form);
        self.post_token(&form, client.basic()).await
    }

    /// A password login through `client` that says it comes from `ip` (`X-Forwarded-For`,
    /// believed when loopback is a trusted proxy).
    pub async fn login_from(
        &self,
        client: &TestClient,
        ip: &str,
        username: &str,
        password: &str,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ];
        client.identify(&mut form);
        let mut request = self
            .http
            .post(self.url("/token"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", ip)
            .body(serde_urlencoded(&form));
        if let Some((id, secret)) = client.basic() {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// A public client (no secret) registered through the admin API.
    pub async fn public_client(&self, grants: &[&str], scope: &str) -> TestClient {
        let body = serde_json::json!({
            "name": "dashboard", "grant_types": grants, "scope": scope, "public": true
        });
        let created = self
            .admin_ok(reqwest::Method::POST, "/admin/clients", Some(body), 201)
            .await;
        TestClient {
            id: created["client_id"].as_str().unwrap().to_owned(),
            secret: String::new(),
        }
    }

    /// A form POST to an OAuth endpoint with the client's credentials.
    pub async fn client_post(
        &self,
        path: &str,
        client: &TestClient,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut form = fields.to_vec();
        client.identify(&mut form);
        let mut request = self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded(&form));
        if let Some((id, secret)) = client.basic() {
            request = request.basic_auth(id, Some(secret));
        }
        request.send().await.unwrap()
    }

    /// `POST /introspect`; returns the JSON answer, panicking unless `200`.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        let response = self
            .client_post("/introspect", client, &[("token", token)])
            .await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `GET` with a Bearer token.
    pub async fn get_with_token(&self, path: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// The bootstrap admin client.
pub fn admin_client() -> TestClient {
    TestClient {
        id: ADMIN_CLIENT_ID.to_owned(),
        secret: ADMIN_CLIENT_SECRET.to_owned(),
    }
}

impl Api {
    /// A client_credentials token of the bootstrap admin client (scope `admin`).
    pub async fn admin_token(&self) -> String {
        self.client_credentials_token(&admin_client()).await
    }

    /// An admin API call with an optional Bearer token.
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.admin_json(method, path, token, None).await
    }

    /// An admin API call with an optional Bearer token and an optional JSON body.
    pub async fn admin_json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// An admin API call that must answer `expected`; returns the JSON body (`Null` if none).
    pub async fn admin_ok(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let token = self.admin_token().await;
        let response = self
            .admin_json(method.clone(), path, Some(&token), body)
            .await;
        assert_eq!(response.status(), expected, "{method} {path}");
        let text = response.text().await.unwrap();
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

/// Form-encodes pairs (RFC 6749 appendix B).
pub fn serde_urlencoded(form: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish()
}
