//! The issuer: a sled store of sealed keys and issued credentials, and the operations of
//! `tuaton-issuer` (init, issue, rotate, revoke-key, revoke, rotate-root, keys, publish).
//! The binary is a thin shell over [`Issuer`].
#![forbid(unsafe_code)]

mod backup;
pub use backup::MAX_BACKUP_BYTES;

use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tuaton_common::gate::{self, IssueParams, StatusRef};
use tuaton_common::model::CitizenRecord;
use tuaton_common::seal::{self, KdfParams, Sealed};
use tuaton_common::status::{self, Bitset};
use tuaton_common::trust::{
    IssuerKey, KeyState, ListedIssuer, Root, SignedRoot, SignedTrustList, StatusPin, TrustList,
};
use tuaton_common::{enroll, w3c};
use zeroize::Zeroizing;

/// Everything that can go wrong in the issuer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IssuerError {
    /// Bad input or a check in the core failed (the message names the field).
    #[error(transparent)]
    Core(#[from] tuaton_common::Error),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] tuaton_store::StoreError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `init` on a home that already has an issuer.
    #[error("an issuer already exists in {0}")]
    AlreadyInitialised(PathBuf),
    /// Any command before `init`.
    #[error("no issuer in {0}")]
    NotInitialised(PathBuf),
    /// The passphrase did not open the keys.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// No key id matches.
    #[error("no signing key with kid {0}")]
    UnknownKid(String),
    /// No credential id matches.
    #[error("no credential with id {0}")]
    UnknownCredential(String),
    /// All signing keys are retired or revoked.
    #[error("no active signing key")]
    NoActiveKey,
    /// The command line asks for something impossible (an empty name, a threshold above
    /// the number of keys...).
    #[error("{0}")]
    Usage(String),
    /// The issuer store holds data that does not decode (a damaged or altered disk).
    #[error("the issuer store is damaged: {0}")]
    StoreDamaged(String),
    /// A file given as a backup is not one (or not whole).
    #[error("{path} is not a tuaton issuer backup ({why})")]
    NotBackup {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        why: String,
    },
}

impl IssuerError {
    /// What the user should do about it (the CLI's second line).
    pub fn hint(&self) -> &'static str {
        match self {
            IssuerError::Core(_) => {
                "correct the input and run the command again; nothing was written"
            }
            IssuerError::Usage(_) => "check the command line with --help",
            IssuerError::StoreDamaged(_) => {
                "restore the issuer from its backup (`tuaton-issuer restore --from FILE`)"
            }
            IssuerError::NotBackup { .. } => "give the file `tuaton-issuer backup --out` wrote",
            IssuerError::Store(e) => e.hint(),
            IssuerError::Io { .. } => "check the path exists and is readable/writable",
            IssuerError::AlreadyInitialised(_) => {
                "use another --home, or keep using the existing issuer"
            }
            IssuerError::NotInitialised(_) => {
                "run `tuaton-issuer init --name NAME` first, or pass the right --home"
            }
            IssuerError::WrongPassphrase => {
                "enter the passphrase given at init (or set TUATON_ISSUER_PASSPHRASE)"
            }
            IssuerError::UnknownKid(_) => "list keys with `tuaton-issuer keys`",
            IssuerError::UnknownCredential(_) => {
                "use the credential id printed by `issue` (16 hex digits)"
            }
            IssuerError::NoActiveKey => "run `tuaton-issuer rotate` to create a new signing key",
        }
    }
}

impl tuaton_cli::Hint for IssuerError {
    fn hint(&self) -> &'static str {
        IssuerError::hint(self)
    }
    fn disk_full(&self) -> bool {
        matches!(
            self,
            IssuerError::Store(tuaton_store::StoreError::DiskFull(_))
        )
    }
}

impl From<sled::Error> for IssuerError {
    fn from(e: sled::Error) -> Self {
        IssuerError::Store(tuaton_store::StoreError::from_sled(
            std::path::Path::new("the issuer store"),
            e,
        ))
    }
}

/// Shorthand.
pub type Result<T, E = IssuerError> = std::result::Result<T, E>;

fn core(e: tuaton_common::Error) -> IssuerError {
    match e {
        tuaton_common::Error::WrongSecret => IssuerError::WrongPassphrase,
        e => IssuerError::Core(e),
    }
}

/// A signing key as stored: public facts plus the secret sealed under the store key.
struct KeyRecord {
    seq: u32,
    key: IssuerKey,
    secret_nonce: [u8; 12],
    secret_ct: Vec<u8>,
}

/// A credential as the issuer remembers it (no claims: the register has those). Stored as
/// this JSON; every field is required when read back.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedRecord {
    /// Credential id, hex.
    pub credential_id: String,
    /// Status list.
    pub list: u32,
    /// Index in it.
    pub index: u64,
    /// Issuance time.
    pub issued_at: i64,
    /// Key that signed it, hex.
    pub kid: String,
}

