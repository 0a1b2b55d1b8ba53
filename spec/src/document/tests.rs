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

#[test]
fn the_seed_yaml_example() {
    let (specs, errors) = parse("/home/me/deploy/spec.yaml", SEED);
    assert!(errors.is_empty(), "{errors:#?}");
    let [doc] = specs.as_slice() else {
        panic!("{specs:#?}")
    };
    assert_eq!(doc.line, 1);
    assert_eq!(doc.file, Path::new("/home/me/deploy/spec.yaml"));
    let spec = &doc.spec;
    assert_eq!(spec.name, "hello-world-daily");
    assert_eq!(
        spec.flow_location.as_deref(),
        Some(Path::new("/home/me/deploy/hello_flow.py"))
    );
    assert_eq!(spec.flow_name.as_deref(), Some("hello-world"));
    assert_eq!(spec.tags, ["foo", "bar"]);
    assert_eq!(spec.parameters["name"], json!("Earth"));
    assert_eq!(
        spec.schedule,
        Some(Schedule::Interval(IntervalSchedule {
            interval: 3600.0,
            anchor_date: None,
            timezone: None,
        }))
    );
    assert_eq!(spec.flow_runner, None);
    assert_eq!(spec.flow_data, None);
    assert_eq!(doc.line_of("schedule"), 9);
    assert_eq!(doc.line_of("parameters.name"), 8);
}

#[test]
fn multi_document_yaml_keeps_going_after_a_bad_document() {
    let text = "\
# Three deployments
name: first
flow_location: ./a.sh
---
name: second
flow_location: ./a.sh
schedule:
  interval: 0
---
name: third
flow_location: ./b.sh
tags: [x]
";
    let (specs, errors) = parse("specs.yaml", text);
    let names: Vec<(&str, usize)> = specs
        .iter()
        .map(|d| (d.spec.name.as_str(), d.line))
        .collect();
    assert_eq!(names, [("first", 2), ("third", 10)]);
    let [err] = errors.as_slice() else {
        panic!("{errors:#?}")
    };
    assert_eq!(err.line, Some(8), "{err}");
    assert!(err.message.starts_with("schedule.interval: "), "{err}");
    assert!(err
        .to_string()
        .starts_with("specs.yaml:8: schedule.interval"));
}

#[test]
fn a_syntax_error_spoils_only_its_document() {
    let text = "\
name: a
flow_location: a.sh
---
name: b
flow_location: [a.sh
---
--- {name: c, flow_location: c.sh}
";
    let (specs, errors) = parse("s.yml", text);
    let names: Vec<(&str, usize)> = specs
        .iter()
        .map(|d| (d.spec.name.as_str(), d.line))
        .collect();
    assert_eq!(names, [("a", 1), ("c", 7)]);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, Some(6), "{}", errors[0]);
}

#[test]
fn json_single_object_and_array() {
    let (specs, errors) = parse(
        "/d/one.json",
        r#"{"name": "one", "flow_location": "f.sh", "parameters": {"n": 1}}"#,
    );
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(specs[0].spec.name, "one");
    assert_eq!(
        specs[0].spec.flow_location.as_deref(),
        Some(Path::new("/d/f.sh"))
    );

    let text = r#"[
  {"name": "a", "flow_location": "f.sh"},
  {
    "name": "b",
    "flow_location": "f.sh",
    "tags": ["ok", 3]
  },
  {"name": "c", "flow_location": "/abs/g.sh",
   "schedule": {"cron": "0 9 * * *", "timezone": "Europe/London"}}
]"#;
    let (specs, errors) = parse("many.json", text);
    let names: Vec<(&str, usize)> = specs
        .iter()
        .map(|d| (d.spec.name.as_str(), d.line))
        .collect();
    assert_eq!(names, [("a", 2), ("c", 8)]);
    assert_eq!(
        specs[1].spec.flow_location.as_deref(),
        Some(Path::new("/abs/g.sh"))
    );
    let [err] = errors.as_slice() else {
        panic!("{errors:#?}")
    };
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.starts_with("tags[1]: invalid type"), "{err}");

    let err = only_error(
        "bad.json",
        "{\n  \"name\": \"a\",\n  \"flow_location\": }\n",
    );
    assert_eq!(err.line, Some(3), "{err}");
    assert!(!err.message.contains("line 3"), "{err}");
}

