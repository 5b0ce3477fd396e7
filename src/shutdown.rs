//! Stopping well: the stop signals (SIGINT, SIGTERM) and the phases every server of the
//! process follows after one. **Draining**: readiness turns false at once (`/readyz` 503,
//! gRPC health `NOT_SERVING`) while new connections are still taken for `delay`, the time a
//! load balancer needs to stop sending any. **Stopping**: no new connections; requests in
//! flight finish, and the outbox relay publishes what they wrote, until the deadline `grace`
//! later. Then the process exits 0.
//!
//! Imports nothing from the crate.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// How a stop unfolds (`--shutdown-delay`, `--shutdown-grace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownSettings {
    /// How long new connections are still taken after readiness turned false. Default 0 s.
    pub delay: Duration,
    /// How long requests in flight (and the relay's last batch) have to finish once new
    /// connections are refused. Default 20 s.
    pub grace: Duration,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self {
            delay: Duration::ZERO,
            grace: Duration::from_secs(20),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Serving,
    Draining,
    Stopping { deadline: Instant },
}

/// Where the process is in its stop; cheap to clone, one per server.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<Phase>);

/// Moves every `Shutdown` through the phases.
#[derive(Debug)]
pub struct ShutdownControl(watch::Sender<Phase>);

impl Shutdown {
    /// A process that serves until its control says otherwise.
    pub fn new() -> (ShutdownControl, Self) {
        let (control, phase) = watch::channel(Phase::Serving);
        (ShutdownControl(control), Self(phase))
    }

    /// Whether readiness is gone (draining or stopping).
    pub fn is_draining(&self) -> bool {
        *self.0.borrow() != Phase::Serving
    }

    /// Resolves once readiness is gone.
    pub async fn draining(&self) {
        let mut phase = self.0.clone();
        let _ = phase.wait_for(|phase| *phase != Phase::Serving).await;
    }

    /// Resolves once new connections are to be refused, with the deadline for what is in
    /// flight. A dropped control counts as a stop with no time left.
    pub async fn stopping(&self) -> Instant {
        let mut phase = self.0.clone();
        match phase
            .wait_for(|phase| matches!(phase, Phase::Stopping { .. }))
            .await
        {
            Ok(phase) => match *phase {
                Phase::Stopping { deadline } => deadline,
                _ => Instant::now(),
            },
            Err(_) => Instant::now(),
        }
    }
}

impl ShutdownControl {
    /// Runs the stop once `signal` resolves: draining at once, stopping `settings.delay`
    /// later with the deadline `settings.grace` after that.
    pub async fn follow(self, signal: impl Future<Output = ()>, settings: ShutdownSettings) {
        signal.await;
        self.0.send_replace(Phase::Draining);
        tracing::info!(
            delay = ?settings.delay,
            grace = ?settings.grace,
            "stopping: readiness is off"
        );
        tokio::time::sleep(settings.delay).await;
        let deadline = Instant::now() + settings.grace;
        self.0.send_replace(Phase::Stopping { deadline });
        tracing::info!("stopping: new connections are refused, requests in flight finish");
    }
}

/// Resolves on SIGINT or SIGTERM, saying that the server now drains.
pub(crate) async fn shutdown_signal() {
    stop_requested().await;
    tracing::info!("shutdown signal received, draining requests");
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn stop_requested() {
    let interrupt = async {
        // OK because failing to install a signal handler at start is unrecoverable.
        tokio::signal::ctrl_c()
            .await
            .expect("install SIGINT handler");
    };
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        // OK because failing to install a signal handler at start is unrecoverable.
        signal(SignalKind::terminate())
            .expect("install SIGTERM handler")
            .recv()
            .await;
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_stop_drains_at_once_then_stops_after_the_delay_with_the_grace_as_deadline() {
        let (control, shutdown) = Shutdown::new();
        let (signal, signalled) = tokio::sync::oneshot::channel::<()>();
        let settings = ShutdownSettings {
            delay: Duration::from_secs(5),
            grace: Duration::from_secs(20),
        };
        tokio::spawn(control.follow(async { drop(signalled.await) }, settings));
        tokio::task::yield_now().await;
        assert!(!shutdown.is_draining());

        let start = Instant::now();
        signal.send(()).unwrap();
        shutdown.draining().await;
        let draining_after = start.elapsed();
        let deadline = shutdown.stopping().await;

        assert_eq!(draining_after, Duration::ZERO);
        assert!(shutdown.is_draining());
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        assert_eq!(deadline - start, Duration::from_secs(25));
    }
}
