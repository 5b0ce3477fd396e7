//! What reaches the database: no plaintext client secret, no unencrypted private key.

use sigil::keys::{KEK_FILE_NAME, KeyEncryptionKey};

use crate::helpers::{contains, keys_dir, private_key_material, private_keys_der, spawn_app};

#[tokio::test]
async fn database_holds_no_plaintext_secret_and_no_unencrypted_private_key() {
    let app = spawn_app().await;
    let client = app.create_client("client_credentials", "read").await;
    app.client_credentials_token(&client).await;

    let dump = app.database.dump().await;
    let stored = app.store().await.list_signing_keys().await.unwrap();

    assert!(!dump.is_empty());
    assert!(
        contains(&dump, &client.id),
        "the dump does contain the client row"
    );
    assert!(
        !contains(&dump, &client.secret),
        "client secret stored in plaintext"
    );
    assert!(
        !contains(&dump, "PRIVATE KEY"),
        "PEM private key in the database"
    );
    let kek_text = std::fs::read_to_string(keys_dir(&app).join(KEK_FILE_NAME)).unwrap();
    assert!(KeyEncryptionKey::parse(&kek_text).is_ok());
    assert!(
        !contains(&dump, kek_text.trim()),
        "the key-encryption key itself is not stored"
    );
    for key in &stored {
        let public: serde_json::Value = serde_json::from_str(&key.public_jwk).unwrap();
        assert!(
            public.get("d").is_none(),
            "private member in the stored public JWK"
        );
    }
    // The sealed envelopes open with the KEK, and their plaintext appears nowhere.
    let ders = private_keys_der(&app.database).await;
    assert_eq!(ders.len(), stored.len());
    for der in &ders {
        assert!(der.len() > 100);
        assert!(
            !contains(&dump, &der[..64]),
            "private key stored as raw DER"
        );
    }
    for text in private_key_material(&app.database).await {
        assert!(!contains(&dump, &text), "private key stored unencrypted");
    }
}
