//! Schedule fuzzing: arbitrary cron expressions, recurrence rules (built from a grammar of their
//! parts, so most are valid, and arbitrary text), intervals, anchors, time zones and windows.
//! Whatever the input, validating and listing never panic; a listing is sorted, distinct,
//! inside its window and within its limit; a schedule that validates lists its runs or is
//! refused only for its work; and a recurrence's listing stays within the work budget, whose
//! estimate covers every occurrence the `rrule` crate yielded. Cases: 64 per kind by default,
//! `PROPTEST_CASES` for more. Rules that once went wrong are a fixed corpus below.

use chrono::FixedOffset;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

use super::*;
use crate::schedule::recurrence::probe;

/// Zones with DST of every kind (30-minute, 2-hour, negative, a skipped day), zones without,
/// and names `chrono-tz` doesn't know.
const ZONES: [&str; 16] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Europe/Dublin",
    "Australia/Lord_Howe",
    "Antarctica/Troll",
    "Pacific/Apia",
    "Pacific/Chatham",
    "America/Sao_Paulo",
    "Africa/Casablanca",
    "Asia/Kolkata",
    "America/St_Johns",
    "Etc/GMT+12",
    "Mars/Olympus_Mons",
    "",
    "+05:00",
];

/// A zone name, now and then one that is refused.
fn zone() -> impl Strategy<Value = Option<String>> {
    let known = prop::sample::select(ZONES[..13].to_vec());
    let unknown = prop::sample::select(ZONES[13..].to_vec());
    prop::option::weighted(
        0.8,
        prop_oneof![25 => known, 1 => unknown].prop_map(String::from),
    )
}

/// A value in `low..=high`, now and then one just outside.
fn ranged(low: i32, high: i32) -> impl Strategy<Value = i32> + Clone {
    prop_oneof![150 => low..=high, 1 => low - 2..low, 1 => high + 1..=high + 2]
}

/// An instant, mostly in recent decades, sometimes at the edges of what is supported.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // 1966–2039, and any year
    let recent = -100_000_000i64..2_200_000_000;
    let any_year = -62_135_596_800i64..253_402_300_799;
    let edges = prop::sample::select(vec![
        -62_135_596_800i64, // 0001-01-01
        -62_135_510_400,    // 0001-01-02
        253_402_214_400,    // 9999-12-31
        253_402_300_799,    // 9999-12-31T23:59:59
        0,
        1_741_417_200, // 2025-03-08 07:00 UTC, a day before a US spring-forward
    ]);
    prop_oneof![6 => recent, 2 => any_year, 1 => edges]
        .prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

/// A window: after, until (usually a few days to a year later, sometimes before or far after)
/// and a limit. Limits stay within what callers ask (a backfill takes at most 1,000 runs): cron
/// and interval listings cost in proportion to the runs they return, so an unbounded limit
/// over thousands of years lists millions.
fn window() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>, usize)> {
    let span = prop_oneof![
        8 => 0i64..400 * 86_400,
        1 => -86_400i64..0,
        1 => 0i64..10_000 * 366 * 86_400,
    ];
    (
        instant(),
        span,
        prop_oneof![1 => Just(0usize), 8 => 1usize..=100, 1 => Just(1000usize)],
    )
        .prop_map(|(after, span, limit)| {
            let until = after
                .checked_add_signed(TimeDelta::seconds(span))
                .unwrap_or(DateTime::<Utc>::MAX_UTC);
            (after, until, limit)
        })
}

/// One cron field: `*`, a value, a range, a list, a step, names, or something croner or the
/// parser should refuse, with values around each field's range.
fn cron_field(low: i32, high: i32) -> BoxedStrategy<String> {
    let value = move || ranged(low, high).prop_map(|v| v.to_string());
    let step = prop_oneof![20 => 1u32..=(high - low + 1) as u32, 1 => 0u32..=70];
    prop_oneof![
        12 => Just("*".to_string()),
        12 => value(),
        6 => (ranged(low, high), ranged(low, high))
            .prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b))),
        6 => prop::collection::vec(value(), 1..4).prop_map(|v| v.join(",")),
        6 => (prop_oneof![Just("*".to_string()), (ranged(low, high), ranged(low, high)).prop_map(|(a, b)| format!("{}-{}", a.min(b), a.max(b)))], step)
            .prop_map(|(a, s)| format!("{a}/{s}")),
        1 => prop::sample::select(vec!["MON-FRI", "JAN,JUL", "L", "5L", "15W", "MON#2", "?", "SUN#5", "LW", "-1", "*/", "", ","]).prop_map(String::from),
    ]
    .boxed()
}

