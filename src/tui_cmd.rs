//! `rigel tui`: the terminal UI.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use rigel_common::client::RigelClient;

use crate::exit::{CliError, CliResult};

#[derive(Args, Debug)]
pub struct TuiArgs {
    /// Refuse every change (runs, cancels, pauses); the header says READ-ONLY.
    #[arg(long)]
    pub readonly: bool,
    /// Seconds between full refetches (live events update the screen in between).
    #[arg(long, value_name = "S", default_value_t = 10.0, value_parser = parse_refresh)]
    pub refresh: f64,
}

fn parse_refresh(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.5..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a number of seconds between 0.5 and 3600"
        )),
    }
}

pub async fn run(client: RigelClient, args: TuiArgs) -> CliResult {
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(CliError::invalid(
            "rigel tui needs a terminal; use the other commands (e.g. `rigel deployment ls`) in scripts",
        ));
    }
    let options = rigel_tui::Options {
        readonly: args.readonly,
        refresh: Duration::from_secs_f64(args.refresh),
    };
    rigel_tui::run(client, options)
        .await
        .map_err(|e| CliError::failed(e.to_string()))
}
