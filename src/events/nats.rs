//! The NATS JetStream sink: publishes with `Nats-Msg-Id` = event id, pipelined (every message
//! is sent before the first acknowledgement is awaited), and creates the stream when missing.
//! The client reconnects by itself; a broker that is down fails the pass, not sigil.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, message::PublishMessage, stream};

use super::Message;

/// The stream that holds sigil's events.
pub(super) const STREAM: &str = "SIGIL_EVENTS";

/// How long one acknowledgement may take before the pass fails and is retried.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// A JetStream publisher for `<prefix>.>`.
pub struct NatsSink {
    jetstream: jetstream::Context,
    subjects: String,
    /// Whether the stream is known to exist (checked again after a failure).
    stream_ready: AtomicBool,
}

impl NatsSink {
    /// Connects to `url` (comma-separated servers) with the credentials file `creds`, for
    /// subjects under `subject_prefix`. Returns at once when the broker is down: the client
    /// keeps trying in the background and publishing fails until it is back.
    pub async fn connect(
        url: &str,
        creds: Option<&std::path::Path>,
        subject_prefix: &str,
    ) -> anyhow::Result<Self> {
        let mut options = async_nats::ConnectOptions::new()
            .name("sigil")
            .retry_on_initial_connect()
            .connection_timeout(ACK_TIMEOUT);
        if let Some(path) = creds {
            options = options
                .credentials_file(path)
                .await
                .with_context(|| format!("--nats-creds {}: cannot read", path.display()))?;
        }
        let client = options
            .connect(url)
            .await
            .context("--nats-url: not a usable NATS URL")?;
        let mut jetstream = jetstream::new(client);
        jetstream.set_timeout(ACK_TIMEOUT);
        Ok(Self {
            jetstream,
            subjects: format!("{subject_prefix}.>"),
            stream_ready: AtomicBool::new(false),
        })
    }

    async fn ensure_stream(&self) -> anyhow::Result<()> {
        if self.stream_ready.load(Ordering::Relaxed) {
            return Ok(());
        }
        self.jetstream
            .get_or_create_stream(stream::Config {
                name: STREAM.to_owned(),
                subjects: vec![self.subjects.clone()],
                ..Default::default()
            })
            .await
            .context("cannot find or create the JetStream stream")?;
        self.stream_ready.store(true, Ordering::Relaxed);
        Ok(())
    }

    pub(super) async fn publish(&self, messages: &[Message]) -> (usize, Option<anyhow::Error>) {
        if let Err(error) = self.ensure_stream().await {
            return (0, Some(error));
        }
        let mut acks = Vec::with_capacity(messages.len());
        let mut failed = None;
        for message in messages {
            let publish = PublishMessage::build()
                .payload(message.structured())
                .message_id(&message.id);
            match self
                .jetstream
                .send_publish(message.nats_subject.clone(), publish)
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(error) => {
                    failed = Some(anyhow::Error::from(error).context("publish failed"));
                    break;
                }
            }
        }
        let mut acked = 0;
        for ack in acks {
            if let Err(error) = ack.await {
                // The stream may have been deleted: look for it again next time.
                self.stream_ready.store(false, Ordering::Relaxed);
                return (
                    acked,
                    Some(anyhow::Error::from(error).context("no acknowledgement")),
                );
            }
            acked += 1;
        }
        (acked, failed)
    }
}
