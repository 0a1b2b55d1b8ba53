use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;
use serde_json::json;

use super::*;

const NEW_YORK: &str = "America/New_York";
const LONDON: &str = "Europe/London";

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().to_utc()
}

fn interval(seconds: f64, anchor: Option<&str>, timezone: Option<&str>) -> Schedule {
    Schedule::Interval(IntervalSchedule {
        interval: seconds,
        anchor_date: anchor.map(|a| DateTime::parse_from_rfc3339(a).unwrap()),
        timezone: timezone.map(Into::into),
    })
}

fn cron(expression: &str, timezone: Option<&str>) -> Schedule {
    Schedule::Cron(CronSchedule {
        cron: expression.into(),
        timezone: timezone.map(Into::into),
        day_or: true,
    })
}

fn rrule(text: &str, timezone: Option<&str>) -> Schedule {
    Schedule::RRule(RRuleSchedule {
        rrule: text.into(),
        timezone: timezone.map(Into::into),
    })
}

/// Runs after `after` (within a year), as UTC RFC 3339 strings.
fn runs(schedule: &Schedule, after: &str, limit: usize) -> Vec<String> {
    let after = at(after);
    schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap()
        .iter()
        .map(|run| run.to_rfc3339_opts(SecondsFormat::Secs, true))
        .collect()
}

/// The same runs as local wall times with their zone abbreviation.
fn local_runs(schedule: &Schedule, after: &str, limit: usize, zone: &str) -> Vec<String> {
    let zone: Tz = zone.parse().unwrap();
    let after = at(after);
    schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap()
        .iter()
        .map(|run| {
            run.with_timezone(&zone)
                .format("%m-%d %H:%M %Z")
                .to_string()
        })
        .collect()
}

fn gaps_in_seconds(schedule: &Schedule, after: &str, limit: usize) -> Vec<i64> {
    let after = at(after);
    let runs = schedule
        .next_runs(after, after + TimeDelta::days(400), limit)
        .unwrap();
    runs.windows(2)
        .map(|pair| (pair[1] - pair[0]).num_seconds())
        .collect()
}

fn field_of(schedule: &Schedule) -> String {
    schedule.validate().unwrap_err().field
}

fn parse(value: serde_json::Value) -> Result<Schedule, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

// ---- serde ----

#[test]
fn interval_round_trips_with_all_keys() {
    let schedule =
        parse(json!({"interval": 86400, "anchor_date": "2020-01-01T00:00:00+00:00"})).unwrap();
    assert_eq!(
        schedule,
        interval(86400.0, Some("2020-01-01T00:00:00+00:00"), None)
    );
    let value = serde_json::to_value(&schedule).unwrap();
    assert_eq!(
        value,
        json!({"interval": 86400.0, "anchor_date": "2020-01-01T00:00:00+00:00", "timezone": null})
    );
    assert_eq!(parse(value).unwrap(), schedule);
}

#[test]
fn interval_accepts_integer_and_float_seconds() {
    let whole = parse(json!({"interval": 60})).unwrap();
    let float = parse(json!({"interval": 90.5, "timezone": "UTC"})).unwrap();
    assert_eq!(whole, interval(60.0, None, None));
    assert_eq!(float, interval(90.5, None, Some("UTC")));
}

#[test]
fn cron_round_trips_and_day_or_defaults_to_true() {
    let schedule = parse(json!({"cron": "0 9 * * *", "timezone": LONDON})).unwrap();
    assert_eq!(schedule, cron("0 9 * * *", Some(LONDON)));
    let value = serde_json::to_value(&schedule).unwrap();
    assert_eq!(
        value,
        json!({"cron": "0 9 * * *", "timezone": LONDON, "day_or": true})
    );
    assert_eq!(parse(value).unwrap(), schedule);
    let and = parse(json!({"cron": "0 0 13 * 5", "day_or": false})).unwrap();
    assert!(matches!(
        and,
        Schedule::Cron(CronSchedule { day_or: false, .. })
    ));
}

#[test]
fn rrule_round_trips() {
    let text = "DTSTART:20260101T090000\nRRULE:FREQ=WEEKLY;BYDAY=MO";
    let schedule = parse(json!({"rrule": text, "timezone": NEW_YORK})).unwrap();
    assert_eq!(schedule, rrule(text, Some(NEW_YORK)));
    let value = serde_json::to_value(&schedule).unwrap();
    assert_eq!(value, json!({"rrule": text, "timezone": NEW_YORK}));
    assert_eq!(parse(value).unwrap(), schedule);
}

