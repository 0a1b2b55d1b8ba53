//! Spec parsing and resolving tests; the helpers and sample texts they share.

mod documents;
mod fields;
mod python;
mod resolving;

use std::path::Path;

use serde_json::json;

use super::*;
use rigel_common::block::BlockType;
use rigel_common::schedule::IntervalSchedule;

fn parse(name: &str, text: &str) -> (Vec<SpecDocument>, Vec<SpecError>) {
    parse_spec_source(Path::new(name), text)
}

fn only_error(name: &str, text: &str) -> SpecError {
    let (specs, errors) = parse(name, text);
    assert!(specs.is_empty(), "{specs:#?}");
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

const SEED: &str = "\
name: hello-world-daily
flow_location: ./hello_flow.py
flow_name: hello-world
tags:
- foo
- bar
parameters:
    name: \"Earth\"
schedule:
    interval: 3600
";

/// Writes `files` into a new temporary folder.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const HELLO_SH: &str = "\
#!/bin/sh
# /// rigel
# name = \"hello-world\"
# [parameters.name]
# type = \"string\"
# default = \"world\"
# ///
echo \"Hello $RIGEL_PARAM_NAME!\"
";
