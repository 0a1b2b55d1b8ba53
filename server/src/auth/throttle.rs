//! Slows down key guessing: an address that presented [`MAX_FAILURES`] unknown keys within a
//! minute is answered 429 (without a key check) until its minute is over.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Unknown keys one address may present per window.
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past that, windows that ended are forgotten first, then all.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Default)]
pub struct Throttle {
    windows: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Throttle {
    /// How long `addr` must wait before its keys are checked again; `None` when it may go on.
    pub fn wait(&self, addr: IpAddr, now: Instant) -> Option<Duration> {
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let (start, failures) = *windows.get(&addr)?;
        let ends = start + WINDOW;
        (failures >= MAX_FAILURES && now < ends).then(|| ends - now)
    }

    /// Counts an unknown key presented by `addr`.
    pub fn failed(&self, addr: IpAddr, now: Instant) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&addr) {
            windows.retain(|_, (start, _)| now < *start + WINDOW);
            if windows.len() >= MAX_TRACKED {
                windows.clear();
            }
        }
        let window = windows.entry(addr).or_insert((now, 0));
        if now >= window.0 + WINDOW {
            *window = (now, 0);
        }
        window.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_held_back_after_its_failures_for_the_rest_of_its_window() {
        let t = Throttle::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            t.failed(a, t0);
        }
        assert_eq!(t.wait(a, t0), None);
        t.failed(a, t0);
        let wait = t.wait(a, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(wait, Duration::from_secs(50));
        assert_eq!(t.wait(b, t0), None, "other addresses are not held back");
        assert_eq!(t.wait(a, t0 + WINDOW), None, "the window ends");
        t.failed(a, t0 + WINDOW);
        assert_eq!(
            t.wait(a, t0 + WINDOW),
            None,
            "a new window starts from zero"
        );
    }
}
