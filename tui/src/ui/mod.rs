//! Drawing. [`draw`] reads the app and never changes it.

pub mod format;
pub mod layout;
pub mod list;
pub mod theme;

use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Conn, Dialog, Overlay, Root, View};
use crate::views::help::{self, Keys};

pub fn draw(app: &App, frame: &mut Frame) {
    let a = layout::areas(frame.area());
    let cx = app.cx();
    draw_header(app, frame, a.header);
    let title = match app.stack.last() {
        Some(View::Root(Root::Deployments)) | None => app.deployments.title(&cx),
        Some(View::Root(Root::Runs)) => app.runs.title(&cx),
        Some(View::Root(Root::Queues)) => app.queues.title(&cx),
        Some(View::Root(Root::Agents)) => app.agents.title(&cx),
        Some(View::Deployment(v)) => v.title(&cx),
        Some(View::Run(v)) => v.title(&cx),
        Some(View::CustomRun(v)) => v.title(&cx),
    };
    frame.render_widget(Paragraph::new(title).style(app.theme.bar()), a.title);
    match app.stack.last() {
        Some(View::Root(Root::Deployments)) | None => app.deployments.render(frame, a.body, &cx),
        Some(View::Root(Root::Runs)) => app.runs.render(frame, a.body, &cx),
        Some(View::Root(Root::Queues)) => app.queues.render(frame, a.body, &cx),
        Some(View::Root(Root::Agents)) => app.agents.render(frame, a.body, &cx),
        Some(View::Deployment(v)) => v.render(frame, a.body, &cx),
        Some(View::Run(v)) => v.render(frame, a.body, &cx),
        Some(View::CustomRun(v)) => v.render(frame, a.body, &cx),
    }
    draw_footer(app, frame, a.footer);
    match &app.overlay {
        Some(Overlay::Help) => {
            let (name, keys) = view_keys(app);
            help::render(frame, a.body, name, keys, app.theme);
        }
        Some(Overlay::Confirm(d)) => draw_dialog(app, frame, a.body, d),
        _ => {}
    }
}

/// The current view's name and keys.
pub fn view_keys(app: &App) -> (&'static str, Keys) {
    match app.stack.last() {
        Some(View::Root(Root::Deployments)) | None => ("Deployments", help::DEPLOYMENTS),
        Some(View::Root(Root::Runs)) => ("Flow runs", help::RUNS),
        Some(View::Root(Root::Queues)) => ("Work queues", help::QUEUES),
        Some(View::Root(Root::Agents)) => ("Agents", help::AGENTS),
        Some(View::Deployment(_)) => ("Deployment", help::DEPLOYMENT),
        Some(View::Run(_)) => ("Flow run", help::RUN),
        Some(View::CustomRun(_)) => ("Custom run", help::CUSTOM_RUN),
    }
}

fn draw_header(app: &App, frame: &mut Frame, area: Rect) {
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
    let readonly = if app.readonly { " READ-ONLY " } else { "" };
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
    let room = (area.width as usize).saturating_sub(readonly.len());
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
    if app.readonly {
        frame.render_widget(
            Paragraph::new(Span::styled(
                readonly,
                t.error().add_modifier(ratatui::style::Modifier::REVERSED),
            ))
            .alignment(Alignment::Right),
            area,
        );
    }
}

fn draw_footer(app: &App, frame: &mut Frame, area: Rect) {
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
        frame.render_widget(
            Paragraph::new(Span::styled(format!(" {}", f.text), style)),
            area,
        );
        return;
    }
    let hints: &[(&str, &str)] = match app.stack.last() {
        Some(View::Root(Root::Deployments)) | None => &[
            ("⏎", "inspect"),
            ("/", "filter"),
            ("s", "sort"),
            ("r", "run"),
            ("R", "custom"),
            ("p", "pause"),
            ("l", "runs"),
        ],
        Some(View::Root(Root::Runs)) => &[
            ("⏎", "open"),
            ("/", "filter"),
            ("f", "state"),
            ("x", "faults"),
            ("c", "cancel"),
            ("d", "deployment"),
        ],
        Some(View::Root(Root::Queues)) => &[("p", "pause/resume"), ("⏎", "runs")],
        Some(View::Root(Root::Agents)) => &[],
        Some(View::Deployment(_)) => {
            &[("r", "run"), ("R", "custom"), ("p", "pause"), ("l", "runs")]
        }
        Some(View::Run(_)) => &[("/", "search"), ("c", "cancel"), ("d", "deployment")],
        Some(View::CustomRun(_)) => &[("Tab", "field"), ("⏎", "run"), ("Esc", "cancel")],
    };
    // a form takes every key as text, so the global keys don't apply there
    let global: &[(&str, &str)] = match app.stack.last() {
        Some(View::CustomRun(_)) => &[],
        _ if app.stack.len() > 1 => &[("?", "help"), (":", "views"), ("q", "back")],
        _ => &[("?", "help"), (":", "views"), ("q", "quit")],
    };
    let mut spans = Vec::new();
    for (k, what) in hints.iter().chain(global.iter()) {
        spans.push(Span::styled(format!(" {k}"), t.key()));
        spans.push(Span::raw(format!(" {what} ")));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_dialog(app: &App, frame: &mut Frame, area: Rect, d: &Dialog) {
    let t = app.theme;
    let width = area.width.saturating_sub(4).min(70);
    let mut lines = vec![Line::raw(d.change.question()), Line::raw("")];
    for extra in d.change.details() {
        lines.push(Line::styled(extra, t.dim()));
        lines.push(Line::raw(""));
    }
    let button = |label: &str, on: bool| {
        if on {
            Span::styled(format!("▸[ {label} ]"), t.selected())
        } else {
            Span::raw(format!(" [ {label} ]"))
        }
    };
    lines.push(
        Line::from(vec![
            button("Cancel", !d.yes),
            Span::raw("   "),
            button(d.change.verb(), d.yes),
        ])
        .alignment(Alignment::Center),
    );
    lines.push(
        Line::styled("y yes · n/Esc no · ←→ choose · ⏎ press", t.dim())
            .alignment(Alignment::Center),
    );
    let inner_width = width.saturating_sub(2).max(1) as usize;
    // word wrapping can take a row more than the width alone says
    let rows: usize = lines
        .iter()
        .map(|l| {
            let w = l.width();
            if w <= inner_width {
                1
            } else {
                w.div_ceil(inner_width) + 1
            }
        })
        .sum();
    let area = layout::centered(area, width, rows as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::default().borders(Borders::ALL).title(" Confirm ")),
        area,
    );
}

/// Cuts a line into rows of `width` characters, keeping each piece's style.
pub fn wrap_line(line: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut rows: Vec<Line> = vec![Line::default()];
    let mut used = 0;
    for span in line.spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            if used == width {
                if !piece.is_empty() {
                    if let Some(row) = rows.last_mut() {
                        row.spans
                            .push(Span::styled(std::mem::take(&mut piece), span.style));
                    }
                }
                rows.push(Line::default());
                used = 0;
            }
            piece.push(c);
            used += 1;
        }
        if !piece.is_empty() {
            if let Some(row) = rows.last_mut() {
                row.spans.push(Span::styled(piece, span.style));
            }
        }
    }
    rows
}
