//! Time zones and DST: every kind across spring-forward gaps and fall-back overlaps.

use super::*;

fn gaps_in_seconds(schedule: &Schedule, after: &str, limit: usize) -> Vec<i64> {
    let after = at(after);
    let runs = schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap();
    runs.windows(2)
        .map(|pair| (pair[1] - pair[0]).num_seconds())
        .collect()
}

#[test]
fn hourly_interval_steps_in_absolute_time_across_dst() {
    let ny = interval(3600.0, None, Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-03-08T05:30:00Z", 3, NEW_YORK),
        ["03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"]
    );
    assert_eq!(
        gaps_in_seconds(&ny, "2026-03-08T05:30:00Z", 4),
        [3600, 3600, 3600]
    );
    assert_eq!(
        local_runs(&ny, "2026-11-01T04:30:00Z", 3, NEW_YORK),
        ["11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"]
    );
    assert_eq!(
        gaps_in_seconds(&ny, "2026-11-01T04:30:00Z", 4),
        [3600, 3600, 3600]
    );
    let london = interval(3600.0, None, Some(LONDON));
    assert_eq!(
        gaps_in_seconds(&london, "2026-03-29T00:30:00Z", 4),
        [3600, 3600, 3600]
    );
    assert_eq!(
        local_runs(&london, "2026-10-24T23:30:00Z", 3, LONDON),
        ["10-25 01:00 BST", "10-25 01:00 GMT", "10-25 02:00 GMT"]
    );
}

#[test]
fn daily_interval_keeps_local_wall_time_across_dst() {
    let ny = interval(86400.0, Some("2026-03-01T09:00:00-05:00"), Some(NEW_YORK));
    assert_eq!(
        runs(&ny, "2026-03-06T15:00:00Z", 3),
        [
            "2026-03-07T14:00:00Z",
            "2026-03-08T13:00:00Z",
            "2026-03-09T13:00:00Z"
        ]
    );
    assert_eq!(
        local_runs(&ny, "2026-10-30T15:00:00Z", 3, NEW_YORK),
        ["10-31 09:00 EDT", "11-01 09:00 EST", "11-02 09:00 EST"]
    );
    let london = interval(86400.0, Some("2026-01-01T09:00:00Z"), Some(LONDON));
    assert_eq!(
        runs(&london, "2026-03-27T12:00:00Z", 3),
        [
            "2026-03-28T09:00:00Z",
            "2026-03-29T08:00:00Z",
            "2026-03-30T08:00:00Z"
        ]
    );
    assert_eq!(
        local_runs(&london, "2026-10-23T12:00:00Z", 3, LONDON),
        ["10-24 09:00 BST", "10-25 09:00 GMT", "10-26 09:00 GMT"]
    );
    // Two-day steps keep their phase from the anchor.
    let every_other = interval(172800.0, Some("2026-03-01T09:00:00-05:00"), Some(NEW_YORK));
    assert_eq!(
        local_runs(&every_other, "2026-03-06T15:00:00Z", 2, NEW_YORK),
        ["03-07 09:00 EST", "03-09 09:00 EDT"]
    );
}

#[test]
fn daily_interval_in_the_gap_or_overlap_runs_once() {
    let gap = interval(86400.0, Some("2026-03-01T02:30:00-05:00"), Some(NEW_YORK));
    assert_eq!(
        local_runs(&gap, "2026-03-06T12:00:00Z", 3, NEW_YORK),
        ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]
    );
    let overlap = interval(86400.0, Some("2026-10-01T01:30:00-04:00"), Some(NEW_YORK));
    assert_eq!(
        local_runs(&overlap, "2026-10-31T12:00:00Z", 2, NEW_YORK),
        ["11-01 01:30 EDT", "11-02 01:30 EST"]
    );
}

#[test]
fn daily_interval_without_timezone_is_absolute() {
    let schedule = interval(86400.0, Some("2026-03-01T09:00:00-05:00"), None);
    assert_eq!(
        runs(&schedule, "2026-03-07T15:00:00Z", 2),
        ["2026-03-08T14:00:00Z", "2026-03-09T14:00:00Z"]
    );
}

