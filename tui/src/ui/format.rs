//! Words and glyphs for times, durations and states. Every state has a word and a glyph, so
//! nothing is told by colour alone.

use chrono::{DateTime, Utc};
use rigel_common::agent::AgentStatus;
use rigel_common::state::StateType;
use rigel_common::work_queue::QueueHealth;

/// One narrow glyph per state (`late` marks a Scheduled run past its time).
pub fn state_glyph(kind: StateType, late: bool) -> char {
    match kind {
        StateType::Scheduled if late => '!',
        StateType::Scheduled => '○',
        StateType::Pending => '◌',
        StateType::Running => '►',
        StateType::Completed => '✓',
        StateType::Failed => '✗',
        StateType::Cancelling | StateType::Cancelled => '⊘',
        StateType::Crashed => '↯',
    }
}

pub fn agent_status(status: AgentStatus) -> (char, &'static str) {
    match status {
        AgentStatus::Online => ('●', "online"),
        AgentStatus::Stale => ('◐', "stale"),
        AgentStatus::Offline => ('○', "offline"),
    }
}

pub fn queue_health(health: QueueHealth) -> (char, &'static str) {
    match health {
        QueueHealth::Ready => ('●', "ready"),
        QueueHealth::Paused => ('‖', "paused"),
        QueueHealth::NotReady => ('○', "not ready"),
    }
}

/// `2026-05-01 09:00:00` (UTC).
pub fn time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string())
}

/// `2026-05-01 09:00` (UTC).
pub fn minute(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// `05-01 09:00` (UTC): what a narrow column holds.
pub fn short_time(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), |t| t.format("%m-%d %H:%M").to_string())
}

/// `09:00:05` (UTC).
pub fn clock(t: DateTime<Utc>) -> String {
    t.format("%H:%M:%S").to_string()
}

/// `45s`, `3m 05s`, `2h 10m`, `3d 4h`.
pub fn span(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 10.0 && secs.fract() != 0.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m {:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d {}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// A compact span for narrow columns: `45s`, `3m`, `2h`, `3d`.
pub fn span_short(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

fn seconds_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_milliseconds() as f64 / 1000.0
}

/// `3m ago`.
pub fn ago(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    format!("{} ago", span_short(seconds_between(t, now)))
}

/// `in 5h`, or `2m late` for a time already past.
pub fn until(now: DateTime<Utc>, t: DateTime<Utc>) -> String {
    let secs = seconds_between(now, t);
    if secs >= 0.0 {
        format!("in {}", span_short(secs))
    } else {
        format!("{} late", span_short(-secs))
    }
}

/// Cuts `text` to `width` terminal columns (a wide character takes two), ending with `…` when
/// cut.
pub fn fit(text: &str, width: usize) -> String {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width - 1 {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// A log level's name.
pub fn level(level: u8) -> &'static str {
    match level {
        0..=10 => "DEBUG",
        11..=20 => "INFO",
        21..=30 => "WARNING",
        31..=40 => "ERROR",
        _ => "CRITICAL",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn spans_and_relative_times() {
        assert_eq!(span(3.25), "3.2s");
        assert_eq!(span(45.0), "45s");
        assert_eq!(span(185.0), "3m 05s");
        assert_eq!(span(7800.0), "2h 10m");
        assert_eq!(span(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
        let now = Utc.with_ymd_and_hms(2026, 5, 1, 12, 0, 0).unwrap();
        assert_eq!(until(now, now + chrono::Duration::hours(5)), "in 5h");
        assert_eq!(until(now, now - chrono::Duration::minutes(2)), "2m late");
        assert_eq!(ago(now, now - chrono::Duration::seconds(7)), "7s ago");
        assert_eq!(fit("hello-world", 6), "hello…");
        assert_eq!(fit("short", 6), "short");
        // wide characters take two columns: cut by columns, never past the width
        assert_eq!(fit("日本語のフロー", 6), "日本…");
        assert_eq!(fit("日本", 4), "日本");
    }
}
