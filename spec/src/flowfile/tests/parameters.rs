//! Flow parameters: the JSON schema of declared parameters, and checking values against it.

use serde_json::json;

use super::*;

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
