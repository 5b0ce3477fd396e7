//! Stopping well (SPEC "Deployment and operations"): SIGTERM turns readiness off at once, lets
//! every request in flight finish over HTTP and gRPC, publishes every event they wrote, and
//! exits 0 within the grace. The real binary, under load, with a real NATS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sigil::grpc::proto::LoginRequest;
use sigil::grpc::proto::auth_client::AuthClient;

use crate::helpers::{
    ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET, NatsServer, PASSWORD, SigilProcess, TestClient,
    TestDatabase,
};

const HTTP_LOGINS: usize = 200;
const GRPC_LOGINS: usize = 100;
const USERS: usize = 10;
const GRACE: Duration = Duration::from_secs(20);

/// Logins over HTTP and gRPC, each counted when it succeeds; the failures' descriptions.
struct Load {
    done: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), String>>>,
}

/// Connections opened before the load, so that every login of the load is on the wire at
/// once (a request still connecting at the stop is not in flight: it is refused, which is
/// what `--shutdown-delay` is for).
struct Connected {
    http: Vec<reqwest::Client>,
    grpc: Vec<tonic::transport::Channel>,
}

async fn connect(sigil: &SigilProcess) -> Connected {
    let api = sigil.api();
    let mut http = Vec::new();
    for _ in 0..HTTP_LOGINS {
        let client = reqwest::Client::new();
        let warm = client.get(api.url("/.well-known/jwks.json")).send().await;
        assert_eq!(warm.unwrap().status(), 200);
        http.push(client);
    }
    let mut grpc = Vec::new();
    for _ in 0..GRPC_LOGINS.div_ceil(50) {
        grpc.push(api.grpc_channel().await);
    }
    Connected { http, grpc }
}

