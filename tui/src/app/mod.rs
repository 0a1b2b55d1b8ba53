//! The application state and its update function. Everything that happens — a key, a resize,
//! a clock tick, news from the background tasks — comes in through [`App::update`]; requests
//! for the network go out through [`App::take_requests`]. Drawing (in [`crate::ui`]) only reads.

mod action;
mod overlay;

use chrono::{DateTime, Duration, Utc};
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use uuid::Uuid;

pub use action::{Action, RunScope};
pub use overlay::{Dialog, Overlay};

use crate::access::Access;
use crate::msg::{Msg, Outcome, Request};
use crate::store::{RunRow, Store};
use crate::ui::list::nav_key;
use crate::ui::theme::Theme;
use crate::views::agents::AgentsView;
use crate::views::custom_run::CustomRunForm;
use crate::views::deployment::DeploymentView;
use crate::views::deployments::DeploymentsView;
use crate::views::queues::QueuesView;
use crate::views::run::RunView;
use crate::views::runs::RunsView;
use crate::views::{Cx, Handled};
use overlay::OverlayKey;

/// How long a message stays in the footer.
const FLASH_SECONDS: i64 = 15;

/// The top-level views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Deployments,
    Runs,
    Queues,
    Agents,
}

/// A screen on the navigation stack.
pub enum View {
    Root(Root),
    Deployment(DeploymentView),
    Run(Box<RunView>),
    CustomRun(Box<CustomRunForm>),
}

/// Whether the data on screen is current.
#[derive(Debug, Clone, PartialEq)]
pub enum Conn {
    /// Nothing fetched yet.
    Connecting,
    Live,
    /// The last fetch failed; the data shown is from `since`.
    Stale {
        since: DateTime<Utc>,
        error: String,
    },
    /// The server refused the API key (401); nothing more can be read until that is fixed.
    /// `since` is when the data shown was fetched (none when nothing ever was).
    KeyRefused {
        since: Option<DateTime<Utc>>,
        message: String,
    },
}

/// A message in the footer.
#[derive(Debug, Clone, PartialEq)]
pub struct Flash {
    pub text: String,
    pub error: bool,
    pub at: DateTime<Utc>,
    /// A run `o` opens.
    pub run: Option<Uuid>,
}

impl Flash {
    pub fn info(text: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            text: text.into(),
            error: false,
            at,
            run: None,
        }
    }

    pub fn error(text: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            error: true,
            ..Self::info(text, at)
        }
    }
}

/// Everything the app reacts to.
#[derive(Debug)]
pub enum AppEvent {
    Key(KeyEvent),
    Resize(u16, u16),
    /// The clock moved (relative times on screen age).
    Tick(DateTime<Utc>),
    Msg(Msg),
}

/// How the app starts.
#[derive(Debug, Clone)]
pub struct Settings {
    pub api_url: String,
    pub readonly: bool,
    pub theme: Theme,
    pub size: (u16, u16),
    pub now: DateTime<Utc>,
}

pub struct App {
    pub now: DateTime<Utc>,
    pub store: Store,
    pub theme: Theme,
    /// Started with `--readonly`.
    pub readonly: bool,
    /// The role and key the server reported; a role that only reads makes the TUI read-only.
    pub access: Access,
    pub api_url: String,
    pub conn: Conn,
    /// The event stream is connected (otherwise the data is refetched periodically).
    pub live_events: bool,
    pub size: (u16, u16),
    pub stack: Vec<View>,
    pub deployments: DeploymentsView,
    pub runs: RunsView,
    pub queues: QueuesView,
    pub agents: AgentsView,
    pub overlay: Option<Overlay>,
    pub flash: Option<Flash>,
    outbox: Vec<Request>,
    quit: bool,
    followed: Option<Uuid>,
}

impl App {
    pub fn new(settings: Settings) -> Self {
        Self {
            now: settings.now,
            store: Store::default(),
            theme: settings.theme,
            readonly: settings.readonly,
            access: Access::default(),
            api_url: settings.api_url,
            conn: Conn::Connecting,
            live_events: false,
            size: settings.size,
            stack: vec![View::Root(Root::Deployments)],
            deployments: DeploymentsView::default(),
            runs: RunsView::default(),
            queues: QueuesView::default(),
            agents: AgentsView::default(),
            overlay: None,
            flash: None,
            outbox: Vec::new(),
            quit: false,
            followed: None,
        }
    }

    /// Whether changes (runs, cancels, pauses) are offered: not with `--readonly`, nor with a
    /// key whose role only reads.
    pub fn may_change(&self) -> bool {
        self.read_only_reason().is_none()
    }

    /// Why changes are not offered ("started with --readonly", "the key 'dash' has the
    /// monitor role"), or `None` when they are.
    pub fn read_only_reason(&self) -> Option<String> {
        if self.readonly {
            Some("started with --readonly".to_string())
        } else if !self.access.may_change() {
            Some(format!(
                "{} has the {} role",
                self.access.who(),
                self.access.role
            ))
        } else {
            None
        }
    }

    pub fn should_quit(&self) -> bool {
        self.quit
    }

