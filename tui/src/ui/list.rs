//! Scrolling lists: a cursor that keeps the selection in view, and a table that builds only the
//! rows on screen (10 000 rows cost the same to draw as 20).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Span;
use ratatui::widgets::{Row, Table, TableState};
use ratatui::Frame;
use tui_input::Input;

use super::theme::Theme;

/// A movement key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
}

/// `j`/`k`, arrows, PgUp/PgDn, `g`/`G`, Home/End, Ctrl-U/Ctrl-D.
pub fn nav_key(key: &KeyEvent) -> Option<Nav> {
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') if !ctrl => Nav::Up,
        KeyCode::Down | KeyCode::Char('j') if !ctrl => Nav::Down,
        KeyCode::PageUp => Nav::PageUp,
        KeyCode::Char('u') if ctrl => Nav::PageUp,
        KeyCode::PageDown => Nav::PageDown,
        KeyCode::Char('d') if ctrl => Nav::PageDown,
        KeyCode::Home | KeyCode::Char('g') if !ctrl => Nav::Home,
        KeyCode::End | KeyCode::Char('G') if !ctrl => Nav::End,
        _ => return None,
    })
}

/// The selected row and the first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub selected: usize,
    pub offset: usize,
}

impl ListCursor {
    /// Applies a movement in a list of `len` rows shown `height` at a time.
    pub fn apply(&mut self, nav: Nav, len: usize, height: usize) {
        let page = height.max(1);
        let last = len.saturating_sub(1);
        self.selected = match nav {
            Nav::Up => self.selected.saturating_sub(1),
            Nav::Down => (self.selected + 1).min(last),
            Nav::PageUp => self.selected.saturating_sub(page),
            Nav::PageDown => (self.selected + page).min(last),
            Nav::Home => 0,
            Nav::End => last,
        };
        self.keep_visible(len, height);
    }

    /// Clamps the selection into the list and scrolls just enough to show it.
    pub fn keep_visible(&mut self, len: usize, height: usize) {
        let height = height.max(1);
        self.selected = self.selected.min(len.saturating_sub(1));
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        // don't leave blank rows below when the list shrank
        self.offset = self.offset.min(len.saturating_sub(height));
    }

    /// Selects row `index` (when the list is re-filtered and the same item is found again).
    pub fn select(&mut self, index: usize, len: usize, height: usize) {
        self.selected = index;
        self.keep_visible(len, height);
    }

    /// The store index of the selected row of a filtered list (`visible` holds store indexes).
    pub fn pick(&self, visible: &[u32]) -> Option<usize> {
        visible.get(self.selected).map(|&i| i as usize)
    }

    /// The rows on screen: `offset .. offset + height`, cut to the list.
    pub fn window(&self, len: usize, height: usize) -> std::ops::Range<usize> {
        let start = self.offset.min(len);
        start..(start + height).min(len)
    }
}

/// `  filter: /text█` for a list's title bar, while typing or when a filter is set.
pub fn filter_spans(filter: &Input, editing: bool, t: Theme) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    if editing || !filter.value().is_empty() {
        spans.push(Span::styled("  filter: /", t.key()));
        spans.push(Span::raw(filter.value().to_string()));
        if editing {
            spans.push(Span::styled("█", t.key()));
        }
    }
    spans
}

/// What a windowed table needs.
pub struct WindowTable<'a> {
    pub header: Row<'a>,
    pub widths: Vec<Constraint>,
    pub cursor: ListCursor,
    pub len: usize,
    pub theme: Theme,
}

impl<'a> WindowTable<'a> {
    /// Draws the header and the visible rows; `row(i)` builds row `i` of the whole list.
    pub fn render(self, frame: &mut Frame, area: Rect, row: impl Fn(usize) -> Row<'a>) {
        let height = area.height.saturating_sub(1) as usize;
        let window = self.cursor.window(self.len, height);
        let start = window.start;
        let rows: Vec<Row> = window.map(row).collect();
        let selected = (self.len > 0).then(|| self.cursor.selected.saturating_sub(start));
        let table = Table::new(rows, self.widths)
            .header(self.header.style(self.theme.header()))
            .column_spacing(1)
            .row_highlight_style(self.theme.selected())
            .highlight_symbol("▸")
            .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
        let mut state = TableState::default().with_selected(selected);
        frame.render_stateful_widget(table, area, &mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_scrolls_only_as_needed() {
        let mut c = ListCursor::default();
        for _ in 0..12 {
            c.apply(Nav::Down, 100, 10);
        }
        assert_eq!((c.selected, c.offset), (12, 3));
        c.apply(Nav::Up, 100, 10);
        assert_eq!(
            (c.selected, c.offset),
            (11, 3),
            "moving up inside the window keeps it"
        );
        c.apply(Nav::End, 100, 10);
        assert_eq!((c.selected, c.offset), (99, 90));
        c.keep_visible(5, 10);
        assert_eq!((c.selected, c.offset), (4, 0), "a shrunk list clamps");
        c.apply(Nav::Down, 0, 10);
        assert_eq!((c.selected, c.offset), (0, 0));
    }
}