#[test]
fn unknown_key_is_rejected_by_name() {
    let err = parse(json!({"cron": "0 9 * * *", "tz": "UTC"})).unwrap_err();
    assert!(err.contains("unknown field `tz`"), "{err}");
    let err = parse(json!({"interval": 60, "anchor": "2020-01-01T00:00:00Z"})).unwrap_err();
    assert!(err.contains("unknown field `anchor`"), "{err}");
    let err = parse(json!({"rrule": "FREQ=DAILY", "day_or": true})).unwrap_err();
    assert!(err.contains("unknown field `day_or`"), "{err}");
}

#[test]
fn missing_kind_key_is_explained() {
    let err = parse(json!({"timezone": "UTC"})).unwrap_err();
    assert!(
        err.contains("schedule must have one of `interval`, `cron` or `rrule`"),
        "{err}"
    );
    let err = parse(json!("0 9 * * *")).unwrap_err();
    assert!(err.contains("must be an object"), "{err}");
}

#[test]
fn several_kind_keys_are_named() {
    let err = parse(json!({"interval": 60, "cron": "0 9 * * *"})).unwrap_err();
    assert!(err.contains("`interval` and `cron`"), "{err}");
    let err =
        parse(json!({"interval": 60, "cron": "* * * * *", "rrule": "FREQ=DAILY"})).unwrap_err();
    assert!(err.contains("`interval` and `cron` and `rrule`"), "{err}");
}

#[test]
fn wrong_value_types_are_reported() {
    let err = parse(json!({"interval": "60"})).unwrap_err();
    assert!(err.contains("interval schedule: invalid type"), "{err}");
    let err = parse(json!({"cron": "0 9 * * *", "day_or": "yes"})).unwrap_err();
    assert!(err.contains("invalid type"), "{err}");
}

// ---- validate ----

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

// ---- next_runs: interval ----

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

// ---- next_runs: cron ----

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

// ---- next_runs: rrule ----