/// Settings fixed at init.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Display name in the trust list.
    pub name: String,
    /// Issuer number.
    pub issuer_id: u32,
    /// Number of root keys.
    pub root_keys: u8,
    /// Signatures needed from them.
    pub threshold: u8,
    /// Entries per status list.
    pub status_list_size: u64,
    /// KDF cost for the passphrase.
    pub kdf: KdfParams,
}

impl InitOptions {
    /// Defaults for `name`.
    pub fn new(name: &str) -> Self {
        InitOptions {
            name: name.to_owned(),
            issuer_id: 1,
            root_keys: 1,
            threshold: 1,
            // 2^20 entries: 128 KiB raw, large enough that one revoked bit says little
            // about whom it belongs to (herd privacy), small enough to sync daily.
            status_list_size: 1 << 20,
            kdf: KdfParams::RELEASE,
        }
    }
}

/// An opened issuer store.
pub struct Issuer {
    home: PathBuf,
    db: sled::Db,
    store_key: Zeroizing<[u8; 32]>,
}

const META: &str = "meta";
const KEYS: &str = "keys";
const ROOTS: &str = "roots";
const ROOT_SECRETS: &str = "root-secrets";
const CREDS: &str = "credentials";
const USED: &str = "used-status-index";
const REVOKED: &str = "revoked";

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

pub use tuaton_common::trust::kid_of;

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

impl Issuer {
    fn db_path(home: &Path) -> PathBuf {
        home.join("issuer.sled")
    }

    /// Creates a new issuer in `home`: root key(s), root version 1, a first signing key.
    pub fn init(home: &Path, opts: &InitOptions, passphrase: &[u8], now: i64) -> Result<Issuer> {
        if opts.name.trim().is_empty() {
            return Err(IssuerError::Usage("--name must not be empty".into()));
        }
        // Gates show this name beside every verdict: nothing in it may disguise text.
        if let Some(c) = tuaton_common::text::first_forbidden(&opts.name) {
            return Err(IssuerError::Usage(format!(
                "--name contains {}, an invisible or control character that could disguise the text",
                tuaton_common::text::describe(c)
            )));
        }
        if opts.root_keys == 0 || opts.threshold == 0 || opts.threshold > opts.root_keys {
            return Err(IssuerError::Usage(format!(
                "--threshold must be between 1 and --root-keys ({}), got {}",
                opts.root_keys, opts.threshold
            )));
        }
        if passphrase.len() < 8 {
            return Err(IssuerError::Usage(
                "the passphrase must have at least 8 characters".into(),
            ));
        }
        if Self::db_path(home).exists() {
            return Err(IssuerError::AlreadyInitialised(home.into()));
        }
        let store_key = Zeroizing::new(random::<32>());
        let sealed = Sealed::seal(
            store_key.as_ref(),
            passphrase,
            opts.kdf,
            random(),
            random(),
            b"tuaton issuer store key",
        )
        .map_err(core)?;
        // Built under a temporary name and renamed into place when whole: a crash during
        // init leaves no issuer store at all, never one that says "already exists" and
        // holds no keys.
        let db = tuaton_store::create(&Self::db_path(home), |db| -> Result<()> {
            let iss = Issuer {
                home: home.into(),
                db: db.clone(),
                store_key: store_key.clone(),
            };
            let meta = iss.db.open_tree(META)?;
            let mut batch = sled::Batch::default();
            batch.insert("name", opts.name.as_bytes());
            batch.insert("issuer-id", &opts.issuer_id.to_be_bytes());
            batch.insert("status-size", &be(opts.status_list_size));
            batch.insert("trust-list-version", &be(0));
            batch.insert("sealed-store-key", sealed.to_bytes());
            meta.apply_batch(batch)?;
            let root_keys: Vec<SigningKey> = (0..opts.root_keys)
                .map(|_| SigningKey::generate(&mut OsRng))
                .collect();
            let root = Root {
                version: 1,
                expires: now + 5 * 365 * 86_400,
                threshold: opts.threshold,
                keys: root_keys
                    .iter()
                    .map(|k| k.verifying_key().to_bytes())
                    .collect(),
            };
            iss.store_root(&root, &root_keys, &root_keys)?;
            iss.add_signing_key(now)?;
            meta.insert("initialised", &[1])?;
            Ok(())
        })?;
        Ok(Issuer {
            home: home.into(),
            db,
            store_key,
        })
    }

    /// Opens an existing issuer with its passphrase.
    pub fn open(home: &Path, passphrase: &[u8]) -> Result<Issuer> {
        if !Self::db_path(home).exists() {
            return Err(IssuerError::NotInitialised(home.into()));
        }
        let db = tuaton_store::open(&Self::db_path(home), tuaton_store::LOCK_WAIT)?;
        let meta = db.open_tree(META)?;
        if meta.get("initialised")?.is_none() {
            return Err(IssuerError::NotInitialised(home.into()));
        }
        let sealed = Sealed::from_bytes(
            &meta
                .get("sealed-store-key")?
                .ok_or_else(|| IssuerError::NotInitialised(home.into()))?,
        )
        .map_err(core)?;
        let key = sealed
            .open(passphrase, b"tuaton issuer store key")
            .map_err(core)?;
        let store_key = key.key32().ok_or(IssuerError::WrongPassphrase)?;
        Ok(Issuer {
            home: home.into(),
            db,
            store_key,
        })
    }

