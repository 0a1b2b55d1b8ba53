//! How long to wait before trying again: the one retry pacing of the agent, its engines, the
//! event-stream client and the terminal UI.
//!
//! A small type rather than a retry crate: the loops that use it wait on other things as well
//! (a shutdown, a "refresh now" key, a healthy stream resetting it) and say in their messages
//! how long they will wait, so what they need is the next delay, not a retry combinator.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

/// Capped exponential backoff with jitter: about `first`, doubling up to `max`. Each delay is
/// spread over ±20% so that many clients retrying after the same outage (agents after a server
/// restart) don't come back in step.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self {
            first,
            max,
            next: first,
        }
    }

    /// The delay to wait now; the one after it doubles, up to the maximum.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        jitter(delay)
    }

    /// The delay the next [`Backoff::next_delay`] is about (before jitter).
    pub fn peek(&self) -> Duration {
        self.next
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

/// The next delay, as "0.5s", for messages.
impl std::fmt::Display for Backoff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.1}s", self.next.as_secs_f64())
    }
}

/// `d` times a factor in [0.8, 1.2). The randomness is the standard library's per-process hash
/// keys, which is plenty to spread retries and needs no dependency.
fn jitter(d: Duration) -> Duration {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(d.as_nanos() as u64);
    let unit = (h.finish() >> 11) as f64 / (1u64 << 53) as f64;
    d.mul_f64(0.8 + 0.4 * unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_and_reset() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(350));
        for about in [100, 200, 350, 350] {
            assert_eq!(b.peek(), ms(about));
            let d = b.next_delay();
            assert!(
                d >= ms(about * 8 / 10) && d < ms(about * 12 / 10),
                "{d:?} for {about}"
            );
        }
        assert_eq!(b.to_string(), "0.3s");
        b.reset();
        assert_eq!(b.peek(), ms(100));
    }

    #[test]
    fn jitter_spreads_delays() {
        let delays: std::collections::HashSet<Duration> =
            (0..20).map(|_| jitter(Duration::from_secs(1))).collect();
        assert!(delays.len() > 10, "{delays:?}");
    }
}