fn cron_text() -> impl Strategy<Value = String> {
    let fields = (
        cron_field(0, 59),
        cron_field(0, 23),
        cron_field(1, 31),
        cron_field(1, 12),
        cron_field(0, 7),
    )
        .prop_map(|(a, b, c, d, e)| format!("{a} {b} {c} {d} {e}"));
    prop_oneof![
        18 => fields,
        1 => prop::sample::select(vec!["@daily", "@hourly", "@weekly", "@monthly", "@yearly", "@reboot", "@DAILY", "@every"]).prop_map(String::from),
        1 => "\\PC{0,30}",
    ]
}

fn cron_schedule() -> impl Strategy<Value = Schedule> {
    (cron_text(), zone(), any::<bool>()).prop_map(|(cron, timezone, day_or)| {
        Schedule::Cron(CronSchedule {
            cron,
            timezone,
            day_or,
        })
    })
}

fn interval_schedule() -> impl Strategy<Value = Schedule> {
    let seconds = prop_oneof![
        4 => 1.0f64..100_000.0,
        2 => prop::sample::select(vec![1.0, 60.0, 3600.0, 86_400.0, 7.0 * 86_400.0, 2.0 * 86_400.0, 0.999, 0.0, -5.0, 3.15576e9, 3.15577e9, f64::NAN, f64::INFINITY, 1.5]),
        1 => any::<f64>(),
    ];
    let anchor = prop::option::weighted(
        0.8,
        (instant(), -14 * 3600i32..=14 * 3600).prop_map(|(at, offset)| {
            let offset = FixedOffset::east_opt(offset / 60 * 60).unwrap();
            at.with_timezone(&offset)
        }),
    );
    (seconds, anchor, zone()).prop_map(|(interval, anchor_date, timezone)| {
        Schedule::Interval(IntervalSchedule {
            interval,
            anchor_date,
            timezone,
        })
    })
}

/// A date-time value as RFC 5545 writes it, in years the crate handles and some it doesn't.
fn ical_time() -> impl Strategy<Value = String> {
    let year = prop_oneof![30 => 1990i32..2040, 4 => 1i32..=9999, 1 => Just(10_000)];
    (
        year,
        1u32..=12,
        prop_oneof![12 => 1u32..=28, 1 => 29u32..=31],
        0u32..24,
        0u32..60,
        any::<bool>(),
    )
        .prop_map(|(y, mo, d, h, mi, z)| {
            format!(
                "{y:04}{mo:02}{d:02}T{h:02}{mi:02}00{}",
                if z { "Z" } else { "" }
            )
        })
}

fn list(
    values: impl Strategy<Value = i32> + Clone + 'static,
    most: usize,
) -> impl Strategy<Value = String> {
    prop::collection::vec(values, 1..=most)
        .prop_map(|v| v.iter().map(i32::to_string).collect::<Vec<_>>().join(","))
}

/// One `RRULE` line from its parts: FREQ, and each of the others now and then.
fn rrule_line() -> impl Strategy<Value = String> {
    let freq = prop::sample::select(vec![
        "YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY",
    ]);
    let freq = prop_oneof![60 => freq, 1 => Just("FORTNIGHTLY")];
    let day = prop::sample::select(vec![
        "MO", "TU", "WE", "TH", "FR", "SA", "SU", "MO", "TU", "WE", "TH", "FR", "SA", "SU", "1MO",
        "-1FR", "+2WE", "53SU", "-5TH",
    ]);
    let day = prop_oneof![40 => day, 1 => Just("XX")];
    let part = |name: &'static str, values: BoxedStrategy<String>| {
        prop::option::weighted(0.15, values)
            .prop_map(move |v| v.map(|v| format!("{name}={v}")))
            .boxed()
    };
    let parts = vec![
        part(
            "INTERVAL",
            prop_oneof![12 => 1u32..=10, 1 => 0u32..=70_000]
                .prop_map(|v| v.to_string())
                .boxed(),
        ),
        part(
            "COUNT",
            prop_oneof![12 => 1u64..=50, 1 => 0u64..=u64::from(u32::MAX) + 1]
                .prop_map(|v| v.to_string())
                .boxed(),
        ),
        part(
            "UNTIL",
            (2030i32..2100)
                .prop_map(|y| format!("{y}0101T000000Z"))
                .boxed(),
        ),
        part("BYMONTH", list(ranged(1, 12), 4).boxed()),
        part("BYMONTHDAY", list(ranged(1, 28), 4).boxed()),
        part("BYYEARDAY", list(ranged(-366, 366), 3).boxed()),
        part("BYWEEKNO", list(ranged(1, 53), 3).boxed()),
        part(
            "BYDAY",
            prop::collection::vec(day, 1..=4)
                .prop_map(|d| d.join(","))
                .boxed(),
        ),
        part("BYHOUR", list(ranged(0, 23), 6).boxed()),
        part("BYMINUTE", list(ranged(0, 59), 8).boxed()),
        part("BYSECOND", list(ranged(0, 59), 8).boxed()),
        part("BYSETPOS", list(ranged(1, 3), 2).boxed()),
        part(
            "WKST",
            prop::sample::select(vec!["MO", "SU", "TH"])
                .prop_map(String::from)
                .boxed(),
        ),
    ];
    // parts RFC 5545 allows only with some frequencies are left out, now and then kept
    (freq, parts, prop::bool::weighted(0.05)).prop_map(|(freq, parts, odd)| {
        let fits = |part: &String| {
            let yearly_or_finer = !matches!(freq, "MONTHLY" | "WEEKLY" | "DAILY");
            odd || (!part.starts_with("BYWEEKNO") || freq == "YEARLY")
                && (!part.starts_with("BYYEARDAY") || yearly_or_finer)
                && (!part.starts_with("BYMONTHDAY") || freq != "WEEKLY")
        };
        let parts: Vec<String> = parts.into_iter().flatten().filter(fits).collect();
        // BYSETPOS picks among what other BY parts select
        let alone = parts
            .iter()
            .all(|p| p.starts_with("BYSETPOS") || !p.starts_with("BY"));
        let parts = parts
            .into_iter()
            .filter(|p| odd || !alone || !p.starts_with("BYSETPOS"));
        let mut line = format!("RRULE:FREQ={freq}");
        for part in parts {
            line.push(';');
            line.push_str(&part);
        }
        line
    })
}

