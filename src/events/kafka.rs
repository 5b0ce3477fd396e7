//! The Apache Kafka sink (the only user of `rdkafka`): an idempotent producer (`acks=all`),
//! topic per entity (`<prefix>.<entity>`, created when missing), record key = the entity id so
//! one entity's events stay in order on one partition, CloudEvents binary content mode
//! (`ce_*` headers, value = the data). A batch is sent whole, then its delivery reports are
//! awaited in order; a broker that is down fails the pass, not sigil. A producer that
//! librdkafka declares unusable (a fatal error) is replaced before the next pass.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use arc_swap::ArcSwap;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use rdkafka::types::RDKafkaErrorCode;

use super::Message;
use crate::config::KafkaConfig;

/// How long a record may wait for its delivery report (the broker being away included)
/// before the pass fails and the relay sends it again.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long creating a topic may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// librdkafka's log and errors, into sigil's log (the producer's, the consumer's).
#[derive(Clone, Copy)]
pub(super) struct Log;

impl rdkafka::consumer::ConsumerContext for Log {}

impl ClientContext for Log {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(facility, "kafka: {message}"),
            RDKafkaLogLevel::Warning => tracing::warn!(facility, "kafka: {message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(facility, "kafka: {message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(facility, "kafka: {message}"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, "kafka: {reason}");
    }
}

/// A Kafka producer for `<prefix>.<entity>` topics.
pub struct KafkaSink {
    settings: KafkaConfig,
    producer: ArcSwap<FutureProducer<Log>>,
    admin: AdminClient<Log>,
    /// Topics known to exist (looked for again after a failed delivery).
    topics: Mutex<HashSet<String>>,
}

impl KafkaSink {
    /// A producer for `settings.brokers`. Connects lazily: a broker that is down at start
    /// fails the passes, not the start.
    pub fn new(settings: KafkaConfig) -> anyhow::Result<Self> {
        let admin = client_config(&settings)
            .create_with_context(Log)
            .context("--kafka-brokers: cannot create a Kafka client")?;
        Ok(Self {
            producer: ArcSwap::from_pointee(producer(&settings)?),
            admin,
            settings,
            topics: Mutex::default(),
        })
    }

    /// Publishes `messages` in order; returns how many, from the first, were acknowledged,
    /// and the error that stopped the rest.
    pub(super) async fn publish(&self, messages: &[Message]) -> (usize, Option<anyhow::Error>) {
        if let Err(error) = self.ensure_topics(messages).await {
            return (0, Some(error));
        }
        let producer = self.producer.load_full();
        let mut reports = Vec::with_capacity(messages.len());
        let mut failed = None;
        for message in messages {
            let topic = self.topic(&message.entity);
            let headers = message.binary_headers().into_iter().fold(
                OwnedHeaders::new(),
                |headers, (key, value)| {
                    headers.insert(Header {
                        key,
                        value: Some(value),
                    })
                },
            );
            let record = FutureRecord::to(&topic)
                .key(&message.subject)
                .payload(message.data.get())
                .headers(headers);
            match producer.send_result(record) {
                Ok(report) => reports.push(report),
                Err((error, _)) => {
                    failed = Some(anyhow::Error::from(error).context("cannot queue the record"));
                    break;
                }
            }
        }
        let mut acked = 0;
        for report in reports {
            let outcome = match report.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((error, _))) => Err(anyhow::Error::from(error)),
                Err(_) => Err(anyhow::anyhow!("the producer went away")),
            };
            if let Err(error) = outcome {
                self.after_failure(&producer);
                return (acked, Some(error.context("no delivery report")));
            }
            acked += 1;
        }
        (acked, failed)
    }

    fn topic(&self, entity: &str) -> String {
        format!("{}.{entity}", self.settings.topic_prefix)
    }

    /// Creates the topics of `messages` that are not known to exist (one that exists is
    /// fine).
    async fn ensure_topics(&self, messages: &[Message]) -> anyhow::Result<()> {
        let missing: Vec<String> = {
            let known = self.topics.lock().expect("topic set poisoned");
            let mut missing: Vec<String> = messages
                .iter()
                .map(|message| self.topic(&message.entity))
                .filter(|topic| !known.contains(topic))
                .collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        let new: Vec<NewTopic<'_>> = missing
            .iter()
            .map(|topic| {
                NewTopic::new(
                    topic,
                    self.settings.partitions,
                    TopicReplication::Fixed(self.settings.replication),
                )
            })
            .collect();
        let options = AdminOptions::new().request_timeout(Some(ADMIN_TIMEOUT));
        let results = self
            .admin
            .create_topics(&new, &options)
            .await
            .context("cannot create the Kafka topics")?;
        let mut known = self.topics.lock().expect("topic set poisoned");
        for result in results {
            match result {
                Ok(topic) | Err((topic, RDKafkaErrorCode::TopicAlreadyExists)) => {
                    known.insert(topic);
                }
                Err((topic, code)) => {
                    anyhow::bail!("cannot create the Kafka topic {topic}: {code}")
                }
            }
        }
        Ok(())
    }

    /// After a failed delivery: look for the topics again (one may have been deleted), and
    /// replace the producer if librdkafka declared it unusable.
    fn after_failure(&self, producer: &Arc<FutureProducer<Log>>) {
        self.topics.lock().expect("topic set poisoned").clear();
        let Some((code, reason)) = producer.client().fatal_error() else {
            return;
        };
        tracing::warn!(%code, reason, "the Kafka producer failed for good; starting a new one");
        match self::producer(&self.settings) {
            Ok(fresh) => {
                let _ = self.producer.compare_and_swap(producer, Arc::new(fresh));
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "no new Kafka producer"),
        }
    }
}

fn client_config(settings: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("client.id", "sigil");
    config
}

fn producer(settings: &KafkaConfig) -> anyhow::Result<FutureProducer<Log>> {
    client_config(settings)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set(
            "message.timeout.ms",
            DELIVERY_TIMEOUT.as_millis().to_string(),
        )
        .create_with_context(Log)
        .context("--kafka-brokers: cannot create a Kafka producer")
}
