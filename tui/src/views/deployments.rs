//! The start view: every deployment, filtered as you type and sorted by a chosen key.

use std::cmp::Ordering;

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row};
use ratatui::Frame;
use tui_input::Input;
use uuid::Uuid;

use super::{edit, Cx, Handled};
use crate::app::{Action, RunScope};
use crate::msg::Change;
use crate::store::{DeploymentFacts, Store};
use crate::ui::format;
use crate::ui::layout::list_rows;
use crate::ui::list::{filter_spans, nav_key, ListCursor, WindowTable};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Name,
    NextRun,
    /// Newest run's state: failures first.
    Health,
    Updated,
}

impl SortKey {
    fn next(self) -> Self {
        match self {
            SortKey::Name => SortKey::NextRun,
            SortKey::NextRun => SortKey::Health,
            SortKey::Health => SortKey::Updated,
            SortKey::Updated => SortKey::Name,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SortKey::Name => "name",
            SortKey::NextRun => "next run",
            SortKey::Health => "last run",
            SortKey::Updated => "updated",
        }
    }
}

pub struct DeploymentsView {
    pub filter: Input,
    pub editing: bool,
    pub sort: SortKey,
    pub descending: bool,
    /// Every deployment (store indexes), in sort order; rebuilt when the data or sort changes.
    order: Vec<u32>,
    /// The filtered subset of `order`; rebuilt on each filter keystroke.
    pub visible: Vec<u32>,
    pub cursor: ListCursor,
}

impl Default for DeploymentsView {
    fn default() -> Self {
        Self {
            filter: Input::default(),
            editing: false,
            sort: SortKey::Name,
            descending: false,
            order: Vec::new(),
            visible: Vec::new(),
            cursor: ListCursor::default(),
        }
    }
}

/// Failures first, then the rest; deployments without runs last.
fn health_rank(f: &DeploymentFacts) -> u8 {
    use rigel_common::state::StateType::*;
    match f.last_state {
        Some(Failed | Crashed) => 0,
        Some(Cancelled | Cancelling) => 1,
        Some(Running | Pending) => 2,
        Some(Completed) => 3,
        Some(Scheduled) => 4,
        None => 5,
    }
}

impl DeploymentsView {
    /// The selected deployment's id.
    pub fn selected(&self, store: &Store) -> Option<Uuid> {
        let i = self.cursor.pick(&self.visible)?;
        store.deployments.get(i).map(|d| d.id)
    }

    /// Re-sorts after new data or a new sort key, keeping deployment `keep` selected.
    pub fn resort(&mut self, store: &Store, size: (u16, u16), keep: Option<Uuid>) {
        let facts = &store.facts;
        let deps = &store.deployments;
        let mut order: Vec<u32> = (0..deps.len() as u32).collect();
        let by_name = |a: usize, b: usize| facts[a].full_name.cmp(&facts[b].full_name);
        let cmp = |a: &u32, b: &u32| -> Ordering {
            let (a, b) = (*a as usize, *b as usize);
            let primary = match self.sort {
                SortKey::Name => Ordering::Equal,
                // no next run sorts last
                SortKey::NextRun => match (facts[a].next_run, facts[b].next_run) {
                    (Some(x), Some(y)) => x.cmp(&y),
                    (Some(_), None) => Ordering::Less,
                    (None, Some(_)) => Ordering::Greater,
                    (None, None) => Ordering::Equal,
                },
                SortKey::Health => health_rank(&facts[a]).cmp(&health_rank(&facts[b])),
                SortKey::Updated => deps[b].updated.cmp(&deps[a].updated),
            };
            primary.then_with(|| by_name(a, b))
        };
        order.sort_by(cmp);
        if self.descending {
            order.reverse();
        }
        self.order = order;
        self.refilter(store, size, keep);
    }

