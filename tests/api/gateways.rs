//! Real gateways verify sigil's tokens: HAProxy 2.6 with `jwt_verify` and the keys
//! `sigil keys export` writes (gateway/haproxy), and nginx 1.22 with njs fetching and caching
//! the JWKS (gateway/nginx), each in front of a dummy upstream. A fresh token
//! passes; a forged, expired, wrong-audience, wrong-issuer or wrong-type one gets 401 with
//! `WWW-Authenticate: Bearer error="invalid_token"`; and tokens keep passing across key
//! rotations forced with the CLI: the next key was exported before it signed.

use crate::helpers::{
    Answer, Haproxy, Nginx, TestApp, application, bad_tokens, get_through, kid_of, sigil_command,
    spawn_app,
};

/// What the gateway at `port` answers to a fresh token, to each bad one, and to none.
struct Verdicts {
    accepted: Answer,
    refused: Vec<(&'static str, Answer)>,
    no_token: Answer,
}

impl Verdicts {
    async fn of(app: &TestApp, port: u16, fresh: &str) -> Self {
        let mut refused = Vec::new();
        for (why, token) in bad_tokens(app, fresh) {
            refused.push((why, get_through(port, Some(&token)).await));
        }
        Self {
            accepted: get_through(port, Some(fresh)).await,
            refused,
            no_token: get_through(port, None).await,
        }
    }

    /// The fresh token reached the upstream; every other request got 401 and the challenge.
    fn check(self) {
        assert_eq!(self.accepted.0, 200, "{:?}", self.accepted);
        assert!(self.accepted.1.contains("back at the application"));
        for (why, (status, body, challenge)) in self.refused {
            assert_eq!(status, 401, "{why}: {body}");
            assert_eq!(
                challenge.as_deref(),
                Some("Bearer error=\"invalid_token\""),
                "{why}"
            );
        }
        assert_eq!(self.no_token.0, 401);
    }
}

/// Rotates with the CLI and reloads the app's ring (as its key check would, later).
pub(crate) async fn rotate(app: &TestApp) {
    let rotated = sigil_command(&app.database, &["keys", "rotate", "--force"], &[]);
    assert!(rotated.status.success(), "{rotated:?}");
    app.keys.refresh(chrono::Utc::now()).await.unwrap();
}

#[tokio::test]
async fn haproxy_accepts_sigil_tokens_refuses_bad_ones_and_keeps_accepting_across_rotations() {
    let app = spawn_app().await;
    let upstream = application().await;
    let Some(mut haproxy) = Haproxy::start(&app, upstream).await else {
        return;
    };
    let client = app.create_client("client_credentials", "read").await;

    let first = app.client_credentials_token(&client).await;
    let verdicts = Verdicts::of(&app, haproxy.port, &first).await;
    // The next key was exported before it signs: no reload needed for the rotation.
    rotate(&app).await;
    let second = app.client_credentials_token(&client).await;
    let after_rotation = (
        get_through(haproxy.port, Some(&second)).await,
        get_through(haproxy.port, Some(&first)).await,
    );
    // The operator's step when `--watch` reports a change: re-export, re-render, reload.
    haproxy.reload(&app).await;
    rotate(&app).await;
    let third = app.client_credentials_token(&client).await;
    let after_reload = get_through(haproxy.port, Some(&third)).await;

    verdicts.check();
    assert_ne!(
        kid_of(&second),
        kid_of(&first),
        "the rotation changed the signing key"
    );
    assert_eq!(
        after_rotation.0.0, 200,
        "the new key's token, without a reload"
    );
    assert_eq!(after_rotation.1.0, 200, "the retired key's token still");
    assert_ne!(kid_of(&third), kid_of(&second));
    assert_eq!(after_reload.0, 200, "the key published after the reload");
}

#[tokio::test]
async fn nginx_accepts_sigil_tokens_refuses_bad_ones_and_keeps_accepting_across_rotations() {
    let app = spawn_app().await;
    let upstream = application().await;
    let Some(nginx) = Nginx::start(&app, upstream).await else {
        return;
    };
    let client = app.create_client("client_credentials", "read").await;

    let first = app.client_credentials_token(&client).await;
    let verdicts = Verdicts::of(&app, nginx.port, &first).await;
    // The JWKS nginx cached (for its max-age) already holds the next key.
    rotate(&app).await;
    let second = app.client_credentials_token(&client).await;
    let after_rotation = (
        get_through(nginx.port, Some(&second)).await,
        get_through(nginx.port, Some(&first)).await,
    );
    // Two more: the key signing now was published after nginx cached the JWKS, so the
    // unknown kid makes one uncached fetch.
    rotate(&app).await;
    rotate(&app).await;
    let third = app.client_credentials_token(&client).await;
    let unknown_before = get_through(nginx.port, Some(&third)).await;

    verdicts.check();
    assert_ne!(kid_of(&second), kid_of(&first));
    assert_eq!(
        after_rotation.0.0, 200,
        "the new key's token, from the cached JWKS"
    );
    assert_eq!(after_rotation.1.0, 200, "the retired key's token still");
    assert_eq!(
        unknown_before.0, 200,
        "a key newer than the cache: one refetch finds it"
    );
}

/// A kid is base64url: one in 64 begins with `-`, which HAProxy would read as a flag of the
/// ACL that selects its key file.
#[tokio::test]
async fn the_haproxy_configuration_takes_a_kid_that_begins_with_a_hyphen() {
    let Some(haproxy) = crate::helpers::gateway_binary("haproxy") else {
        return;
    };
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("keys");
    let args = ["keys", "export", "--dir", export.to_str().unwrap()];
    assert!(sigil_command(&app.database, &args, &[]).status.success());
    let mut map: serde_json::Value =
        serde_json::from_slice(&std::fs::read(export.join("kids.json")).unwrap()).unwrap();
    let kid = map["keys"][0]["kid"].as_str().unwrap().to_owned();
    let hyphenated = format!("-{}", &kid[1..]);
    std::fs::rename(
        export.join(format!("{kid}.pem")),
        export.join(format!("{hyphenated}.pem")),
    )
    .unwrap();
    map["keys"][0]["kid"] = hyphenated.clone().into();
    map["keys"][0]["file"] = format!("{hyphenated}.pem").into();
    std::fs::write(export.join("kids.json"), map.to_string()).unwrap();

    let render = std::process::Command::new(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("gateway/haproxy/render"),
    )
    .arg(&export)
    .args(["--listen", "127.0.0.1:1", "--upstream", "127.0.0.1:2"])
    .args(["--issuer", "https://a.test", "--audience", "https://b.test"])
    .output()
    .unwrap();
    let config = dir.path().join("haproxy.cfg");
    std::fs::write(&config, &render.stdout).unwrap();
    let check = std::process::Command::new(haproxy)
        .arg("-c")
        .arg("-f")
        .arg(&config)
        .output()
        .unwrap();

    assert!(render.status.success(), "{render:?}");
    assert!(
        String::from_utf8_lossy(&render.stdout).contains(&hyphenated),
        "the rule for the kid is there"
    );
    assert!(check.status.success(), "haproxy -c: {check:?}");
}
