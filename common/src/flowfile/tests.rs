use std::path::Path;

use serde_json::json;

use super::*;

fn parse(name: &str, text: &str) -> Result<FlowFile, Vec<SpecError>> {
    parse_flow_source(Path::new(name), text)
}

/// The only error of a parse that must fail.
fn one_error(name: &str, text: &str) -> SpecError {
    let errors = parse(name, text).unwrap_err();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    errors.into_iter().next().unwrap()
}

const ETL: &str = "\
# An ETL flow
flows:
  - name: etl
    description: Extract, then load
    parameters:
      day: {type: string, required: true}
      limit: 100
      mode:
        type: string
        default: fast
        enum: [fast, slow]
        description: How hard to try
    tasks:
      - name: extract
        run: ./extract.sh
        env:
          PORT: 8080
          DEBUG: true
      - name: transform
        run: ./transform.sh
        needs: extract
        retries: 2
        retry_delay_seconds: 1.5
        timeout_seconds: 30
      - name: load
        run: ./load.sh \"$RIGEL_PARAM_DAY\"
        needs: [extract, transform, extract]
        working_dir: out
";

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
fn parameter_schema_lists_declared_parameters() {
    let file = parse("etl.yaml", ETL).unwrap();
    let schema = file.flows[0].parameter_schema().unwrap();
    assert_eq!(
        schema,
        json!({
            "type": "object",
            "properties": {
                "day": {"type": "string", "position": 0},
                "limit": {"type": "integer", "default": 100, "position": 1},
                "mode": {
                    "type": "string", "default": "fast", "enum": ["fast", "slow"],
                    "description": "How hard to try", "position": 2
                }
            },
            "required": ["day"]
        })
    );
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

#[test]
fn single_file_deployments() {
    let text = "\
flows:
  - name: etl
    parameters:
      day: {type: string}
    tasks: [{name: a, run: echo}]
deployments:
  - name: daily
    schedule: {interval: 86400}
    parameters:
      day: monday
  - name: adhoc
    flow_location: ./other.sh
";
    let file = parse("/srv/flows/etl.yaml", text).unwrap();
    let [daily, adhoc] = file.deployments.as_slice() else {
        panic!("{:?}", file.deployments)
    };
    assert_eq!(daily.line, 7);
    assert_eq!(daily.file, Path::new("/srv/flows/etl.yaml"));
    assert_eq!(
        daily.spec.flow_location.as_deref(),
        Some(Path::new("/srv/flows/etl.yaml"))
    );
    assert_eq!(daily.spec.flow_name.as_deref(), Some("etl"));
    assert_eq!(daily.line_of("parameters.day"), 10);
    assert_eq!(
        adhoc.spec.flow_location.as_deref(),
        Some(Path::new("/srv/flows/other.sh"))
    );
    assert_eq!(adhoc.spec.flow_name, None, "another file: not bound here");
}

#[test]
fn single_file_deployment_errors() {
    let flows = "\
flows:
  - name: a
    parameters:
      n: {type: integer}
    tasks: [{name: t, run: echo}]
  - name: b
    tasks: [{name: t, run: echo}]
deployments:
";
    let err = one_error("f.yaml", &format!("{flows}  - name: d\n"));
    assert_eq!(err.line, Some(9), "{err}");
    assert!(err.message.contains("flow_name is required"), "{err}");
    assert!(err.message.contains("'a', 'b'"), "{err}");

    let err = one_error(
        "f.yaml",
        &format!("{flows}  - name: d\n    flow_name: a\n    parameters:\n      n: x\n"),
    );
    assert_eq!(err.line, Some(12), "{err}");
    assert!(
        err.message
            .contains("flow 'a': parameters.n: must be an integer"),
        "{err}"
    );

    let err = one_error(
        "f.yaml",
        &format!("{flows}  - name: d\n    flow_name: a\n    schedul: {{interval: 5}}\n"),
    );
    assert_eq!(err.line, Some(11), "{err}");
    assert!(
        err.message
            .starts_with("deployments[0]: unknown field `schedul`"),
        "{err}"
    );

    let err = one_error(
        "f.yaml",
        &format!("{flows}  - name: d\n    flow_name: b\n  - name: d\n    flow_name: b\n"),
    );
    assert_eq!(err.line, Some(11), "{err}");
    assert!(err.message.contains("duplicate deployment 'b/d'"), "{err}");
}

#[test]
fn script_flow_with_a_rigel_block() {
    let text = "\
#!/bin/sh
# /// rigel
# name = \"hello-world\"
# description = \"Says hello\"
#
# [parameters.name]
# type = \"string\"
# default = \"world\"
#
# [parameters.count]
# default = 3
# ///
echo \"Hello $RIGEL_PARAM_NAME\"
";
    let file = parse("scripts/hello_flow.sh", text).unwrap();
    assert_eq!(file.kind, FlowFileKind::Script);
    let flow = &file.flows[0];
    assert_eq!(flow.name, "hello-world");
    assert_eq!(flow.description.as_deref(), Some("Says hello"));
    assert_eq!(flow.line, 2);
    assert!(flow.tasks.is_empty());
    let names: Vec<&str> = flow
        .parameters
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(names, ["name", "count"]);
    let name = flow.parameter("name").unwrap();
    assert_eq!(
        (name.kind, name.default.clone()),
        (ParamType::String, Some(json!("world")))
    );
    assert_eq!(flow.parameter("count").unwrap().kind, ParamType::Integer);
}

#[test]
fn script_flow_without_a_block_is_named_after_the_file() {
    let file = parse("/x/hello_flow.sh", "#!/bin/sh\necho hi\n").unwrap();
    assert_eq!(file.flows[0].name, "hello-flow");
    assert_eq!(file.flows[0].parameters, None, "parameters not declared");
    assert!(file.flows[0]
        .check_parameters(&[("any".to_string(), json!(1))].into())
        .is_ok());

    // A .py file without @flow is a script too; `//` blocks work for other languages.
    let file = parse("tools/do_it.py", "print('hi')\n").unwrap();
    assert_eq!(
        (file.kind, file.flows[0].name.as_str()),
        (FlowFileKind::Script, "do-it")
    );
    let file = parse(
        "main.js",
        "// /// rigel\n// name = \"js-flow\"\n// ///\nconsole.log(1)\n",
    )
    .unwrap();
    assert_eq!(file.flows[0].name, "js-flow");
    assert_eq!(file.flows[0].parameters, None);

    // Bytes that are not text: an executable.
    let file = parse_flow_bytes(Path::new("bin/run_me"), vec![0x7f, b'E', 0xff, 0xfe]).unwrap();
    assert_eq!(file.flows[0].name, "run-me");
    assert_eq!(file.source, [0x7f, b'E', 0xff, 0xfe]);
}

#[test]
fn bad_toml_is_reported_at_the_file_line() {
    let text = "\
#!/bin/sh
echo start
# /// rigel
# name = \"ok\"
# description = unquoted
# ///
";
    let err = one_error("a.sh", text);
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.starts_with("rigel block: "), "{err}");

    let text = "# /// rigel\n# name = \"ok\"\n# colour = \"red\"\n# ///\n";
    let err = one_error("a.sh", text);
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("unknown field `colour`"), "{err}");

    let text = "# /// rigel\n# name = \"ok\"\n\n# [parameters.n]\n# type = \"integer\"\n# default = \"x\"\n# ///\n";
    let err = one_error("a.sh", text);
    assert_eq!(err.line, Some(3), "{err}");
    assert!(
        err.message.contains("every line of the rigel block"),
        "{err}"
    );

    let text = "# /// rigel\n# name = \"ok\"\n#\n# [parameters.n]\n# type = \"integer\"\n# default = \"x\"\n# ///\n";
    let err = one_error("a.sh", text);
    assert!(
        err.message
            .contains("parameters.n.default: \"x\" is a string"),
        "{err}"
    );
    assert_eq!(err.line, Some(4), "the parameter's table: {err}");

    let err = one_error("a.sh", "echo\n# /// rigel\n# name = \"x\"\n");
    assert_eq!(err.line, Some(2), "{err}");
    assert!(err.message.contains("not closed"), "{err}");

    let err = one_error("a.sh", "# /// rigel\n# name = \"a/b\"\n# ///\n");
    assert_eq!(err.line, Some(2), "{err}");
}

