//! The screens. Each keeps its own state, turns keys into [`Action`]s for the app, and draws
//! from `&self` only.

pub mod agents;
pub mod custom_run;
pub mod deployment;
pub mod deployments;
pub mod help;
pub mod logs;
pub mod params;
pub mod queues;
pub mod run;
pub mod run_time;
pub mod runs;

use chrono::{DateTime, Utc};
use ratatui::crossterm::event::{Event, KeyEvent};
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

use crate::app::Action;
use crate::store::Store;
use crate::ui::theme::Theme;

/// What views read: the data, the time, the terminal size and the styles.
#[derive(Clone, Copy)]
pub struct Cx<'a> {
    pub store: &'a Store,
    pub now: DateTime<Utc>,
    pub size: (u16, u16),
    pub theme: Theme,
}

/// What a view did with a key.
#[derive(Debug, PartialEq)]
pub enum Handled {
    /// Not a key of this view: the app's global keys get it.
    Ignored,
    Consumed,
    Do(Action),
}

/// Feeds a key to a text field; true when the text changed.
pub fn edit(input: &mut Input, key: KeyEvent) -> bool {
    input
        .handle_event(&Event::Key(key))
        .is_some_and(|changed| changed.value)
}
