//! A generative test of the gRPC listener: malformed, truncated and oversized messages and
//! hostile metadata on every rpc. No call may panic the server or be answered `INTERNAL`, and
//! the server stays healthy and keeps issuing tokens afterwards.

use std::collections::BTreeMap;

use bytes::{Buf as _, BufMut as _};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use prost::Message as _;
use sigil::grpc::proto::{
    GetTokenRequest, IntrospectRequest, LoginRequest, LogoutRequest, RefreshRequest,
    RegisterRequest, RevokeRequest,
};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic::{Code, Status};

use crate::helpers::{TestClient, spawn_app};

/// Every rpc of the Auth service, and one that does not exist.
const PATHS: [&str; 9] = [
    "/sigil.v1.Auth/Register",
    "/sigil.v1.Auth/Login",
    "/sigil.v1.Auth/GetToken",
    "/sigil.v1.Auth/Refresh",
    "/sigil.v1.Auth/Logout",
    "/sigil.v1.Auth/Revoke",
    "/sigil.v1.Auth/Introspect",
    "/sigil.v1.Auth/UserInfo",
    "/sigil.v1.Auth/Nope",
];

/// Sends and receives message bytes as they are, so a test can send what no generated client
/// would.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

/// One generated call.
#[derive(Debug, Clone)]
struct Call {
    path: &'static str,
    body: Body,
    metadata: Vec<(&'static str, String)>,
}

/// What a call's message is made of.
#[derive(Debug, Clone)]
enum Body {
    /// Random bytes (over the 16 KiB limit in some cases).
    Bytes(Vec<u8>),
    /// The path's message with these field values, cut to `keep` bytes when set.
    Message {
        fields: Fields,
        keep: Option<prop::sample::Index>,
    },
}

/// Field values: hostile text, or a live client's credentials when `own`.
#[derive(Debug, Clone)]
struct Fields {
    text: Vec<String>,
    own: bool,
}

impl Call {
    /// The bytes sent: for a message, the encoding of this path's request type.
    fn bytes(&self, client: &TestClient) -> Vec<u8> {
        let Body::Message { fields, keep } = &self.body else {
            let Body::Bytes(bytes) = &self.body else {
                unreachable!()
            };
            return bytes.clone();
        };
        let f = &fields.text;
        let (client_id, client_secret) = match fields.own {
            true => (client.id.clone(), client.secret.clone()),
            false => (f[3].clone(), f[4].clone()),
        };
        let bytes = match self.path.rsplit('/').next().unwrap() {
            "Register" => RegisterRequest {
                email: f[0].clone(),
                password: f[1].clone(),
            }
            .encode_to_vec(),
            "Login" => LoginRequest {
                email: f[0].clone(),
                password: f[1].clone(),
                scope: f[2].clone(),
                client_id,
                client_secret,
            }
            .encode_to_vec(),
            "GetToken" => GetTokenRequest {
                client_id,
                client_secret,
                scope: f[2].clone(),
            }
            .encode_to_vec(),
            "Refresh" => RefreshRequest {
                refresh_token: f[0].clone(),
                scope: f[2].clone(),
                client_id,
                client_secret,
            }
            .encode_to_vec(),
            "Logout" => LogoutRequest {
                refresh_token: f[0].clone(),
                all: fields.own,
                client_id,
                client_secret,
            }
            .encode_to_vec(),
            "Revoke" => RevokeRequest {
                token: f[0].clone(),
                client_id,
                client_secret,
            }
            .encode_to_vec(),
            "Introspect" => IntrospectRequest {
                token: f[0].clone(),
                client_id,
                client_secret,
            }
            .encode_to_vec(),
            _ => f[0].clone().into_bytes(),
        };
        match keep {
            Some(cut) => bytes[..cut.index(bytes.len().max(1))].to_vec(),
            None => bytes,
        }
    }
}

/// Message bodies: random bytes, well-formed messages with hostile field values (with a live
/// client's credentials in some), truncations of those, and bodies past the 16 KiB limit.
fn bodies() -> impl Strategy<Value = Body> {
    let text = prop_oneof![
        3 => Just(String::new()),
        3 => "\\PC{0,64}",
        2 => "[a-z@.]{1,40}",
        1 => Just("ann@example.com".to_owned()),
        1 => "\\PC{1000,3000}",
    ];
    let fields = (proptest::collection::vec(text, 5), any::<bool>())
        .prop_map(|(text, own)| Fields { text, own });
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..256).prop_map(Body::Bytes),
        5 => fields.clone().prop_map(|fields| Body::Message { fields, keep: None }),
        2 => (fields, any::<prop::sample::Index>())
            .prop_map(|(fields, cut)| Body::Message { fields, keep: Some(cut) }),
        1 => proptest::collection::vec(any::<u8>(), 16 * 1024 + 1..40 * 1024).prop_map(Body::Bytes),
    ]
}

