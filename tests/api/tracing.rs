//! OpenTelemetry traces (SPEC "Deployment and operations"): the real binary exports its spans
//! over OTLP/gRPC to a real receiver built on the OpenTelemetry project's protocol package; a
//! caller's W3C `traceparent` (HTTP header or gRPC metadata) parents the request's span, and
//! the events the request wrote carry the trace to NATS consumers.

use std::time::Duration;

use serde_json::Value;
use sigil::grpc::proto::LoginRequest;

use crate::helpers::{
    ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, Api, NatsServer, OtlpReceiver, PASSWORD, SigilProcess,
    TestClient, TestDatabase, with_metadata,
};

const WITHIN: Duration = Duration::from_secs(20);
const EMAIL: &str = "ann@example.com";

/// A W3C trace context: a fixed trace id and parent span id, sampled.
fn traceparent(trace: &str, parent: &str) -> String {
    format!("00-{trace}-{parent}-01")
}

async fn login_with_traceparent(api: &Api, client: &TestClient, traceparent: &str) -> Value {
    let form = [
        ("grant_type", "password"),
        ("username", EMAIL),
        ("password", PASSWORD),
        ("client_id", client.id.as_str()),
    ];
    let response = api
        .http
        .post(api.url("/token"))
        .header("traceparent", traceparent)
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn named<'a>(spans: &'a [Value], name: &str) -> Option<&'a Value> {
    spans.iter().find(|span| span["name"] == name)
}

/// The spans of a traced password login, once its server span and the children that show
/// database, hashing and signing work are all in.
fn login_complete(spans: &[Value], server: &str) -> bool {
    ["find_user_by_email", "argon2", "sign", server]
        .iter()
        .all(|name| named(spans, name).is_some())
}

fn start(receiver: &OtlpReceiver, nats: &NatsServer, database: &TestDatabase) -> SigilProcess {
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
        // Export within 100 ms instead of the default 5 s.
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("SIGIL_ADMIN_CLIENT_ID", ADMIN_CLIENT_ID),
        ("SIGIL_ADMIN_CLIENT_SECRET", ADMIN_CLIENT_SECRET),
    ];
    SigilProcess::serve_with_env(database, &["--nats-url", &nats.url], &env)
}

#[tokio::test]
async fn a_traced_login_exports_its_spans_under_the_callers_parent_and_its_events_carry_the_trace()
{
    let (Some(receiver), Some(nats)) = (OtlpReceiver::start(), NatsServer::start()) else {
        return;
    };
    let database = TestDatabase::create().await;
    let sigil = start(&receiver, &nats, &database);
    let api = sigil.api();
    let client = api.public_client(&["password", "refresh_token"], "").await;
    api.create_user(EMAIL).await;
    let (trace, parent) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");

    let tokens = login_with_traceparent(&api, &client, &traceparent(trace, parent)).await;

    let spans = receiver
        .trace(trace, WITHIN, |spans| login_complete(spans, "POST /token"))
        .await;
    let server = named(&spans, "POST /token").unwrap();
    assert_eq!(
        server["parent_span_id"], parent,
        "the caller's span is the parent"
    );
    assert_eq!(server["kind"], 2, "a server span");
    assert_eq!(server["service"], "sigil");
    assert_eq!(server["attributes"]["http.response.status_code"], "200");
    assert_eq!(server["attributes"]["http.route"], "/token");
    let ids: Vec<&Value> = spans.iter().map(|span| &span["span_id"]).collect();
    for span in &spans {
        if span["span_id"] != server["span_id"] {
            assert!(
                ids.contains(&&span["parent_span_id"]),
                "{} hangs off the request's tree: {span}",
                span["name"]
            );
        }
    }
    let secrets = [PASSWORD, tokens["refresh_token"].as_str().unwrap()];
    for span in receiver.all() {
        let text = span.to_string();
        assert!(
            !secrets.iter().any(|secret| text.contains(secret)),
            "{text}"
        );
    }
    let events = nats.events(4, WITHIN).await;
    let traced: Vec<&str> = events
        .iter()
        .filter(|event| {
            let traceparent = event.envelope["traceparent"].as_str().unwrap_or_default();
            traceparent.starts_with(&format!("00-{trace}-"))
        })
        .map(|event| event.kind())
        .collect();
    assert_eq!(
        traced,
        ["auth.session.created", "auth.token.issued"],
        "the login's events carry its trace (the setup's do not)"
    );
}

#[tokio::test]
async fn a_traced_grpc_call_is_a_server_span_under_the_callers_parent() {
    let (Some(receiver), Some(nats)) = (OtlpReceiver::start(), NatsServer::start()) else {
        return;
    };
    let database = TestDatabase::create().await;
    let sigil = start(&receiver, &nats, &database);
    let api = sigil.api();
    let client = api.public_client(&["password"], "").await;
    api.create_user(EMAIL).await;
    let (trace, parent) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let request = LoginRequest {
        email: EMAIL.to_owned(),
        password: PASSWORD.to_owned(),
        client_id: client.id.clone(),
        ..LoginRequest::default()
    };

    let answer = api
        .grpc()
        .await
        .login(with_metadata(
            request,
            "traceparent",
            &traceparent(trace, parent),
        ))
        .await;

    assert!(answer.is_ok(), "{answer:?}");
    let server_name = "sigil.v1.Auth/Login";
    let spans = receiver
        .trace(trace, WITHIN, |spans| login_complete(spans, server_name))
        .await;
    let server = named(&spans, server_name).unwrap();
    assert_eq!(server["parent_span_id"], parent);
    assert_eq!(server["kind"], 2);
    assert_eq!(server["attributes"]["rpc.system"], "grpc");
}

#[tokio::test]
async fn without_an_endpoint_nothing_is_traced_and_no_event_carries_a_trace() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let database = TestDatabase::create().await;
    let env = [
        ("SIGIL_ADMIN_CLIENT_ID", ADMIN_CLIENT_ID),
        ("SIGIL_ADMIN_CLIENT_SECRET", ADMIN_CLIENT_SECRET),
    ];
    let sigil = SigilProcess::serve_with_env(&database, &["--nats-url", &nats.url], &env);
    let api = sigil.api();
    let client = api.public_client(&["password"], "").await;
    api.create_user(EMAIL).await;
    let caller = traceparent("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");

    login_with_traceparent(&api, &client, &caller).await;

    let events = nats.events(4, WITHIN).await;
    assert!(
        events
            .iter()
            .all(|event| !event.raw.contains("traceparent")),
        "a caller's header is not passed on by an untraced server"
    );
}
