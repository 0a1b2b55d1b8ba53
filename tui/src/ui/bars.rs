//! The header (server, connection, counts, read-only mode and key) and the footer (a message,
//! the command line, or the keys of the view).

use ratatui::layout::{Alignment, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::format;
use crate::app::{App, Conn, Overlay, Root, View};
use crate::views::help::{change, key, offered, Keys};

/// Most rows a long message takes (it grows upwards over the view).
const MESSAGE_ROWS: usize = 4;

pub fn draw_header(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    let s = &app.store;
    let conn = match &app.conn {
        Conn::Connecting => Span::styled("◌ connecting…", t.warn()),
        Conn::Live if app.live_events => Span::styled("● live", t.good()),
        Conn::Live => Span::styled(
            match s.fetched_at {
                Some(at) => format!("● updated {}", format::ago(app.now, at)),
                None => "● live".into(),
            },
            t.good(),
        ),
        Conn::Stale { since, .. } => Span::styled(
            format!("✕ stale since {}, reconnecting", format::clock(*since)),
            t.error(),
        ),
        Conn::KeyRefused { since, .. } => Span::styled(
            match since {
                Some(at) => format!("✕ API key refused, data from {}", format::clock(*at)),
                None => "✕ API key refused".into(),
            },
            t.error(),
        ),
    };
    let counts = format!(
        "{} deployments · {} runs · {} queues · {}/{} agents",
        s.deployments.len(),
        s.run_total,
        s.queues.len(),
        s.agents_online(),
        s.agents.len()
    );
    let short_counts = format!(
        "{} dep · {} runs · {} q · {}/{} ag",
        s.deployments.len(),
        s.run_total,
        s.queues.len(),
        s.agents_online(),
        s.agents.len()
    );
    let badge = badge(app);
    let build = |url: &str, counts: &str| {
        let mut spans = vec![
            Span::styled(" rigel ", t.title()),
            Span::raw(format!("{url}  ")),
            conn.clone(),
        ];
        if !counts.is_empty() {
            spans.push(Span::styled(format!("  {counts}"), t.dim()));
        }
        Line::from(spans)
    };
    let host = app
        .api_url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches("/api");
    let badge_width = badge.as_ref().map_or(0, |(text, _)| text.chars().count());
    let room = (area.width as usize).saturating_sub(badge_width);
    // the longest that fits: full, short counts, host only, no counts
    let line = [
        build(&app.api_url, &counts),
        build(&app.api_url, &short_counts),
        build(host, &short_counts),
    ]
    .into_iter()
    .find(|l| l.width() <= room)
    .unwrap_or_else(|| build(host, ""));
    frame.render_widget(Paragraph::new(line), area);
    if let Some((text, style)) = badge {
        frame.render_widget(
            Paragraph::new(Span::styled(text, style)).alignment(Alignment::Right),
            area,
        );
    }
}

/// The header's right end: ` READ-ONLY ` (with `--readonly`), ` READ-ONLY (monitor) · key
/// 'dash' ` (a key that only reads), ` key 'ops' (operator) ` (a key that may change things).
fn badge(app: &App) -> Option<(String, Style)> {
    let t = app.theme;
    let access = &app.access;
    let mut words = Vec::new();
    if app.readonly {
        words.push("READ-ONLY".to_string());
        words.extend(access.key_label());
    } else if !access.may_change() {
        words.push(format!("READ-ONLY ({})", access.role));
        words.extend(access.key_name.as_ref().map(|k| format!("key '{k}'")));
    } else {
        words.extend(access.key_label());
    }
    if words.is_empty() {
        return None;
    }
    let style = if app.may_change() {
        t.dim()
    } else {
        t.error().add_modifier(Modifier::REVERSED)
    };
    Some((format!(" {} ", words.join(" · ")), style))
}

pub fn draw_footer(app: &App, frame: &mut Frame, area: Rect) {
    let t = app.theme;
    if let Some(Overlay::Command(input)) = &app.overlay {
        let line = Line::from(vec![
            Span::styled(":", t.key()),
            Span::raw(input.value().to_string()),
            Span::styled("█", t.key()),
            Span::styled("   Tab completes · Enter runs · Esc closes", t.dim()),
        ]);
        frame.render_widget(Paragraph::new(line), area);
        frame.set_cursor_position((area.x + 1 + input.visual_cursor() as u16, area.y));
        return;
    }
    if let Some(f) = app.current_flash() {
        let style = if f.error { t.error() } else { t.good() };
        draw_message(frame, area, f.text.clone(), style);
        return;
    }
    if let Conn::KeyRefused { message, .. } = &app.conn {
        let text = format!("✕ The server refused the API key (RIGEL_API_KEY): {message}");
        draw_message(frame, area, text, t.error());
        return;
    }
    let global = match app.stack.last() {
        Some(View::CustomRun(_)) => &[],
        _ if app.stack.len() > 1 => GLOBAL_BACK,
        _ => GLOBAL_QUIT,
    };
    let mut spans = Vec::new();
    for k in offered(hints(app), app.may_change()).chain(global.iter()) {
        spans.push(Span::styled(format!(" {}", k.keys), t.key()));
        spans.push(Span::raw(format!(" {} ", k.what)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The keys of the view on top, in short.
fn hints(app: &App) -> Keys {
    match app.stack.last() {
        Some(View::Root(Root::Deployments)) | None => DEPLOYMENTS,
        Some(View::Root(Root::Runs)) => RUNS,
        Some(View::Root(Root::Queues)) => QUEUES,
        Some(View::Root(Root::Agents)) => &[],
        Some(View::Deployment(_)) => DEPLOYMENT,
        Some(View::Run(_)) => RUN,
        Some(View::CustomRun(_)) => CUSTOM_RUN,
    }
}

const DEPLOYMENTS: Keys = &[
    key("⏎", "inspect"),
    key("/", "filter"),
    key("s", "sort"),
    change("r", "run"),
    change("R", "custom"),
    change("p", "pause"),
    key("l", "runs"),
];
const RUNS: Keys = &[
    key("⏎", "open"),
    key("/", "filter"),
    key("f", "state"),
    key("x", "faults"),
    change("c", "cancel"),
    key("d", "deployment"),
];
const QUEUES: Keys = &[change("p", "pause/resume"), key("⏎", "runs")];
const DEPLOYMENT: Keys = &[
    change("r", "run"),
    change("R", "custom"),
    change("p", "pause"),
    key("l", "runs"),
];
const RUN: Keys = &[
    key("/", "search"),
    change("c", "cancel"),
    key("d", "deployment"),
];
const CUSTOM_RUN: Keys = &[
    key("Tab", "field"),
    change("⏎", "run"),
    key("Esc", "cancel"),
];
// a form takes every key as text, so the global keys don't apply there
const GLOBAL_BACK: Keys = &[key("?", "help"), key(":", "views"), key("q", "back")];
const GLOBAL_QUIT: Keys = &[key("?", "help"), key(":", "views"), key("q", "quit")];

/// A message in the footer; one too long for a row (a server's refusal names the route and
/// the key) takes up to [`MESSAGE_ROWS`] rows, over the bottom of the view.
fn draw_message(frame: &mut Frame, footer: Rect, text: String, style: Style) {
    let mut rows = wrap_words(&text, footer.width as usize);
    rows.truncate(MESSAGE_ROWS.min(footer.y as usize + 1));
    let height = rows.len() as u16;
    let area = Rect::new(footer.x, footer.y + 1 - height, footer.width, height);
    frame.render_widget(Clear, area);
    let lines: Vec<Line> = rows.into_iter().map(|r| Line::styled(r, style)).collect();
    frame.render_widget(Paragraph::new(lines), area);
}

/// Cuts text into rows of at most `width` characters at spaces (a word longer than a row is
/// cut); the rows after the first start with a space, like the first.
fn wrap_words(text: &str, width: usize) -> Vec<String> {
    let width = width.max(2);
    let mut rows = vec![String::new()];
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let mut word: Vec<char> = word.chars().collect();
        loop {
            let row = rows
                .last_mut()
                .expect("rows starts with one row and only grows");
            let used = row.chars().count();
            if used + 1 + word.len() <= width {
                row.push(' ');
                row.extend(word.iter());
                break;
            }
            if used > 1 {
                rows.push(String::new());
                continue;
            }
            // a word wider than a row: what fits here, the rest on the next
            let fits = width - used - 1;
            row.push(' ');
            row.extend(word.drain(..fits));
            rows.push(String::new());
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_wrap_at_spaces() {
        assert_eq!(wrap_words("✗ Cannot run", 80), vec![" ✗ Cannot run"]);
        assert_eq!(
            wrap_words("the key 'dash' has the monitor role", 16),
            vec![" the key 'dash'", " has the monitor", " role"]
        );
        assert_eq!(wrap_words("abcdefgh", 5), vec![" abcd", " efgh"]);
    }
}
