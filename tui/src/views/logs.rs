//! A run's log pane: follows new records, scrolls, wraps, hides or shows timestamps, and
//! searches — matches are highlighted and the lines around them stay in view.

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;
use rigel_common::log::Log;
use tui_input::Input;

use super::{edit, Handled};
use crate::net::MAX_LOG_RECORDS;
use crate::ui::list::{nav_key, Nav};
use crate::ui::theme::Theme;
use crate::ui::{format, wrap_line};

/// Lines kept above and below each match in "matches only" mode.
pub const CONTEXT: usize = 2;

/// Marks a gap between groups of matches in [`LogPane::shown`].
const GAP: usize = usize::MAX;

/// One line on screen (a record's message may hold several).
#[derive(Debug, Clone)]
struct LogLine {
    timestamp: DateTime<Utc>,
    level: u8,
    text: String,
    /// The record's first line carries its time and level.
    first: bool,
}

#[derive(Default)]
pub struct LogPane {
    lines: Vec<LogLine>,
    records: usize,
    /// Stick to the newest line.
    pub follow: bool,
    /// Index in [`Self::shown`] of the first line on screen, when not following.
    pub top: usize,
    pub wrap: bool,
    pub timestamps: bool,
    pub search: Input,
    pub searching: bool,
    /// Lines containing the search text.
    pub matches: Vec<usize>,
    /// Which match `n`/`N` are at.
    pub current: Option<usize>,
    /// Show only matches and [`CONTEXT`] lines around each.
    pub only_matches: bool,
}

impl LogPane {
    pub fn new() -> Self {
        Self {
            follow: true,
            timestamps: true,
            ..Self::default()
        }
    }

    pub fn push(&mut self, logs: &[Log], reset: bool) {
        if reset {
            self.lines.clear();
            self.records = 0;
        }
        for log in logs {
            self.records += 1;
            for (i, text) in log.message.split('\n').enumerate() {
                self.lines.push(LogLine {
                    timestamp: log.timestamp,
                    level: log.level,
                    text: text.trim_end_matches('\r').to_string(),
                    first: i == 0,
                });
            }
        }
        // keep memory bounded on endless logs
        let max_lines = MAX_LOG_RECORDS * 2;
        if self.lines.len() > max_lines {
            let cut = self.lines.len() - max_lines;
            self.lines.drain(..cut);
            self.top = self.top.saturating_sub(cut);
        }
        self.find();
    }

    fn query(&self) -> String {
        self.search.value().to_lowercase()
    }

