//! In-process wake-ups: claimers long-polling a queue wait here and are woken when runs are
//! created or change state, so a new run is claimed in milliseconds rather than a poll interval.

use tokio::sync::watch;

#[derive(Debug)]
pub struct Notifier {
    runs: watch::Sender<u64>,
}

impl Default for Notifier {
    fn default() -> Self {
        Self {
            runs: watch::channel(0).0,
        }
    }
}

impl Notifier {
    /// Something about runs or queues changed that could make a run claimable.
    pub fn runs_changed(&self) {
        self.runs.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that sees every change made after this call.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        let mut rx = self.runs.subscribe();
        rx.borrow_and_update();
        rx
    }
}