    fn meta_u64(&self, k: &str) -> Result<u64> {
        let v = self
            .db
            .open_tree(META)?
            .get(k)?
            .ok_or_else(|| IssuerError::NotInitialised(self.home.clone()))?;
        Ok(u64::from_be_bytes(v.as_ref().try_into().map_err(|_| {
            IssuerError::StoreDamaged(format!("{k} does not decode"))
        })?))
    }

    /// Issuer number.
    pub fn issuer_id(&self) -> Result<u32> {
        let v = self
            .db
            .open_tree(META)?
            .get("issuer-id")?
            .ok_or_else(|| IssuerError::NotInitialised(self.home.clone()))?;
        Ok(u32::from_be_bytes(v.as_ref().try_into().map_err(|_| {
            IssuerError::StoreDamaged("the issuer id does not decode".into())
        })?))
    }

    /// Display name.
    pub fn name(&self) -> Result<String> {
        let v = self.db.open_tree(META)?.get("name")?.unwrap_or_default();
        Ok(String::from_utf8_lossy(&v).into_owned())
    }

    fn seal_secret(&self, secret: &[u8], aad: &[u8]) -> ([u8; 12], Vec<u8>) {
        let nonce = random::<12>();
        (nonce, seal::encrypt(&self.store_key, &nonce, secret, aad))
    }

    fn open_secret(&self, nonce: &[u8; 12], ct: &[u8], aad: &[u8]) -> Result<SigningKey> {
        let s = seal::decrypt(&self.store_key, nonce, ct, aad).map_err(core)?;
        let k = s
            .key32()
            .ok_or_else(|| IssuerError::StoreDamaged("a sealed secret does not decode".into()))?;
        Ok(SigningKey::from_bytes(&k))
    }

    fn store_root(&self, root: &Root, signers: &[SigningKey], own: &[SigningKey]) -> Result<()> {
        let refs: Vec<&SigningKey> = signers.iter().collect();
        let signed = SignedRoot::sign(root.clone(), &refs);
        let mut secrets = Vec::new();
        for k in own {
            secrets.extend_from_slice(&k.to_bytes());
        }
        let aad = format!("root {}", root.version);
        let (nonce, ct) = self.seal_secret(&secrets, aad.as_bytes());
        zeroize::Zeroize::zeroize(&mut secrets);
        let mut rec = nonce.to_vec();
        rec.extend_from_slice(&ct);
        // Root and its secrets land together.
        (
            &self.db.open_tree(ROOTS)?,
            &self.db.open_tree(ROOT_SECRETS)?,
        )
            .transaction(|(roots, secs)| {
                roots.insert(&be(root.version), signed.signed.to_bytes())?;
                secs.insert(&be(root.version), rec.clone())?;
                Ok(())
            })
            .map_err(tx_err)?;
        Ok(())
    }

    fn current_root(&self) -> Result<(SignedRoot, Vec<SigningKey>)> {
        let (k, v) = self
            .db
            .open_tree(ROOTS)?
            .last()?
            .ok_or_else(|| IssuerError::NotInitialised(self.home.clone()))?;
        let root = SignedRoot::from_bytes_self_signed(&v).map_err(core)?;
        let rec = self
            .db
            .open_tree(ROOT_SECRETS)?
            .get(&k)?
            .ok_or_else(|| IssuerError::StoreDamaged("the root secrets are missing".into()))?;
        let nonce: [u8; 12] = rec[..12]
            .try_into()
            .map_err(|_| IssuerError::StoreDamaged("the root secrets do not decode".into()))?;
        let aad = format!("root {}", root.root.version);
        let s = seal::decrypt(&self.store_key, &nonce, &rec[12..], aad.as_bytes()).map_err(core)?;
        let keys = s
            .expose()
            .chunks(32)
            .map(|c| SigningKey::from_bytes(c.try_into().expect("32-byte chunks")))
            .collect();
        Ok((root, keys))
    }

    fn key_records(&self) -> Result<Vec<KeyRecord>> {
        let tree = self.db.open_tree(KEYS)?;
        let id = self.issuer_id()?;
        let mut out = Vec::new();
        for item in tree.iter() {
            let (k, v) = item?;
            out.push(decode_key(id, &k, &v).ok_or_else(|| {
                IssuerError::StoreDamaged("a signing key record does not decode".into())
            })?);
        }
        Ok(out)
    }

