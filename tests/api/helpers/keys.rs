//! Reading the key ring as an attacker with the database would: private key material.

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sigil::store::{Store, StoreOptions};

use super::*;

/// Keys dir of an app, for tests that inspect the key-encryption key.
pub fn keys_dir(app: &TestApp) -> PathBuf {
    app.config.keys.keys_dir.clone()
}

/// The DER of every private key in the ring, opened with the key-encryption key in the
/// database's keys dir.
pub async fn private_keys_der(database: &TestDatabase) -> Vec<Vec<u8>> {
    use josekit::jwe::Dir;
    let options = StoreOptions {
        client_cache_ttl: Duration::from_secs(1),
        ..StoreOptions::default()
    };
    let store = Store::connect(&database.url, options).await.unwrap();
    let kek_file = database
        .dir
        .path()
        .join("keys")
        .join(sigil::keys::KEK_FILE_NAME);
    let kek = URL_SAFE_NO_PAD
        .decode(std::fs::read_to_string(kek_file).unwrap().trim())
        .unwrap();
    let decrypter = Dir.decrypter_from_bytes(&kek).unwrap();
    let mut ders = Vec::new();
    for key in store.list_signing_keys().await.unwrap() {
        let sealed = key.sealed_private_key.unwrap();
        let (der, _) = josekit::jwe::deserialize_compact(&sealed, &decrypter).unwrap();
        ders.push(der);
    }
    store.close().await;
    ders
}

/// Hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Text forms of every private key in the ring (DER as base64, base64url and hex prefixes;
/// the JWK private members `d`, `p`, `q`): what must never appear outside the sealed envelope.
pub async fn private_key_material(database: &TestDatabase) -> Vec<String> {
    let mut material = Vec::new();
    for der in private_keys_der(database).await {
        let hex = hex(&der);
        material.push(STANDARD.encode(&der)[..64].to_owned());
        material.push(URL_SAFE_NO_PAD.encode(&der)[..64].to_owned());
        material.push(hex[..64].to_owned());
        let pair = josekit::jws::RS256.key_pair_from_der(&der).unwrap();
        let jwk = pair.to_jwk_private_key();
        for member in ["d", "p", "q"] {
            material.push(jwk.parameter(member).unwrap().as_str().unwrap().to_owned());
        }
    }
    material
}
