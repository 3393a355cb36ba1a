//! Keys: the root chain, signing keys and their windows, rotation and revocation.

use ed25519_dalek::SigningKey;
use rand::rngs::OsRng;
use tuaton_common::seal::{self};
use tuaton_common::trust::{IssuerKey, KeyState, Root, SignedRoot};

use crate::store::*;
use crate::{core, Issuer, IssuerError, Result};
use sled::Transactional;

impl Issuer {
    pub(crate) fn store_root(
        &self,
        root: &Root,
        signers: &[SigningKey],
        own: &[SigningKey],
    ) -> Result<()> {
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

    pub(crate) fn current_root(&self) -> Result<(SignedRoot, Vec<SigningKey>)> {
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

    pub(crate) fn key_records(&self) -> Result<Vec<KeyRecord>> {
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

    pub(crate) fn put_key(&self, r: &KeyRecord) -> Result<()> {
        self.db
            .open_tree(KEYS)?
            .insert(r.seq.to_be_bytes(), encode_key(r))?;
        Ok(())
    }

    pub(crate) fn add_signing_key(&self, now: i64) -> Result<KeyRecord> {
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

    pub(crate) fn active_key(&self) -> Result<(KeyRecord, SigningKey)> {
        let r = self
            .key_records()?
            .into_iter()
            .rfind(|r| r.key.state == KeyState::Active)
            .ok_or(IssuerError::NoActiveKey)?;
        let aad = format!("signing key {}", r.seq);
        let sk = self.open_secret(&r.secret_nonce, &r.secret_ct, aad.as_bytes())?;
        Ok((r, sk))
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
}
