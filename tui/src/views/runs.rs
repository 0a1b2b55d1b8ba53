//! Flow runs, newest first: by state, faults only, one deployment's or queue's, or by text.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;
use rigel_common::state::StateType;
use tui_input::Input;
use uuid::Uuid;

use super::{edit, Cx, Handled};
use crate::app::{Action, RunScope};
use crate::msg::Change;
use crate::store::{RunRow, Store};
use crate::ui::format;
use crate::ui::layout::list_rows;
use crate::ui::list::{filter_spans, nav_key, ListCursor, WindowTable};
use crate::ui::theme::Theme;

#[derive(Default)]
pub struct RunsView {
    pub filter: Input,
    pub editing: bool,
    /// Only runs in this state type.
    pub state: Option<StateType>,
    /// Only failed, crashed and late runs.
    pub faults: bool,
    /// Also runs scheduled for later (hidden unless asked for, or filtered by Scheduled).
    pub upcoming: bool,
    /// How many scheduled runs the last filtering left out.
    pub hidden_upcoming: usize,
    /// When the earliest of those is due: from then on it belongs in the list.
    pub next_reveal: Option<DateTime<Utc>>,
    pub scope: RunScope,
    /// Store indexes of the runs shown, newest first.
    pub visible: Vec<u32>,
    pub cursor: ListCursor,
}

/// The state filter's cycle: every type, then none.
fn next_state(state: Option<StateType>) -> Option<StateType> {
    match state {
        None => Some(StateType::ALL[0]),
        Some(s) => {
            let i = StateType::ALL.iter().position(|t| *t == s).unwrap_or(0);
            StateType::ALL.get(i + 1).copied()
        }
    }
}

/// `✓ Completed`: glyph and word.
pub fn state_cell(run: &RunRow, t: Theme) -> Span<'static> {
    let late = run.is_late();
    Span::styled(
        format!(
            "{} {}",
            format::state_glyph(run.state, late),
            run.state_name()
        ),
        t.state(run.state, late),
    )
}

/// `c` on a run: asks to cancel it, or says it has already finished.
pub fn cancel(run: &RunRow) -> Handled {
    if run.state.is_terminal() {
        return Handled::Do(Action::Flash(format!(
            "Flow run '{}' has already finished ({}).",
            run.name,
            run.state_name()
        )));
    }
    Handled::Do(Action::Propose(Change::CancelRun {
        run_id: run.id,
        run: run.name.to_string(),
    }))
}

impl RunsView {
    pub fn selected(&self, store: &Store) -> Option<Uuid> {
        let i = self.cursor.pick(&self.visible)?;
        store.runs.get(i).map(|r| r.id)
    }

    /// Re-applies the filters (after new data or a filter change), keeping `keep` selected.
    /// Runs scheduled after `now` are "later" ones.
    pub fn refilter(
        &mut self,
        store: &Store,
        size: (u16, u16),
        now: DateTime<Utc>,
        keep: Option<Uuid>,
    ) {
        let query = self.filter.value().to_lowercase();
        self.visible.clear();
        self.hidden_upcoming = 0;
        self.next_reveal = None;
        let show_upcoming = self.upcoming || self.state == Some(StateType::Scheduled);
        // deployments are matched once, not once per run
        let deployment_matches: Vec<bool> = store
            .facts
            .iter()
            .map(|f| !query.is_empty() && f.lower_name().contains(query.as_str()))
            .collect();
        for (i, run) in store.runs.iter().enumerate() {
            let in_scope = match self.scope {
                RunScope::All => true,
                RunScope::Deployment(id) => run.deployment_id == Some(id),
                RunScope::Queue(id) => run.work_queue_id == Some(id),
            };
            if !in_scope
                || self.state.is_some_and(|s| run.state != s)
                || (self.faults && !run.is_fault())
            {
                continue;
            }
            let later = run.state == StateType::Scheduled
                && !run.is_late()
                && run.expected_start.is_some_and(|at| at > now);
            if !show_upcoming && later {
                self.hidden_upcoming += 1;
                if let Some(at) = run.expected_start {
                    self.next_reveal = Some(self.next_reveal.map_or(at, |t| t.min(at)));
                }
                continue;
            }
            if !query.is_empty()
                && !run.name.contains(query.as_str())
                && !store
                    .run_deployment(i)
                    .is_some_and(|d| deployment_matches[d])
            {
                continue;
            }
            self.visible.push(i as u32);
        }
        let rows = list_rows(size);
        let found = keep.and_then(|id| {
            self.visible
                .iter()
                .position(|&i| store.runs[i as usize].id == id)
        });
        match found {
            Some(pos) => self.cursor.select(pos, self.visible.len(), rows),
            None => self.cursor.keep_visible(self.visible.len(), rows),
        }
    }

