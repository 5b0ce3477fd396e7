//! Email verification and password reset against a real SMTP server (aiosmtpd): the mail
//! arrives, its link works once, dead links fail, asking never reveals an account, an SMTP
//! outage fails no request and loses no mail, and the limits hold under parallel requests.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sigil::clock::Clock;
use sigil::config::Config;
use sigil::oauth::LimitSettings;

use crate::helpers::{
    Mail, NatsServer, PASSWORD, SmtpSink, TestApp, TestClient, count_status, parallel, spawn_app,
    spawn_app_with,
};

const NEW_PASSWORD: &str = "a brand new passphrase";
const VERIFY_LINK: &str = "https://sigil.test/tenant/verify-email?token=";
const RESET_LINK: &str = "https://sigil.test/tenant/password/reset?token=";
const WAIT: Duration = Duration::from_secs(15);

/// A sink and an app mailing through it; `None` (skipped) without aiosmtpd.
async fn mailing_app(customize: impl FnOnce(&mut Config)) -> Option<(SmtpSink, TestApp)> {
    let sink = SmtpSink::start()?;
    let mail = sink.mail_config();
    let app = spawn_app_with(move |config| {
        config.mail = Some(mail);
        customize(config);
    })
    .await;
    Some((sink, app))
}

/// The only mail the sink must hold after `count` arrived, the `index`th.
async fn mail(sink: &SmtpSink, count: usize, index: usize) -> Mail {
    let received = sink.messages(count, WAIT).await;
    assert_eq!(received.len(), count, "mails received");
    received[index].clone()
}

async fn dashboard(app: &TestApp) -> TestClient {
    app.public_client(&["password", "refresh_token"], "openid email")
        .await
}

