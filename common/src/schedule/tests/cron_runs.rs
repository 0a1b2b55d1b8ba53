//! Cron run times in UTC: plain patterns, `@` macros and `day_or`.

use super::*;

#[test]
fn cron_in_utc() {
    let schedule = cron("0 9 * * 1-5", None);
    // 2026-01-02 is a Friday.
    assert_eq!(
        runs(&schedule, "2026-01-02T09:00:00Z", 2),
        ["2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"]
    );
}

#[test]
fn cron_macros() {
    assert_eq!(
        runs(&cron("@daily", None), "2026-01-01T00:00:00Z", 2),
        ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]
    );
    assert_eq!(
        runs(&cron("@hourly", None), "2026-01-01T00:10:00Z", 2),
        ["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]
    );
    assert_eq!(
        runs(&cron("@weekly", None), "2026-01-01T00:00:00Z", 1),
        ["2026-01-04T00:00:00Z"]
    );
    assert_eq!(
        runs(&cron("@monthly", Some(NEW_YORK)), "2026-01-01T12:00:00Z", 1),
        ["2026-02-01T05:00:00Z"]
    );
    assert_eq!(
        runs(&cron("@yearly", None), "2026-01-01T00:00:00Z", 1),
        ["2027-01-01T00:00:00Z"]
    );
}

#[test]
fn cron_day_or_chooses_either_or_both_days() {
    let either = cron("0 0 13 * 5", None);
    assert_eq!(
        runs(&either, "2026-01-01T00:00:00Z", 4),
        [
            "2026-01-02T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-13T00:00:00Z",
            "2026-01-16T00:00:00Z"
        ]
    );
    let both = Schedule::Cron(CronSchedule {
        cron: "0 0 13 * 5".into(),
        timezone: None,
        day_or: false,
    });
    assert_eq!(
        runs(&both, "2026-01-01T00:00:00Z", 3),
        [
            "2026-02-13T00:00:00Z",
            "2026-03-13T00:00:00Z",
            "2026-11-13T00:00:00Z"
        ]
    );
}
