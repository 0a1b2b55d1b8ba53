//! `rigel db …`: the database of this machine's `RIGEL_HOME` (or `RIGEL_DATABASE_URL`), read
//! directly — these work with the server running or not.

use std::path::PathBuf;

use clap::Subcommand;
use rigel_server::db::maintenance;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format, Table};
use crate::{config, say};

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Write a consistent, compacted copy of the database to FILE (safe while the server runs).
    Backup { file: PathBuf },
    /// Rows per table and the space the database uses.
    Stats,
}

pub async fn run(cmd: DbCommand, format: Format) -> CliResult {
    let home = config::rigel_home()?;
    let url = config::database_url(&home);
    match cmd {
        DbCommand::Backup { file } => {
            let bytes = maintenance::backup(&url, &file)
                .await
                .map_err(CliError::failed)?;
            say!(
                "Backed up {url} to {} ({:.1} MB). Restore by stopping the server and putting \
                 the file in place of the database.",
                file.display(),
                bytes as f64 / 1e6
            );
            Ok(())
        }
        DbCommand::Stats => {
            let stats = maintenance::stats(&url).await.map_err(CliError::failed)?;
            if format != Format::Table {
                return output::data(format, &stats);
            }
            let mut t = Table::new(vec!["TABLE", "ROWS"]);
            for (name, rows) in &stats.tables {
                t.row(vec![name.clone(), rows.to_string()]);
            }
            t.print();
            let mb = |pages: i64| (pages * stats.page_size) as f64 / 1e6;
            say!(
                "{url}: {:.1} MB in {} pages, {:.1} MB of them free",
                mb(stats.pages),
                stats.pages,
                mb(stats.free_pages)
            );
            Ok(())
        }
    }
}
