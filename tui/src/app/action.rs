//! What views ask the app to do, and the one dispatcher that does it. Read-only mode (the
//! `--readonly` flag, or a key whose role only reads) is enforced here and nowhere else.

use uuid::Uuid;

use super::{App, Flash, Overlay, Root, View};
use crate::msg::{Change, Request};
use crate::views::custom_run::CustomRunForm;
use crate::views::deployment::DeploymentView;
use crate::views::run::RunView;

/// Which runs the runs view shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunScope {
    #[default]
    All,
    Deployment(Uuid),
    Queue(Uuid),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Switch to a top-level view.
    Show(Root),
    /// The runs view, narrowed to a deployment's or a queue's runs.
    ShowRuns(RunScope),
    OpenDeployment(Uuid),
    OpenRun(Uuid),
    OpenCustomRun(Uuid),
    /// Ask before changing something.
    Propose(Change),
    /// Change it (the dialog said yes).
    Confirm(Change),
    Back,
    Quit,
    Help,
    Command,
    Refresh,
    Flash(String),
    /// A message that says something went wrong.
    Error(String),
}

impl Action {
    /// Words for a refusal in read-only mode, when the action would change something.
    fn change_words(&self) -> Option<&'static str> {
        let change = match self {
            Action::OpenCustomRun(_) => return Some("starting runs"),
            Action::Propose(c) | Action::Confirm(c) => c,
            _ => return None,
        };
        Some(match change {
            Change::QuickRun { .. } | Change::CustomRun { .. } => "starting runs",
            Change::CancelRun { .. } => "cancelling runs",
            Change::SetScheduleActive { .. } => "pausing or resuming schedules",
            Change::SetQueuePaused { .. } => "pausing or resuming work queues",
        })
    }
}

impl App {
    /// Carries out an action. Every change passes through here, so this is the one place that
    /// refuses them in read-only mode.
    pub fn dispatch(&mut self, action: Action) {
        if let Some(words) = action.change_words() {
            if let Some(reason) = self.read_only_reason() {
                self.flash(Flash::error(
                    format!("READ-ONLY: {words} is turned off ({reason})."),
                    self.now,
                ));
                return;
            }
        }
        match action {
            Action::Show(root) => self.show(root),
            Action::ShowRuns(scope) => {
                self.runs.scope = scope;
                self.runs.cursor = Default::default();
                self.runs.refilter(&self.store, self.size, self.now, None);
                if !matches!(self.stack.last(), Some(View::Root(Root::Runs))) {
                    self.stack.push(View::Root(Root::Runs));
                }
            }
            Action::OpenDeployment(id) => {
                if !matches!(self.stack.last(), Some(View::Deployment(v)) if v.id == id) {
                    self.stack.push(View::Deployment(DeploymentView::new(id)));
                    self.outbox.push(Request::LoadDeployment(id));
                }
            }
            Action::OpenRun(id) => {
                if !matches!(self.stack.last(), Some(View::Run(v)) if v.id == id) {
                    self.stack.push(View::Run(Box::new(RunView::new(id))));
                }
            }
            Action::OpenCustomRun(id) => {
                match self.store.deployment(id).and_then(|(d, _)| d.full()) {
                    Some(d) => {
                        let form = CustomRunForm::new(&d);
                        self.stack.push(View::CustomRun(Box::new(form)));
                    }
                    None => self.flash(Flash::error("That deployment no longer exists.", self.now)),
                }
            }
            Action::Propose(change) => self.overlay = Some(Overlay::confirm(change)),
            Action::Confirm(change) => {
                if matches!(change, Change::CustomRun { .. })
                    && matches!(self.stack.last(), Some(View::CustomRun(_)))
                {
                    self.stack.pop();
                }
                self.flash(Flash::info("Working…", self.now));
                self.outbox.push(Request::Perform(change));
            }
            Action::Back => {
                if self.stack.len() > 1 {
                    self.stack.pop();
                }
            }
            Action::Quit => self.quit = true,
            Action::Help => self.overlay = Some(Overlay::Help),
            Action::Command => self.overlay = Some(Overlay::Command(Default::default())),
            Action::Refresh => {
                self.outbox.push(Request::Refresh);
                self.flash(Flash::info("Refetching…", self.now));
            }
            Action::Flash(text) => self.flash(Flash::info(text, self.now)),
            Action::Error(text) => self.flash(Flash::error(text, self.now)),
        }
    }

    /// A top-level view: the start view resets the stack; the others sit on top of it, so
    /// Esc always leads back to the deployments.
    fn show(&mut self, root: Root) {
        self.stack.truncate(1);
        if root == Root::Runs {
            self.runs.scope = RunScope::All;
            self.runs.refilter(&self.store, self.size, self.now, None);
        }
        if root != Root::Deployments {
            self.stack.push(View::Root(root));
        }
    }
}
