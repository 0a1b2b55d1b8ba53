//! Script flows: the `/// rigel` TOML block, names from the file stem, and reading files from disk.

use serde_json::json;

use super::*;

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
fn reading_a_missing_file_fails_without_a_line() {
    let errors = parse_flow_file(Path::new("/nonexistent/rigel/flow.sh")).unwrap_err();
    assert_eq!(errors[0].line, None);
    assert!(errors[0]
        .to_string()
        .starts_with("/nonexistent/rigel/flow.sh: cannot read"));
}
