//! `rigel server start`.

use std::net::SocketAddr;

use anyhow::Context;
use clap::{Args, Subcommand};
use rigel_server::auth::AuthMode;
use rigel_server::{AppState, ServerConfig};
use tokio::net::TcpListener;

use crate::config;

#[derive(Subcommand, Debug)]
pub enum ServerCommand {
    /// Start the API server (and, as they land, its background services) in the foreground.
    Start(StartArgs),
}

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Address to bind; the server listens only on loopback unless told otherwise.
    #[arg(long, default_value = "127.0.0.1", env = "RIGEL_SERVER_HOST")]
    pub host: String,
    /// Port to bind (0 picks a free one).
    #[arg(long, default_value_t = 4200, env = "RIGEL_SERVER_PORT")]
    pub port: u16,
    /// Largest request body accepted, in bytes (flow code uploads included).
    #[arg(long, default_value_t = rigel_server::DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// A running flow whose engine sent no heartbeat for this many seconds is marked Crashed.
    #[arg(long, default_value_t = 60.0)]
    pub run_heartbeat_timeout: f64,
    /// An agent silent for this many seconds is offline; its claimed, unstarted runs are requeued.
    #[arg(long, default_value_t = 120.0)]
    pub agent_offline_after: f64,
    /// An origin (`https://dash.example.com`) whose web pages may call the API. Requests from
    /// any other web page are refused. Repeatable.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    pub allowed_origins: Vec<String>,
    /// A host name clients reach the server by (`rigel.example.com`), besides its IP addresses
    /// and localhost; other names are refused (DNS rebinding). Bound to a non-loopback address,
    /// the machine's own host name is added. Repeatable.
    #[arg(long = "server-name", value_name = "NAME")]
    pub server_names: Vec<String>,
    /// Require an API key on every request, also on loopback and before any key exists
    /// (create the first one with `rigel api-key create NAME --role admin --offline`).
    #[arg(long, conflicts_with = "insecure_no_auth")]
    pub require_auth: bool,
    /// Serve without checking API keys, even on a non-loopback address: anyone who reaches the
    /// port can run code on every agent. Only behind something else that authenticates.
    #[arg(long)]
    pub insecure_no_auth: bool,
    /// `full`: every answered write is on disk first, so a power cut loses none (slower);
    /// `normal` (default): a power cut may lose the last writes, never damage the database.
    #[arg(long, value_enum, default_value_t = Synchronous::Normal)]
    pub synchronous: Synchronous,
    /// Skip the integrity check (`PRAGMA quick_check`) of the database at start (for very large
    /// databases, where it takes long).
    #[arg(long)]
    pub skip_db_check: bool,
    /// Serve HTTPS with this PEM certificate chain (give --tls-key too).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Most requests in progress at once; more are answered 503 with Retry-After (long polls of
    /// agents count while they wait).
    #[arg(long, default_value_t = 4096)]
    pub max_requests: usize,
    /// Delete the logs of runs finished this long ago (`30d`, `12h`, …; `forever` keeps them).
    #[arg(long, default_value = "30d", value_name = "DURATION|forever")]
    pub keep_logs: String,
    /// Delete runs finished this long ago, with their states, task runs and logs (`forever`
    /// keeps them).
    #[arg(long, default_value = "90d", value_name = "DURATION|forever")]
    pub keep_runs: String,
}

/// A retention flag: a duration, or `forever` (also `0` or `never`) for none.
fn keep(flag: &str, value: &str) -> anyhow::Result<Option<std::time::Duration>> {
    let v = value.trim();
    if ["forever", "never", "0"].contains(&v.to_ascii_lowercase().as_str()) {
        return Ok(None);
    }
    rigel_common::duration::parse_seconds(v)
        .map(|s| Some(std::time::Duration::from_secs_f64(s)))
        .map_err(|m| anyhow::anyhow!("--{flag}: {m} (or `forever`)"))
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Synchronous {
    Normal,
    Full,
}

pub async fn run(cmd: ServerCommand) -> anyhow::Result<()> {
    match cmd {
        ServerCommand::Start(args) => start(args).await,
    }
}

/// A bound, opened server that hasn't started serving yet.
pub struct Opened {
    pub state: AppState,
    pub listener: TcpListener,
    pub api_url: String,
}

/// Creates the home folder, opens (and migrates) the database, binds, and prints where the API is.
pub async fn open(args: &StartArgs) -> anyhow::Result<Opened> {
    let addr: SocketAddr = format!("{}:{}", args.host, args.port)
        .parse()
        .or_else(|_| format!("[{}]:{}", args.host, args.port).parse())
        .with_context(|| format!("'{}' is not an IP address to bind", args.host))?;
    let listener = TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "{addr} is already in use (another Rigel server?); pick another port with --port"
            )
        } else {
            anyhow::anyhow!("cannot listen on {addr}: {e}")
        }
    })?;
    let bound = listener.local_addr()?;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(rigel_server::serve::Tls::from_pem_files(cert, key).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api_url = format!("{scheme}://{bound}/api");
    // created last, just before it is opened: a start that fails earlier leaves no empty file
    let database = config::PrivateDatabase::open()?;
    let database_url = &database.url;
    let mut config = ServerConfig::new(database_url);
    config.tls = tls;
    config.max_body_bytes = args.max_body_bytes;
    config.reaper.run_heartbeat_timeout =
        seconds("run-heartbeat-timeout", args.run_heartbeat_timeout)?;
    config.agent_offline_after = seconds("agent-offline-after", args.agent_offline_after)?;
    config.agent_stale_after = config.agent_stale_after.min(config.agent_offline_after);
    config.site = site_policy(args, bound.ip())?;
    config.reaper.interval = config
        .reaper
        .interval
        .min(config.reaper.run_heartbeat_timeout / 2)
        .max(std::time::Duration::from_millis(200));
    config.auth_mode = auth_mode(args, bound.ip());
    config.shed.max_requests = args.max_requests.max(1);
    config.retention.logs_after = keep("keep-logs", &args.keep_logs)?;
    config.retention.runs_after = keep("keep-runs", &args.keep_runs)?;
    if let (Some(logs), Some(runs)) = (config.retention.logs_after, config.retention.runs_after) {
        if runs < logs {
            eprintln!("note: --keep-runs is shorter than --keep-logs; logs go with their runs");
        }
    }
    config.database = rigel_server::db::DbOptions {
        synchronous_full: args.synchronous == Synchronous::Full,
        check: !args.skip_db_check,
        created_empty: database.created(),
        ..Default::default()
    };
    let state = match AppState::open(config).await {
        Ok(state) => state,
        Err(e) => {
            database.forget_unused();
            return Err(anyhow::Error::new(e).context("cannot open the database"));
        }
    };
    check_auth(&state, bound.ip())?;
    eprintln!(
        "Rigel server {} listening on {scheme}://{bound}",
        rigel_common::VERSION
    );
    eprintln!("  API:      {api_url}");
    eprintln!("  docs:     {api_url}/openapi.json");
    eprintln!("  database: {database_url}");
    eprintln!("Point clients at it with:\n  export RIGEL_API_URL={api_url}");
    match state.auth.mode {
        AuthMode::Off => eprintln!(
            "warning: --insecure-no-auth: API keys are not checked; anyone who reaches \
             {bound} can run code on every agent"
        ),
        AuthMode::Required if !state.auth.ring.any() => eprintln!(
            "warning: keys are required and none exists yet: create one with\n  \
             rigel api-key create admin --role admin --offline"
        ),
        AuthMode::Required => eprintln!("  auth:     API keys required"),
        AuthMode::WhenKeysExist if state.auth.ring.any() => {
            eprintln!("  auth:     API keys required")
        }
        AuthMode::WhenKeysExist => {
            eprintln!("  auth:     none until a key exists (loopback only; `rigel api-key create`)")
        }
    }
    Ok(Opened {
        state,
        listener,
        api_url,
    })
}