#[test]
fn rrule_in_utc() {
    let schedule = rrule(
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;INTERVAL=2",
        None,
    );
    assert_eq!(
        runs(&schedule, "2026-01-04T00:00:00Z", 2),
        ["2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z"]
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

#[test]
fn rrule_with_exhausted_count_returns_fewer() {
    let schedule = rrule("DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;COUNT=3", None);
    assert_eq!(
        runs(&schedule, "2026-01-01T12:00:00Z", 10),
        ["2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"]
    );
    assert!(runs(&schedule, "2026-01-05T00:00:00Z", 10).is_empty());
}

#[test]
fn rrule_until_is_inclusive_and_may_be_floating() {
    let schedule = rrule(
        "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;UNTIL=20260103",
        Some(NEW_YORK),
    );
    assert_eq!(
        local_runs(&schedule, "2025-12-01T00:00:00Z", 10, NEW_YORK),
        ["01-01 09:00 EST", "01-02 09:00 EST", "01-03 09:00 EST"]
    );
    let utc_until = rrule(
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;UNTIL=20260102T090000Z",
        None,
    );
    assert_eq!(
        runs(&utc_until, "2026-01-01T10:00:00Z", 10),
        ["2026-01-02T09:00:00Z"]
    );
}

#[test]
fn rrule_without_dtstart_starts_at_2020_local_midnight() {
    let ny = rrule("RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0", Some(NEW_YORK));
    assert_eq!(
        local_runs(&ny, "2026-03-07T15:00:00Z", 2, NEW_YORK),
        ["03-08 09:00 EDT", "03-09 09:00 EDT"]
    );
    // The weekday and time of day come from 2020-01-01T00:00, a Wednesday.
    let weekly = rrule("FREQ=WEEKLY", None);
    assert_eq!(
        runs(&weekly, "2026-06-15T12:00:00Z", 2),
        ["2026-06-17T00:00:00Z", "2026-06-24T00:00:00Z"]
    );
    // The interval keeps its phase from 2020: 7-minute steps from midnight 2020-01-01 UTC.
    let sevens = rrule("RRULE:FREQ=MINUTELY;INTERVAL=7", None);
    let start = at("2020-01-01T00:00:00Z").timestamp();
    let after = at("2026-06-15T12:00:00Z").timestamp();
    let first = start + ((after - start) / 420 + 1) * 420;
    assert_eq!(
        sevens
            .next_runs(at("2026-06-15T12:00:00Z"), at("2026-06-16T00:00:00Z"), 2)
            .unwrap(),
        [
            DateTime::from_timestamp(first, 0).unwrap(),
            DateTime::from_timestamp(first + 420, 0).unwrap()
        ]
    );
}

#[test]
fn restarted_rules_match_iterating_from_the_start() {
    let rules = [
        "FREQ=YEARLY;INTERVAL=3;BYMONTH=2;BYDAY=-1MO",
        "FREQ=YEARLY;BYWEEKNO=10;BYDAY=TU",
        "FREQ=MONTHLY;INTERVAL=5;BYDAY=2TU;BYHOUR=7,19",
        "FREQ=MONTHLY;INTERVAL=2;BYMONTHDAY=-1",
        "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
        "FREQ=MONTHLY;INTERVAL=4",
        "FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,TU",
        "FREQ=WEEKLY;INTERVAL=2",
        "FREQ=DAILY;INTERVAL=10",
        "FREQ=DAILY;BYHOUR=1,2,3;BYMINUTE=30",
        "FREQ=HOURLY;INTERVAL=5",
        "FREQ=HOURLY;INTERVAL=7;BYHOUR=1,8,15,22",
        "FREQ=MINUTELY;INTERVAL=17",
        "FREQ=SECONDLY;INTERVAL=7777",
    ];
    let starts = ["", "DTSTART:20200115T103015\n"];
    let after = at("2026-03-08T06:00:00Z");
    let until = after + TimeDelta::days(12_000);
    for rule in rules {
        for start in starts {
            let text = format!("{start}RRULE:{rule}");
            let got = rrule(&text, Some(NEW_YORK))
                .next_runs(after, until, 5)
                .unwrap();
            let full_start = if start.is_empty() {
                "DTSTART;TZID=America/New_York:20200101T000000\n".to_string()
            } else {
                start.replace("DTSTART:", "DTSTART;TZID=America/New_York:")
            };
            let set: ::rrule::RRuleSet = format!("{full_start}RRULE:{rule}").parse().unwrap();
            let tz = ::rrule::Tz::Tz(chrono_tz::America::New_York);
            let mut expected: Vec<DateTime<Utc>> = set
                .after(after.with_timezone(&tz))
                .before(until.with_timezone(&tz))
                .all(12)
                .dates
                .iter()
                .map(|d| d.to_utc())
                .filter(|d| *d > after)
                .collect();
            // The crate repeats a wall time moved out of the DST gap onto an existing one.
            expected.sort();
            expected.dedup();
            expected.truncate(5);
            assert_eq!(got, expected, "{text}");
            assert_eq!(got.len(), 5, "{text}");
        }
    }
}

#[test]
fn rrule_rdate_and_exdate() {
    let schedule = rrule(
        "DTSTART:20260101T090000\nRRULE:FREQ=DAILY;COUNT=5\nEXDATE:20260103T090000\n\
         RDATE:20260110T120000,20260111T120000Z",
        Some(NEW_YORK),
    );
    assert_eq!(
        runs(&schedule, "2026-01-01T15:00:00Z", 10),
        [
            "2026-01-02T14:00:00Z",
            "2026-01-04T14:00:00Z",
            "2026-01-05T14:00:00Z",
            "2026-01-10T17:00:00Z",
            "2026-01-11T12:00:00Z"
        ]
    );
}

#[test]
fn rrule_dtstart_zone_rules() {
    // A TZID sets the zone when the schedule has none.
    let tzid = rrule(
        "DTSTART;TZID=America/New_York:20260302T090000\nRRULE:FREQ=WEEKLY",
        None,
    );
    assert_eq!(
        runs(&tzid, "2026-03-03T00:00:00Z", 1),
        ["2026-03-09T13:00:00Z"]
    );
    // A UTC start is an instant; the rule then repeats in the schedule's zone.
    let zulu = rrule(
        "DTSTART:20260302T140000Z\nRRULE:FREQ=WEEKLY",
        Some(NEW_YORK),
    );
    assert_eq!(
        runs(&zulu, "2026-03-03T00:00:00Z", 1),
        ["2026-03-09T13:00:00Z"]
    );
    // Multiple rules merge in order without duplicates.
    let merged = rrule(
        "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY;INTERVAL=2\nRRULE:FREQ=DAILY;INTERVAL=3",
        None,
    );
    assert_eq!(
        runs(&merged, "2026-01-01T09:00:00Z", 4),
        [
            "2026-01-03T09:00:00Z",
            "2026-01-04T09:00:00Z",
            "2026-01-05T09:00:00Z",
            "2026-01-07T09:00:00Z"
        ]
    );
}

// ---- describe, timezone, normalized ----

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