#[test]
fn unknown_key_is_named_with_its_line() {
    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\n\nschedul:\n  interval: 60\n",
    );
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.starts_with("unknown field `schedul`"), "{err}");

    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\nflow_runner:\n  type: subprocess\n  confg: {}\n",
    );
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("unknown field `confg`"), "{err}");
}

#[test]
fn bad_schedules_are_reported_at_their_line() {
    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\nschedule:\n  cron: \"61 * * * *\"\n",
    );
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.starts_with("schedule.cron"), "{err}");

    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\nschedule:\n  interval: 60\n  cron: \"* * * * *\"\n",
    );
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("give only one of"), "{err}");

    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\nschedule:\n  interval: 60\n  timezone: Mars/Olympus\n",
    );
    assert_eq!(err.line, Some(5), "{err}");
}

#[test]
fn flow_location_is_required_outside_flow_files() {
    let err = only_error("s.yaml", "name: a\ntags: [x]\n");
    assert_eq!(err.line, Some(1));
    assert_eq!(err.message, "flow_location is required");
    let err = only_error("s.yaml", "flow_location: a.sh\n");
    assert!(err.message.contains("missing field `name`"), "{err}");
}

#[test]
fn relative_locations_resolve_against_the_spec_file() {
    let cases = [
        ("/srv/specs/s.yaml", "./flows/a.sh", "/srv/specs/flows/a.sh"),
        (
            "/srv/specs/s.yaml",
            "../flows/a.sh",
            "/srv/specs/../flows/a.sh",
        ),
        ("/srv/specs/s.yaml", "/opt/a.sh", "/opt/a.sh"),
        ("specs/s.yaml", "a.sh", "specs/a.sh"),
        ("s.yaml", "./a.sh", "./a.sh"),
    ];
    for (file, location, expected) in cases {
        let (specs, errors) = parse(file, &format!("name: x\nflow_location: {location}\n"));
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(
            specs[0].spec.flow_location.as_deref(),
            Some(Path::new(expected)),
            "{file} + {location}"
        );
    }
}

#[test]
fn names_tags_runners_and_storage_are_validated() {
    let cases = [
        ("name: a/b\nflow_location: x\n", 1, "name: "),
        ("name: a\nflow_location: x\ntags:\n  - ok\n  - ''\n", 5, "tags[1]: "),
        (
            "name: a\nflow_location: x\nflow_runner:\n  type: subprocess\n  config:\n    env: {A: 1}\n",
            6,
            "flow_runner.config.env.A: ",
        ),
        (
            "name: a\nflow_location: x\nflow_storage:\n  type: s3\n  config:\n    region: eu\n",
            5,
            "flow_storage.config.bucket: ",
        ),
        ("name: a\nflow_location: x\nflow_storage: ''\n", 3, "flow_storage: "),
        ("name: a\nflow_location: x\nwork_queue_name: 'q/1'\n", 3, "work_queue_name: "),
        ("name: a\nflow_location: x\nflow_data: pickle\n", 3, "flow_data: unknown variant"),
    ];
    for (text, line, prefix) in cases {
        let err = only_error("s.yaml", text);
        assert_eq!(err.line, Some(line), "{text}: {err}");
        assert!(err.message.starts_with(prefix), "{text}: {err}");
    }
}

