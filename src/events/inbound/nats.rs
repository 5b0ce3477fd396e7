//! The directory's events from NATS JetStream: a durable pull consumer `sigil-users` on the
//! stream that holds the subject (one named `SIGIL_INBOUND_USERS` is created when none does),
//! explicit acknowledgements. Several instances share the consumer: each message goes to one.

use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt as _;

use super::Handler;
use crate::config::NatsConfig;
use crate::oauth::InboundMessage;

/// The durable consumer's name.
const DURABLE: &str = "sigil-users";
/// The stream sigil creates when no stream holds the subject.
const STREAM: &str = "SIGIL_INBOUND_USERS";
/// How long a message may stay unacknowledged before JetStream redelivers it.
const ACK_WAIT: Duration = Duration::from_secs(60);
/// The wait before looking for the stream again when the broker is away.
const RECONNECT: Duration = Duration::from_secs(2);

/// A JetStream consumer of `subject`.
pub(super) struct Consumer {
    jetstream: jetstream::Context,
    subject: String,
}

impl Consumer {
    /// Connects to the NATS of `settings` (in the background when it is down).
    pub(super) async fn connect(settings: &NatsConfig, subject: &str) -> anyhow::Result<Self> {
        let mut options = async_nats::ConnectOptions::new()
            .name("sigil-inbound-users")
            .retry_on_initial_connect();
        if let Some(path) = &settings.creds {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("--nats-creds {}: cannot read", path.display()))?;
        }
        let client = options
            .connect(&settings.url)
            .await
            .context("--nats-url: not a usable NATS URL")?;
        Ok(Self {
            jetstream: jetstream::new(client),
            subject: subject.to_owned(),
        })
    }

    /// Consumes until stopped; the broker going away only pauses it.
    pub(super) async fn run(self, mut handler: Handler) {
        let mut stop = handler.stop_signal();
        while !handler.is_stopped() {
            let outcome = tokio::select! {
                outcome = self.consume(&mut handler) => outcome,
                _ = stop.wait_for(|stopped| *stopped) => return,
            };
            if let Err(error) = outcome {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "inbound users: NATS consumer interrupted"
                );
            }
            tokio::select! {
                () = tokio::time::sleep(RECONNECT) => {}
                () = handler.stopping() => return,
            }
        }
    }

    async fn consume(&self, handler: &mut Handler) -> anyhow::Result<()> {
        let stream = self.stream().await?;
        let stream_name = stream.cached_info().config.name.clone();
        let consumer: jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                DURABLE,
                pull::Config {
                    durable_name: Some(DURABLE.to_owned()),
                    filter_subject: self.subject.clone(),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    ..Default::default()
                },
            )
            .await
            .context("cannot find or create the durable consumer")?;
        let mut messages = consumer.messages().await.context("cannot pull")?;
        while let Some(message) = messages.next().await {
            let message = message.context("pull failed")?;
            let sequence = message.info().map_or(0, |info| info.stream_sequence);
            let inbound = InboundMessage {
                position: format!("nats:{stream_name}:{sequence}"),
                headers: Vec::new(),
                body: message.payload.to_vec(),
            };
            if !handler.handle(&inbound).await {
                return Ok(());
            }
            if let Err(error) = message.ack().await {
                // Redelivered later; its inbox row makes that a no-op.
                tracing::warn!(%error, "inbound users: acknowledgement lost");
            }
        }
        Ok(())
    }

    /// The stream that holds the subject, created when there is none.
    async fn stream(&self) -> anyhow::Result<stream::Stream> {
        if let Ok(name) = self.jetstream.stream_by_subject(self.subject.clone()).await {
            return Ok(self.jetstream.get_stream(name).await?);
        }
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: STREAM.to_owned(),
                subjects: vec![self.subject.clone()],
                ..Default::default()
            })
            .await
            .context("cannot find or create a stream for the inbound subject")
    }
}
