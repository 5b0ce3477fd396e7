//! The gRPC Auth service (`sigil.v1.Auth`), spoken to with the generated tonic client: every
//! rpc's success and error classes, one set of rules with HTTP (the same sessions, limits,
//! audit rows and metrics), health, reflection, deadlines, and a barrage of malformed calls.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::Value;
use sigil::grpc::proto::{
    GetTokenRequest, IntrospectRequest, LoginRequest, LogoutRequest, RefreshRequest,
    RegisterRequest, RevokeRequest, TokenResponse, UserInfoRequest,
};
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{
    AUDIENCE, Auth, PASSWORD, TestApp, TestClient, failure, spawn_app, spawn_app_with, verify,
    with_basic, with_bearer, with_metadata,
};

fn login(email: &str, password: &str, client: &TestClient) -> LoginRequest {
    LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
        scope: String::new(),
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
    }
}

fn refresh(token: &str, client: &TestClient) -> RefreshRequest {
    RefreshRequest {
        refresh_token: token.to_owned(),
        scope: String::new(),
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
    }
}

fn get_token(client: &TestClient) -> GetTokenRequest {
    GetTokenRequest {
        client_id: client.id.clone(),
        client_secret: client.secret.clone(),
        scope: String::new(),
    }
}

/// A dashboard client (password + refresh) and a registered user logged in over gRPC.
async fn logged_in(app: &TestApp, grpc: &mut Auth) -> (TestClient, TokenResponse) {
    let dashboard = app.create_client("password,refresh_token", "read").await;
    app.create_user("ann@example.com").await;
    let tokens = grpc
        .login(login("ann@example.com", PASSWORD, &dashboard))
        .await
        .expect("login succeeds")
        .into_inner();
    (dashboard, tokens)
}

#[tokio::test]
async fn register_creates_a_user_who_can_log_in_and_refuses_a_taken_or_bad_email() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let register = |email: &str, password: &str| RegisterRequest {
        email: email.to_owned(),
        password: password.to_owned(),
    };

    let created = grpc
        .register(register("Ann@Example.com", PASSWORD))
        .await
        .unwrap()
        .into_inner();
    let taken = failure(grpc.register(register("ann@example.com", PASSWORD)).await);
    let bad_email = failure(grpc.register(register("not-an-email", PASSWORD)).await);
    let short = failure(grpc.register(register("bob@example.com", "short")).await);

    assert!(!created.user_id.is_empty());
    assert_eq!(taken, (Code::AlreadyExists, "user_already_exists".into()));
    assert_eq!(bad_email, (Code::InvalidArgument, "invalid_request".into()));
    assert_eq!(short, (Code::InvalidArgument, "invalid_request".into()));
    let client = app.public_client(&["password"], "").await;
    let body = app.logged_in(&client, "ann@example.com").await;
    let claims = verify(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        AUDIENCE,
    );
    assert_eq!(claims.claims["sub"], created.user_id.as_str());
}

#[tokio::test]
async fn register_is_permission_denied_when_registration_is_off() {
    let app = spawn_app_with(|config| config.registration = false).await;
    let mut grpc = app.grpc().await;

    let refused = failure(
        grpc.register(RegisterRequest {
            email: "ann@example.com".into(),
            password: PASSWORD.into(),
        })
        .await,
    );

    assert_eq!(
        refused,
        (Code::PermissionDenied, "registration_disabled".into())
    );
}

#[tokio::test]
async fn login_issues_tokens_that_verify_against_the_http_jwks() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;

    let (_, tokens) = logged_in(&app, &mut grpc).await;

    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.expires_in, 900);
    assert_eq!(tokens.scope, "read");
    assert!(!tokens.refresh_token.is_empty());
    assert!(tokens.id_token.is_empty(), "no openid scope, no ID token");
    let claims = verify(&tokens.access_token, &app.jwks().await, AUDIENCE).claims;
    assert_eq!(claims["scope"], "read");
    assert!(claims["sid"].is_string(), "a user session");
}

