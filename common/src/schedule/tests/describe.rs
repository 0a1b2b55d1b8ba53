//! `describe`, `timezone` and `normalized`.

use super::*;

#[test]
fn describe_reads_like_a_table_cell() {
    assert_eq!(interval(86400.0, None, None).describe(), "every 1 day");
    assert_eq!(interval(172800.0, None, None).describe(), "every 2 days");
    assert_eq!(interval(900.0, None, None).describe(), "every 15 minutes");
    assert_eq!(
        interval(3600.0, None, Some("UTC")).describe(),
        "every 1 hour (UTC)"
    );
    assert_eq!(interval(90.0, None, None).describe(), "every 90 seconds");
    assert_eq!(interval(1.5, None, None).describe(), "every 1.5 seconds");
    assert_eq!(
        cron("0 9 * * 1-5", Some(LONDON)).describe(),
        "cron '0 9 * * 1-5' (Europe/London)"
    );
    assert_eq!(
        rrule("DTSTART:20260101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO", None).describe(),
        "rrule FREQ=WEEKLY;BYDAY=MO"
    );
    assert_eq!(
        rrule("FREQ=DAILY", Some(NEW_YORK)).describe(),
        "rrule FREQ=DAILY (America/New_York)"
    );
}

#[test]
fn timezone_is_reported_for_every_kind() {
    assert_eq!(interval(60.0, None, Some(LONDON)).timezone(), Some(LONDON));
    assert_eq!(cron("@daily", Some(NEW_YORK)).timezone(), Some(NEW_YORK));
    assert_eq!(rrule("FREQ=DAILY", None).timezone(), None);
}

#[test]
fn normalized_fills_in_the_interval_anchor() {
    let Schedule::Interval(ny) = interval(60.0, None, Some(NEW_YORK)).normalized() else {
        panic!("kind changed");
    };
    assert_eq!(
        ny.anchor_date,
        Some(DateTime::parse_from_rfc3339("2020-01-01T00:00:00-05:00").unwrap())
    );
    assert_eq!(
        ny.anchor_date.unwrap().offset().local_minus_utc(),
        -5 * 3600
    );
    let Schedule::Interval(utc) = interval(60.0, None, None).normalized() else {
        panic!("kind changed");
    };
    assert_eq!(
        utc.anchor_date.unwrap().to_rfc3339(),
        "2020-01-01T00:00:00+00:00"
    );
    let anchored = interval(60.0, Some("2026-01-01T09:00:00+01:00"), Some(NEW_YORK));
    assert_eq!(anchored.clone().normalized(), anchored);
    let other = cron("0 9 * * *", None);
    assert_eq!(other.clone().normalized(), other);
    // The normalized schedule runs at the same times.
    let plain = interval(7200.0, None, Some(NEW_YORK));
    assert_eq!(
        runs(&plain, "2026-05-05T05:05:00Z", 3),
        runs(&plain.clone().normalized(), "2026-05-05T05:05:00Z", 3)
    );
}
