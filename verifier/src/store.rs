//! The gate store: the synced bundle (only the root chain the gate verified), the replay
//! cache, the highest trusted time and the audit log, in one sled store.

use crate::{GateError, Result};
use std::path::Path;
use tuaton_common::status::{Bitset, CheckedList, StatusLists};
use tuaton_common::trust::{TrustState, TrustStore};
use tuaton_common::verify::{Policy, ReplayView};

/// The gate's persistent state.
pub struct Gate {
    pub(crate) db: sled::Db,
    /// Settings for verification.
    pub policy: Policy,
    /// The airport this gate is at (IATA code, `--airport`): a paired boarding pass must
    /// depart from it.
    pub airport: Option<String>,
}

/// Trust data loaded for checking.
pub struct Loaded {
    /// The checked trust state.
    pub state: TrustState,
    /// The engine's view.
    pub trust: TrustStore,
    /// Status bitsets.
    pub status: StatusLists,
}

pub(crate) const BUNDLE: &str = "bundle";
pub(crate) const REPLAY: &str = "replay";
pub(crate) const AUDIT: &str = "audit";
pub(crate) const META: &str = "meta";

pub(crate) struct SledReplay<'a>(pub(crate) &'a sled::Tree);
impl ReplayView for SledReplay<'_> {
    fn check_and_record(&mut self, key: [u8; 32], keep_until: i64, now: i64) -> bool {
        let until = |v: &[u8]| <[u8; 8]>::try_from(v).ok().map(i64::from_be_bytes);
        let old = self.0.get(key).ok().flatten().and_then(|v| until(&v));
        let seen = old.is_some_and(|t| t >= now);
        // Only ever lengthen an entry: a check as of another time (`--at`, an audit) must
        // not shorten or reset what protects live scans.
        let keep = old.map_or(keep_until, |t| t.max(keep_until));
        let _ = self.0.insert(key, &keep.to_be_bytes());
        seen
    }
}

impl Gate {
    /// Opens (or creates) the gate store in `home`.
    pub fn open(home: &Path) -> Result<Gate> {
        std::fs::create_dir_all(home).map_err(|source| GateError::Io {
            path: home.display().to_string(),
            source,
        })?;
        let db = tuaton_store::open(&home.join("gate.sled"), tuaton_store::LOCK_WAIT)?;
        Ok(Gate {
            db,
            policy: Policy::default(),
            airport: None,
        })
    }

    /// The trust this gate holds (`None` before its first sync).
    pub fn trust_state(&self) -> Result<Option<TrustState>> {
        self.load_state()
    }

    pub(crate) fn load_state(&self) -> Result<Option<TrustState>> {
        let b = self.db.open_tree(BUNDLE)?;
        let (Some(chain), Some(tl)) = (b.get("chain")?, b.get("trust-list")?) else {
            if b.get("roots")?.is_some() {
                // Stored by a build that kept the roots as served: not evidence of anything.
                return Err(GateError::NotProvisioned);
            }
            return Ok(None);
        };
        let chain = split_lp(&chain).ok_or(GateError::StoreDamaged("stored root chain"))?;
        // Re-checked on every load from the gate's own anchor: never re-bootstrapped.
        // A stored chain that no longer verifies is damage (or tampering) on this disk.
        Ok(Some(TrustState::reload(&chain, &tl).map_err(|_| {
            GateError::StoreDamaged("stored trust bundle")
        })?))
    }

    /// Loads the synced bundle for checking (status bitsets were verified at sync).
    pub fn load(&self) -> Result<Loaded> {
        let state = self.load_state()?.ok_or(GateError::NoBundle)?;
        let mut status = StatusLists::default();
        let b = self.db.open_tree(BUNDLE)?;
        for pin in &state.trust_list.list.status {
            let mut v = Vec::new();
            for item in b.scan_prefix(format!("status/{}/{}/", pin.issuer, pin.list)) {
                v.extend_from_slice(&item?.1);
            }
            if !v.is_empty() {
                let c = decode_checked(&v).ok_or(GateError::StoreDamaged("stored status list"))?;
                status.insert(pin.issuer, pin.list, c);
            }
        }
        let trust = state.to_store();
        Ok(Loaded {
            state,
            trust,
            status,
        })
    }