    /// Requests for the background tasks since the last call.
    pub fn take_requests(&mut self) -> Vec<Request> {
        std::mem::take(&mut self.outbox)
    }

    pub fn cx(&self) -> Cx<'_> {
        Cx {
            store: &self.store,
            now: self.now,
            size: self.size,
            theme: self.theme,
        }
    }

    /// The flash message, while it is fresh.
    pub fn current_flash(&self) -> Option<&Flash> {
        self.flash
            .as_ref()
            .filter(|f| self.now - f.at < Duration::seconds(FLASH_SECONDS))
    }

    fn flash(&mut self, flash: Flash) {
        self.flash = Some(flash);
    }

    /// Applies one event; returns whether the screen should be drawn again.
    pub fn update(&mut self, event: AppEvent) -> bool {
        let redraw = match event {
            AppEvent::Key(key) => {
                if key.kind == KeyEventKind::Release {
                    return false;
                }
                self.on_key(key);
                true
            }
            AppEvent::Resize(w, h) => {
                self.size = (w, h);
                self.clamp_cursors();
                true
            }
            AppEvent::Tick(now) => {
                let changed = now != self.now;
                self.now = now;
                // a run hidden as "scheduled later" is due now: it joins the list
                if self.runs.next_reveal.is_some_and(|at| at <= now) {
                    self.change_store(|_| {});
                }
                changed
            }
            AppEvent::Msg(msg) => {
                self.on_msg(msg);
                true
            }
        };
        self.sync_follow();
        redraw
    }

    /// Replaces the data with a fetch's (for tests and benchmarks too).
    pub fn set_store(&mut self, store: Store) {
        self.change_store(|s| *s = store);
        self.conn = Conn::Live;
    }

    /// Changes the data, keeping the selected deployment and run selected (found by id: the
    /// rows may have moved).
    fn change_store(&mut self, change: impl FnOnce(&mut Store)) {
        let deployment = self.deployments.selected(&self.store);
        let run = self.runs.selected(&self.store);
        change(&mut self.store);
        self.refresh_lists(deployment, run);
    }

    fn refresh_lists(&mut self, deployment: Option<Uuid>, run: Option<Uuid>) {
        self.deployments.resort(&self.store, self.size, deployment);
        self.runs.refilter(&self.store, self.size, self.now, run);
        self.clamp_queue_cursors();
    }

    /// Keeps every list's selection inside its list and on screen, for a new size or after
    /// queues or agents changed (which neither the deployments' order nor the runs' filter
    /// depends on).
    fn clamp_cursors(&mut self) {
        let rows = crate::ui::layout::list_rows(self.size);
        self.deployments
            .cursor
            .keep_visible(self.deployments.visible.len(), rows);
        self.runs.cursor.keep_visible(self.runs.visible.len(), rows);
        self.clamp_queue_cursors();
    }

    /// The queues' and agents' cursors (their lists are the store's, unfiltered).
    fn clamp_queue_cursors(&mut self) {
        let rows = crate::ui::layout::list_rows(self.size);
        self.queues
            .cursor
            .keep_visible(self.store.queues.len(), rows);
        self.agents
            .cursor
            .keep_visible(self.store.agents.len(), rows);
    }

    /// Tells the follower which run is open, when that changed.
    fn sync_follow(&mut self) {
        let open = match self.stack.last() {
            Some(View::Run(v)) => Some(v.id),
            _ => None,
        };
        if open != self.followed {
            self.followed = open;
            self.outbox.push(Request::Follow(open));
        }
    }

    fn on_msg(&mut self, msg: Msg) {
        match msg {
            Msg::Snapshot(store) => self.set_store(*store),
            Msg::FetchFailed(error) => {
                let since = match &self.conn {
                    Conn::Stale { since, .. } => *since,
                    _ => self.store.fetched_at.unwrap_or(self.now),
                };
                self.conn = Conn::Stale { since, error };
            }
            Msg::KeyRefused(message) => {
                self.conn = Conn::KeyRefused {
                    since: self.store.fetched_at,
                    message,
                };
            }
            Msg::Access(access) => {
                if access != self.access && !access.may_change() {
                    // a dialog asking to change something would only be refused
                    if matches!(self.overlay, Some(Overlay::Confirm(_))) {
                        self.overlay = None;
                    }
                }
                self.access = access;
            }
            Msg::Live(on) => self.live_events = on,
            Msg::RunEvents(events) => {
                self.change_store(|s| s.apply_run_events(&events));
                // an open deployment's run lists are reread when its runs move
                for view in &self.stack {
                    if let View::Deployment(v) = view {
                        if events.iter().any(|e| e.deployment_id == Some(v.id)) {
                            self.outbox.push(Request::LoadDeployment(v.id));
                        }
                    }
                }
            }
            Msg::Deployment(e) => {
                let now = self.now;
                self.change_store(|s| s.set_deployment(e.deployment_id, e.deployment, now));
            }
            Msg::Queue(e) => {
                self.store.set_queue(e.work_queue_id, e.work_queue);
                self.clamp_queue_cursors();
            }
            Msg::Agent(e) => {
                self.store.set_agent(e.agent_id, e.agent);
                self.clamp_queue_cursors();
            }
            Msg::DeploymentRuns {
                deployment_id,
                recent,
                upcoming,
            } => {
                for view in &mut self.stack {
                    if let View::Deployment(v) = view {
                        if v.id == deployment_id {
                            v.recent = Some(recent.clone());
                            v.upcoming = Some(upcoming.clone());
                        }
                    }
                }
            }
            Msg::RunDetails(details) => {
                let row = RunRow::from(&details.run);
                if self.store.run(row.id) != Some(&row) {
                    self.upsert_runs(vec![row]);
                }
                let id = details.run.id;
                for view in &mut self.stack {
                    if let View::Run(v) = view {
                        if v.id == id {
                            v.details = Some((*details).clone());
                        }
                    }
                }
            }
            Msg::Logs {
                run_id,
                logs,
                reset,
            } => {
                for view in &mut self.stack {
                    if let View::Run(v) = view {
                        if v.id == run_id {
                            v.logs.push(&logs, reset);
                        }
                    }
                }
            }
            Msg::Done(outcome) => self.on_outcome(outcome),
        }
    }

    fn upsert_runs(&mut self, rows: Vec<RunRow>) {
        self.change_store(|s| s.upsert_runs(rows));
    }

    fn on_outcome(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::RunCreated { run, deployment } => {
                let when = match run.state.scheduled_time {
                    Some(at) if at > self.now + Duration::seconds(5) => {
                        format!(", starts {} UTC", crate::ui::format::minute(Some(at)))
                    }
                    _ => String::new(),
                };
                let mut flash = Flash::info(
                    format!(
                        "✓ Created flow run '{}' (o opens it) of {deployment}{when}",
                        run.name
                    ),
                    self.now,
                );
                flash.run = Some(run.id);
                self.flash(flash);
                self.upsert_runs(vec![RunRow::from(run.as_ref())]);
            }
            Outcome::Done(text) => self.flash(Flash::info(format!("✓ {text}"), self.now)),
            Outcome::Failed(text) => self.flash(Flash::error(format!("✗ {text}"), self.now)),
        }
    }

    /// Whether the view on top is typing into a text field (then it gets every key).
    fn view_editing(&self) -> bool {
        match self.stack.last() {
            Some(View::Root(Root::Deployments)) => self.deployments.editing,
            Some(View::Root(Root::Runs)) => self.runs.editing,
            Some(View::Run(v)) => v.logs.searching,
            Some(View::CustomRun(_)) => true,
            _ => false,
        }
    }

    fn on_key(&mut self, key: KeyEvent) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if let Some(overlay) = self.overlay.take() {
            match overlay.on_key(key) {
                OverlayKey::Keep(o) => self.overlay = Some(o),
                OverlayKey::Close => {}
                OverlayKey::CloseAnd(action) => self.dispatch(action),
            }
            return;
        }
        if ctrl && key.code == KeyCode::Char('r') {
            self.dispatch(Action::Refresh);
            return;
        }
        let editing = self.view_editing();
        let modified = key
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT);
        let handled = if !editing && modified && nav_key(&key).is_none() {
            Handled::Ignored
        } else {
            self.view_key(key)
        };
        match handled {
            Handled::Do(action) => self.dispatch(action),
            Handled::Consumed => {}
            Handled::Ignored => self.global_key(key),
        }
    }

    fn view_key(&mut self, key: KeyEvent) -> Handled {
        let cx = Cx {
            store: &self.store,
            now: self.now,
            size: self.size,
            theme: self.theme,
        };
        match self.stack.last_mut() {
            Some(View::Root(Root::Deployments)) => self.deployments.on_key(key, &cx),
            Some(View::Root(Root::Runs)) => self.runs.on_key(key, &cx),
            Some(View::Root(Root::Queues)) => self.queues.on_key(key, &cx),
            Some(View::Root(Root::Agents)) => self.agents.on_key(key, &cx),
            Some(View::Deployment(v)) => v.on_key(key, &cx),
            Some(View::Run(v)) => v.on_key(key, &cx),
            Some(View::CustomRun(v)) => v.on_key(key, &cx),
            None => Handled::Ignored,
        }
    }

    fn global_key(&mut self, key: KeyEvent) {
        let action = match key.code {
            KeyCode::Char('?') => Action::Help,
            KeyCode::Char(':') => Action::Command,
            KeyCode::Char('q') if self.stack.len() <= 1 => Action::Quit,
            KeyCode::Char('q') | KeyCode::Esc => Action::Back,
            KeyCode::Char('1') => Action::Show(Root::Deployments),
            KeyCode::Char('2') => Action::Show(Root::Runs),
            KeyCode::Char('3') => Action::Show(Root::Queues),
            KeyCode::Char('4') => Action::Show(Root::Agents),
            KeyCode::Char('o') => match self.current_flash().and_then(|f| f.run) {
                Some(run) => Action::OpenRun(run),
                None => return,
            },
            _ => return,
        };
        self.dispatch(action);
    }
}
