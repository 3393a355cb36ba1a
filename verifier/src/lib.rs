//! The gate: a sled store holding the synced trust bundle, the replay cache, the audit
//! log and the highest trusted time; sync from a directory or URL; checks that feed the
//! pure engine in `tuaton_common::verify`. The TUI and CLI are shells over [`Gate`].
#![forbid(unsafe_code)]

#[cfg(feature = "ble")]
pub mod ble;
pub mod demo;
pub mod transport;
pub mod tui;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tuaton_common::status::{self, Bitset, CheckedList, StatusLists};
use tuaton_common::trust::{check_status_pin, TrustState, TrustStore};
use tuaton_common::verify::{self, Context, Policy, ReplayView, Verdict};

/// Everything that can go wrong at the gate (a rejected presentation is a [`Verdict`],
/// not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Trust data failed a check (rollback, threshold, mix-and-match, bad proof...).
    #[error("trust bundle refused: {0}")]
    Trust(#[from] tuaton_common::Error),
    /// The gate store could not be read or written.
    #[error("gate store: {0}")]
    Store(#[from] sled::Error),
    /// A bundle file or image could not be read.
    #[error("{path}: {source}")]
    Io {
        /// What.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Fetching a bundle over HTTP failed.
    #[error("fetching {url}: {reason}")]
    Http {
        /// What.
        url: String,
        /// Why.
        reason: String,
    },
    /// Nothing synced yet.
    #[error("no trust bundle synced")]
    NoBundle,
    /// An image held no readable QR code.
    #[error("no QR code found in {0}")]
    NoQr(String),
    /// Bad option or input.
    #[error("{0}")]
    Invalid(String),
}

impl GateError {
    /// What the operator should do.
    pub fn hint(&self) -> &'static str {
        match self {
            GateError::Trust(_) => {
                "the previous bundle stays in use; check the source is the issuer's real bundle"
            }
            GateError::Store(_) => {
                "check --home is writable and no other tuaton-verifier is using it"
            }
            GateError::Io { .. } => "check the path exists and is readable",
            GateError::Http { .. } => {
                "check the URL and the network, or sync from a directory copy"
            }
            GateError::NoBundle => "run `tuaton-verifier sync DIR-or-URL` first",
            GateError::NoQr(_) => "use a sharper, well-lit image of the QR code",
            GateError::Invalid(_) => "check the command line with --help",
        }
    }
}

/// Shorthand.
pub type Result<T, E = GateError> = std::result::Result<T, E>;

/// Where bundle files come from.
pub trait BundleSource {
    /// Reads one file by its bundle-relative path.
    fn read(&self, rel: &str) -> Result<Vec<u8>>;
}

/// A bundle directory on disk.
pub struct DirSource(pub PathBuf);
impl BundleSource for DirSource {
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let p = self.0.join(rel);
        std::fs::read(&p).map_err(|source| GateError::Io {
            path: p.display().to_string(),
            source,
        })
    }
}

