//! `Schedule::validate`: accepted schedules, bad intervals, zones, crons and rrules, and odd input.

use super::*;

fn field_of(schedule: &Schedule) -> String {
    schedule.validate().unwrap_err().field
}

#[test]
fn valid_schedules_pass() {
    for schedule in [
        interval(1.0, None, None),
        interval(86400.0, Some("2026-01-01T09:00:00-05:00"), Some(NEW_YORK)),
        cron("0 9 * * 1-5", Some(LONDON)),
        cron("15,45 */2 1-7 JAN-MAR MON", None),
        cron("@daily", None),
        cron("@Midnight", Some(NEW_YORK)),
        cron("@annually", None),
        cron("0 0 29 2 *", None),
        rrule("RRULE:FREQ=WEEKLY;BYDAY=MO", None),
        rrule("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", Some(NEW_YORK)),
        rrule(
            "DTSTART;TZID=America/New_York:20260101T090000\nRRULE:FREQ=MONTHLY;BYDAY=-1FR",
            Some(NEW_YORK),
        ),
        rrule(
            "DTSTART:20260101T090000Z\r\nRRULE:FREQ=DAILY;UNTIL=20260201T000000Z",
            None,
        ),
    ] {
        assert_eq!(schedule.validate(), Ok(()), "{schedule:?}");
    }
}

#[test]
fn bad_intervals_name_the_interval() {
    for seconds in [
        0.0,
        -5.0,
        0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        1e12,
    ] {
        let err = interval(seconds, None, None).validate().unwrap_err();
        assert_eq!(err.field, "interval", "{seconds}");
    }
    let err = interval(0.0, None, None).validate().unwrap_err();
    assert_eq!(err.message, "interval must be at least 1 second");
}

#[test]
fn unknown_time_zones_name_the_timezone() {
    for schedule in [
        interval(60.0, None, Some("Mars/Base")),
        cron("0 9 * * *", Some("Mars/Base")),
        rrule("FREQ=DAILY", Some("Mars/Base")),
    ] {
        let err = schedule.validate().unwrap_err();
        assert_eq!(err.field, "timezone");
        assert_eq!(err.message, "unknown time zone 'Mars/Base'");
    }
}

#[test]
fn bad_cron_expressions_name_the_cron() {
    let err = cron("61 * * * *", None).validate().unwrap_err();
    assert_eq!(err.field, "cron");
    assert!(
        err.message
            .starts_with("invalid cron expression '61 * * * *': "),
        "{}",
        err.message
    );
    for bad in [
        "",
        "   ",
        "* * * *",
        "0 9 * * MON extra words",
        "@reboot",
        "@every 5m",
    ] {
        assert_eq!(field_of(&cron(bad, None)), "cron", "{bad:?}");
    }
    let err = cron("0 30 2 1 * *", None).validate().unwrap_err();
    assert_eq!(err.field, "cron");
    assert!(
        err.message.contains("must have 5 fields"),
        "{}",
        err.message
    );
    assert!(err.message.contains("seconds"), "{}", err.message);
    let err = cron("0 0 30 2 *", None).validate().unwrap_err();
    assert_eq!(err.field, "cron");
    assert!(err.message.contains("never matches"), "{}", err.message);
}

#[test]
fn bad_rrules_name_the_rrule() {
    let err = rrule("RRULE:FREQ=SOMETIMES", None).validate().unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("SOMETIMES"), "{}", err.message);
    let err = rrule("RRULE:BYDAY=MO", None).validate().unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("FREQ"), "{}", err.message);
    let err = rrule(
        "DTSTART;TZID=Mars/Base:20260101T090000\nRRULE:FREQ=DAILY",
        None,
    )
    .validate()
    .unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("Mars/Base"), "{}", err.message);
    for bad in [
        "",
        "DTSTART:20260101T090000",
        "DTSTART:2026-01-01\nRRULE:FREQ=DAILY",
        "DTSTART:20260101T090000\nDTSTART:20260102T090000\nRRULE:FREQ=DAILY",
        "RRULE:FREQ=DAILY;INTERVAL=0",
        "RRULE:FREQ=DAILY;BYHOUR=25",
        "RRULE:FREQ=WEEKLY;BYMONTHDAY=3",
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;COUNT=1\nEXDATE:20260101T090000Z",
        "EXRULE:FREQ=DAILY",
        "SUMMARY:hello",
        "DTSTART;TZID=Europe/London:20260101T090000\nRRULE:FREQ=DAILY",
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20250101T000000Z",
    ] {
        let schedule = rrule(bad, Some(NEW_YORK));
        assert_eq!(field_of(&schedule), "rrule", "{bad:?}");
    }
}

