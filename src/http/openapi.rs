//! The OpenAPI 3.1 document: paths and schemas come from the `#[utoipa::path]` annotations
//! of the routes the router registers (never written by hand); this module adds the title,
//! tags and security schemes.

use serde_json::json;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{RefOr, Schema};
use utoipa::{Modify, OpenApi};

use super::routes::documented_routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "sigil",
        description = "OAuth2/OIDC-style token issuer: short-lived JWT access tokens that API \
                       gateways verify offline with the JWKS."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "oauth", description = "RFC 6749 token endpoint, RFC 7009 revocation, RFC 7662 introspection, logout"),
        (name = "oidc", description = "OpenID Connect UserInfo"),
        (name = "discovery", description = "JWKS and server metadata for verifiers"),
        (name = "users", description = "Self-registration"),
        (name = "admin", description = "Administration: needs an access token with scope admin"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
struct ApiDoc;

/// `bearer`: sigil's own access tokens (RFC 6750); `client_secret_basic`: client id and
/// secret, form-urlencoded, in HTTP Basic (RFC 6749 §2.3.1).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("JWT")
            .build();
        components.add_security_scheme("bearer", SecurityScheme::Http(bearer));
        let basic = HttpBuilder::new().scheme(HttpAuthScheme::Basic).build();
        components.add_security_scheme("client_secret_basic", SecurityScheme::Http(basic));
    }
}

/// The complete document, as served at `/openapi.json` and printed by `sigil openapi`.
pub fn openapi() -> Document {
    let mut document = ApiDoc::openapi();
    document.merge(documented_routes().into_openapi());
    cross_field_rules(&mut document);
    document
}

/// Rules between fields, which derive attributes cannot state, one JSON Schema keyword per
/// schema, added as an extension (the extensions are a hash map, so a second key would make
/// the committed document's key order vary from build to build):
/// - a public client (`"public": true`) may not list `client_credentials` (RFC 6749 §4.4);
/// - a new user has a `password` or a `password_hash` (a string, not `null`), exactly one.
fn cross_field_rules(document: &mut Document) {
    let rules = [
        (
            "CreateClientRequest",
            "not",
            json!({
                "required": ["public", "grant_types"],
                "properties": {
                    "public": { "const": true },
                    "grant_types": { "contains": { "const": "client_credentials" } }
                }
            }),
        ),
        (
            "CreateUserRequest",
            "oneOf",
            // Each branch also says the other field is absent or null, so the rule does not
            // rest on a validator applying `oneOf`'s exclusivity to overlapping branches.
            json!([
                {
                    "required": ["password"],
                    "properties": {
                        "password": { "type": "string" },
                        "password_hash": { "type": "null" }
                    }
                },
                {
                    "required": ["password_hash"],
                    "properties": {
                        "password": { "type": "null" },
                        "password_hash": { "type": "string" }
                    }
                }
            ]),
        ),
    ];
    for (name, keyword, rule) in rules {
        let schema = document
            .components
            .as_mut()
            .and_then(|components| components.schemas.get_mut(name));
        // OK because the request types are registered by their routes; a rename fails every
        // test.
        let Some(RefOr::T(Schema::Object(object))) = schema else {
            panic!("{name} is an object schema of the document");
        };
        let keywords = object.extensions.get_or_insert_with(Default::default);
        keywords.insert(keyword.to_owned(), rule);
    }
}

/// The document as pretty-printed JSON with a trailing newline (the committed form).
pub fn openapi_json() -> String {
    // OK because the document is built from static annotations and always serialises.
    let mut json = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serialises");
    json.push('\n');
    json
}
