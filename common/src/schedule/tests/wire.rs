//! Schedules on the wire: JSON round trips and deserialization errors.

use serde_json::json;

use super::*;

fn parse(value: serde_json::Value) -> Result<Schedule, String> {
    serde_json::from_value(value).map_err(|e| e.to_string())
}

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
    // a string is a duration (`"60"`, `"1h"`, `"PT1H"`); other types are refused
    assert!(parse(json!({"interval": "60"})).is_ok());
    let err = parse(json!({"interval": true})).unwrap_err();
    assert!(err.contains("interval schedule: invalid type"), "{err}");
    assert!(err.contains("a duration"), "{err}");
    let err = parse(json!({"cron": "0 9 * * *", "day_or": "yes"})).unwrap_err();
    assert!(err.contains("invalid type"), "{err}");
}