#[test]
fn invalid_schedules_fail_next_runs_too() {
    let after = at("2026-01-01T00:00:00Z");
    let until = after + TimeDelta::days(1);
    for schedule in [
        interval(0.0, None, None),
        cron("0 9 * *", None),
        rrule("RRULE:BYDAY=MO", None),
    ] {
        assert!(schedule.next_runs(after, until, 5).is_err(), "{schedule:?}");
    }
}

#[test]
fn weird_input_never_panics() {
    let crons = [
        "*/0 * * * *",
        "0-0/0 * * * *",
        "5-1 * * * *",
        "* * 0 * *",
        "* * * 13 *",
        "* * * * 8",
        "L * * * *",
        "# # # # #",
        "1-2-3 * * * *",
        ",,, * * * *",
        "- * * * *",
        "/ * * * *",
        "*/99999999999 * * * *",
        "99999999999 * * * *",
        "0 0 L * *",
        "0 0 LW * *",
        "0 0 * * 5L",
        "0 0 * * 5#3",
        "0 0 * * 5#9",
        "0 0 ? * ?",
        "@",
        "@@daily",
        "ÄÖ * * * *",
        "0 0 31 4 *",
        "0 0 15W * *",
        "\u{0}",
        "* * * * +5",
    ];
    let rrules = [
        "RRULE:",
        ":",
        ";;;",
        "RRULE:FREQ=DAILY;COUNT=-1",
        "RRULE:FREQ=DAILY;INTERVAL=99999999",
        "RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "RRULE:FREQ=SECONDLY;BYSETPOS=1",
        "DTSTART:99991231T235959\nRRULE:FREQ=SECONDLY",
        "DTSTART:00000101\nRRULE:FREQ=DAILY",
        "DTSTART:20261301T000000\nRRULE:FREQ=DAILY",
        "DTSTART;TZID=:20260101\nRRULE:FREQ=DAILY",
        "RDATE:20260101T000000,garbage",
        "RDATE;VALUE=PERIOD:20260101T000000/PT1H",
        "RRULE:FREQ=MONTHLY;BYDAY=5FR",
        "RRULE:FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO",
        "RRULE:FREQ=DAILY;UNTIL=garbage",
        "RRULE:FREQ=DAILY;UNTIL=20260101",
        "\u{0}",
        "RRULE:FREQ=HOURLY;BYHOUR=3;INTERVAL=24",
        "ÄÖ:ÜÉ",
    ];
    let extremes = [
        (
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MIN_UTC + TimeDelta::days(30),
        ),
        (
            DateTime::<Utc>::MAX_UTC - TimeDelta::days(30),
            DateTime::<Utc>::MAX_UTC,
        ),
        (at("2026-01-01T00:00:00Z"), at("2026-01-03T00:00:00Z")),
        (
            at("9999-12-30T00:00:00Z"),
            at("9999-12-30T00:00:00Z") + TimeDelta::days(5),
        ),
    ];
    let mut schedules: Vec<Schedule> = Vec::new();
    schedules.extend(crons.iter().map(|c| cron(c, Some(NEW_YORK))));
    schedules.extend(crons.iter().map(|c| cron(c, None)));
    schedules.extend(rrules.iter().map(|r| rrule(r, Some(LONDON))));
    schedules.extend([
        interval(1.0, None, None),
        interval(86400.0, None, Some("Pacific/Apia")),
        interval(interval::MAX_INTERVAL_SECONDS, None, None),
        interval(
            86400.0 * 36500.0,
            Some("2020-01-01T00:00:00+14:00"),
            Some("Pacific/Kiritimati"),
        ),
        cron("* * * * *", Some(LONDON)),
        cron("0 0 29 2 1", None),
        rrule("RRULE:FREQ=MINUTELY", Some(NEW_YORK)),
        rrule("RRULE:FREQ=YEARLY", None),
    ]);
    let mut extreme_anchors = [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC]
        .map(|anchor| {
            Schedule::Interval(IntervalSchedule {
                interval: 86400.0,
                anchor_date: Some(anchor.fixed_offset()),
                timezone: Some(NEW_YORK.into()),
            })
        })
        .to_vec();
    extreme_anchors.push(Schedule::Interval(IntervalSchedule {
        interval: 7.5,
        anchor_date: Some(DateTime::<Utc>::MAX_UTC.fixed_offset()),
        timezone: None,
    }));
    schedules.extend(extreme_anchors);
    for schedule in &schedules {
        let _ = schedule.validate();
        let _ = schedule.describe();
        for (after, until) in extremes {
            if let Ok(runs) = schedule.next_runs(after, until, 3) {
                assert!(runs.len() <= 3);
                assert!(
                    runs.windows(2).all(|pair| pair[0] < pair[1]),
                    "{schedule:?}"
                );
                assert!(
                    runs.iter().all(|run| after < *run && *run <= until),
                    "{schedule:?}"
                );
            }
        }
    }
}
