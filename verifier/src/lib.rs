//! The gate: a sled store holding the synced trust bundle, the replay cache, the audit
//! log and the highest trusted time; sync from a directory or URL; checks that feed the
//! pure engine in `tuaton_common::verify`. The TUI and CLI are shells over [`Gate`].
#![forbid(unsafe_code)]

#[cfg(feature = "ble")]
pub mod ble;
pub mod demo;
pub mod live;
pub mod transport;
pub mod tui;

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tuaton_common::bundle;
use tuaton_common::status::{self, Bitset, CheckedList, StatusLists};
use tuaton_common::trust::{check_status_pin, Anchor, TrustState, TrustStore};
use tuaton_common::verify::{self, Context, Policy, ReplayView, Verdict};

/// Everything that can go wrong at the gate (a rejected presentation is a [`Verdict`],
/// not an error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// Trust data failed a check (rollback, threshold, mix-and-match, bad proof...).
    #[error("trust bundle refused: {0}")]
    Trust(tuaton_common::Error),
    /// A bundle file failed the bundle layout's checks (index schema, paths, sizes); the
    /// message names the file.
    #[error("trust bundle refused: {0}")]
    Bundle(tuaton_common::Error),
    /// The connection to a phone (socket or Bluetooth LE) could not be made or broke.
    #[error("{what}: {reason}")]
    Transport {
        /// Which address or radio.
        what: String,
        /// The OS's or the stack's words.
        reason: String,
    },

    /// The gate store could not be read or written.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
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
    /// A first sync with no root pinned (or a store from before pinning).
    #[error("this gate trusts no root yet, and none was pinned")]
    NotProvisioned,
    /// A file or body larger than its limit.
    #[error("{what} is larger than {max} bytes")]
    TooLarge {
        /// Which file or URL.
        what: String,
        /// The limit.
        max: u64,
    },
    /// The TUI was asked for without a terminal.
    #[error("the gate screen needs a terminal, and standard input or output is not one")]
    NoTerminal,
    /// The gate store holds data that does not parse.
    #[error("the gate store is damaged: {0} does not parse")]
    StoreDamaged(&'static str),
    /// An image held no readable QR code (nor, where one was wanted, a boarding pass).
    #[error("no ID QR code found in {0}")]
    NoQr(String),
    /// The command line asks for something inconsistent or impossible.
    #[error("{0}")]
    Usage(String),
}

impl GateError {
    /// What the operator should do.
    pub fn hint(&self) -> &'static str {
        match self {
            GateError::Trust(_) | GateError::Bundle(_) => {
                "the previous bundle stays in use; check the source is the issuer's real bundle"
            }
            GateError::Transport { .. } => "check the phone is near and its engagement QR is fresh, then scan it again",

            GateError::Store(e) => e.hint(),
            GateError::Io { .. } => "check the path exists and is readable",
            GateError::Http { .. } => {
                "check the URL and the network, or sync from a directory copy"
            }
            GateError::NoBundle => "run `tuaton-verifier sync DIR-or-URL --expect-root FINGERPRINT` first",
            GateError::NotProvisioned => "sync with --expect-root FINGERPRINT (from `tuaton-issuer keys`), or --trust-on-first-use",
            GateError::TooLarge { .. } => "the source is not a tuaton bundle, or is under attack: use the issuer's real bundle",
            GateError::NoTerminal => "run it in a terminal, or use `tuaton-verifier check` from scripts",
            GateError::StoreDamaged(_) => "move --home aside and sync again with --expect-root",
            GateError::NoQr(_) => "use a sharper, well-lit image of the QR code or boarding pass",
            GateError::Usage(_) => "check the command line with --help",
        }
    }
}