    fn put_key(&self, r: &KeyRecord) -> Result<()> {
        self.db
            .open_tree(KEYS)?
            .insert(r.seq.to_be_bytes(), encode_key(r))?;
        Ok(())
    }

    fn add_signing_key(&self, now: i64) -> Result<KeyRecord> {
        let sk = SigningKey::generate(&mut OsRng);
        let seq = self.key_records()?.len() as u32;
        let aad = format!("signing key {seq}");
        let (nonce, ct) = self.seal_secret(&sk.to_bytes(), aad.as_bytes());
        let r = KeyRecord {
            seq,
            key: IssuerKey {
                issuer: self.issuer_id()?,
                kid: kid_of(&sk.verifying_key()),
                public: sk.verifying_key(),
                not_before: now,
                not_after: None,
                state: KeyState::Active,
            },
            secret_nonce: nonce,
            secret_ct: ct,
        };
        self.put_key(&r)?;
        Ok(r)
    }

    fn active_key(&self) -> Result<(KeyRecord, SigningKey)> {
        let r = self
            .key_records()?
            .into_iter()
            .rfind(|r| r.key.state == KeyState::Active)
            .ok_or(IssuerError::NoActiveKey)?;
        let aad = format!("signing key {}", r.seq);
        let sk = self.open_secret(&r.secret_nonce, &r.secret_ct, aad.as_bytes())?;
        Ok((r, sk))
    }

    /// Issues both forms for a citizen record (JSON bytes, portrait bytes) and an
    /// enrollment request. Returns the credential package (JSON) and its record.
    pub fn issue(
        &self,
        record_json: &[u8],
        portrait: &[u8],
        request: &str,
        now: i64,
    ) -> Result<(String, IssuedRecord)> {
        let record = CitizenRecord::from_json(record_json).map_err(core)?;
        record.check_at(now).map_err(core)?;
        let mut claims = record.claims;
        if portrait.len() < 4 || portrait[..3] != [0xFF, 0xD8, 0xFF] {
            return Err(core(tuaton_common::Error::InvalidField {
                field: "portrait",
                reason: "is not a JPEG file".into(),
            }));
        }
        if portrait.len() > 64 * 1024 {
            return Err(core(tuaton_common::Error::InvalidField {
                field: "portrait",
                reason: "is larger than 64 KiB".into(),
            }));
        }
        claims.portrait = portrait.to_vec();
        let req = enroll::parse(request).map_err(core)?;
        let (rec, sk) = self.active_key()?;
        let issuer = self.issuer_id()?;
        let (cid, status) = self.allocate()?;
        let gate = gate::issue(
            &claims,
            &IssueParams {
                issuer,
                signing_key: &sk,
                kid: &rec.key.kid,
                holder_key: req.holder_key.to_bytes(),
                credential_id: cid,
                status,
                issued_at: now,
            },
            &mut OsRng,
        )
        .map_err(core)?;
        let unsigned = w3c::unsigned(
            &claims,
            issuer,
            &sk.verifying_key(),
            &req.holder_key,
            &cid,
            status,
            now,
        );
        let w3c_json = w3c::sign(unsigned, &sk, now).map_err(core)?;
        let issued = IssuedRecord {
            credential_id: hex::encode(cid),
            list: status.list,
            index: status.index,
            issued_at: now,
            kid: hex::encode(&rec.key.kid),
        };
        let package = tuaton_common::package::CredentialPackage::new(&gate, issuer, &w3c_json)
            .map_err(core)?;
        // The credential and its status index are recorded together, then flushed.
        let creds = self.db.open_tree(CREDS)?;
        let used = self.db.open_tree(USED)?;
        let meta = self.db.open_tree(META)?;
        let idx_key = [status.list.to_be_bytes().as_slice(), &be(status.index)].concat();
        let fill_key = format!("status-fill/{}", status.list);
        (&creds, &used, &meta)
            .transaction(|(c, u, m)| {
                c.insert(&cid, serde_json::to_vec(&issued).expect("serialisable"))?;
                u.insert(idx_key.as_slice(), &cid)?;
                let n = m
                    .get(fill_key.as_bytes())?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                    .unwrap_or(0);
                m.insert(fill_key.as_bytes(), &be(n + 1))?;
                Ok(())
            })
            .map_err(tx_err)?;
        self.db.flush()?;
        Ok((package.to_json_pretty(), issued))
    }

    /// A fresh credential id and a random unused status index (random so that neighbours
    /// in the list say nothing about issuance order).
    fn allocate(&self) -> Result<([u8; 8], StatusRef)> {
        let creds = self.db.open_tree(CREDS)?;
        let used = self.db.open_tree(USED)?;
        let size = self.meta_u64("status-size")?;
        let cid = loop {
            let c = random::<8>();
            if !creds.contains_key(c)? {
                break c;
            }
        };
        // Fill lists one after another; a list is "full" at 90% so random probing stays quick.
        // Each list's fill count is kept beside the indices (scanning them would make
        // issuance slower with every credential).
        let mut list = 0u32;
        loop {
            let prefix = list.to_be_bytes();
            let n = self.list_fill(list)?;
            if n < size * 9 / 10 {
                loop {
                    let index = OsRng.next_u64() % size;
                    let k = [prefix.as_slice(), &be(index)].concat();
                    if !used.contains_key(&k)? {
                        return Ok((cid, StatusRef { list, index }));
                    }
                }
            }
            list += 1;
        }
    }

