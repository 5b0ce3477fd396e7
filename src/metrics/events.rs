//! The metrics of the event relays (per sink) and of the directory's inbound events.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::Metrics;
use crate::domain::EventSink;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    sink: &'static str,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InboundLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

/// The event metrics of one registry.
#[derive(Default)]
pub(super) struct EventMetrics {
    published: Family<EventLabels, Counter>,
    publish_failures: Family<SinkLabels, Counter>,
    pending: Family<SinkLabels, Gauge>,
    oldest_seconds: Family<SinkLabels, Gauge>,
    inbound: Family<InboundLabels, Counter>,
    inbound_rejected: Family<ReasonLabels, Counter>,
}

impl EventMetrics {
    /// Registers them in `registry`.
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "events_published",
            "Events acknowledged by a broker, by sink (nats, kafka) and CloudEvents type",
            self.published.clone(),
        );
        registry.register(
            "event_publish_failures",
            "Relay passes that failed to publish, by sink (the rows stay pending)",
            self.publish_failures.clone(),
        );
        registry.register(
            "outbox_pending",
            "Events written and not yet acknowledged by the sink's broker",
            self.pending.clone(),
        );
        registry.register(
            "outbox_oldest_seconds",
            "Age of the oldest event waiting for the sink (0 when none waits)",
            self.oldest_seconds.clone(),
        );
        registry.register(
            "inbound_events",
            "Directory user events handled, by outcome (applied, stale, ignored, rejected)",
            self.inbound.clone(),
        );
        registry.register(
            "inbound_rejected",
            "Directory user events rejected as malformed or unknown, by reason",
            self.inbound_rejected.clone(),
        );
    }
}

impl Metrics {
    /// Counts one event acknowledged by `sink`'s broker.
    pub fn event_published(&self, sink: EventSink, kind: &str) {
        let labels = EventLabels {
            sink: sink.as_str(),
            r#type: kind.to_owned(),
        };
        self.0.events.published.get_or_create(&labels).inc();
    }

    /// Counts one failed relay pass of `sink`.
    pub fn event_publish_failed(&self, sink: EventSink) {
        let labels = SinkLabels {
            sink: sink.as_str(),
        };
        self.0.events.publish_failures.get_or_create(&labels).inc();
    }

    /// Sets `sink`'s outbox backlog: rows waiting for it and the age of the oldest, in
    /// seconds.
    pub fn outbox_backlog(&self, sink: EventSink, pending: i64, oldest_seconds: i64) {
        let labels = SinkLabels {
            sink: sink.as_str(),
        };
        let events = &self.0.events;
        events.pending.get_or_create(&labels).set(pending);
        events
            .oldest_seconds
            .get_or_create(&labels)
            .set(oldest_seconds);
    }

    /// Counts one directory event handled, by `outcome`.
    pub fn inbound_event(&self, outcome: &'static str) {
        let labels = InboundLabels { outcome };
        self.0.events.inbound.get_or_create(&labels).inc();
    }

    /// Counts one directory event rejected for `reason`.
    pub fn inbound_rejected(&self, reason: &'static str) {
        let labels = ReasonLabels { reason };
        self.0.events.inbound_rejected.get_or_create(&labels).inc();
    }
}
