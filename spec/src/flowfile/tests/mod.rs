//! Flow-file parsing tests, one file per kind of flow file or concern; shared helpers here.

mod deployments;
mod parameters;
mod python_flows;
mod script_flows;
mod yaml_flows;

use std::path::Path;

use super::*;
use rigel_common::params::{check_parameter_values, check_parameters, ParamType};

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
