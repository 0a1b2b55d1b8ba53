//! Script flows: the file itself is run, with the interpreter its shebang or extension names.

use std::path::Path;

use tokio::process::Command;

use crate::process::FlowProcess;

/// The command that runs a script file: its `#!` line, else by extension (`.py` → the Python
/// interpreter: `RIGEL_PYTHON`, else python3; anything else → sh).
pub fn command_for(flow: &FlowProcess, path: &Path, source: &[u8]) -> Command {
    if let Some(rest) = source.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        let line = String::from_utf8_lossy(line);
        let line = line.trim();
        // Linux passes everything after the interpreter as one argument
        let (interp, arg) = match line.split_once(char::is_whitespace) {
            Some((i, a)) => (i.to_string(), Some(a.trim().to_string())),
            None => (line.to_string(), None),
        };
        if !interp.is_empty() {
            let mut cmd = flow.command(interp);
            if let Some(a) = arg.filter(|a| !a.is_empty()) {
                cmd.arg(a);
            }
            cmd.arg(path);
            return cmd;
        }
    }
    let program = match path.extension().and_then(|e| e.to_str()) {
        Some("py") => flow.python(),
        Some("bash") => "bash".into(),
        _ => "sh".into(),
    };
    let mut cmd = flow.command(program);
    cmd.arg(path);
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(cmd: &Command) -> Vec<String> {
        let std = cmd.as_std();
        std::iter::once(std.get_program())
            .chain(std.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn interpreters_come_from_the_shebang_or_the_extension() {
        let none = FlowProcess::default();
        let p = Path::new("/x/flow.py");
        assert_eq!(
            argv(&command_for(&none, p, b"#!/usr/bin/env python3\nprint(1)")),
            ["/usr/bin/env", "python3", "/x/flow.py"]
        );
        assert_eq!(
            argv(&command_for(&none, p, b"#!/bin/bash -eu\n")),
            ["/bin/bash", "-eu", "/x/flow.py"]
        );
        let python = crate::python::python_interpreter();
        assert_eq!(
            argv(&command_for(&none, p, b"print(1)")),
            [python.to_string_lossy().as_ref(), "/x/flow.py"]
        );
        assert_eq!(
            argv(&command_for(&none, Path::new("/x/f.sh"), b"echo")),
            ["sh", "/x/f.sh"]
        );
        assert_eq!(
            argv(&command_for(&none, Path::new("/x/flow"), b"echo")),
            ["sh", "/x/flow"]
        );
    }
}
