//! The issuer store: sealed keys and records in one sled store, opened by the passphrase.

use ed25519_dalek::SigningKey;
use rand::{rngs::OsRng, RngCore};
use std::path::{Path, PathBuf};
use tuaton_common::seal::{self, KdfParams, Sealed};
use tuaton_common::trust::{IssuerKey, KeyState, Root};
use zeroize::Zeroizing;

use crate::{core, IssuerError, Result};

/// A signing key as stored: public facts plus the secret sealed under the store key.
pub(crate) struct KeyRecord {
    pub(crate) seq: u32,
    pub(crate) key: IssuerKey,
    pub(crate) secret_nonce: [u8; 12],
    pub(crate) secret_ct: Vec<u8>,
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
    /// The rules every issuer store checks at init (sled or PostgreSQL): a visible name,
    /// a threshold the root keys can meet, and a passphrase of 8 characters or more when
    /// one seals the keys (`None`: the keys are in a token).
    pub(crate) fn check(&self, passphrase: Option<&[u8]>) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(IssuerError::Usage("--name must not be empty".into()));
        }
        // Gates show this name beside every verdict: nothing in it may disguise text.
        if let Some(c) = tuaton_common::text::first_forbidden(&self.name) {
            return Err(IssuerError::Usage(format!(
                "--name contains {}, an invisible or control character that could disguise the text",
                tuaton_common::text::describe(c)
            )));
        }
        if self.root_keys == 0 || self.threshold == 0 || self.threshold > self.root_keys {
            return Err(IssuerError::Usage(format!(
                "--threshold must be between 1 and --root-keys ({}), got {}",
                self.root_keys, self.threshold
            )));
        }
        if passphrase.is_some_and(|p| p.len() < 8) {
            return Err(IssuerError::Usage(
                "the passphrase must have at least 8 characters".into(),
            ));
        }
        Ok(())
    }

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
    pub(crate) home: PathBuf,
    pub(crate) db: sled::Db,
    pub(crate) store_key: Zeroizing<[u8; 32]>,
}

pub(crate) const META: &str = "meta";
pub(crate) const KEYS: &str = "keys";
pub(crate) const ROOTS: &str = "roots";
pub(crate) const ROOT_SECRETS: &str = "root-secrets";
pub(crate) const CREDS: &str = "credentials";
pub(crate) const USED: &str = "used-status-index";
pub(crate) const REVOKED: &str = "revoked";

pub(crate) fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

pub use tuaton_common::trust::kid_of;

pub(crate) fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

impl Issuer {
    pub(crate) fn db_path(home: &Path) -> PathBuf {
        home.join("issuer.sled")
    }

    /// Creates a new issuer in `home`: root key(s), root version 1, a first signing key.
    pub fn init(home: &Path, opts: &InitOptions, passphrase: &[u8], now: i64) -> Result<Issuer> {
        opts.check(Some(passphrase))?;
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

    pub(crate) fn meta_u64(&self, k: &str) -> Result<u64> {
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

    pub(crate) fn seal_secret(&self, secret: &[u8], aad: &[u8]) -> ([u8; 12], Vec<u8>) {
        let nonce = random::<12>();
        (nonce, seal::encrypt(&self.store_key, &nonce, secret, aad))
    }

    pub(crate) fn open_secret(
        &self,
        nonce: &[u8; 12],
        ct: &[u8],
        aad: &[u8],
    ) -> Result<SigningKey> {
        let s = seal::decrypt(&self.store_key, nonce, ct, aad).map_err(core)?;
        let k = s
            .key32()
            .ok_or_else(|| IssuerError::StoreDamaged("a sealed secret does not decode".into()))?;
        Ok(SigningKey::from_bytes(&k))
    }

    pub(crate) fn meta_u64_or_zero(&self, k: &str) -> Result<u64> {
        Ok(self
            .db
            .open_tree(META)?
            .get(k)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0))
    }
}

/// Our transactions never abort on their own; a storage error is the only failure.
pub(crate) fn tx_err(e: sled::transaction::TransactionError<()>) -> IssuerError {
    match e {
        sled::transaction::TransactionError::Storage(s) => s.into(),
        sled::transaction::TransactionError::Abort(()) => {
            IssuerError::StoreDamaged("a store transaction aborted".into())
        }
    }
}

/// A signing key as the issuer store keeps it (JSON). Every field is required when read
/// back, and an unknown state is damage, never a guess.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredKey {
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

pub(crate) fn encode_key(r: &KeyRecord) -> Vec<u8> {
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

pub(crate) fn decode_key(issuer: u32, k: &[u8], v: &[u8]) -> Option<KeyRecord> {
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
    use tuaton_common::enroll;

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
