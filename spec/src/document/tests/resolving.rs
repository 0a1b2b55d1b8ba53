//! Resolving specs against their flow files: selection, parameters, flow data, files that
//! are no flow.

use super::*;

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
