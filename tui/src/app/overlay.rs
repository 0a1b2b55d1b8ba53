//! What sits on top of a view and takes every key while open: the confirm dialog, the help
//! and the `:` command line.

use ratatui::crossterm::event::{KeyCode, KeyEvent};
use tui_input::Input;

use super::{Action, Root};
use crate::msg::Change;
use crate::views::edit;

pub enum Overlay {
    Confirm(Dialog),
    Help,
    Command(Input),
}

/// A yes/no question about a change. Cancel is selected until someone picks the other button.
pub struct Dialog {
    pub change: Change,
    /// Whether the confirming button is selected.
    pub yes: bool,
}

impl Overlay {
    pub fn confirm(change: Change) -> Self {
        Overlay::Confirm(Dialog { change, yes: false })
    }
}

/// What a key did to an overlay.
pub enum OverlayKey {
    /// Still open.
    Keep(Overlay),
    Close,
    CloseAnd(Action),
}

/// Top-level views by command name (and their short aliases).
const COMMANDS: &[(&str, Option<Root>)] = &[
    ("deployments", Some(Root::Deployments)),
    ("runs", Some(Root::Runs)),
    ("queues", Some(Root::Queues)),
    ("agents", Some(Root::Agents)),
    ("help", None),
    ("quit", None),
];

const ALIASES: &[(&str, &str)] = &[
    ("dp", "deployments"),
    ("deploy", "deployments"),
    ("deployment", "deployments"),
    ("fr", "runs"),
    ("run", "runs"),
    ("flow-runs", "runs"),
    ("flowruns", "runs"),
    ("wq", "queues"),
    ("qu", "queues"),
    ("queue", "queues"),
    ("work-queues", "queues"),
    ("agent", "agents"),
    ("q", "quit"),
    ("q!", "quit"),
];

/// The command a typed word names: an alias, or the one command it begins.
pub fn resolve_command(word: &str) -> Result<&'static str, String> {
    let word = word.trim().trim_start_matches(':').to_lowercase();
    if let Some((_, name)) = ALIASES.iter().find(|(a, _)| *a == word) {
        return Ok(name);
    }
    let found: Vec<&str> = COMMANDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !word.is_empty() && name.starts_with(word.as_str()))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        _ => Err(format!(
            "Unknown command ':{word}'. Try :deployments, :runs, :queues, :agents, :help or :quit."
        )),
    }
}

fn command_action(word: &str) -> Result<Action, String> {
    let name = resolve_command(word)?;
    Ok(match COMMANDS.iter().find(|(n, _)| *n == name) {
        Some((_, Some(root))) => Action::Show(*root),
        _ if name == "help" => Action::Help,
        _ => Action::Quit,
    })
}

impl Overlay {
    pub fn on_key(self, key: KeyEvent) -> OverlayKey {
        match self {
            Overlay::Help => OverlayKey::Close,
            Overlay::Confirm(mut d) => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    OverlayKey::CloseAnd(Action::Confirm(d.change))
                }
                KeyCode::Enter if d.yes => OverlayKey::CloseAnd(Action::Confirm(d.change)),
                KeyCode::Enter
                | KeyCode::Esc
                | KeyCode::Char('n')
                | KeyCode::Char('N')
                | KeyCode::Char('q') => {
                    OverlayKey::CloseAnd(Action::Flash("Cancelled; nothing was changed.".into()))
                }
                KeyCode::Left
                | KeyCode::Right
                | KeyCode::Tab
                | KeyCode::BackTab
                | KeyCode::Char('h')
                | KeyCode::Char('l') => {
                    d.yes = !d.yes;
                    OverlayKey::Keep(Overlay::Confirm(d))
                }
                _ => OverlayKey::Keep(Overlay::Confirm(d)),
            },
            Overlay::Command(mut input) => match key.code {
                KeyCode::Esc => OverlayKey::Close,
                KeyCode::Enter => {
                    if input.value().trim().is_empty() {
                        return OverlayKey::Close;
                    }
                    match command_action(input.value()) {
                        Ok(action) => OverlayKey::CloseAnd(action),
                        Err(e) => OverlayKey::CloseAnd(Action::Error(e)),
                    }
                }
                KeyCode::Tab => {
                    if let Ok(name) = resolve_command(input.value()) {
                        input = Input::new(name.to_string());
                    }
                    OverlayKey::Keep(Overlay::Command(input))
                }
                KeyCode::Backspace if input.value().is_empty() => OverlayKey::Close,
                _ => {
                    edit(&mut input, key);
                    OverlayKey::Keep(Overlay::Command(input))
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_resolve_by_alias_or_prefix() {
        assert_eq!(resolve_command("runs"), Ok("runs"));
        assert_eq!(resolve_command(":ag"), Ok("agents"));
        assert_eq!(resolve_command("dep"), Ok("deployments"));
        assert_eq!(resolve_command("q"), Ok("quit"));
        assert_eq!(resolve_command("qu"), Ok("queues"));
        assert!(resolve_command("zzz").is_err());
        assert!(resolve_command("").is_err());
    }
}