impl tuaton_cli::Hint for GateError {
    fn hint(&self) -> &'static str {
        GateError::hint(self)
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            GateError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<sled::Error> for GateError {
    fn from(e: sled::Error) -> Self {
        GateError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the gate store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = GateError> = std::result::Result<T, E>;

/// Where bundle files come from.
pub trait BundleSource {
    /// Reads one file by its bundle-relative path; fails, without holding more than
    /// `max` bytes, when the file is larger.
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>>;
}

/// A bundle directory on disk.
pub struct DirSource(pub PathBuf);
impl BundleSource for DirSource {
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        use std::io::Read;
        let p = self.0.join(rel);
        let io = |source| GateError::Io {
            path: p.display().to_string(),
            source,
        };
        let f = std::fs::File::open(&p).map_err(io)?;
        // A FIFO or device (e.g. /dev/zero) would never end: only regular files.
        if !f.metadata().map_err(io)?.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        let mut out = Vec::new();
        f.take(max + 1).read_to_end(&mut out).map_err(io)?;
        if out.len() as u64 > max {
            return Err(GateError::TooLarge {
                what: p.display().to_string(),
                max,
            });
        }
        Ok(out)
    }
}

/// How long a whole HTTP sync may take, every file included: a server that trickles
/// bytes cannot hold the gate's sync for ever.
pub const HTTP_SYNC_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// A bundle served over HTTP(S) (any static host or CDN). Bodies are read through a cap
/// (never buffered whole first), redirects are followed only within the same origin,
/// and the whole sync shares one deadline.
pub struct HttpSource {
    base: String,
    client: reqwest::blocking::Client,
    deadline: std::time::Instant,
    budget: std::time::Duration,
}

impl HttpSource {
    /// A source for `base` whose reads must all finish within `budget`.
    pub fn new(base: &str, budget: std::time::Duration) -> Result<HttpSource> {
        let origin = url_origin(base).ok_or_else(|| GateError::Http {
            url: base.to_owned(),
            reason: "not an http(s) URL with a host".into(),
        })?;
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if url_origin(attempt.url().as_str()).as_deref() != Some(origin.as_str()) {
                // A mirror must not send the gate elsewhere (another host, or http from https).
                attempt.error("redirect to another origin refused")
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::blocking::Client::builder()
            .redirect(policy)
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| GateError::Http {
                url: base.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(HttpSource {
            base: base.trim_end_matches('/').to_owned(),
            client,
            deadline: std::time::Instant::now() + budget,
            budget,
        })
    }
}

pub use tuaton_common::bundle::url_origin;

impl BundleSource for HttpSource {
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        use std::io::Read;
        let url = format!("{}/{rel}", self.base);
        let err = |reason: String| GateError::Http {
            url: url.clone(),
            reason,
        };
        let timed_out = || {
            err(format!(
                "timed out (a whole sync may take {} s)",
                self.budget.as_secs()
            ))
        };
        let left = self
            .deadline
            .checked_duration_since(std::time::Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(timed_out)?;
        let resp = self.client.get(&url).timeout(left).send().map_err(|e| {
            if e.is_timeout() {
                timed_out()
            } else {
                err(e.to_string())
            }
        })?;
        if !resp.status().is_success() {
            return Err(err(format!("HTTP {}", resp.status())));
        }
        if resp.content_length().is_some_and(|n| n > max) {
            return Err(GateError::TooLarge {
                what: url.clone(),
                max,
            });
        }
        let mut out = Vec::new();
        resp.take(max + 1).read_to_end(&mut out).map_err(|e| {
            if e.kind() == std::io::ErrorKind::TimedOut
                || e.to_string().contains("timed out")
                || std::time::Instant::now() >= self.deadline
            {
                timed_out()
            } else {
                err(e.to_string())
            }
        })?;
        if out.len() as u64 > max {
            return Err(GateError::TooLarge {
                what: url.clone(),
                max,
            });
        }
        Ok(out)
    }
}

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

/// The gate's persistent state.
pub struct Gate {
    db: sled::Db,
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

const BUNDLE: &str = "bundle";
const REPLAY: &str = "replay";
const AUDIT: &str = "audit";
const META: &str = "meta";

struct SledReplay<'a>(&'a sled::Tree);
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

    /// Syncs from `source`: every part is verified before anything is replaced, and all
    /// of it is then written in one batch, so a failed or interrupted sync leaves the
    /// previous bundle in use. Only what was verified is stored: the chain of roots from
    /// the anchor this gate already trusts, never the roots as served.
    pub fn sync(
        &self,
        source: &dyn BundleSource,
        now: i64,
        opts: SyncOptions,
    ) -> Result<SyncReport> {
        let raw = bundle::fetch(|p, max| source.read(p, max), GateError::Bundle)?;
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
        self.db.open_tree(BUNDLE)?.apply_batch(batch)?;
        self.raise_trusted_time(state.trust_list.list.issued_at)?;
        self.db.flush()?;
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

    fn load_state(&self) -> Result<Option<TrustState>> {
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
    /// answer as of `now`: what the policy requires and the portrait, bound to this
    /// session. The wallet must first prove it holds the engagement key; only then does
    /// the gate send anything. The whole session ends by
    /// [`session::GATE_SESSION_SECS`](tuaton_common::session::GATE_SESSION_SECS), or
    /// at once when `cancel` is set.
    pub fn check_engagement(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
        allow_remote: bool,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Verdict> {
        use tuaton_common::session::{
            self as s, Engagement, GateAwaitingResponse, Request, Response, Transport, MAX_MESSAGE,
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
        // What the policy needs, and the portrait for staff to compare with the face.
        let mut requested: Vec<tuaton_common::gate::Group> = self.policy.require.groups().to_vec();
        requested.push(tuaton_common::gate::Group::Portrait);
        let session_end =
            std::time::Instant::now() + std::time::Duration::from_secs(s::GATE_SESSION_SECS);
        let link: Result<Box<dyn tuaton_common::link::Link>> = match &engagement.transport {
            Transport::Socket { addr } => {
                transport::check_allowed(addr, allow_remote)?;
                transport::connect(addr, allow_remote, session_end, cancel.clone())
                    .map(|l| Box::new(l) as Box<dyn tuaton_common::link::Link>)
            }
            #[cfg(feature = "ble")]
            Transport::Ble { service } => ble::connect(*service, transport::TIMEOUT)
                .map(|l| Box::new(l) as Box<dyn tuaton_common::link::Link>),
            #[cfg(not(feature = "ble"))]
            Transport::Ble { .. } => {
                return Err(GateError::Transport {
                    what: "Bluetooth LE".into(),
                    reason: transport::NO_BLE.into(),
                })
            }
        };
        // A phone that is gone is a failed presentation, not a gate error.
        let answer = link
            .map_err(|e| {
                tuaton_common::Error::Session(tuaton_common::error::SessionError::Link(
                    e.to_string(),
                ))
            })
            .and_then(|mut link| {
                // Nothing is written until the listener proves it made this engagement.
                link.expect_within(s::HELLO_WAIT_SECS);
                let hello = tuaton_common::link::recv_message(link.as_mut(), s::HELLO_LEN)?;
                engagement.verify_hello(&hello)?;
                let mut eph = [0u8; 32];
                let mut nonce = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut eph);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
                let request = Request {
                    groups: requested.clone(),
                    nonce,
                };
                let (session, first) = GateAwaitingResponse::start(&engagement, eph, request)?;
                let proof_nonce = session.proof_nonce();
                tuaton_common::link::send_message(link.as_mut(), &first)?;
                link.expect_within(s::CONSENT_WAIT_SECS);
                let m = tuaton_common::link::recv_message(link.as_mut(), MAX_MESSAGE)?;
                Ok((session.on_response(&m)?, proof_nonce))
            });
        let v = match answer {
            Ok((Response::Presentation(p), proof_nonce)) => {
                self.with_context(loaded, now, Some(&proof_nonce), |ctx| {
                    verify::verify_session_answer(&p, &requested, ctx)
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

    /// Pairs the boarding pass `pass` with the ID verdict `v` as of `now` (this gate's
    /// airport applies) and records the pairing in the audit log: its result, flight and
    /// date, and the name as on the pass only when personal data is on.
    pub fn pair(&self, v: &mut Verdict, pass: &str, now: i64) -> Result<()> {
        v.pair(pass, now, self.airport.as_deref());
        self.audit_pairing(v)
    }

    /// Writes the audit record of a pairing already made on `v`.
    pub fn audit_pairing(&self, v: &Verdict) -> Result<()> {
        let Some(b) = &v.boarding_pass else {
            return Ok(());
        };
        let personal = self.personal_data()?;
        let j = b.to_json();
        let mut rec = serde_json::json!({
            "time": tuaton_common::model::format_rfc3339(v.checked_at),
            "pairing": if b.matches() { "match" } else { "mismatch" },
            "id_verdict": if v.reasons.is_empty() { "valid" } else { "rejected" },
            "reasons": j["reasons"], "name_match": j["name_match"],
            "carrier": j["carrier"], "flight": j["flight"], "julian_date": j["julian_date"],
            "from": j["from"], "to": j["to"],
            "credential_hash": self.credential_hash(v)?,
        });
        if personal {
            rec["name_on_pass"] = j["name"].clone();
        }
        self.append_audit(&rec)?;
        self.db.flush()?;
        Ok(())
    }

    fn personal_data(&self) -> Result<bool> {
        Ok(self
            .db
            .open_tree(META)?
            .get("log-personal-data")?
            .is_some_and(|b| b.as_ref() == [1]))
    }

    /// A salted hash of the credential id: lets an auditor link records of one card
    /// without the log naming it.
    fn credential_hash(&self, v: &Verdict) -> Result<Option<String>> {
        let salt = self.salt()?;
        Ok(v.credential_id.as_ref().map(|c| {
            let h = Sha256::new()
                .chain_update(&salt)
                .chain_update(c.as_bytes())
                .finalize();
            hex::encode(&h[..16])
        }))
    }

    fn append_audit(&self, rec: &serde_json::Value) -> Result<()> {
        let id = self.db.generate_id()?;
        self.db
            .open_tree(AUDIT)?
            .insert(id.to_be_bytes(), serde_json::to_vec(rec).expect("json"))?;
        Ok(())
    }

    fn audit(&self, v: &Verdict) -> Result<()> {
        let personal = self.personal_data()?;
        let cred = self.credential_hash(v)?;
        // The one verdict-to-JSON mapping (`check --json`'s), less what an audit record
        // must not keep: the credential id becomes a salted hash, and the claims stay
        // only when personal data is on. A pairing is audited on its own record.
        let mut rec = v.to_json();
        if let Some(o) = rec.as_object_mut() {
            o.remove("credential_id");
            o.remove("boarding_pass");
            if !personal {
                o.remove("claims");
            }
            let time = o.remove("checked_at").unwrap_or_default();
            o.insert("time".into(), time);
            o.insert("credential_hash".into(), cred.into());
        }
        self.append_audit(&rec)
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = vec![];
        for item in self.db.open_tree(AUDIT)?.iter() {
            let (_, v) = item?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|_| GateError::StoreDamaged("an audit record"))?,
            );
        }
        Ok(out)
    }
}

fn join_lp(parts: &[Vec<u8>]) -> Vec<u8> {
    tuaton_common::lp::length_prefixed(parts.iter().map(Vec::as_slice))
}

fn split_lp(bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
    tuaton_common::lp::split(bytes)
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
    status::verify_list(json, &keys, size, now).map_err(GateError::Trust)
}

/// Bytes per stored chunk of a status bitset (sled keeps values this small in its log).
const STATUS_CHUNK: usize = 8 * 1024;

/// Chunks sort by key in order: zero-padded index.
fn status_key(issuer: u32, list: u32, chunk: usize) -> String {
    format!("status/{issuer}/{list}/{chunk:08}")
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

/// Largest image file `check --image` reads.
pub const MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;
/// Images are scaled down so their longer side is at most this many pixels before QR
/// detection: detection time grows with the pixel count (a 4000x4000 noise image took
/// over 90 s at full size), while a phone screen's QR still has modules of several
/// pixels at this size.
pub const DETECT_MAX_SIDE: u32 = 1280;

/// Decodes the QR code in a PNG (or JPEG) image into its text. Bounded before work: a
/// regular file of at most [`MAX_IMAGE_BYTES`], decoded under size limits, scaled to
/// [`DETECT_MAX_SIDE`] before detection.
/// What a picture held: the ID presentation (a QR code) and a boarding pass (PDF417,
/// Aztec or QR barcode carrying BCBP text), each when found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// The QR text that is not a boarding pass (`TT1:` or `TTB1:` expected).
    pub presentation: Option<String>,
    /// BCBP text.
    pub boarding_pass: Option<String>,
}

/// Decodes the QR code in the image at `path` (the ID presentation). See
/// [`decode_image`] for boarding passes too.
pub fn decode_qr_image(path: &Path) -> Result<String> {
    decode_image(path)?
        .presentation
        .ok_or_else(|| GateError::NoQr(path.display().to_string()))
}

/// Decodes every barcode the gate reads in the image at `path`: QR codes with rqrr, and
/// PDF417 and Aztec (the barcodes of boarding passes) with rxing. The file is bounded
/// before it is read and the picture before it is decoded.
pub fn decode_image(path: &Path) -> Result<Scanned> {
    use std::io::Read;
    let io = |source| GateError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(GateError::TooLarge {
            what: path.display().to_string(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let mut bytes = Vec::new();
    f.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let img = if img.width().max(img.height()) > DETECT_MAX_SIDE {
        img.thumbnail(DETECT_MAX_SIDE, DETECT_MAX_SIDE)
    } else {
        img
    };
    let luma = img.to_luma8();
    let mut texts: Vec<String> = Vec::new();
    let mut prepared = rqrr::PreparedImage::prepare(luma.clone());
    for grid in prepared.detect_grids() {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() {
            texts.extend(String::from_utf8(out).ok());
        }
    }
    let (w, h) = luma.dimensions();
    let raw = luma.into_raw();
    let is_pass = |t: &String| tuaton_common::bcbp::looks_like_pass(t);
    // One format at a time: rxing's multi-format reader misses an Aztec symbol beside a
    // QR code. Not finding a barcode is an error result, not a failure.
    for format in [rxing::BarcodeFormat::PDF_417, rxing::BarcodeFormat::AZTEC] {
        if texts.iter().any(is_pass) {
            break;
        }
        let mut hints = rxing::DecodeHints {
            PossibleFormats: Some([format].into_iter().collect()),
            TryHarder: Some(true),
            ..Default::default()
        };
        if let Ok(r) =
            rxing::helpers::detect_in_luma_with_hints(raw.clone(), w, h, Some(format), &mut hints)
        {
            texts.push(r.getText().to_owned());
        }
    }
    let found = Scanned {
        boarding_pass: texts.iter().find(|t| is_pass(t)).cloned(),
        presentation: texts.into_iter().find(|t| !is_pass(t)),
    };
    if found == Scanned::default() {
        return Err(GateError::NoQr(path.display().to_string()));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_audit_check_never_shortens_a_live_replay_entry() {
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
