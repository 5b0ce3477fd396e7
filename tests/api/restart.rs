//! Restarts keep the key ring; a different key-encryption key refuses to start.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;
use sigil::app::Application;

use crate::helpers::{AUDIENCE, spawn_app, verify};

#[tokio::test]
async fn token_issued_before_a_restart_verifies_against_the_new_process_jwks() {
    let mut app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;
    let token = app.client_credentials_token(&client).await;
    let kid_before = jsonwebtoken::decode_header(&token).unwrap().kid;

    app.restart().await;

    verify(&token, &app.jwks().await, AUDIENCE);
    let token_after = app.client_credentials_token(&client).await;
    assert_eq!(
        jsonwebtoken::decode_header(&token_after).unwrap().kid,
        kid_before,
        "kid unchanged"
    );
}

#[tokio::test]
async fn an_instance_with_another_key_encryption_key_refuses_to_start() {
    let mut app = spawn_app().await;
    app.stop().await;
    let before = app
        .store()
        .await
        .list_all_signing_keys()
        .await
        .unwrap()
        .len();
    let mut config = app.config.clone();
    config.keys.key_encryption_key = Some(SecretString::from(URL_SAFE_NO_PAD.encode([9u8; 32])));

    let error = Application::build(config)
        .await
        .err()
        .expect("refuses to start");

    let message = format!("{error:#}");
    assert!(message.contains("key-encryption key"), "{message}");
    let after = app
        .store()
        .await
        .list_all_signing_keys()
        .await
        .unwrap()
        .len();
    assert_eq!(after, before, "no key was created beside the existing ring");
}

#[tokio::test]
async fn key_encryption_key_from_the_environment_is_used_instead_of_a_file() {
    let kek = URL_SAFE_NO_PAD.encode([3u8; 32]);
    let mut app = crate::helpers::spawn_app_with(|config| {
        config.keys.key_encryption_key = Some(SecretString::from(kek.clone()));
    })
    .await;
    let client = app.create_client("client_credentials", "").await;
    let token = app.client_credentials_token(&client).await;

    app.restart().await;

    assert!(
        !app.config.keys.keys_dir.exists(),
        "no key file written when the KEK is given"
    );
    verify(&token, &app.jwks().await, AUDIENCE);
}
