//! The gate as the TUI runs it all day: the store is opened for each scan and closed
//! again, so `sync`, `check`, `status` and `audit` from another shell (cron, a systemd
//! timer, an operator) can use it between scans; a scan after a sync uses the new bundle.
//! It can also sync on its own, in the background, every few minutes.

use crate::check::SessionFailure;
use crate::station::{Checked, Checker, Scan, StatusInfo};
use crate::{BundleSource, Gate, GateError, Loaded, Source, SyncOptions};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use tuaton_common::trust::TrustState;
use tuaton_common::verify::{self, Policy, Verdict};

/// What the background sync last did, for the status bar.
#[derive(Clone, Debug, Default)]
pub struct SyncStatus {
    /// "synced 14:05", "sync failed 14:05: timed out", or empty before the first try.
    pub last: String,
}

/// Most bytes one background sync reads, all files together: a source that lists or pins
/// many large files cannot make the gate hold more than this.
pub const MAX_SYNC_BYTES: u64 = 256 * 1024 * 1024;

/// A bundle read into memory before the store is touched, so a slow source never holds
/// the store while a scan waits. Only what a verified trust list pins is read: the index,
/// roots and trust list first (small, bounded), verified from the trust this gate already
/// holds; then each status file that trust list pins, checked against its pin as it
/// arrives, all within [`MAX_SYNC_BYTES`]. Paths the index lists beyond that are never
/// read.
pub struct Prefetched(std::collections::HashMap<String, Vec<u8>>);

impl Prefetched {
    /// Reads what `trusted`'s successor pins from `src` (see the type).
    pub fn fetch(
        src: &BundleSource,
        trusted: Option<TrustState>,
        now: i64,
    ) -> Result<Prefetched, GateError> {
        use tuaton_common::bundle;
        let raw = bundle::fetch(src, |error| GateError::Bundle {
            location: src.location(),
            error,
        })?;
        // Verified before any status file is read: an unprovisioned gate syncs in the
        // foreground (`sync --expect-root`), never from here.
        let state = trusted
            .ok_or(GateError::NotProvisioned)?
            .update(&raw.roots, &raw.trust_list, now)
            .map_err(GateError::Trust)?;
        let mut files = std::collections::HashMap::new();
        let mut budget = MAX_SYNC_BYTES;
        // Never more files than the trust list pins, whatever the index says.
        for pin in &state.trust_list.list.status {
            let path = bundle::status_path(&pin.file);
            let file = src.read(&path, bundle::MAX_STATUS_BYTES.min(budget))?;
            tuaton_common::trust::check_status_pin(pin, &file).map_err(GateError::Trust)?;
            budget -= file.len() as u64;
            files.insert(path, file);
        }
        // The index the gate's sync reads again names only what was fetched.
        let mut index = raw.index;
        index.status = files.keys().cloned().collect();
        index.status.sort();
        for (r, b) in index.roots.iter().zip(raw.roots) {
            files.insert(r.clone(), b);
        }
        files.insert(index.trust_list.clone(), raw.trust_list);
        files.insert(
            bundle::INDEX.into(),
            serde_json::to_vec(&index).expect("index serialises"),
        );
        Ok(Prefetched(files))
    }
}

impl Source for Prefetched {
    type Error = GateError;
    fn location(&self) -> String {
        "the prefetched bundle".into()
    }
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>, GateError> {
        match self.0.get(rel) {
            Some(b) if b.len() as u64 <= max => Ok(b.clone()),
            Some(_) => Err(GateError::TooLarge {
                what: rel.into(),
                max,
            }),
            None => Err(GateError::Io {
                path: rel.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "not listed in index.json",
                ),
            }),
        }
    }
}

/// The TUI's checker over a gate home.
pub struct LiveGate {
    home: PathBuf,
    policy: Policy,
    /// The gate's airport (`--airport`), for boarding passes.
    pub airport: Option<String>,
    at: Option<i64>,
    allow_remote: bool,
    /// The bundle as last loaded, with the `synced-at` stamp it was loaded at.
    loaded: Loaded,
    /// When, and as which sync, it was loaded.
    loaded_at: (Option<i64>, u64),
    highest: Option<i64>,
    /// Serialises store access between scans and this process's background sync (one
    /// process may not hold two sled handles on one store).
    store: Arc<Mutex<()>>,
    sync: Arc<Mutex<SyncStatus>>,
}

impl LiveGate {
    /// Opens `home` once to load its bundle, then lets it go.
    pub fn new(
        home: PathBuf,
        policy: Policy,
        at: Option<i64>,
        allow_remote: bool,
    ) -> Result<Self, GateError> {
        let (loaded, loaded_at, highest) = {
            let g = Gate::open(&home)?;
            (
                g.load()?,
                (g.synced_at()?, g.sync_count()?),
                g.highest_trusted_time()?,
            )
        };
        Ok(LiveGate {
            home,
            policy,
            airport: None,
            at,
            allow_remote,
            loaded,
            loaded_at,
            highest,
            store: Arc::new(Mutex::new(())),
            sync: Arc::new(Mutex::new(SyncStatus::default())),
        })
    }

