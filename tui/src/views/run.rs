//! One flow run: its facts and state history, its task runs, and its logs following live.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;
use rigel_common::state::StateType;
use uuid::Uuid;

use super::logs::LogPane;
use super::params::value_text;
use super::runs::{cancel, state_cell};
use super::{Cx, Handled};
use crate::app::Action;
use crate::msg::RunDetails;
use crate::store::{is_late, RunRow};
use crate::ui::format;
use crate::ui::layout::{log_pane, run_areas};

pub struct RunView {
    pub id: Uuid,
    pub details: Option<RunDetails>,
    pub logs: LogPane,
}

impl RunView {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            details: None,
            logs: LogPane::new(),
        }
    }

    /// The run as lists know it, refreshed by the details when they have arrived.
    fn row(&self, cx: &Cx) -> Option<RunRow> {
        match &self.details {
            Some(d) => Some(RunRow::from(&d.run)),
            None => cx.store.run(self.id).cloned(),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        let (width, height) = log_pane(cx.size);
        if self.logs.searching {
            return self.logs.on_key(key, width, height);
        }
        match key.code {
            KeyCode::Char('c') => match self.row(cx) {
                Some(run) => cancel(&run),
                None => Handled::Consumed,
            },
            KeyCode::Char('d') => match self.row(cx).and_then(|r| r.deployment_id) {
                Some(id) => Handled::Do(Action::OpenDeployment(id)),
                None => Handled::Consumed,
            },
            _ => self.logs.on_key(key, width, height),
        }
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        let t = cx.theme;
        let mut spans = vec![Span::styled(" Flow run ", t.title())];
        match self.row(cx) {
            Some(r) => {
                spans.push(Span::raw(format!("{}  ", r.name)));
                spans.push(state_cell(&r, t));
                spans.push(Span::raw(format!(
                    "  {}",
                    cx.store.deployment_name(r.deployment_id)
                )));
            }
            None => spans.push(Span::raw(self.id.to_string())),
        }
        Line::from(spans)
    }

    fn facts(&self, cx: &Cx, height: usize) -> Vec<Line<'static>> {
        let t = cx.theme;
        let Some(row) = self.row(cx) else {
            return vec![Line::styled("Loading…", t.dim())];
        };
        let field = |name: &str, value: String| {
            Line::from(vec![
                Span::styled(format!("{name:<10}"), t.key()),
                Span::raw(value),
            ])
        };
        let mut lines = Vec::new();
        let since = format!(
            "  {}, {}",
            format::clock(row.state_since),
            format::ago(cx.now, row.state_since)
        );
        lines.push(Line::from(vec![
            Span::styled(format!("{:<10}", "State"), t.key()),
            state_cell(&row, t),
            Span::styled(since, t.dim()),
        ]));
        let agent = row.agent_id.map_or("-".to_string(), |id| {
            cx.store
                .agent(id)
                .map_or(id.to_string(), |a| a.name.clone())
        });
        let queue = row
            .work_queue_id
            .and_then(|id| cx.store.queue(id))
            .map_or("-".to_string(), |q| q.queue.name.clone());
        lines.push(field("Agent", format!("{agent}  queue {queue}")));
        lines.push(field(
            "Expected",
            format!("{} UTC", format::time(row.expected_start)),
        ));
        let took = row
            .run_seconds(cx.now)
            .map_or("-".to_string(), format::span);
        lines.push(field(
            "Ran",
            format!(
                "{} → {}  ({took})",
                row.start.map_or("-".into(), format::clock),
                row.end.map_or("-".into(), format::clock)
            ),
        ));
        if let Some(d) = &self.details {
            let params: Vec<String> = d
                .run
                .parameters
                .iter()
                .map(|(k, v)| format!("{k}={}", value_text(v)))
                .collect();
            lines.push(field(
                "Params",
                if params.is_empty() {
                    "-".into()
                } else {
                    params.join(" ")
                },
            ));
            lines.push(Line::styled("History", t.title()));
            let room = height.saturating_sub(lines.len()).max(1);
            let skip = d.states.len().saturating_sub(room);
            for s in d.states.iter().skip(skip) {
                let late = is_late(s.kind, &s.name);
                let mut spans = vec![
                    Span::styled(format!("{} ", format::clock(s.timestamp)), t.dim()),
                    Span::styled(
                        format!("{} {}", format::state_glyph(s.kind, late), s.name),
                        t.state(s.kind, late),
                    ),
                ];
                if let Some(m) = &s.message {
                    spans.push(Span::styled(format!("  {m}"), t.dim()));
                }
                lines.push(Line::from(spans));
            }
        }
        lines
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let parts = run_areas(area);
        let facts = self.facts(cx, parts.facts.height as usize);
        let pad = |r: Rect| Rect::new(r.x + 1, r.y, r.width.saturating_sub(1), r.height);
        frame.render_widget(Paragraph::new(facts), pad(parts.facts));
        self.render_tasks(frame, parts.tasks, cx);
        let keys = if self.logs.searching {
            "Enter keep · Esc clear"
        } else {
            "/ search · n/N · m matches · w wrap · t times · f follow"
        };
        let title = Line::from(vec![
            Span::styled(" Logs ", t.title()),
            Span::raw(self.logs.status()),
            Span::styled(format!("  {keys}"), t.dim()),
        ]);
        frame.render_widget(Paragraph::new(title).style(t.bar()), parts.logs_title);
        self.logs.render(frame, parts.logs, t);
    }

    fn render_tasks(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let tasks = self
            .details
            .as_ref()
            .map(|d| d.tasks.as_slice())
            .unwrap_or(&[]);
        if tasks.is_empty() {
            frame.render_widget(
                Paragraph::new(vec![
                    Line::styled("TASK RUNS", t.header()),
                    Line::styled("none", t.dim()),
                ]),
                area,
            );
            return;
        }
        let rows: Vec<Row> = tasks
            .iter()
            .take(area.height.saturating_sub(1) as usize)
            .map(|task| {
                let late = false;
                let took = match task.state.kind {
                    StateType::Running => {
                        task.total_run_time
                            + (cx.now - task.state.timestamp).num_milliseconds().max(0) as f64
                                / 1000.0
                    }
                    _ => task.total_run_time,
                };
                Row::new(vec![
                    Cell::from(Span::styled(
                        format!(
                            "{} {}",
                            format::state_glyph(task.state.kind, late),
                            task.state.name
                        ),
                        t.state(task.state.kind, late),
                    )),
                    Cell::from(task.name.clone()),
                    Cell::from(if task.start_time.is_some() {
                        format::span(took)
                    } else {
                        "-".into()
                    }),
                ])
            })
            .collect();
        let table = Table::new(
            rows,
            [
                Constraint::Length(12),
                Constraint::Fill(1),
                Constraint::Length(8),
            ],
        )
        .header(Row::new(vec!["TASK RUNS", "", ""]).style(t.header()));
        frame.render_widget(table, area);
    }
}
