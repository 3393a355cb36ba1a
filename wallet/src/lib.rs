//! The citizen wallet: a sled store whose contents are sealed under a random store key,
//! itself wrapped by Argon2id(PIN); the PIN policy; enrollment; import; presentations.
//! The binary is a thin shell over [`Wallet`].
#![forbid(unsafe_code)]

#[cfg(feature = "ble")]
pub mod ble;
pub mod render;
pub mod transport;

use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};
use std::path::{Path, PathBuf};
use tuaton_common::gate::GateCredential;
use tuaton_common::model::PartialDate;
use tuaton_common::package::CredentialPackage;
use tuaton_common::presentation::{self, Profile};
use tuaton_common::seal::{self, KdfParams, Sealed, Secret};
use tuaton_common::trust::TrustState;
use tuaton_common::{enroll, w3c};
use zeroize::Zeroizing;

/// Everything that can go wrong in the wallet.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The PIN breaks the policy (the message says which rule).
    #[error("PIN refused: {0}")]
    PinPolicy(String),
    /// The two PIN entries differ.
    #[error("the two PINs do not match")]
    PinMismatch,
    /// Wrong PIN.
    #[error("wrong PIN ({remaining} attempt(s) left before the wallet locks)")]
    WrongPin {
        /// Attempts left.
        remaining: u32,
    },
    /// Too soon after a wrong PIN.
    #[error("too many wrong PINs: wait {0} s before trying again")]
    Backoff(i64),
    /// Locked after too many wrong PINs.
    #[error("the wallet is locked after 5 wrong PINs")]
    Locked,
    /// No wallet yet.
    #[error("no wallet in {0}")]
    NotInitialised(PathBuf),
    /// Already a wallet.
    #[error("a wallet already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// No credential imported yet.
    #[error("no ID card in the wallet yet")]
    NoCredential,
    /// A credential package that does not check out.
    #[error("credential package refused: {0}")]
    BadPackage(String),
    /// Core errors (malformed data, ssi failures).
    #[error(transparent)]
    Core(#[from] tuaton_common::Error),
    /// The trust bundle given with `import --bundle` failed its checks.
    #[error("trust bundle refused: {0}")]
    Trust(tuaton_common::Error),
    /// The engagement session with a gate failed (a bad message, wrong keys, a timeout).
    #[error("session with the gate failed: {0}")]
    Session(tuaton_common::Error),
    /// The connection a gate needs (socket or Bluetooth LE) could not be opened.
    #[error("{what}: {reason}")]
    Transport {
        /// Which address or radio.
        what: String,
        /// The OS's or the stack's words.
        reason: String,
    },
    /// The wallet store holds data that does not decode (a damaged or altered disk).
    #[error("the wallet store is damaged: {0}")]
    StoreDamaged(&'static str),
    /// The store.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
    /// The gate stopped waiting before the answer could be sent.
    #[error("the gate has gone: it waits {0} s for the answer and stopped waiting")]
    GateGone(u64),
    /// The command line asks for something inconsistent or incomplete.
    #[error("{0}")]
    Usage(String),
    /// Files.
    #[error("{path}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl WalletError {
    /// What the citizen should do.
    pub fn hint(&self) -> &'static str {
        match self {
            WalletError::PinPolicy(_) => "choose digits with no run like 1234 or 1111 and not your birth date",
            WalletError::PinMismatch => "enter the same PIN twice",
            WalletError::WrongPin { .. } => "try again; after 5 wrong PINs the wallet locks and you must re-enroll",
            WalletError::Backoff(_) => "wait, then try again",
            WalletError::Locked => "run `tuaton-wallet reset`, then re-enroll at a registration office (your old card will be revoked)",
            WalletError::NotInitialised(_) => "run `tuaton-wallet init` first, or pass the right --home",
            WalletError::AlreadyInitialised(_) => "use `change-pin`, or `reset` to start over",
            WalletError::NoCredential => "enroll: `tuaton-wallet request`, then `tuaton-wallet import FILE` with what the issuer gives you",
            WalletError::BadPackage(_) => "ask the issuer for the package made for this wallet's enrollment request",
            WalletError::Core(_) => "check the input; nothing was written",
            WalletError::Trust(_) => "use the bundle the issuer publishes, with its root fingerprint",
            WalletError::Session(_) => "nothing was shared; run `tuaton-wallet engage` again and scan the new QR",
            WalletError::Transport { .. } => "use --transport socket:127.0.0.1:0 (a free port), or turn Bluetooth on",
            WalletError::StoreDamaged(_) => "run `tuaton-wallet reset` and re-enroll at a registration office",
            WalletError::Usage(_) => "check the command line with --help",
            WalletError::GateGone(_) => "nothing was shared; run `tuaton-wallet engage` again and scan the new QR",
            WalletError::Store(e) => e.hint(),
            WalletError::Io { .. } => "check the path exists and is readable/writable",
        }
    }
}