#[test]
fn storage_runner_and_flow_data_forms() {
    let text = "\
name: storage instance test
flow_location: f.sh
flow_runner: subprocess
flow_storage: {type: s3, config: {bucket: my-bucket, aws_access_key_id: AKIA}}
flow_data: text
is_schedule_active: false
work_queue_name: nightly
description: Stores its code in S3
---
name: by id
flow_location: f.sh
flow_runner: {type: universal, config: {env: {A: b}}}
flow_storage: 0b3c1e9e-6a9f-4f3e-8f6a-2a1f6c1b2d3e
";
    let (specs, errors) = parse("s.yaml", text);
    assert!(errors.is_empty(), "{errors:#?}");
    let first = &specs[0].spec;
    assert_eq!(first.name, "storage instance test");
    assert_eq!(
        first.flow_runner,
        Some(FlowRunnerSettings {
            kind: FlowRunnerType::Subprocess,
            config: json!({})
        })
    );
    assert_eq!(
        first.flow_storage,
        Some(FlowStorage::New(BlockCreate {
            name: None,
            kind: BlockType::S3,
            config: json!({"bucket": "my-bucket", "aws_access_key_id": "AKIA"}),
        }))
    );
    assert_eq!(first.flow_data, Some(FlowDataMode::Text));
    assert_eq!(first.is_schedule_active, Some(false));
    assert_eq!(first.work_queue_name.as_deref(), Some("nightly"));
    let second = &specs[1].spec;
    assert_eq!(
        second.flow_storage,
        Some(FlowStorage::Block(
            "0b3c1e9e-6a9f-4f3e-8f6a-2a1f6c1b2d3e".into()
        ))
    );
    assert_eq!(
        second.flow_runner.as_ref().unwrap().config,
        json!({"env": {"A": "b"}})
    );
}

#[test]
fn a_yaml_list_of_specs_and_empty_documents() {
    let text = "---\n# nothing here\n---\n- name: a\n  flow_location: a.sh\n- name: b\n  flow_location: b.sh\n  tags: oops\n...\n";
    let (specs, errors) = parse("s.yaml", text);
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].line, 4);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, Some(8), "{}", errors[0]);

    let err = only_error("s.yaml", "just a string\n");
    assert!(err.message.contains("must be a mapping"), "{err}");
    assert!(parse("s.yaml", "# only a comment\n").0.is_empty());
}

#[test]
fn duplicate_deployments_in_one_file() {
    let text = "name: a\nflow_location: f.sh\n---\nname: a\nflow_location: ./f.sh\n---\nname: a\nflow_location: g.sh\n";
    let (specs, errors) = parse("s.yaml", text);
    assert_eq!(specs.len(), 2);
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].line, Some(4));
    assert_eq!(
        errors[0].message,
        "duplicate deployment 'a' (also at line 1)"
    );
}

#[test]
fn a_flow_file_is_loaded_with_its_deployments() {
    let text = "\
flows:
  - name: hello
    tasks: [{name: say, run: echo hello}]
deployments:
  - name: hourly
    schedule: {interval: 3600}
";
    let loaded = load_source(Path::new("/f/hello.yaml"), text);
    assert!(loaded.errors.is_empty(), "{:#?}", loaded.errors);
    let flow_file = loaded.flow_file.as_ref().unwrap();
    assert_eq!(flow_file.flows[0].name, "hello");
    assert_eq!(loaded.specs.len(), 1);
    assert_eq!(loaded.specs[0].spec.flow_name.as_deref(), Some("hello"));
    let resolved = resolve_with(&loaded.specs[0], flow_file.clone()).unwrap();
    assert_eq!(resolved.flow.name, "hello");
    assert_eq!(resolved.parameter_schema, None);

    let (_, errors) = parse("p.py", "DeploymentSpec(name='x')\n");
    assert!(errors[0].message.contains("Python file"), "{}", errors[0]);
}

#[test]
fn specs_can_be_built_in_code() {
    let mut spec = DeploymentSpec::new("nightly", "/srv/flows/etl.yaml");
    spec.tags.push("prod".into());
    assert_eq!(spec.validate(), Ok(()));
    let as_json = serde_json::to_value(&spec).unwrap();
    assert_eq!(
        as_json,
        json!({"name": "nightly", "flow_location": "/srv/flows/etl.yaml", "tags": ["prod"]})
    );
    let back: DeploymentSpec = serde_json::from_value(as_json).unwrap();
    assert_eq!(back, spec);
    let doc = SpecDocument::in_code(DeploymentSpec::default(), "main.rs");
    let err = &resolve(&doc).unwrap_err()[0];
    assert_eq!(err.to_string(), "main.rs: flow_location is required");
}

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

