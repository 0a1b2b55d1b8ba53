//! `rigel python-path`: installs Rigel's Python module (`rigel`, and `prefect` for the subset
//! the seed uses) under `RIGEL_HOME` and prints the folder, for `PYTHONPATH`:
//! `PYTHONPATH=$(rigel python-path) python3 my_flow.py` runs a flow file with the user's own
//! interpreter, and the flow's calls are tracked as flow runs on the server.

use std::io::IsTerminal;

use serde::Serialize;

use crate::exit::{CliError, CliResult};
use crate::output::{self, Format};

#[derive(Serialize)]
struct PythonPath {
    python_path: String,
}

pub fn run(format: Format) -> CliResult {
    let root = crate::config::rigel_home()?.join("python");
    let root = std::path::absolute(&root).map_err(|e| {
        CliError::failed(format!("cannot resolve the folder {}: {e}", root.display()))
    })?;
    let dir = rigel_agent::python::install_shared(&root).map_err(|e| {
        CliError::failed(format!(
            "cannot write Rigel's Python module under {}: {e}",
            root.display()
        ))
    })?;
    let shown = dir.display().to_string();
    if format != Format::Table {
        return output::data(format, &PythonPath { python_path: shown });
    }
    println!("{shown}");
    if std::io::stdout().is_terminal() {
        eprintln!("Run a flow file with it: PYTHONPATH=$(rigel python-path) python3 my_flow.py");
    }
    Ok(())
}
