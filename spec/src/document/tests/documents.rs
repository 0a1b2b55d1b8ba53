//! Reading spec files: YAML documents and JSON, each problem at its line, locations.

use super::*;

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