#[test]
fn resolve_reads_the_flow_and_checks_parameters() {
    let dir = folder(&[
        ("hello_flow.sh", HELLO_SH),
        (
            "deploy.yaml",
            "name: earth\nflow_location: ./hello_flow.sh\nflow_name: hello-world\nparameters:\n  name: Earth\n---\nname: typo\nflow_location: hello_flow.sh\nparameters:\n  nmae: Earth\n",
        ),
    ]);
    let (specs, errors) = parse_spec_file(&dir.path().join("deploy.yaml"));
    assert!(errors.is_empty(), "{errors:#?}");

    let resolved = resolve(&specs[0]).unwrap();
    assert_eq!(resolved.flow.name, "hello-world");
    assert_eq!(resolved.flow_file.source, HELLO_SH.as_bytes());
    let schema = resolved.parameter_schema.clone().unwrap();
    assert_eq!(schema["properties"]["name"]["default"], json!("world"));

    let create = resolved.to_create(FlowData {
        encoding: DataEncoding::Text,
        blob: HELLO_SH.into(),
    });
    assert_eq!(create.name, "earth");
    assert_eq!(create.flow_name.as_deref(), Some("hello-world"));
    assert_eq!(create.parameters["name"], json!("Earth"));
    assert_eq!(create.parameter_schema, Some(schema));
    assert_eq!(create.validate(), Ok(()));
    assert_eq!(resolved.local_flow_data(), Ok(None));

    let errors = resolve(&specs[1]).unwrap_err();
    assert_eq!(errors.len(), 1);
    let err = &errors[0];
    assert_eq!(err.file, dir.path().join("deploy.yaml"));
    assert_eq!(err.line, Some(10), "{err}");
    assert_eq!(
        err.message,
        "flow 'hello-world': parameters.nmae: unknown parameter; the flow's parameters are: name"
    );
}

#[test]
fn resolve_reports_flow_selection_and_missing_files_at_the_spec() {
    let two_flows = "flows:\n  - name: a\n    tasks: [{name: t, run: echo}]\n  - name: b\n    tasks: [{name: t, run: echo}]\n";
    let dir = folder(&[
        ("two.yaml", two_flows),
        (
            "s.yaml",
            "name: x\nflow_location: two.yaml\n---\nname: y\nflow_location: two.yaml\nflow_name: c\n---\nname: z\nflow_location: missing.sh\n",
        ),
    ]);
    let (specs, errors) = parse_spec_file(&dir.path().join("s.yaml"));
    assert!(errors.is_empty(), "{errors:#?}");

    let err = &resolve(&specs[0]).unwrap_err()[0];
    assert_eq!(err.line, Some(1), "{err}");
    assert!(err.message.starts_with("flow_name is required"), "{err}");
    assert!(err.message.ends_with("'a', 'b'"), "{err}");

    let err = &resolve(&specs[1]).unwrap_err()[0];
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.starts_with("no flow named 'c'"), "{err}");
    assert!(err.message.ends_with("its flows: 'a', 'b'"), "{err}");

    let err = &resolve(&specs[2]).unwrap_err()[0];
    assert_eq!(err.line, Some(9), "{err}");
    assert!(
        err.message.starts_with("flow_location: cannot read"),
        "{err}"
    );
}

#[test]
fn scheduled_deployments_must_give_required_parameters() {
    let flow = "flows:\n  - name: f\n    parameters:\n      day: {type: string, required: true}\n    tasks: [{name: t, run: echo}]\n";
    let dir = folder(&[
        ("f.yaml", flow),
        (
            "s.yaml",
            "name: manual\nflow_location: f.yaml\n---\nname: sched\nflow_location: f.yaml\nschedule: {interval: 60}\n",
        ),
    ]);
    let (specs, _) = parse_spec_file(&dir.path().join("s.yaml"));
    assert!(resolve(&specs[0]).is_ok(), "runs can still give `day`");
    let err = &resolve(&specs[1]).unwrap_err()[0];
    assert_eq!(err.line, Some(4), "{err}");
    assert!(
        err.message
            .starts_with("flow 'f': parameters.day: is required"),
        "{err}"
    );
}