    fn list_fill(&self, list: u32) -> Result<u64> {
        self.meta_u64_or_zero(&format!("status-fill/{list}"))
    }

    fn meta_u64_or_zero(&self, k: &str) -> Result<u64> {
        Ok(self
            .db
            .open_tree(META)?
            .get(k)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }

    /// Makes a new active signing key; the previous active key retires now.
    pub fn rotate(&self, now: i64) -> Result<IssuerKey> {
        for mut r in self.key_records()? {
            if r.key.state == KeyState::Active {
                r.key.state = KeyState::Retired;
                r.key.not_after = Some(now);
                self.put_key(&r)?;
            }
        }
        let r = self.add_signing_key(now)?;
        self.db.flush()?;
        Ok(r.key)
    }

    /// Marks every key with this kid (hex) revoked at `now`.
    pub fn revoke_key(&self, kid_hex: &str, now: i64) -> Result<Vec<IssuerKey>> {
        let kid = hex::decode(kid_hex.trim())
            .map_err(|_| IssuerError::UnknownKid(kid_hex.escape_debug().to_string()))?;
        let mut out = vec![];
        for mut r in self.key_records()? {
            if r.key.kid == kid {
                if !matches!(r.key.state, KeyState::Revoked { .. }) {
                    r.key.state = KeyState::Revoked { at: now };
                    r.key.not_after = Some(r.key.not_after.unwrap_or(now).min(now));
                    self.put_key(&r)?;
                }
                out.push(r.key);
            }
        }
        if out.is_empty() {
            return Err(IssuerError::UnknownKid(kid_hex.into()));
        }
        self.db.flush()?;
        Ok(out)
    }

    /// Sets a credential's revocation bit.
    pub fn revoke(&self, credential_id: &str) -> Result<IssuedRecord> {
        let cid = hex::decode(credential_id.trim())
            .ok()
            .filter(|c| c.len() == 8)
            .ok_or_else(|| IssuerError::UnknownCredential(credential_id.into()))?;
        let v = self
            .db
            .open_tree(CREDS)?
            .get(&cid)?
            .ok_or_else(|| IssuerError::UnknownCredential(credential_id.into()))?;
        // A record that does not parse is damage: never a default that would flip
        // another citizen's status bit.
        let rec: IssuedRecord = serde_json::from_slice(&v).map_err(|_| {
            IssuerError::StoreDamaged(format!(
                "the record of credential {credential_id} does not decode"
            ))
        })?;
        if rec.credential_id != hex::encode(&cid) {
            return Err(IssuerError::StoreDamaged(format!(
                "the record of credential {credential_id} names another credential"
            )));
        }
        let k = [rec.list.to_be_bytes().as_slice(), &be(rec.index)].concat();
        self.db.open_tree(REVOKED)?.insert(k, cid.as_slice())?;
        self.db.flush()?;
        Ok(rec)
    }

    /// Root N+1 with fresh keys (same count and threshold), signed by root N's keys and by
    /// its own.
    pub fn rotate_root(&self, now: i64) -> Result<Root> {
        let (cur, old_keys) = self.current_root()?;
        let new_keys: Vec<SigningKey> = (0..cur.root.keys.len())
            .map(|_| SigningKey::generate(&mut OsRng))
            .collect();
        let root = Root {
            version: cur.root.version + 1,
            expires: now + 5 * 365 * 86_400,
            threshold: cur.root.threshold,
            keys: new_keys
                .iter()
                .map(|k| k.verifying_key().to_bytes())
                .collect(),
        };
        let mut signers: Vec<SigningKey> = old_keys;
        signers.extend(new_keys.iter().cloned());
        self.store_root(&root, &signers, &new_keys)?;
        self.db.flush()?;
        Ok(root)
    }

    /// The current root (its fingerprint is what gates and wallets pin).
    pub fn root(&self) -> Result<Root> {
        Ok(self.current_root()?.0.root)
    }

    /// Every signing key.
    pub fn keys(&self) -> Result<Vec<IssuerKey>> {
        Ok(self.key_records()?.into_iter().map(|r| r.key).collect())
    }

    /// Writes the trust bundle to `out`: `root/N.cbor`, `status/I-L.json`,
    /// `contexts/tuaton-v1.jsonld`, then `trust-list.cbor` and `index.json` last. Each file
    /// is written to a temporary name and renamed, so a reader never sees half a file.
    pub fn publish(&self, out: &Path, now: i64, valid_days: u32) -> Result<PublishReport> {
        let (root, root_keys) = self.current_root()?;
        let (_, sk) = self.active_key()?;
        let issuer = self.issuer_id()?;
        let size = self.meta_u64("status-size")?;
        let expires = now + i64::from(valid_days) * 86_400;
        for d in ["root", "status", "contexts", "trust-list", "index"] {
            std::fs::create_dir_all(out.join(d)).map_err(|source| IssuerError::Io {
                path: out.join(d),
                source,
            })?;
        }
        // The bundle is public: readable by the web server whatever this process's umask.
        for d in ["", "root", "status", "contexts", "trust-list", "index"].map(|d| out.join(d)) {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).map_err(
                |source| IssuerError::Io {
                    path: d.clone(),
                    source,
                },
            )?;
        }
        let mut root_versions = vec![];
        for item in self.db.open_tree(ROOTS)?.iter() {
            let (k, v) = item?;
            let ver = u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| IssuerError::StoreDamaged("a root does not decode".into()))?,
            );
            write_atomic(&out.join("root").join(format!("{ver}.cbor")), &v)?;
            root_versions.push(ver);
        }
        // Status lists: every list that has an issued credential.
        let mut lists: BTreeMap<u32, Bitset> = BTreeMap::new();
        for item in self.db.open_tree(USED)?.iter() {
            let (k, _) = item?;
            let list = u32::from_be_bytes(k[..4].try_into().expect("key layout"));
            lists.entry(list).or_insert_with(|| Bitset::new(size));
        }
        lists.entry(0).or_insert_with(|| Bitset::new(size));
        let mut revoked = 0;
        for item in self.db.open_tree(REVOKED)?.iter() {
            let (k, _) = item?;
            let list = u32::from_be_bytes(k[..4].try_into().expect("key layout"));
            let index = u64::from_be_bytes(k[4..12].try_into().expect("key layout"));
            lists
                .entry(list)
                .or_insert_with(|| Bitset::new(size))
                .set(index);
            revoked += 1;
        }
        // The version is reserved (and flushed) before any file is written: a publish
        // killed half-way skips a version, and no version is ever reused with other content.
        let version = self.meta_u64("trust-list-version")? + 1;
        self.db
            .open_tree(META)?
            .insert("trust-list-version", &be(version))?;
        self.db.flush()?;
        // Consistent snapshots (as TUF's): status lists are named by their content and the
        // trust list by its version, so no published file is ever replaced; index.json is
        // written last and names one whole generation. A reader (a gate, a CDN) at any
        // moment, or after a crash at any point, sees the old generation or the new one.
        let mut pins = vec![];
        for (list, bits) in &lists {
            let json = status::sign_list(bits, issuer, *list, &sk, now, expires).map_err(core)?;
            let sha: [u8; 32] = Sha256::digest(json.as_bytes()).into();
            let file = format!("{issuer}-{list}.{}.json", hex::encode(&sha[..16]));
            write_atomic(&out.join("status").join(&file), json.as_bytes())?;
            pins.push(StatusPin {
                issuer,
                list: *list,
                size,
                sha256: sha,
                file,
            });
        }
        write_atomic(
            &out.join("contexts").join("tuaton-v1.jsonld"),
            w3c::CONTEXT_DOCUMENT.as_bytes(),
        )?;
        let status_files: Vec<String> = pins
            .iter()
            .map(|p| tuaton_common::bundle::status_path(&p.file))
            .collect();
        let list = TrustList {
            version,
            root_version: root.root.version,
            issued_at: now,
            expires,
            issuers: vec![ListedIssuer {
                id: issuer,
                name: self.name()?,
                keys: self.keys()?,
            }],
            status: pins,
        };
        let signers: Vec<&SigningKey> = root_keys.iter().take(root.root.threshold.into()).collect();
        let signed = SignedTrustList::sign(list, &signers);
        let tl_name = format!("trust-list/{version}.cbor");
        write_atomic(&out.join(&tl_name), &signed.signed.to_bytes())?;
        let index = tuaton_common::bundle::Index {
            format: tuaton_common::bundle::FORMAT.into(),
            roots: root_versions
                .iter()
                .map(|v| format!("root/{v}.cbor"))
                .collect(),
            trust_list: tl_name,
            status: status_files,
            context: "contexts/tuaton-v1.jsonld".into(),
            trust_list_version: version,
            root_version: root.root.version,
            expires,
        };
        let index_bytes = serde_json::to_vec_pretty(&index).expect("json");
        // Each generation's index is kept too, so collection knows what is still in use.
        write_atomic(
            &out.join("index").join(format!("{version}.json")),
            &index_bytes,
        )?;
        write_atomic(&out.join("index.json"), &index_bytes)?;
        tuaton_store::sync_dir(out)?;
        collect_old_generations(out, KEEP_GENERATIONS)?;
        Ok(PublishReport {
            trust_list_version: version,
            root_version: root.root.version,
            root_fingerprint: root.root.fingerprint(),
            status_lists: lists.len(),
            revoked,
            expires,
        })
    }
}

