//! Consumers of a user directory's events (`--inbound-users`): a durable JetStream consumer
//! (`nats.rs`) or a Kafka consumer group (`kafka.rs`) hands each message to the
//! application's `Directory` and acknowledges it once that returned: after the commit, so a
//! crash in between redelivers a message whose inbox row makes it a no-op. While the database
//! is unavailable the same message is tried again (capped backoff); a malformed one is an
//! outcome like any other and never stops the consumer.

mod kafka;
mod nats;

use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::{EventConfig, InboundUsers};
use crate::oauth::{Directory, InboundMessage};

/// Backoff while the database is unavailable: doubling from the first to the last.
const RETRY: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(10));

/// A running consumer; `stop` ends it (a message not yet acknowledged is redelivered
/// later, to this instance or another).
pub struct Inbound {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Inbound {
    /// Stops and waits for the consumer to end.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the consumer `events.inbound_users` names, if any. Fails when its broker's client
/// cannot be made; a broker that is down only delays the messages.
pub async fn spawn_inbound(
    events: &EventConfig,
    directory: Directory,
    clock: Clock,
) -> anyhow::Result<Option<Inbound>> {
    let Some(source) = &events.inbound_users else {
        return Ok(None);
    };
    let (stop, stopped) = watch::channel(false);
    let handler = Handler {
        directory,
        clock,
        stopped,
    };
    let task = match source {
        InboundUsers::Nats(subject) => {
            let nats = events.nats.as_ref().expect("checked with the flags");
            let consumer = nats::Consumer::connect(nats, subject).await?;
            tokio::spawn(consumer.run(handler))
        }
        InboundUsers::Kafka(topic) => {
            let kafka = events.kafka.as_ref().expect("checked with the flags");
            let consumer = kafka::Consumer::new(kafka, topic)?;
            tokio::spawn(consumer.run(handler))
        }
    };
    Ok(Some(Inbound { stop, task }))
}

/// What every consumer does with a message.
struct Handler {
    directory: Directory,
    clock: Clock,
    stopped: watch::Receiver<bool>,
}

impl Handler {
    /// Hands `message` to the directory until it is handled (`true`: acknowledge it) or the
    /// consumer is stopped (`false`: leave it for redelivery).
    async fn handle(&mut self, message: &InboundMessage) -> bool {
        let mut wait = RETRY.0;
        loop {
            match self.directory.receive(message, self.clock.now()).await {
                Ok(_) => return true,
                Err(error) => {
                    let position = &message.position;
                    tracing::warn!(%error, position, "directory event not handled; will retry");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = self.stopped.wait_for(|stopped| *stopped) => return false,
            }
            wait = (wait * 2).min(RETRY.1);
        }
    }

    /// Resolves when the consumer is stopped.
    async fn stopping(&mut self) {
        let _ = self.stopped.wait_for(|stopped| *stopped).await;
    }

    /// A receiver of the stop, for a select that also borrows the handler.
    fn stop_signal(&self) -> watch::Receiver<bool> {
        self.stopped.clone()
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}
