//! `flow_data`: the DataDocument telling an agent where a deployment's flow code is.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
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
    /// The name of the file the code was deployed from (`hello_flow.py`), so that runs show it
    /// in messages and tracebacks instead of the content-hash key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
}

impl FlowData {
    pub fn block_storage(block_id: Uuid, key: impl Into<String>) -> Self {
        Self::block_storage_of_file(block_id, key, None)
    }

    /// A `blockstorage` document that also remembers the name of the file deployed.
    pub fn block_storage_of_file(
        block_id: Uuid,
        key: impl Into<String>,
        file_name: Option<String>,
    ) -> Self {
        let blob = serde_json::to_string(&BlockStorageRef {
            data: key.into(),
            block_id,
            file_name,
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
                // the key becomes a file name inside a local block's folder: no paths
                crate::block::validate_storage_key(&r.data).map_err(|e| {
                    FieldError::new("blob", format!("the storage key `data` {}", e.message))
                })?;
                if let Some(name) = &r.file_name {
                    validate_file_name(name)?;
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

/// A deployed file's name: one path component, which the engine may create in its own folder.
fn validate_file_name(name: &str) -> Result<(), FieldError> {
    let plain = !name.is_empty()
        && name.len() <= 255
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(FieldError::new(
            "blob",
            "`file_name` must be a plain file name (no folders, at most 255 bytes)",
        ))
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
        let named = FlowData::block_storage_of_file(id, "abc", Some("hello_flow.py".into()));
        let r = named.validate().unwrap().unwrap();
        assert_eq!(r.file_name.as_deref(), Some("hello_flow.py"));
        for key in ["../../etc/shadow", "/etc/passwd", ".."] {
            let fd = FlowData::block_storage(id, key);
            assert_eq!(fd.validate().unwrap_err().field, "blob", "{key}");
        }
        for bad in ["../x.py", "a/b.py", "", ".."] {
            let fd = FlowData::block_storage_of_file(id, "abc", Some(bad.into()));
            assert_eq!(fd.validate().unwrap_err().field, "blob", "{bad:?}");
        }
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

/// The storage key of flow code: the SHA-256 of its bytes in hex, plus the file's extension, so
/// identical code is stored once and the key still says what kind of file it is.
pub fn content_key(bytes: &[u8], path: &Path) -> String {
    let hash = sha256_hex(bytes);
    match path.extension().and_then(|e| e.to_str()) {
        Some(ext) if !ext.is_empty() && ext.chars().all(|c| c.is_ascii_alphanumeric()) => {
            format!("{hash}.{ext}")
        }
        _ => hash,
    }
}

/// The hash part of a key shaped like a content key (64 lowercase hex digits, then an optional
/// extension); None for any other key.
pub fn content_key_hash(key: &str) -> Option<&str> {
    let (hash, ext) = key.split_once('.').unwrap_or((key, ""));
    let hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let ext_ok = ext.chars().all(|c| c.is_ascii_alphanumeric());
    (hex && ext_ok).then_some(hash)
}

/// Whether `key` is a content key and `bytes` are what it names.
pub fn is_content_key_of(key: &str, bytes: &[u8]) -> bool {
    content_key_hash(key).is_some_and(|hash| hash == sha256_hex(bytes))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod content_key_tests {
    use super::*;

    #[test]
    fn content_keys_depend_on_bytes_and_keep_the_extension() {
        let a = content_key(b"echo hi", Path::new("x/hello.sh"));
        let b = content_key(b"echo hi", Path::new("y/other.sh"));
        let c = content_key(b"echo bye", Path::new("x/hello.sh"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(a.ends_with(".sh"));
        assert_eq!(content_key(b"x", Path::new("Makefile")).len(), 64);
    }

    #[test]
    fn only_keys_that_hash_their_bytes_match() {
        let key = content_key(b"echo hi", Path::new("hello.sh"));
        assert!(is_content_key_of(&key, b"echo hi"));
        assert!(!is_content_key_of(&key, b"echo bye"));
        assert!(!is_content_key_of("hello.sh", b"echo hi"));
        assert_eq!(content_key_hash(&key), Some(&key[..64]));
        assert_eq!(content_key_hash("flows/../x.sh"), None);
        assert_eq!(content_key_hash(&key.to_uppercase()), None);
    }
}
