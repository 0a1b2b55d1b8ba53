//! Who may call what. Every route declares the [`Access`] it needs in its module's `ACCESS` table,
//! next to its `router()`; [`guard::AuthLayer`] finds the caller's key, checks the route's access
//! against the key's role and hands handlers the [`Caller`].
//!
//! When keys are checked is the server's [`AuthMode`]: a loopback server with no keys stays
//! open (the zero-setup start), and closes as soon as a key exists; `--require-auth` and any
//! non-loopback address require keys always; `--insecure-no-auth` never checks them.

pub mod access;
pub mod guard;
pub mod keys;
pub mod run_token;
pub mod throttle;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rigel_common::api_key::Role;
use uuid::Uuid;

pub use access::{Access, Rule};

use crate::error::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// Never check keys (`--insecure-no-auth`): every caller is admin.
    Off,
    /// Check keys once at least one key exists (not revoked); until then every caller is admin.
    #[default]
    WhenKeysExist,
    /// Every request but the public ones needs a valid key.
    Required,
}

/// The caller of a request, as the guard established it.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's id and name; `None` when the server does not check keys.
    pub key: Option<(Uuid, Arc<str>)>,
    pub role: Role,
    /// Work queues (names) an `agent` key is bound to; empty is any queue.
    pub queues: Arc<[String]>,
    /// Set for a run's token: the one run (and its deployment and code) it may touch.
    pub run: Option<Arc<RunScope>>,
}

/// What a run token reaches: its run, the run's deployment, and the deployment's stored code.
#[derive(Debug, Clone)]
pub struct RunScope {
    pub run: Uuid,
    pub deployment: Option<Uuid>,
    /// `(block, key)` of the deployment's code, when it is kept in a storage block.
    pub code: Option<(Uuid, String)>,
}

impl Caller {
    /// The caller of a server that does not check keys: admin.
    pub fn open() -> Self {
        Self {
            key: None,
            role: Role::Admin,
            queues: Arc::from(Vec::new()),
            run: None,
        }
    }

    /// Refuses a run token used for another run than its own.
    pub fn check_run(&self, run: Uuid) -> Result<(), ApiError> {
        match &self.run {
            Some(scope) if scope.run != run => Err(ApiError::Forbidden(format!(
                "this token belongs to flow run {}; it may not act on flow run {run}",
                scope.run
            ))),
            _ => Ok(()),
        }
    }

    /// The key's name, for messages and records.
    pub fn key_name(&self) -> Option<&str> {
        self.key.as_ref().map(|(_, n)| n.as_ref())
    }

    /// Who to record as having made a change: the key's name; `None` for a run's own token (its
    /// engine) and a server without keys.
    pub fn actor(&self) -> Option<&str> {
        if self.run.is_some() {
            return None;
        }
        self.key_name()
    }

    /// Whether this caller may work from the queue named `queue`.
    pub fn may_use_queue(&self, queue: &str) -> bool {
        self.queues.is_empty() || self.queues.iter().any(|q| q == queue)
    }

