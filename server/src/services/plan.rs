//! Which run times a deployment still needs: pure functions over a schedule, the current time and
//! what is already materialised (no database), shared by the scheduler loop and by the requests
//! that change a schedule.

use chrono::{DateTime, TimeDelta, Utc};
use rigel_common::schedule::Schedule;
use rigel_common::validation::FieldError;

use super::SchedulerConfig;

/// The bounds of the materialised window at `now`.
#[derive(Debug, Clone, Copy)]
pub struct Horizon {
    pub now: DateTime<Utc>,
    /// Runs must reach at least this far ahead…
    pub min_end: DateTime<Utc>,
    /// …and never further than this.
    pub max_end: DateTime<Utc>,
    pub min_runs: usize,
    pub max_runs: usize,
}

fn add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    TimeDelta::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

impl Horizon {
    pub fn new(now: DateTime<Utc>, cfg: &SchedulerConfig) -> Self {
        Self {
            now,
            min_end: add(now, cfg.min_horizon),
            max_end: add(now, cfg.max_horizon),
            min_runs: cfg.min_runs,
            max_runs: cfg.max_runs,
        }
    }

    /// Whether a deployment whose latest run is at `last`, with `future` runs after now, has all
    /// the runs it needs: `min_runs` ahead and one at or beyond the minimum horizon (or as many
    /// as `max_runs` allows).
    pub fn is_covered(&self, last: Option<DateTime<Utc>>, future: usize) -> bool {
        future >= self.max_runs
            || (future >= self.min_runs && last.is_some_and(|l| l >= self.min_end))
    }

    /// The run times to add to a deployment that has `future` runs after now, continuing strictly
    /// after `from` (its latest materialised time; times before now are never planned), at most
    /// `cap` of them: every time up to the minimum horizon and the first one beyond it (so the
    /// runs reach the horizon and [`Horizon::is_covered`] holds until time moves on), then more
    /// until there are `min_runs` — within `max_runs` and the maximum horizon. The times are
    /// those the schedule has after `from`, so planning again, or from an earlier `from`, only
    /// repeats times, which inserts ignore.
    pub fn plan(
        &self,
        schedule: &Schedule,
        from: Option<DateTime<Utc>>,
        future: usize,
        cap: usize,
    ) -> Result<Vec<DateTime<Utc>>, FieldError> {
        let room = self.max_runs.saturating_sub(future).min(cap);
        if room == 0 {
            return Ok(Vec::new());
        }
        let after = from.map_or(self.now, |f| f.max(self.now));
        let min_end = self.min_end.min(self.max_end);
        let mut runs = schedule.next_runs(after, min_end, room)?;
        let reaches_horizon = runs.last().is_some_and(|l| *l >= min_end);
        let more = self
            .min_runs
            .saturating_sub(future + runs.len())
            .max(usize::from(!reaches_horizon))
            .min(room - runs.len());
        if more > 0 {
            let from = runs.last().copied().unwrap_or(after);
            runs.extend(schedule.next_runs(from, self.max_end, more)?);
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn schedule(json: &str) -> Schedule {
        serde_json::from_str::<Schedule>(json).unwrap().normalized()
    }

    fn horizon(now: &str) -> Horizon {
        Horizon::new(at(now), &SchedulerConfig::default())
    }

    #[test]
    fn fills_an_hour_of_a_frequent_schedule() {
        let h = horizon("2026-01-01T00:00:30Z");
        let runs = h
            .plan(&schedule(r#"{"interval": 60}"#), None, 0, usize::MAX)
            .unwrap();
        // through the hour and the first run beyond it
        assert_eq!(runs.len(), 61);
        assert_eq!(runs[0], at("2026-01-01T00:01:00Z"));
        assert_eq!(runs[60], at("2026-01-01T01:01:00Z"));
        assert!(h.is_covered(runs.last().copied(), runs.len()));
        // half a minute later: still covered; a minute later: one more run
        let later = horizon("2026-01-01T00:01:00Z");
        assert!(later.is_covered(runs.last().copied(), 60));
        let later = horizon("2026-01-01T00:01:30Z");
        assert!(!later.is_covered(runs.last().copied(), 59));
        assert_eq!(
            later
                .plan(
                    &schedule(r#"{"interval": 60}"#),
                    runs.last().copied(),
                    59,
                    usize::MAX
                )
                .unwrap(),
            [at("2026-01-01T01:02:00Z")]
        );
    }

    #[test]
    fn at_least_min_runs_of_a_rare_schedule() {
        let h = horizon("2026-01-01T12:00:00Z");
        let s = schedule(r#"{"cron": "0 9 * * *"}"#);
        let runs = h.plan(&s, None, 0, usize::MAX).unwrap();
        assert_eq!(
            runs,
            [
                at("2026-01-02T09:00:00Z"),
                at("2026-01-03T09:00:00Z"),
                at("2026-01-04T09:00:00Z")
            ]
        );
        // continuing from the last one with three ahead: nothing
        assert!(h.is_covered(Some(runs[2]), 3));
        // one consumed: one more, after the latest
        let h = horizon("2026-01-02T10:00:00Z");
        assert!(!h.is_covered(Some(runs[2]), 2));
        assert_eq!(
            h.plan(&s, Some(runs[2]), 2, usize::MAX).unwrap(),
            [at("2026-01-05T09:00:00Z")]
        );
    }

    #[test]
    fn capped_by_max_runs_and_max_horizon() {
        let h = horizon("2026-01-01T00:00:00Z");
        let every_second = schedule(r#"{"interval": 1}"#);
        assert_eq!(
            h.plan(&every_second, None, 0, usize::MAX).unwrap().len(),
            100
        );
        assert_eq!(
            h.plan(&every_second, None, 98, usize::MAX).unwrap().len(),
            2
        );
        assert!(h.is_covered(None, 100));
        assert_eq!(h.plan(&every_second, None, 0, 1).unwrap().len(), 1);
        let yearly = schedule(r#"{"cron": "0 0 1 1 *"}"#);
        assert!(h.plan(&yearly, None, 0, usize::MAX).unwrap().is_empty());
        let cfg = SchedulerConfig {
            max_horizon: Duration::from_secs(400 * 24 * 3600),
            ..Default::default()
        };
        let h = Horizon::new(at("2026-01-01T00:00:00Z"), &cfg);
        assert_eq!(
            h.plan(&yearly, None, 0, usize::MAX).unwrap(),
            [at("2027-01-01T00:00:00Z")]
        );
    }
}
