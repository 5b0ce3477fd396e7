//! Events: the relay that publishes the transactional outbox (`store::outbox`), the CloudEvents
//! envelope, and the sink seam the relay writes to (`Sink`; NATS JetStream today, in `nats.rs`,
//! the only user of `async-nats`); and mail delivery over SMTP (`mail.rs`, the only user of
//! `lettre`). The application layer writes events with its changes (`Tx::emit`) and queues
//! mail (`Tx::queue_mail`); nothing here decides what happened or what to send.

mod envelope;
mod mail;
mod nats;
mod relay;

pub use mail::{Letter, Mailer, SendError};
pub use nats::NatsSink;
pub use relay::{Relay, RelaySettings, spawn_relay};

use envelope::Message;

/// Where the relay publishes: a seam, so a Kafka sink can join without touching the outbox.
pub enum Sink {
    /// NATS JetStream.
    Nats(NatsSink),
}

impl Sink {
    /// Publishes `messages` in order and waits for the acknowledgements; returns how many,
    /// from the first, were acknowledged, and the error that stopped the rest.
    async fn publish(&self, messages: &[Message]) -> (usize, Option<anyhow::Error>) {
        match self {
            Self::Nats(sink) => sink.publish(messages).await,
        }
    }
}
