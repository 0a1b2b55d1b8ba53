//! A Prometheus histogram on atomics: observing a value is a few relaxed additions, with no lock,
//! so it can sit on every request and every write batch.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds for latencies, in seconds: 0.5 ms to 30 s.
pub const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds for counts of things (jobs in a batch).
pub const COUNTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// Observations counted into fixed buckets, plus their count and sum.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Observations at or below each bound (not cumulative: summed when rendered).
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    /// The sum in millionths, so it can be added atomically.
    sum_micro: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micro: AtomicU64::new(0),
        }
    }

    pub fn seconds() -> Self {
        Self::new(SECONDS)
    }

    pub fn observe(&self, value: f64) {
        // values past the last bound count only in +Inf (`count`)
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        // a negative or NaN value adds nothing to the sum (`as` saturates)
        self.sum_micro
            .fetch_add((value * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// `(upper bound, cumulative count)` per bucket, then the count and the sum.
    pub fn snapshot(&self) -> Snapshot {
        let mut running = 0;
        let buckets = self
            .bounds
            .iter()
            .zip(self.buckets.iter())
            .map(|(bound, n)| {
                running += n.load(Ordering::Relaxed);
                (*bound, running)
            })
            .collect();
        Snapshot {
            buckets,
            // read after the buckets, so `+Inf` is never below the last bucket
            count: self.count.load(Ordering::Relaxed).max(running),
            sum: self.sum_micro.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub buckets: Vec<(f64, u64)>,
    pub count: u64,
    pub sum: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_overflow_counts_only_in_the_total() {
        let h = Histogram::new(&[1.0, 2.0]);
        for v in [0.5, 1.0, 1.5, 3.0, f64::NAN] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(1.0, 2), (2.0, 3)]);
        assert_eq!(s.count, 5);
        assert!((s.sum - 6.0).abs() < 1e-9, "{}", s.sum);
    }
}
