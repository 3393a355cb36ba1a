//! Publishing the trust bundle as static files: consistent snapshots, the index last,
//! old generations collected.

use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tuaton_common::status::{self, Bitset};
use tuaton_common::trust::{ListedIssuer, SignedTrustList, StatusPin, TrustList};
use tuaton_common::w3c;

use crate::store::*;
use crate::{core, Issuer, IssuerError, Result};

impl Issuer {
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

/// Writes a public bundle file atomically: a temporary file with an unpredictable name,
/// created exclusively (`O_EXCL`, so a planted symlink or file is never followed or
/// reused), synced, made world-readable (a web server serves it), then renamed over the
/// target.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
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
