//! `?`: the keys valid in the current view, then the ones valid everywhere.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use crate::ui::layout::centered;
use crate::ui::theme::Theme;

/// Key, what it does.
pub type Keys = &'static [(&'static str, &'static str)];

pub const GLOBAL: Keys = &[
    ("?", "this help"),
    (":", "command: deployments, runs, queues, agents, quit"),
    ("1 2 3 4", "deployments, runs, queues, agents"),
    ("Esc q", "back (q on the start view quits)"),
    ("o", "open the run just created (while its message shows)"),
    ("Ctrl-R", "refetch everything now"),
    ("Ctrl-C", "quit"),
];

const MOVE: (&str, &str) = ("↑↓ j k PgUp PgDn g G", "move");

pub const DEPLOYMENTS: Keys = &[
    MOVE,
    ("Enter", "inspect the deployment"),
    ("/", "filter as you type (Enter keeps, Esc clears)"),
    ("s S", "sort by name, next run, last run, updated; reverse"),
    ("r", "run now (asks first)"),
    ("R", "custom run: parameters, start time, tags"),
    ("p", "pause or resume the schedule (asks first)"),
    ("l", "the deployment's runs"),
];

pub const DEPLOYMENT: Keys = &[
    ("↑↓ j k PgUp PgDn", "scroll"),
    ("r", "run now (asks first)"),
    ("R", "custom run"),
    ("p", "pause or resume the schedule (asks first)"),
    ("l", "the deployment's runs"),
];

pub const RUNS: Keys = &[
    MOVE,
    ("Enter", "open the run: states, task runs, logs"),
    ("/", "filter by run or deployment name"),
    (
        "f",
        "filter by state (cycles through every state, then all)",
    ),
    ("x", "faults only: failed, crashed, late"),
    ("u", "also runs scheduled for later"),
    ("c", "cancel the run (asks first)"),
    ("d", "the run's deployment"),
];

pub const RUN: Keys = &[
    ("↑↓ j k PgUp PgDn", "scroll the logs (G follows again)"),
    ("/", "search the logs (Enter keeps, Esc clears)"),
    ("n N", "next, previous match"),
    ("m", "only matches and the lines around them"),
    ("w", "wrap long lines"),
    ("t", "show or hide times and levels"),
    ("f", "follow new lines or stay put"),
    ("c", "cancel the run (asks first)"),
    ("d", "the run's deployment"),
];

pub const QUEUES: Keys = &[
    MOVE,
    ("p", "pause or resume the queue (asks first)"),
    ("Enter l", "the queue's runs"),
];

pub const AGENTS: Keys = &[MOVE];

pub const CUSTOM_RUN: Keys = &[
    ("Tab ↓ / Shift-Tab ↑", "next / previous field"),
    ("Enter", "check the values, then ask to run"),
    ("Esc", "back without running"),
];

pub fn render(frame: &mut Frame, area: Rect, view: &str, keys: Keys, theme: Theme) {
    let mut lines = vec![Line::styled(view.to_string(), theme.title())];
    let key_w = keys
        .iter()
        .chain(GLOBAL.iter())
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let line = |(k, what): &(&str, &str)| {
        Line::from(vec![
            Span::styled(format!("  {k:<key_w$}  "), theme.key()),
            Span::raw(what.to_string()),
        ])
    };
    lines.extend(keys.iter().map(line));
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