#[tokio::test]
async fn login_errors_have_their_status_and_oauth_code() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let dashboard = app.create_client("password", "read").await;
    let machine = app.create_client("client_credentials", "").await;
    app.create_user("ann@example.com").await;
    let wrong_secret = TestClient {
        secret: "Tr0ub4dor-not-it".into(),
        ..dashboard.clone()
    };
    let with_scope = |scope: &str| LoginRequest {
        scope: scope.into(),
        ..login("ann@example.com", PASSWORD, &dashboard)
    };
    let cases = [
        (
            login("ann@example.com", "Tr0ub4dor-not-it", &dashboard),
            Code::Unauthenticated,
            "invalid_grant",
            "Tr0ub4dor-not-it",
        ),
        (
            login("nobody@example.com", PASSWORD, &dashboard),
            Code::Unauthenticated,
            "invalid_grant",
            "unknown user",
        ),
        (
            login("ann@example.com", PASSWORD, &wrong_secret),
            Code::Unauthenticated,
            "invalid_client",
            "wrong client secret",
        ),
        (
            login("", PASSWORD, &dashboard),
            Code::InvalidArgument,
            "invalid_request",
            "no email",
        ),
        (
            login("ann@example.com", "", &dashboard),
            Code::InvalidArgument,
            "invalid_request",
            "no password",
        ),
        (
            with_scope("write"),
            Code::InvalidArgument,
            "invalid_scope",
            "scope beyond the client's",
        ),
        (
            login("ann@example.com", PASSWORD, &machine),
            Code::PermissionDenied,
            "unauthorized_client",
            "client without the password grant",
        ),
    ];

    for (request, code, error, reason) in cases {
        let got = failure(grpc.login(request).await);

        assert_eq!(got, (code, error.to_owned()), "{reason}");
    }
}

#[tokio::test]
async fn an_unknown_user_and_a_wrong_password_give_the_same_status_and_message() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let dashboard = app.create_client("password", "").await;
    app.create_user("ann@example.com").await;

    let unknown = grpc
        .login(login("nobody@example.com", PASSWORD, &dashboard))
        .await
        .unwrap_err();
    let wrong = grpc
        .login(login("ann@example.com", "Tr0ub4dor-not-it", &dashboard))
        .await
        .unwrap_err();

    assert_eq!(unknown.code(), wrong.code());
    assert_eq!(unknown.message(), wrong.message());
}

#[tokio::test]
async fn get_token_takes_credentials_from_the_message_or_basic_metadata_never_both() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let machine = app.create_client("client_credentials", "read write").await;
    let in_metadata = GetTokenRequest {
        scope: "read".into(),
        ..GetTokenRequest::default()
    };

    let from_fields = grpc
        .get_token(get_token(&machine))
        .await
        .unwrap()
        .into_inner();
    let from_basic = grpc
        .get_token(with_basic(
            in_metadata.clone(),
            &machine.id,
            &machine.secret,
        ))
        .await
        .unwrap()
        .into_inner();
    let both = failure(
        grpc.get_token(with_basic(
            get_token(&machine),
            &machine.id,
            &machine.secret,
        ))
        .await,
    );
    let wrong_basic = failure(
        grpc.get_token(with_basic(
            in_metadata.clone(),
            &machine.id,
            "Tr0ub4dor-not-it",
        ))
        .await,
    );
    let garbage_basic = failure(
        grpc.get_token(with_metadata(in_metadata, "authorization", "Basic !!!"))
            .await,
    );
    let nobody = failure(grpc.get_token(GetTokenRequest::default()).await);

    let jwks = app.jwks().await;
    let claims = verify(&from_fields.access_token, &jwks, AUDIENCE).claims;
    assert_eq!(claims["sub"], machine.id.as_str());
    assert_eq!(claims["scope"], "read write");
    assert_eq!(
        from_fields.refresh_token, "",
        "no refresh token for machines"
    );
    assert_eq!(
        verify(&from_basic.access_token, &jwks, AUDIENCE).claims["scope"],
        "read"
    );
    assert_eq!(both, (Code::InvalidArgument, "invalid_request".into()));
    assert_eq!(
        wrong_basic,
        (Code::Unauthenticated, "invalid_client".into())
    );
    assert_eq!(
        garbage_basic,
        (Code::Unauthenticated, "invalid_client".into())
    );
    assert_eq!(nobody, (Code::Unauthenticated, "invalid_client".into()));
}

#[tokio::test]
async fn get_token_refuses_public_clients_and_bad_scopes() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let machine = app.create_client("client_credentials", "read").await;
    let public = app.public_client(&["password"], "").await;

    let public_refused = failure(grpc.get_token(get_token(&public)).await);
    let malformed_scope = failure(
        grpc.get_token(GetTokenRequest {
            scope: "bad\"scope".into(),
            ..get_token(&machine)
        })
        .await,
    );

    assert_eq!(
        public_refused,
        (Code::PermissionDenied, "unauthorized_client".into())
    );
    assert_eq!(
        malformed_scope,
        (Code::InvalidArgument, "invalid_scope".into())
    );
}

