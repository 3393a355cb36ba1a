//! The embedded store: one office, offline, no setup. One sled database in `--home`,
//! locked by one process. A transaction reads through its own writes and applies them at
//! commit in one sled transaction across every tree, then flushes: a crash at any point
//! leaves all of it or none.
//!
//! Trees (keys big-endian): `meta` ("issuer": the issuer row as JSON; "trust-list-version":
//! u64; "format": u32), `keys` (seq u32 -> JSON), `roots` (version u64 -> JSON), `credentials`
//! (id -> JSON), `used` (list u32 || index u64 -> id), `revoked` (list || index -> JSON),
//! `fill` (list u32 -> u64), `citizens` (hash || id -> ""), `audit` (u64 -> JSON).

use sled::Transactional;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::seam::*;
use crate::{IssuerError, Result};

const META: &str = "meta";
const KEYS: &str = "keys";
const ROOTS: &str = "roots";
const CREDS: &str = "credentials";
const USED: &str = "used";
const REVOKED: &str = "revoked";
const FILL: &str = "fill";
const CITIZENS: &str = "citizens";
const AUDIT: &str = "audit";
const TREES: [&str; 9] = [
    META, KEYS, ROOTS, CREDS, USED, REVOKED, FILL, CITIZENS, AUDIT,
];
/// The layout above; a store of another layout is refused, never misread.
const FORMAT: u32 = 2;

/// The sled store of one issuer.
pub struct SledStore {
    home: PathBuf,
    db: sled::Db,
    trees: Arc<Vec<sled::Tree>>,
    /// One writer at a time within the process (the file lock keeps other processes out).
    lock: Arc<tokio::sync::Mutex<()>>,
}

/// A transaction: reads see `writes` first.
pub struct SledTx {
    db: sled::Db,
    trees: Arc<Vec<sled::Tree>>,
    writes: BTreeMap<(usize, Vec<u8>), Option<Vec<u8>>>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
}

fn tree(name: &str) -> usize {
    TREES.iter().position(|t| *t == name).expect("a known tree")
}

fn damaged(what: &str) -> IssuerError {
    IssuerError::StoreDamaged(format!("{what} does not decode"))
}

fn u32_of(b: &[u8], what: &str) -> Result<u32> {
    Ok(u32::from_be_bytes(b.try_into().map_err(|_| damaged(what))?))
}

fn u64_of(b: &[u8], what: &str) -> Result<u64> {
    Ok(u64::from_be_bytes(b.try_into().map_err(|_| damaged(what))?))
}

fn idx_key(list: u32, index: u64) -> Vec<u8> {
    [list.to_be_bytes().as_slice(), &index.to_be_bytes()].concat()
}

impl SledStore {
    pub(crate) fn path(home: &Path) -> PathBuf {
        home.join("issuer.sled")
    }

