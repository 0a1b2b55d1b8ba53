//! `?`: the keys valid in the current view, then the ones valid everywhere.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::layout::centered;
use crate::ui::theme::Theme;

/// A key (or keys) and what it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub keys: &'static str,
    pub what: &'static str,
    /// It changes something on the server, so read-only mode doesn't offer it.
    pub changes: bool,
}

/// A key that only reads or moves around.
pub const fn key(keys: &'static str, what: &'static str) -> Key {
    Key {
        keys,
        what,
        changes: false,
    }
}

/// A key that changes something on the server.
pub const fn change(keys: &'static str, what: &'static str) -> Key {
    Key {
        keys,
        what,
        changes: true,
    }
}

/// The keys of a view.
pub type Keys = &'static [Key];

/// The keys to show: those that change something only when changes are allowed.
pub fn offered(keys: Keys, may_change: bool) -> impl Iterator<Item = &'static Key> {
    keys.iter().filter(move |k| may_change || !k.changes)
}

pub const GLOBAL: Keys = &[
    key("?", "this help"),
    key(":", "command: deployments, runs, queues, agents, quit"),
    key("1 2 3 4", "deployments, runs, queues, agents"),
    key("Esc q", "back (q on the start view quits)"),
    key("o", "open the run just created (while its message shows)"),
    key("Ctrl-R", "refetch everything now"),
    key("Ctrl-C", "quit"),
];

const MOVE: Key = key("↑↓ j k PgUp PgDn g G", "move");

pub const DEPLOYMENTS: Keys = &[
    MOVE,
    key("Enter", "inspect the deployment"),
    key("/", "filter as you type (Enter keeps, Esc clears)"),
    key("s S", "sort by name, next run, last run, updated; reverse"),
    change("r", "run now (asks first)"),
    change("R", "custom run: parameters, start time, tags"),
    change("p", "pause or resume the schedule (asks first)"),
    key("l", "the deployment's runs"),
];

pub const DEPLOYMENT: Keys = &[
    key("↑↓ j k PgUp PgDn", "scroll"),
    change("r", "run now (asks first)"),
    change("R", "custom run"),
    change("p", "pause or resume the schedule (asks first)"),
    key("l", "the deployment's runs"),
];

pub const RUNS: Keys = &[
    MOVE,
    key("Enter", "open the run: states, task runs, logs"),
    key("/", "filter by run or deployment name"),
    key(
        "f",
        "filter by state (cycles through every state, then all)",
    ),
    key("x", "faults only: failed, crashed, late"),
    key("u", "also runs scheduled for later"),
    change("c", "cancel the run (asks first)"),
    key("d", "the run's deployment"),
];

pub const RUN: Keys = &[
    key("↑↓ j k PgUp PgDn", "scroll the logs (G follows again)"),
    key("/", "search the logs (Enter keeps, Esc clears)"),
    key("n N", "next, previous match"),
    key("m", "only matches and the lines around them"),
    key("w", "wrap long lines"),
    key("t", "show or hide times and levels"),
    key("f", "follow new lines or stay put"),
    change("c", "cancel the run (asks first)"),
    key("d", "the run's deployment"),
];

pub const QUEUES: Keys = &[
    MOVE,
    change("p", "pause or resume the queue (asks first)"),
    key("Enter l", "the queue's runs"),
];

pub const AGENTS: Keys = &[MOVE];

pub const CUSTOM_RUN: Keys = &[
    key("Tab ↓ / Shift-Tab ↑", "next / previous field"),
    change("Enter", "check the values, then ask to run"),
    key("Esc", "back without running"),
];

/// What the help shows besides the keys.
pub struct HelpText<'a> {
    pub view: &'a str,
    /// Changes are allowed (otherwise their keys are left out).
    pub may_change: bool,
    /// Why changes are not offered, shown under the view's name.
    pub note: Option<String>,
}

pub fn render(frame: &mut Frame, area: Rect, text: HelpText, keys: Keys, theme: Theme) {
    let keys: Vec<&Key> = offered(keys, text.may_change).collect();
    let mut lines = vec![Line::styled(text.view.to_string(), theme.title())];
    if let Some(note) = text.note {
        lines.push(Line::styled(note, theme.warn()));
    }
    let key_w = keys
        .iter()
        .copied()
        .chain(GLOBAL.iter())
        .map(|k| k.keys.chars().count())
        .max()
        .unwrap_or(0);
    let line = |k: &Key| {
        Line::from(vec![
            Span::styled(format!("  {:<key_w$}  ", k.keys), theme.key()),
            Span::raw(k.what.to_string()),
        ])
    };
    lines.extend(keys.iter().map(|k| line(k)));
    lines.push(Line::raw(""));
    lines.push(Line::styled("Everywhere", theme.title()));
    lines.extend(GLOBAL.iter().map(line));
    let width = lines.iter().map(Line::width).max().unwrap_or(20) as u16 + 4;
    let height = lines.len() as u16 + 2;
    let area = centered(area, width, height);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" Keys · any key closes "),
        ),
        area,
    );
}
