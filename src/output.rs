//! How commands print: data on stdout as a table, JSON or YAML; messages on stderr.

use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use serde::Serialize;

use crate::exit::CliError;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    #[default]
    Table,
    /// The API's JSON, for scripts.
    Json,
    /// The same data as YAML.
    Yaml,
}

/// Whether to colour output: only on a terminal, and never with NO_COLOR set.
pub fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// Writes a value as JSON or YAML.
pub fn data<T: Serialize>(format: Format, value: &T) -> Result<(), CliError> {
    let text = match format {
        Format::Json | Format::Table => serde_json::to_string_pretty(value)
            .map_err(|e| CliError::failed(format!("cannot format the output: {e}")))?,
        Format::Yaml => serde_norway::to_string(value)
            .map_err(|e| CliError::failed(format!("cannot format the output: {e}")))?,
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", text.trim_end());
    Ok(())
}

/// A table: a header and rows of cells. Columns are padded to their widest cell and never
/// truncated, so piping a table keeps every name whole.
pub struct Table {
    header: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: Vec<&'static str>) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(self.render().as_bytes());
    }

    pub fn render(&self) -> String {
        let cols = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| display_width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(cols) {
                widths[i] = widths[i].max(display_width(cell));
            }
        }
        let mut text = String::new();
        let line = |cells: &mut dyn Iterator<Item = &str>, text: &mut String| {
            let mut parts = Vec::new();
            for (i, cell) in cells.enumerate() {
                if i + 1 == cols {
                    parts.push(cell.to_string());
                } else {
                    let pad = widths[i].saturating_sub(display_width(cell));
                    parts.push(format!("{cell}{}", " ".repeat(pad)));
                }
            }
            text.push_str(parts.join("  ").trim_end());
            text.push('\n');
        };
        line(&mut self.header.iter().copied(), &mut text);
        for row in &self.rows {
            line(&mut row.iter().map(String::as_str), &mut text);
        }
        text
    }
}

/// Columns `text` takes on a terminal: wide characters (CJK, most emoji) count two, combining
/// marks none, and colour sequences (`ESC [ … m`) nothing.
pub fn display_width(text: &str) -> usize {
    use unicode_width::UnicodeWidthStr;
    let mut width = 0;
    let mut rest = text;
    while let Some(at) = rest.find('\x1b') {
        width += rest[..at].width();
        rest = &rest[at..];
        // skip `ESC [ params m`; a lone ESC counts as nothing
        let end = rest
            .char_indices()
            .skip(1)
            .find(|(i, c)| *i > 1 && c.is_ascii_alphabetic())
            .map_or(rest.len(), |(i, c)| i + c.len_utf8());
        rest = &rest[end..];
    }
    width + rest.width()
}

/// A state word, coloured when allowed (the word is always there: colour is never the only cue).
pub fn state_word(kind: rigel_common::state::StateType, name: &str) -> String {
    use rigel_common::state::StateType::*;
    if !colour() {
        return name.to_string();
    }
    let code = match kind {
        Completed => "32",
        Failed | Crashed => "31",
        Running | Pending => "36",
        Cancelling | Cancelled => "33",
        Scheduled => "0",
    };
    format!("\x1b[{code}m{name}\x1b[0m")
}

/// `2026-05-01 09:00:00 UTC`, or `-`.
/// Text a flow or a user wrote, made safe for a terminal: control characters other than newline
/// and tab (C0, DEL and C1 — escape sequences that could retitle the window, clear the screen or
/// fake output) are shown as `\u{1b}` escapes. Untouched when `to_terminal` is false, so piped
/// output stays byte-exact.
pub fn terminal_safe(text: &str, to_terminal: bool) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !to_terminal || !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

pub fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(
        || "-".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A message for people, on stderr.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        eprintln!($($arg)*);
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_line_up_with_wide_characters_and_colours() {
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("\x1b[32mCompleted\x1b[0m"), 9);
        let mut t = Table::new(vec!["NAME", "STATE"]);
        t.row(vec!["日本".into(), "\x1b[31mFailed\x1b[0m".into()]);
        t.row(vec!["ab".into(), "Completed".into()]);
        let text = t.render();
        let cols: Vec<usize> = text
            .lines()
            .map(|l| {
                let at = l.find(['S', 'C', '\x1b']).unwrap();
                display_width(&l[..at])
            })
            .collect();
        assert_eq!(cols, [6, 6, 6], "{text}");
    }

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn table_pads_columns_and_keeps_long_names() {
        let mut t = Table::new(vec!["NAME", "STATE"]);
        t.row(vec!["a-very-long-deployment-name".into(), "ok".into()]);
        t.row(vec!["b".into(), "Scheduled".into()]);
        let text = t.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME                         STATE");
        assert_eq!(lines[1], "a-very-long-deployment-name  ok");
        assert_eq!(lines[2], "b                            Scheduled");
    }

    #[test]
    fn control_characters_are_escaped_for_terminals_only() {
        let evil = "ok\x1b]0;pwned\x07\x1b[2J line\r\nnext\tcol \u{9b}";
        assert_eq!(
            terminal_safe(evil, true),
            "ok\\u{1b}]0;pwned\\u{7}\\u{1b}[2J line\\u{d}\nnext\tcol \\u{9b}"
        );
        assert_eq!(terminal_safe(evil, false), evil);
        assert!(matches!(
            terminal_safe("plain\ttext\n", true),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
