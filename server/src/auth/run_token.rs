//! Per-run tokens: what an engine (and the flow it runs) uses instead of its agent's key.
//!
//! A claim answers, with each run, `rgr_<run id>_<mac>` where the mac is HMAC-SHA256, under a
//! secret the server keeps in its database, of the run id and the run's claim token. The token
//! therefore names its run, proves the claim without revealing the claim token (a flow that
//! could read it could end its run), stops working when the run is claimed again, and is checked
//! against the run's row: it is refused once the run has been finished for [`AFTER_END`].

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::db::Db;
use crate::error::{ApiError, ApiResult};

pub const PREFIX: &str = "rgr_";

/// How long after its run ended a token still works (late log lines of the engine).
pub const AFTER_END: chrono::Duration = chrono::Duration::minutes(10);

pub struct RunTokens {
    secret: [u8; 32],
}

impl std::fmt::Debug for RunTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunTokens(..)")
    }
}

impl RunTokens {
    /// The tokens of the database's signing secret, made on first use.
    pub async fn load(db: &Db) -> ApiResult<Self> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|e| ApiError::Internal(format!("no randomness for the run secret: {e}")))?;
        let fresh = fresh.to_vec();
        let value = crate::db::secrets::run_token_secret(db, fresh).await?;
        let secret = value
            .try_into()
            .map_err(|_| ApiError::Internal("the stored run secret is not 32 bytes".into()))?;
        Ok(Self { secret })
    }

    #[cfg(test)]
    fn with_secret(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    fn mac(&self, run: Uuid, claim_token: Uuid) -> [u8; 32] {
        let mut message = Vec::with_capacity(32);
        message.extend_from_slice(run.as_bytes());
        message.extend_from_slice(claim_token.as_bytes());
        hmac_sha256(&self.secret, &message)
    }

    /// The token of `run` held with `claim_token`.
    pub fn mint(&self, run: Uuid, claim_token: Uuid) -> String {
        let mac: String = self
            .mac(run, claim_token)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{PREFIX}{}_{mac}", run.simple())
    }

    /// Whether `token` is the token of `run` held with `claim_token` (constant time).
    pub fn verify(&self, token: &Presented, claim_token: Uuid) -> bool {
        let want = self.mac(token.run, claim_token);
        want.iter()
            .zip(&token.mac)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// A run token as presented: the run it names and its mac (not yet checked).
#[derive(Debug, Clone)]
pub struct Presented {
    pub run: Uuid,
    mac: [u8; 32],
}

impl Presented {
    pub fn parse(token: &str) -> Option<Self> {
        let rest = token.strip_prefix(PREFIX)?;
        let (run, mac) = rest.split_once('_')?;
        let run = Uuid::try_parse(run).ok()?;
        if mac.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in mac.as_bytes().chunks(2).enumerate() {
            out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(Self { run, mac: out })
    }
}

/// HMAC-SHA256 (RFC 2104) with a key of at most one block.
fn hmac_sha256(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let pad = |byte: u8| block.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_1() {
        // RFC 4231 test case 1 uses a 20-byte key of 0x0b; padded with zeros to 32 bytes the
        // HMAC is the same (keys shorter than a block are zero-padded).
        let mut key = [0u8; 32];
        key[..20].copy_from_slice(&[0x0b; 20]);
        let mac = hmac_sha256(&key, b"Hi There");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
    }

    #[test]
    fn a_token_names_its_run_and_holds_only_for_its_claim() {
        let tokens = RunTokens::with_secret([7; 32]);
        let run = Uuid::now_v7();
        let claim = Uuid::now_v7();
        let token = tokens.mint(run, claim);
        assert!(!token.contains(&claim.simple().to_string()));
        let presented = Presented::parse(&token).unwrap();
        assert_eq!(presented.run, run);
        assert!(tokens.verify(&presented, claim));
        assert!(
            !tokens.verify(&presented, Uuid::now_v7()),
            "a new claim ends the token"
        );
        let other = RunTokens::with_secret([8; 32]);
        assert!(!other.verify(&presented, claim), "another server's secret");
        assert!(Presented::parse("rgr_nonsense").is_none());
        assert!(Presented::parse(&token.replace("rgr_", "rgl_")).is_none());
    }
}
