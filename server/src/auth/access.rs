//! The access each route needs, declared by the route modules and gathered into one table.

use std::collections::HashMap;

use rigel_common::api_key::Role;

/// Which callers a route admits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (health, the OpenAPI document).
    Public,
    /// Any valid key.
    AnyKey,
    /// Reads: every role but `agent`.
    Read,
    /// Reads an agent needs too: its queues, and the runs it holds with their deployments and
    /// code (the handler refuses an `agent` key anything else).
    ReadHeld,
    /// What agents do for themselves: register, heartbeat, claim, keep runs alive.
    Work,
    /// Reports on runs (states, logs, task runs): agents and engines, operators (cancel),
    /// deployers (runs of their flows started by hand).
    Report,
    /// Creating a run: operators from deployments, deployers for flows they run by hand.
    StartRun,
    /// Operating deployments and queues: schedules, backfills, queue pause and limits.
    Operate,
    /// Deploying code: flows, deployments, flow code uploads.
    Deploy,
    /// Deletes, storage blocks, queues, keys.
    Admin,
}

use Role::{Admin, Agent, Deployer, Monitor, Operator};

impl Access {
    /// The roles admitted (every role for `Public` and `AnyKey`).
    pub fn roles(self) -> &'static [Role] {
        match self {
            Access::Public | Access::AnyKey | Access::ReadHeld => {
                &[Monitor, Agent, Operator, Deployer, Admin]
            }
            Access::Read => &[Monitor, Operator, Deployer, Admin],
            Access::Work => &[Agent, Admin],
            Access::Report => &[Agent, Operator, Deployer, Admin],
            Access::StartRun => &[Operator, Deployer, Admin],
            Access::Operate => &[Operator, Admin],
            Access::Deploy => &[Deployer, Admin],
            Access::Admin => &[Admin],
        }
    }

    pub fn admits(self, role: Role) -> bool {
        self.roles().contains(&role)
    }

    /// The roles as words: `operator or admin`.
    pub fn describe(self) -> String {
        let names: Vec<&str> = self.roles().iter().map(|r| r.as_str()).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

/// One route's access: `Rule::new("POST", "/flows/", Access::Deploy)`, the path as the route
/// module declares it (without `/api`).
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
}

impl Rule {
    pub const fn new(method: &'static str, path: &'static str, access: Access) -> Self {
        Self {
            method,
            path,
            access,
        }
    }
}

/// Every route's access, by full path (`/api/flows/{id}`) and method.
#[derive(Debug, Default)]
pub struct AccessTable {
    by_path: HashMap<String, Vec<(&'static str, Access)>>,
}

impl AccessTable {
    /// The table of `rules`, whose paths are under `prefix`.
    pub fn new<'a>(prefix: &str, rules: impl IntoIterator<Item = &'a Rule>) -> Self {
        let mut table = Self::default();
        for r in rules {
            table.insert(r.method, &format!("{prefix}{}", r.path), r.access);
        }
        table
    }

    pub fn insert(&mut self, method: &'static str, path: &str, access: Access) {
        let methods = self.by_path.entry(path.to_string()).or_default();
        methods.retain(|(m, _)| *m != method);
        methods.push((method, access));
    }

    /// The access of a route; `None` for a route nobody declared.
    pub fn get(&self, method: &str, path: &str) -> Option<Access> {
        self.by_path
            .get(path)?
            .iter()
            .find(|(m, _)| *m == method)
            .map(|(_, a)| *a)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, Access)> {
        self.by_path
            .iter()
            .flat_map(|(p, ms)| ms.iter().map(move |(m, a)| (*m, p.as_str(), *a)))
    }
}

/// The name of the bearer-key scheme in the OpenAPI document.
pub const SCHEME: &str = "api_key";

/// Adds the key scheme to `doc` and, to every operation, a `security` entry naming the roles its
/// route admits (none for public routes) as the requirement's scopes.
pub fn document(
    mut doc: utoipa::openapi::OpenApi,
    table: &AccessTable,
) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        SCHEME,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key (`rigel api-key create`). The requirement's scopes are the roles \
                     the operation admits.",
                ))
                .build(),
        ),
    );
    each_operation(&mut doc, |method, path, op| {
        let access = table.get(method, path).unwrap_or(Access::Admin);
        op.security = Some(match access {
            // an empty requirement: no key needed
            Access::Public => vec![SecurityRequirement::default()],
            _ => vec![SecurityRequirement::new(
                SCHEME,
                access.roles().iter().map(|r| r.as_str()),
            )],
        });
    });
    doc
}

/// Calls `f` with each operation of the document, its method and its path.
pub(crate) fn each_operation(
    doc: &mut utoipa::openapi::OpenApi,
    mut f: impl FnMut(&str, &str, &mut utoipa::openapi::path::Operation),
) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            ("GET", &mut item.get),
            ("POST", &mut item.post),
            ("PUT", &mut item.put),
            ("PATCH", &mut item.patch),
            ("DELETE", &mut item.delete),
        ];
        for (method, op) in ops {
            if let Some(op) = op.as_mut() {
                f(method, path, op);
            }
        }
    }
}
