//! YAML flow files: flows, tasks and `needs`, flow selection, and bad files' errors with lines.

use serde_json::json;

use super::*;

#[test]
fn yaml_flow_with_tasks_and_needs() {
    let file = parse("flows/etl.yaml", ETL).unwrap();
    assert_eq!(file.kind, FlowFileKind::Yaml);
    assert_eq!(file.source, ETL.as_bytes());
    assert!(file.deployments.is_empty());
    let [flow] = file.flows.as_slice() else {
        panic!("{:?}", file.flows)
    };
    assert_eq!(flow.name, "etl");
    assert_eq!(flow.line, 3);
    assert_eq!(flow.description.as_deref(), Some("Extract, then load"));
    let params = flow.parameters.as_ref().unwrap();
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["day", "limit", "mode"], "declaration order is kept");
    assert!(params[0].1.required);
    assert_eq!(params[1].1.kind, ParamType::Integer);
    assert_eq!(params[1].1.default, Some(json!(100)));
    assert_eq!(
        flow.parameter("mode").unwrap().enum_values,
        Some(vec![json!("fast"), json!("slow")])
    );
    let tasks: Vec<(&str, &[String])> = flow
        .tasks
        .iter()
        .map(|t| (t.name.as_str(), t.needs.as_slice()))
        .collect();
    assert_eq!(
        tasks,
        [
            ("extract", &[][..]),
            ("transform", &["extract".to_string()][..]),
            (
                "load",
                &["extract".to_string(), "transform".to_string()][..]
            ),
        ]
    );
    let extract = &flow.tasks[0];
    assert_eq!(extract.env["PORT"], "8080");
    assert_eq!(extract.env["DEBUG"], "true");
    assert_eq!(extract.retries, 0);
    assert_eq!(extract.timeout_seconds, None);
    let transform = &flow.tasks[1];
    assert_eq!(
        (
            transform.retries,
            transform.retry_delay_seconds,
            transform.timeout_seconds
        ),
        (2, 1.5, Some(30.0))
    );
    assert_eq!(flow.tasks[2].working_dir.as_deref(), Some("out"));
    assert_eq!(flow.tasks[2].run, "./load.sh \"$RIGEL_PARAM_DAY\"");
}

