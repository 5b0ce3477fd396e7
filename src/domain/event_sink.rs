//! `EventSink`: a broker the outbox is relayed to. Each configured sink has its own delivery
//! state per event, so one that is down holds back only its own rows.

use std::fmt;

/// A broker sigil publishes its events to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventSink {
    /// NATS JetStream (`--nats-url`).
    Nats,
    /// Apache Kafka (`--kafka-brokers`).
    Kafka,
}

impl EventSink {
    /// Every sink, in a fixed order.
    pub const ALL: [Self; 2] = [Self::Nats, Self::Kafka];

    /// The sinks configured, in `ALL` order: NATS when `nats`, Kafka when `kafka`.
    pub fn configured(nats: bool, kafka: bool) -> Vec<Self> {
        let wanted = [nats, kafka];
        Self::ALL
            .into_iter()
            .zip(wanted)
            .filter_map(|(sink, on)| on.then_some(sink))
            .collect()
    }

    /// The stored name, also the `sink` label of the outbox metrics: `nats` or `kafka`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Nats => "nats",
            Self::Kafka => "kafka",
        }
    }
}

impl fmt::Display for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
