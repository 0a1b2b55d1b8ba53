//! What makes a file a flow Rigel can run, checked when a deployment is created so that a file
//! that is no flow is refused there, with its line, instead of failing every run later.

use std::path::Path;

use super::{extension, FlowFile, FlowFileKind, SpecError};

/// Extensions the engine starts without a `#!` line (`sh`, `bash`, the Python interpreter).
const SCRIPT_EXTENSIONS: [&str; 3] = ["sh", "bash", "py"];

/// What a user can deploy, for the messages that refuse a file.
const ACCEPTED: &str = "a flow file is a YAML file with `flows:` (.yaml/.yml), a Python file \
     with @flow-decorated functions (.py), or a script: a .sh/.bash/.py file, a file starting \
     with a #! line, or an executable file";

/// A `.py` file that uses Prefect's (or Rigel's) `flow` but decorates no function with it is
/// not a script: Rigel would run it as one, and its runs would fail on `import prefect`. The
/// common case is Prefect's call style, `hello = flow(hello_world, name="hello")`, which is
/// refused at its line with the decorator to write instead.
pub(super) fn refuse_undecorated_python(path: &Path, text: &str) -> Result<(), Vec<SpecError>> {
    let Some(import) = line_of(text, |l| {
        [
            "from prefect",
            "import prefect",
            "from rigel",
            "import rigel",
        ]
        .iter()
        .any(|p| l.starts_with(p))
    }) else {
        return Ok(());
    };
    if let Some(call) = line_of(text, calls_flow) {
        return Err(vec![SpecError::at(
            path,
            call,
            "this calls `flow(...)` to make a flow; Rigel reads flows from decorators (it never \
             runs the file to find them): write `@flow(name=\"...\")` on the line above the \
             function's `def` instead",
        )]);
    }
    Err(vec![SpecError::at(
        path,
        import,
        "imports Prefect (or Rigel) but no function is decorated with @flow, so there is no \
         flow to deploy; decorate the flow function with `@flow`",
    )])
}

/// Refuses a script flow that Rigel would not know how to start (`notes.txt`): it needs a `#!`
/// line, an extension of [`SCRIPT_EXTENSIONS`] or the executable bit (`executable`, which only
/// the file on disk can tell).
pub fn check_runnable(file: &FlowFile, executable: bool) -> Result<(), SpecError> {
    if file.kind != FlowFileKind::Script
        || executable
        || file.source.starts_with(b"#!")
        || extension(&file.path).is_some_and(|e| SCRIPT_EXTENSIONS.contains(&e.as_str()))
    {
        return Ok(());
    }
    Err(SpecError::new(
        &file.path,
        None,
        format!("is not a flow file Rigel can run: {ACCEPTED}"),
    ))
}

/// Whether the file at `path` has an executable bit set.
pub fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

/// The 1-based number of the first code line (comments skipped) that `matches`.
fn line_of(text: &str, matches: impl Fn(&str) -> bool) -> Option<usize> {
    text.lines()
        .map(str::trim_start)
        .position(|l| !l.starts_with('#') && matches(l))
        .map(|i| i + 1)
}

/// A call of `flow(` or `prefect.flow(` / `rigel.flow(` that is not a decorator.
fn calls_flow(line: &str) -> bool {
    let mut rest = line;
    while let Some(at) = rest.find("flow(") {
        let before = &rest[..at];
        let word_start = before
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let qualified = before.ends_with("prefect.") || before.ends_with("rigel.");
        let decorator = before
            .trim_end_matches("prefect.")
            .trim_end_matches("rigel.")
            .trim()
            == "@";
        if (word_start || qualified) && !decorator && !line.starts_with("def ") {
            return true;
        }
        rest = &rest[at + "flow(".len()..];
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_call_style_flows_but_not_decorators_or_other_names() {
        assert!(calls_flow("hello = flow(hello_world, name=\"hello\")"));
        assert!(calls_flow("hello = prefect.flow(name='x')(hello_world)"));
        assert!(!calls_flow("@flow(name='x')"));
        assert!(!calls_flow("@prefect.flow(name='x')"));
        assert!(!calls_flow("run_workflow(1)"));
        assert!(!calls_flow("def flow(x):"));
    }
}
