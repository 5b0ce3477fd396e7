//! Named schemas for the values whose rules live in `domain`: the OpenAPI document states each
//! rule once, as a pattern and length bounds that accept exactly what the parser accepts, and
//! request types point at them with `#[schema(value_type = ...)]`. The conformance run
//! (`scripts/conformance`) checks both directions: nothing the schema allows is refused, and
//! nothing it forbids is accepted.

use utoipa::ToSchema;

/// An OAuth 2.0 grant type (RFC 6749).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) enum GrantType {
    ClientCredentials,
    Password,
    RefreshToken,
    AuthorizationCode,
}

/// Space-separated scope tokens (RFC 6749 §3.3: printable ASCII except `"` and `\`), at most
/// 1024 characters; repeated spaces and tokens are accepted.
#[derive(ToSchema)]
#[schema(pattern = r"^[\x20\x21\x23-\x5B\x5D-\x7E]*$", max_length = 1024)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct Scope(String);

/// The `aud` of a client's access tokens: 1 to 256 visible ASCII characters.
#[derive(ToSchema)]
#[schema(pattern = r"^[\x21-\x7E]+$", min_length = 1, max_length = 256)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct Audience(String);

/// A display name (a client's, a user's): at most 200 characters with at least one that is not a space,
/// none a control character; surrounding whitespace is trimmed.
#[derive(ToSchema)]
#[schema(
    pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$",
    min_length = 1,
    max_length = 200
)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct DisplayName(String);

/// A password hash from another service: an argon2 PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
/// or a bcrypt hash (`$2a$`, `$2b$` or `$2y$`, a two-digit cost from 04 to 14, 53 characters of
/// bcrypt's base64).
#[derive(ToSchema)]
#[schema(
    pattern = r"^(\$argon2(id|i|d)\$v=19\$m=[0-9]{1,6},t=[0-9]{1,2},p=[0-9]{1,2}\$[A-Za-z0-9+/]{11,64}\$[A-Za-z0-9+/]{16,86}|\$2[aby]\$(0[4-9]|1[0-4])\$[./A-Za-z0-9]{53})$",
    max_length = 512
)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct PasswordHash(String);

/// A new password: at least the configured minimum length (8 by default), at most 1024
/// characters.
#[derive(ToSchema)]
#[schema(format = Password, min_length = 8, max_length = 1024)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct NewPassword(String);

/// An email address, the login name: at most 254 characters, `local@domain` with a dotted
/// domain; compared without regard to case.
#[derive(ToSchema)]
#[schema(format = Email, min_length = 1, max_length = 254)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct Email(String);

/// The one-time token of an emailed link (`token=` in the link): 1 to 512 characters. sigil's
/// own are 43 base64url characters; anything else is simply unknown.
#[derive(ToSchema)]
#[schema(min_length = 1, max_length = 512)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct LinkToken(String);

/// A redirect URI: absolute, no fragment, at most 2000 characters; `https`, `http` on a
/// loopback address, or a private-use scheme with a dot (`com.example.app:/cb`). The pattern
/// is `domain::REDIRECT_URI_^(https://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|http://(127\.0\.0\.1|\[::1\]|localhost)(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:)(/([A-Za-z0-9._~/?&=+:@,;-]|%[0-9A-Fa-f]{2})*)?$` (a test keeps them equal).
#[derive(ToSchema)]
#[schema(
    pattern = r"^(https://([A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|http://(127\.0\.0\.1|\[::1\]|localhost)(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4}))?|[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:)(/([A-Za-z0-9._~/?&=+:@,;-]|%[0-9A-Fa-f]{2})*)?$",
    min_length = 1,
    max_length = 2000
)]
#[expect(
    dead_code,
    reason = "describes the wire form for the OpenAPI document only"
)]
pub(crate) struct RedirectUri(String);

#[cfg(test)]
mod tests {
    #[test]
    fn the_documented_redirect_uri_pattern_is_the_one_registration_applies() {
        let document: serde_json::Value =
            serde_json::from_str(&crate::http::openapi_json()).unwrap();

        let schema = &document["components"]["schemas"]["RedirectUri"];

        assert_eq!(schema["pattern"], crate::domain::REDIRECT_URI_PATTERN);
    }
}