    /// Refuses a caller bound to queues that don't include `queue`.
    pub fn check_queue(&self, queue: &str) -> Result<(), ApiError> {
        if self.may_use_queue(queue) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "the key '{}' is bound to the work queues {}; it may not use the queue '{queue}'",
            self.key_name().unwrap_or("-"),
            self.queues.join(", ")
        )))
    }

    /// Refuses a caller whose role is not `role` or admin.
    pub fn require(&self, role: Role, what: &str) -> Result<(), ApiError> {
        if self.role == role || self.role == Role::Admin {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "{what} needs the {role} role; the key '{}' has the {} role",
            self.key_name().unwrap_or("-"),
            self.role
        )))
    }

    /// The id of an `agent` key (not a run's token), whose reach is the runs its agents hold.
    pub fn agent_key(&self) -> Option<Uuid> {
        match (&self.key, &self.run) {
            (Some((id, _)), None) if self.role == Role::Agent => Some(*id),
            _ => None,
        }
    }

    /// For an `agent` key: refuses what none of its agents holds (`what` names it), and answers
    /// 404 for what doesn't exist. `held` looks it up for the key. Anyone else passes.
    pub async fn check_held<F, Fut>(&self, what: &str, held: F) -> Result<(), ApiError>
    where
        F: FnOnce(Uuid) -> Fut,
        Fut: std::future::Future<Output = Result<Option<bool>, ApiError>>,
    {
        let Some(key) = self.agent_key() else {
            return Ok(());
        };
        match held(key).await? {
            None => Err(ApiError::NotFound(format!("{what} not found"))),
            Some(true) => Ok(()),
            Some(false) => Err(ApiError::Forbidden(format!(
                "the agent key '{}' reaches only the runs its agents hold (and their deployments \
                 and code); {what} is not one of them",
                self.key_name().unwrap_or("-")
            ))),
        }
    }

    /// Refuses a state proposal of an `agent` key that doesn't carry a claim token: an agent
    /// reports on the runs it holds, and the orchestration rules then check that the token is
    /// the run's (ABORT otherwise).
    pub fn check_holds(&self, claim_token: Option<Uuid>) -> Result<(), ApiError> {
        if self.role == Role::Agent
            && self.run.is_none()
            && self.key.is_some()
            && claim_token.is_none()
        {
            return Err(ApiError::Forbidden(format!(
                "the agent key '{}' may change the state of the runs its agents hold only: send \
                 the run's claim_token",
                self.key_name().unwrap_or("-")
            )));
        }
        Ok(())
    }

    /// Whether secrets (runner `env` values) are hidden from this caller.
    pub fn sees_redacted(&self) -> bool {
        self.role == Role::Monitor
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("a route ran without the auth guard".into()))
    }
}

/// The server's keys and how it checks them.
#[derive(Debug)]
pub struct Auth {
    pub mode: AuthMode,
    pub ring: keys::KeyRing,
    pub throttle: throttle::Throttle,
    pub run_tokens: run_token::RunTokens,
}

impl Auth {
    /// Whether requests need a key right now.
    pub fn enforced(&self) -> bool {
        match self.mode {
            AuthMode::Off => false,
            AuthMode::Required => true,
            AuthMode::WhenKeysExist => self.ring.any(),
        }
    }
}

/// Records a write `caller` made in the audit table (`GET /api/audit`). The write itself is
/// done: a failure to record it is logged, not answered.
pub async fn audit(
    s: &crate::AppState,
    caller: &Caller,
    action: &'static str,
    object_id: Option<Uuid>,
    detail: impl Into<Option<String>>,
) {
    let actor = caller.actor().map(str::to_string);
    let recorded =
        crate::db::audit::record(&s.db, s.now(), actor, action, object_id, detail.into()).await;
    if let Err(e) = recorded {
        tracing::error!(error = %e, action, "could not record a write in the audit table");
    }
}

/// Objects that hold secrets, shown to a caller: redacted for the roles that must not see them.
pub trait ShownTo: Sized {
    /// Hides the secrets unconditionally.
    fn redact(&mut self);

    /// `self` as `caller` may see it.
    fn shown_to(mut self, caller: &Caller) -> Self {
        if caller.sees_redacted() {
            self.redact();
        }
        self
    }
}

impl ShownTo for rigel_common::deployment::Deployment {
    fn redact(&mut self) {
        self.flow_runner.redact();
    }
}

impl ShownTo for rigel_common::flow_run::FlowRun {
    fn redact(&mut self) {
        if let Some(r) = self.flow_runner.as_mut() {
            r.redact();
        }
    }
}

impl<T: ShownTo> ShownTo for Vec<T> {
    fn redact(&mut self) {
        self.iter_mut().for_each(ShownTo::redact);
    }
}
