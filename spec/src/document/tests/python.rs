//! Specs collected from Python deployment files.

use super::*;

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