    /// Starts syncing from `source` every `minutes` on a background thread (the screen
    /// never waits for it). The next scan after a successful sync uses the new bundle.
    pub fn sync_every(&self, source: String, minutes: u64) {
        let (home, store, status) = (self.home.clone(), self.store.clone(), self.sync.clone());
        std::thread::spawn(move || loop {
            let now = chrono::Utc::now().timestamp();
            let result = (|| -> Result<crate::SyncReport, GateError> {
                // Fetch and verify need no lock; only the write does, and that is short.
                let src = crate::bundle_source(&source)?;
                let trusted = {
                    let _guard = store.lock().unwrap_or_else(|e| e.into_inner());
                    Gate::open(&home)?.trust_state()?
                };
                let fetched = Prefetched::fetch(src.as_ref(), trusted, now)?;
                let _guard = store.lock().unwrap_or_else(|e| e.into_inner());
                Gate::open(&home)?.sync(&fetched, now, SyncOptions::default())
            })();
            let at = crate::tui::hhmmss(now);
            let text = match result {
                Ok(r) => format!("synced {at} (v{})", r.trust_list_version),
                Err(e) => format!(
                    "sync failed {at}: {}",
                    tuaton_common::text::for_display(&e.to_string())
                ),
            };
            status.lock().unwrap_or_else(|e| e.into_inner()).last = text;
            std::thread::sleep(std::time::Duration::from_secs(minutes.max(1) * 60));
        });
    }

    fn now_(&self) -> i64 {
        self.at.unwrap_or_else(|| chrono::Utc::now().timestamp())
    }
}

impl Checker for LiveGate {
    fn pair(&mut self, v: &mut Verdict, pass: &str) {
        let now = self.now_();
        v.pair(pass, now, self.airport.as_deref());
        let store = self.store.clone();
        let _guard = store.lock().unwrap_or_else(|e| e.into_inner());
        // The pairing is on screen whatever happens to its audit record; a store that
        // cannot be written shows on the next scan.
        let _ = Gate::open(&self.home).and_then(|g| g.audit_pairing(v));
    }

    fn check(&mut self, text: &str, cancel: &Arc<AtomicBool>) -> Checked {
        let now = self.now_();
        let store = self.store.clone();
        let _guard = store.lock().unwrap_or_else(|e| e.into_inner());
        let result = (|| -> Result<(Verdict, Option<SessionFailure>), GateError> {
            let mut gate = Gate::open(&self.home)?;
            gate.policy = self.policy;
            // A sync from another shell (or the background one) since the last scan:
            // this scan uses the new bundle.
            let stamp = (gate.synced_at()?, gate.sync_count()?);
            if stamp != self.loaded_at {
                self.loaded = gate.load()?;
                self.loaded_at = stamp;
            }
            let v = match Scan::of(text) {
                Some(Scan::Engagement(t)) => gate.check_engagement(
                    &self.loaded,
                    t,
                    now,
                    self.at.is_none(),
                    self.allow_remote,
                    cancel,
                )?,
                _ => (
                    gate.check(&self.loaded, text, now, self.at.is_none())?,
                    None,
                ),
            };
            self.highest = gate.highest_trusted_time()?;
            Ok(v)
        })();
        match result {
            Ok((v, failure)) => Checked::Verdict(v, failure),
            // An engagement this gate may not follow (a remote address, no radio in this
            // build) is the phone's failed session, never a valid one.
            Err(GateError::Transport { what, reason }) => Checked::Verdict(
                verify::session_failed(
                    &verify::Context::new(
                        now,
                        &self.loaded.trust,
                        &self.loaded.status,
                        &mut verify::MemoryReplay::default(),
                    )
                    .with_policy(self.policy),
                ),
                Some(SessionFailure::Link(format!("{what}: {reason}"))),
            ),
            // The gate itself failed (its store in use too long, unreadable): the screen
            // says so; it never looks like a verdict, valid or not.
            Err(e) => Checked::Fault(e.to_string()),
        }
    }

    fn now(&self) -> i64 {
        self.now_()
    }

    fn status(&self) -> StatusInfo {
        let l = &self.loaded.state.trust_list.list;
        let now = self.now_();
        StatusInfo {
            version: l.version,
            age_secs: now - l.issued_at,
            stale: self.loaded.trust.expires.is_some_and(|e| now >= e),
            clock_back: self.highest.is_some_and(|h| now < h),
            label: self.sync.lock().map(|s| s.last.clone()).unwrap_or_default(),
            policy: self.policy.require.code().into(),
        }
    }
}

impl Prefetched {
    /// The bundle-relative paths read.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