#[test]
fn cycle_in_needs_is_named_with_its_line() {
    let text = "\
flows:
  - name: loop
    tasks:
      - name: start
        run: echo start
      - name: a
        run: echo a
        needs: [start, c]
      - name: b
        run: echo b
        needs: [a]
      - name: c
        run: echo c
        needs: b
";
    let err = one_error("loop.yml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("a -> c -> b -> a"), "{err}");
    assert_eq!(
        err.to_string(),
        "loop.yml:6: flow 'loop': the tasks' `needs` form a cycle: a -> c -> b -> a"
    );

    let text = "flows:\n  - name: self\n    tasks:\n      - {name: x, run: echo, needs: x}\n";
    let err = one_error("self.yaml", text);
    assert_eq!(err.line, Some(4));
    assert!(err.message.contains("x -> x"), "{err}");
}

#[test]
fn unknown_need_points_at_the_entry() {
    let text = "\
flows:
  - name: f
    tasks:
      - name: a
        run: echo a
      - name: b
        run: echo b
        needs:
          - a
          - nope
";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(10), "{err}");
    assert!(
        err.message
            .contains("task 'b' needs 'nope', which is not a task of this flow (its tasks: a, b)"),
        "{err}"
    );
}

#[test]
fn duplicate_flow_and_task_names() {
    let text = "\
flows:
  - name: same
    tasks: [{name: a, run: echo}]
  - name: other
    tasks: [{name: a, run: echo}]
  - name: same
    tasks: [{name: a, run: echo}]
";
    let err = one_error("dup.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert_eq!(
        err.message,
        "duplicate flow name 'same' (first defined at line 2)"
    );

    let text = "\
flows:
  - name: f
    tasks:
      - name: a
        run: echo 1
      - name: a
        run: echo 2
";
    let err = one_error("dup.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert!(
        err.message
            .contains("duplicate task name 'a' (first at line 4)"),
        "{err}"
    );
}

#[test]
fn missing_run_unknown_key_and_bad_values_have_lines() {
    let text = "flows:\n  - name: f\n    tasks:\n      - name: a\n        run: echo\n      - name: b\n        needs: [a]\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("missing field `run`"), "{err}");
    assert!(err.message.starts_with("flows[0].tasks[1]"), "{err}");

    let text =
        "flows:\n  - name: f\n    tasks:\n      - name: a\n        run: echo\n        retires: 3\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("unknown field `retires`"), "{err}");

    let text = "flows:\n  - name: f\n    tasks:\n      - name: a\n        run: echo\n        timeout_seconds: 0\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert!(err.message.contains("timeout_seconds"), "{err}");

    let text = "flows:\n  - name: f/g\n    tasks: [{name: a, run: echo}]\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(2), "{err}");

    let text = "flows:\n  - name: f\n    tasks: []\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("at least one task"), "{err}");

    let text = "flows:\n  - name: f\n    tasks: [{name: a, run: echo}]\nflow:\n  - x\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("unknown key `flow`"), "{err}");
}

#[test]
fn yaml_syntax_error_has_its_line() {
    let text = "flows:\n  - name: f\n    tasks: [{name: a, run: echo}\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(4), "{err}");
    assert!(!err.message.contains("at line 4"), "{err}");

    let text = "flows:\n  - name: f\n   bad: indentation\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(3), "{err}");
}

#[test]
fn default_must_match_its_type() {
    let text = "\
flows:
  - name: f
    parameters:
      count:
        type: integer
        default: many
    tasks: [{name: a, run: echo}]
";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(6), "{err}");
    assert_eq!(
        err.message,
        "flows[0].parameters.count.default: \"many\" is a string, but the parameter's type is integer"
    );

    let text = "flows:\n  - name: f\n    parameters:\n      mode: {type: string, default: c, enum: [a, b]}\n    tasks: [{name: a, run: echo}]\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(4), "{err}");
    assert!(
        err.message.contains("not one of the allowed values"),
        "{err}"
    );

    let text = "flows:\n  - name: f\n    parameters:\n      my-name: x\n    tasks: [{name: a, run: echo}]\n";
    let err = one_error("f.yaml", text);
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("not a valid parameter name"), "{err}");
}

#[test]
fn several_errors_are_all_reported() {
    let text = "\
flows:
  - name: a
    tasks: [{name: t, run: echo, needs: [zz]}]
  - name: b
    tasks: [{name: t, run: ''}]
";
    let errors = parse("f.yaml", text).unwrap_err();
    let lines: Vec<Option<usize>> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, [Some(3), Some(5)], "{errors:#?}");
}

#[test]
fn a_yaml_file_without_flows_is_not_a_flow_file() {
    let err = one_error("spec.yaml", "name: x\nflow_location: a.sh\n");
    assert!(err.message.contains("not a flow file"), "{err}");
}

#[test]
fn select_by_name_or_the_only_flow() {
    let text = "\
flows:
  - name: first
    tasks: [{name: a, run: echo}]
  - name: second
    tasks: [{name: a, run: echo}]
";
    let file = parse("two.yaml", text).unwrap();
    let path = Path::new("two.yaml");
    assert_eq!(
        FlowDef::select(&file.flows, Some("second"), path)
            .unwrap()
            .name,
        "second"
    );
    let err = FlowDef::select(&file.flows, None, path).unwrap_err();
    assert_eq!(
        err.message,
        "flow_name is required: two.yaml defines several flows: 'first', 'second'"
    );
    let err = FlowDef::select(&file.flows, Some("third"), path).unwrap_err();
    assert_eq!(
        err.message,
        "no flow named 'third' in two.yaml; its flows: 'first', 'second'"
    );
    assert_eq!(
        FlowDef::select(&file.flows[..1], None, path).unwrap().name,
        "first"
    );
}
