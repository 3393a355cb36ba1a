//! Publishing the trust bundle as static files: consistent snapshots, the index last,
//! old generations collected.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tuaton_common::signer::KeySigner;
use tuaton_common::status::{self, Bitset};
use tuaton_common::trust::SignedRoot;
use tuaton_common::trust::{ListedIssuer, SignedTrustList, StatusPin, TrustList};
use tuaton_common::w3c;

use crate::{core, IssuerError, Result};

/// Everything a bundle is made from, read from whichever store holds the issuer.
pub(crate) struct BundleInput<'a> {
    /// Every root version with its signed bytes.
    pub(crate) roots: Vec<(u64, Vec<u8>)>,
    /// The current root.
    pub(crate) root: &'a SignedRoot,
    /// A threshold of the current root's keys.
    pub(crate) root_signers: Vec<&'a dyn KeySigner>,
    /// The active signing key (it signs the status lists).
    pub(crate) status_signer: &'a dyn KeySigner,
    pub(crate) issuer: u32,
    pub(crate) name: String,
    pub(crate) keys: Vec<tuaton_common::trust::IssuerKey>,
    /// Entries per status list.
    pub(crate) size: u64,
    /// Lists that have an issued credential.
    pub(crate) lists: std::collections::BTreeSet<u32>,
    /// Revoked (list, index) pairs.
    pub(crate) revoked: Vec<(u32, u64)>,
    /// The trust list version, already reserved.
    pub(crate) version: u64,
    pub(crate) now: i64,
    pub(crate) expires: i64,
}

/// A bundle generation in memory: files in the order they must be written (index last).
pub struct BuiltBundle {
    /// (bundle-relative path, bytes), `index.json` last.
    pub files: Vec<(String, Vec<u8>)>,
    /// What was built.
    pub report: PublishReport,
}

/// Signs one bundle generation: status lists, the trust list, the index.
pub(crate) fn build_bundle(i: &BundleInput<'_>) -> Result<BuiltBundle> {
    let mut files = vec![];
    for (ver, bytes) in &i.roots {
        files.push((format!("root/{ver}.cbor"), bytes.clone()));
    }
    let mut lists: BTreeMap<u32, Bitset> =
        i.lists.iter().map(|l| (*l, Bitset::new(i.size))).collect();
    lists.entry(0).or_insert_with(|| Bitset::new(i.size));
    for (list, index) in &i.revoked {
        lists
            .entry(*list)
            .or_insert_with(|| Bitset::new(i.size))
            .set(*index);
    }
    // Consistent snapshots (as TUF's): status lists are named by their content and the
    // trust list by its version, so no published file is ever replaced; index.json is
    // written last and names one whole generation. A reader (a gate, a CDN) at any
    // moment, or after a crash at any point, sees the old generation or the new one.
    let mut pins = vec![];
    for (list, bits) in &lists {
        let json = status::sign_list(bits, i.issuer, *list, i.status_signer, i.now, i.expires)
            .map_err(core)?;
        let sha: [u8; 32] = Sha256::digest(json.as_bytes()).into();
        let file = format!("{}-{list}.{}.json", i.issuer, hex::encode(&sha[..16]));
        files.push((tuaton_common::bundle::status_path(&file), json.into_bytes()));
        pins.push(StatusPin {
            issuer: i.issuer,
            list: *list,
            size: i.size,
            sha256: sha,
            file,
        });
    }
    files.push((
        "contexts/tuaton-v1.jsonld".into(),
        w3c::CONTEXT_DOCUMENT.as_bytes().to_vec(),
    ));
    let status_files: Vec<String> = pins
        .iter()
        .map(|p| tuaton_common::bundle::status_path(&p.file))
        .collect();
    let list = TrustList {
        version: i.version,
        root_version: i.root.root.version,
        issued_at: i.now,
        expires: i.expires,
        issuers: vec![ListedIssuer {
            id: i.issuer,
            name: i.name.clone(),
            keys: i.keys.clone(),
        }],
        status: pins,
    };
    let signed = SignedTrustList::sign_with(list, &i.root_signers).map_err(core)?;
    let tl_name = format!("trust-list/{}.cbor", i.version);
    files.push((tl_name.clone(), signed.signed.to_bytes()));
    let index = tuaton_common::bundle::Index {
        format: tuaton_common::bundle::FORMAT.into(),
        roots: i
            .roots
            .iter()
            .map(|(v, _)| format!("root/{v}.cbor"))
            .collect(),
        trust_list: tl_name,
        status: status_files,
        context: "contexts/tuaton-v1.jsonld".into(),
        trust_list_version: i.version,
        root_version: i.root.root.version,
        expires: i.expires,
    };
    let index_bytes = serde_json::to_vec_pretty(&index).expect("json");
    // Each generation's index is kept too, so collection knows what is still in use.
    files.push((format!("index/{}.json", i.version), index_bytes.clone()));
    files.push((tuaton_common::bundle::INDEX.into(), index_bytes));
    Ok(BuiltBundle {
        report: PublishReport {
            trust_list_version: i.version,
            root_version: i.root.root.version,
            root_fingerprint: i.root.root.fingerprint(),
            status_lists: lists.len(),
            revoked: i.revoked.len(),
            expires: i.expires,
        },
        files,
    })
}

/// Writes a generation to `out` in order (each file atomically, the index last), then
/// collects generations no kept index names.
pub fn write_bundle(out: &Path, built: &BuiltBundle) -> Result<()> {
    for d in ["root", "status", "contexts", "trust-list", "index"] {
        std::fs::create_dir_all(out.join(d)).map_err(|source| IssuerError::Io {
            path: out.join(d),
            source,
        })?;
    }
    // The bundle is public: readable by the web server whatever this process's umask.
    for d in ["", "root", "status", "contexts", "trust-list", "index"].map(|d| out.join(d)) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).map_err(|source| {
            IssuerError::Io {
                path: d.clone(),
                source,
            }
        })?;
    }
    for (rel, bytes) in &built.files {
        write_atomic(&out.join(rel), bytes)?;
    }
    tuaton_store::sync_dir(out)?;
    collect_old_generations(out, KEEP_GENERATIONS)
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
