//! What reaches the database: no plaintext client secret, no unencrypted private key.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use josekit::jwe::Dir;
use sigil::keys::{KEK_FILE_NAME, KeyEncryptionKey};

use crate::helpers::{contains, keys_dir, spawn_app};

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
    let kek = URL_SAFE_NO_PAD.decode(kek_text.trim()).unwrap();
    assert!(
        !contains(&dump, kek_text.trim()),
        "the key-encryption key itself is not stored"
    );
    for key in stored {
        let public: serde_json::Value = serde_json::from_str(&key.public_jwk).unwrap();
        assert!(
            public.get("d").is_none(),
            "private member in the stored public JWK"
        );
        // The sealed envelope opens with the KEK, and its plaintext appears nowhere.
        let decrypter = Dir.decrypter_from_bytes(&kek).unwrap();
        let (der, _) = josekit::jwe::deserialize_compact(
            key.sealed_private_key.as_deref().unwrap(),
            &decrypter,
        )
        .unwrap();
        assert!(der.len() > 100);
        for encoding in [
            STANDARD.encode(&der),
            URL_SAFE_NO_PAD.encode(&der),
            hex(&der),
        ] {
            assert!(
                !contains(&dump, &encoding[..64]),
                "private key stored unencrypted"
            );
        }
        assert!(
            !contains(&dump, &der[..64]),
            "private key stored as raw DER"
        );
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
