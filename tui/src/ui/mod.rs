//! Drawing. [`draw`] reads the app and never changes it.

mod bars;
pub mod format;
pub mod layout;
pub mod list;
pub mod theme;

use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use crate::app::{App, Dialog, Overlay, Root, View};
use crate::views::help::{self, HelpText, Keys};

pub fn draw(app: &App, frame: &mut Frame) {
    let a = layout::areas(frame.area());
    let cx = app.cx();
    bars::draw_header(app, frame, a.header);
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
    bars::draw_footer(app, frame, a.footer);
    match &app.overlay {
        Some(Overlay::Help) => {
            let (view, keys) = view_keys(app);
            let text = HelpText {
                view,
                may_change: app.may_change(),
                note: app.read_only_reason().map(|r| format!("READ-ONLY: {r}")),
            };
            help::render(frame, a.body, text, keys, app.theme);
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
