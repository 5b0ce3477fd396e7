//! Discovery metadata (OIDC Discovery and RFC 8414).

use serde_json::Value;

use crate::helpers::spawn_app_with;

#[tokio::test]
async fn both_metadata_documents_name_the_issuer_exactly_and_list_what_is_supported() {
    let issuer = "https://auth.example.test/sigil/";
    let app = spawn_app_with(|config| config.issuer = issuer.to_owned()).await;

    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let response = app.get(path).await;

        assert_eq!(response.status(), 200, "{path}");
        let doc: Value = response.json().await.unwrap();
        assert_eq!(
            doc["issuer"], issuer,
            "{path}: issuer exactly as configured"
        );
        assert_eq!(
            doc["token_endpoint"], "https://auth.example.test/sigil/token",
            "{path}"
        );
        assert_eq!(
            doc["jwks_uri"], "https://auth.example.test/sigil/.well-known/jwks.json",
            "{path}"
        );
        let grants = serde_json::json!(["client_credentials", "password", "refresh_token"]);
        assert_eq!(doc["grant_types_supported"], grants, "{path}");
        let methods = serde_json::json!(["client_secret_basic", "client_secret_post", "none"]);
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"], methods,
            "{path}"
        );
        for (member, endpoint) in [
            ("revocation_endpoint", "revoke"),
            ("introspection_endpoint", "introspect"),
            ("userinfo_endpoint", "userinfo"),
        ] {
            let url = format!("https://auth.example.test/sigil/{endpoint}");
            assert_eq!(doc[member], url, "{path}: {member}");
        }
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256"]),
            "{path}"
        );
        assert!(doc["response_types_supported"].is_array(), "{path}");
        assert_eq!(
            doc["subject_types_supported"],
            serde_json::json!(["public"]),
            "{path}"
        );
    }
}
