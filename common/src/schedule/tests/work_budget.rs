//! The work budget of recurrence rules: a rule that needs too much work is refused with an
//! error naming it, every line of a schedule shares one budget, and no rule panics.

use super::*;

/// The scheduler's window: up to 100 runs in the next 100 days.
fn scheduler_window(schedule: &Schedule) -> Result<Vec<DateTime<Utc>>, FieldError> {
    let now = at("2026-03-08T06:00:00Z");
    schedule.next_runs(now, now + TimeDelta::days(100), 100)
}

fn is_too_much_work(result: &Result<Vec<DateTime<Utc>>, FieldError>) -> bool {
    result
        .as_ref()
        .is_err_and(|e| e.field == "rrule" && e.message.contains("too much work"))
}

#[test]
fn counting_every_second_since_2020_is_refused() {
    // issue 17: 47 characters that took 23 s inside the write transaction
    let text = "RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000";
    assert_eq!(text.len(), 47);
    let schedule = rrule(text, None);
    // its first run exists, so it is a valid rule…
    assert!(schedule.validate().is_ok());
    // …but listing today's runs means walking six years of seconds
    let err = scheduler_window(&schedule).unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("too much work"), "{}", err.message);
    assert!(
        err.message
            .contains("'FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000'"),
        "names the rule: {}",
        err.message
    );
    assert!(err.message.contains("simplify"), "{}", err.message);
    // the same rule from a recent start is fine
    let recent = rrule(
        "DTSTART:20260308T000000Z\nRRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000",
        None,
    );
    assert_eq!(scheduler_window(&recent).unwrap().len(), 100);
}

#[test]
fn a_period_too_large_to_compute_is_refused_at_validation() {
    let all = |n: u32| (0..n).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    // 366 days × 86,400 candidate times a year, of which BYSETPOS keeps one (each period is
    // computed whole before anything is yielded)
    let text = format!(
        "RRULE:FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR={};BYMINUTE={};BYSECOND={};BYSETPOS=1",
        all(24),
        all(60),
        all(60)
    );
    let err = rrule(&text, None).validate().unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("too much work"), "{}", err.message);
    // a long rule is named, cut short
    assert!(
        err.message.contains("FREQ=YEARLY;BYDAY=MO,TU"),
        "{}",
        err.message
    );
    assert!(err.message.len() < 600, "{}", err.message);
}

#[test]
fn all_lines_share_one_budget() {
    // one line walks ~200 days of minutes (about 60% of the budget): fine alone, not twice
    let line = "RRULE:FREQ=MINUTELY;COUNT=1000000000";
    let start = "DTSTART:20250801T000000Z";
    let one = rrule(&format!("{start}\n{line}"), None);
    assert_eq!(scheduler_window(&one).unwrap().len(), 100);
    let two = rrule(&format!("{start}\n{line}\n{line};BYSECOND=0"), None);
    let result = scheduler_window(&two);
    assert!(is_too_much_work(&result), "{result:?}");
}

