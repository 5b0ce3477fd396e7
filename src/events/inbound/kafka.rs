//! The directory's events from Kafka: consumer group `sigil` (several instances share the
//! topic's partitions), offsets stored only for handled messages and committed in the
//! background (and when the consumer leaves the group), from the earliest offset on first
//! start.

use anyhow::Context as _;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Headers as _, Message as _};

use super::Handler;
use crate::config::KafkaConfig;
use crate::events::kafka::Log;
use crate::oauth::{InboundMessage, MAX_MESSAGE_BYTES};

/// The consumer group.
const GROUP: &str = "sigil";

/// A group consumer of `topic`.
pub(super) struct Consumer {
    consumer: StreamConsumer<Log>,
}

impl Consumer {
    /// Subscribes to `topic` on the brokers of `settings` (connecting in the background).
    pub(super) fn new(settings: &KafkaConfig, topic: &str) -> anyhow::Result<Self> {
        let consumer: StreamConsumer<Log> = ClientConfig::new()
            .set("bootstrap.servers", &settings.brokers)
            .set("client.id", "sigil-inbound-users")
            .set("group.id", GROUP)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // A topic the directory creates after sigil started is noticed within seconds.
            .set("topic.metadata.refresh.interval.ms", "5000")
            // A member that went away (an instance killed) gives its partitions up within
            // seconds: the group's first rebalance waits for that too.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "2000")
            // A bigger message is fetched all the same (and rejected as too large).
            .set(
                "fetch.message.max.bytes",
                (MAX_MESSAGE_BYTES * 16).to_string(),
            )
            .create_with_context(Log)
            .context("--kafka-brokers: cannot create a Kafka consumer")?;
        consumer
            .subscribe(&[topic])
            .with_context(|| format!("--inbound-users: cannot subscribe to {topic}"))?;
        Ok(Self { consumer })
    }

    /// Consumes until stopped; the broker going away only pauses it.
    pub(super) async fn run(self, mut handler: Handler) {
        loop {
            let message = tokio::select! {
                received = self.consumer.recv() => received,
                () = handler.stopping() => break,
            };
            let message = match message {
                Ok(message) => message,
                Err(error) => {
                    tracing::warn!(%error, "inbound users: Kafka consumer error");
                    continue;
                }
            };
            let headers = message.headers().map_or_else(Vec::new, |headers| {
                headers
                    .iter()
                    .map(|header| {
                        let value = header.value.unwrap_or_default().to_vec();
                        (header.key.to_owned(), value)
                    })
                    .collect()
            });
            let inbound = InboundMessage {
                position: format!(
                    "kafka:{}/{}/{}",
                    message.topic(),
                    message.partition(),
                    message.offset()
                ),
                headers,
                body: message.payload().unwrap_or_default().to_vec(),
            };
            if !handler.handle(&inbound).await {
                break;
            }
            if let Err(error) = self.consumer.store_offset_from_message(&message) {
                tracing::warn!(%error, "inbound users: offset not stored");
            }
        }
        // Leaving the group commits the stored offsets and can wait long on a broker that is
        // away: on a thread nothing waits for. Should the process exit first, the messages
        // after the last automatic commit (every 5 s) come again, and their inbox rows make
        // them no-ops.
        let consumer = self.consumer;
        std::thread::spawn(move || drop(consumer));
    }
}