#[tokio::test]
async fn refresh_reuse_over_grpc_revokes_the_family_for_http_too() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let (dashboard, first) = logged_in(&app, &mut grpc).await;

    let second = grpc
        .refresh(refresh(&first.refresh_token, &dashboard))
        .await
        .unwrap()
        .into_inner();
    let reuse = failure(
        grpc.refresh(refresh(&first.refresh_token, &dashboard))
            .await,
    );
    let over_http = app.refresh(&dashboard, &second.refresh_token, None).await;
    let over_grpc = failure(
        grpc.refresh(refresh(&second.refresh_token, &dashboard))
            .await,
    );

    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    verify(&second.access_token, &app.jwks().await, AUDIENCE);
    assert_eq!(reuse, (Code::Unauthenticated, "invalid_grant".into()));
    assert_eq!(
        over_http.status(),
        400,
        "the family is revoked for HTTP too"
    );
    let body: Value = over_http.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(over_grpc, (Code::Unauthenticated, "invalid_grant".into()));
}

#[tokio::test]
async fn refresh_of_an_http_session_works_over_grpc_and_narrows_scope_only() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let dashboard = app
        .create_client("password,refresh_token", "read write")
        .await;
    app.create_user("ann@example.com").await;
    let body = app.logged_in(&dashboard, "ann@example.com").await;
    let token = body["refresh_token"].as_str().unwrap();

    let wider = failure(
        grpc.refresh(RefreshRequest {
            scope: "read write admin".into(),
            ..refresh(token, &dashboard)
        })
        .await,
    );
    let narrowed = grpc
        .refresh(RefreshRequest {
            scope: "read".into(),
            ..refresh(token, &dashboard)
        })
        .await
        .unwrap()
        .into_inner();
    let missing = failure(grpc.refresh(refresh("", &dashboard)).await);

    assert_eq!(wider, (Code::InvalidArgument, "invalid_scope".into()));
    assert_eq!(narrowed.scope, "read");
    assert_eq!(missing, (Code::InvalidArgument, "invalid_request".into()));
}

#[tokio::test]
async fn logout_ends_the_session_and_all_ends_every_session_of_the_user() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let (dashboard, first) = logged_in(&app, &mut grpc).await;
    let other = grpc
        .login(login("ann@example.com", PASSWORD, &dashboard))
        .await
        .unwrap()
        .into_inner();
    let third = grpc
        .login(login("ann@example.com", PASSWORD, &dashboard))
        .await
        .unwrap()
        .into_inner();
    let logout = |token: &str, all: bool| LogoutRequest {
        refresh_token: token.to_owned(),
        all,
        client_id: dashboard.id.clone(),
        client_secret: dashboard.secret.clone(),
    };

    grpc.logout(logout(&first.refresh_token, false))
        .await
        .unwrap();
    let first_after = failure(
        grpc.refresh(refresh(&first.refresh_token, &dashboard))
            .await,
    );
    let other_after = grpc
        .refresh(refresh(&other.refresh_token, &dashboard))
        .await
        .unwrap()
        .into_inner();
    grpc.logout(logout(&other_after.refresh_token, true))
        .await
        .unwrap();
    let third_after = failure(
        grpc.refresh(refresh(&third.refresh_token, &dashboard))
            .await,
    );
    let unknown = failure(grpc.logout(logout("not-a-token", false)).await);
    let missing = failure(grpc.logout(logout("", false)).await);

    assert_eq!(first_after, (Code::Unauthenticated, "invalid_grant".into()));
    assert_eq!(
        third_after,
        (Code::Unauthenticated, "invalid_grant".into()),
        "all=true"
    );
    assert_eq!(unknown, (Code::Unauthenticated, "invalid_grant".into()));
    assert_eq!(missing, (Code::InvalidArgument, "invalid_request".into()));
}

