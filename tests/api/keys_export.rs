//! `sigil keys export`: PEM files per published key (RS256 and ES256) that verify the
//! server's tokens, the kid map, the JWKS form, and `--watch` following a rotation and a
//! revocation done with the CLI.

use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use crate::helpers::{AUDIENCE, ISSUER, TestApp, sigil_command, spawn_app, spawn_app_with};

fn export(app: &TestApp, args: &[&str]) -> std::process::Output {
    let mut all = vec!["keys", "export"];
    all.extend_from_slice(args);
    let output = sigil_command(&app.database, &all, &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn kid_map(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("kids.json")).unwrap()).unwrap()
}

fn mapped_kids(dir: &Path) -> Vec<String> {
    kid_map(dir)["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn pem_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".pem"))
        .collect();
    names.sort();
    names
}

/// Verifies `token` with the PEM file of its kid in `dir`, as a push-only gateway does.
fn verify_with_exported_key(dir: &Path, token: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let pem = std::fs::read(dir.join(format!("{}.pem", header.kid.unwrap()))).unwrap();
    let key = match header.alg {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem).unwrap(),
        _ => DecodingKey::from_ec_pem(&pem).unwrap(),
    };
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    jsonwebtoken::decode::<Value>(token, &key, &validation)
        .expect("the exported key verifies the token")
        .claims
}

#[tokio::test]
async fn exported_pem_files_verify_the_servers_tokens_for_rs256_and_es256() {
    for alg in ["RS256", "ES256"] {
        let app =
            spawn_app_with(|config| config.keys.signing_algorithm = alg.parse().unwrap()).await;
        let client = app.create_client("client_credentials", "read").await;
        let token = app.client_credentials_token(&client).await;
        let (pem_dir, jwks_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());

        export(
            &app,
            &["--format", "pem", "--dir", pem_dir.path().to_str().unwrap()],
        );
        export(
            &app,
            &[
                "--format",
                "jwks",
                "--dir",
                jwks_dir.path().to_str().unwrap(),
            ],
        );
        let printed = export(&app, &["--format", "pem"]);

        let served: Value = app
            .get("/.well-known/jwks.json")
            .await
            .json()
            .await
            .unwrap();
        let served_kids: Vec<String> = served["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            mapped_kids(pem_dir.path()),
            served_kids,
            "{alg}: the JWKS's keys, in order"
        );
        let mut expected: Vec<String> =
            served_kids.iter().map(|kid| format!("{kid}.pem")).collect();
        expected.sort();
        assert_eq!(pem_files(pem_dir.path()), expected, "{alg}");
        let claims = verify_with_exported_key(pem_dir.path(), &token);
        assert_eq!(claims["client_id"], client.id.as_str());
        // The key that signed the token is in the map as the current key of its algorithm
        // (an ES256 ring also has an RS256 key, for ID tokens).
        let map = kid_map(pem_dir.path());
        let signer = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
        let entry = map["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == signer.as_str())
            .unwrap();
        assert_eq!(
            (entry["state"].as_str(), entry["alg"].as_str()),
            (Some("current"), Some(alg)),
            "{map}"
        );
        assert_eq!(entry["file"], format!("{signer}.pem"));
        let exported: Value =
            serde_json::from_slice(&std::fs::read(jwks_dir.path().join("jwks.json")).unwrap())
                .unwrap();
        assert_eq!(
            exported, served,
            "{alg}: the JWKS form is the served document"
        );
        for entry in std::fs::read_dir(pem_dir.path()).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains("PRIVATE"), "{alg}: nothing private: {text}");
        }
        let stdout = String::from_utf8_lossy(&printed.stdout);
        assert!(stdout.contains("-----BEGIN PUBLIC KEY-----") && stdout.contains(&served_kids[0]));
    }
}

/// Waits up to 20 s for `condition` on the directory.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn watch_keeps_the_directory_in_step_with_a_rotation_and_a_revocation() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let mut watcher = std::process::Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["keys", "export", "--watch", "--interval", "200ms", "--dir"])
        .arg(&path)
        .env("DATABASE_URL", &app.database.url)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    eventually("the first export", || path.join("kids.json").exists()).await;
    let before = mapped_kids(&path);

    let rotated = sigil_command(&app.database, &["keys", "rotate", "--force"], &[]);
    assert!(rotated.status.success(), "{rotated:?}");
    let listed = sigil_command(&app.database, &["keys", "list", "--json"], &[]);
    let ring: Value = serde_json::from_slice(&listed.stdout).unwrap();
    let in_state = |state: &str| -> Vec<String> {
        ring.as_array()
            .unwrap()
            .iter()
            .filter(|key| key["state"] == state)
            .map(|key| key["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    let (next, retired) = (in_state("next")[0].clone(), in_state("retired")[0].clone());
    eventually("the new next key is exported", || {
        path.join(format!("{next}.pem")).exists() && mapped_kids(&path).contains(&next)
    })
    .await;
    let revoked = sigil_command(&app.database, &["keys", "revoke", &retired], &[]);
    assert!(revoked.status.success(), "{revoked:?}");
    eventually("the revoked key's file is gone", || {
        !path.join(format!("{retired}.pem")).exists()
    })
    .await;
    let after = mapped_kids(&path);
    watcher.kill().unwrap();
    let _ = watcher.wait();

    assert!(
        before.contains(&retired),
        "the retired key was the current one"
    );
    assert!(!before.contains(&next));
    assert!(!after.contains(&retired), "{after:?}");
    assert!(after.contains(&next));
    let mut expected: Vec<String> = after.iter().map(|kid| format!("{kid}.pem")).collect();
    expected.sort();
    assert_eq!(pem_files(&path), expected, "no stale file, no missing one");
}
