//! The OpenAPI document: committed, served, printed, and in step with the router.

use serde_json::Value;

use crate::helpers::spawn_app;

/// The committed document, relative to the crate root.
const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn committed_document_matches_the_generated_one() {
    let generated = sigil::http::openapi_json();
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();

    assert!(
        committed == generated,
        "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`"
    );
}

#[tokio::test]
async fn served_and_printed_documents_are_the_generated_one() {
    let app = spawn_app().await;

    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    let printed = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .arg("openapi")
        .output()
        .unwrap();

    let generated: Value = serde_json::from_str(&sigil::http::openapi_json()).unwrap();
    assert_eq!(served, generated);
    assert!(printed.status.success());
    assert_eq!(
        serde_json::from_slice::<Value>(&printed.stdout).unwrap(),
        generated
    );
    assert!(generated["openapi"].as_str().unwrap().starts_with("3.1"));
}

/// The operations a browser reaches (the login flow, emailed links): their errors are pages.
const PAGES: [(&str, &str); 7] = [
    ("get", "/authorize"),
    ("post", "/authorize"),
    ("post", "/authorize/consent"),
    ("post", "/end-session"),
    ("get", "/verify-email"),
    ("get", "/password/reset"),
    ("post", "/password/reset"),
];

#[test]
fn every_operation_documents_its_errors_and_every_protected_one_its_security() {
    let document: Value = serde_json::from_str(&sigil::http::openapi_json()).unwrap();
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["client_secret_basic"]["scheme"], "basic");

    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                responses.keys().any(|s| s.starts_with('2')),
                "{method} {path}: no success answer"
            );
            if path.starts_with("/admin") || path == "/userinfo" || path == "/me" {
                assert!(
                    operation["security"].is_array(),
                    "{method} {path}: no security"
                );
                assert!(responses.contains_key("401"), "{method} {path}: no 401");
            }
            for (status, response) in responses.iter().filter(|(s, _)| s.starts_with('4')) {
                let content = &response["content"];
                // The pages an emailed link opens answer a browser with a page.
                if PAGES.contains(&(method.as_str(), path.as_str()))
                    && content.get("text/html").is_some()
                {
                    continue;
                }
                let schema = &content["application/json"]["schema"]["$ref"];
                assert_eq!(
                    schema, "#/components/schemas/Error",
                    "{method} {path} {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_documented_paths_are_the_routes_that_answer() {
    let app = spawn_app().await;
    let document: Value = serde_json::from_str(&sigil::http::openapi_json()).unwrap();

    for path in document["paths"].as_object().unwrap().keys() {
        let concrete = path.replace("{id}", "x").replace("{kid}", "x");
        let response = app.get(&concrete).await;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            !(status == 404 && body["error_description"] == "no such endpoint"),
            "{path} is documented but not routed"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;

    let page = app.get("/docs/").await;

    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    let bundle = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(bundle.status(), 200);
    assert!(
        bundle.bytes().await.unwrap().len() > 100_000,
        "the bundled UI, not a link to a CDN"
    );
    let initializer = app
        .get("/docs/swagger-initializer.js")
        .await
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
}