#[tokio::test]
async fn revoke_and_introspect_follow_rfc_7009_and_7662() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let (dashboard, tokens) = logged_in(&app, &mut grpc).await;
    let introspect = |token: &str| IntrospectRequest {
        token: token.to_owned(),
        client_id: dashboard.id.clone(),
        client_secret: dashboard.secret.clone(),
    };
    let revoke = |token: &str| RevokeRequest {
        token: token.to_owned(),
        client_id: dashboard.id.clone(),
        client_secret: dashboard.secret.clone(),
    };

    let live = grpc
        .introspect(introspect(&tokens.access_token))
        .await
        .unwrap()
        .into_inner();
    grpc.revoke(revoke("unknown-token"))
        .await
        .expect("unknown tokens are no error");
    grpc.revoke(revoke(&tokens.refresh_token)).await.unwrap();
    let dead = grpc
        .introspect(introspect(&tokens.access_token))
        .await
        .unwrap()
        .into_inner();
    let refreshed = failure(
        grpc.refresh(refresh(&tokens.refresh_token, &dashboard))
            .await,
    );
    let missing = failure(grpc.revoke(revoke("")).await);

    assert!(live.active);
    assert_eq!(live.scope, "read");
    assert_eq!(live.client_id, dashboard.id);
    assert_eq!(live.token_type, "Bearer");
    assert_eq!(live.aud, AUDIENCE);
    assert!(live.exp > live.iat && !live.jti.is_empty() && !live.sub.is_empty());
    assert!(!dead.active, "revoking the refresh token ended the session");
    assert_eq!(dead.sub, "", "an inactive answer says nothing else");
    assert_eq!(refreshed, (Code::Unauthenticated, "invalid_grant".into()));
    assert_eq!(missing, (Code::InvalidArgument, "invalid_request".into()));
}

#[tokio::test]
async fn introspect_needs_a_confidential_client() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let public = app.public_client(&["password"], "").await;

    let refused = grpc
        .introspect(IntrospectRequest {
            token: "anything".into(),
            client_id: public.id.clone(),
            client_secret: String::new(),
        })
        .await
        .unwrap_err();

    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(
        refused.metadata().get("x-oauth-error").unwrap(),
        "unauthorized_client"
    );
    assert_eq!(
        refused.message(),
        "a public client cannot introspect tokens: introspection needs a confidential client",
        "says why, not that a grant type is not allowed"
    );
}

#[tokio::test]
async fn userinfo_answers_for_a_live_user_token_only() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let (dashboard, tokens) = logged_in(&app, &mut grpc).await;
    let machine = app.create_client("client_credentials", "").await;
    let machine_token = app.client_credentials_token(&machine).await;
    let user = verify(&tokens.access_token, &app.jwks().await, AUDIENCE).claims["sub"].clone();
    let named = serde_json::json!({ "display_name": "Ann Example" });
    let path = format!("/admin/users/{}", user.as_str().unwrap());
    app.admin_ok(reqwest::Method::PATCH, &path, Some(named), 200)
        .await;

    let info = grpc
        .user_info(with_bearer(UserInfoRequest {}, &tokens.access_token))
        .await
        .unwrap()
        .into_inner();
    let no_token = failure(grpc.user_info(UserInfoRequest {}).await);
    let forged = failure(
        grpc.user_info(with_bearer(UserInfoRequest {}, "a.b.c"))
            .await,
    );
    let machine_refused = failure(
        grpc.user_info(with_bearer(UserInfoRequest {}, &machine_token))
            .await,
    );
    let logout = app
        .client_post(
            "/logout",
            &dashboard,
            &[("refresh_token", &tokens.refresh_token)],
        )
        .await;
    assert_eq!(logout.status(), 204, "logged out over HTTP");
    let after_logout = failure(
        grpc.user_info(with_bearer(UserInfoRequest {}, &tokens.access_token))
            .await,
    );

    assert_eq!(info.email, "ann@example.com");
    assert_eq!(
        info.name, "Ann Example",
        "the display name, as userinfo's `name`"
    );
    assert!(!info.email_verified);
    let claims = verify(&tokens.access_token, &app.jwks().await, AUDIENCE).claims;
    assert_eq!(claims["sub"], info.sub.as_str());
    let invalid_token = (Code::Unauthenticated, "invalid_token".to_owned());
    assert_eq!(no_token, invalid_token);
    assert_eq!(forged, invalid_token);
    assert_eq!(machine_refused, invalid_token);
    assert_eq!(after_logout, invalid_token);
}