    pub fn on_key(&mut self, key: KeyEvent, cx: &Cx) -> Handled {
        let rows = list_rows(cx.size);
        if self.editing {
            match key.code {
                KeyCode::Enter => self.editing = false,
                KeyCode::Esc => {
                    self.editing = false;
                    self.filter.reset();
                    self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
                }
                _ => {
                    if edit(&mut self.filter, key) {
                        self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(nav) = nav_key(&key) {
            self.cursor.apply(nav, self.visible.len(), rows);
            return Handled::Consumed;
        }
        let selected = self.selected(cx.store).and_then(|id| cx.store.run(id));
        match key.code {
            KeyCode::Char('/') => self.editing = true,
            KeyCode::Esc if !self.filter.value().is_empty() => {
                self.filter.reset();
                self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
            }
            KeyCode::Char('f') => {
                self.state = next_state(self.state);
                self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
            }
            KeyCode::Char('x') => {
                self.faults = !self.faults;
                self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
            }
            KeyCode::Char('u') => {
                self.upcoming = !self.upcoming;
                self.refilter(cx.store, cx.size, cx.now, self.selected(cx.store));
            }
            KeyCode::Enter => {
                if let Some(run) = selected {
                    return Handled::Do(Action::OpenRun(run.id));
                }
            }
            KeyCode::Char('d') => {
                if let Some(id) = selected.and_then(|r| r.deployment_id) {
                    return Handled::Do(Action::OpenDeployment(id));
                }
            }
            KeyCode::Char('c') => {
                if let Some(run) = selected {
                    return cancel(run);
                }
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        let t = cx.theme;
        let mut spans = vec![
            Span::styled(" Flow runs ", t.title()),
            Span::raw(format!("{}/{}", self.visible.len(), cx.store.run_total)),
        ];
        match self.scope {
            RunScope::All => {}
            RunScope::Deployment(id) => spans.push(Span::raw(format!(
                "  of {}",
                cx.store.deployment_name(Some(id))
            ))),
            RunScope::Queue(id) => spans.push(Span::raw(format!(
                "  in queue {}",
                cx.store.queue(id).map_or("?", |q| q.queue.name.as_str())
            ))),
        }
        if let Some(s) = self.state {
            spans.push(Span::styled("  state: ", t.key()));
            spans.push(Span::raw(s.default_name()));
        }
        if self.faults {
            spans.push(Span::styled("  faults only", t.warn()));
        }
        if self.hidden_upcoming > 0 {
            spans.push(Span::styled(
                format!("  +{} scheduled later (u)", self.hidden_upcoming),
                t.dim(),
            ));
        } else if self.upcoming {
            spans.push(Span::styled("  with scheduled", t.dim()));
        }
        spans.extend(filter_spans(&self.filter, self.editing, t));
        Line::from(spans)
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let store = cx.store;
        if self.visible.is_empty() {
            let text = if store.fetched_at.is_none() {
                " Loading…"
            } else if store.runs.is_empty() {
                " No flow runs yet. Start one with r on a deployment."
            } else {
                " No runs match (f: state filter, x: faults only, /: text)."
            };
            frame.render_widget(Line::styled(text, t.dim()), area);
            return;
        }
        let wide = area.width >= 120;
        let mut widths = vec![
            Constraint::Length(13),
            Constraint::Length(if wide { 22 } else { 15 }),
            Constraint::Fill(2),
            Constraint::Length(11),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        let mut header = vec![
            "STATE",
            "RUN",
            "DEPLOYMENT",
            "START (UTC)",
            "DURATION",
            "AGENT",
        ];
        if wide {
            widths.push(Constraint::Fill(1));
            header.push("QUEUE");
        }
        let table = WindowTable {
            header: Row::new(header),
            widths,
            cursor: self.cursor,
            len: self.visible.len(),
            theme: t,
        };
        table.render(frame, area, |i| {
            let run = &store.runs[self.visible[i] as usize];
            let agent = run
                .agent_id
                .map(|id| store.agent(id).map_or("?", |a| a.name.as_str()))
                .unwrap_or("-");
            let duration = run
                .run_seconds(cx.now)
                .map_or_else(|| "-".to_string(), format::span);
            let mut cells = vec![
                Cell::from(state_cell(run, t)),
                Cell::from(run.name.to_string()),
                Cell::from(store.deployment_name(run.deployment_id).to_string()),
                Cell::from(format::short_time(run.sort_time())),
                Cell::from(duration),
                Cell::from(agent.to_string()),
            ];
            if wide {
                let queue = run
                    .work_queue_id
                    .and_then(|id| store.queue(id))
                    .map_or("-", |q| q.queue.name.as_str());
                cells.push(Cell::from(queue.to_string()));
            }
            Row::new(cells)
        });
    }
}