    /// Applies the filter: every word must occur in `flow/name tags`.
    fn refilter(&mut self, store: &Store, size: (u16, u16), keep: Option<Uuid>) {
        let query = self.filter.value().to_lowercase();
        let words: Vec<&str> = query.split_whitespace().collect();
        self.visible.clear();
        self.visible.extend(self.order.iter().copied().filter(|&i| {
            let key = &store.facts[i as usize].search_key;
            words.iter().all(|w| key.contains(w))
        }));
        let found = keep.and_then(|id| {
            self.visible
                .iter()
                .position(|&i| store.deployments[i as usize].id == id)
        });
        let rows = list_rows(size);
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
                    self.refilter(cx.store, cx.size, self.selected(cx.store));
                }
                KeyCode::Up | KeyCode::Down => {
                    if let Some(nav) = nav_key(&key) {
                        self.cursor.apply(nav, self.visible.len(), rows);
                    }
                }
                _ => {
                    if edit(&mut self.filter, key) {
                        self.cursor = ListCursor::default();
                        self.refilter(cx.store, cx.size, None);
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(nav) = nav_key(&key) {
            self.cursor.apply(nav, self.visible.len(), rows);
            return Handled::Consumed;
        }
        let selected = self
            .selected(cx.store)
            .and_then(|id| cx.store.deployment(id));
        match key.code {
            KeyCode::Char('/') => {
                self.editing = true;
                Handled::Consumed
            }
            KeyCode::Esc if !self.filter.value().is_empty() => {
                self.filter.reset();
                self.refilter(cx.store, cx.size, self.selected(cx.store));
                Handled::Consumed
            }
            KeyCode::Char('s') => {
                self.sort = self.sort.next();
                self.resort(cx.store, cx.size, self.selected(cx.store));
                Handled::Consumed
            }
            KeyCode::Char('S') => {
                self.descending = !self.descending;
                self.resort(cx.store, cx.size, self.selected(cx.store));
                Handled::Consumed
            }
            KeyCode::Enter => selected.map_or(Handled::Consumed, |(d, _)| {
                Handled::Do(Action::OpenDeployment(d.id))
            }),
            KeyCode::Char('l') => selected.map_or(Handled::Consumed, |(d, _)| {
                Handled::Do(Action::ShowRuns(RunScope::Deployment(d.id)))
            }),
            KeyCode::Char('r') => selected.map_or(Handled::Consumed, |(d, f)| {
                Handled::Do(Action::Propose(Change::QuickRun {
                    deployment_id: d.id,
                    deployment: f.full_name.clone(),
                }))
            }),
            KeyCode::Char('R') => selected.map_or(Handled::Consumed, |(d, _)| {
                Handled::Do(Action::OpenCustomRun(d.id))
            }),
            KeyCode::Char('p') => selected.map_or(Handled::Consumed, |(d, f)| {
                Handled::Do(Action::Propose(Change::SetScheduleActive {
                    deployment_id: d.id,
                    deployment: f.full_name.clone(),
                    active: !d.is_schedule_active,
                }))
            }),
            _ => Handled::Ignored,
        }
    }

    pub fn title(&self, cx: &Cx) -> Line<'static> {
        let t = cx.theme;
        let mut spans = vec![
            Span::styled(" Deployments ", t.title()),
            Span::raw(format!(
                "{}/{}",
                self.visible.len(),
                cx.store.deployments.len()
            )),
        ];
        spans.extend(filter_spans(&self.filter, self.editing, t));
        let arrow = if self.descending { "↓" } else { "↑" };
        spans.push(Span::styled(
            format!("  sort: {} {arrow}", self.sort.label()),
            t.dim(),
        ));
        Line::from(spans)
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, cx: &Cx) {
        let t = cx.theme;
        let store = cx.store;
        if store.deployments.is_empty() {
            let text = if store.fetched_at.is_some() {
                " No deployments yet. Create one with `rigel deployment create FILE`."
            } else {
                " Loading…"
            };
            frame.render_widget(Line::styled(text, t.dim()), area);
            return;
        }
        let wide = area.width >= 120;
        let mut widths = vec![
            Constraint::Fill(3),
            Constraint::Length(if wide { 30 } else { 12 }),
            Constraint::Length(7),
            Constraint::Length(6),
            Constraint::Fill(1),
            Constraint::Length(10),
        ];
        let mut header = vec![
            "DEPLOYMENT",
            "SCHEDULE",
            "NEXT",
            "STATUS",
            "TAGS",
            "LAST RUNS",
        ];
        if wide {
            widths.insert(3, Constraint::Length(17));
            header.insert(3, "NEXT AT (UTC)");
        }
        let sched_width = if wide { 30 } else { 12 };
        let table = WindowTable {
            header: Row::new(header),
            widths,
            cursor: self.cursor,
            len: self.visible.len(),
            theme: t,
        };
        table.render(frame, area, |i| {
            let idx = self.visible[i] as usize;
            let d = &store.deployments[idx];
            let f = &store.facts[idx];
            let next = f
                .next_run
                .map_or_else(|| "-".to_string(), |at| format::until(cx.now, at));
            let status = match (&d.schedule, d.is_schedule_active) {
                (None, _) => Span::styled("-", t.dim()),
                (Some(_), true) => Span::styled("active", t.good()),
                (Some(_), false) => Span::styled("paused", t.warn()),
            };
            let strip: Vec<Span> = f
                .strip
                .iter()
                .map(|(s, late)| {
                    Span::styled(format::state_glyph(s, late).to_string(), t.state(s, late))
                })
                .collect();
            let mut cells = vec![
                Cell::from(f.full_name.clone()),
                Cell::from(format::fit(&f.schedule_words, sched_width)),
                Cell::from(next),
                Cell::from(Line::from(status)),
                Cell::from(Span::styled(d.tags.join(","), Style::new())),
                Cell::from(Line::from(strip)),
            ];
            if wide {
                cells.insert(3, Cell::from(format::minute(f.next_run)));
            }
            Row::new(cells)
        });
    }
}
