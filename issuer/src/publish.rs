//! Publishing the trust bundle as static files: consistent snapshots, the index last,
//! old generations collected.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::path::Path;
use tuaton_common::signer::KeySigner;
use tuaton_common::status::{self, Bitset};
use tuaton_common::trust::SignedRoot;
use tuaton_common::trust::{AnchorRole, ListedIssuer, SignedTrustList, StatusPin, TrustList};
use tuaton_common::w3c;

use crate::{core_error, IssuerError, Result};

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
    /// The issuer's DID: the status lists' issuer, and the DID document's subject.
    pub(crate) did: String,
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
    /// The mdoc form's IACA certificates (DER), oldest first; empty for an issuer without.
    pub(crate) iacas: Vec<Vec<u8>>,
    /// Reader CA certificates (DER), oldest first.
    pub(crate) reader_cas: Vec<Vec<u8>>,
    /// Each CA's revocation list: (bundle file name, DER).
    pub(crate) crls: Vec<(String, Vec<u8>)>,
    /// SHA-256 of each revoked reader certificate not yet expired.
    pub(crate) revoked_certificates: Vec<[u8; 32]>,
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
        let json = status::sign_list(
            bits,
            i.issuer,
            &i.did,
            *list,
            i.status_signer,
            i.now,
            i.expires,
        )
        .map_err(core_error)?;
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
    // The issuer's DID document, for verifiers that resolve the W3C form's issuer (its
    // did:web) from the bundle: every key not revoked, as the trust list names them. It
    // says nothing the trust list does not; a tuaton gate reads the trust list.
    let live: Vec<_> = i
        .keys
        .iter()
        .filter(|k| !matches!(k.state, tuaton_common::trust::KeyState::Revoked { .. }))
        .map(|k| k.public)
        .collect();
    files.push((
        tuaton_common::bundle::DID_DOCUMENT.into(),
        serde_json::to_vec_pretty(&w3c::did_document(&i.did, &live)).expect("JSON"),
    ));
    if !i.iacas.is_empty() {
        let pem: String = i
            .iacas
            .iter()
            .map(|c| tuaton_common::mdoc::x509::pem(c))
            .collect();
        files.push((
            tuaton_common::bundle::IACA_CERTIFICATES.into(),
            pem.into_bytes(),
        ));
    }
    if !i.reader_cas.is_empty() {
        let pem: String = i
            .reader_cas
            .iter()
            .map(|c| tuaton_common::mdoc::x509::pem(c))
            .collect();
        files.push((
            tuaton_common::bundle::READER_CA_CERTIFICATES.into(),
            pem.into_bytes(),
        ));
    }
    for (file, der) in &i.crls {
        files.push((file.clone(), der.clone()));
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
            did: Some(i.did.clone()),
        }],
        status: pins,
        // The mdoc CAs ride in the signed list, so gates and wallets take them with the
        // root's signature; iaca.pem and reader-ca.pem stay for other readers.
        anchors: i
            .iacas
            .iter()
            .map(|c| (AnchorRole::Iaca, c))
            .chain(i.reader_cas.iter().map(|c| (AnchorRole::ReaderCa, c)))
            .map(|(role, c)| {
                Ok(tuaton_common::trust::MdocAnchor {
                    issuer: i.issuer,
                    role,
                    certificate: tuaton_common::mdoc::Iaca::from_der(c).map_err(core_error)?,
                })
            })
            .collect::<Result<_>>()?,
        revoked_certificates: i.revoked_certificates.clone(),
    };
    // What gates and wallets would refuse is never published.
    if list.anchors.len() > tuaton_common::trust::MAX_ANCHORS
        || list.revoked_certificates.len() > tuaton_common::trust::MAX_REVOKED_CERTIFICATES
    {
        return Err(IssuerError::Usage(format!(
            "the trust list would carry {} mdoc certificates and {} revoked ones, more than gates read ({} and {})",
            list.anchors.len(),
            list.revoked_certificates.len(),
            tuaton_common::trust::MAX_ANCHORS,
            tuaton_common::trust::MAX_REVOKED_CERTIFICATES
        )));
    }
    let signed = SignedTrustList::sign_with(list, &i.root_signers).map_err(core_error)?;
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

/// The directories of a bundle, one level below `out`.
const SUBDIRS: [&str; 5] = ["root", "status", "contexts", "trust-list", "index"];

fn errno(path: &Path) -> impl Fn(rustix::io::Errno) -> IssuerError + '_ {
    move |e| IssuerError::Io {
        path: path.into(),
        source: std::io::Error::from(e),
    }
}

/// Opens `name` below `dir` as a directory, making it if absent, never through a symbolic
/// link (`O_NOFOLLOW`): a link planted there is refused, not written through.
fn subdir(dir: &OwnedFd, name: &str, shown: &Path) -> Result<(OwnedFd, bool)> {
    use rustix::fs::{mkdirat, openat, Mode, OFlags};
    let created = match mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) => true,
        Err(rustix::io::Errno::EXIST) => false,
        Err(e) => return Err(errno(shown)(e)),
    };
    openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => IssuerError::Io {
            path: shown.into(),
            source: std::io::Error::other(
                "is a symbolic link or not a directory; publish writes only into real directories below --out",
            ),
        },
        e => errno(shown)(e),
    })
    .map(|fd| (fd, created))
}

