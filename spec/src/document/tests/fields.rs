//! A spec's fields: validation, the forms a runner, storage and flow data take, lists,
//! duplicates, flow files' deployments, specs built in code, intervals.

use super::*;

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
