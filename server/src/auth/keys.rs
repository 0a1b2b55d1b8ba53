//! The keys the server accepts, held in memory: checking a key costs a SHA-256 and a map lookup,
//! never a database read. The ring is loaded at start, refreshed after every key write made
//! through the API, and re-read (at most once a second) when an unknown key is presented, so a
//! key written to the database by `rigel api-key create --offline` works at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rigel_common::api_key::{ApiKey, KEY_PREFIX};
use sha2::{Digest, Sha256};

use crate::db::{api_keys, to_micros, Db};
use crate::error::{ApiError, ApiResult};

pub type KeyDigest = [u8; 32];

/// A new key: `rgl_` and 64 hex digits of 256 random bits, and its digest as stored.
pub fn new_key() -> ApiResult<(String, String)> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| ApiError::Internal(format!("no randomness for a new key: {e}")))?;
    let key = format!("{KEY_PREFIX}{}", hex(&bytes));
    let digest = hex(&digest(&key));
    Ok((key, digest))
}

pub fn digest(key: &str) -> KeyDigest {
    Sha256::digest(key.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<KeyDigest> {
    let mut out = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, chunk) in text.as_bytes().chunks(2).enumerate() {
        let pair = std::str::from_utf8(chunk).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

/// Compares two digests in time independent of where they differ.
fn same_digest(a: &KeyDigest, b: &KeyDigest) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// How often `last_used` is written back: a key used constantly costs one write a minute.
const TOUCH_EVERY_US: i64 = 60_000_000;
/// Least time between two re-reads of the keys for an unknown key.
const RELOAD_EVERY: Duration = Duration::from_secs(1);

/// One accepted key.
#[derive(Debug)]
pub struct Entry {
    pub key: ApiKey,
    digest: KeyDigest,
    /// `last_used` as last written to the database (microseconds; 0 never).
    written_use: AtomicI64,
}

impl Entry {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.key.expires.is_some_and(|e| e <= now)
    }

    /// Whether `last_used` is due to be written for a use at `now` (and claims that write).
    pub fn claim_touch(&self, now: DateTime<Utc>) -> bool {
        let now = to_micros(now);
        let written = self.written_use.load(Ordering::Relaxed);
        now - written >= TOUCH_EVERY_US
            && self
                .written_use
                .compare_exchange(written, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

#[derive(Debug, Default)]
pub struct KeyRing {
    keys: RwLock<Arc<HashMap<KeyDigest, Arc<Entry>>>>,
    last_reload: Mutex<Option<Instant>>,
}

impl KeyRing {
    /// The ring of the keys in the database.
    pub async fn load(db: &Db) -> ApiResult<Self> {
        let ring = Self::default();
        ring.reload(db).await?;
        Ok(ring)
    }

    /// Re-reads the keys (after a key was created or revoked).
    pub async fn reload(&self, db: &Db) -> ApiResult<()> {
        let stored = api_keys::unrevoked(db).await?;
        let mut map = HashMap::with_capacity(stored.len());
        for s in stored {
            let Some(digest) = parse_hex(&s.digest) else {
                tracing::error!(key = %s.key.name, "an API key's stored digest is corrupt; skipped");
                continue;
            };
            let written = s.key.last_used.map(to_micros).unwrap_or(0);
            map.insert(
                digest,
                Arc::new(Entry {
                    key: s.key,
                    digest,
                    written_use: AtomicI64::new(written),
                }),
            );
        }
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(map);
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        Ok(())
    }

    fn snapshot(&self) -> Arc<HashMap<KeyDigest, Arc<Entry>>> {
        Arc::clone(&self.keys.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Whether any key (not revoked) exists.
    pub fn any(&self) -> bool {
        !self.snapshot().is_empty()
    }

    /// The entry of `key`, if the server knows it (expired or not).
    pub fn find(&self, key: &str) -> Option<Arc<Entry>> {
        let wanted = digest(key);
        // Found by its digest: a timing difference in the lookup can only tell about the digest
        // of the presented guess, never about a stored key; the final comparison is constant time.
        let keys = self.snapshot();
        let entry = keys.get(&wanted)?;
        same_digest(&entry.digest, &wanted).then(|| Arc::clone(entry))
    }

    /// Re-reads the keys for an unknown key: at most one re-read a second, so a caller may wait
    /// up to a second for its turn (which also slows down guessing); a re-read made by another
    /// caller meanwhile counts as this one's.
    pub async fn refresh(&self, db: &Db) -> ApiResult<()> {
        let (wait, seen) = {
            let last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
            let wait = last.map_or(Duration::ZERO, |at| {
                RELOAD_EVERY.saturating_sub(at.elapsed())
            });
            (wait, *last)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let due = {
            let mut last = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
            let due = *last == seen;
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            self.reload(db).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_stored_as_their_digest() {
        let (a, da) = new_key().unwrap();
        let (b, _) = new_key().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(KEY_PREFIX) && a.len() == KEY_PREFIX.len() + 64);
        assert_eq!(parse_hex(&da), Some(digest(&a)));
        assert!(!da.contains(&a[KEY_PREFIX.len()..]));
    }

    #[test]
    fn digests_compare_whole() {
        let a = digest("x");
        let mut b = a;
        assert!(same_digest(&a, &b));
        b[31] ^= 1;
        assert!(!same_digest(&a, &b));
    }
}