#[tokio::test]
async fn failed_logins_over_grpc_count_toward_the_same_limit_as_http() {
    let app = spawn_app_with(|config| config.limits.login_failures_per_user = 3).await;
    let mut grpc = app.grpc().await;
    let dashboard = app.create_client("password", "").await;
    app.create_user("ann@example.com").await;

    for _ in 0..2 {
        let got = failure(
            grpc.login(login("ann@example.com", "Tr0ub4dor-not-it", &dashboard))
                .await,
        );
        assert_eq!(got.0, Code::Unauthenticated);
    }
    let http = app
        .login(&dashboard, "ann@example.com", "Tr0ub4dor-not-it", None)
        .await;
    let limited = grpc
        .login(login("ann@example.com", PASSWORD, &dashboard))
        .await
        .unwrap_err();

    assert_eq!(http.status(), 400, "the third failure, over HTTP");
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let metadata = limited.metadata();
    assert_eq!(
        metadata.get(sigil::grpc::OAUTH_ERROR).unwrap(),
        "too_many_requests"
    );
    let retry: u64 = metadata
        .get(sigil::grpc::RETRY_AFTER)
        .expect("retry-after")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "retry-after {retry}");
}

#[tokio::test]
async fn grpc_calls_write_the_same_audit_rows_as_http_with_the_forwarded_ip() {
    let app = spawn_app_with(|config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let mut grpc = app.grpc().await;
    let dashboard = app.create_client("password,refresh_token", "").await;
    app.create_user("ann@example.com").await;
    let mut request = with_metadata(
        login("ann@example.com", PASSWORD, &dashboard),
        "x-forwarded-for",
        "6.6.6.6, 198.51.100.7",
    );
    request.set_timeout(Duration::from_secs(5));

    grpc.login(request).await.unwrap();
    let failed = with_metadata(
        login("ann@example.com", "Tr0ub4dor-not-it", &dashboard),
        "x-forwarded-for",
        "198.51.100.8",
    );
    grpc.login(failed).await.unwrap_err();

    let rows = |action: &'static str| {
        let app = &app;
        async move {
            let page = app
                .admin_ok(
                    Method::GET,
                    &format!("/admin/audit?action={action}"),
                    None,
                    200,
                )
                .await;
            page["events"].as_array().unwrap().clone()
        }
    };
    let success = rows("login.success").await;
    let failure_rows = rows("login.failure").await;
    assert_eq!(success.len(), 1, "{success:#?}");
    assert_eq!(
        success[0]["ip"], "198.51.100.7",
        "the right-most untrusted hop"
    );
    assert_eq!(success[0]["client_id"], dashboard.id.as_str());
    assert_eq!(failure_rows.len(), 1, "{failure_rows:#?}");
    assert_eq!(failure_rows[0]["ip"], "198.51.100.8");
    let text = serde_json::to_string(&failure_rows).unwrap();
    assert!(
        !text.contains("Tr0ub4dor-not-it"),
        "no password in audit rows"
    );
}

