//! `rigel`: the one binary — server, agent, CLI and terminal UI.

mod agent_cmd;
mod api_key;
mod config;
mod db_cmd;
mod deploy_create;
mod deployment;
mod exit;
mod flow;
mod flow_run;
mod follow;
mod output;
mod params;
mod pickup;
mod python_path;
mod resolve;
mod server;
mod storage;
mod tui_cmd;
mod up;
mod work_queue;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use rigel_common::client::RigelClient;

use crate::exit::CliResult;
use crate::output::Format;

#[derive(Parser, Debug)]
#[command(
    name = "rigel",
    version,
    about = "Workflow deployments: server, agent, CLI and terminal UI"
)]
struct Cli {
    /// Output format of read commands.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    /// Read the API key from this file (instead of RIGEL_API_KEY); agents pass it on to their
    /// engines.
    #[arg(long, global = true, env = "RIGEL_API_KEY_FILE", value_name = "FILE")]
    api_key_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server and a local agent on the `default` work queue: Rigel on one machine.
    Up(up::UpArgs),
    /// Run the Rigel API server.
    #[command(subcommand)]
    Server(server::ServerCommand),
    /// Create, list, inspect, run and schedule deployments.
    #[command(subcommand)]
    Deployment(deployment::DeploymentCommand),
    /// List and inspect flows.
    #[command(subcommand)]
    Flow(flow::FlowCommand),
    /// List, inspect, cancel and read the logs of flow runs.
    #[command(subcommand, name = "flow-run")]
    FlowRun(flow_run::FlowRunCommand),
    /// Manage the work queues agents take runs from.
    #[command(subcommand, name = "work-queue")]
    WorkQueue(work_queue::WorkQueueCommand),
    /// Create, list and revoke API keys (admin).
    #[command(subcommand, name = "api-key")]
    ApiKey(api_key::ApiKeyCommand),
    /// Back up the database, and see what it holds.
    #[command(subcommand)]
    Db(db_cmd::DbCommand),
    /// Manage where flow code is stored.
    #[command(subcommand)]
    Storage(storage::StorageCommand),
    /// See the agents.
    #[command(subcommand)]
    Agent(agent_cmd::AgentCommand),
    /// Browse and steer deployments, runs, queues and agents in a terminal UI.
    Tui(tui_cmd::TuiArgs),
    /// Install Rigel's Python module (`rigel`, `prefect`) and print its folder, for running
    /// flow files with your own Python: `PYTHONPATH=$(rigel python-path) python3 my_flow.py`.
    #[command(name = "python-path")]
    PythonPath,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Internals used by agents.
    #[command(subcommand, hide = true)]
    Engine(agent_cmd::EngineCommand),
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(rigel_common::env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    let ansi = std::env::var_os("NO_COLOR").is_none() && std::io::stderr().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .init();
}

async fn dispatch(cli: Cli) -> CliResult {
    let format = cli.output;
    let client = RigelClient::from_env;
    match cli.command {
        Command::Server(cmd) => Ok(server::run(cmd).await?),
        Command::Up(args) => up::up(args).await,
        Command::Deployment(cmd) => deployment::run(&client(), cmd, format).await,
        Command::Flow(cmd) => flow::run(&client(), cmd, format).await,
        Command::FlowRun(cmd) => flow_run::run(&client(), cmd, format).await,
        Command::WorkQueue(cmd) => work_queue::run(&client(), cmd, format).await,
        Command::Storage(cmd) => storage::run(&client(), cmd, format).await,
        Command::ApiKey(cmd) => api_key::run(&client(), cmd, format).await,
        Command::Db(cmd) => db_cmd::run(cmd, format).await,
        Command::Agent(cmd) => agent_cmd::run(&client(), cmd, format).await,
        Command::Engine(cmd) => agent_cmd::engine(&client(), cmd).await,
        Command::Tui(args) => tui_cmd::run(client(), args).await,
        Command::PythonPath => python_path::run(format),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "rigel", &mut std::io::stdout());
            Ok(())
        }
    }
}

/// Puts the key of `--api-key-file` where every client reads it (and agents pass it on).
fn load_api_key_file(file: &std::path::Path) -> CliResult {
    let text = std::fs::read_to_string(file)
        .map_err(|e| exit::CliError::invalid(format!("--api-key-file {}: {e}", file.display())))?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(file) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            eprintln!(
                "warning: --api-key-file {} can be read by other users; `chmod 600` it",
                file.display()
            );
        }
    }
    let key = text.trim();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(exit::CliError::invalid(format!(
            "--api-key-file {}: the file must hold one key (as `rigel api-key create` prints it)",
            file.display()
        )));
    }
    // before any thread starts: nothing else reads the environment yet
    std::env::set_var(rigel_common::env::API_KEY, key);
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(path) = std::env::var_os(rigel_common::env::CA_CERT).filter(|v| !v.is_empty()) {
        if let Err(e) = RigelClient::read_ca_file(std::path::Path::new(&path)) {
            eprintln!("error: {} {e}", rigel_common::env::CA_CERT);
            return ExitCode::from(exit::INVALID);
        }
    }
    if let Some(file) = &cli.api_key_file {
        if let Err(e) = load_api_key_file(file) {
            eprintln!("error: {}", e.message);
            return ExitCode::from(e.code);
        }
    }
    // log lines on stderr would tear the terminal UI's screen
    if !matches!(cli.command, Command::Tui(_)) {
        init_tracing();
    }
    // The server (alone or in `up`) and the terminal UI use every core; the other commands wait
    // on the network and on child processes, and one thread starts and runs them for less (an
    // engine is started for every flow run).
    let runtime = if matches!(
        cli.command,
        Command::Server(_) | Command::Up(_) | Command::Tui(_)
    ) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    }
    .enable_all()
    .build();
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}
