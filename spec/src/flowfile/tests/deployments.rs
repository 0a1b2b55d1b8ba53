//! Single-file deployments: a `deployments:` list next to the flows of a YAML flow file.

use super::*;

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
