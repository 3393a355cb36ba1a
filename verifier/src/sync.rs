//! Sync: every part of a bundle verified before anything replaces the previous one.

use crate::store::{encode_checked, join_lp, status_key, BUNDLE, STATUS_CHUNK};
use crate::{BundleSource, Gate, GateError, Result};
use tuaton_common::bundle;
use tuaton_common::status::{self, CheckedList};
use tuaton_common::trust::{check_status_pin, Anchor, TrustState};

/// How the first sync decides which root to trust.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// `--expect-root`: the root fingerprint the operator got from the issuer. Required on
    /// the first sync unless `trust_on_first_use`; on later syncs it must be in the chain.
    pub expect_root: Option<[u8; 32]>,
    /// `--trust-on-first-use`: accept whatever root the first bundle starts with.
    pub trust_on_first_use: bool,
}

/// What a sync did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    /// Root version now trusted.
    pub root_version: u64,
    /// Root key fingerprint.
    pub root_fingerprint: String,
    /// Trust list version now trusted.
    pub trust_list_version: u64,
    /// Status lists loaded.
    pub status_lists: usize,
    /// Revoked entries across them.
    pub revoked: u64,
    /// When the bundle goes stale.
    pub expires: i64,
}

impl Gate {
    /// Syncs from `source`: every part is verified before anything is replaced, and all
    /// of it is then written in one batch, so a failed or interrupted sync leaves the
    /// previous bundle in use. Only what was verified is stored: the chain of roots from
    /// the anchor this gate already trusts, never the roots as served.
    pub fn sync(&self, source: &BundleSource, now: i64, opts: SyncOptions) -> Result<SyncReport> {
        let raw = bundle::fetch(source, |error| GateError::Bundle {
            location: source.location(),
            error,
        })?;
        let state = match self.load_state()? {
            Some(prev) => {
                let next = prev
                    .update(&raw.roots, &raw.trust_list, now)
                    .map_err(GateError::Trust)?;
                if let Some(fp) = opts.expect_root {
                    if !next.chain_has(&fp) {
                        return Err(GateError::Trust(tuaton_common::Error::UnpinnedRoot {
                            expected: hex::encode(fp),
                        }));
                    }
                }
                next
            }
            None => {
                let anchor = match (opts.expect_root, opts.trust_on_first_use) {
                    (Some(fp), _) => Anchor::Pinned(fp),
                    (None, true) => Anchor::TrustOnFirstUse,
                    (None, false) => return Err(GateError::NotProvisioned),
                };
                TrustState::first(&raw.roots, &raw.trust_list, anchor, now)
                    .map_err(GateError::Trust)?
            }
        };
        let mut batch = sled::Batch::default();
        // The previous bundle's lists go; the new ones' chunks (inserted below) replace them.
        for item in self.db.open_tree(BUNDLE)?.scan_prefix("status/") {
            batch.remove(item?.0);
        }
        let mut revoked = 0;
        let mut loaded = 0;
        for pin in &state.trust_list.list.status {
            let file = source.read(&bundle::status_path(&pin.file), bundle::MAX_STATUS_BYTES)?;
            check_status_pin(pin, &file).map_err(GateError::Trust)?;
            let checked = verify_status(&state, pin.issuer, pin.size, file, now)?;
            revoked += checked.bits.count();
            loaded += 1;
            // Stored in chunks well under sled's blob threshold: sled writes larger values
            // to separate blob files, and a blob write that fails (a full disk) left sled
            // waiting for ever. Chunks stay in the log, inside this one atomic batch.
            let encoded = encode_checked(pin.size, &checked);
            for (i, c) in encoded.chunks(STATUS_CHUNK).enumerate() {
                batch.insert(status_key(pin.issuer, pin.list, i).as_bytes(), c);
            }
        }
        batch.remove("roots");
        batch.insert("chain", join_lp(&state.chain_bytes()));
        batch.insert("trust-list", state.trust_list.signed.to_bytes());
        batch.insert("synced-at", &now.to_be_bytes());
        // Counts syncs, so a running gate sees a second sync within the same second
        // (the time alone would not change).
        let count = self.sync_count()?.wrapping_add(1);
        batch.insert("sync-count", &count.to_be_bytes());
        self.db.open_tree(BUNDLE)?.apply_batch(batch)?;
        self.raise_trusted_time(state.trust_list.list.issued_at)?;
        tuaton_store::flush(&self.db)?;
        Ok(SyncReport {
            root_version: state.root.root.version,
            root_fingerprint: state.root.root.fingerprint(),
            trust_list_version: state.trust_list.list.version,
            status_lists: loaded,
            revoked,
            expires: state
                .to_store()
                .expires
                .unwrap_or(state.trust_list.list.expires),
        })
    }
}

fn verify_status(
    state: &TrustState,
    issuer: u32,
    size: u64,
    file: Vec<u8>,
    now: i64,
) -> Result<CheckedList> {
    let listed: Vec<_> = state
        .trust_list
        .list
        .issuers
        .iter()
        .filter(|i| i.id == issuer)
        .collect();
    let did = listed.iter().find_map(|i| i.did.as_deref());
    let keys: Vec<_> = listed
        .iter()
        .flat_map(|i| i.keys.iter())
        .filter(|k| !matches!(k.state, tuaton_common::trust::KeyState::Revoked { .. }))
        .map(|k| k.public)
        .collect();
    let json = String::from_utf8(file).map_err(|_| {
        GateError::Trust(tuaton_common::Error::Trust(
            "status list is not UTF-8".into(),
        ))
    })?;
    status::verify_list(json, &keys, did, size, now).map_err(GateError::Trust)
}