    /// Recomputes the matches of the search text.
    fn find(&mut self) {
        let q = self.query();
        self.matches.clear();
        if !q.is_empty() {
            self.matches.extend(
                self.lines
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| l.text.to_lowercase().contains(&q))
                    .map(|(i, _)| i),
            );
        }
        self.current = self
            .current
            .filter(|c| *c < self.matches.len())
            .or((!self.matches.is_empty()).then_some(0));
    }

    /// The line indexes on screen in order ([`GAP`] between match groups).
    pub fn shown(&self) -> Vec<usize> {
        if !self.only_matches || self.search.value().is_empty() {
            return (0..self.lines.len()).collect();
        }
        let mut out: Vec<usize> = Vec::new();
        let mut last_end = 0usize;
        for &m in &self.matches {
            let start = m.saturating_sub(CONTEXT).max(last_end);
            let end = (m + CONTEXT + 1).min(self.lines.len());
            if start > last_end || (out.is_empty() && start > 0) {
                out.push(GAP);
            }
            out.extend(start..end);
            last_end = last_end.max(end);
        }
        out
    }

    fn rows_of(&self, index: usize, width: usize) -> usize {
        if !self.wrap || index == GAP || width == 0 {
            return 1;
        }
        let line = &self.lines[index];
        let len = self.prefix_width() + unicode_width::UnicodeWidthStr::width(line.text.as_str());
        len.div_ceil(width).max(1)
    }

    /// The gutter, and the time and level when shown.
    fn prefix_width(&self) -> usize {
        if self.timestamps {
            19
        } else {
            1
        }
    }

    /// The first shown index on screen for a pane of `width` × `height`.
    pub fn start(&self, shown: &[usize], width: usize, height: usize) -> usize {
        if self.follow {
            self.bottom_start(shown, width, height)
        } else {
            self.top.min(shown.len().saturating_sub(1))
        }
    }

    /// Where the screen starts when it shows the newest lines.
    fn bottom_start(&self, shown: &[usize], width: usize, height: usize) -> usize {
        let mut rows = 0;
        let mut start = shown.len();
        while start > 0 {
            let r = self.rows_of(shown[start - 1], width);
            if rows + r > height {
                break;
            }
            rows += r;
            start -= 1;
        }
        start
    }

    /// Handles the pane's keys in a pane of `width` × `height`.
    pub fn on_key(&mut self, key: KeyEvent, width: usize, height: usize) -> Handled {
        if self.searching {
            match key.code {
                KeyCode::Enter => self.searching = false,
                KeyCode::Esc => {
                    self.searching = false;
                    self.search.reset();
                    self.only_matches = false;
                    self.find();
                }
                _ => {
                    if edit(&mut self.search, key) {
                        self.current = None;
                        self.find();
                        self.jump(height);
                    }
                }
            }
            return Handled::Consumed;
        }
        if let Some(nav) = nav_key(&key) {
            self.scroll(nav, width, height);
            return Handled::Consumed;
        }
        match key.code {
            KeyCode::Char('/') => self.searching = true,
            KeyCode::Char('w') => self.wrap = !self.wrap,
            KeyCode::Char('t') => self.timestamps = !self.timestamps,
            KeyCode::Char('f') => self.follow = !self.follow,
            KeyCode::Char('m') if !self.search.value().is_empty() => {
                self.only_matches = !self.only_matches;
                self.jump(height);
            }
            KeyCode::Char('n') | KeyCode::Char('N') if !self.matches.is_empty() => {
                let n = self.matches.len();
                let c = self.current.unwrap_or(0);
                self.current = Some(if key.code == KeyCode::Char('n') {
                    (c + 1) % n
                } else {
                    (c + n - 1) % n
                });
                self.jump(height);
            }
            KeyCode::Esc if !self.search.value().is_empty() => {
                self.search.reset();
                self.only_matches = false;
                self.find();
            }
            _ => return Handled::Ignored,
        }
        Handled::Consumed
    }

    fn scroll(&mut self, nav: Nav, width: usize, height: usize) {
        let shown = self.shown();
        let last = shown.len().saturating_sub(1);
        let bottom = self.bottom_start(&shown, width, height);
        let top = if self.follow { bottom } else { self.top };
        let page = height.max(1);
        let top = match nav {
            Nav::Up => top.saturating_sub(1),
            Nav::Down => top + 1,
            Nav::PageUp => top.saturating_sub(page),
            Nav::PageDown => top + page,
            Nav::Home => 0,
            Nav::End => last,
        };
        // scrolling to the end (or past it) follows again
        self.follow = top >= bottom;
        self.top = top.min(bottom);
    }

    /// Scrolls so the current match sits in the middle of the pane.
    fn jump(&mut self, height: usize) {
        let Some(line) = self.current.and_then(|c| self.matches.get(c)).copied() else {
            return;
        };
        let shown = self.shown();
        if let Some(pos) = shown.iter().position(|&i| i == line) {
            self.follow = false;
            self.top = pos.saturating_sub(height / 2);
        }
    }

    /// `42 lines · following · wrap · search "x" 3/7`.
    pub fn status(&self) -> String {
        let mut parts = vec![format!("{} records", self.records)];
        parts.push(if self.follow { "following" } else { "paused" }.to_string());
        if self.wrap {
            parts.push("wrap".into());
        }
        if !self.timestamps {
            parts.push("no times".into());
        }
        if !self.search.value().is_empty() || self.searching {
            let pos = match (self.current, self.matches.len()) {
                (_, 0) => "no match".to_string(),
                (Some(c), n) => format!("{}/{n}", c + 1),
                (None, n) => format!("{n} matches"),
            };
            let cursor = if self.searching { "█" } else { "" };
            parts.push(format!("/{}{cursor} {pos}", self.search.value()));
            if self.only_matches {
                parts.push(format!("matches ±{CONTEXT} lines"));
            }
        }
        parts.join(" · ")
    }

    pub fn render(&self, frame: &mut Frame, area: Rect, theme: Theme) {
        let (width, height) = (area.width as usize, area.height as usize);
        if self.lines.is_empty() {
            frame.render_widget(Line::styled(" No log records yet.", theme.dim()), area);
            return;
        }
        let shown = self.shown();
        let start = self.start(&shown, width, height);
        let query = self.query();
        let current = self.current.and_then(|c| self.matches.get(c)).copied();
        let mut out: Vec<Line> = Vec::with_capacity(height);
        for &index in shown.iter().skip(start) {
            if out.len() >= height {
                break;
            }
            if index == GAP {
                out.push(Line::styled("  ⋮", theme.dim()));
                continue;
            }
            let line = self.styled(index, &query, current == Some(index), theme);
            if self.wrap {
                out.extend(wrap_line(line, width));
            } else {
                out.push(line);
            }
        }
        out.truncate(height);
        frame.render_widget(Paragraph::new(out), area);
    }

    fn styled(&self, index: usize, query: &str, current: bool, t: Theme) -> Line<'static> {
        let line = &self.lines[index];
        let mut spans = vec![Span::styled(if current { "›" } else { " " }, t.key())];
        if self.timestamps {
            if line.first {
                let level_style = match line.level {
                    31.. => t.error(),
                    21..=30 => t.warn(),
                    _ => t.dim(),
                };
                spans.push(Span::styled(
                    format!("{} ", format::clock(line.timestamp)),
                    t.dim(),
                ));
                spans.push(Span::styled(
                    format!("{:<8} ", format::level(line.level)),
                    level_style,
                ));
            } else {
                spans.push(Span::raw(" ".repeat(18)));
            }
        }
        spans.extend(highlight(&line.text, query, t.found()));
        Line::from(spans)
    }
}

/// Splits `text` into plain and highlighted spans around each occurrence of `query` (already
/// lower case; matching ignores case).
fn highlight(text: &str, query: &str, found: Style) -> Vec<Span<'static>> {
    let lower = text.to_lowercase();
    // offsets in `lower` are only valid in `text` when lower-casing kept every byte length
    if query.is_empty() || lower.len() != text.len() {
        return vec![Span::raw(text.to_string())];
    }
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(pos) = lower[at..].find(query) {
        let start = at + pos;
        let end = start + query.len();
        if start > at {
            spans.push(Span::raw(text[at..start].to_string()));
        }
        spans.push(Span::styled(text[start..end].to_string(), found));
        at = end;
    }
    if at < text.len() {
        spans.push(Span::raw(text[at..].to_string()));
    }
    spans
}
