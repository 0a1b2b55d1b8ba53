//! The environment variables Rigel's processes read and hand to each other (CLI → agent →
//! engine → flow), named once. Flows and the bundled Python module read the same names.

/// Where clients find the server (`http://127.0.0.1:4200/api` when unset).
pub const API_URL: &str = "RIGEL_API_URL";
/// The API key clients send; agents give engines their run's token in it.
pub const API_KEY: &str = "RIGEL_API_KEY";
/// A file holding the API key.
pub const API_KEY_FILE: &str = "RIGEL_API_KEY_FILE";
/// Certificate authorities to trust (a server with a private certificate).
pub const CA_CERT: &str = "RIGEL_CA_CERT";
/// The server's home folder (`~/.rigel`).
pub const HOME: &str = "RIGEL_HOME";
/// The server's database URL.
pub const DATABASE_URL: &str = "RIGEL_DATABASE_URL";
/// The log filter (`info` when unset).
pub const LOG: &str = "RIGEL_LOG";
/// The Python interpreter for Python flows and spec files.
pub const PYTHON: &str = "RIGEL_PYTHON";

/// Set for an engine and its flow: the run being executed.
pub const FLOW_RUN_ID: &str = "RIGEL_FLOW_RUN_ID";
/// Set for a flow: its run's name.
pub const FLOW_RUN_NAME: &str = "RIGEL_FLOW_RUN_NAME";
/// Set for a flow: its deployment's `flow/name`.
pub const DEPLOYMENT_NAME: &str = "RIGEL_DEPLOYMENT_NAME";
/// Set for an engine: the claim token its state changes must carry.
pub const CLAIM_TOKEN: &str = "RIGEL_CLAIM_TOKEN";
/// Set for a flow: all its parameters, as a JSON object.
pub const PARAMETERS: &str = "RIGEL_PARAMETERS";
/// Prefix of the variable of each top-level parameter (`RIGEL_PARAM_NAME`).
pub const PARAM_PREFIX: &str = "RIGEL_PARAM_";
/// Set for a Python flow run by an engine: report through structured output lines.
pub const STRUCTURED_OUTPUT: &str = "RIGEL_STRUCTURED_OUTPUT";
/// Set for an engine: how often it sends its run's heartbeat.
pub const ENGINE_HEARTBEAT_SECONDS: &str = "RIGEL_ENGINE_HEARTBEAT_SECONDS";
/// Set for an engine: echo the flow's output on its own stderr.
pub const ENGINE_ECHO: &str = "RIGEL_ENGINE_ECHO";
/// Set for an engine: its claim arrives on standard input.
pub const ENGINE_CLAIM_ON_STDIN: &str = "RIGEL_ENGINE_CLAIM_ON_STDIN";
/// Set for an engine: the folders `file` flow data may be read from.
pub const LOCAL_ROOTS: &str = "RIGEL_LOCAL_ROOTS";