use sled::Transactional;

/// What `publish` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PublishReport {
    /// Trust list version.
    pub trust_list_version: u64,
    /// Root version.
    pub root_version: u64,
    /// The current root's fingerprint: what gates pin with `sync --expect-root`.
    pub root_fingerprint: String,
    /// Status lists written.
    pub status_lists: usize,
    /// Revoked credentials.
    pub revoked: usize,
    /// Bundle expiry.
    pub expires: i64,
}

/// Our transactions never abort on their own; a storage error is the only failure.
fn tx_err(e: sled::transaction::TransactionError<()>) -> IssuerError {
    match e {
        sled::transaction::TransactionError::Storage(s) => s.into(),
        sled::transaction::TransactionError::Abort(()) => {
            IssuerError::StoreDamaged("a store transaction aborted".into())
        }
    }
}

/// Generations of a bundle kept after a publish: a gate or CDN that read the previous
/// index a moment ago still finds every file it names.
pub const KEEP_GENERATIONS: usize = 3;

/// Removes trust lists, status lists and indexes that none of the newest `keep`
/// generations' indexes name (files of other layouts are left alone).
fn collect_old_generations(out: &Path, keep: usize) -> Result<()> {
    let io = |path: PathBuf| move |source| IssuerError::Io { path, source };
    let dir = out.join("index");
    let mut versions: Vec<u64> = std::fs::read_dir(&dir)
        .map_err(io(dir.clone()))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_suffix(".json")?.parse().ok())
        .collect();
    versions.sort_unstable();
    let (old, kept) = versions.split_at(versions.len().saturating_sub(keep));
    let mut live = std::collections::HashSet::new();
    for v in kept {
        let p = dir.join(format!("{v}.json"));
        let bytes = std::fs::read(&p).map_err(io(p.clone()))?;
        if let Ok(i) = tuaton_common::bundle::Index::parse(&bytes) {
            live.insert(i.trust_list);
            live.extend(i.status);
        }
    }
    for sub in ["trust-list", "status"] {
        let d = out.join(sub);
        for e in std::fs::read_dir(&d).map_err(io(d.clone()))?.flatten() {
            let name = format!("{sub}/{}", e.file_name().to_string_lossy());
            if !live.contains(&name) && !name.contains("/.") {
                std::fs::remove_file(e.path()).map_err(io(e.path()))?;
            }
        }
    }
    for v in old {
        let p = dir.join(format!("{v}.json"));
        std::fs::remove_file(&p).map_err(io(p.clone()))?;
    }
    Ok(())
}

