//! The Rigel terminal UI (`rigel tui`): browse deployments, inspect them, start runs, follow
//! runs and their logs, watch queues and agents.
//!
//! Built the gitui way: the network is read by background tasks that send [`msg::Msg`]s over a
//! channel; the main loop waits on input, a clock tick and that channel, feeds each to
//! [`app::App::update`], and then draws with [`ui::draw`], which only reads the app. Views ask
//! for changes through [`app::Action`]s, and the one dispatcher ([`app::App::dispatch`]) refuses
//! them in read-only mode (started with `--readonly`, or a key whose role only reads).

pub mod access;
pub mod app;
pub mod msg;
pub mod net;
mod runtime;
pub mod store;
pub mod ui;
pub mod views;

use std::time::Duration;

pub use runtime::run;

/// How `rigel tui` was started.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse every change (runs, cancels, pauses) and say READ-ONLY in the header.
    pub readonly: bool,
    /// How often everything is refetched (the safety net beside live events).
    pub refresh: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error("terminal error: {0}")]
    Terminal(#[source] std::io::Error),
    #[error("terminal input stopped")]
    InputClosed,
}
