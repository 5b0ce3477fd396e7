//! The discovery document (OIDC Discovery 1.0 and RFC 8414 share it), serialized once at
//! start into `AppState`; `handlers::discovery` serves it.

use bytes::Bytes;
use serde::Serialize;

/// OIDC Discovery 1.0 §3 / RFC 8414 §2 metadata. Everything sigil supports is listed
/// explicitly; nothing it does not support is.
#[derive(Debug, Serialize)]
struct ServerMetadata<'a> {
    issuer: &'a str,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    revocation_endpoint: String,
    introspection_endpoint: String,
    userinfo_endpoint: String,
    end_session_endpoint: String,
    grant_types_supported: &'a [&'a str],
    token_endpoint_auth_methods_supported: &'a [&'a str],
    revocation_endpoint_auth_methods_supported: &'a [&'a str],
    introspection_endpoint_auth_methods_supported: &'a [&'a str],
    scopes_supported: &'a [&'a str],
    response_types_supported: &'a [&'a str],
    response_modes_supported: &'a [&'a str],
    code_challenge_methods_supported: &'a [&'a str],
    /// RFC 9207: authorization responses carry `iss`.
    authorization_response_iss_parameter_supported: bool,
    subject_types_supported: &'a [&'a str],
    id_token_signing_alg_values_supported: [&'a str; 1],
    claims_supported: &'a [&'a str],
}

/// Client authentication methods of the token, revocation and logout endpoints.
const AUTH_METHODS: &[&str] = &["client_secret_basic", "client_secret_post", "none"];

/// Serializes the metadata once, at start. Endpoint URLs are the issuer plus a path; the
/// `issuer` member is exactly the configured string (RFC 8414 §3.3).
pub(super) fn document(issuer: &str) -> anyhow::Result<Bytes> {
    let base = issuer.trim_end_matches('/');
    let metadata = ServerMetadata {
        issuer,
        authorization_endpoint: format!("{base}/authorize"),
        token_endpoint: format!("{base}/token"),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        revocation_endpoint: format!("{base}/revoke"),
        introspection_endpoint: format!("{base}/introspect"),
        userinfo_endpoint: format!("{base}/userinfo"),
        end_session_endpoint: format!("{base}/end-session"),
        grant_types_supported: &[
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
        ],
        token_endpoint_auth_methods_supported: AUTH_METHODS,
        revocation_endpoint_auth_methods_supported: AUTH_METHODS,
        // RFC 7662 §2.1: introspection needs an authenticated (confidential) client.
        introspection_endpoint_auth_methods_supported: &AUTH_METHODS[..2],
        // `admin` is sigil's own and granted only to admins: not advertised.
        scopes_supported: &["openid", "email", "profile"],
        response_types_supported: &["code"],
        response_modes_supported: &["query"],
        // PKCE is required for every client, and `plain` refused (RFC 9700 §2.1.1).
        code_challenge_methods_supported: &["S256"],
        authorization_response_iss_parameter_supported: true,
        subject_types_supported: &["public"],
        // ID tokens are always RS256 (OIDC Discovery §3 requires it); access tokens follow
        // --signing-alg, and their verifiers read the algorithm from each JWK.
        id_token_signing_alg_values_supported: [crate::oauth::ID_TOKEN_SIGNING_ALG],
        claims_supported: &[
            "iss",
            "sub",
            "aud",
            "exp",
            "iat",
            "jti",
            "client_id",
            "scope",
            "sid",
            "auth_time",
            "nonce",
            "at_hash",
            "email",
            "email_verified",
            "name",
        ],
    };
    Ok(Bytes::from(serde_json::to_vec(&metadata)?))
}