/// Largest portrait file the issuer reads (the card's photo is a few KB; a session
/// carries it within `tuaton_common::session::MAX_MESSAGE`).
pub const MAX_PORTRAIT_BYTES: u64 = 64 * 1024;
/// Portrait dimensions accepted, in pixels, each side.
pub const PORTRAIT_PIXELS: std::ops::RangeInclusive<u32> = 32..=1024;

/// Reads a record's portrait: only a regular file (never a FIFO or `/dev/zero`), at most
/// [`MAX_PORTRAIT_BYTES`] read before anything else, and it must decode as a JPEG whose
/// sides are within [`PORTRAIT_PIXELS`].
/// Reads a citizen record file and the portrait it names (a relative portrait path is
/// relative to the record's directory). The record is checked field by field before the
/// portrait is read, so a record that is not one says so, naming the field.
pub fn read_record(path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let rec = read_small(path, MAX_RECORD_BYTES)?;
    let record = CitizenRecord::from_json(&rec).map_err(core)?;
    let portrait = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&record.portrait_path);
    Ok((rec, read_portrait(&portrait)?))
}

/// The largest citizen record file read (a record is a few hundred bytes).
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// An enrollment request given on the command line: the `TTE1:` text itself, or the path
/// of a file holding it. Anything else is a file that must exist, so a typo in a file name
/// is reported as a missing file, not as a malformed request.
pub fn read_request(arg: &str) -> Result<String> {
    if arg.trim_start().starts_with(enroll::PREFIX) {
        return Ok(arg.to_owned());
    }
    let bytes = read_small(Path::new(arg), MAX_RECORD_BYTES)?;
    String::from_utf8(bytes).map_err(|_| {
        core(tuaton_common::Error::field(
            "request",
            "is not text (an enrollment request starts with TTE1:)",
        ))
    })
}

