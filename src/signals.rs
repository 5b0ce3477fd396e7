//! The stop signals: SIGINT and SIGTERM end `serve` (after draining) and `keys export --watch`.

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
