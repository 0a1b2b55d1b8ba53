//! Flow-runner and storage-block configs, typed. On the wire and in the database they stay the
//! JSON objects of `{type, config}` (so nothing a client or a stored row holds changes); code that
//! acts on them reads them here, once checked, instead of picking keys out of JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::block::{validate_block_config, BlockType};
use crate::deployment::{FlowRunnerSettings, FlowRunnerType};
use crate::validation::FieldError;

/// What a flow runner's `{type, config}` says, read.
#[derive(Debug, Clone, PartialEq)]
pub enum RunnerConfig {
    /// `universal` or `subprocess`: a process on the agent's machine (`universal` only takes
    /// `env`, which validation enforces).
    Process(ProcessConfig),
    /// Kept as given: no agent runs these yet.
    Docker(serde_json::Map<String, serde_json::Value>),
    Kubernetes(serde_json::Map<String, serde_json::Value>),
}

/// The config of a `subprocess` (or `universal`) flow runner.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcessConfig {
    /// Added to the flow's environment.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The flow's working folder on the agent's machine.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// Echo the flow's output on the agent's terminal as well as into the run's logs.
    #[serde(default)]
    pub stream_output: bool,
    /// A virtual environment to run Python flows in (at most one of these three).
    #[serde(default)]
    pub virtualenv: Option<String>,
    /// A conda environment, by name or path.
    #[serde(default)]
    pub condaenv: Option<String>,
    /// A Python interpreter, by name on `PATH` or path.
    #[serde(default)]
    pub python: Option<String>,
}

impl ProcessConfig {
    /// The keys a `subprocess` runner takes (those of this struct).
    pub const KEYS: &'static [&'static str] = &[
        "env",
        "working_dir",
        "stream_output",
        "virtualenv",
        "condaenv",
        "python",
    ];
    /// The keys a `universal` runner takes.
    pub const UNIVERSAL_KEYS: &'static [&'static str] = &["env"];
}

impl FlowRunnerSettings {
    /// The config, checked ([`FlowRunnerSettings::validate`]) and typed.
    pub fn read(&self) -> Result<RunnerConfig, FieldError> {
        self.validate()?;
        let object = || self.config.as_object().cloned().unwrap_or_default();
        Ok(match self.kind {
            FlowRunnerType::Universal | FlowRunnerType::Subprocess => RunnerConfig::Process(
                serde_json::from_value(self.config.clone())
                    .map_err(|e| FieldError::new("config", e.to_string()))?,
            ),
            FlowRunnerType::Docker => RunnerConfig::Docker(object()),
            FlowRunnerType::Kubernetes => RunnerConfig::Kubernetes(object()),
        })
    }
}

/// What a storage block's `{type, config}` says, read.
#[derive(Debug, Clone, PartialEq)]
pub enum StorageConfig {
    /// Bytes in the server's database.
    Server,
    /// A folder on the machine that runs the flow.
    Local {
        path: String,
    },
    S3(S3Config),
}

/// The config of an `s3` storage block.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub bucket: String,
    #[serde(default)]
    pub prefix: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub endpoint_url: Option<String>,
    #[serde(default)]
    pub aws_access_key_id: Option<String>,
    #[serde(default)]
    pub aws_secret_access_key: Option<String>,
}

impl S3Config {
    /// Its keys, and the required ones.
    pub const KEYS: &'static [&'static str] = &[
        "bucket",
        "prefix",
        "region",
        "endpoint_url",
        "aws_access_key_id",
        "aws_secret_access_key",
    ];
    pub const REQUIRED: &'static [&'static str] = &["bucket"];
}

impl StorageConfig {
    /// A block's config, checked ([`validate_block_config`]) and typed.
    pub fn read(kind: BlockType, config: &serde_json::Value) -> Result<Self, FieldError> {
        validate_block_config(kind, config)?;
        let field = |key: &str| config.get(key).and_then(|v| v.as_str()).map(str::to_string);
        Ok(match kind {
            BlockType::Server => StorageConfig::Server,
            BlockType::Local => StorageConfig::Local {
                path: field("path").unwrap_or_default(),
            },
            BlockType::S3 => StorageConfig::S3(
                serde_json::from_value(config.clone())
                    .map_err(|e| FieldError::new("config", e.to_string()))?,
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The keys `value` serialises with, and `list` sorted the same way.
    fn keys_and(value: impl Serialize, list: &[&str]) -> (Vec<String>, Vec<String>) {
        let keys = serde_json::to_value(value)
            .unwrap()
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let mut list: Vec<String> = list.iter().map(|k| k.to_string()).collect();
        list.sort_unstable();
        (keys, list)
    }

    #[test]
    fn the_key_lists_are_the_structs_fields() {
        let every = ProcessConfig {
            working_dir: Some(String::new()),
            virtualenv: Some(String::new()),
            condaenv: Some(String::new()),
            python: Some(String::new()),
            ..Default::default()
        };
        let (keys, want) = keys_and(every, ProcessConfig::KEYS);
        assert_eq!(keys, want);
        let (keys, want) = keys_and(S3Config::default(), S3Config::KEYS);
        assert_eq!(keys, want);
    }

    #[test]
    fn runner_configs_read_typed_after_the_checks() {
        let runner = |kind, config| FlowRunnerSettings { kind, config };
        let read = runner(
            FlowRunnerType::Subprocess,
            json!({"env": {"A": "1"}, "working_dir": "/srv", "stream_output": true, "python": null}),
        )
        .read()
        .unwrap();
        let RunnerConfig::Process(c) = read else {
            panic!("{read:?}")
        };
        assert_eq!(c.env["A"], "1");
        assert_eq!(c.working_dir.as_deref(), Some("/srv"));
        assert!(c.stream_output && c.python.is_none());
        let err = runner(FlowRunnerType::Universal, json!({"working_dir": "/srv"}))
            .read()
            .unwrap_err();
        assert_eq!(err.field, "config.working_dir");
        assert!(matches!(
            runner(FlowRunnerType::Docker, json!({"image": "x"})).read(),
            Ok(RunnerConfig::Docker(m)) if m["image"] == "x"
        ));
    }

    #[test]
    fn storage_configs_read_typed_after_the_checks() {
        assert_eq!(
            StorageConfig::read(BlockType::Local, &json!({"path": "/code"})),
            Ok(StorageConfig::Local {
                path: "/code".into()
            })
        );
        let StorageConfig::S3(s3) =
            StorageConfig::read(BlockType::S3, &json!({"bucket": "b", "region": "eu"})).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (s3.bucket.as_str(), s3.region.as_deref()),
            ("b", Some("eu"))
        );
        assert_eq!(
            StorageConfig::read(BlockType::S3, &json!({}))
                .unwrap_err()
                .field,
            "config.bucket"
        );
    }
}