#[test]
fn lines_and_dates_are_capped() {
    let rules = |n: usize| {
        (0..n)
            .map(|i| format!("RRULE:FREQ=DAILY;BYHOUR={}", i % 24))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(rrule(&rules(MAX_RRULE_LINES), None).validate().is_ok());
    let err = rrule(&rules(MAX_RRULE_LINES + 1), None)
        .validate()
        .unwrap_err();
    assert_eq!(err.field, "rrule");
    assert!(err.message.contains("at most 20"), "{}", err.message);

    let dates = |n: usize| {
        (0..n)
            .map(|i| format!("2026{:02}{:02}T090000Z", 1 + i / 28, 1 + i % 28))
            .collect::<Vec<_>>()
            .join(",")
    };
    let ok = format!("RRULE:FREQ=DAILY\nRDATE:{}", dates(MAX_RRULE_DATES));
    assert!(rrule(&ok, None).validate().is_ok());
    for name in ["RDATE", "EXDATE"] {
        // spread over two lines: the cap counts values, not lines
        let text = format!(
            "RRULE:FREQ=DAILY\n{name}:{}\n{name}:20270101T000000Z",
            dates(MAX_RRULE_DATES)
        );
        let err = rrule(&text, None).validate().unwrap_err();
        assert_eq!(err.field, "rrule");
        assert!(
            err.message.contains(&format!("{name} values; at most 100")),
            "{}",
            err.message
        );
    }
}

/// Nasty rules: each is either listed (sorted, distinct, inside the window, within the limit)
/// or refused for its work, as expected; none panics.
#[test]
fn nasty_rules_are_listed_or_refused_within_the_budget() {
    let all = |n: u32| (0..n).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    let many_seconds = (0..MAX_RRULE_LINES)
        .map(|i| format!("RRULE:FREQ=SECONDLY;BYSECOND={}", i % 60))
        .collect::<Vec<_>>()
        .join("\n");
    let many_counted = (0..MAX_RRULE_LINES)
        .map(|i| format!("RRULE:FREQ=HOURLY;COUNT=100000000;BYMINUTE={i}"))
        .collect::<Vec<_>>()
        .join("\n");
    let corpus: Vec<(String, bool)> = vec![
        // (rule, refused)
        ("RRULE:FREQ=SECONDLY;BYSECOND=0;COUNT=1000000000".into(), true),
        ("RRULE:FREQ=MINUTELY;COUNT=100000000".into(), true),
        ("RRULE:FREQ=SECONDLY;BYMINUTE=0;BYSECOND=0".into(), false),
        ("RRULE:FREQ=SECONDLY;BYHOUR=9;BYMINUTE=0;BYSECOND=0".into(), false),
        (
            "RRULE:FREQ=SECONDLY;BYMONTH=6;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0;BYSECOND=0".into(),
            false,
        ),
        ("RRULE:FREQ=SECONDLY;BYMONTH=2;BYMONTHDAY=30".into(), false),
        ("RRULE:FREQ=SECONDLY;BYSETPOS=1".into(), false),
        ("RRULE:FREQ=SECONDLY;INTERVAL=65535;COUNT=4294967295".into(), false),
        ("RRULE:FREQ=HOURLY;INTERVAL=65535".into(), false),
        ("RRULE:FREQ=DAILY;COUNT=4294967295".into(), false),
        (
            "DTSTART:20200101T000000Z\nRRULE:FREQ=MINUTELY;UNTIL=99991230T000000Z".into(),
            false,
        ),
        (
            format!(
                "RRULE:FREQ=YEARLY;BYDAY=MO,TU,WE,TH,FR,SA,SU;BYHOUR={};BYMINUTE={};BYSECOND={};BYSETPOS=1",
                all(24),
                all(60),
                all(60)
            ),
            true,
        ),
        (
            format!("RRULE:FREQ=YEARLY;BYHOUR={};BYMINUTE={}", all(24), all(60)),
            false,
        ),
        (
            "RRULE:FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9,10,11,12,13,14,15,16,17;\
             BYMINUTE=0,15,30,45;BYSETPOS=-1,1,2"
                .into(),
            false,
        ),
        (
            format!("RRULE:FREQ=DAILY;BYHOUR={};BYMINUTE={};BYSETPOS=-1", all(24), all(60)),
            false,
        ),
        (
            "RRULE:FREQ=YEARLY;BYWEEKNO=1,10,20,30,40,53;BYDAY=MO,SU;BYSETPOS=1,-1".into(),
            false,
        ),
        (many_seconds, false),
        (many_counted, true),
    ];
    for (text, refused) in &corpus {
        let schedule = rrule(text, Some(NEW_YORK));
        let _ = schedule.validate();
        let now = at("2026-03-08T06:00:00Z");
        let until = now + TimeDelta::days(100);
        let result = schedule.next_runs(now, until, 100);
        assert_eq!(is_too_much_work(&result), *refused, "{text}: {result:?}");
        if let Ok(runs) = result {
            assert!(runs.len() <= 100, "{text}");
            assert!(runs.windows(2).all(|p| p[0] < p[1]), "{text}: {runs:?}");
            assert!(runs.iter().all(|r| now < *r && *r <= until), "{text}");
        }
    }
}
