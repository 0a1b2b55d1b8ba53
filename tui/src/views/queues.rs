//! Work queues: health, late runs, last poll, concurrency; pause and resume.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;
use rigel_common::work_queue::QueueHealth;

use super::{Cx, Handled};
use crate::app::{Action, RunScope};
use crate::msg::Change;
use crate::ui::format;
use crate::ui::layout::list_rows;
use crate::ui::list::{nav_key, ListCursor, WindowTable};

#[derive(Default)]
pub struct QueuesView {
    pub cursor: ListCursor,
}

impl QueuesView {
    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        let len = cx.store.queues.len();
        if let Some(nav) = nav_key(&key) {
            self.cursor.apply(nav, len, list_rows(cx.size));
            return Handled::Consumed;
        }
        let Some(row) = cx.store.queues.get(self.cursor.selected) else {
            return Handled::Ignored;
        };
        match key.code {
            KeyCode::Char('p') => Handled::Do(Action::Propose(Change::SetQueuePaused {
                queue_id: row.queue.id,
                queue: row.queue.name.clone(),
                paused: !row.queue.is_paused,
            })),
            KeyCode::Enter | KeyCode::Char('l') => {
                Handled::Do(Action::ShowRuns(RunScope::Queue(row.queue.id)))
            }
            _ => Handled::Ignored,
        }
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        Line::from(vec![
            Span::styled(" Work queues ", cx.theme.title()),
            Span::raw(cx.store.queues.len().to_string()),
        ])
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let store = cx.store;
        if store.queues.is_empty() {
            let text = if store.fetched_at.is_none() {
                " Loading…"
            } else {
                " No work queues yet. `rigel agent start QUEUE` creates one."
            };
            frame.render_widget(Line::styled(text, t.dim()), area);
            return;
        }
        let wide = area.width >= 120;
        let mut widths = vec![
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(5),
            Constraint::Length(7),
            Constraint::Length(11),
            Constraint::Length(11),
        ];
        let mut header = vec!["QUEUE", "STATUS", "LATE", "ACTIVE", "LIMIT", "LAST POLLED"];
        if wide {
            widths.push(Constraint::Fill(2));
            header.push("FILTER");
        }
        let table = WindowTable {
            header: Row::new(header),
            widths,
            cursor: self.cursor,
            len: store.queues.len(),
            theme: t,
        };
        table.render(frame, area, |i| {
            let row = &store.queues[i];
            let q = &row.queue;
            let health = row
                .status
                .as_ref()
                .map(|s| s.status)
                .unwrap_or(if q.is_paused {
                    QueueHealth::Paused
                } else {
                    QueueHealth::NotReady
                });
            let (glyph, word) = format::queue_health(health);
            let style = match health {
                QueueHealth::Ready => t.good(),
                QueueHealth::Paused => t.warn(),
                QueueHealth::NotReady => t.dim(),
            };
            let late = row.status.as_ref().map_or(0, |s| s.late_runs);
            let late = if late > 0 {
                Span::styled(late.to_string(), t.warn())
            } else {
                Span::raw("0")
            };
            let active = row
                .status
                .as_ref()
                .map_or("-".to_string(), |s| s.active_runs.to_string());
            let limit = q
                .concurrency_limit
                .map_or("unlimited".to_string(), |l| l.to_string());
            let polled = q
                .last_polled
                .map_or("never".to_string(), |p| format::ago(cx.now, p));
            let mut cells = vec![
                Cell::from(q.name.clone()),
                Cell::from(Span::styled(format!("{glyph} {word}"), style)),
                Cell::from(late),
                Cell::from(active),
                Cell::from(limit),
                Cell::from(polled),
            ];
            if wide {
                let mut parts = Vec::new();
                if !q.filter.tags.is_empty() {
                    parts.push(format!("tags {}", q.filter.tags.join(",")));
                }
                if let Some(ids) = &q.filter.deployment_ids {
                    let names: Vec<&str> = ids
                        .iter()
                        .map(|id| store.deployment_name(Some(*id)))
                        .collect();
                    parts.push(format!("deployments {}", names.join(",")));
                }
                if let Some(kinds) = &q.filter.flow_runner_types {
                    let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
                    parts.push(format!("runners {}", kinds.join(",")));
                }
                cells.push(Cell::from(if parts.is_empty() {
                    "any run".to_string()
                } else {
                    parts.join("; ")
                }));
            }
            Row::new(cells)
        });
    }
}