/// A bundle served over HTTP(S) (any static host or CDN).
pub struct HttpSource(pub String);
impl BundleSource for HttpSource {
    fn read(&self, rel: &str) -> Result<Vec<u8>> {
        let url = format!("{}/{rel}", self.0.trim_end_matches('/'));
        let err = |reason: String| GateError::Http {
            url: url.clone(),
            reason,
        };
        let client = reqwest::blocking::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let resp = client.get(&url).send().map_err(|e| err(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        // A status list for 66 million citizens is about a megabyte; 64 MiB bounds abuse.
        let body = resp.bytes().map_err(|e| err(e.to_string()))?;
        if body.len() > 64 << 20 {
            return Err(err("file larger than 64 MiB".into()));
        }
        Ok(body.to_vec())
    }
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

/// The gate's persistent state.
pub struct Gate {
    db: sled::Db,
    /// Settings for verification.
    pub policy: Policy,
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

const BUNDLE: &str = "bundle";
const REPLAY: &str = "replay";
const AUDIT: &str = "audit";
const META: &str = "meta";

struct SledReplay<'a>(&'a sled::Tree);
impl ReplayView for SledReplay<'_> {
    fn check_and_record(&mut self, key: [u8; 32], keep_until: i64, now: i64) -> bool {
        let seen = matches!(self.0.get(key), Ok(Some(v)) if v.len() == 8 && i64::from_be_bytes(v.as_ref().try_into().expect("len 8")) >= now);
        let _ = self.0.insert(key, &keep_until.to_be_bytes());
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
        let db = sled::open(home.join("gate.sled"))?;
        Ok(Gate {
            db,
            policy: Policy::default(),
        })
    }

    /// Syncs from `source`: every part is verified before anything is replaced, and all
    /// of it is then written in one batch, so a failed or interrupted sync leaves the
    /// previous bundle in use.
    pub fn sync(&self, source: &dyn BundleSource, now: i64) -> Result<SyncReport> {
        let index: serde_json::Value = serde_json::from_slice(&source.read("index.json")?)
            .map_err(|e| {
                GateError::Trust(tuaton_common::Error::Trust(format!("index.json: {e}")))
            })?;
        let names = |k: &str| -> Vec<String> {
            index[k]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut roots = Vec::new();
        for r in names("roots") {
            if !safe_rel(&r) {
                return Err(GateError::Trust(tuaton_common::Error::Trust(format!(
                    "unsafe path {r} in index.json"
                ))));
            }
            roots.push(source.read(&r)?);
        }
        let tl = source.read("trust-list.cbor")?;
        let state = match self.load_state()? {
            Some(prev) => prev.update(&roots, &tl)?,
            None => TrustState::bootstrap(&roots, &tl)?,
        };
        let mut batch = sled::Batch::default();
        let mut revoked = 0;
        let mut loaded = 0;
        for pin in &state.trust_list.list.status {
            let file = source.read(&format!("status/{}", pin.file))?;
            check_status_pin(pin, &file)?;
            let checked = verify_status(&state, pin.issuer, pin.size, file, now)?;
            revoked += checked.bits.count();
            loaded += 1;
            batch.insert(
                format!("status/{}/{}", pin.issuer, pin.list).as_bytes(),
                encode_checked(pin.size, &checked),
            );
        }
        let mut root_blob = Vec::new();
        for r in &roots {
            root_blob.extend_from_slice(&(r.len() as u32).to_be_bytes());
            root_blob.extend_from_slice(r);
        }
        // Drop lists of the previous bundle that this one no longer names.
        for item in self.db.open_tree(BUNDLE)?.scan_prefix("status/") {
            let (k, _) = item?;
            let keep = state
                .trust_list
                .list
                .status
                .iter()
                .any(|p| k.as_ref() == format!("status/{}/{}", p.issuer, p.list).as_bytes());
            if !keep {
                batch.remove(k);
            }
        }
        batch.insert("roots", root_blob);
        batch.insert("trust-list", tl);
        batch.insert("synced-at", &now.to_be_bytes());
        self.db.open_tree(BUNDLE)?.apply_batch(batch)?;
        self.raise_trusted_time(state.trust_list.list.issued_at)?;
        self.db.flush()?;
        Ok(SyncReport {
            root_version: state.root.root.version,
            root_fingerprint: state.root.root.fingerprint(),
            trust_list_version: state.trust_list.list.version,
            status_lists: loaded,
            revoked,
            expires: state.trust_list.list.expires,
        })
    }

    fn load_state(&self) -> Result<Option<TrustState>> {
        let b = self.db.open_tree(BUNDLE)?;
        let (Some(roots), Some(tl)) = (b.get("roots")?, b.get("trust-list")?) else {
            return Ok(None);
        };
        let mut rs = Vec::new();
        let mut rest = roots.as_ref();
        while rest.len() >= 4 {
            let n = u32::from_be_bytes(rest[..4].try_into().expect("len 4")) as usize;
            if rest.len() < 4 + n {
                break;
            }
            rs.push(rest[4..4 + n].to_vec());
            rest = &rest[4 + n..];
        }
        // Re-checked on every load: the store is not trusted more than the bundle was.
        Ok(Some(TrustState::bootstrap(&rs, &tl)?))
    }

    /// Loads the synced bundle for checking (status bitsets were verified at sync).
    pub fn load(&self) -> Result<Loaded> {
        let state = self.load_state()?.ok_or(GateError::NoBundle)?;
        let mut status = StatusLists::default();
        let b = self.db.open_tree(BUNDLE)?;
        for pin in &state.trust_list.list.status {
            if let Some(v) = b.get(format!("status/{}/{}", pin.issuer, pin.list))? {
                if let Some(c) = decode_checked(&v) {
                    status.insert(pin.issuer, pin.list, c);
                }
            }
        }
        let trust = state.trust_list.list.to_store();
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

    fn raise_trusted_time(&self, t: i64) -> Result<()> {
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

    /// When the last sync happened.
    pub fn synced_at(&self) -> Result<Option<i64>> {
        Ok(self
            .db
            .open_tree(BUNDLE)?
            .get("synced-at")?
            .and_then(|v| v.as_ref().try_into().ok().map(i64::from_be_bytes)))
    }

    /// Verifies one presentation (QR text) as of `now`, records it in the replay cache and
    /// the audit log, and returns the verdict. `clock_is_real` is false when `now` comes
    /// from `--at` (an audit replay), so it never moves the trusted time.
    pub fn check(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
    ) -> Result<Verdict> {
        let v = self.with_context(loaded, now, None, |ctx| verify::verify_qr(text, ctx))?;
        self.record(&v, now, clock_is_real)?;
        Ok(v)
    }

    /// Runs `f` with a verify context over this gate's persistent state.
    fn with_context<T>(
        &self,
        loaded: &Loaded,
        now: i64,
        nonce: Option<&[u8]>,
        f: impl FnOnce(&mut Context<'_>) -> T,
    ) -> Result<T> {
        let replay_tree = self.db.open_tree(REPLAY)?;
        let mut replay = SledReplay(&replay_tree);
        let mut ctx = Context {
            now,
            trust: &loaded.trust,
            status: &loaded.status,
            replay: &mut replay,
            policy: self.policy,
            nonce,
            highest_trusted_time: self.highest_trusted_time()?,
        };
        Ok(f(&mut ctx))
    }

    /// Audits a verdict, moves the trusted time forward (real clocks only) and flushes.
    fn record(&self, v: &Verdict, now: i64, clock_is_real: bool) -> Result<()> {
        self.audit(v)?;
        if clock_is_real && !v.warnings.contains(&verify::Warning::ClockRollback) {
            self.raise_trusted_time(now)?;
        }
        self.prune_replay(now)?;
        self.db.flush()?;
        Ok(())
    }

    /// Runs an engagement session (the scanned `TTB1:` text) and verifies the wallet's
    /// answer as of `now`: flight claims and the portrait, bound to this session.
    pub fn check_engagement(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
        allow_remote: bool,
    ) -> Result<Verdict> {
        use tuaton_common::session::{
            Engagement, GateAwaitingResponse, Request, Response, Transport, MAX_MESSAGE,
        };
        let engagement = match Engagement::parse(text) {
            Ok(e) => e,
            Err(e) => {
                let reason = match e {
                    tuaton_common::Error::UnsupportedVersion => verify::Reason::UnsupportedVersion,
                    _ => verify::Reason::Malformed,
                };
                let v =
                    self.with_context(loaded, now, None, |ctx| verify::rejected(ctx, reason))?;
                self.record(&v, now, clock_is_real)?;
                return Ok(v);
            }
        };
        let link: Result<Box<dyn tuaton_common::link::Link>> = match &engagement.transport {
            Transport::Socket { addr } => {
                transport::check_allowed(addr, allow_remote)?;
                transport::connect(addr, allow_remote)
                    .map(|l| Box::new(l) as Box<dyn tuaton_common::link::Link>)
            }
            #[cfg(feature = "ble")]
            Transport::Ble { service } => ble::connect(*service, transport::TIMEOUT)
                .map(|l| Box::new(l) as Box<dyn tuaton_common::link::Link>),
            #[cfg(not(feature = "ble"))]
            Transport::Ble { .. } => return Err(GateError::Invalid(transport::NO_BLE.into())),
        };
        // A phone that is gone is a failed presentation, not a gate error.
        let answer = link
            .map_err(|e| tuaton_common::Error::Session(e.to_string()))
            .and_then(|mut link| {
                let mut eph = [0u8; 32];
                let mut nonce = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut eph);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
                let request = Request {
                    groups: vec![
                        tuaton_common::gate::Group::Flight,
                        tuaton_common::gate::Group::Portrait,
                    ],
                    nonce,
                };
                let (session, first) = GateAwaitingResponse::start(&engagement, eph, request)?;
                let proof_nonce = session.proof_nonce();
                tuaton_common::link::send_message(link.as_mut(), &first)?;
                let m = tuaton_common::link::recv_message(link.as_mut(), MAX_MESSAGE)?;
                Ok((session.on_response(&m)?, proof_nonce))
            });
        let v = match answer {
            Ok((Response::Presentation(p), proof_nonce)) => {
                self.with_context(loaded, now, Some(&proof_nonce), |ctx| {
                    verify::verify_cbor(&p, ctx)
                })?
            }
            Ok((Response::Declined, _)) | Err(_) => {
                self.with_context(loaded, now, None, |ctx| verify::session_failed(ctx))?
            }
        };
        self.record(&v, now, clock_is_real)?;
        Ok(v)
    }

    fn prune_replay(&self, now: i64) -> Result<()> {
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

    /// Whether the audit log keeps names and citizen IDs (off unless the operator turns
    /// it on).
    pub fn set_log_personal_data(&self, on: bool) -> Result<()> {
        self.db
            .open_tree(META)?
            .insert("log-personal-data", &[u8::from(on)])?;
        self.db.flush()?;
        Ok(())
    }

    fn salt(&self) -> Result<Vec<u8>> {
        let meta = self.db.open_tree(META)?;
        if let Some(s) = meta.get("audit-salt")? {
            return Ok(s.to_vec());
        }
        let mut s = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
        meta.insert("audit-salt", &s)?;
        Ok(s.to_vec())
    }

    fn audit(&self, v: &Verdict) -> Result<()> {
        let personal = self
            .db
            .open_tree(META)?
            .get("log-personal-data")?
            .is_some_and(|b| b.as_ref() == [1]);
        let salt = self.salt()?;
        let cred = v.credential_id.as_ref().map(|c| {
            let h = Sha256::new()
                .chain_update(&salt)
                .chain_update(c.as_bytes())
                .finalize();
            hex::encode(&h[..16])
        });
        let mut rec = serde_json::json!({
            "time": tuaton_common::model::format_rfc3339(v.checked_at),
            "verdict": if v.is_valid() { "valid" } else { "rejected" },
            "reasons": v.reasons.iter().map(|r| r.code()).collect::<Vec<_>>(),
            "warnings": v.warnings.iter().map(|w| w.code()).collect::<Vec<_>>(),
            "issuer": v.issuer, "kid": v.kid, "credential_hash": cred,
        });
        if personal {
            rec["claims"] = v.claims.as_ref().map(|c| c.to_json()).unwrap_or_default();
        }
        let id = self.db.generate_id()?;
        self.db
            .open_tree(AUDIT)?
            .insert(id.to_be_bytes(), serde_json::to_vec(&rec).expect("json"))?;
        Ok(())
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = vec![];
        for item in self.db.open_tree(AUDIT)?.iter() {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).unwrap_or_default());
        }
        Ok(out)
    }
}

/// A bundle-relative path that stays inside the bundle.
fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && !p.starts_with('/')
        && !p.split('/').any(|c| c == ".." || c.is_empty())
        && !p.contains('\\')
}

fn verify_status(
    state: &TrustState,
    issuer: u32,
    size: u64,
    file: Vec<u8>,
    now: i64,
) -> Result<CheckedList> {
    let keys: Vec<_> = state
        .trust_list
        .list
        .issuers
        .iter()
        .filter(|i| i.id == issuer)
        .flat_map(|i| i.keys.iter())
        .filter(|k| !matches!(k.state, tuaton_common::trust::KeyState::Revoked { .. }))
        .map(|k| k.public)
        .collect();
    let json = String::from_utf8(file).map_err(|_| {
        GateError::Trust(tuaton_common::Error::Trust(
            "status list is not UTF-8".into(),
        ))
    })?;
    Ok(status::verify_list(json, &keys, size, now)?)
}

fn encode_checked(size: u64, c: &CheckedList) -> Vec<u8> {
    let mut v = Vec::with_capacity(c.bits.as_bytes().len() + 16);
    v.extend_from_slice(&size.to_be_bytes());
    v.extend_from_slice(&c.valid_until.unwrap_or(i64::MAX).to_be_bytes());
    v.extend_from_slice(c.bits.as_bytes());
    v
}

fn decode_checked(v: &[u8]) -> Option<CheckedList> {
    let size = u64::from_be_bytes(v.get(..8)?.try_into().ok()?);
    let until = i64::from_be_bytes(v.get(8..16)?.try_into().ok()?);
    let bytes = v.get(16..)?;
    let bits = Bitset::from_bytes(bytes.to_vec(), size)?;
    Some(CheckedList {
        bits,
        valid_until: (until != i64::MAX).then_some(until),
    })
}

/// Decodes the QR code in a PNG (or JPEG) image into its text.
pub fn decode_qr_image(path: &Path) -> Result<String> {
    let img = image::open(path)
        .map_err(|e| GateError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?
        .to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    for grid in prepared.detect_grids() {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() {
            return String::from_utf8(out).map_err(|_| GateError::NoQr(path.display().to_string()));
        }
    }
    Err(GateError::NoQr(path.display().to_string()))
}
