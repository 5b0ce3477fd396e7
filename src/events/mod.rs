//! Events: the relays that publish the transactional outbox (`store::outbox`), one per
//! configured sink, the CloudEvents rendering of an event, and the sink seam the relays write
//! to (`Sink`: NATS JetStream in `nats.rs`, the only user of `async-nats`; Apache Kafka in
//! `kafka.rs`, the only user of `rdkafka`); and mail delivery over SMTP (`mail.rs`, the only
//! user of `lettre`). The application layer writes events with its changes (`Tx::emit`) and
//! queues mail (`Tx::queue_mail`); nothing here decides what happened or what to send.

mod envelope;
mod inbound;
mod kafka;
mod mail;
mod nats;
mod relay;

pub use inbound::{Inbound, spawn_inbound};
pub use kafka::KafkaSink;
pub use mail::{Letter, Mailer, SendError};
pub use nats::NatsSink;
pub use relay::{Relay, RelaySettings, spawn_relay};

use envelope::Message;

use crate::domain::EventSink;

/// Where a relay publishes.
pub enum Sink {
    /// NATS JetStream.
    Nats(NatsSink),
    /// Apache Kafka.
    Kafka(KafkaSink),
}

impl Sink {
    /// Which sink this is: the name of its delivery rows and metrics.
    pub fn kind(&self) -> EventSink {
        match self {
            Self::Nats(_) => EventSink::Nats,
            Self::Kafka(_) => EventSink::Kafka,
        }
    }

    /// Publishes `messages` in order and waits for the acknowledgements; returns how many,
    /// from the first, were acknowledged, and the error that stopped the rest.
    async fn publish(&self, messages: &[Message]) -> (usize, Option<anyhow::Error>) {
        match self {
            Self::Nats(sink) => sink.publish(messages).await,
            Self::Kafka(sink) => sink.publish(messages).await,
        }
    }
}