/// Reads a regular file of at most `max` bytes.
fn read_small(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| IssuerError::Io {
        path: path.into(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if !f.metadata().map_err(io)?.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(io(std::io::Error::other(format!(
            "larger than {max} bytes"
        ))));
    }
    Ok(bytes)
}

/// Reads and checks a portrait: a regular JPEG file within the size and pixel limits.
pub fn read_portrait(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let bad = |reason: String| {
        IssuerError::Core(tuaton_common::Error::InvalidField {
            field: "portrait",
            reason,
        })
    };
    let io = |source| IssuerError::Io {
        path: path.into(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if !f.metadata().map_err(io)?.is_file() {
        return Err(bad(format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    f.take(MAX_PORTRAIT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_PORTRAIT_BYTES {
        return Err(bad(format!("is larger than {MAX_PORTRAIT_BYTES} bytes")));
    }
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(&bytes), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(*PORTRAIT_PIXELS.end());
    limits.max_image_height = Some(*PORTRAIT_PIXELS.end());
    limits.max_alloc = Some(16 << 20);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        bad(format!(
            "is not a JPEG within {}x{} pixels ({e})",
            PORTRAIT_PIXELS.end(),
            PORTRAIT_PIXELS.end()
        ))
    })?;
    if !PORTRAIT_PIXELS.contains(&img.width()) || !PORTRAIT_PIXELS.contains(&img.height()) {
        return Err(bad(format!(
            "is {}x{} pixels; each side must be {} to {}",
            img.width(),
            img.height(),
            PORTRAIT_PIXELS.start(),
            PORTRAIT_PIXELS.end()
        )));
    }
    Ok(bytes)
}

/// Writes a public bundle file atomically: a temporary file with an unpredictable name,
/// created exclusively (`O_EXCL`, so a planted symlink or file is never followed or
/// reused), synced, made world-readable (a web server serves it), then renamed over the
/// target.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let io = |source| IssuerError::Io {
        path: path.into(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tuaton-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(bytes).map_err(io)?;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o644))
        .map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

/// A signing key as the issuer store keeps it (JSON). Every field is required when read
/// back, and an unknown state is damage, never a guess.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    /// Key id, hex.
    kid: String,
    /// Ed25519 public key, hex.
    public: String,
    not_before: i64,
    not_after: Option<i64>,
    /// 0 active, 1 retired, 2 revoked (at `revoked_at`).
    state: u8,
    revoked_at: Option<i64>,
    /// The sealed secret's nonce and ciphertext, hex.
    nonce: String,
    secret: String,
}

fn encode_key(r: &KeyRecord) -> Vec<u8> {
    let (state, revoked_at) = match r.key.state {
        KeyState::Active => (0, None),
        KeyState::Retired => (1, None),
        KeyState::Revoked { at } => (2, Some(at)),
    };
    serde_json::to_vec(&StoredKey {
        kid: hex::encode(&r.key.kid),
        public: hex::encode(r.key.public.as_bytes()),
        not_before: r.key.not_before,
        not_after: r.key.not_after,
        state,
        revoked_at,
        nonce: hex::encode(r.secret_nonce),
        secret: hex::encode(&r.secret_ct),
    })
    .expect("serialisable")
}

fn decode_key(issuer: u32, k: &[u8], v: &[u8]) -> Option<KeyRecord> {
    let j: StoredKey = serde_json::from_slice(v).ok()?;
    let public: [u8; 32] = hex::decode(&j.public).ok()?.try_into().ok()?;
    Some(KeyRecord {
        seq: u32::from_be_bytes(k.try_into().ok()?),
        key: IssuerKey {
            issuer,
            kid: hex::decode(&j.kid).ok()?,
            public: ed25519_dalek::VerifyingKey::from_bytes(&public).ok()?,
            not_before: j.not_before,
            not_after: j.not_after,
            state: match (j.state, j.revoked_at) {
                (0, None) => KeyState::Active,
                (1, None) => KeyState::Retired,
                (2, Some(at)) => KeyState::Revoked { at },
                _ => return None,
            },
        },
        secret_nonce: hex::decode(&j.nonce).ok()?.try_into().ok()?,
        secret_ct: hex::decode(&j.secret).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_are_unique_and_lists_fill_one_after_another() {
        let dir = tempfile::tempdir().unwrap();
        let mut o = InitOptions::new("DOPA");
        o.kdf = KdfParams::insecure_for_tests();
        o.status_list_size = 8;
        let iss = Issuer::init(dir.path(), &o, b"a passphrase", 1_795_000_000).unwrap();
        let req = enroll::request(&SigningKey::from_bytes(&[3; 32]), 1_795_000_000);
        let mut seen = std::collections::HashSet::new();
        let mut lists = vec![];
        for i in 0..10 {
            let (_, r) = iss
                .issue(
                    tuaton_common::sample::RECORDS[0].as_bytes(),
                    tuaton_common::sample::PORTRAIT_A,
                    &req,
                    1_795_000_000 + i,
                )
                .unwrap();
            assert!(seen.insert((r.list, r.index)), "index reused");
            assert!(r.index < 8);
            lists.push(r.list);
        }
        // 90% of 8 is 7: seven in list 0, then list 1.
        assert_eq!(lists, [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]);
        let report = iss
            .publish(&dir.path().join("bundle"), 1_795_000_100, 7)
            .unwrap();
        assert_eq!(report.status_lists, 2);
    }
}