    pub(crate) fn wrap(home: &Path, db: sled::Db) -> Result<SledStore> {
        let trees = TREES
            .iter()
            .map(|t| db.open_tree(t))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(SledStore {
            home: home.into(),
            db,
            trees: Arc::new(trees),
            lock: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Opens the store in `home`.
    pub fn open(home: &Path) -> Result<SledStore> {
        if !Self::path(home).exists() {
            return Err(IssuerError::NotInitialised(crate::seam::Place::Home(
                home.into(),
            )));
        }
        let db = tuaton_store::open(&Self::path(home), tuaton_store::LOCK_WAIT)?;
        let s = Self::wrap(home, db)?;
        let meta = &s.trees[tree(META)];
        match meta.get("format")? {
            Some(v) if u32_of(&v, "the store format")? == FORMAT => Ok(s),
            // The first layout had no format key and an "initialised" flag.
            None if meta.get("initialised")?.is_some() => Err(IssuerError::StoreDamaged(format!(
                "{} was made by an earlier tuaton-issuer (store format 1); this one reads format {FORMAT}",
                Self::path(home).display()
            ))),
            None => Err(IssuerError::NotInitialised(crate::seam::Place::Home(home.into()))),
            Some(_) => Err(IssuerError::StoreDamaged(format!(
                "{} is not an issuer store of format {FORMAT} (made by another version of tuaton-issuer?)",
                Self::path(home).display()
            ))),
        }
    }

    /// The sled database (backup reads every tree of it).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

impl crate::Issuer<SledStore> {
    /// Creates an issuer in `home`. The database is built under a temporary name and
    /// renamed into place when whole: a crash during init leaves no issuer store at all,
    /// never one that says "already exists" and holds no keys.
    pub fn init_sled(
        home: &Path,
        opts: &crate::InitOptions,
        source: crate::KeySource,
        now: i64,
    ) -> Result<Self> {
        if SledStore::path(home).exists() {
            return Err(IssuerError::AlreadyInitialised(crate::seam::Place::Home(
                home.into(),
            )));
        }
        let mut keys = None;
        let db = tuaton_store::create(&SledStore::path(home), |db| -> Result<()> {
            let store = SledStore::wrap(home, db.clone())?;
            store.trees[tree(META)].insert("format", &FORMAT.to_be_bytes())?;
            let iss = pollster::block_on(crate::Issuer::init(store, opts, source, now))?;
            // Every handle of the staged database goes before it is renamed.
            keys = Some(iss.into_keys());
            Ok(())
        })?;
        Ok(crate::Issuer::with_keys(
            SledStore::wrap(home, db)?,
            keys.flatten(),
        ))
    }

    /// Writes the next bundle generation to `out`. The version is reserved, and a staged
    /// key activated, in one commit before any file is written: a publish killed half-way
    /// skips a version and never reuses one with other content; publishing again finishes.
    pub fn publish_dir(
        &self,
        out: &Path,
        actor: &crate::Actor,
        now: i64,
        valid_days: u32,
    ) -> Result<crate::PublishReport> {
        let built = pollster::block_on(async {
            let mut tx = self.store().begin().await?;
            let built = self.publish_in(&mut tx, actor, now, valid_days).await?;
            tx.commit().await?;
            Ok::<_, IssuerError>(built)
        })?;
        crate::write_bundle(out, &built)?;
        Ok(built.report)
    }

    /// Opens the issuer in `home`, keys locked.
    pub fn open_sled(home: &Path) -> Result<Self> {
        pollster::block_on(crate::Issuer::open(SledStore::open(home)?))
    }
}

impl Store for SledStore {
    type Tx = SledTx;

    async fn begin(&self) -> Result<SledTx> {
        Ok(SledTx {
            db: self.db.clone(),
            trees: self.trees.clone(),
            writes: BTreeMap::new(),
            _guard: self.lock.clone().lock_owned().await,
        })
    }

    fn place(&self) -> crate::seam::Place {
        crate::seam::Place::Home(self.home.clone())
    }
}

impl SledTx {
    fn get(&self, t: &str, k: &[u8]) -> Result<Option<Vec<u8>>> {
        let t = tree(t);
        if let Some(v) = self.writes.get(&(t, k.to_vec())) {
            return Ok(v.clone());
        }
        Ok(self.trees[t].get(k)?.map(|v| v.to_vec()))
    }

    fn put(&mut self, t: &str, k: &[u8], v: Vec<u8>) {
        self.writes.insert((tree(t), k.to_vec()), Some(v));
    }

    /// Every entry of a tree (with a key prefix), the transaction's writes applied.
    fn scan(&self, t: &str, prefix: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
        let ti = tree(t);
        let mut out = BTreeMap::new();
        for item in self.trees[ti].scan_prefix(prefix) {
            let (k, v) = item?;
            out.insert(k.to_vec(), v.to_vec());
        }
        for ((wt, k), v) in &self.writes {
            if *wt == ti && k.starts_with(prefix) {
                match v {
                    Some(v) => out.insert(k.clone(), v.clone()),
                    None => out.remove(k),
                };
            }
        }
        Ok(out)
    }

    fn json<T: serde::de::DeserializeOwned>(v: &[u8], what: &str) -> Result<T> {
        serde_json::from_slice(v).map_err(|_| damaged(what))
    }

    fn fill(&self, list: u32) -> Result<Option<u64>> {
        self.get(FILL, &list.to_be_bytes())?
            .map(|v| u64_of(&v, "a status list's fill count"))
            .transpose()
    }
}

/// A signing key as this store keeps it (JSON; every field required when read back, an
/// unknown state is damage, never a guess).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredKey {
    kid: String,
    public: String,
    not_before: i64,
    not_after: Option<i64>,
    /// 0 active, 1 retired, 2 revoked (at `revoked_at`), 3 staged.
    state: i16,
    revoked_at: Option<i64>,
    secret: Secret,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRoot {
    signed: String,
    secret: Secret,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredCredential {
    list: u32,
    index: u64,
    issued_at: i64,
    kid: String,
    holder: String,
    claims: String,
    citizen: String,
    actor: String,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredRevocation {
    credential_id: String,
    at: i64,
    reason: Reason,
}

fn hex32(s: &str, what: &str) -> Result<[u8; 32]> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| damaged(what))
}

fn credential_of(id: &[u8], v: &[u8]) -> Result<CredentialRow> {
    let c: StoredCredential = SledTx::json(v, "a credential record")?;
    Ok(CredentialRow {
        id: id.try_into().map_err(|_| damaged("a credential id"))?,
        list: c.list,
        index: c.index,
        issued_at: c.issued_at,
        kid: hex::decode(&c.kid).map_err(|_| damaged("a credential record"))?,
        holder: hex::decode(&c.holder)
            .ok()
            .and_then(|b| tuaton_common::holder::HolderKey::from_bytes(&b))
            .ok_or_else(|| damaged("a credential record"))?,
        claims: hex32(&c.claims, "a credential record")?,
        citizen: hex32(&c.citizen, "a credential record")?,
        actor: c.actor,
    })
}

fn encode_credential(c: &CredentialRow) -> Vec<u8> {
    serde_json::to_vec(&StoredCredential {
        list: c.list,
        index: c.index,
        issued_at: c.issued_at,
        kid: hex::encode(&c.kid),
        holder: hex::encode(c.holder.as_bytes()),
        claims: hex::encode(c.claims),
        citizen: hex::encode(c.citizen),
        actor: c.actor.clone(),
    })
    .expect("serialisable")
}

impl Txn for SledTx {
    async fn meta(&mut self) -> Result<Option<Meta>> {
        self.get(META, b"issuer")?
            .map(|v| Self::json(&v, "the issuer row"))
            .transpose()
    }

    async fn create(&mut self, meta: &Meta) -> Result<bool> {
        if self.get(META, b"issuer")?.is_some() {
            return Ok(false);
        }
        self.put(
            META,
            b"issuer",
            serde_json::to_vec(meta).expect("serialisable"),
        );
        self.put(META, b"trust-list-version", 0u64.to_be_bytes().to_vec());
        Ok(true)
    }

    async fn set_citizen_key(&mut self, k: &Secret) -> Result<()> {
        if let Some(mut m) = self.meta().await? {
            if m.citizen_key.is_none() {
                m.citizen_key = Some(k.clone());
                self.put(
                    META,
                    b"issuer",
                    serde_json::to_vec(&m).expect("serialisable"),
                );
            }
        }
        Ok(())
    }

    async fn set_mdoc(&mut self, k: &MdocKeys) -> Result<()> {
        if let Some(mut m) = self.meta().await? {
            m.mdoc = Some(k.clone());
            self.put(
                META,
                b"issuer",
                serde_json::to_vec(&m).expect("serialisable"),
            );
        }
        Ok(())
    }

    async fn share_keys(&mut self) -> Result<()> {
        Ok(())
    }

    async fn lock_keys(&mut self) -> Result<()> {
        // The transaction already holds the store's one writer lock.
        Ok(())
    }

    async fn keys(&mut self) -> Result<Vec<KeyRow>> {
        self.scan(KEYS, b"")?
            .iter()
            .map(|(k, v)| {
                let s: StoredKey = Self::json(v, "a signing key record")?;
                Ok(KeyRow {
                    seq: u32_of(k, "a signing key's number")?,
                    kid: hex::decode(&s.kid).map_err(|_| damaged("a signing key record"))?,
                    public: hex32(&s.public, "a signing key record")?,
                    not_before: s.not_before,
                    not_after: s.not_after,
                    status: KeyStatus::from_code(s.state, s.revoked_at)
                        .ok_or_else(|| damaged("a signing key's state"))?,
                    secret: s.secret,
                })
            })
            .collect()
    }

    async fn put_key(&mut self, k: &KeyRow) -> Result<()> {
        let v = serde_json::to_vec(&StoredKey {
            kid: hex::encode(&k.kid),
            public: hex::encode(k.public),
            not_before: k.not_before,
            not_after: k.not_after,
            state: k.status.code(),
            revoked_at: k.status.revoked_at(),
            secret: k.secret.clone(),
        })
        .expect("serialisable");
        self.put(KEYS, &k.seq.to_be_bytes(), v);
        Ok(())
    }

    async fn roots(&mut self) -> Result<Vec<RootRow>> {
        self.scan(ROOTS, b"")?
            .iter()
            .map(|(k, v)| {
                let s: StoredRoot = Self::json(v, "a root record")?;
                Ok(RootRow {
                    version: u64_of(k, "a root version")?,
                    signed: hex::decode(&s.signed).map_err(|_| damaged("a root record"))?,
                    secret: s.secret,
                })
            })
            .collect()
    }

    async fn put_root(&mut self, r: &RootRow) -> Result<()> {
        let v = serde_json::to_vec(&StoredRoot {
            signed: hex::encode(&r.signed),
            secret: r.secret.clone(),
        })
        .expect("serialisable");
        self.put(ROOTS, &r.version.to_be_bytes(), v);
        Ok(())
    }

    async fn open_list(&mut self, from: u32, cap: u64) -> Result<u32> {
        // Lists are made in order, so the first list with no fill count is new. Bounded by
        // the lists that exist (each at most 2^27 entries, a few hundred at national scale).
        let mut list = from;
        loop {
            match self.fill(list)? {
                Some(n) if n >= cap => {
                    list = list
                        .checked_add(1)
                        .ok_or_else(|| damaged("the status list numbering"))?;
                }
                _ => return Ok(list),
            }
        }
    }

    async fn claim(&mut self, c: &CredentialRow) -> Result<bool> {
        let ik = idx_key(c.list, c.index);
        if self.get(CREDS, &c.id)?.is_some() || self.get(USED, &ik)?.is_some() {
            return Ok(false);
        }
        self.put(CREDS, &c.id, encode_credential(c));
        self.put(USED, &ik, c.id.to_vec());
        self.put(CITIZENS, &[c.citizen.as_slice(), &c.id].concat(), vec![]);
        Ok(true)
    }

    async fn bump_fill(&mut self, list: u32, cap: u64) -> Result<()> {
        let n = self.fill(list)?.unwrap_or(0);
        if n >= cap {
            return Err(IssuerError::Busy(LIST_FILLED));
        }
        self.put(FILL, &list.to_be_bytes(), (n + 1).to_be_bytes().to_vec());
        Ok(())
    }

    async fn credential(&mut self, id: &[u8; 8]) -> Result<Option<CredentialRow>> {
        self.get(CREDS, id)?
            .map(|v| {
                let c = credential_of(id, &v)?;
                // A record that names another index than its own is damage: never a
                // default that would flip another citizen's status bit.
                match self.get(USED, &idx_key(c.list, c.index))? {
                    Some(owner) if owner == id => Ok(c),
                    _ => Err(IssuerError::StoreDamaged(format!(
                        "the record of credential {} disagrees with its status index",
                        hex::encode(id)
                    ))),
                }
            })
            .transpose()
    }

    async fn lock_citizen(&mut self, _citizen: &[u8; 32]) -> Result<()> {
        Ok(())
    }

    async fn credentials_of(&mut self, citizen: &[u8; 32]) -> Result<Vec<CredentialRow>> {
        let mut out = vec![];
        for k in self.scan(CITIZENS, citizen)?.keys() {
            let id: [u8; 8] = k[32..].try_into().map_err(|_| damaged("a citizen index"))?;
            if let Some(c) = self.credential(&id).await? {
                if self.get(REVOKED, &idx_key(c.list, c.index))?.is_none() {
                    out.push(c);
                }
            }
        }
        Ok(out)
    }

    async fn resign(&mut self, id: &[u8; 8], kid: &[u8], issued_at: i64) -> Result<()> {
        let mut c = self
            .credential(id)
            .await?
            .ok_or_else(|| damaged("a credential record"))?;
        c.kid = kid.to_vec();
        c.issued_at = issued_at;
        self.put(CREDS, id, encode_credential(&c));
        Ok(())
    }

    async fn revoke(&mut self, c: &CredentialRow, at: i64, reason: Reason) -> Result<bool> {
        let k = idx_key(c.list, c.index);
        if self.get(REVOKED, &k)?.is_some() {
            return Ok(false);
        }
        let v = serde_json::to_vec(&StoredRevocation {
            credential_id: hex::encode(c.id),
            at,
            reason,
        })
        .expect("serialisable");
        self.put(REVOKED, &k, v);
        Ok(true)
    }

    async fn revocation(&mut self, id: &[u8; 8]) -> Result<Option<Reason>> {
        let Some(c) = self.credential(id).await? else {
            return Ok(None);
        };
        self.get(REVOKED, &idx_key(c.list, c.index))?
            .map(|v| Ok(Self::json::<StoredRevocation>(&v, "a revocation")?.reason))
            .transpose()
    }

    async fn lists(&mut self) -> Result<BTreeSet<u32>> {
        self.scan(FILL, b"")?
            .keys()
            .map(|k| u32_of(k, "a status list number"))
            .collect()
    }

    async fn revoked(&mut self) -> Result<Vec<(u32, u64)>> {
        self.scan(REVOKED, b"")?
            .keys()
            .map(|k| {
                if k.len() != 12 {
                    return Err(damaged("a revocation"));
                }
                Ok((
                    u32_of(&k[..4], "a revocation")?,
                    u64_of(&k[4..], "a revocation")?,
                ))
            })
            .collect()
    }

    async fn next_version(&mut self) -> Result<u64> {
        let v = self
            .get(META, b"trust-list-version")?
            .ok_or_else(|| damaged("the trust list version"))?;
        let next = u64_of(&v, "the trust list version")? + 1;
        self.put(META, b"trust-list-version", next.to_be_bytes().to_vec());
        Ok(next)
    }

    async fn close_lists(&mut self, size: u64, margin: u32) -> Result<()> {
        let lists = self.lists().await?;
        let next = lists.last().map_or(0, |l| l + 1);
        for l in lists.into_iter().chain(next..next.saturating_add(margin)) {
            self.put(FILL, &l.to_be_bytes(), size.to_be_bytes().to_vec());
        }
        Ok(())
    }

    async fn raise_version(&mut self, min: u64) -> Result<()> {
        let v = self
            .get(META, b"trust-list-version")?
            .ok_or_else(|| damaged("the trust list version"))?;
        let v = u64_of(&v, "the trust list version")?.max(min);
        self.put(META, b"trust-list-version", v.to_be_bytes().to_vec());
        Ok(())
    }

    async fn audit(&mut self, a: &AuditRow) -> Result<()> {
        let id = self.db.generate_id()?;
        self.put(
            AUDIT,
            &id.to_be_bytes(),
            serde_json::to_vec(a).expect("serialisable"),
        );
        Ok(())
    }

    async fn audit_rows(&mut self, limit: u32) -> Result<Vec<AuditRow>> {
        let mut out = vec![];
        for item in self.trees[tree(AUDIT)].iter().rev().take(limit as usize) {
            let (_, v) = item?;
            out.push(Self::json(&v, "an audit row")?);
        }
        Ok(out)
    }

    async fn commit(self) -> Result<()> {
        if self.writes.is_empty() {
            return Ok(());
        }
        let trees: &[sled::Tree] = &self.trees;
        trees
            .transaction(|t| {
                for ((ti, k), v) in &self.writes {
                    match v {
                        Some(v) => t[*ti].insert(k.as_slice(), v.as_slice())?,
                        None => t[*ti].remove(k.as_slice())?,
                    };
                }
                Ok(())
            })
            .map_err(|e: sled::transaction::TransactionError<()>| match e {
                sled::transaction::TransactionError::Storage(s) => IssuerError::from(s),
                sled::transaction::TransactionError::Abort(()) => {
                    IssuerError::StoreDamaged("a store transaction aborted".into())
                }
            })?;
        tuaton_store::flush(&self.db)?;
        Ok(())
    }
}