#[test]
fn python_flow_files_are_detected_by_their_decorator() {
    let text = "from prefect import flow\n\n@flow\ndef hello_world(name=\"world\"):\n    print(f\"Hello {name}!\")\n";
    assert_eq!(
        FlowFileKind::detect(Path::new("hello_flow.py"), text),
        FlowFileKind::Python
    );
    assert_eq!(
        FlowFileKind::detect(Path::new("x.py"), "@flow(name=\"a\")\ndef f(): pass\n"),
        FlowFileKind::Python
    );
    assert_eq!(
        FlowFileKind::detect(Path::new("x.py"), "@flowers\ndef f(): pass\n"),
        FlowFileKind::Script
    );
}

/// The flows of a Python flow file (read by the `python3` subprocess).
fn py_flows(text: &str) -> Vec<FlowDef> {
    let file = parse("flows.py", text).unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(file.kind, FlowFileKind::Python);
    assert_eq!(file.source, text.as_bytes());
    file.flows
}

fn param<'a>(flow: &'a FlowDef, name: &str) -> &'a ParamDef {
    flow.parameter(name)
        .unwrap_or_else(|| panic!("no parameter {name}"))
}

#[test]
fn python_flows_are_read_without_running_them() {
    let marker = tempfile::tempdir().unwrap();
    let marker = marker.path().join("ran");
    // the seed's flow; running the file would create the marker
    let text = format!(
        "\
import pathlib
pathlib.Path({marker:?}).touch()
from prefect import flow

@flow
def hello_world(name=\"world\"):
    print(f\"Hello {{name}}!\")

if __name__ == \"__main__\":
    hello_world()
"
    );
    let flows = py_flows(&text);
    assert!(!marker.exists(), "the file was run");
    assert_eq!(flows.len(), 1);
    let f = &flows[0];
    assert_eq!((f.name.as_str(), f.line), ("hello-world", 6));
    assert_eq!(f.description, None);
    assert!(f.tasks.is_empty());
    let p = param(f, "name");
    assert_eq!(
        p.kind,
        ParamType::Any,
        "unannotated: any value, as in Python"
    );
    assert_eq!(p.default, Some(json!("world")));
    assert!(!p.required);
}

#[test]
fn python_decorator_forms_name_and_describe_flows() {
    let text = "\
import prefect as p
import rigel
from rigel import flow as rflow

@flow
def plain_one():
    \"\"\"First line.

    More.\"\"\"

@flow()
def called_empty():
    pass

@flow(name=\"Custom name\", description=\"Given\")
def ignored_name():
    \"\"\"Docstring loses to description=.\"\"\"

@p.flow(description=\"via module alias\")
async def async_flow():
    pass

@rigel.flow
def via_rigel():
    pass

@rflow
def via_alias():
    pass

@other.flow
def not_a_flow():
    pass

def undecorated():
    pass
";
    let flows = py_flows(text);
    let names: Vec<&str> = flows.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "plain-one",
            "called-empty",
            "Custom name",
            "async-flow",
            "via-rigel",
            "via-alias"
        ]
    );
    assert_eq!(
        flows[0].description.as_deref(),
        Some("First line.\n\nMore.")
    );
    assert_eq!(flows[1].description, None);
    assert_eq!(flows[2].description.as_deref(), Some("Given"));
    assert_eq!(flows[3].description.as_deref(), Some("via module alias"));
    assert_eq!(flows[0].parameters.as_deref().map(<[_]>::len), Some(0));
}

#[test]
fn python_parameters_take_literal_defaults_and_simple_annotations() {
    let text = "\
from typing import Any, Dict, List, Literal, Optional, Union
from prefect import flow

@flow
def typed(
    day: str,
    limit: int = 100,
    ratio: float = 0.5,
    dry: bool = False,
    names: List[str] = [\"a\", \"b\"],
    opts: dict = {\"k\": 1},
    maybe: Optional[str] = None,
    either: int | None = None,
    number: Union[int, float] = 1,
    mode: Literal[\"fast\", \"slow\"] = \"fast\",
    later: \"int\" = 1,
    computed=len(\"abc\"),
    anything: Any = (1, 2),
    opt_with_value: Optional[int] = 3,
    *rest,
    only_kw: str = \"k\",
    big=2**70,
):
    pass

@flow
def open_ended(a: int, **kwargs):
    pass
";
    let flows = py_flows(text);
    let f = &flows[0];
    let order: Vec<&str> = f
        .parameters
        .as_ref()
        .unwrap()
        .iter()
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(
        order,
        [
            "day",
            "limit",
            "ratio",
            "dry",
            "names",
            "opts",
            "maybe",
            "either",
            "number",
            "mode",
            "later",
            "computed",
            "anything",
            "opt_with_value",
            "only_kw",
            "big"
        ]
    );
    let day = param(f, "day");
    assert_eq!(
        (day.kind, day.required, day.default.clone()),
        (ParamType::String, true, None)
    );
    let expect = [
        ("limit", ParamType::Integer, json!(100)),
        ("ratio", ParamType::Number, json!(0.5)),
        ("dry", ParamType::Boolean, json!(false)),
        ("names", ParamType::Array, json!(["a", "b"])),
        ("opts", ParamType::Object, json!({"k": 1})),
        ("maybe", ParamType::String, json!(null)),
        ("either", ParamType::Integer, json!(null)),
        ("number", ParamType::Number, json!(1)),
        ("mode", ParamType::String, json!("fast")),
        ("later", ParamType::Integer, json!(1)),
        ("anything", ParamType::Any, json!([1, 2])),
        ("opt_with_value", ParamType::Any, json!(3)),
        ("only_kw", ParamType::String, json!("k")),
    ];
    for (name, kind, default) in expect {
        let p = param(f, name);
        assert_eq!(
            (p.kind, p.default.clone(), p.required),
            (kind, Some(default), false),
            "{name}"
        );
    }
    assert_eq!(
        param(f, "mode").enum_values,
        Some(vec![json!("fast"), json!("slow")])
    );
    // a default that is not a literal (or not JSON) exists but is unknown: not required
    for name in ["computed", "big"] {
        let p = param(f, name);
        assert_eq!(
            (p.kind, p.default.clone(), p.required),
            (ParamType::Any, None, false),
            "{name}"
        );
    }
    assert_eq!(flows[1].parameters, None, "**kwargs accepts anything");

    // the schema checks runs' parameters like any other flow's
    let mut given = Parameters::new();
    given.insert("day".into(), json!("mon"));
    given.insert("limit".into(), json!("many"));
    let err = f.check_parameters(&given).unwrap_err();
    assert_eq!(err.field, "parameters.limit");
    given.remove("limit");
    given.insert("maybe".into(), json!(null));
    assert_eq!(f.check_parameters(&given), Ok(()));
    given.remove("day");
    let err = f.check_parameters(&given).unwrap_err();
    assert_eq!(err.field, "parameters.day", "required: no default");
}

#[test]
fn several_python_flows_need_a_flow_name() {
    let text = "\
from prefect import flow

@flow
def extract():
    pass

@flow(name=\"load\")
def load_it(day: str):
    pass
";
    let flows = py_flows(text);
    let path = Path::new("flows.py");
    let err = FlowDef::select(&flows, None, path).unwrap_err();
    assert!(err.message.contains("flow_name is required"), "{err}");
    assert!(err.message.contains("'extract', 'load'"), "{err}");
    assert_eq!(FlowDef::select(&flows, Some("load"), path).unwrap().line, 8);
    let err = FlowDef::select(&flows, Some("load-it"), path).unwrap_err();
    assert!(err.message.contains("no flow named 'load-it'"), "{err}");
}

#[test]
fn python_syntax_errors_and_bad_declarations_name_the_line() {
    let err = one_error(
        "bad.py",
        "from prefect import flow\n\n@flow\ndef f(:\n    pass\n",
    );
    assert_eq!(err.line, Some(4), "{err}");
    assert!(
        err.to_string().starts_with("bad.py:4: Python syntax error"),
        "{err}"
    );

    let err = one_error("bad.py", "@flow\ndef f():\n  x = 1\n   y = 2\n");
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("indent"), "{err}");

    let err = one_error(
        "bad.py",
        "N = 'x'\n\n@flow(\n    name=N,\n)\ndef f():\n    pass\n",
    );
    assert_eq!(err.line, Some(4), "{err}");
    assert!(err.message.contains("literal string"), "{err}");

    let err = one_error("bad.py", "@flow(name='a/b')\ndef f():\n    pass\n");
    assert_eq!(err.line, Some(1), "{err}");
    assert!(err.message.starts_with("flow 'a/b': name"), "{err}");

    let err = one_error(
        "bad.py",
        "@flow\ndef a_b():\n    pass\n\n@flow(name='a-b')\ndef other():\n    pass\n",
    );
    assert_eq!(err.line, Some(5), "{err}");
    assert!(err.message.contains("two flows are named 'a-b'"), "{err}");

    let err = one_error("bad.py", "@flow\ndef f(\n    n: int = 'x',\n):\n    pass\n");
    assert_eq!(err.line, Some(3), "{err}");
    assert!(err.message.contains("parameters.n.default"), "{err}");

    // a line that looks like a decorator but decorates nothing: the file defines no flows
    let file = parse("odd.py", "x = '''\n@flow\n'''\n").unwrap();
    assert_eq!((file.kind, file.flows.len()), (FlowFileKind::Python, 0));
}

#[test]
fn reading_a_missing_file_fails_without_a_line() {
    let errors = parse_flow_file(Path::new("/nonexistent/rigel/flow.sh")).unwrap_err();
    assert_eq!(errors[0].line, None);
    assert!(errors[0]
        .to_string()
        .starts_with("/nonexistent/rigel/flow.sh: cannot read"));
}

fn schema() -> serde_json::Value {
    let text = "\
flows:
  - name: f
    parameters:
      name: {type: string, default: world}
      count: {type: integer, required: true}
      ratio: {type: number}
      mode: {enum: [fast, slow]}
      extra: {}
      maybe: {type: string, default: null}
    tasks: [{name: a, run: echo}]
";
    parse("f.yaml", text).unwrap().flows[0]
        .parameter_schema()
        .unwrap()
}

fn params(v: serde_json::Value) -> Parameters {
    serde_json::from_value(v).unwrap()
}

#[test]
fn check_parameters_accepts_good_values() {
    let s = schema();
    let ok = params(json!({"count": 2, "ratio": 1, "mode": "slow", "extra": [1], "maybe": null}));
    assert_eq!(check_parameters(&s, &ok), Ok(()));
    assert_eq!(
        check_parameters(&s, &params(json!({"count": 2.0, "ratio": 0.5}))),
        Ok(())
    );
}

#[test]
fn check_parameters_rejects_bad_values() {
    let s = schema();
    let err = |v: serde_json::Value| check_parameters(&s, &params(v)).unwrap_err();

    let e = err(json!({"count": 1, "nme": "x"}));
    assert_eq!(e.field, "parameters.nme");
    assert_eq!(
        e.message,
        "unknown parameter; the flow's parameters are: name, count, ratio, mode, extra, maybe"
    );

    let e = err(json!({"count": "3"}));
    assert_eq!(e.field, "parameters.count");
    assert_eq!(e.message, "must be an integer, not a string (\"3\")");
    assert_eq!(err(json!({"count": 1.5})).field, "parameters.count");
    assert_eq!(
        err(json!({"count": 1, "ratio": "x"})).field,
        "parameters.ratio"
    );
    assert_eq!(
        err(json!({"count": 1, "name": null})).field,
        "parameters.name"
    );

    let e = err(json!({"count": 1, "mode": "medium"}));
    assert_eq!(
        e.message,
        "\"medium\" is not one of the allowed values: \"fast\", \"slow\""
    );

    let e = err(json!({"name": "x"}));
    assert_eq!(e.field, "parameters.count");
    assert!(e.message.starts_with("is required"), "{e}");
    // Only values are checked for a deployment's defaults.
    assert_eq!(
        check_parameter_values(&s, &params(json!({"name": "x"}))),
        Ok(())
    );

    let none = json!({"type": "object", "properties": {}, "required": []});
    let e = check_parameters(&none, &params(json!({"a": 1}))).unwrap_err();
    assert_eq!(
        e.message,
        "unknown parameter: the flow declares no parameters"
    );
    assert_eq!(
        check_parameters(&json!({}), &params(json!({"a": 1}))),
        Ok(())
    );
}
