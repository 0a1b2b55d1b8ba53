//! Which run times a deployment still needs: pure functions over a schedule, the current time and
//! what is already materialised (no database, no I/O), shared by the scheduler loop, the requests
//! that change a schedule and the writes that store its runs.

use chrono::{DateTime, TimeDelta, Utc};
use rigel_common::schedule::Schedule;
use rigel_common::validation::FieldError;

use std::time::Duration;

/// How the scheduler keeps runs materialised. A deployment with an active schedule has at least
/// `min_runs` future runs **and** runs up to `min_horizon` ahead, but never more than `max_runs`
/// future runs nor runs further than `max_horizon` ahead.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// Time between two passes.
    pub interval: Duration,
    pub min_runs: usize,
    pub max_runs: usize,
    pub min_horizon: Duration,
    pub max_horizon: Duration,
    /// Deployments read per query.
    pub page_size: usize,
    /// Runs written per transaction, at most (plus one deployment's runs), so requests waiting
    /// for the writer are not held up for long.
    pub runs_per_transaction: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            min_runs: 3,
            max_runs: 100,
            min_horizon: Duration::from_secs(60 * 60),
            max_horizon: Duration::from_secs(100 * 24 * 60 * 60),
            page_size: 500,
            runs_per_transaction: 5000,
        }
    }
}

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
        self.plan_with(from, future, cap, |after, until, limit| {
            schedule.next_runs(after, until, limit)
        })
    }

    /// The runs a deployment without any future run gets from now: what a reschedule creates
    /// at most. Computed before a write, so the write only has to [pick](Horizon::pick).
    pub fn ahead(&self, schedule: &Schedule) -> Result<Vec<DateTime<Utc>>, FieldError> {
        self.plan(schedule, None, 0, usize::MAX)
    }

    /// What `plan(schedule, None, future, usize::MAX)` gives, taken from `ahead` (what
    /// [`Horizon::ahead`] gave for that schedule) without computing anything: with `future`
    /// runs already there, the plan is a prefix of the plan for none.
    pub fn pick(&self, ahead: &[DateTime<Utc>], future: usize) -> Vec<DateTime<Utc>> {
        let listed = self.plan_with(None, future, usize::MAX, |after, until, limit| {
            Ok(ahead
                .iter()
                .filter(|at| after < **at && **at <= until)
                .take(limit)
                .copied()
                .collect())
        });
        // the source above never fails
        listed.unwrap_or_default()
    }

    /// [`Horizon::plan`] over any source of the schedule's times (`next_runs(after, until,
    /// limit)`).
    fn plan_with(
        &self,
        from: Option<DateTime<Utc>>,
        future: usize,
        cap: usize,
        mut next_runs: impl FnMut(
            DateTime<Utc>,
            DateTime<Utc>,
            usize,
        ) -> Result<Vec<DateTime<Utc>>, FieldError>,
    ) -> Result<Vec<DateTime<Utc>>, FieldError> {
        let room = self.max_runs.saturating_sub(future).min(cap);
        if room == 0 {
            return Ok(Vec::new());
        }
        let after = from.map_or(self.now, |f| f.max(self.now));
        let min_end = self.min_end.min(self.max_end);
        let mut runs = next_runs(after, min_end, room)?;
        let reaches_horizon = runs.last().is_some_and(|l| *l >= min_end);
        let more = self
            .min_runs
            .saturating_sub(future + runs.len())
            .max(usize::from(!reaches_horizon))
            .min(room - runs.len());
        if more > 0 {
            let from = runs.last().copied().unwrap_or(after);
            runs.extend(next_runs(from, self.max_end, more)?);
        }
        Ok(runs)
    }
}

/// A schedule's runs ahead of now ([`Horizon::ahead`]), computed for the write that stores or
/// resumes that schedule; the write [picks](Horizon::pick) from them.
#[derive(Debug, Clone)]
pub struct RunsAhead {
    /// The schedule they were computed from, as stored (JSON).
    schedule: String,
    pub times: Vec<DateTime<Utc>>,
}

impl RunsAhead {
    pub fn new(schedule: &Schedule, times: Vec<DateTime<Utc>>) -> Self {
        Self {
            schedule: stored(schedule),
            times,
        }
    }

    /// Whether these are the runs of `schedule` (a write compares with what it is storing: a
    /// concurrent change may have replaced the schedule these were computed for).
    pub fn belong_to(&self, schedule: &Schedule) -> bool {
        self.schedule == stored(schedule)
    }
}

/// A schedule as the database stores it (its JSON).
fn stored(schedule: &Schedule) -> String {
    serde_json::to_string(schedule).unwrap_or_else(|_| "null".to_string())
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
    fn picking_from_the_runs_ahead_is_planning() {
        let schedules = [
            r#"{"interval": 60}"#,
            r#"{"interval": 1}"#,
            r#"{"cron": "0 9 * * *"}"#,
            r#"{"cron": "0 0 1 1 *"}"#,
            r#"{"rrule": "DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY;COUNT=30"}"#,
            r#"{"rrule": "RRULE:FREQ=MINUTELY;INTERVAL=20"}"#,
        ];
        let h = horizon("2026-01-01T00:00:30Z");
        for json in schedules {
            let s = schedule(json);
            let ahead = h.ahead(&s).unwrap();
            for future in [0, 1, 2, 3, 5, 50, 98, 99, 100, 150] {
                assert_eq!(
                    h.pick(&ahead, future),
                    h.plan(&s, None, future, usize::MAX).unwrap(),
                    "{json} with {future} ahead"
                );
            }
        }
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