fn rrule_text() -> impl Strategy<Value = String> {
    let dtstart = prop::option::weighted(
        0.6,
        (
            ical_time(),
            prop::option::weighted(0.2, prop::sample::select(ZONES[..14].to_vec())),
        )
            .prop_map(|(at, tz)| match tz {
                Some(tz) => format!("DTSTART;TZID={tz}:{}", at.trim_end_matches('Z')),
                None => format!("DTSTART:{at}"),
            }),
    );
    let dates = |name: &'static str| {
        prop::option::weighted(0.15, prop::collection::vec(ical_time(), 1..4))
            .prop_map(move |d| d.map(|d| format!("{name}:{}", d.join(","))))
    };
    let grammar = (
        dtstart,
        prop::collection::vec(rrule_line(), 1..=3),
        dates("RDATE"),
        dates("EXDATE"),
    )
        .prop_map(|(dtstart, rules, rdate, exdate)| {
            dtstart
                .into_iter()
                .chain(rules)
                .chain(rdate)
                .chain(exdate)
                .collect::<Vec<_>>()
                .join("\n")
        });
    prop_oneof![9 => grammar, 1 => "\\PC{0,60}"]
}

fn rrule_schedule() -> impl Strategy<Value = Schedule> {
    (rrule_text(), zone())
        .prop_map(|(rrule, timezone)| Schedule::RRule(RRuleSchedule { rrule, timezone }))
}

