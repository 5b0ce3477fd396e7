//! Public keys for verifiers that cannot fetch a JWKS (HAProxy's `jwt_verify`, Kong's `jwt`
//! plugin): every published key as a PEM SubjectPublicKeyInfo file named after its kid, with a
//! map of the kids; or the JWKS document itself. Built from the public JWKs in the database
//! (no key-encryption key needed, nothing private can be reached); the PEM encoding is
//! OpenSSL's, from the JWK's `n`/`e` (RSA) or `x`/`y` (P-256).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::nid::Nid;
use openssl::pkey::{PKey, Public};
use openssl::rsa::Rsa;
use serde_json::Value;

use super::Jwks;
use crate::store::StoredKey;

/// The name of the kid map in a PEM export.
pub const KID_MAP: &str = "kids.json";
/// The name of the JWKS file in a JWKS export.
pub const JWKS_FILE: &str = "jwks.json";

/// What `sigil keys export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// `<kid>.pem` per published key, and `kids.json`.
    Pem,
    /// `jwks.json`, the document `/.well-known/jwks.json` serves.
    Jwks,
}

/// One file of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedFile {
    /// File name (a kid is base64url, so it is a safe name).
    pub name: String,
    /// Contents.
    pub contents: Vec<u8>,
}

/// The files of `format` for the published keys among `keys` (removed and revoked keys are
/// left out, as from the JWKS), in the JWKS's order: current, next, retired.
pub fn export(keys: &[StoredKey], format: ExportFormat) -> anyhow::Result<Vec<ExportedFile>> {
    let jwks = Jwks::build(keys)?;
    if format == ExportFormat::Jwks {
        return Ok(vec![ExportedFile {
            name: JWKS_FILE.to_owned(),
            contents: jwks.body().to_vec(),
        }]);
    }
    let document: Value = serde_json::from_slice(jwks.body())?;
    let mut files = Vec::new();
    let mut map = Vec::new();
    for jwk in document["keys"].as_array().into_iter().flatten() {
        let kid = jwk["kid"].as_str().unwrap_or_default();
        let Some(stored) = keys.iter().find(|key| key.kid == kid) else {
            continue;
        };
        let name = format!("{kid}.pem");
        files.push(ExportedFile {
            name: name.clone(),
            contents: public_pem(jwk)?.public_key_to_pem()?,
        });
        map.push(serde_json::json!({
            "kid": kid, "alg": stored.alg, "state": stored.state.as_str(), "file": name,
        }));
    }
    let map = serde_json::to_vec_pretty(&serde_json::json!({ "keys": map }))?;
    files.push(ExportedFile {
        name: KID_MAP.to_owned(),
        contents: map,
    });
    Ok(files)
}

/// The public key of a JWK (RSA, or EC on P-256).
fn public_pem(jwk: &Value) -> anyhow::Result<PKey<Public>> {
    let member = |name: &str| -> anyhow::Result<BigNum> {
        let text = jwk[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("the JWK has no `{name}`"))?;
        Ok(BigNum::from_slice(&URL_SAFE_NO_PAD.decode(text)?)?)
    };
    match (jwk["kty"].as_str(), jwk["crv"].as_str()) {
        (Some("RSA"), _) => {
            let rsa = Rsa::from_public_components(member("n")?, member("e")?)?;
            Ok(PKey::from_rsa(rsa)?)
        }
        (Some("EC"), Some("P-256")) => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            let (x, y) = (member("x")?, member("y")?);
            let key = EcKey::from_public_key_affine_coordinates(&group, &x, &y)?;
            key.check_key()?;
            Ok(PKey::from_ec_key(key)?)
        }
        (kty, crv) => anyhow::bail!("cannot export a JWK of kty {kty:?}, crv {crv:?}"),
    }
}
