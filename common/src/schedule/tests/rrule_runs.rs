//! Recurrence-rule run times: `COUNT`, `UNTIL`, no `DTSTART`, restarts, `RDATE`/`EXDATE`, zones.

use super::*;

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