/// Metadata values a hostile or broken client sends.
fn metadata() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let base64 = "[A-Za-z0-9+/=]{0,80}";
    let entry = prop_oneof![
        base64.prop_map(|b| ("authorization", format!("Basic {b}"))),
        "[ -~]{0,200}".prop_map(|t| ("authorization", format!("Bearer {t}"))),
        "[ -~]{0,200}".prop_map(|t| ("authorization", t)),
        "[ -~]{0,100}".prop_map(|t| ("x-forwarded-for", t)),
        "[0-9]{1,3}(, [0-9.:a-f]{1,39}){0,5}".prop_map(|t| ("x-forwarded-for", t)),
        "[ -~]{0,12}".prop_map(|t| ("grpc-timeout", t)),
        "[ -~]{2000,4000}".prop_map(|t| ("x-junk", t)),
        "[a-z]{17000,20000}".prop_map(|t| ("x-oversized", t)),
    ];
    proptest::collection::vec(entry, 0..4)
}

fn calls() -> impl Strategy<Value = Call> {
    (proptest::sample::select(&PATHS[..]), bodies(), metadata()).prop_map(
        |(path, body, metadata)| Call {
            path,
            body,
            metadata,
        },
    )
}

/// Sends one call; the status code it got (`Ok` included).
async fn send(channel: &Channel, call: &Call, client: &TestClient) -> Result<Code, Status> {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    let mut request = tonic::Request::new(call.bytes(client));
    for (key, value) in &call.metadata {
        if let Ok(value) = value.parse() {
            request.metadata_mut().insert(*key, value);
        }
    }
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let path = axum::http::uri::PathAndQuery::from_static(call.path);
    match grpc.unary(request, path, Raw).await {
        Ok(_) => Ok(Code::Ok),
        Err(status) if status.code() == Code::Internal => Err(status),
        Err(status) => Ok(status.code()),
    }
}

#[test]
fn malformed_grpc_calls_never_get_internal_and_the_server_stays_healthy() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let machine = runtime.block_on(app.create_client("client_credentials,password", ""));
    runtime.block_on(app.create_user("ann@example.com"));
    let channel = runtime.block_on(app.grpc_channel());
    let cases = std::env::var("SIGIL_FUZZ_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let codes = std::sync::Mutex::new(BTreeMap::<String, u32>::new());

    let outcome = TestRunner::new(config).run(&calls(), |call| {
        let got = runtime.block_on(send(&channel, &call, &machine));
        let code = got.map_err(|status| TestCaseError::fail(format!("{status:?} for {call:?}")))?;
        *codes
            .lock()
            .unwrap()
            .entry(format!("{code:?}"))
            .or_default() += 1;
        Ok(())
    });

    outcome.unwrap();
    let codes = codes.into_inner().unwrap();
    eprintln!("status codes: {codes:?}");
    let mut grpc = runtime.block_on(app.grpc());
    let token = runtime.block_on(grpc.get_token(GetTokenRequest {
        client_id: machine.id.clone(),
        client_secret: machine.secret.clone(),
        scope: String::new(),
    }));
    assert!(
        token.is_ok(),
        "still issuing tokens after the barrage: {token:?}"
    );
    for code in [
        "Ok",
        "InvalidArgument",
        "Unauthenticated",
        "OutOfRange",
        "Unimplemented",
    ] {
        assert!(codes.contains_key(code), "some calls got {code}: {codes:?}");
    }
}
