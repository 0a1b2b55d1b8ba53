//! Storage blocks: where flow code is kept (`server`, `local`, `s3`).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::filter::AnyFilter;
use crate::validation::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum BlockType {
    /// Bytes kept in the server's database and fetched over HTTP.
    Server,
    /// A directory on the machine that runs the flow (`config.path`).
    Local,
    /// An S3-compatible bucket (`config.bucket`, …).
    S3,
}

impl BlockType {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockType::Server => "server",
            BlockType::Local => "local",
            BlockType::S3 => "s3",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Block {
    pub id: Uuid,
    pub created: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: BlockType,
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
    pub is_default: bool,
}

/// Body of `POST /api/blocks/`. A block whose type and config equal an existing block's is not
/// duplicated: the existing block is returned. Without a name, one is derived from the type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockCreate {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: BlockType,
    #[serde(default = "empty_object")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub config: serde_json::Value,
}

fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<AnyFilter<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<AnyFilter<String>>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<AnyFilter<BlockType>>,
}

/// Body of `POST /api/blocks/filter`; blocks come sorted by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BlockFilter {
    #[serde(default)]
    pub blocks: BlockCriteria,
    #[serde(default = "crate::filter::default_limit")]
    pub limit: u32,
    #[serde(default)]
    pub offset: u32,
}

impl Default for BlockFilter {
    /// Everything, first page of the largest size.
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({}))
            .expect("every field of a filter has a default")
    }
}

/// Answer to `PUT /api/blocks/{id}/data/{key}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StoredData {
    pub block_id: Uuid,
    pub key: String,
    pub size: u64,
}

/// Longest key under which a `server` block stores bytes.
pub const MAX_STORAGE_KEY_LEN: usize = 128;

/// Keys under which a `server` block stores bytes: 1–128 of `A-Z a-z 0-9 . _ -`, not `.`/`..`.
pub fn validate_storage_key(key: &str) -> Result<(), FieldError> {
    let ok_chars = key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if key.is_empty() || key.len() > MAX_STORAGE_KEY_LEN || !ok_chars || key == "." || key == ".." {
        return Err(FieldError::new(
            "key",
            "must be 1-128 characters of letters, digits, '.', '_' or '-' (and not '.' or '..')",
        ));
    }
    Ok(())
}

/// Config keys that hold credentials: only admins set them, and reads show them as `***`.
pub const SECRET_CONFIG_KEYS: &[&str] = &["aws_secret_access_key"];

/// Whether a block config holds a credential.
pub fn has_secret(config: &serde_json::Value) -> bool {
    SECRET_CONFIG_KEYS.iter().any(|k| config.get(k).is_some())
}

impl Block {
    /// Hides the credentials of the block's config.
    pub fn redact(&mut self) {
        if let Some(obj) = self.config.as_object_mut() {
            for k in SECRET_CONFIG_KEYS {
                if let Some(v) = obj.get_mut(*k) {
                    *v = serde_json::Value::String(crate::deployment::REDACTED.into());
                }
            }
        }
    }
}

/// Allowed config keys per block type, and which are required.
fn config_keys(kind: BlockType) -> (&'static [&'static str], &'static [&'static str]) {
    match kind {
        BlockType::Server => (&[], &[]),
        BlockType::Local => (&["path"], &["path"]),
        BlockType::S3 => (
            crate::settings::S3Config::KEYS,
            crate::settings::S3Config::REQUIRED,
        ),
    }
}

/// Checks a block's config against its type: an object of known string fields, required ones set.
pub fn validate_block_config(
    kind: BlockType,
    config: &serde_json::Value,
) -> Result<(), FieldError> {
    crate::validation::json_at_most("config", config, crate::validation::MAX_SETTINGS_BYTES)?;
    let obj = config
        .as_object()
        .ok_or_else(|| FieldError::new("config", "must be a JSON object"))?;
    let (allowed, required) = config_keys(kind);
    for (k, v) in obj {
        if !allowed.contains(&k.as_str()) {
            let hint = if allowed.is_empty() {
                format!("a {} block takes no config", kind.as_str())
            } else {
                format!("a {} block takes: {}", kind.as_str(), allowed.join(", "))
            };
            return Err(FieldError::new(
                format!("config.{k}"),
                format!("unknown field; {hint}"),
            ));
        }
        match v.as_str() {
            Some("") => return Err(FieldError::new(format!("config.{k}"), "must not be empty")),
            Some(_) => {}
            None => return Err(FieldError::new(format!("config.{k}"), "must be a string")),
        }
    }
    for r in required {
        if !obj.contains_key(*r) {
            return Err(FieldError::new(
                format!("config.{r}"),
                format!("is required for a {} block", kind.as_str()),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn block_config_is_checked_per_type() {
        assert!(validate_block_config(BlockType::Server, &json!({})).is_ok());
        assert_eq!(
            validate_block_config(BlockType::Server, &json!({"path": "/x"}))
                .unwrap_err()
                .field,
            "config.path"
        );
        assert_eq!(
            validate_block_config(BlockType::Local, &json!({}))
                .unwrap_err()
                .field,
            "config.path"
        );
        assert_eq!(
            validate_block_config(BlockType::Local, &json!({"path": 3}))
                .unwrap_err()
                .message,
            "must be a string"
        );
        assert!(
            validate_block_config(BlockType::S3, &json!({"bucket": "b", "region": "eu"})).is_ok()
        );
        assert!(validate_block_config(BlockType::S3, &json!([])).is_err());
    }

    #[test]
    fn storage_keys_are_restricted() {
        assert!(validate_storage_key("f8e7f81f24512625235fe5814f1281ae").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", &"x".repeat(129)] {
            assert!(validate_storage_key(bad).is_err(), "{bad:?}");
        }
    }
}