/// `email_verified` of a fresh login: from userinfo and from the ID token.
async fn verified_claims(app: &TestApp, client: &TestClient, email: &str) -> (Value, Value) {
    let response = app
        .login(client, email, PASSWORD, Some("openid email"))
        .await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let userinfo: Value = app
        .get_with_token("/userinfo", token["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let payload = token["id_token"]
        .as_str()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap();
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap();
    let id: Value = serde_json::from_slice(&bytes).unwrap();
    (
        userinfo["email_verified"].clone(),
        id["email_verified"].clone(),
    )
}

#[tokio::test]
async fn registration_mails_a_link_that_verifies_the_address_once() {
    let Some((sink, app)) = mailing_app(|_| {}).await else {
        return;
    };
    let client = dashboard(&app).await;
    app.create_user("ann@example.com").await;
    let before = verified_claims(&app, &client, "ann@example.com").await;

    let mail = mail(&sink, 1, 0).await;
    let token = mail.token(VERIFY_LINK);
    // A mail scanner fetching the link verifies nothing: the page asks, its button posts.
    let page = app.get(&format!("/verify-email?token={token}")).await;
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let (status, html) = (page.status(), page.text().await.unwrap());
    let fetched = verified_claims(&app, &client, "ann@example.com").await;
    let confirm = |token: String| {
        let app = &app;
        async move {
            let form = [("token", token.as_str())];
            let response = app.http.post(app.url("/verify-email")).form(&form).send();
            response.await.unwrap()
        }
    };
    let confirmed = confirm(token.clone()).await;
    let confirmed = (confirmed.status(), confirmed.text().await.unwrap());
    let after = verified_claims(&app, &client, "ann@example.com").await;
    let again = confirm(token).await;

    assert_eq!(mail.header("To").as_deref(), Some("ann@example.com"));
    assert!(
        mail.header("Subject")
            .unwrap()
            .starts_with("Verify your email address")
    );
    assert!(mail.text.contains("text/html") && mail.text.contains("text/plain"));
    assert_eq!(before, (json!(false), json!(false)));
    assert_eq!(status, 200);
    assert!(
        html.contains("<form method=\"post\" action=\"verify-email\">"),
        "{html}"
    );
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(
        fetched,
        (json!(false), json!(false)),
        "opening the link changes nothing"
    );
    assert_eq!(confirmed.0, 200);
    assert!(confirmed.1.contains("verified"), "{}", confirmed.1);
    assert_eq!(after, (json!(true), json!(true)));
    assert_eq!(again.status(), 400, "a link works once");
    assert!(again.text().await.unwrap().contains("invalid"));
}

#[tokio::test]
async fn the_api_form_refuses_forged_and_expired_links_and_a_new_link_works() {
    let clock = Clock::manual(chrono::Utc::now());
    let manual = clock.clone();
    let Some((sink, app)) = mailing_app(move |config| config.clock = manual).await else {
        return;
    };
    app.create_user("bob@example.com").await;
    let first = mail(&sink, 1, 0).await.token(VERIFY_LINK);

    let forged = app
        .post_json("/verify-email", json!({ "token": format!("{first}x") }))
        .await;
    clock.advance(Duration::from_secs(24 * 3600 + 1));
    let expired = app
        .post_json("/verify-email", json!({ "token": first }))
        .await;
    let resent = app
        .post_json(
            "/verify-email/resend",
            json!({ "email": "bob@example.com" }),
        )
        .await;
    let second = mail(&sink, 2, 1).await.token(VERIFY_LINK);
    let verified = app
        .post_json("/verify-email", json!({ "token": second }))
        .await;
    let no_more = app
        .post_json(
            "/verify-email/resend",
            json!({ "email": "bob@example.com" }),
        )
        .await;

    assert_eq!(forged.status(), 400);
    let body: Value = forged.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        expired.status(),
        400,
        "24 hours after the mail, the link is dead"
    );
    assert_eq!(resent.status(), 202);
    assert_ne!(first, second);
    assert_eq!(verified.status(), 204);
    assert_eq!(
        no_more.status(),
        202,
        "the same answer for a verified address"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        sink.received().len(),
        2,
        "nothing is mailed to a verified address"
    );
}

#[tokio::test]
async fn a_reset_link_sets_the_password_once_and_ends_every_session() {
    let Some((sink, app)) = mailing_app(|_| {}).await else {
        return;
    };
    let client = dashboard(&app).await;
    let user = app.create_user("cy@example.com").await;
    let session = app.logged_in(&client, "cy@example.com").await;

    let asked = app
        .post_json("/password/forgot", json!({ "email": "CY@example.com" }))
        .await;
    let mail = mail(&sink, 2, 1).await;
    let token = mail.token(RESET_LINK);
    let form = app
        .get(&format!("/password/reset?token={token}"))
        .await
        .text()
        .await
        .unwrap();
    let reset = json!({ "token": token, "password": NEW_PASSWORD });
    let weak = app
        .post_json(
            "/password/reset",
            json!({ "token": token, "password": "short" }),
        )
        .await;
    let done = app.post_json("/password/reset", reset.clone()).await;
    let again = app.post_json("/password/reset", reset).await;
    let refresh = session["refresh_token"].as_str().unwrap();

    assert_eq!(asked.status(), 202);
    assert!(
        mail.header("Subject")
            .unwrap()
            .starts_with("Reset your password")
    );
    assert!(
        form.contains("name=\"password\"") && form.contains(&token),
        "{form}"
    );
    assert_eq!(
        weak.status(),
        400,
        "the password policy holds, and the link survives it"
    );
    assert_eq!(done.status(), 204);
    assert_eq!(again.status(), 400, "a link works once");
    let old = app.login(&client, "cy@example.com", PASSWORD, None).await;
    assert_eq!(old.status(), 400, "the old password is gone");
    let new = app
        .login(&client, "cy@example.com", NEW_PASSWORD, None)
        .await;
    assert_eq!(new.status(), 200);
    assert_eq!(
        app.refresh(&client, refresh, None).await.status(),
        400,
        "sessions ended"
    );
    let audit = app
        .admin_ok(
            Method::GET,
            &format!("/admin/audit?target={user}"),
            None,
            200,
        )
        .await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"password.reset_request") && actions.contains(&"password.reset"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_reset_form_posts_back_and_answers_with_a_page() {
    let Some((sink, app)) = mailing_app(|config| config.registration = false).await else {
        return;
    };
    let client = dashboard(&app).await;
    app.admin_ok(
        Method::POST,
        "/admin/users",
        Some(json!({ "username": "di@example.com", "password": PASSWORD })),
        201,
    )
    .await;

    app.post_json("/password/forgot", json!({ "email": "di@example.com" }))
        .await;
    let token = mail(&sink, 1, 0).await.token(RESET_LINK);
    let weak = post_form(&app, &token, "short").await;
    let (weak_status, weak_page) = (weak.status(), weak.text().await.unwrap());
    let answer = post_form(&app, &token, NEW_PASSWORD).await;

    assert_eq!(weak_status, 400);
    assert!(
        weak_page.contains("role=\"alert\"") && weak_page.contains("at least"),
        "the form again, saying why: {weak_page}"
    );
    assert!(weak_page.contains(&token), "with the same link");
    assert_eq!(answer.status(), 200);
    assert!(
        answer.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(answer.text().await.unwrap().contains("password is changed"));
    let new = app
        .login(&client, "di@example.com", NEW_PASSWORD, None)
        .await;
    assert_eq!(new.status(), 200);
}

/// The reset form as a browser posts it.
async fn post_form(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    let url = app.api.url("/password/reset");
    let form = [("token", token), ("password", password)];
    app.api.http.post(url).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_reset_link_dies_when_the_password_changes_another_way() {
    let Some((sink, app)) = mailing_app(|_| {}).await else {
        return;
    };
    let user = app.create_user("eve@example.com").await;
    app.post_json("/password/forgot", json!({ "email": "eve@example.com" }))
        .await;
    let token = mail(&sink, 2, 1).await.token(RESET_LINK);

    let changed = json!({ "password": "changed by an admin meanwhile" });
    app.admin_ok(
        Method::PATCH,
        &format!("/admin/users/{user}"),
        Some(changed),
        200,
    )
    .await;
    let reset = app
        .post_json(
            "/password/reset",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;

    assert_eq!(reset.status(), 400);
    let body: Value = reset.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn parallel_uses_of_one_reset_link_set_the_password_exactly_once() {
    let Some((sink, app)) = mailing_app(|_| {}).await else {
        return;
    };
    app.create_user("fay@example.com").await;
    app.post_json("/password/forgot", json!({ "email": "fay@example.com" }))
        .await;
    let token = mail(&sink, 2, 1).await.token(RESET_LINK);

    let statuses = parallel(8, |i| {
        let api = app.api.clone();
        let body = json!({ "token": token, "password": format!("{NEW_PASSWORD} {i}") });
        async move {
            api.post_json("/password/reset", body)
                .await
                .status()
                .as_u16()
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 204), 1, "{statuses:?}");
    assert_eq!(count_status(&statuses, 400), 7, "{statuses:?}");
}

/// The median time of `count` requests made by `request`, and their statuses and bodies.
async fn timed<F, Fut>(count: usize, request: F) -> (Duration, Vec<(u16, String)>)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = reqwest::Response>,
{
    let mut times = Vec::new();
    let mut answers = Vec::new();
    for i in 0..count {
        let started = Instant::now();
        let response = request(i).await;
        times.push(started.elapsed());
        answers.push((response.status().as_u16(), response.text().await.unwrap()));
    }
    times.sort();
    (times[count / 2], answers)
}

#[tokio::test]
async fn asking_for_an_unknown_address_answers_like_a_known_one_and_sends_nothing() {
    let Some((sink, app)) = mailing_app(|_| {}).await else {
        return;
    };
    app.create_user("gil@example.com").await;
    mail(&sink, 1, 0).await;

    let mut answers = Vec::new();
    for path in ["/password/forgot", "/verify-email/resend"] {
        let (known, known_answers) = timed(15, |_| {
            app.post_json(path, json!({ "email": "gil@example.com" }))
        })
        .await;
        let (unknown, unknown_answers) = timed(15, |i| {
            app.post_json(path, json!({ "email": format!("nobody{i}@example.com") }))
        })
        .await;
        answers.push((path, known, unknown, known_answers, unknown_answers));
    }
    let delivered = sink.messages(31, WAIT).await;

    for (path, known, unknown, known_answers, unknown_answers) in answers {
        assert!(
            known_answers
                .iter()
                .all(|answer| *answer == (202, String::new())),
            "{path}"
        );
        assert_eq!(
            known_answers, unknown_answers,
            "{path}: same status and body"
        );
        let gap = known.abs_diff(unknown);
        assert!(
            gap < Duration::from_millis(20),
            "{path}: median {known:?} for a known address, {unknown:?} for an unknown one"
        );
    }
    assert_eq!(
        delivered.len(),
        31,
        "15 resets and 15 verifications for the known address"
    );
    assert!(
        delivered
            .iter()
            .all(|mail| mail.header("To").as_deref() == Some("gil@example.com")),
        "nothing was mailed to an unknown address"
    );
}

#[tokio::test]
async fn an_smtp_outage_during_registration_fails_nothing_and_the_mail_follows() {
    let Some(mut sink) = SmtpSink::reserve() else {
        return;
    };
    let clock = Clock::manual(chrono::Utc::now());
    let (mail_config, manual) = (sink.mail_config(), clock.clone());
    let app = spawn_app_with(move |config| {
        config.mail = Some(mail_config);
        config.clock = manual;
    })
    .await;

    let started = Instant::now();
    let registered = app.api.register("hal@example.com", PASSWORD).await;
    let took = started.elapsed();
    let failed = wait_for_metric(&app, "sigil_mail_send_failures_total", 1).await;
    sink.spawn();
    clock.advance(Duration::from_secs(11));
    let delivered = mail(&sink, 1, 0).await;

    assert_eq!(registered.status(), 201);
    assert!(took < Duration::from_secs(2), "answered at once: {took:?}");
    assert!(failed, "the first attempt met a dead server");
    let token = delivered.token(VERIFY_LINK);
    assert_eq!(
        app.post_json("/verify-email", json!({ "token": token }))
            .await
            .status(),
        204
    );
}

#[tokio::test]
async fn a_mail_that_keeps_failing_becomes_a_dead_letter() {
    let Some(sink) = SmtpSink::reserve() else {
        return;
    };
    let clock = Clock::manual(chrono::Utc::now());
    let mut mail_config = sink.mail_config();
    mail_config.max_attempts = 2;
    let manual = clock.clone();
    let app = spawn_app_with(move |config| {
        config.mail = Some(mail_config);
        config.clock = manual;
    })
    .await;

    app.create_user("ida@example.com").await;
    assert!(wait_for_metric(&app, "sigil_mail_send_failures_total", 1).await);
    clock.advance(Duration::from_secs(11));
    let dead = wait_for_metric(
        &app,
        "sigil_mail_dead_letters_total{kind=\"verify_email\"}",
        1,
    )
    .await;
    let rows = app
        .database
        .count("SELECT COUNT(*) FROM mail_outbox WHERE state = $1", "dead")
        .await;

    assert!(dead, "given up after the second attempt");
    assert_eq!(rows, 1);
    assert!(wait_for_metric(&app, "sigil_mail_dead", 1).await);
}

/// Waits (at most `WAIT`) until the metric line `name` reads at least `value`.
async fn wait_for_metric(app: &TestApp, name: &str, value: u64) -> bool {
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        let text = app.get("/metrics").await.text().await.unwrap();
        let reading = text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .parse::<f64>()
                .ok()
        });
        if reading.is_some_and(|reading| reading >= value as f64) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn required_verification_blocks_login_until_the_link_is_used() {
    let Some((sink, app)) = mailing_app(|config| config.require_verified_email = true).await else {
        return;
    };
    let client = dashboard(&app).await;
    app.create_user("jo@example.com").await;

    let blocked = app.login(&client, "jo@example.com", PASSWORD, None).await;
    let token = mail(&sink, 1, 0).await.token(VERIFY_LINK);
    app.post_json("/verify-email", json!({ "token": token }))
        .await;
    let allowed = app.login(&client, "jo@example.com", PASSWORD, None).await;

    assert_eq!(blocked.status(), 400);
    let body: Value = blocked.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "the email address is not verified yet"
    );
    assert_eq!(allowed.status(), 200);
}

#[tokio::test]
async fn without_smtp_asking_for_mail_is_a_documented_404_and_bad_input_still_a_400() {
    let app = spawn_app().await;

    for path in ["/verify-email/resend", "/password/forgot"] {
        let response = app
            .post_json(path, json!({ "email": "kim@example.com" }))
            .await;
        let malformed = app
            .post_json(path, json!({ "email": "not an address" }))
            .await;

        assert_eq!(
            response.status(),
            404,
            "{path}: a permanent state, not an outage"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found");
        assert_eq!(
            body["error_description"],
            "email verification and password reset are not enabled on this server"
        );
        assert_eq!(malformed.status(), 400, "{path}: input is checked first");
    }
}

fn mail_limits(config: &mut Config) {
    config.limits = LimitSettings {
        mail_per_email: 2,
        mail_per_ip: 6,
        ..config.limits
    };
}

#[tokio::test]
async fn parallel_requests_for_one_address_get_only_its_allowance() {
    let Some((_sink, app)) = mailing_app(mail_limits).await else {
        return;
    };

    let statuses = parallel(6, |_| {
        let api = app.api.clone();
        let body = json!({ "email": "lee@example.com" });
        async move {
            api.post_json("/password/forgot", body)
                .await
                .status()
                .as_u16()
        }
    })
    .await;

    assert_eq!(count_status(&statuses, 202), 2, "{statuses:?}");
    assert_eq!(count_status(&statuses, 429), 4, "{statuses:?}");
}

/// `POST /password/forgot` for `email`, said to come from `ip` (loopback is a trusted proxy).
async fn forgot_from(app: &TestApp, ip: &str, email: &str) -> u16 {
    app.http
        .post(app.url("/password/forgot"))
        .header("x-forwarded-for", ip)
        .json(&json!({ "email": email }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn strangers_asking_for_a_victims_reset_cannot_spend_the_victims_own_share() {
    let Some((sink, app)) = mailing_app(|config| {
        config.limits = LimitSettings {
            mail_per_email: 3,
            mail_per_email_total: 4,
            mail_per_ip: 30,
            ..config.limits
        };
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    app.create_user("vic@example.com").await;

    let mut stranger = Vec::new();
    for _ in 0..4 {
        stranger.push(forgot_from(&app, "203.0.113.7", "vic@example.com").await);
    }
    let own = forgot_from(&app, "198.51.100.9", "vic@example.com").await;
    // The registration's verification mail, then four reset mails.
    let mails = sink.messages(5, WAIT).await;
    let resets: Vec<_> = mails
        .iter()
        .filter(|mail| mail.link(RESET_LINK).is_some())
        .collect();
    let beyond_total = forgot_from(&app, "192.0.2.44", "vic@example.com").await;

    assert_eq!(stranger, [202, 202, 202, 429], "a stranger's own share");
    assert_eq!(own, 202, "the owner's request is not refused");
    assert_eq!(resets.len(), 4, "and the owner's mail is sent");
    let token = resets[3].token(RESET_LINK);
    let reset = app
        .post_json(
            "/password/reset",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;
    assert_eq!(reset.status(), 204, "the owner's link works");
    assert_eq!(
        beyond_total, 202,
        "answered alike once the address's share is spent"
    );
    let rows = app
        .admin_ok(
            Method::GET,
            "/admin/audit?action=password.reset_request&limit=100",
            None,
            200,
        )
        .await;
    let unsent = rows["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["details"]["mail"] == "not sent: address limit")
        .count();
    assert_eq!(
        unsent, 1,
        "the request beyond the address's share sent nothing"
    );
}

#[tokio::test]
async fn one_ip_gets_its_allowance_of_mail_requests_across_addresses_and_resets() {
    let Some((_sink, app)) = mailing_app(mail_limits).await else {
        return;
    };

    let mut statuses = Vec::new();
    for i in 0..5 {
        let body = json!({ "email": format!("m{i}@example.com") });
        statuses.push(
            app.post_json("/verify-email/resend", body)
                .await
                .status()
                .as_u16(),
        );
    }
    let reset = app
        .post_json(
            "/password/reset",
            json!({ "token": "x", "password": NEW_PASSWORD }),
        )
        .await;
    let refused = app
        .post_json("/password/forgot", json!({ "email": "n@example.com" }))
        .await;

    assert_eq!(statuses, [202; 5]);
    assert_eq!(
        reset.status(),
        400,
        "the sixth request, a dead link, still counts"
    );
    assert_eq!(refused.status(), 429);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 3000 && retry <= 3600, "{retry}");
}

#[tokio::test]
async fn verification_and_reset_publish_their_events_and_no_token_appears_in_events_or_audit() {
    let (Some(nats), Some(sink)) = (NatsServer::start(), SmtpSink::start()) else {
        return;
    };
    let (events, mail_config) = (nats.event_config(), sink.mail_config());
    let app = spawn_app_with(move |config| {
        config.events = Some(events);
        config.mail = Some(mail_config);
    })
    .await;
    let client = dashboard(&app).await;
    let user = app.create_user("max@example.com").await;

    let verify = mail(&sink, 1, 0).await.token(VERIFY_LINK);
    app.post_json("/verify-email", json!({ "token": verify }))
        .await;
    app.logged_in(&client, "max@example.com").await;
    app.post_json("/password/forgot", json!({ "email": "max@example.com" }))
        .await;
    let reset = mail(&sink, 2, 1).await.token(RESET_LINK);
    let body = json!({ "token": reset, "password": NEW_PASSWORD });
    assert_eq!(app.post_json("/password/reset", body).await.status(), 204);
    // Besides the bootstrap admin client's and the dashboard's `client.created`.
    let received: Vec<_> = nats
        .events(9, WAIT)
        .await
        .into_iter()
        .filter(|event| !event.kind().starts_with("auth.client."))
        .collect();
    let audit = app
        .admin_ok(Method::GET, "/admin/audit?limit=200", None, 200)
        .await;

    let kinds: Vec<&str> = received.iter().map(|event| event.kind()).collect();
    assert_eq!(
        kinds,
        [
            "auth.user.created",
            "auth.user.updated",
            "auth.user.email_verified",
            "auth.session.created",
            "auth.token.issued",
            "auth.user.updated",
            "auth.session.invalidated",
        ]
    );
    assert_eq!(
        received[1].envelope["data"]["changed"],
        json!(["email_verified"])
    );
    assert_eq!(received[5].envelope["data"]["changed"], json!(["password"]));
    assert_eq!(received[6].envelope["data"]["reason"], "password_changed");
    assert!(
        received
            .iter()
            .all(|event| event.envelope["subject"] == user
                || event.kind().starts_with("auth.session")
                || event.kind().starts_with("auth.token"))
    );
    let audit_text = audit.to_string();
    for action in ["email.verify", "password.reset_request", "password.reset"] {
        assert!(
            audit_text.contains(&format!("\"{action}\"")),
            "{action} audited"
        );
    }
    for token in [&verify, &reset] {
        assert!(
            !audit_text.contains(&token[..12]),
            "a token in the audit log"
        );
        assert!(
            received
                .iter()
                .all(|event| !event.raw.contains(&token[..12])),
            "a token in an event"
        );
    }
}

#[tokio::test]
async fn a_reset_link_expires_after_an_hour() {
    let clock = Clock::manual(chrono::Utc::now());
    let manual = clock.clone();
    let Some((sink, app)) = mailing_app(move |config| config.clock = manual).await else {
        return;
    };
    app.create_user("ned@example.com").await;
    app.post_json("/password/forgot", json!({ "email": "ned@example.com" }))
        .await;
    let token = mail(&sink, 2, 1).await.token(RESET_LINK);

    clock.advance(Duration::from_secs(3601));
    let late = app
        .post_json(
            "/password/reset",
            json!({ "token": token, "password": NEW_PASSWORD }),
        )
        .await;

    assert_eq!(late.status(), 400);
    let body: Value = late.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn maintenance_forgets_expired_links_and_mail_a_week_after_it_left_the_queue() {
    let clock = Clock::manual(chrono::Utc::now());
    let manual = clock.clone();
    let Some((sink, app)) = mailing_app(move |config| {
        config.clock = manual;
        config.maintenance_interval = Duration::from_millis(50);
    })
    .await
    else {
        return;
    };
    app.create_user("oz@example.com").await;
    mail(&sink, 1, 0).await;
    let count = |table: &'static str| app.database.rows(table);
    let before = (count("mail_outbox").await, count("link_tokens").await);

    clock.advance(Duration::from_secs(8 * 86_400));
    let deadline = Instant::now() + WAIT;
    let mut after = before;
    while Instant::now() < deadline && after != (0, 0) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = (count("mail_outbox").await, count("link_tokens").await);
    }

    assert_eq!(before, (1, 1), "the sent mail and its link");
    assert_eq!(after, (0, 0), "both pruned");
}
