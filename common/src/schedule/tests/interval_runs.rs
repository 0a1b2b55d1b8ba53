//! Interval run times in UTC, and the window rules (`after`, `limit`, `until`) of every kind.

use super::*;

#[test]
fn interval_in_utc_counts_from_the_anchor() {
    let hourly = interval(3600.0, Some("2026-01-01T00:00:00Z"), None);
    assert_eq!(
        runs(&hourly, "2026-01-01T00:30:00Z", 3),
        [
            "2026-01-01T01:00:00Z",
            "2026-01-01T02:00:00Z",
            "2026-01-01T03:00:00Z"
        ]
    );
    // An anchor after the window still fixes the phase.
    let later_anchor = interval(3600.0, Some("2030-06-01T00:15:00Z"), None);
    assert_eq!(
        runs(&later_anchor, "2026-01-01T00:30:00Z", 2),
        ["2026-01-01T01:15:00Z", "2026-01-01T02:15:00Z"]
    );
}

#[test]
fn after_on_an_occurrence_excludes_it() {
    let hourly = interval(3600.0, Some("2026-01-01T00:00:00Z"), None);
    assert_eq!(
        runs(&hourly, "2026-01-01T01:00:00Z", 1),
        ["2026-01-01T02:00:00Z"]
    );
    let daily = cron("0 9 * * *", None);
    assert_eq!(
        runs(&daily, "2026-01-01T09:00:00Z", 1),
        ["2026-01-02T09:00:00Z"]
    );
    let weekly = rrule("DTSTART:20260105T090000Z\nRRULE:FREQ=WEEKLY", None);
    assert_eq!(
        runs(&weekly, "2026-01-05T09:00:00Z", 1),
        ["2026-01-12T09:00:00Z"]
    );
}

#[test]
fn limit_and_until_are_honoured() {
    let after = at("2026-01-01T00:00:00Z");
    let until = at("2026-01-01T03:00:00Z");
    for schedule in [
        interval(3600.0, Some("2026-01-01T00:00:00Z"), None),
        cron("0 * * * *", None),
        rrule("DTSTART:20260101T000000Z\nRRULE:FREQ=HOURLY", None),
    ] {
        let limited = schedule
            .next_runs(after, after + TimeDelta::days(1), 2)
            .unwrap();
        assert_eq!(
            limited,
            [at("2026-01-01T01:00:00Z"), at("2026-01-01T02:00:00Z")]
        );
        // `until` itself is included.
        let bounded = schedule.next_runs(after, until, 100).unwrap();
        assert_eq!(bounded.len(), 3, "{schedule:?}");
        assert_eq!(bounded.last(), Some(&until));
        assert!(schedule.next_runs(after, until, 0).unwrap().is_empty());
        assert!(schedule.next_runs(until, after, 5).unwrap().is_empty());
    }
}

#[test]
fn interval_jumps_straight_to_the_window() {
    let every_minute = interval(60.0, Some("2020-01-01T00:00:30Z"), None);
    assert_eq!(
        runs(&every_minute, "2026-06-15T12:34:56.500Z", 3),
        [
            "2026-06-15T12:35:30Z",
            "2026-06-15T12:36:30Z",
            "2026-06-15T12:37:30Z"
        ]
    );
    // Default anchor: 2020-01-01T00:00 UTC. 1000003 seconds is not a divisor of anything neat,
    // so the phase only comes out right from the exact arithmetic.
    let odd = interval(1_000_003.0, None, None);
    let anchor = at("2020-01-01T00:00:00Z").timestamp();
    let after = at("2026-06-15T12:00:00Z").timestamp();
    let first = anchor + ((after - anchor) / 1_000_003 + 1) * 1_000_003;
    let expected = DateTime::from_timestamp(first, 0).unwrap();
    assert_eq!(
        runs(&odd, "2026-06-15T12:00:00Z", 1),
        [expected.to_rfc3339_opts(SecondsFormat::Secs, true)]
    );
}

#[test]
fn fractional_intervals_step_exactly() {
    let schedule = interval(1.5, Some("2026-01-01T00:00:00Z"), None);
    let after = at("2026-01-01T00:00:01Z");
    let got = schedule
        .next_runs(after, after + TimeDelta::days(1), 3)
        .unwrap();
    let expected: Vec<DateTime<Utc>> = [1500, 3000, 4500]
        .iter()
        .map(|ms| at("2026-01-01T00:00:00Z") + TimeDelta::milliseconds(*ms))
        .collect();
    assert_eq!(got, expected);
}
