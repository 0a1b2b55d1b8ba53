//! Python `@flow` files: detection, decorator forms, parameters from signatures, and their errors.

use serde_json::json;

use super::*;

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
