//! The agent's retry pacing: [`rigel_common::backoff::Backoff`] from 0.5 s up to 30 s, each
//! wait cut short by a shutdown.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub(crate) struct Backoff(rigel_common::backoff::Backoff);

impl Backoff {
    pub(crate) fn new() -> Self {
        Self(rigel_common::backoff::Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
        ))
    }

    pub(crate) fn reset(&mut self) {
        self.0.reset();
    }

    /// Sleeps the current delay and doubles it; false when `shutdown` came first.
    pub(crate) async fn wait(&mut self, shutdown: &CancellationToken) -> bool {
        tokio::select! {
            () = tokio::time::sleep(self.0.next_delay()) => true,
            () = shutdown.cancelled() => false,
        }
    }
}

/// The delay the next `wait` sleeps, as "0.5s".
impl std::fmt::Display for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}
