//! The outbox's per-sink delivery state, through the store: each sink's relay claims and
//! finishes its own rows, and an event is done once when the last sink has it — also when
//! two sinks finish the same events at the same moment.

use std::sync::Arc;
use std::time::Duration;

use sigil::domain::EventSink;
use sigil::store::{NewEvent, Store, StoreOptions};
use tokio::sync::Barrier;

use crate::helpers::TestDatabase;

async fn store_with_both_sinks(database: &TestDatabase) -> Store {
    let options = StoreOptions {
        client_cache_ttl: Duration::from_secs(1),
        event_sinks: vec![EventSink::Nats, EventSink::Kafka],
        ..StoreOptions::default()
    };
    let store = Store::connect(&database.url, options).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn emit(store: &Store, count: usize) {
    let now = chrono::Utc::now();
    for n in 0..count {
        let data = serde_json::json!({ "user_id": n.to_string() });
        let event = NewEvent::new("user", n.to_string(), "created", data, now);
        store.emit(&event).await.unwrap();
    }
}

#[tokio::test]
async fn an_event_is_done_only_when_every_sink_has_it() {
    let database = TestDatabase::create().await;
    let store = store_with_both_sinks(&database).await;
    emit(&store, 3).await;

    let nats = store.claim_events(EventSink::Nats, 10).await.unwrap();
    assert_eq!(nats.events().len(), 3);
    nats.sent(&store, 2, chrono::Utc::now()).await.unwrap();

    let unsent = "SELECT id FROM outbox_events WHERE sent_at IS NULL";
    assert_eq!(
        database.strings(unsent).await.len(),
        3,
        "Kafka has none yet"
    );
    let nats = store.claim_events(EventSink::Nats, 10).await.unwrap();
    assert_eq!(nats.events().len(), 1, "NATS waits only for its third");
    drop(nats);
    let kafka = store.claim_events(EventSink::Kafka, 10).await.unwrap();
    assert_eq!(kafka.events().len(), 3, "Kafka's rows are its own");
    kafka.sent(&store, 3, chrono::Utc::now()).await.unwrap();

    assert_eq!(
        database.strings(unsent).await.len(),
        1,
        "the two both sinks have"
    );
    assert_eq!(store.outbox_backlog(EventSink::Kafka).await.unwrap().0, 0);
    assert_eq!(store.outbox_backlog(EventSink::Nats).await.unwrap().0, 1);
}

#[tokio::test]
async fn two_sinks_finishing_the_same_events_at_once_leave_each_done() {
    let database = TestDatabase::create().await;
    let store = store_with_both_sinks(&database).await;
    let unsent = "SELECT id FROM outbox_events WHERE sent_at IS NULL";

    for round in 0..20 {
        emit(&store, 5).await;
        let nats = store.claim_events(EventSink::Nats, 10).await.unwrap();
        let kafka = store.claim_events(EventSink::Kafka, 10).await.unwrap();
        assert_eq!((nats.events().len(), kafka.events().len()), (5, 5));
        let barrier = Arc::new(Barrier::new(2));
        let finish = |claim: sigil::store::Claim| {
            let (store, barrier) = (store.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                claim.sent(&store, 5, chrono::Utc::now()).await.unwrap();
            })
        };
        let (a, b) = (finish(nats), finish(kafka));
        a.await.unwrap();
        b.await.unwrap();

        let left = database.strings(unsent).await;
        assert!(left.is_empty(), "round {round}: {} never done", left.len());
    }
}
