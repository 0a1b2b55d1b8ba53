//! `rigel deployment create` as a user runs it: dry runs that check what creating checks, exit
//! codes and lines of failures, JSON output, and one deployment given twice.

mod support;

use std::path::Path;

use serde_json::Value;
use support::ServerProcess;

struct Setup {
    server: ServerProcess,
    dir: tempfile::TempDir,
    _home: tempfile::TempDir,
}

impl Setup {
    /// A server, and a folder holding a script flow and these spec files.
    fn new(files: &[(&str, &str)]) -> Self {
        let home = tempfile::tempdir().unwrap();
        let server = ServerProcess::start(home.path());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("hello.sh"),
            "#!/bin/sh\n# /// rigel\n# name = \"hello\"\n# ///\necho hi\n",
        )
        .unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        Self {
            server,
            dir,
            _home: home,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `rigel ARGS… deployment create FILES…`: exit code, stdout, stderr.
    fn create(&self, before: &[&str], files: &[&str], after: &[&str]) -> (i32, String, String) {
        let paths: Vec<String> = files.iter().map(|f| self.path(f)).collect();
        let mut args: Vec<&str> = before.to_vec();
        args.extend(["deployment", "create"]);
        args.extend(paths.iter().map(String::as_str));
        args.extend_from_slice(after);
        let out = self.server.cli(&args);
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn deployments(&self) -> Vec<Value> {
        let out = self.server.cli_ok(&["-o", "json", "deployment", "ls"]);
        serde_json::from_str(&out).unwrap()
    }
}

fn in_dir(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

#[test]
fn a_dry_run_refuses_what_create_refuses() {
    let s3 = "name: in-s3\nflow_location: hello.sh\nflow_storage:\n  type: s3\n  config:\n    bucket: flows\n";
    let missing =
        "name: nowhere\nflow_location: hello.sh\ntags: [a]\nflow_storage: no-such-block\n";
    let setup = Setup::new(&[("s3.yaml", s3), ("missing.yaml", missing)]);
    for dry in [true, false] {
        let flag: &[&str] = if dry { &["--dry-run"] } else { &[] };
        let (code, _, err) = setup.create(&[], &["s3.yaml"], flag);
        assert_eq!(code, 5, "dry run {dry}: {err}");
        assert!(err.contains("S3 block"), "{err}");
        assert!(
            err.contains(&format!("{}:3:", in_dir(setup.dir.path(), "s3.yaml"))),
            "reported at the flow_storage line: {err}"
        );
        // a block that does not exist is not found (3), at the line that names it
        let (code, _, err) = setup.create(&[], &["missing.yaml"], flag);
        assert_eq!(code, 3, "dry run {dry}: {err}");
        assert!(
            err.contains(&format!("{}:4:", in_dir(setup.dir.path(), "missing.yaml"))),
            "{err}"
        );
        assert!(err.contains("no storage block 'no-such-block'"), "{err}");
    }
    assert!(setup.deployments().is_empty());
    // a dry run writes no block either
    let out = setup.server.cli_ok(&["-o", "json", "storage", "ls"]);
    let blocks: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(blocks.is_empty(), "{blocks:?}");
}

#[test]
fn json_output_lists_what_was_created() {
    let two = "name: one\nflow_location: hello.sh\n---\nname: two\nflow_location: hello.sh\n";
    let setup = Setup::new(&[("two.yaml", two)]);
    let (code, out, err) = setup.create(&["-o", "json"], &["two.yaml"], &["--dry-run"]);
    assert_eq!(code, 0, "{err}");
    let checked: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(checked.len(), 2, "{out}");
    assert_eq!(checked[0]["name"], "one");
    assert!(setup.deployments().is_empty());

    let (code, out, err) = setup.create(&["-o", "json"], &["two.yaml"], &[]);
    assert_eq!(code, 0, "{err}");
    let made: Vec<Value> = serde_json::from_str(&out).unwrap();
    let names: Vec<&str> = made.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["one", "two"]);
    assert_eq!(made[0]["flow_name"], "hello");
    assert!(made[0]["id"].is_string());
}

#[test]
fn one_deployment_in_two_files_is_an_error_naming_both() {
    let a = "name: daily\nflow_location: hello.sh\ntags: [first]\n";
    let b = "# the same deployment again\nname: daily\nflow_location: ./hello.sh\ntags: [second]\n";
    let setup = Setup::new(&[("a.yaml", a), ("b.yaml", b)]);
    let (code, _, err) = setup.create(&[], &["a.yaml", "b.yaml"], &[]);
    assert_eq!(code, 5, "{err}");
    let want = format!(
        "{}:2: duplicate deployment 'hello/daily' (also at {}:1)",
        in_dir(setup.dir.path(), "b.yaml"),
        in_dir(setup.dir.path(), "a.yaml")
    );
    assert!(err.contains(&want), "{err}");
    let all = setup.deployments();
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0]["tags"],
        serde_json::json!(["first"]),
        "the first is kept"
    );
}

#[test]
fn a_text_file_is_not_deployed_as_a_flow() {
    let spec = "name: notes\nflow_location: notes.txt\n";
    let setup = Setup::new(&[("notes.txt", "remember the milk\n"), ("s.yaml", spec)]);
    let (code, _, err) = setup.create(&[], &["s.yaml"], &[]);
    assert_eq!(code, 5, "{err}");
    assert!(err.contains("is not a flow file Rigel can run"), "{err}");
    assert!(setup.deployments().is_empty());
}

#[test]
fn intervals_are_durations_in_specs_and_set_schedule() {
    let spec = "name: every\nflow_location: hello.sh\nschedule:\n  interval: 90m\n";
    let setup = Setup::new(&[("s.yaml", spec)]);
    let (code, _, err) = setup.create(&[], &["s.yaml"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(setup.deployments()[0]["schedule"]["interval"], 5400.0);
    setup.server.cli_ok(&[
        "deployment",
        "set-schedule",
        "hello/every",
        "--interval",
        "PT1H",
    ]);
    assert_eq!(setup.deployments()[0]["schedule"]["interval"], 3600.0);
    let out = setup.server.cli(&[
        "deployment",
        "set-schedule",
        "hello/every",
        "--interval",
        "soon",
    ]);
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--interval: 'soon' is not a duration"),
        "{err}"
    );
}
