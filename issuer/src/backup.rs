//! `backup` and `restore`: the issuer's keys are the crown jewels, so a dead disk must not
//! mean re-enrolling a country. A backup holds every tree of the issuer store, sealed as
//! one blob under the issuer passphrase (Argon2id, then ChaCha20-Poly1305); `restore`
//! rebuilds a store from it whole or not at all, and checks it opens with the passphrase.
//!
//! File: `TUATON-ISSUER-BACKUP-2\n`, then SHA-256 of the sealed blob (32 bytes), then the
//! sealed blob (`common::seal::Sealed`, whose KDF cost is bounded by `KdfParams::MAX`
//! before any work). The digest tells damage (a flipped bit: "damaged") from a wrong
//! passphrase (the digest holds, the seal does not open). Blob: for each tree,
//! `lp(name) || u64be(count) || count x (lp(key) || lp(value))`, with
//! `lp(x) = u32be(len(x)) || x`.

use crate::sled_store::SledStore;
use crate::{Issuer, IssuerError, KeySource, Result};
use std::path::Path;
use tuaton_common::seal::{KdfParams, Sealed};
use zeroize::Zeroizing;

const MAGIC: &[u8] = b"TUATON-ISSUER-BACKUP-2\n";
/// Backups of the first store layout (before one issuer core): refused by name.
const MAGIC_V1: &[u8] = b"TUATON-ISSUER-BACKUP-1\n";
const AAD: &[u8] = b"tuaton issuer backup v1";
/// Largest backup `restore` reads (an issuer store with millions of credentials is far
/// smaller).
pub const MAX_BACKUP_BYTES: u64 = 1 << 30;

fn lp(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_be_bytes());
    out.extend_from_slice(b);
}

fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
    let (h, t) = (b.get(..n)?, b.get(n..)?);
    *b = t;
    Some(h)
}

fn take_lp<'a>(b: &mut &'a [u8]) -> Option<&'a [u8]> {
    let n = u32::from_be_bytes(take(b, 4)?.try_into().ok()?) as usize;
    take(b, n)
}

impl Issuer<SledStore> {
    /// Writes a sealed backup of the whole store to `out` (created new, owner-only).
    pub fn backup(&self, out: &Path, passphrase: &[u8]) -> Result<usize> {
        let db = self.store().db();
        tuaton_store::flush(db)?;
        let mut blob = Vec::new();
        let mut entries = 0;
        for name in db.tree_names() {
            let tree = db.open_tree(&name)?;
            lp(&mut blob, &name);
            blob.extend_from_slice(&(tree.len() as u64).to_be_bytes());
            for item in tree.iter() {
                let (k, v) = item?;
                lp(&mut blob, &k);
                lp(&mut blob, &v);
                entries += 1;
            }
        }
        let sealed = Sealed::seal(
            &blob,
            passphrase,
            KdfParams::RELEASE,
            rand::random(),
            rand::random(),
            AAD,
        )
        .map_err(crate::core_error)?;
        let sealed = sealed.to_bytes();
        let mut file = MAGIC.to_vec();
        file.extend_from_slice(&<sha2::Sha256 as sha2::Digest>::digest(&sealed));
        file.extend(sealed);
        use std::io::Write;
        let io = |source| IssuerError::Io {
            path: out.into(),
            source,
        };
        // Written beside the target and linked into place only when whole: a full disk or
        // a kill leaves no partial backup under the name (which would block the retry),
        // and an existing file is never overwritten.
        let dir = match out.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if out.exists() {
            return Err(io(std::io::Error::from(std::io::ErrorKind::AlreadyExists)));
        }
        let mut f = tempfile::Builder::new()
            .prefix(".tuaton-backup-")
            .tempfile_in(dir)
            .map_err(io)?;
        f.write_all(&file).map_err(io)?;
        f.as_file().sync_all().map_err(io)?;
        f.persist_noclobber(out).map_err(|e| io(e.error))?;
        if let Ok(d) = std::fs::File::open(dir) {
            d.sync_all().map_err(io)?;
        }
        Ok(entries)
    }

    /// Rebuilds the issuer in `home` from backup file `from`, then opens it with
    /// `passphrase` (so a restore is known good before it is used).
    pub fn restore(home: &Path, from: &Path, passphrase: &[u8]) -> Result<Self> {
        use std::io::Read;
        if SledStore::path(home).exists() {
            return Err(IssuerError::AlreadyInitialised(crate::seam::Place::Home(
                home.into(),
            )));
        }
        let io = |source| IssuerError::Io {
            path: from.into(),
            source,
        };
        let bad = |why: &str| IssuerError::NotBackup {
            path: from.into(),
            why: why.into(),
        };
        let f = std::fs::File::open(from).map_err(io)?;
        if !f.metadata().map_err(io)?.is_file() {
            return Err(bad("not a regular file"));
        }
        let mut file = Vec::new();
        f.take(MAX_BACKUP_BYTES + 1)
            .read_to_end(&mut file)
            .map_err(io)?;
        if file.len() as u64 > MAX_BACKUP_BYTES {
            return Err(bad("too large"));
        }
        if file.starts_with(MAGIC_V1) {
            return Err(bad(
                "a backup of the earlier store layout; restore it with the tuaton-issuer that wrote it",
            ));
        }
        let body = file
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("no backup header"))?;
        let (digest, body) = body.split_at_checked(32).ok_or_else(|| bad("truncated"))?;
        if <sha2::Sha256 as sha2::Digest>::digest(body)[..] != *digest {
            return Err(bad("damaged: its contents do not match their digest"));
        }
        // The KDF cost is bounded as it is parsed (KdfParams::MAX): a swapped header cannot
        // make this run for weeks.
        let sealed = Sealed::from_bytes(body).map_err(|e| bad(&format!("damaged ({e})")))?;
        let blob = sealed.open(passphrase, AAD).map_err(|e| match e {
            tuaton_common::Error::WrongSecret => IssuerError::WrongPassphrase,
            _ => bad("damaged"),
        })?;
        let mut rest = blob.expose();
        let mut trees = Vec::new();
        while !rest.is_empty() {
            let name = take_lp(&mut rest).ok_or_else(|| bad("truncated"))?.to_vec();
            let n = u64::from_be_bytes(
                take(&mut rest, 8)
                    .ok_or_else(|| bad("truncated"))?
                    .try_into()
                    .expect("8"),
            );
            let mut kv = Vec::new();
            for _ in 0..n {
                let k = take_lp(&mut rest).ok_or_else(|| bad("truncated"))?.to_vec();
                let v = take_lp(&mut rest).ok_or_else(|| bad("truncated"))?.to_vec();
                kv.push((k, v));
            }
            trees.push((name, kv));
        }
        tuaton_store::create(&SledStore::path(home), |db| -> Result<()> {
            for (name, kv) in &trees {
                let t = db.open_tree(name)?;
                let mut b = sled::Batch::default();
                for (k, v) in kv {
                    b.insert(k.as_slice(), v.as_slice());
                }
                t.apply_batch(b)?;
            }
            Ok(())
        })?;
        let opened = Issuer::open_sled(home).and_then(|mut i| {
            pollster::block_on(
                i.unlock(KeySource::Passphrase(Zeroizing::new(passphrase.to_vec()))),
            )?;
            Ok(i)
        });
        match opened {
            Ok(i) => Ok(i),
            Err(e) => {
                // Not a whole issuer after all: leave nothing behind.
                let _ = std::fs::remove_dir_all(SledStore::path(home));
                Err(e)
            }
        }
    }
}