#[tokio::test]
async fn metrics_count_rpcs_by_method_and_code() {
    let app = spawn_app().await;
    let mut grpc = app.grpc().await;
    let machine = app.create_client("client_credentials", "").await;

    grpc.get_token(get_token(&machine)).await.unwrap();
    grpc.get_token(get_token(&machine)).await.unwrap();
    grpc.get_token(GetTokenRequest::default())
        .await
        .unwrap_err();

    let text = app.get("/metrics").await.text().await.unwrap();
    for line in [
        "sigil_grpc_requests_total{method=\"GetToken\",code=\"OK\"} 2",
        "sigil_grpc_requests_total{method=\"GetToken\",code=\"UNAUTHENTICATED\"} 1",
        "sigil_grpc_request_duration_seconds_count{method=\"GetToken\"} 3",
        "sigil_tokens_issued_total{grant_type=\"client_credentials\"} 2",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn a_call_past_its_grpc_timeout_is_cut_off_and_creates_no_session() {
    let held = sigil::hooks::Checkpoint::holding(1);
    let hook = held.clone();
    let app = spawn_app_with(move |config| config.hooks.login_checked = Some(hook)).await;
    let mut grpc = app.grpc().await;
    let dashboard = app.create_client("password,refresh_token", "").await;
    app.create_user("ann@example.com").await;
    let mut request = tonic::Request::new(login("ann@example.com", PASSWORD, &dashboard));
    request.set_timeout(Duration::from_millis(300));

    let started = Instant::now();
    let cut_off = grpc.login(request).await.unwrap_err();
    let elapsed = started.elapsed();
    // The client gives up at its deadline too: only the server's own count proves the server
    // dropped the call. Then the held login may go on: there is nothing left to go on.
    let cancelled = "sigil_grpc_requests_total{method=\"Login\",code=\"CANCELLED\"} 1";
    let mut counted = false;
    for _ in 0..100 {
        counted = app
            .get("/metrics")
            .await
            .text()
            .await
            .unwrap()
            .contains(cancelled);
        if counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    held.release(1);

    assert!(
        matches!(cut_off.code(), Code::Cancelled | Code::DeadlineExceeded),
        "{cut_off:?}"
    );
    assert!(
        elapsed < Duration::from_secs(5),
        "cut off at its deadline: {elapsed:?}"
    );
    assert!(counted, "the server cut the call off at its grpc-timeout");
    let sessions = app
        .admin_ok(Method::GET, "/admin/audit?action=login.success", None, 200)
        .await;
    assert_eq!(
        sessions["events"].as_array().unwrap().len(),
        0,
        "no session started"
    );
    grpc.login(login("ann@example.com", PASSWORD, &dashboard))
        .await
        .expect("the next login, unheld, succeeds");
}

#[tokio::test]
async fn health_follows_readiness_and_reflection_lists_the_services() {
    let app = spawn_app().await;
    let channel = app.grpc_channel().await;
    let mut health = HealthClient::new(channel.clone());
    let check = |service: &str| HealthCheckRequest {
        service: service.to_owned(),
    };

    let overall = health.check(check("")).await.unwrap().into_inner();
    let auth = health
        .check(check("sigil.v1.Auth"))
        .await
        .unwrap()
        .into_inner();
    let unknown = health.check(check("nope.v1.Nothing")).await.unwrap_err();
    let services = reflection_services(channel).await;

    assert_eq!(overall.status, ServingStatus::Serving as i32);
    assert_eq!(auth.status, ServingStatus::Serving as i32);
    assert_eq!(unknown.code(), Code::NotFound);
    for service in [
        "sigil.v1.Auth",
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ] {
        assert!(
            services.contains(&service.to_owned()),
            "{service} in {services:?}"
        );
    }
}

/// The service names `grpc.reflection.v1` lists, and a check that the Auth descriptor with
/// its comments is served.
async fn reflection_services(channel: tonic::transport::Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut client = ServerReflectionClient::new(channel);
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let requests = vec![
        ask(MessageRequest::ListServices(String::new())),
        ask(MessageRequest::FileContainingSymbol("sigil.v1.Auth".into())),
    ];
    let mut answers = client
        .server_reflection_info(tokio_stream_iter(requests))
        .await
        .unwrap()
        .into_inner();
    let mut services = Vec::new();
    let mut descriptor = Vec::new();
    while let Some(answer) = answers.message().await.unwrap() {
        match answer.message_response.unwrap() {
            MessageResponse::ListServicesResponse(list) => {
                services.extend(list.service.into_iter().map(|s| s.name));
            }
            MessageResponse::FileDescriptorResponse(files) => {
                descriptor.extend(files.file_descriptor_proto.concat());
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }
    let text = String::from_utf8_lossy(&descriptor);
    assert!(
        text.contains("sigil/v1/auth.proto"),
        "the Auth file is served"
    );
    services
}

/// A finished request stream for a streaming rpc.
fn tokio_stream_iter<T: Send + 'static>(items: Vec<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::iter(items)
}

#[tokio::test]
async fn connections_beyond_max_connections_wait_until_one_closes() {
    let app = spawn_app_with(|config| config.connections.max_connections = 1).await;
    let machine = app.create_client("client_credentials", "").await;
    let mut first = app.grpc().await;
    first.get_token(get_token(&machine)).await.unwrap();
    let endpoint = tonic::transport::Endpoint::from_shared(app.grpc.clone().unwrap()).unwrap();
    let mut second = sigil::grpc::proto::auth_client::AuthClient::new(endpoint.connect_lazy());
    let mut waiting = tonic::Request::new(get_token(&machine));
    waiting.set_timeout(Duration::from_millis(500));

    let kept_out = second.get_token(waiting).await.unwrap_err();
    drop(first);
    let admitted = tokio::time::timeout(
        Duration::from_secs(10),
        second.get_token(get_token(&machine)),
    )
    .await;

    assert!(
        matches!(
            kept_out.code(),
            Code::DeadlineExceeded | Code::Cancelled | Code::Unavailable
        ),
        "the second connection waits while the first holds the only slot: {kept_out:?}"
    );
    assert!(
        matches!(admitted, Ok(Ok(_))),
        "admitted once the first closed: {admitted:?}"
    );
}
