//! Time-zone lookup and the mapping of local wall times to instants.

use chrono::{DateTime, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;

use crate::validation::FieldError;

/// The zone named by a schedule's `timezone`; none means UTC.
pub(super) fn parse(name: Option<&str>) -> Result<Tz, FieldError> {
    match name {
        None => Ok(Tz::UTC),
        Some(name) => lookup(name)
            .ok_or_else(|| FieldError::new("timezone", format!("unknown time zone '{name}'"))),
    }
}

/// The zone with this IANA name, if `chrono-tz` knows it.
pub(super) fn lookup(name: &str) -> Option<Tz> {
    name.parse::<Tz>().ok()
}

/// The wall time every default anchor uses: 2020-01-01T00:00.
pub(super) fn default_anchor_wall_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2020, 1, 1)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .unwrap_or_default()
}

/// 2020-01-01T00:00 in `zone`, with the zone's offset on that date.
pub(super) fn default_anchor(zone: &Tz) -> Option<DateTime<FixedOffset>> {
    resolve(zone, default_anchor_wall_time()).map(|at| at.fixed_offset())
}

/// The instant a local wall time stands for: the earlier one when the wall time occurs twice
/// (fall-back overlap), the first instant after the gap when it doesn't occur at all
/// (spring-forward gap). `None` only outside chrono's range.
pub(super) fn resolve(zone: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Single(at) => Some(at),
        LocalResult::Ambiguous(a, b) => Some(a.min(b)),
        LocalResult::None => gap_end(zone, wall),
    }
}

/// Like [`resolve`], but a wall time that occurs twice gives the later instant.
pub(super) fn resolve_latest(zone: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    match zone.from_local_datetime(&wall) {
        LocalResult::Ambiguous(a, b) => Some(a.max(b)),
        _ => resolve(zone, wall),
    }
}

/// Local wall-clock seconds (as if UTC) at the UTC instant `utc_seconds`.
fn local_seconds(zone: &Tz, utc_seconds: i64) -> Option<i64> {
    let at = DateTime::<Utc>::from_timestamp(utc_seconds, 0)?;
    let offset = zone.offset_from_utc_datetime(&at.naive_utc()).fix();
    utc_seconds.checked_add(i64::from(offset.local_minus_utc()))
}

/// The instant a gap containing `wall` ends at: the first instant whose wall time is not earlier
/// than `wall`.
fn gap_end(zone: &Tz, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
    // UTC offsets stay within ±26 h, so the crossing lies in this window around the wall time
    // read as UTC; wall time is non-decreasing across a gap, so bisection finds the transition.
    const WINDOW: i64 = 26 * 3600;
    let target = wall.and_utc().timestamp();
    let mut low = target.checked_sub(WINDOW)?;
    let mut high = target.checked_add(WINDOW)?;
    if local_seconds(zone, low)? >= target || local_seconds(zone, high)? < target {
        return None;
    }
    // Invariant: wall time at `low` is before `wall`, wall time at `high` is not.
    while high - low > 1 {
        let middle = low + (high - low) / 2;
        if local_seconds(zone, middle)? >= target {
            high = middle;
        } else {
            low = middle;
        }
    }
    DateTime::<Utc>::from_timestamp(high, 0).map(|at| at.with_timezone(zone))
}