    /// The highest trusted time seen (signed trust data, and the gate's own clock at
    /// earlier checks).
    pub fn highest_trusted_time(&self) -> Result<Option<i64>> {
        Ok(self
            .db
            .open_tree(META)?
            .get("highest-time")?
            .and_then(|v| v.as_ref().try_into().ok().map(i64::from_be_bytes)))
    }

    pub(crate) fn raise_trusted_time(&self, t: i64) -> Result<()> {
        self.db
            .open_tree(META)?
            .fetch_and_update("highest-time", |old| {
                let cur = old
                    .and_then(|v| v.try_into().ok().map(i64::from_be_bytes))
                    .unwrap_or(i64::MIN);
                Some(cur.max(t).to_be_bytes().to_vec())
            })?;
        Ok(())
    }

    /// How many syncs this store has taken (what a running gate compares to know it
    /// must reload; 0 for a store from before it was counted).
    pub fn sync_count(&self) -> Result<u64> {
        Ok(self
            .db
            .open_tree(BUNDLE)?
            .get("sync-count")?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// When the last sync happened.
    pub fn synced_at(&self) -> Result<Option<i64>> {
        Ok(self
            .db
            .open_tree(BUNDLE)?
            .get("synced-at")?
            .and_then(|v| v.as_ref().try_into().ok().map(i64::from_be_bytes)))
    }

    pub(crate) fn prune_replay(&self, now: i64) -> Result<()> {
        let t = self.db.open_tree(REPLAY)?;
        if t.len() < 10_000 {
            return Ok(());
        }
        for item in t.iter() {
            let (k, v) = item?;
            if v.len() == 8 && i64::from_be_bytes(v.as_ref().try_into().expect("len 8")) < now {
                t.remove(k)?;
            }
        }
        Ok(())
    }
}

pub(crate) fn join_lp(parts: &[Vec<u8>]) -> Vec<u8> {
    tuaton_common::lp::length_prefixed(parts.iter().map(Vec::as_slice))
}

pub(crate) fn split_lp(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    tuaton_common::lp::split(bytes)
}

/// Bytes per stored chunk of a status bitset (sled keeps values this small in its log).
pub(crate) const STATUS_CHUNK: usize = 8 * 1024;

/// Chunks sort by key in order: zero-padded index.
pub(crate) fn status_key(issuer: u32, list: u32, chunk: usize) -> String {
    format!("status/{issuer}/{list}/{chunk:08}")
}

pub(crate) fn encode_checked(size: u64, c: &CheckedList) -> Vec<u8> {
    let mut v = Vec::with_capacity(c.bits.as_bytes().len() + 16);
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&c.valid_until.unwrap_or(i64::MAX).to_be_bytes());
    v.extend_from_slice(c.bits.as_bytes());
    v
}

pub(crate) fn decode_checked(v: &[u8]) -> Option<CheckedList> {
    let size = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let until = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    let bytes = v.get(16..)?;
    let bits = Bitset::from_bytes(bytes.to_vec(), size)?;
    Some(CheckedList {
        bits,
        valid_until: (until != i64::MAX).then_some(until),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(crate) fn an_audit_check_never_shortens_a_live_replay_entry() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("t")).unwrap();
        let tree = db.open_tree(REPLAY).unwrap();
        let mut r = SledReplay(&tree);
        assert!(!r.check_and_record([1; 32], 1_000, 100));
        // A check as of the past (`--at`) records an earlier expiry: the entry keeps 1000.
        assert!(r.check_and_record([1; 32], 200, 50));
        assert!(
            r.check_and_record([1; 32], 1_000, 900),
            "still a replay at 900"
        );
    }
}