#[test]
fn local_flow_data_for_text_and_file_modes() {
    let dir = folder(&[("hello_flow.sh", HELLO_SH)]);
    let mut spec = DeploymentSpec::new("d", dir.path().join("hello_flow.sh"));
    spec.flow_data = Some(FlowDataMode::Text);
    let resolved = resolve(&SpecDocument::in_code(spec.clone(), "code")).unwrap();
    assert_eq!(
        resolved.local_flow_data().unwrap(),
        Some(FlowData {
            encoding: DataEncoding::Text,
            blob: HELLO_SH.into()
        })
    );
    spec.flow_data = Some(FlowDataMode::File);
    let resolved = resolve(&SpecDocument::in_code(spec, "code")).unwrap();
    let data = resolved.local_flow_data().unwrap().unwrap();
    assert_eq!(data.encoding, DataEncoding::File);
    assert!(Path::new(&data.blob).is_absolute());
    assert!(data.blob.ends_with("hello_flow.sh"));
}

#[test]
fn collected_python_specs_become_spec_documents() {
    let output = json!({
        "error": null,
        "specs": [
            {
                "line": 7,
                "lines": {"flow_location": 8, "name": 9, "parameters": 10, "parameters.name": 10,
                          "schedule": 11, "tags": 12},
                "fields": {
                    "name": "hello-arthur",
                    "flow_location": "./hello_flow.py",
                    "parameters": {"name": "Arthur"},
                    "schedule": {"interval": 86400.0},
                    "tags": ["arthur"],
                    "flow_runner": {"type": "subprocess", "config": {"env": {"A": "1"}}},
                    "flow_storage": {"type": "s3", "config": {"bucket": "b"}}
                }
            },
            {"line": 14, "lines": {"parameters": 15, "parameters.when": 16},
             "error": "parameters.when: a value of type object cannot be stored"},
            {"line": 18, "lines": {"name": 18, "schedule": 19},
             "fields": {"name": "bad", "flow_location": "/abs/f.py",
                        "schedule": {"cron": "0 9 * *"}}},
            {"line": 21, "lines": {"tags": 22},
             "fields": {"name": "tagged", "flow_location": "f.py", "tags": ["ok", 3]}},
            {"line": 24, "lines": {},
             "fields": {"name": "hello-arthur", "flow_location": "hello_flow.py"}},
            {"line": 26, "lines": {},
             "fields": {"name": "single", "flow_location": "/home/me/deploy/deploy.py",
                        "flow_name": "hello-world"}}
        ]
    })
    .to_string();
    let loaded = load_collected(Path::new("/home/me/deploy/deploy.py"), &output);
    let names: Vec<&str> = loaded.specs.iter().map(|d| d.spec.name.as_str()).collect();
    assert_eq!(names, ["hello-arthur", "single"]);
    let doc = &loaded.specs[0];
    assert_eq!(
        doc.spec.flow_location.as_deref(),
        Some(Path::new("/home/me/deploy/hello_flow.py")),
        "relative to the deployment file"
    );
    assert_eq!((doc.line, doc.line_of("parameters.name")), (7, 10));
    assert_eq!(doc.spec.tags, ["arthur"]);
    assert!(
        matches!(doc.spec.flow_storage, Some(FlowStorage::New(ref b)) if b.kind == BlockType::S3)
    );
    assert_eq!(
        doc.spec
            .flow_runner
            .as_ref()
            .map(|r| r.config["env"]["A"].clone()),
        Some(json!("1"))
    );
    let errors: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with("/home/me/deploy/deploy.py:16: parameters.when:"),
        "{errors:#?}"
    );
    assert!(
        errors[1].starts_with("/home/me/deploy/deploy.py:19: schedule.cron:"),
        "{errors:#?}"
    );
    assert!(
        errors[2].starts_with("/home/me/deploy/deploy.py:22: tags[1]:"),
        "{errors:#?}"
    );
    assert!(
        errors[3].contains(":24: duplicate deployment 'hello-arthur' (also at line 7)"),
        "{errors:#?}"
    );
}