impl tuaton_cli::Hint for WalletError {
    fn hint(&self) -> &'static str {
        WalletError::hint(self)
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            WalletError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<sled::Error> for WalletError {
    fn from(e: sled::Error) -> Self {
        WalletError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the wallet store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = WalletError> = std::result::Result<T, E>;

/// Wrong PINs allowed before the wallet locks.
pub const MAX_ATTEMPTS: u32 = 5;

/// Seconds to wait after the n-th consecutive wrong PIN (n = 1..4); the 5th locks.
pub fn backoff_secs(failures: u32) -> i64 {
    match failures {
        0 => 0,
        1 => 1,
        2 => 5,
        3 => 30,
        _ => 300,
    }
}

/// A PIN that passed the policy. No `Debug`; wiped on drop.
pub struct Pin(Zeroizing<String>);

impl Pin {
    /// The policy (ThaID's): digits only, exactly `len` of them, no run of 4 ascending,
    /// descending or repeated digits, and not the holder's birth date in any common form.
    pub fn parse(s: &str, len: usize, birth: Option<PartialDate>) -> Result<Pin> {
        let s = s.trim_end_matches(['\r', '\n']);
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(WalletError::PinPolicy("use digits only".into()));
        }
        if s.len() != len {
            return Err(WalletError::PinPolicy(format!(
                "it must have {len} digits, not {}",
                s.len()
            )));
        }
        let d: Vec<i32> = s.bytes().map(|b| i32::from(b - b'0')).collect();
        for w in d.windows(4) {
            let steps: Vec<i32> = w.windows(2).map(|p| p[1] - p[0]).collect();
            let run = |k: i32| steps.iter().all(|x| *x == k || *x == k - 10 * k.signum());
            let digits: String = w.iter().map(|x| char::from(b'0' + *x as u8)).collect();
            if steps.iter().all(|x| *x == 0) {
                return Err(WalletError::PinPolicy(format!(
                    "it repeats a digit ({digits})"
                )));
            }
            if run(1) || run(-1) {
                return Err(WalletError::PinPolicy(format!(
                    "it contains the run {digits}"
                )));
            }
        }
        if let Some(b) = birth {
            if let Some(form) = birth_forms(b).into_iter().find(|f| s.contains(f.as_str())) {
                return Err(WalletError::PinPolicy(format!(
                    "it contains your birth date ({form})"
                )));
            }
        }
        Ok(Pin(Zeroizing::new(s.to_owned())))
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The ways people write a birth date as digits, in the Christian and Buddhist eras.
fn birth_forms(b: PartialDate) -> Vec<String> {
    use chrono::Datelike;
    let mut out = vec![];
    for off in [0, 543] {
        match b {
            PartialDate::Full(d) => {
                let (y, m, dd) = (d.year() + off, d.month(), d.day());
                let yy = y % 100;
                out.extend([
                    format!("{dd:02}{m:02}{y:04}"),
                    format!("{y:04}{m:02}{dd:02}"),
                    format!("{m:02}{dd:02}{y:04}"),
                    format!("{dd:02}{m:02}{yy:02}"),
                    format!("{yy:02}{m:02}{dd:02}"),
                ]);
            }
            PartialDate::YearMonth(y, m) => out.extend([
                format!("{m:02}{:04}", y + off),
                format!("{:04}{m:02}", y + off),
            ]),
            PartialDate::Year(y) => out.push(format!("{:04}", y + off)),
        }
    }
    out
}

/// Wallet settings fixed at init.
#[derive(Clone, Copy, Debug)]
pub struct WalletOptions {
    /// PIN length.
    pub pin_len: usize,
    /// KDF cost.
    pub kdf: KdfParams,
}

impl Default for WalletOptions {
    fn default() -> Self {
        WalletOptions {
            pin_len: 8,
            kdf: KdfParams::RELEASE,
        }
    }
}

impl WalletOptions {
    /// Cheap KDF for tests only (see [`KdfParams::insecure_for_tests`]).
    pub fn insecure_for_tests() -> Self {
        WalletOptions {
            pin_len: 8,
            kdf: KdfParams::insecure_for_tests(),
        }
    }
}

/// The wallet store.
pub struct Wallet {
    home: PathBuf,
    db: sled::Db,
}

/// A wallet opened with the right PIN.
pub struct Unlocked<'a> {
    w: &'a Wallet,
    store_key: Zeroizing<[u8; 32]>,
}

const META: &str = "meta";
const VAULT: &str = "vault";
const STORE_KEY_AAD: &[u8] = b"tuaton wallet store key";

fn rnd<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

/// A counter or time stored as 8 big-endian bytes; absent is 0. A value of another size is
/// damage, never a silent 0 (a damaged failure counter must not reset the PIN backoff).
fn get_u64(t: &sled::Tree, k: &str) -> Result<u64> {
    match t.get(k)? {
        None => Ok(0),
        Some(v) => v
            .as_ref()
            .try_into()
            .map(u64::from_be_bytes)
            .map_err(|_| WalletError::StoreDamaged("a counter does not decode")),
    }
}

impl Wallet {
    fn db_path(home: &Path) -> PathBuf {
        home.join("wallet.sled")
    }

    /// Whether `home` has a wallet.
    pub fn exists(home: &Path) -> bool {
        Self::db_path(home).exists()
    }

    /// Creates a wallet: a random store key sealed under `pin`, and a fresh holder key.
    /// Everything lands in one batch, so a crash leaves either no wallet or a whole one.
    pub fn init(home: &Path, pin: &Pin, opts: WalletOptions) -> Result<Wallet> {
        if Self::exists(home) {
            return Err(WalletError::AlreadyInitialised(home.into()));
        }
        let store_key = Zeroizing::new(rnd::<32>());
        let sealed = Sealed::seal(
            store_key.as_ref(),
            pin.bytes(),
            opts.kdf,
            rnd(),
            rnd(),
            STORE_KEY_AAD,
        )?;
        let holder = SigningKey::generate(&mut OsRng);
        // Built under a temporary name and renamed into place when whole.
        let db = tuaton_store::create(&Self::db_path(home), |db| -> Result<()> {
            let w = Wallet {
                home: home.into(),
                db: db.clone(),
            };
            let u = Unlocked {
                w: &w,
                store_key: store_key.clone(),
            };
            let vault_entry = u.encrypt("holder-key", &holder.to_bytes());
            w.db.open_tree(VAULT)?.insert("holder-key", vault_entry)?;
            let mut b = sled::Batch::default();
            b.insert("pin-len", &(opts.pin_len as u64).to_be_bytes());
            b.insert("failures", &0u64.to_be_bytes());
            b.insert("sealed-key", sealed.to_bytes());
            w.db.open_tree(META)?.apply_batch(b)?;
            Ok(())
        })?;
        Ok(Wallet {
            home: home.into(),
            db,
        })
    }

    /// Opens an existing wallet (still locked).
    pub fn open(home: &Path) -> Result<Wallet> {
        if !Self::exists(home) {
            return Err(WalletError::NotInitialised(home.into()));
        }
        let db = tuaton_store::open(&Self::db_path(home), tuaton_store::LOCK_WAIT)?;
        if db.open_tree(META)?.get("sealed-key")?.is_none() {
            return Err(WalletError::NotInitialised(home.into()));
        }
        Ok(Wallet {
            home: home.into(),
            db,
        })
    }

    /// The PIN length this wallet uses.
    pub fn pin_len(&self) -> Result<usize> {
        Ok(get_u64(&self.db.open_tree(META)?, "pin-len")? as usize)
    }

    /// Unlocks with `pin` as of `now`. The failure counter is written and flushed
    /// *before* the PIN is tried, so killing the process mid-attempt still counts it.
    /// `now` must be the real clock (the CLI never passes `--at` here): the backoff is
    /// about wall time, and a chosen time would skip it.
    pub fn unlock(&self, pin: &str, now: i64) -> Result<Unlocked<'_>> {
        let meta = self.db.open_tree(META)?;
        let failures = get_u64(&meta, "failures")? as u32;
        if failures >= MAX_ATTEMPTS {
            return Err(WalletError::Locked);
        }
        let next = get_u64(&meta, "next-try")? as i64;
        if now < next {
            // A clock set back (or a far-past time) must neither give an absurd wait nor
            // lock the citizen out for ever: the wait is never longer than the backoff due.
            let due = backoff_secs(failures).max(1);
            if next - now > due {
                meta.insert("next-try", &((now + due) as u64).to_be_bytes())?;
                self.db.flush()?;
                return Err(WalletError::Backoff(due));
            }
            return Err(WalletError::Backoff(next - now));
        }
        meta.insert("failures", &u64::from(failures + 1).to_be_bytes())?;
        self.db.flush()?;
        let sealed = Sealed::from_bytes(
            &meta
                .get("sealed-key")?
                .ok_or_else(|| WalletError::NotInitialised(self.home.clone()))?,
        )
        .map_err(|_| WalletError::StoreDamaged("the sealed store key does not decode"))?;
        match sealed.open(pin.trim_end_matches(['\r', '\n']).as_bytes(), STORE_KEY_AAD) {
            Ok(k) => {
                let store_key = k.key32().ok_or(WalletError::StoreDamaged(
                    "the sealed store key has the wrong size",
                ))?;
                meta.insert("failures", &0u64.to_be_bytes())?;
                meta.remove("next-try")?;
                self.db.flush()?;
                Ok(Unlocked { w: self, store_key })
            }
            Err(tuaton_common::Error::WrongSecret) => {
                let f = failures + 1;
                meta.insert("next-try", &((now + backoff_secs(f)) as u64).to_be_bytes())?;
                self.db.flush()?;
                if f >= MAX_ATTEMPTS {
                    Err(WalletError::Locked)
                } else {
                    Err(WalletError::WrongPin {
                        remaining: MAX_ATTEMPTS - f,
                    })
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Consecutive wrong PINs so far.
    pub fn failures(&self) -> Result<u32> {
        Ok(get_u64(&self.db.open_tree(META)?, "failures")? as u32)
    }

    /// Wipes the wallet. The caller tells the citizen how to re-enroll.
    pub fn reset(home: &Path) -> Result<()> {
        let p = Self::db_path(home);
        if p.exists() {
            std::fs::remove_dir_all(&p).map_err(|source| WalletError::Io { path: p, source })?;
        }
        Ok(())
    }
}

/// An imported credential: the gate form and the W3C form.
pub struct Card {
    /// Gate form.
    pub gate: GateCredential,
    /// W3C form (JSON).
    pub w3c: String,
    /// Credential id, hex.
    pub credential_id: String,
}

impl Unlocked<'_> {
    fn encrypt(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let nonce = rnd::<12>();
        let mut v = nonce.to_vec();
        v.extend(seal::encrypt(
            &self.store_key,
            &nonce,
            plain,
            name.as_bytes(),
        ));
        v
    }

    fn decrypt(&self, name: &str) -> Result<Option<Secret>> {
        let Some(v) = self.w.db.open_tree(VAULT)?.get(name)? else {
            return Ok(None);
        };
        if v.len() < 12 {
            return Err(WalletError::StoreDamaged(
                "a sealed vault entry is cut short",
            ));
        }
        let nonce: [u8; 12] = v[..12].try_into().expect("len 12");
        Ok(Some(seal::decrypt(
            &self.store_key,
            &nonce,
            &v[12..],
            name.as_bytes(),
        )?))
    }

    /// The holder's signing key.
    pub fn holder_key(&self) -> Result<SigningKey> {
        let s = self
            .decrypt("holder-key")?
            .ok_or_else(|| WalletError::NotInitialised(self.w.home.clone()))?;
        Ok(SigningKey::from_bytes(&*s.key32().ok_or(
            WalletError::StoreDamaged("the holder key has the wrong size"),
        )?))
    }

    /// The enrollment request text.
    pub fn request(&self, now: i64) -> Result<String> {
        Ok(enroll::request(&self.holder_key()?, now))
    }

    /// Checks a credential package and stores it (replacing any previous card in one
    /// write). With `bundle`, the issuer signature is checked against that trust bundle.
    pub fn import(&self, package: &[u8], bundle: Option<&TrustState>, now: i64) -> Result<Card> {
        let bad = |m: String| WalletError::BadPackage(m);
        let pkg = CredentialPackage::parse(package).map_err(|e| bad(e.to_string()))?;
        let gate = pkg.gate_form().map_err(|e| bad(e.to_string()))?;
        let full = gate.full_member()?;
        let holder = self.holder_key()?;
        if full.payload.holder_key != holder.verifying_key().to_bytes() {
            return Err(bad(
                "it is bound to another wallet's key (was it issued for this wallet's request?)"
                    .into(),
            ));
        }
        let w3c_json = pkg.w3c_json();
        let checked = w3c::verify(&w3c_json, now).map_err(|e| bad(format!("W3C form: {e}")))?;
        if checked.holder != w3c::did_key(&holder.verifying_key()) {
            return Err(bad("the W3C form names another holder".into()));
        }
        // Every claim of the two forms, not only the ID and the portrait: a package whose
        // forms disagree would show one person in the wallet and another at the gate.
        tuaton_common::package::forms_agree(&gate.claims()?, &checked.claims, &pkg.w3c)
            .map_err(|e| bad(e.to_string()))?;
        if let Some(state) = bundle {
            let store = state.trust_list.list.to_store();
            let tbs = full.to_be_signed();
            let sig = ed25519_dalek::Signature::from_slice(full.signature())
                .map_err(|_| bad("bad issuer signature".into()))?;
            let ok = store.keys_for(full.payload.issuer, &full.kid).any(|k| {
                k.public.verify_strict(&tbs, &sig).is_ok()
                    && w3c::did_key(&k.public) == checked.issuer
            });
            if !ok {
                return Err(bad(
                    "the issuer signature does not verify with any key in the trust bundle".into(),
                ));
            }
            let flight = tuaton_common::gate::IssuerSigned::from_bytes(&gate.flight)?;
            let fsig = ed25519_dalek::Signature::from_slice(flight.signature())
                .map_err(|_| bad("bad issuer signature".into()))?;
            if !store.keys_for(flight.payload.issuer, &flight.kid).any(|k| {
                k.public
                    .verify_strict(&flight.to_be_signed(), &fsig)
                    .is_ok()
            }) {
                return Err(bad("the flight member's signature does not verify".into()));
            }
        }
        let cid = pkg.credential_id.clone();
        // Kept as the package itself: the one type the issuer wrote.
        let entry = self.encrypt("credential", pkg.to_json_pretty().as_bytes());
        // One atomic insert: a crash leaves the old card or the new one, never half.
        self.w.db.open_tree(VAULT)?.insert("credential", entry)?;
        self.w.db.flush()?;
        Ok(Card {
            gate,
            w3c: w3c_json,
            credential_id: cid,
        })
    }

    /// The stored card.
    pub fn card(&self) -> Result<Card> {
        let s = self
            .decrypt("credential")?
            .ok_or(WalletError::NoCredential)?;
        // Cards imported before the package was kept whole lack `format` and `issuer`.
        let damaged = |_| WalletError::StoreDamaged("the stored card does not decode");
        let v: serde_json::Value = serde_json::from_slice(s.expose()).map_err(damaged)?;
        let gate_hex = v["gate"].as_str().ok_or(WalletError::StoreDamaged(
            "the stored card has no gate form",
        ))?;
        let gate = hex::decode(gate_hex)
            .ok()
            .and_then(|b| GateCredential::from_bytes(&b).ok())
            .ok_or(WalletError::StoreDamaged(
                "the stored gate form does not decode",
            ))?;
        let credential_id = hex::encode(
            gate.full_member()
                .map_err(|_| WalletError::StoreDamaged("the stored gate form does not decode"))?
                .payload
                .credential_id,
        );
        Ok(Card {
            gate,
            w3c: serde_json::to_string_pretty(&v["w3c"]).expect("a JSON value serialises"),
            credential_id,
        })
    }

    /// The QR payload of a presentation of `profile` made at `now`.
    pub fn present(&self, profile: Profile, now: i64) -> Result<String> {
        let card = self.card()?;
        // A fresh salt each time: two QR codes made in the same second still differ, so
        // the second is not taken for a replay of the first.
        let b = presentation::present_salted(
            &card.gate,
            &self.holder_key()?,
            profile.groups(),
            now,
            rnd::<16>(),
        )?;
        Ok(presentation::to_qr_text(&b))
    }

    /// Presentation CBOR of `groups` for a session, its holder proof bound to `nonce`.
    pub fn present_session(
        &self,
        groups: &[tuaton_common::gate::Group],
        now: i64,
        nonce: &[u8],
    ) -> Result<Vec<u8>> {
        let card = self.card()?;
        Ok(presentation::present_groups(
            &card.gate,
            &self.holder_key()?,
            groups,
            now,
            Some(nonce),
        )?)
    }

    /// Rewraps the store key under `new`; the credentials are untouched. One atomic write.
    pub fn change_pin(&self, new: &Pin) -> Result<()> {
        let meta = self.w.db.open_tree(META)?;
        let old = Sealed::from_bytes(
            &meta
                .get("sealed-key")?
                .ok_or_else(|| WalletError::NotInitialised(self.w.home.clone()))?,
        )?;
        let sealed = Sealed::seal(
            self.store_key.as_ref(),
            new.bytes(),
            old.params,
            rnd(),
            rnd(),
            STORE_KEY_AAD,
        )?;
        meta.insert("sealed-key", sealed.to_bytes())?;
        self.w.db.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(pin: &str, birth: Option<&str>) -> String {
        let b = birth.map(|b| PartialDate::parse("birth_date", b).unwrap());
        match Pin::parse(pin, 8, b) {
            Err(WalletError::PinPolicy(why)) => why,
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("{pin} was accepted"),
        }
    }

    #[test]
    fn pin_policy_says_why() {
        assert!(refused("1234abcd", None).contains("digits only"));
        assert!(refused("271839", None).contains("8 digits"));
        assert!(refused("91234067", None).contains("run 1234"));
        assert!(refused("27654381", None).contains("run 7654"));
        assert!(
            refused("27890381", None).contains("run 7890"),
            "wraps past 9"
        );
        assert!(refused("20111193", None).contains("repeats a digit (1111)"));
        assert!(refused("12041990", Some("1990-04-12")).contains("birth date"));
        assert!(
            refused("25330412", Some("1990-04-12")).contains("birth date (25330412)"),
            "Buddhist era"
        );
        assert!(refused("83120490", Some("1990-04-12")).contains("birth date (120490)"));
        assert!(refused("81985113", Some("1985-11")).contains("birth date"));
        assert!(refused("25281873", Some("1985")).contains("2528"));
        assert!(Pin::parse(
            "27183945",
            8,
            Some(PartialDate::parse("b", "1990-04-12").unwrap())
        )
        .is_ok());
        assert!(Pin::parse("271839", 6, None).is_ok());
    }

    #[test]
    fn backoff_grows_then_locks() {
        let dir = tempfile::tempdir().unwrap();
        let pin = Pin::parse("27183945", 8, None).unwrap();
        let w = Wallet::init(dir.path(), &pin, WalletOptions::insecure_for_tests()).unwrap();
        let mut t = 1_000;
        let mut waits = vec![];
        for i in 1..=4 {
            assert!(
                matches!(w.unlock("00000000", t), Err(WalletError::WrongPin { remaining }) if remaining == 5 - i)
            );
            match w.unlock("27183945", t) {
                Err(WalletError::Backoff(s)) => waits.push(s),
                _ => panic!("no backoff after {i} failures"),
            }
            t += 1_000;
        }
        assert_eq!(waits, [1, 5, 30, 300]);
        assert!(matches!(w.unlock("00000000", t), Err(WalletError::Locked)));
        drop(w);
        // The lock survives reopening, and the right PIN no longer helps.
        let w = Wallet::open(dir.path()).unwrap();
        assert!(matches!(
            w.unlock("27183945", t + 100_000),
            Err(WalletError::Locked)
        ));
    }

    #[test]
    fn a_right_pin_resets_the_counter_and_change_pin_keeps_the_keys() {
        let dir = tempfile::tempdir().unwrap();
        let pin = Pin::parse("27183945", 8, None).unwrap();
        let w = Wallet::init(dir.path(), &pin, WalletOptions::insecure_for_tests()).unwrap();
        assert!(w.unlock("00000000", 0).is_err());
        let u = w.unlock("27183945", 10).unwrap();
        assert_eq!(w.failures().unwrap(), 0);
        let key = u.holder_key().unwrap().to_bytes();
        u.change_pin(&Pin::parse("50718263", 8, None).unwrap())
            .unwrap();
        assert!(matches!(
            w.unlock("27183945", 20),
            Err(WalletError::WrongPin { .. })
        ));
        assert_eq!(
            w.unlock("50718263", 30)
                .unwrap()
                .holder_key()
                .unwrap()
                .to_bytes(),
            key
        );
    }
}