/// The properties, for one schedule and window; an `Err` says which one failed.
fn check(
    schedule: &Schedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Result<(), String> {
    let valid = schedule.validate();
    probe::reset();
    let listed = schedule.next_runs(after, until, limit);
    let (estimate, yielded) = probe::read();
    if let Schedule::RRule(_) = schedule {
        // the estimate covers what the crate yielded, and a listing stops at the budget
        if yielded > estimate {
            return Err(format!(
                "{yielded} occurrences yielded, but the work estimate was {estimate}"
            ));
        }
        if listed.is_ok() && estimate > MAX_RRULE_WORK {
            return Err(format!(
                "listed after an estimate of {estimate}, over the budget"
            ));
        }
    }
    match listed {
        Ok(runs) => {
            if runs.len() > limit {
                return Err(format!("{} runs for a limit of {limit}", runs.len()));
            }
            if let Some(pair) = runs.windows(2).find(|p| p[0] >= p[1]) {
                return Err(format!("runs out of order or repeated: {pair:?}"));
            }
            if let Some(run) = runs.iter().find(|r| **r <= after || **r > until) {
                return Err(format!("run {run} outside ({after}, {until}]"));
            }
        }
        Err(e) => {
            if e.message.is_empty() {
                return Err("an error without a message".into());
            }
            // a schedule that validates fails to list only for its work (the window may walk
            // a rule further than validation did)
            let too_much_work = e.field == "rrule" && e.message.contains("too much work");
            if valid.is_ok() && !too_much_work {
                return Err(format!("a valid schedule failed to list: {e}"));
            }
        }
    }
    Ok(())
}

/// 64 cases from a fixed seed, so a run in CI is repeatable; with `PROPTEST_CASES` set, that
/// many cases from a random seed.
fn runner() -> TestRunner {
    if std::env::var_os("PROPTEST_CASES").is_some() {
        return TestRunner::new(Config {
            failure_persistence: None,
            ..Config::default()
        });
    }
    TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::with_cases(64)
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}

/// How the generated schedules fared, to show the properties are not checked on nothing.
#[derive(Debug, Default)]
struct Tally {
    invalid: usize,
    listed: usize,
    refused_for_work: usize,
}

/// Runs the properties over `schedules`; at least one case in `listed_one_in` must list runs.
fn fuzz(schedules: impl Strategy<Value = Schedule>, listed_one_in: usize) -> Tally {
    let tally = std::cell::RefCell::new(Tally::default());
    let result = runner().run(
        &(schedules, window()),
        |(schedule, (after, until, limit))| {
            check(&schedule, after, until, limit)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{schedule:?}")))?;
            let mut tally = tally.borrow_mut();
            match (schedule.validate(), schedule.next_runs(after, until, limit)) {
                (Err(_), _) => tally.invalid += 1,
                (Ok(()), Ok(runs)) if !runs.is_empty() => tally.listed += 1,
                (Ok(()), Ok(_)) => {}
                (Ok(()), Err(_)) => tally.refused_for_work += 1,
            }
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
    let tally = tally.into_inner();
    eprintln!("{tally:?}");
    assert!(
        tally.listed * listed_one_in >= runner().config().cases as usize,
        "{tally:?}"
    );
    tally
}

#[test]
fn fuzz_cron() {
    let tally = fuzz(cron_schedule(), 4);
    assert!(tally.invalid > 0, "{tally:?}");
}

#[test]
fn fuzz_interval() {
    let tally = fuzz(interval_schedule(), 4);
    assert!(tally.invalid > 0, "{tally:?}");
}

#[test]
fn fuzz_rrule() {
    // a rule with COUNT or UNTIL has often ended before a random window
    let tally = fuzz(rrule_schedule(), 8);
    assert!(tally.invalid > 0, "{tally:?}");
}

/// Rules that once went wrong, and the shrunk cases the fuzzing found, through the same checks
/// in the scheduler's window and a window from 2020; each is listed or refused as noted.
#[test]
fn regression_corpus() {
    let all = |n: u32| (0..n).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    // issue 17: about 200 lines in the 10,000-character limit, each walking seconds
    let two_hundred = vec!["RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000"; 200].join("\n");
    let corpus: Vec<(Schedule, &str)> = vec![
        // (schedule, expected: "runs", "work" (refused for its work) or "invalid")
        (
            rrule("RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000", None),
            "work",
        ),
        (rrule(&two_hundred, None), "invalid"),
        (
            rrule(
                &format!(
                    "RRULE:FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR={};BYMINUTE={};BYSECOND={};BYSETPOS=1",
                    all(24),
                    all(60),
                    all(60)
                ),
                None,
            ),
            "invalid",
        ),
        (
            rrule("RRULE:FREQ=MINUTELY;COUNT=100000000", Some(NEW_YORK)),
            "work",
        ),
        (
            rrule("RRULE:FREQ=DAILY;BYHOUR=9", Some("Australia/Lord_Howe")),
            "runs",
        ),
        (cron("0 0 30 2 *", None), "invalid"),
        (cron("30 2 * * *", Some("Pacific/Apia")), "runs"),
        (
            interval(86_400.0, Some("2020-01-01T02:30:00+00:00"), Some(NEW_YORK)),
            "runs",
        ),
    ];
    let windows = [
        (
            at("2026-03-08T06:00:00Z"),
            at("2026-03-08T06:00:00Z") + TimeDelta::days(100),
            100,
        ),
        (at("2020-01-01T00:00:00Z"), at("2021-01-01T00:00:00Z"), 100),
    ];
    for (schedule, expected) in &corpus {
        for (after, until, limit) in windows {
            check(schedule, after, until, limit).unwrap_or_else(|e| panic!("{schedule:?}: {e}"));
        }
        let (after, until, limit) = windows[0];
        let outcome = match (schedule.validate(), schedule.next_runs(after, until, limit)) {
            (Err(_), _) => "invalid",
            (Ok(()), Ok(_)) => "runs",
            (Ok(()), Err(_)) => "work",
        };
        assert_eq!(outcome, *expected, "{schedule:?}");
    }
    // found by the fuzzing: a walk inside the matching hours of a sub-daily rule was charged at
    // the day's average rate, below the occurrences the crate yielded (335 for 334)
    let hours = rrule("RRULE:FREQ=SECONDLY;BYHOUR=0,3", None);
    check(
        &hours,
        at("1970-01-01T00:00:00Z"),
        at("2019-12-31T21:05:33Z"),
        1,
    )
    .unwrap();
}