/// Writes a generation to `out` in order (each file atomically, the index last), then
/// collects generations no kept index names. `out` itself is the directory the operator
/// named; below it every open is relative to a directory descriptor and never follows a
/// symbolic link, and only regular files of bundle generations are ever removed.
pub fn write_bundle(out: &Path, built: &BuiltBundle) -> Result<()> {
    use rustix::fs::{fchmod, fsync, openat, Mode, OFlags, CWD};
    let created = !out.exists();
    std::fs::create_dir_all(out).map_err(|source| IssuerError::Io {
        path: out.into(),
        source,
    })?;
    let root = openat(
        CWD,
        out,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno(out))?;
    // The bundle is public: readable by the web server whatever this process's umask.
    // Only directories this publish made are given that mode; an existing one keeps the
    // mode its owner chose.
    if created {
        fchmod(&root, Mode::from_raw_mode(0o755)).map_err(errno(out))?;
    }
    let mut dirs = std::collections::HashMap::new();
    for d in SUBDIRS {
        let shown = out.join(d);
        let (fd, made) = subdir(&root, d, &shown)?;
        if made {
            fchmod(&fd, Mode::from_raw_mode(0o755)).map_err(errno(&shown))?;
        }
        dirs.insert(d, fd);
    }
    for (rel, bytes) in &built.files {
        let (dir, name) = match rel.split_once('/') {
            Some((d, n)) => (
                dirs.get(d).ok_or_else(|| IssuerError::Io {
                    path: out.join(rel),
                    source: std::io::Error::other("not a bundle directory"),
                })?,
                n,
            ),
            None => (&root, rel.as_str()),
        };
        write_at(dir, name, bytes, &out.join(rel))?;
    }
    for (d, fd) in &dirs {
        fsync(fd).map_err(errno(&out.join(d)))?;
    }
    fsync(&root).map_err(errno(out))?;
    collect_old_generations(
        out,
        &dirs,
        KEEP_GENERATIONS,
        built.report.trust_list_version,
    )
}

/// Writes a public bundle file atomically below `dir`: a temporary file with an
/// unpredictable name, created exclusively and without following links, synced, made
/// world-readable (a web server serves it), then renamed over `name` (a rename replaces a
/// link itself, never what it points to).
fn write_at(dir: &OwnedFd, name: &str, bytes: &[u8], shown: &Path) -> Result<()> {
    use rustix::fs::{fchmod, openat, renameat, unlinkat, AtFlags, Mode, OFlags};
    use std::io::Write;
    let tmp = format!(".tuaton-{}.tmp", hex::encode(rand::random::<[u8; 8]>()));
    let fd = openat(
        dir,
        tmp.as_str(),
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o644),
    )
    .map_err(errno(shown))?;
    let mut f = std::fs::File::from(fd);
    let written = f
        .write_all(bytes)
        .and_then(|()| fchmod(&f, Mode::from_raw_mode(0o644)).map_err(Into::into))
        .and_then(|()| f.sync_all())
        .map_err(|source| IssuerError::Io {
            path: shown.into(),
            source,
        })
        .and_then(|()| renameat(dir, tmp.as_str(), dir, name).map_err(errno(shown)));
    if written.is_err() {
        let _ = unlinkat(dir, tmp.as_str(), AtFlags::empty());
    }
    written
}

/// The regular files directly in `dir` (links and anything else are left alone).
fn regular_files(dir: &OwnedFd, shown: &Path) -> Result<Vec<String>> {
    let mut out = vec![];
    for e in rustix::fs::Dir::read_from(dir).map_err(errno(shown))? {
        let e = e.map_err(errno(shown))?;
        if e.file_type() == rustix::fs::FileType::RegularFile {
            if let Ok(n) = e.file_name().to_str() {
                out.push(n.to_owned());
            }
        }
    }
    Ok(out)
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
/// generations' indexes name: only regular files, only in the bundle's own directories
/// (opened without following links), never anything of another layout.
fn collect_old_generations(
    out: &Path,
    dirs: &std::collections::HashMap<&str, OwnedFd>,
    keep: usize,
    current: u64,
) -> Result<()> {
    use rustix::fs::{openat, unlinkat, AtFlags, Mode, OFlags};
    let index_dir = &dirs["index"];
    let shown = out.join("index");
    let mut versions: Vec<u64> = regular_files(index_dir, &shown)?
        .iter()
        .filter_map(|n| n.strip_suffix(".json")?.parse().ok())
        .collect();
    // The generation just written is always kept, whatever else the directory holds
    // (higher versions left by another issuer publishing here, say).
    versions.retain(|v| *v != current);
    versions.sort_unstable();
    let (old, kept) = versions.split_at(versions.len().saturating_sub(keep.saturating_sub(1)));
    let kept: Vec<u64> = kept.iter().copied().chain([current]).collect();
    let mut live = std::collections::HashSet::new();
    for v in &kept {
        let name = format!("{v}.json");
        let fd = openat(
            index_dir,
            name.as_str(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno(&shown))?;
        let mut bytes = vec![];
        std::io::Read::read_to_end(
            &mut std::io::Read::take(std::fs::File::from(fd), 1 << 20),
            &mut bytes,
        )
        .map_err(|source| IssuerError::Io {
            path: shown.join(&name),
            source,
        })?;
        if let Ok(i) = tuaton_common::bundle::Index::parse(&bytes) {
            live.insert(i.trust_list);
            live.extend(i.status);
        }
    }
    for sub in ["trust-list", "status"] {
        let shown = out.join(sub);
        for name in regular_files(&dirs[sub], &shown)? {
            if !live.contains(&format!("{sub}/{name}")) && !name.starts_with('.') {
                unlinkat(&dirs[sub], name.as_str(), AtFlags::empty()).map_err(errno(&shown))?;
            }
        }
    }
    for v in old {
        unlinkat(index_dir, format!("{v}.json").as_str(), AtFlags::empty())
            .map_err(errno(&shown))?;
    }
    Ok(())
}