#[test]
fn a_python_deployment_file_that_raised_gives_one_error() {
    let output = json!({
        "error": {"line": 2, "message": "not supported by Rigel's Prefect-compatible module: prefect.Foo"},
        "specs": []
    })
    .to_string();
    let loaded = load_collected(Path::new("d.py"), &output);
    assert!(loaded.specs.is_empty());
    assert_eq!(
        loaded.errors[0].to_string(),
        "d.py:2: not supported by Rigel's Prefect-compatible module: prefect.Foo"
    );
    let loaded = load_collected(Path::new("d.py"), "garbage");
    assert!(loaded.errors[0].message.contains("could not be read"));
}

#[test]
fn files_that_are_no_flow_are_refused_at_create() {
    let call_style = "from prefect import flow\n\ndef hello_world(name=\"world\"):\n    print(name)\n\nhello = flow(hello_world, name=\"hello\")\n";
    let dir = folder(&[
        ("notes.txt", "buy milk\n"),
        ("tool", "echo run by sh\n"),
        ("shebang", "#!/bin/sh\necho hi\n"),
        ("call_style.py", call_style),
        ("plain.py", "print('a python script')\n"),
        (
            "s.yaml",
            "name: a\nflow_location: notes.txt\n---\nname: b\nflow_location: tool\n---\nname: c\nflow_location: shebang\n---\nname: d\nflow_location: call_style.py\n---\nname: e\nflow_location: plain.py\n",
        ),
    ]);
    let (specs, errors) = parse_spec_file(&dir.path().join("s.yaml"));
    assert!(errors.is_empty(), "{errors:#?}");

    let err = &resolve(&specs[0]).unwrap_err()[0];
    assert_eq!(err.file, dir.path().join("notes.txt"));
    assert!(
        err.message.starts_with("is not a flow file Rigel can run"),
        "{err}"
    );
    assert!(
        err.message.contains("#! line"),
        "says what is accepted: {err}"
    );
    // without a #! line, an unknown extension needs the executable bit
    assert!(resolve(&specs[1]).is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let tool = dir.path().join("tool");
        std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(resolve(&specs[1]).unwrap().flow.name, "tool");
    }
    assert_eq!(resolve(&specs[2]).unwrap().flow.name, "shebang");

    let err = &resolve(&specs[3]).unwrap_err()[0];
    assert_eq!(err.file, dir.path().join("call_style.py"));
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("@flow(name="), "{err}");
    // a .py file without Prefect is a Python script
    assert_eq!(resolve(&specs[4]).unwrap().flow.name, "plain");
}

#[test]
fn intervals_are_read_as_durations() {
    for (written, seconds) in [
        ("3600", 3600.0),
        ("1h", 3600.0),
        ("90m", 5400.0),
        ("PT1H", 3600.0),
        ("1d", 86_400.0),
    ] {
        let (specs, errors) = parse(
            "s.yaml",
            &format!("name: a\nflow_location: a.sh\nschedule:\n  interval: {written}\n"),
        );
        assert!(errors.is_empty(), "{written}: {errors:#?}");
        match &specs[0].spec.schedule {
            Some(rigel_common::schedule::Schedule::Interval(i)) => assert_eq!(i.interval, seconds),
            other => panic!("{written}: {other:?}"),
        }
    }
    let err = only_error(
        "s.yaml",
        "name: a\nflow_location: a.sh\nschedule:\n  interval: 1 fortnight\n",
    );
    assert_eq!(err.line, Some(3), "{err}");
    assert!(
        err.message.contains("'1 fortnight' is not a duration"),
        "{err}"
    );
}
