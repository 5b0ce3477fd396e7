//! gRPC clients for a running sigil: the generated `Auth` client, health and reflection, and
//! the metadata a call carries.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sigil::grpc::proto::auth_client::AuthClient;
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

use super::*;

/// The generated client of `sigil.v1.Auth`.
pub type Auth = AuthClient<Channel>;

impl Api {
    /// A channel to the server's gRPC listener.
    pub async fn grpc_channel(&self) -> Channel {
        let endpoint = self.grpc.clone().expect("the server serves gRPC");
        Channel::from_shared(endpoint)
            .unwrap()
            .connect()
            .await
            .expect("gRPC connects")
    }

    /// The Auth client.
    pub async fn grpc(&self) -> Auth {
        AuthClient::new(self.grpc_channel().await)
    }
}

/// `message` with `authorization: Basic` metadata, encoded as RFC 6749 §2.3.1 says.
pub fn with_basic<T>(message: T, id: &str, secret: &str) -> Request<T> {
    let encode =
        |part: &str| url::form_urlencoded::byte_serialize(part.as_bytes()).collect::<String>();
    let credentials = STANDARD.encode(format!("{}:{}", encode(id), encode(secret)));
    with_metadata(message, "authorization", &format!("Basic {credentials}"))
}

/// `message` with `authorization: Bearer <token>` metadata.
pub fn with_bearer<T>(message: T, token: &str) -> Request<T> {
    with_metadata(message, "authorization", &format!("Bearer {token}"))
}

/// `message` with one ASCII metadata entry.
pub fn with_metadata<T>(message: T, key: &'static str, value: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(key, value.parse().expect("ASCII metadata"));
    request
}

/// The status code and `x-oauth-error` of a failed call; panics on success.
pub fn failure<T: std::fmt::Debug>(result: Result<tonic::Response<T>, Status>) -> (Code, String) {
    let status = result.expect_err("the call fails");
    let error = status
        .metadata()
        .get(sigil::grpc::OAUTH_ERROR)
        .map(|value| value.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status.code(), error)
}
