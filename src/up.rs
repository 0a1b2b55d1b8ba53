//! `rigel up`: the server and a local agent in one process, for a single machine.

use clap::Args;
use rigel_common::client::RigelClient;

use crate::agent_cmd::{self, signal_token};
use crate::exit::{CliError, CliResult};
use crate::server::{self, StartArgs};

#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub server: StartArgs,
    /// The work queue the local agent takes runs from (created if missing).
    #[arg(long, default_value = "default")]
    pub queue: String,
    /// Most flow runs the local agent executes at once.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    #[command(flatten)]
    pub engines: agent_cmd::EngineArgs,
}

pub async fn up(args: UpArgs) -> CliResult {
    server::raise_open_files_limit();
    let opened = server::open(&args.server).await?;
    let client = RigelClient::new(&opened.api_url);
    let stop = signal_token();
    let server_stop = tokio_util::sync::CancellationToken::new();
    let server = {
        let s = server_stop.clone();
        tokio::spawn(rigel_server::serve_state(
            opened.state,
            opened.listener,
            async move { s.cancelled().await },
        ))
    };
    eprintln!(
        "A local agent takes runs from work queue '{}'. Try:\n  rigel deployment create examples/hello-daily.yaml\n  rigel deployment run hello-world/hello-world-daily -p name=Marvin --watch\n  rigel tui",
        args.queue
    );
    let agent_args = agent_cmd::StartArgs {
        queue: args.queue,
        name: Some(format!("local-{}", std::process::id())),
        limit: args.limit,
        prefetch_seconds: 10.0,
        heartbeat_seconds: 10.0,
        grace_seconds: 30.0,
        allow_local_roots: Vec::new(),
        engines: args.engines,
    };
    let agent_result = agent_cmd::start(client, agent_args, stop).await;
    server_stop.cancel();
    match server.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            return Err(CliError::failed(format!(
                "the server stopped with an error: {e}"
            )))
        }
        Err(e) => return Err(CliError::failed(format!("the server task failed: {e}"))),
    }
    eprintln!("Rigel stopped.");
    agent_result
}