/// Keys are checked always off loopback and with --require-auth, never with
/// --insecure-no-auth, and on loopback once a key exists.
fn auth_mode(args: &StartArgs, ip: std::net::IpAddr) -> AuthMode {
    if args.insecure_no_auth {
        AuthMode::Off
    } else if args.require_auth || !ip.is_loopback() {
        AuthMode::Required
    } else {
        AuthMode::WhenKeysExist
    }
}

/// A server reachable from other machines with no key at all would be open to anyone (creating
/// a deployment is running code on every agent): it does not start.
fn check_auth(state: &AppState, ip: std::net::IpAddr) -> anyhow::Result<()> {
    if !ip.is_loopback() && state.auth.mode == AuthMode::Required && !state.auth.ring.any() {
        anyhow::bail!(
            "refusing to listen on {ip} without API keys: anyone reaching it could run code on \
             every agent. Create an admin key first:\n  rigel api-key create admin --role admin \
             --offline\nor, behind a proxy that authenticates, start with --insecure-no-auth"
        );
    }
    Ok(())
}

/// Raises the soft limit of open files to the hard one: every client connection and event stream
/// is a file, and the usual soft limit (1,024, or 256 on some systems) is reached by a few hundred
/// agents and dashboards long before the machine is busy.
pub fn raise_open_files_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!(soft, hard, error = %e, "cannot raise the open-files limit");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read the open-files limit"),
    }
}

async fn start(args: StartArgs) -> anyhow::Result<()> {
    raise_open_files_limit();
    let opened = open(&args).await?;
    rigel_server::serve_state(opened.state, opened.listener, shutdown_signal())
        .await
        .context("the server stopped with an error")?;
    eprintln!("Rigel server stopped.");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}

/// The origins and names of `--allowed-origin` / `--server-name`, checked; the machine's host
/// name is added when the server is reachable from other machines.
fn site_policy(
    args: &StartArgs,
    bound: std::net::IpAddr,
) -> anyhow::Result<rigel_server::cross_site::SitePolicy> {
    for origin in &args.allowed_origins {
        let ok = ["http://", "https://"].iter().any(|scheme| {
            origin.strip_prefix(scheme).is_some_and(|rest| {
                let rest = rest.trim_end_matches('/');
                !rest.is_empty() && !rest.contains(['/', '?', '#', ' '])
            })
        });
        if !ok {
            anyhow::bail!(
                "--allowed-origin '{origin}' is not an origin: give scheme, host and port only, e.g. https://dash.example.com"
            );
        }
    }
    for name in &args.server_names {
        if name.is_empty() || name.contains(['/', ':', ' ', '@']) {
            anyhow::bail!(
                "--server-name '{name}' is not a host name (give it without scheme or port)"
            );
        }
    }
    let mut server_names = args.server_names.clone();
    if !bound.is_loopback() {
        server_names.extend(rigel_agent::agent::hostname());
    }
    Ok(rigel_server::cross_site::SitePolicy {
        allowed_origins: args.allowed_origins.clone(),
        server_names,
    })
}

fn seconds(flag: &str, v: f64) -> anyhow::Result<std::time::Duration> {
    if !v.is_finite() || !(0.5..=86_400.0).contains(&v) {
        anyhow::bail!("--{flag} must be between 0.5 and 86400 seconds");
    }
    Ok(std::time::Duration::from_secs_f64(v))
}