#[test]
fn hourly_cron_runs_every_real_hour_across_dst() {
    let ny = cron("0 * * * *", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-03-08T05:30:00Z", 3, NEW_YORK),
        ["03-08 01:00 EST", "03-08 03:00 EDT", "03-08 04:00 EDT"]
    );
    assert_eq!(
        gaps_in_seconds(&ny, "2026-03-08T05:30:00Z", 4),
        [3600, 3600, 3600]
    );
    assert_eq!(
        local_runs(&ny, "2026-11-01T04:30:00Z", 3, NEW_YORK),
        ["11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"]
    );
    assert_eq!(
        gaps_in_seconds(&ny, "2026-11-01T04:30:00Z", 4),
        [3600, 3600, 3600]
    );
    let london = cron("0 * * * *", Some(LONDON));
    assert_eq!(
        local_runs(&london, "2026-03-29T00:30:00Z", 2, LONDON),
        ["03-29 02:00 BST", "03-29 03:00 BST"]
    );
    assert_eq!(
        local_runs(&london, "2026-10-24T23:30:00Z", 3, LONDON),
        ["10-25 01:00 BST", "10-25 01:00 GMT", "10-25 02:00 GMT"]
    );
}

#[test]
fn daily_cron_in_the_spring_gap_runs_once_after_it() {
    let ny = cron("30 2 * * *", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-03-06T12:00:00Z", 3, NEW_YORK),
        ["03-07 02:30 EST", "03-08 03:00 EDT", "03-09 02:30 EDT"]
    );
    let london = cron("30 1 * * *", Some(LONDON));
    assert_eq!(
        local_runs(&london, "2026-03-27T12:00:00Z", 3, LONDON),
        ["03-28 01:30 GMT", "03-29 02:00 BST", "03-30 01:30 BST"]
    );
}

#[test]
fn daily_cron_in_the_fall_overlap_runs_once() {
    let ny = cron("30 1 * * *", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-10-31T12:00:00Z", 2, NEW_YORK),
        ["11-01 01:30 EDT", "11-02 01:30 EST"]
    );
    // Starting between the two 01:30s does not bring back the second one.
    assert_eq!(
        local_runs(&ny, "2026-11-01T05:45:00Z", 1, NEW_YORK),
        ["11-02 01:30 EST"]
    );
    let london = cron("30 1 * * *", Some(LONDON));
    assert_eq!(
        local_runs(&london, "2026-10-24T12:00:00Z", 2, LONDON),
        ["10-25 01:30 BST", "10-26 01:30 GMT"]
    );
}

#[test]
fn weekly_rrule_keeps_local_time_across_dst() {
    let ny = rrule(
        "DTSTART:20260302T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO",
        Some(NEW_YORK),
    );
    assert_eq!(
        runs(&ny, "2026-03-01T00:00:00Z", 3),
        [
            "2026-03-02T14:00:00Z",
            "2026-03-09T13:00:00Z",
            "2026-03-16T13:00:00Z"
        ]
    );
    assert_eq!(
        local_runs(&ny, "2026-10-20T00:00:00Z", 2, NEW_YORK),
        ["10-26 09:00 EDT", "11-02 09:00 EST"]
    );
    let london = rrule(
        "DTSTART:20260105T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO",
        Some(LONDON),
    );
    assert_eq!(
        local_runs(&london, "2026-03-24T00:00:00Z", 1, LONDON),
        ["03-30 09:00 BST"]
    );
    assert_eq!(
        runs(&london, "2026-03-20T00:00:00Z", 2),
        ["2026-03-23T09:00:00Z", "2026-03-30T08:00:00Z"]
    );
    assert_eq!(
        runs(&london, "2026-10-20T00:00:00Z", 1),
        ["2026-10-26T09:00:00Z"]
    );
}

#[test]
fn rrule_wall_time_in_the_gap_moves_by_the_gap() {
    let ny = rrule("DTSTART:20260307T023000\nRRULE:FREQ=DAILY", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-03-07T00:00:00Z", 3, NEW_YORK),
        ["03-07 02:30 EST", "03-08 03:30 EDT", "03-09 02:30 EDT"]
    );
}

#[test]
fn rrule_repeated_wall_time_runs_once() {
    let ny = rrule("DTSTART:20261031T013000\nRRULE:FREQ=DAILY", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-10-31T12:00:00Z", 2, NEW_YORK),
        ["11-01 01:30 EDT", "11-02 01:30 EST"]
    );
    // Hourly rules count wall-clock hours: the repeated 01:00 hour runs once.
    let hourly = rrule("DTSTART:20261101T000000\nRRULE:FREQ=HOURLY", Some(NEW_YORK));
    assert_eq!(
        local_runs(&hourly, "2026-11-01T03:30:00Z", 3, NEW_YORK),
        ["11-01 00:00 EDT", "11-01 01:00 EDT", "11-01 02:00 EST"]
    );
}
