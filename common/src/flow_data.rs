//! `flow_data`: the DataDocument telling an agent where a deployment's flow code is.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validation::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DataEncoding {
    /// `blob` is JSON `{"data": <storage key>, "block_id": <uuid>}`: the code is in a storage block.
    Blockstorage,
    /// `blob` is the literal flow file.
    Text,
    /// `blob` is a path the agent can read.
    File,
    /// `blob` is a JSON document.
    Json,
}

/// `{encoding, blob}` — the seed's DataDocument.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FlowData {
    pub encoding: DataEncoding,
    pub blob: String,
}

/// The decoded blob of a `blockstorage` document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockStorageRef {
    /// The key the bytes are stored under in the block.
    pub data: String,
    pub block_id: Uuid,
}

impl FlowData {
    pub fn block_storage(block_id: Uuid, key: impl Into<String>) -> Self {
        let blob = serde_json::to_string(&BlockStorageRef {
            data: key.into(),
            block_id,
        })
        .expect("serialising a struct of a string and a uuid cannot fail");
        Self {
            encoding: DataEncoding::Blockstorage,
            blob,
        }
    }

    /// Checks the blob fits the encoding; for `blockstorage` returns the block it points at.
    pub fn validate(&self) -> Result<Option<BlockStorageRef>, FieldError> {
        match self.encoding {
            DataEncoding::Blockstorage => {
                let r: BlockStorageRef = serde_json::from_str(&self.blob).map_err(|e| {
                    FieldError::new(
                        "blob",
                        format!(
                            "a blockstorage blob must be JSON {{\"data\": <key>, \"block_id\": <uuid>}}: {e}"
                        ),
                    )
                })?;
                if r.data.is_empty() {
                    return Err(FieldError::new("blob", "the storage key `data` is empty"));
                }
                Ok(Some(r))
            }
            DataEncoding::Text | DataEncoding::File => {
                if self.blob.is_empty() {
                    return Err(FieldError::new("blob", "must not be empty"));
                }
                Ok(None)
            }
            DataEncoding::Json => {
                serde_json::from_str::<serde_json::Value>(&self.blob)
                    .map_err(|e| FieldError::new("blob", format!("is not valid JSON: {e}")))?;
                Ok(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blockstorage_blob_round_trips_and_is_checked() {
        let id = Uuid::now_v7();
        let fd = FlowData::block_storage(id, "abc");
        assert_eq!(fd.validate().unwrap().unwrap().block_id, id);
        let bad = FlowData {
            encoding: DataEncoding::Blockstorage,
            blob: "nope".into(),
        };
        assert_eq!(bad.validate().unwrap_err().field, "blob");
        let empty_text = FlowData {
            encoding: DataEncoding::Text,
            blob: String::new(),
        };
        assert!(empty_text.validate().is_err());
        let bad_json = FlowData {
            encoding: DataEncoding::Json,
            blob: "{".into(),
        };
        assert!(bad_json.validate().is_err());
    }
}