fn start_load(sigil: &SigilProcess, client: &TestClient, connected: Connected) -> Load {
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (i, http) in connected.http.into_iter().enumerate() {
        let api = crate::helpers::Api {
            http,
            ..sigil.api()
        };
        let (client, done) = (client.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let user = format!("user{}@example.com", i % USERS);
            let response = api.login(&client, &user, PASSWORD, None).await;
            if response.status() != 200 {
                return Err(format!("HTTP login {i}: {}", response.status()));
            }
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
    }
    for i in 0..GRPC_LOGINS {
        let channel = connected.grpc[i % connected.grpc.len()].clone();
        let (client_id, done) = (client.id.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            let request = LoginRequest {
                email: format!("user{}@example.com", i % USERS),
                password: PASSWORD.to_owned(),
                client_id,
                ..LoginRequest::default()
            };
            if let Err(status) = AuthClient::new(channel).login(request).await {
                return Err(format!("gRPC login {i}: {status}"));
            }
            done.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
    }
    Load { done, tasks }
}

/// Polls the management port's `/readyz` from a thread of its own (the test's runtime is
/// busy with the load) until it answers 503; the instant it first did.
fn watch_readiness(management: String) -> std::thread::JoinHandle<Instant> {
    use std::io::{Read as _, Write as _};
    std::thread::spawn(move || {
        loop {
            let mut stream = std::net::TcpStream::connect(&management).expect("management port");
            let request = "GET /readyz HTTP/1.1\r\nHost: sigil\r\nConnection: close\r\n\r\n";
            stream.write_all(request.as_bytes()).unwrap();
            let mut answer = String::new();
            stream.read_to_string(&mut answer).unwrap();
            if answer.starts_with("HTTP/1.1 503") {
                return Instant::now();
            }
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

#[tokio::test]
async fn sigterm_under_load_loses_no_request_and_no_event_and_exits_0_within_the_grace() {
    let Some(nats) = NatsServer::start() else {
        return;
    };
    let database = TestDatabase::create().await;
    let flags = [
        "--nats-url",
        &nats.url,
        "--management-listen",
        "127.0.0.1:0",
        "--shutdown-grace",
        "20s",
        "--client-rate-limit",
        "0",
        // The pre-opened connections wait idle while the rest are opened (seconds on a loaded
        // machine): they must not reach the keep-alive limit before the load starts.
        "--header-read-timeout",
        "120s",
        "--idle-timeout",
        "180s",
        "--login-failures-per-user",
        "1000000",
        "--login-failures-per-ip",
        "1000000",
        "--registrations-per-ip",
        "0",
        // Each login waits for one of the two hashing threads (~10 ms of hashing each): the
        // requests stay in flight for about two seconds while the runtime keeps room to
        // answer probes (with both cores saturated by signing and the database, a probe waits
        // in the run queue like any request).
        "--argon2-memory-kib",
        "16384",
        "--argon2-iterations",
        "1",
    ];
    let env = [
        ("SIGIL_ADMIN_CLIENT_ID", ADMIN_CLIENT_ID),
        ("SIGIL_ADMIN_CLIENT_SECRET", ADMIN_CLIENT_SECRET),
    ];
    let sigil = SigilProcess::serve_with_env(&database, &flags, &env);
    let api = sigil.api();
    let client = api.public_client(&["password"], "").await;
    for i in 0..USERS {
        api.create_user(&format!("user{i}@example.com")).await;
    }
    let seeded = 1 + USERS; // the client and the users
    nats.events(seeded, Duration::from_secs(20)).await;

    let connected = connect(&sigil).await;
    let readiness = watch_readiness(sigil.management_address.clone().unwrap());
    let load = start_load(&sigil, &client, connected);
    while load.done.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sigil.signal("TERM");
    let signalled = Instant::now();
    let in_flight = HTTP_LOGINS + GRPC_LOGINS - load.done.load(Ordering::SeqCst);
    let mut failures = Vec::new();
    for task in load.tasks {
        if let Err(failure) = task.await.unwrap() {
            failures.push(failure);
        }
    }
    let (status, logs) = sigil.exited().await;
    let stopped_after = signalled.elapsed();
    let readiness_lost = readiness
        .join()
        .unwrap()
        .saturating_duration_since(signalled);

    eprintln!(
        "in flight at the signal: {in_flight}; readiness off after {readiness_lost:?}; \
         exited after {stopped_after:?}"
    );
    assert!(
        in_flight >= 100,
        "{in_flight} requests in flight at the signal"
    );
    assert!(
        readiness_lost <= Duration::from_millis(100),
        "readiness off {readiness_lost:?} after the signal"
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert!(status.success(), "exit status {status}: {logs:?}");
    assert!(
        stopped_after < GRACE,
        "stopped {stopped_after:?} after the signal"
    );
    let unsent = database
        .strings("SELECT id FROM outbox_events WHERE sent_at IS NULL")
        .await;
    assert!(
        unsent.is_empty(),
        "{} events left unpublished",
        unsent.len()
    );
    let logins = HTTP_LOGINS + GRPC_LOGINS;
    let events = nats
        .events(seeded + 2 * logins, Duration::from_secs(20))
        .await;
    let issued = events
        .iter()
        .filter(|event| event.kind() == "auth.token.issued")
        .count();
    assert_eq!(issued, logins, "one token.issued per login, each published");
}

#[tokio::test]
async fn during_the_shutdown_delay_new_connections_are_still_served_while_readiness_is_off() {
    let database = TestDatabase::create().await;
    let flags = [
        "--management-listen",
        "127.0.0.1:0",
        "--shutdown-delay",
        "1s",
    ];
    let sigil = SigilProcess::serve(&database, &flags);
    let readiness = watch_readiness(sigil.management_address.clone().unwrap());
    let api = sigil.api();

    sigil.signal("INT");
    let signalled = Instant::now();
    let readiness_lost = readiness
        .join()
        .unwrap()
        .saturating_duration_since(signalled);
    // A fresh client: a new connection, as a load balancer that has not caught up opens.
    let during_delay = reqwest::Client::new()
        .get(api.url("/.well-known/jwks.json"))
        .send()
        .await;
    let (status, _) = sigil.exited().await;
    let stopped_after = signalled.elapsed();
    let after_exit = reqwest::Client::new()
        .get(api.url("/.well-known/jwks.json"))
        .send()
        .await;

    assert!(
        readiness_lost <= Duration::from_millis(100),
        "{readiness_lost:?}"
    );
    assert_eq!(during_delay.unwrap().status(), 200);
    assert!(status.success(), "SIGINT stops as SIGTERM does: {status}");
    assert!(stopped_after >= Duration::from_secs(1), "{stopped_after:?}");
    assert!(after_exit.is_err(), "nothing listens once stopped");
}
