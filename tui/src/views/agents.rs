//! Agents: who is polling which queue, how recently, and what it is running.

use ratatui::crossterm::event::KeyEvent;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;
use rigel_common::agent::AgentStatus;

use super::{Cx, Handled};
use crate::ui::format;
use crate::ui::layout::list_rows;
use crate::ui::list::{nav_key, ListCursor, WindowTable};

#[derive(Default)]
pub struct AgentsView {
    pub cursor: ListCursor,
}

impl AgentsView {
    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        match nav_key(&key) {
            Some(nav) => {
                self.cursor
                    .apply(nav, cx.store.agents.len(), list_rows(cx.size));
                Handled::Consumed
            }
            None => Handled::Ignored,
        }
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        Line::from(vec![
            Span::styled(" Agents ", cx.theme.title()),
            Span::raw(format!(
                "{} online / {}",
                cx.store.agents_online(),
                cx.store.agents.len()
            )),
        ])
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let store = cx.store;
        if store.agents.is_empty() {
            let text = if store.fetched_at.is_none() {
                " Loading…"
            } else {
                " No agents. Start one with `rigel agent start QUEUE`."
            };
            frame.render_widget(Line::styled(text, t.dim()), area);
            return;
        }
        let wide = area.width >= 120;
        let mut widths = vec![
            Constraint::Fill(2),
            Constraint::Fill(1),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(10),
            Constraint::Length(7),
        ];
        let mut header = vec!["AGENT", "QUEUE", "HOST", "STATUS", "HEARTBEAT", "RUNNING"];
        if wide {
            widths.extend([Constraint::Length(8), Constraint::Length(16)]);
            header.extend(["PID", "STARTED (UTC)"]);
        }
        let table = WindowTable {
            header: Row::new(header),
            widths,
            cursor: self.cursor,
            len: store.agents.len(),
            theme: t,
        };
        table.render(frame, area, |i| {
            let a = &store.agents[i];
            let (glyph, word) = format::agent_status(a.status);
            let style = match a.status {
                AgentStatus::Online => t.good(),
                AgentStatus::Stale => t.warn(),
                AgentStatus::Offline => t.dim(),
            };
            let mut cells = vec![
                Cell::from(a.name.clone()),
                Cell::from(a.work_queue_name.clone()),
                Cell::from(a.hostname.clone().unwrap_or_else(|| "-".into())),
                Cell::from(Span::styled(format!("{glyph} {word}"), style)),
                Cell::from(format::ago(cx.now, a.last_heartbeat)),
                Cell::from(a.runs_in_flight.len().to_string()),
            ];
            if wide {
                cells.push(Cell::from(a.pid.map_or("-".into(), |p| p.to_string())));
                cells.push(Cell::from(format::minute(Some(a.started))));
            }
            Row::new(cells)
        });
    }
}
