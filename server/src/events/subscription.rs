//! One subscriber's side of the bus: replayed events, then the live and per-run log channels
//! merged in id order, and dropping a subscriber that falls behind.

use super::*;

/// One subscriber's view of the bus: replayed events first, then live ones in id order.
#[derive(Debug)]
pub struct Subscription {
    pub(super) bus: Arc<EventBus>,
    pub(super) filter: EventFilter,
    pub(super) queue: VecDeque<Shared>,
    pub(super) live: broadcast::Receiver<Shared>,
    pub(super) logs: Option<(Uuid, broadcast::Receiver<Shared>)>,
    /// Received but not yet delivered, while the other channel may hold a smaller id.
    pub(super) next_live: Option<Shared>,
    pub(super) next_log: Option<Shared>,
    pub(super) ended: bool,
}

enum Polled {
    Got(Shared),
    Empty,
    Lagged,
    Closed,
}

fn poll_now(rx: &mut broadcast::Receiver<Shared>) -> Polled {
    match rx.try_recv() {
        Ok(e) => Polled::Got(e),
        Err(TryRecvError::Empty) => Polled::Empty,
        Err(TryRecvError::Lagged(_)) => Polled::Lagged,
        Err(TryRecvError::Closed) => Polled::Closed,
    }
}

impl Subscription {
    /// The next event for this subscriber; `None` once it was dropped for lagging. Cancel-safe.
    pub async fn next(&mut self) -> Option<Shared> {
        loop {
            if let Some(e) = self.queue.pop_front() {
                return Some(e);
            }
            if self.ended {
                return None;
            }
            // Take what is already there from both channels. Sends happen in id order under
            // the bus lock, so once an event is visible every smaller id is visible too.
            if self.next_live.is_none() {
                match poll_now(&mut self.live) {
                    Polled::Got(e) => self.next_live = Some(e),
                    Polled::Empty => {}
                    Polled::Lagged => return Some(self.lagged()),
                    Polled::Closed => self.ended = true,
                }
            }
            if self.next_log.is_none() {
                if let Some((_, rx)) = &mut self.logs {
                    match poll_now(rx) {
                        Polled::Got(e) => self.next_log = Some(e),
                        Polled::Empty => {}
                        Polled::Lagged => return Some(self.lagged()),
                        Polled::Closed => self.logs = None,
                    }
                }
            }
            let take_log = match (&self.next_live, &self.next_log) {
                (Some(a), Some(b)) => b.id < a.id,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => {
                    if self.ended {
                        return None;
                    }
                    self.wait().await;
                    continue;
                }
            };
            let event = if take_log {
                self.next_log.take()
            } else {
                self.next_live.take()
            };
            if let Some(e) = event.filter(|e| e.matches(&self.filter)) {
                return Some(e);
            }
        }
    }

    /// Waits until either channel has something (it is then picked up by `try_recv`).
    async fn wait(&mut self) {
        let got = match &mut self.logs {
            Some((_, logs)) => tokio::select! {
                r = self.live.recv() => (r, true),
                r = logs.recv() => (r, false),
            },
            None => (self.live.recv().await, true),
        };
        match got {
            (Ok(e), true) => self.next_live = Some(e),
            (Ok(e), false) => self.next_log = Some(e),
            (Err(broadcast::error::RecvError::Lagged(_)), _) => {
                let reset = self.lagged();
                self.queue.push_back(reset);
            }
            (Err(broadcast::error::RecvError::Closed), true) => self.ended = true,
            (Err(broadcast::error::RecvError::Closed), false) => self.logs = None,
        }
    }

    /// Ends the subscription with a `reset` whose id is the newest event: a client that
    /// refetches and reconnects from there misses nothing.
    fn lagged(&mut self) -> Shared {
        self.ended = true;
        self.next_live = None;
        self.next_log = None;
        tracing::info!("an event subscriber fell behind and was dropped");
        control_reset(
            self.bus.last_id(),
            ResetReason::Lagged,
            "this subscriber fell too far behind and was dropped; refetch and reconnect"
                .to_string(),
        )
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some((run, rx)) = self.logs.take() {
            drop(rx);
            let mut inner = self.bus.lock();
            if inner
                .followers
                .get(&run)
                .is_some_and(|tx| tx.receiver_count() == 0)
            {
                inner.followers.remove(&run);
            }
        }
    }
}
