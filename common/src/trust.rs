//! Trust data, modelled on TUF and ICAO's CSCA/DSC: a root document (keys, threshold,
//! version, expiry) that can only move forward along a chain of signed successors, and
//! a root-signed trust list of issuers, their signing keys with windows and states, and
//! the digests of the status lists (so a bundle's parts cannot be mixed and matched).
//!
//! Everything here is pure: bytes and `now` in, a checked [`TrustState`] or an
//! [`Error`] out. See docs/TRUST.md.

use crate::cbor::{self, err, u};
use crate::error::{Error, Result};
use crate::signer::KeySigner;
use ciborium::Value;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Where a signing key is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyState {
    /// Signing now.
    Active,
    /// No longer signs; what it signed inside its window still verifies.
    Retired,
    /// Compromised at the given Unix time: nothing it signed verifies.
    Revoked {
        /// When it was revoked.
        at: i64,
    },
}

impl KeyState {
    /// "active", "retired" or "revoked".
    pub fn name(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Revoked { .. } => "revoked",
        }
    }
}

/// The key id of an issuer signing key: the first 4 bytes of SHA-256 of the public key
/// (docs/FORMAT.md). Collisions are allowed (a gate tries every key under a kid), and 4
/// bytes keep the QR small.
pub fn kid_of(key: &VerifyingKey) -> Vec<u8> {
    Sha256::digest(key.as_bytes())[..4].to_vec()
}

/// One issuer signing key as the trust list states it.
#[derive(Clone, Debug, PartialEq)]
pub struct IssuerKey {
    /// The issuer's number (the gate form's `issuer`).
    pub issuer: u32,
    /// Key id. Several keys may share one: the engine tries each.
    pub kid: Vec<u8>,
    /// The Ed25519 public key.
    pub public: VerifyingKey,
    /// Start of the signing window, Unix seconds.
    pub not_before: i64,
    /// End of the signing window, inclusive: the second the key was retired may still have
    /// issued with it (timestamps are whole seconds). `None` while the key is active.
    pub not_after: Option<i64>,
    /// State.
    pub state: KeyState,
}

impl IssuerKey {
    /// Whether a credential issued at `t` falls inside this key's signing window.
    pub fn window_contains(&self, t: i64) -> bool {
        t >= self.not_before && self.not_after.is_none_or(|end| t <= end)
    }
}

/// An issuer the gate trusts.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustedIssuer {
    /// Its number.
    pub id: u32,
    /// Display name, e.g. "DOPA Bangkok".
    pub name: String,
    /// Its DID in the W3C form (a did:web); `None` in trust lists made before issuers had
    /// one, whose W3C forms name the signing key's did:key.
    pub did: Option<String>,
}

/// Everything the verify engine needs to know about whom to trust.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrustStore {
    /// Trusted issuers.
    pub issuers: Vec<TrustedIssuer>,
    /// Their keys.
    pub keys: Vec<IssuerKey>,
    /// When this trust data stops being current (Unix seconds); past it, verdicts carry
    /// the `trust_stale` warning.
    pub expires: Option<i64>,
    /// The IACA certificates the trust list pins (mdoc issuers' roots), by issuer number:
    /// what an ISO 18013-5 presentation's document signer must chain to.
    pub iacas: Vec<(u32, crate::mdoc::Iaca)>,
    /// The reader CA certificates the trust list pins: whose reader certificates a
    /// wallet answers, and which a gate's own reader certificate must chain to.
    pub reader_cas: Vec<(u32, crate::mdoc::Iaca)>,
    /// SHA-256 of the TBSCertificate of each revoked mdoc certificate not yet expired: a
    /// reader certificate no wallet answers and no gate uses, a document signer whose
    /// mdocs no gate accepts.
    pub revoked_certificates: Vec<[u8; 32]>,
    /// The issuer keys' precomputed tables for the gate's batch, built at a key's first
    /// scan and kept (a cache: not part of what is trusted, and equal in every copy).
    pub tables: crate::batch::KeyTables,
}

impl TrustStore {
    /// Keys of `issuer` with this kid.
    pub fn keys_for<'a>(
        &'a self,
        issuer: u32,
        kid: &'a [u8],
    ) -> impl Iterator<Item = &'a IssuerKey> + 'a {
        self.keys
            .iter()
            .filter(move |k| k.issuer == issuer && k.kid == kid)
    }
    /// The IACA certificates alone, for [`crate::mdoc::verify`].
    pub fn iaca_list(&self) -> Vec<crate::mdoc::Iaca> {
        self.iacas.iter().map(|(_, c)| c.clone()).collect()
    }
    /// The reader CA certificates alone.
    pub fn reader_ca_list(&self) -> Vec<crate::mdoc::Iaca> {
        self.reader_cas.iter().map(|(_, c)| c.clone()).collect()
    }
    /// The issuer's display name.
    pub fn issuer_name(&self, id: u32) -> Option<&str> {
        self.issuers
            .iter()
            .find(|i| i.id == id)
            .map(|i| i.name.as_str())
    }
}

/// The bytes a root or trust-list signature covers: domain tag, then the document bytes.
fn signing_input(tag: &[u8], doc: &[u8]) -> Vec<u8> {
    crate::lp::length_prefixed([tag, doc])
}

const ROOT_TAG: &[u8] = b"tuaton root v1";
const TRUST_LIST_TAG: &[u8] = b"tuaton trust list v1";

/// A document signed by several keys: `[doc: bstr, [* [public key: bstr32, sig: bstr64]]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct MultiSigned {
    /// The exact document bytes.
    pub doc: Vec<u8>,
    /// (public key, signature) pairs.
    pub sigs: Vec<([u8; 32], [u8; 64])>,
}

impl MultiSigned {
    fn sign(tag: &[u8], doc: Vec<u8>, keys: &[&SigningKey]) -> Self {
        let input = signing_input(tag, &doc);
        let sigs = keys
            .iter()
            .map(|k| (k.verifying_key().to_bytes(), k.sign(&input).to_bytes()))
            .collect();
        MultiSigned { doc, sigs }
    }

    fn sign_with(tag: &[u8], doc: Vec<u8>, keys: &[&dyn KeySigner]) -> Result<Self> {
        let input = signing_input(tag, &doc);
        let mut sigs = Vec::with_capacity(keys.len());
        for k in keys {
            sigs.push((
                k.public_key().to_bytes(),
                crate::signer::sign_checked(*k, &input)?,
            ));
        }
        Ok(MultiSigned { doc, sigs })
    }

    /// Encodes to CBOR.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&Value::Array(vec![
            Value::Bytes(self.doc.clone()),
            Value::Array(
                self.sigs
                    .iter()
                    .map(|(k, s)| {
                        Value::Array(vec![Value::Bytes(k.to_vec()), Value::Bytes(s.to_vec())])
                    })
                    .collect(),
            ),
        ]))
    }

    /// Decodes CBOR.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let a = cbor::array(cbor::decode(b)?, "signed document")?;
        let [doc, sigs]: [Value; 2] = a
            .try_into()
            .map_err(|_| err("signed document: expected 2 items"))?;
        let sigs = cbor::array(sigs, "signatures")?
            .into_iter()
            .map(|p| {
                let [k, s]: [Value; 2] = cbor::array(p, "signature")?
                    .try_into()
                    .map_err(|_| err("signature: expected [key, sig]"))?;
                Ok((
                    cbor::fixed::<32>(k, "signer key")?,
                    cbor::fixed::<64>(s, "signature")?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(MultiSigned {
            doc: cbor::bytes(doc, "document")?,
            sigs,
        })
    }

    /// How many distinct keys of `keys` made a valid signature; signatures by other keys
    /// are ignored. Used only for a root taken as the anchor (pinned by fingerprint or on
    /// first use), whose older signers the gate has no way to check.
    fn count_valid(&self, tag: &[u8], keys: &[[u8; 32]]) -> usize {
        let input = signing_input(tag, &self.doc);
        let mut seen: Vec<[u8; 32]> = Vec::new();
        for (k, s) in &self.sigs {
            if !keys.contains(k) || seen.contains(k) {
                continue;
            }
            if verify_one(k, &input, s) {
                seen.push(*k);
            }
        }
        seen.len()
    }

    /// Checks every signature strictly: each must be a valid signature by one of
    /// `allowed`, each key at most once. Returns the keys that signed. A signature by any
    /// other key is refused rather than skipped: a document that carries an attacker's
    /// signature beside the real ones would otherwise verify under both roots, and so
    /// could be used to walk a gate from the real root to a forged one.
    fn strict_signers(
        &self,
        tag: &[u8],
        allowed: &[[u8; 32]],
        what: &str,
    ) -> Result<Vec<[u8; 32]>> {
        let input = signing_input(tag, &self.doc);
        let mut seen: Vec<[u8; 32]> = Vec::new();
        for (k, s) in &self.sigs {
            if !allowed.contains(k) || seen.contains(k) || !verify_one(k, &input, s) {
                return Err(Error::ForeignSignature(what.to_owned()));
            }
            seen.push(*k);
        }
        Ok(seen)
    }
}

fn verify_one(k: &[u8; 32], input: &[u8], s: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(k)
        .map(|vk| !vk.is_weak() && vk.verify_strict(input, &Signature::from_bytes(s)).is_ok())
        .unwrap_or(false)
}

/// A root document: who may sign trust lists and the next root.
#[derive(Clone, Debug, PartialEq)]
pub struct Root {
    /// Starts at 1, grows by exactly 1 per rotation.
    pub version: u64,
    /// After this (Unix seconds) the root is stale (freeze protection).
    pub expires: i64,
    /// How many of `keys` must sign.
    pub threshold: u8,
    /// Ed25519 public keys.
    pub keys: Vec<[u8; 32]>,
}

impl Root {
    fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&Value::Map(vec![
            (u(1u8), u(self.version)),
            (u(2u8), cbor::i(self.expires)),
            (u(3u8), u(self.threshold)),
            (
                u(4u8),
                Value::Array(self.keys.iter().map(|k| Value::Bytes(k.to_vec())).collect()),
            ),
        ]))
    }

    fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut version = None;
        let mut expires = None;
        let mut threshold = None;
        let mut keys = None;
        for (k, v) in cbor::int_map(cbor::decode(b)?, "root")? {
            match k {
                1 => version = Some(cbor::uint(&v, "root version")?),
                2 => expires = Some(cbor::int(&v, "root expires")?),
                3 => {
                    threshold = Some(
                        u8::try_from(cbor::uint(&v, "threshold")?)
                            .map_err(|_| err("threshold too large"))?,
                    )
                }
                4 => {
                    keys = Some(
                        cbor::array(v, "root keys")?
                            .into_iter()
                            .map(|k| cbor::fixed::<32>(k, "root key"))
                            .collect::<Result<Vec<_>>>()?,
                    )
                }
                _ => return Err(err(format!("root: unknown key {k}"))),
            }
        }
        let r = Root {
            version: version.ok_or_else(|| err("root: version missing"))?,
            expires: expires.ok_or_else(|| err("root: expires missing"))?,
            threshold: threshold.ok_or_else(|| err("root: threshold missing"))?,
            keys: keys.ok_or_else(|| err("root: keys missing"))?,
        };
        if r.threshold == 0 || usize::from(r.threshold) > r.keys.len() {
            return Err(err(
                "root: threshold must be between 1 and the number of keys",
            ));
        }
        Ok(r)
    }

    /// The root fingerprint (docs/FORMAT.md, "Root fingerprint"): SHA-256 over the
    /// length-prefixed tag `tuaton root fingerprint v1`, the threshold as one byte, the
    /// number of keys as one byte, then every key's 32 bytes in the order the root lists
    /// them. It covers every key and the threshold, so a root with one key swapped or a
    /// lower threshold has another fingerprint.
    pub fn fingerprint_bytes(&self) -> [u8; 32] {
        let mut m = crate::lp::length_prefixed([FINGERPRINT_TAG]);
        m.push(self.threshold);
        m.push(u8::try_from(self.keys.len()).unwrap_or(u8::MAX));
        for k in &self.keys {
            m.extend_from_slice(k);
        }
        Sha256::digest(&m).into()
    }

    /// The fingerprint as 64 lower-case hex digits, as `tuaton-issuer keys` prints it.
    pub fn fingerprint(&self) -> String {
        hex::encode(self.fingerprint_bytes())
    }
}

const FINGERPRINT_TAG: &[u8] = b"tuaton root fingerprint v1";

/// Parses a root fingerprint as an operator types it: 64 hex digits, upper or lower case,
/// optionally grouped with spaces, colons or dashes.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32]> {
    let digits: String = s
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | '-'))
        .collect();
    let bytes = hex::decode(digits.to_ascii_lowercase()).map_err(|_| Error::BadFingerprint)?;
    bytes.try_into().map_err(|_| Error::BadFingerprint)
}

/// A root with its signatures, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedRoot {
    /// The root.
    pub root: Root,
    /// Exact signed bytes.
    pub signed: MultiSigned,
}

impl SignedRoot {
    /// Signs `root` with `keys` (the issuer side).
    pub fn sign(root: Root, keys: &[&SigningKey]) -> Self {
        let signed = MultiSigned::sign(ROOT_TAG, root.to_bytes(), keys);
        SignedRoot { root, signed }
    }

    /// Signs `root` with keys that may live outside this process (a PKCS#11 token).
    pub fn sign_with(root: Root, keys: &[&dyn KeySigner]) -> Result<Self> {
        let signed = MultiSigned::sign_with(ROOT_TAG, root.to_bytes(), keys)?;
        Ok(SignedRoot { root, signed })
    }

    /// Parses a signed root and checks it is signed by a threshold of its own keys (what
    /// makes a first root acceptable; the operator compares its fingerprint).
    pub fn from_bytes_self_signed(b: &[u8]) -> Result<Self> {
        let signed = MultiSigned::from_bytes(b).map_err(|e| Error::Trust(format!("root: {e}")))?;
        let root = Root::from_bytes(&signed.doc).map_err(|e| Error::Trust(format!("root: {e}")))?;
        let got = signed.count_valid(ROOT_TAG, &root.keys);
        if got < usize::from(root.threshold) {
            return Err(Error::Threshold {
                what: format!("root version {}", root.version),
                got,
                need: root.threshold.into(),
            });
        }
        Ok(SignedRoot { root, signed })
    }

    /// Parses a signed root without checking any signature (to read its version).
    fn peek(b: &[u8]) -> Result<(Root, MultiSigned)> {
        let signed = MultiSigned::from_bytes(b).map_err(|e| Error::Trust(format!("root: {e}")))?;
        let root = Root::from_bytes(&signed.doc).map_err(|e| Error::Trust(format!("root: {e}")))?;
        Ok((root, signed))
    }

    /// Accepts `next` as the successor of `self`: version exactly one higher, signed by a
    /// threshold of this root's keys and a threshold of its own, and by no other key.
    pub fn verify_successor(&self, next_bytes: &[u8]) -> Result<SignedRoot> {
        let (root, signed) = Self::peek(next_bytes)?;
        if root.version <= self.root.version {
            return Err(Error::Rollback {
                what: "root",
                offered: root.version,
                trusted: self.root.version,
            });
        }
        if root.version != self.root.version + 1 {
            return Err(Error::ChainGap {
                expected: self.root.version + 1,
                found: root.version,
            });
        }
        let mut allowed = self.root.keys.clone();
        allowed.extend_from_slice(&root.keys);
        let signers = signed.strict_signers(
            ROOT_TAG,
            &allowed,
            &format!("root version {}", root.version),
        )?;
        for (keys, threshold, by) in [
            (&self.root.keys, self.root.threshold, self.root.version),
            (&root.keys, root.threshold, root.version),
        ] {
            let got = signers.iter().filter(|k| keys.contains(k)).count();
            if got < usize::from(threshold) {
                return Err(Error::Threshold {
                    what: format!("root version {} by the keys of version {by}", root.version),
                    got,
                    need: threshold.into(),
                });
            }
        }
        Ok(SignedRoot { root, signed })
    }
}

/// Most roots a bundle may list: a bound on work and memory before anything is verified
/// (a root rotation is a rare ceremony; 64 covers decades).
pub const MAX_ROOTS: usize = 64;

/// Parses a bundle's roots, sorted by version. Two different documents claiming one
/// version are refused (a mirror showing two histories).
fn sorted_roots(roots: &[Vec<u8>]) -> Result<Vec<(u64, &[u8])>> {
    if roots.len() > MAX_ROOTS {
        return Err(Error::Trust(format!(
            "the bundle lists {} roots; at most {MAX_ROOTS} are accepted",
            roots.len()
        )));
    }
    let mut out: Vec<(u64, &[u8])> = Vec::new();
    for r in roots {
        let (root, _) = SignedRoot::peek(r)?;
        if let Some((_, other)) = out.iter().find(|(v, _)| *v == root.version) {
            if *other != r.as_slice() {
                return Err(Error::RootMismatch {
                    version: root.version,
                });
            }
            continue;
        }
        out.push((root.version, r));
    }
    out.sort_by_key(|(v, _)| *v);
    Ok(out)
}

/// How a gate (or a wallet) that trusts nothing yet chooses its first root.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The root whose [`Root::fingerprint_bytes`] is this, obtained out of band from the
    /// issuer (`tuaton-issuer keys`). The normal way to provision a gate.
    Pinned([u8; 32]),
    /// Whatever root the first bundle starts with (trust on first use). Only when the
    /// operator asks for it explicitly.
    TrustOnFirstUse,
}

/// What a gate trusts after a successful sync: persisted as the bytes it was built from.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustState {
    /// Every root this gate has verified, oldest first, contiguous versions: the anchor
    /// then each successor. The last is the current root.
    pub chain: Vec<SignedRoot>,
    /// The newest root reached along the chain.
    pub root: SignedRoot,
    /// The current trust list.
    pub trust_list: SignedTrustList,
}

impl TrustState {
    /// First sync: find the anchor among the bundle's roots, follow the chain from it to
    /// the newest root (which must not be expired at `now`), and accept the trust list
    /// that root signs.
    pub fn first(roots: &[Vec<u8>], trust_list: &[u8], anchor: Anchor, now: i64) -> Result<Self> {
        let sorted = sorted_roots(roots)?;
        if sorted.is_empty() {
            return Err(Error::Trust("the bundle has no root".into()));
        }
        let start = match anchor {
            Anchor::TrustOnFirstUse => 0,
            Anchor::Pinned(fp) => sorted
                .iter()
                .position(|(_, b)| {
                    SignedRoot::peek(b).is_ok_and(|(r, _)| r.fingerprint_bytes() == fp)
                })
                .ok_or(Error::UnpinnedRoot {
                    expected: hex::encode(fp),
                })?,
        };
        let anchor_root = SignedRoot::from_bytes_self_signed(sorted[start].1)?;
        let mut chain = vec![anchor_root];
        for (_, b) in &sorted[start + 1..] {
            let next = chain.last().expect("non-empty").verify_successor(b)?;
            chain.push(next);
        }
        Self::finish(chain, trust_list, now)
    }

    fn finish(chain: Vec<SignedRoot>, trust_list: &[u8], now: i64) -> Result<Self> {
        let root = chain.last().expect("non-empty chain").clone();
        if now >= root.root.expires {
            return Err(Error::RootExpired {
                version: root.root.version,
                expires: root.root.expires,
            });
        }
        let trust_list = SignedTrustList::verify(trust_list, &root)?;
        Ok(TrustState {
            chain,
            root,
            trust_list,
        })
    }

    /// A later sync: every root of the bundle at or below the trusted version must be
    /// byte for byte the one this gate holds (roots older than its anchor, which it never
    /// verified, are ignored); newer roots must chain from the trusted one. The trust list
    /// is accepted only if that root signs it and it is not older than ours. When the
    /// root's keys changed, the trust-list version floor restarts (TUF's fast-forward
    /// recovery): a version inflated with a since-removed key cannot lock out the issuer.
    pub fn update(&self, roots: &[Vec<u8>], trust_list: &[u8], now: i64) -> Result<Self> {
        let sorted = sorted_roots(roots)?;
        let oldest_held = self.chain[0].root.version;
        let mut chain = self.chain.clone();
        for (v, b) in &sorted {
            if *v < oldest_held {
                continue;
            }
            if *v <= self.root.root.version {
                let held = &self.chain[(*v - oldest_held) as usize];
                if held.signed.to_bytes() != *b {
                    return Err(Error::RootMismatch { version: *v });
                }
                continue;
            }
            let next = chain.last().expect("non-empty").verify_successor(b)?;
            chain.push(next);
        }
        let newest_offered = sorted.last().map_or(0, |(v, _)| *v);
        if newest_offered < self.root.root.version {
            return Err(Error::Rollback {
                what: "root",
                offered: newest_offered,
                trusted: self.root.root.version,
            });
        }
        let next = Self::finish(chain, trust_list, now)?;
        let keys_changed = next.root.root.keys != self.root.root.keys;
        if !keys_changed && next.trust_list.list.version < self.trust_list.list.version {
            return Err(Error::Rollback {
                what: "trust list",
                offered: next.trust_list.list.version,
                trusted: self.trust_list.list.version,
            });
        }
        Ok(next)
    }

    /// Rebuilds the state from what the gate itself stored after verifying it: the chain
    /// is re-checked from its stored anchor (never from a bundle), so a damaged store is
    /// an error, and root expiry is not re-judged (it shows as `trust_stale`).
    pub fn reload(chain: &[Vec<u8>], trust_list: &[u8]) -> Result<Self> {
        let (first, rest) = chain
            .split_first()
            .ok_or_else(|| Error::Trust("stored chain is empty".into()))?;
        let mut out = vec![SignedRoot::from_bytes_self_signed(first)?];
        for b in rest {
            let next = out.last().expect("non-empty").verify_successor(b)?;
            out.push(next);
        }
        let root = out.last().expect("non-empty").clone();
        let trust_list = SignedTrustList::verify(trust_list, &root)?;
        Ok(TrustState {
            chain: out,
            root,
            trust_list,
        })
    }

    /// The exact bytes of every root in the chain, oldest first (what a gate stores).
    pub fn chain_bytes(&self) -> Vec<Vec<u8>> {
        self.chain.iter().map(|r| r.signed.to_bytes()).collect()
    }

    /// The engine's view: the trust list's issuers and keys; stale once either the trust
    /// list or the current root has expired, whichever comes first.
    pub fn to_store(&self) -> TrustStore {
        let mut s = self.trust_list.list.to_store();
        s.expires = Some(self.trust_list.list.expires.min(self.root.root.expires));
        s
    }

    /// Whether a root with this fingerprint is in the verified chain.
    pub fn chain_has(&self, fp: &[u8; 32]) -> bool {
        self.chain.iter().any(|r| r.root.fingerprint_bytes() == *fp)
    }
}

/// A status list the trust list pins: which file, how long, and its SHA-256.
#[derive(Clone, Debug, PartialEq)]
pub struct StatusPin {
    /// Issuer number.
    pub issuer: u32,
    /// List number.
    pub list: u32,
    /// Number of entries.
    pub size: u64,
    /// SHA-256 of the file's bytes.
    pub sha256: [u8; 32],
    /// File name inside the bundle's `status/` folder.
    pub file: String,
}

/// What an mdoc certificate the trust list carries is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorRole {
    /// An IACA root: document signers of the issuer's mdocs chain to it (code 1).
    Iaca,
    /// A reader CA: reader certificates of gates chain to it (code 2).
    ReaderCa,
}

/// An X.509 CA certificate of the mdoc form, carried whole in the signed trust list so a
/// gate or a wallet takes it with the root's signature, never from an unsigned file.
#[derive(Clone, Debug, PartialEq)]
pub struct MdocAnchor {
    /// The issuer that made it.
    pub issuer: u32,
    /// IACA or reader CA.
    pub role: AnchorRole,
    /// The certificate, parsed once (its DER is what the list carries).
    pub certificate: crate::mdoc::Iaca,
}

/// The most revoked mdoc certificates one trust list names (each stays listed only until
/// a day after it expires).
pub const MAX_REVOKED_CERTIFICATES: usize = 16_384;
/// The most mdoc certificates one trust list carries (each at most 8 KiB).
pub const MAX_ANCHORS: usize = 256;
const MAX_ANCHOR_LEN: usize = 8 * 1024;

/// An issuer as the trust list lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct ListedIssuer {
    /// Number.
    pub id: u32,
    /// Display name.
    pub name: String,
    /// Keys.
    pub keys: Vec<IssuerKey>,
    /// Its DID in the W3C form, signed with the rest (see [`TrustedIssuer::did`]).
    pub did: Option<String>,
}

/// The trust list: issuers, keys, status pins; signed by the root.
#[derive(Clone, Debug, PartialEq)]
pub struct TrustList {
    /// Grows with every publication.
    pub version: u64,
    /// The root version whose keys sign this list.
    pub root_version: u64,
    /// When it was published (Unix seconds).
    pub issued_at: i64,
    /// When gates should consider it stale.
    pub expires: i64,
    /// Issuers and their keys.
    pub issuers: Vec<ListedIssuer>,
    /// Status lists.
    pub status: Vec<StatusPin>,
    /// The mdoc form's CA certificates (IACAs and reader CAs); empty in trust lists made
    /// before the trust list carried them (key 7 is then absent).
    pub anchors: Vec<MdocAnchor>,
    /// SHA-256 of the TBSCertificate of each revoked reader certificate or document
    /// signer, until a day after it expires (key 8, absent when none).
    pub revoked_certificates: Vec<[u8; 32]>,
}

fn opt_int(v: Option<i64>) -> Value {
    v.map_or(Value::Null, cbor::i)
}

impl TrustList {
    fn to_bytes(&self) -> Vec<u8> {
        let issuers = self
            .issuers
            .iter()
            .map(|i| {
                let keys = i
                    .keys
                    .iter()
                    .map(|k| {
                        let (state, at) = match k.state {
                            KeyState::Active => (0u8, None),
                            KeyState::Retired => (1, None),
                            KeyState::Revoked { at } => (2, Some(at)),
                        };
                        Value::Array(vec![
                            Value::Bytes(k.kid.clone()),
                            Value::Bytes(k.public.to_bytes().to_vec()),
                            cbor::i(k.not_before),
                            opt_int(k.not_after),
                            u(state),
                            opt_int(at),
                        ])
                    })
                    .collect();
                let mut entry = vec![u(i.id), Value::Text(i.name.clone()), Value::Array(keys)];
                if let Some(did) = &i.did {
                    entry.push(Value::Text(did.clone()));
                }
                Value::Array(entry)
            })
            .collect();
        let status = self
            .status
            .iter()
            .map(|p| {
                Value::Array(vec![
                    u(p.issuer),
                    u(p.list),
                    u(p.size),
                    Value::Bytes(p.sha256.to_vec()),
                    Value::Text(p.file.clone()),
                ])
            })
            .collect();
        let mut map = vec![
            (u(1u8), u(self.version)),
            (u(2u8), u(self.root_version)),
            (u(3u8), cbor::i(self.issued_at)),
            (u(4u8), cbor::i(self.expires)),
            (u(5u8), Value::Array(issuers)),
            (u(6u8), Value::Array(status)),
        ];
        // Absent when empty, so a trust list without mdoc certificates reads as before.
        if !self.anchors.is_empty() {
            let anchors = self
                .anchors
                .iter()
                .map(|a| {
                    Value::Array(vec![
                        u(a.issuer),
                        u(match a.role {
                            AnchorRole::Iaca => 1u8,
                            AnchorRole::ReaderCa => 2,
                        }),
                        Value::Bytes(a.certificate.der().to_vec()),
                    ])
                })
                .collect();
            map.push((u(7u8), Value::Array(anchors)));
        }
        if !self.revoked_certificates.is_empty() {
            let revoked = self
                .revoked_certificates
                .iter()
                .map(|h| Value::Bytes(h.to_vec()))
                .collect();
            map.push((u(8u8), Value::Array(revoked)));
        }
        cbor::encode(&Value::Map(map))
    }

    fn from_bytes(b: &[u8]) -> Result<Self> {
        let opt = |v: &Value, what: &str| -> Result<Option<i64>> {
            if v.is_null() {
                Ok(None)
            } else {
                cbor::int(v, what).map(Some)
            }
        };
        let mut t = TrustList {
            version: 0,
            root_version: 0,
            issued_at: 0,
            expires: 0,
            issuers: vec![],
            status: vec![],
            anchors: vec![],
            revoked_certificates: vec![],
        };
        let mut seen = 0u16;
        for (k, v) in cbor::int_map(cbor::decode(b)?, "trust list")? {
            seen |= 1 << k.min(15);
            match k {
                1 => t.version = cbor::uint(&v, "version")?,
                2 => t.root_version = cbor::uint(&v, "root version")?,
                3 => t.issued_at = cbor::int(&v, "issued at")?,
                4 => t.expires = cbor::int(&v, "expires")?,
                5 => {
                    for i in cbor::array(v, "issuers")? {
                        // [id, name, keys] or, since issuers have a DID, [.., did].
                        let mut items = cbor::array(i, "issuer")?;
                        let did = match items.len() {
                            3 => None,
                            4 => {
                                let d = cbor::text(items.pop().expect("4 items"), "issuer DID")?;
                                if !crate::did::is_issuer_did(&d) {
                                    return Err(err(
                                        "issuer: the DID is not a did:web of a host name",
                                    ));
                                }
                                Some(d)
                            }
                            _ => return Err(err("issuer: expected 3 or 4 items")),
                        };
                        let [id, name, keys]: [Value; 3] = items.try_into().expect("3 items left");
                        let id = u32::try_from(cbor::uint(&id, "issuer id")?)
                            .map_err(|_| err("issuer id too large"))?;
                        let mut out = Vec::new();
                        for k in cbor::array(keys, "keys")? {
                            let a: [Value; 6] = cbor::array(k, "key")?
                                .try_into()
                                .map_err(|_| err("key: expected 6 items"))?;
                            let [kid, public, nb, na, state, at] = a;
                            let public =
                                VerifyingKey::from_bytes(&cbor::fixed::<32>(public, "public key")?)
                                    .map_err(|_| err("key: not an Ed25519 point"))?;
                            if public.is_weak() {
                                return Err(err("key: weak Ed25519 key"));
                            }
                            let at = opt(&at, "revoked at")?;
                            out.push(IssuerKey {
                                issuer: id,
                                kid: cbor::bytes(kid, "kid")?,
                                public,
                                not_before: cbor::int(&nb, "not before")?,
                                not_after: opt(&na, "not after")?,
                                // `revoked-at` is set exactly when the state is
                                // revoked: anything else is a list we cannot read one way.
                                state: match (cbor::uint(&state, "state")?, at) {
                                    (0, None) => KeyState::Active,
                                    (1, None) => KeyState::Retired,
                                    (2, Some(at)) => KeyState::Revoked { at },
                                    (0 | 1, Some(_)) => {
                                        return Err(err("key: revoked-at set on a key not revoked"))
                                    }
                                    (2, None) => {
                                        return Err(err("key: revoked without revoked-at"))
                                    }
                                    _ => return Err(err("key: state is not 0, 1 or 2")),
                                },
                            });
                        }
                        t.issuers.push(ListedIssuer {
                            id,
                            name: cbor::text(name, "issuer name")?,
                            keys: out,
                            did,
                        });
                    }
                }
                6 => {
                    for p in cbor::array(v, "status pins")? {
                        let [issuer, list, size, sha, file]: [Value; 5] =
                            cbor::array(p, "status pin")?
                                .try_into()
                                .map_err(|_| err("status pin: expected 5 items"))?;
                        let file = cbor::text(file, "file")?;
                        // The name becomes a path on the gate: keep it a plain file name.
                        if file.is_empty()
                            || !file.bytes().all(|c| {
                                c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_'
                            })
                            || file.starts_with('.')
                        {
                            return Err(err("status pin: unsafe file name"));
                        }
                        t.status.push(StatusPin {
                            issuer: u32::try_from(cbor::uint(&issuer, "issuer")?)
                                .map_err(|_| err("issuer too large"))?,
                            list: u32::try_from(cbor::uint(&list, "list")?)
                                .map_err(|_| err("list too large"))?,
                            size: cbor::uint(&size, "size")?,
                            sha256: cbor::fixed::<32>(sha, "sha256")?,
                            file,
                        });
                    }
                }
                7 => {
                    let anchors = cbor::array(v, "mdoc certificates")?;
                    if anchors.is_empty() || anchors.len() > MAX_ANCHORS {
                        return Err(err(format!(
                            "mdoc certificates: between 1 and {MAX_ANCHORS} (absent when none)"
                        )));
                    }
                    for a in anchors {
                        let [issuer, role, cert]: [Value; 3] = cbor::array(a, "mdoc certificate")?
                            .try_into()
                            .map_err(|_| err("mdoc certificate: expected 3 items"))?;
                        let role = match cbor::uint(&role, "role")? {
                            1 => AnchorRole::Iaca,
                            2 => AnchorRole::ReaderCa,
                            _ => return Err(err("mdoc certificate: role is not 1 or 2")),
                        };
                        let certificate = cbor::bytes(cert, "certificate")?;
                        if certificate.len() > MAX_ANCHOR_LEN {
                            return Err(err("mdoc certificate: larger than 8 KiB"));
                        }
                        // A certificate a verifier could not use would silently trust
                        // nothing: the whole list is refused instead.
                        let certificate = crate::mdoc::Iaca::from_der(&certificate)
                            .map_err(|e| err(format!("mdoc certificate: {e}")))?;
                        t.anchors.push(MdocAnchor {
                            issuer: u32::try_from(cbor::uint(&issuer, "issuer")?)
                                .map_err(|_| err("issuer too large"))?,
                            role,
                            certificate,
                        });
                    }
                }
                8 => {
                    let revoked = cbor::array(v, "revoked certificates")?;
                    if revoked.is_empty() || revoked.len() > MAX_REVOKED_CERTIFICATES {
                        return Err(err(format!(
                            "revoked certificates: between 1 and {MAX_REVOKED_CERTIFICATES} (absent when none)"
                        )));
                    }
                    for h in revoked {
                        t.revoked_certificates
                            .push(cbor::fixed::<32>(h, "revoked certificate")?);
                    }
                }
                _ => return Err(err(format!("trust list: unknown key {k}"))),
            }
        }
        if seen & 0b111_1110 != 0b111_1110 {
            return Err(err("trust list: a required field is missing"));
        }
        Ok(t)
    }

    /// The engine's view of it.
    pub fn to_store(&self) -> TrustStore {
        TrustStore {
            issuers: self
                .issuers
                .iter()
                .map(|i| TrustedIssuer {
                    id: i.id,
                    name: i.name.clone(),
                    did: i.did.clone(),
                })
                .collect(),
            keys: self
                .issuers
                .iter()
                .flat_map(|i| i.keys.iter().cloned())
                .collect(),
            expires: Some(self.expires),
            iacas: self.anchors_of(AnchorRole::Iaca),
            reader_cas: self.anchors_of(AnchorRole::ReaderCa),
            revoked_certificates: self.revoked_certificates.clone(),
            tables: Default::default(),
        }
    }

    fn anchors_of(&self, role: AnchorRole) -> Vec<(u32, crate::mdoc::Iaca)> {
        self.anchors
            .iter()
            .filter(|a| a.role == role)
            .map(|a| (a.issuer, a.certificate.clone()))
            .collect()
    }
}

/// A trust list with its signatures.
#[derive(Clone, Debug, PartialEq)]
pub struct SignedTrustList {
    /// The list.
    pub list: TrustList,
    /// Exact signed bytes.
    pub signed: MultiSigned,
}

impl SignedTrustList {
    /// Signs with root keys (the issuer side).
    pub fn sign(list: TrustList, keys: &[&SigningKey]) -> Self {
        let signed = MultiSigned::sign(TRUST_LIST_TAG, list.to_bytes(), keys);
        SignedTrustList { list, signed }
    }

    /// Signs with root keys that may live outside this process (a PKCS#11 token).
    pub fn sign_with(list: TrustList, keys: &[&dyn KeySigner]) -> Result<Self> {
        let signed = MultiSigned::sign_with(TRUST_LIST_TAG, list.to_bytes(), keys)?;
        Ok(SignedTrustList { list, signed })
    }

    /// Parses and checks the signatures against `root`, and that it names that root.
    pub fn verify(bytes: &[u8], root: &SignedRoot) -> Result<Self> {
        let signed =
            MultiSigned::from_bytes(bytes).map_err(|e| Error::Trust(format!("trust list: {e}")))?;
        let list = TrustList::from_bytes(&signed.doc)
            .map_err(|e| Error::Trust(format!("trust list: {e}")))?;
        let got = signed
            .strict_signers(
                TRUST_LIST_TAG,
                &root.root.keys,
                &format!("trust list version {}", list.version),
            )?
            .len();
        if got < usize::from(root.root.threshold) {
            return Err(Error::Threshold {
                what: format!(
                    "trust list version {} by root version {}",
                    list.version, root.root.version
                ),
                got,
                need: root.root.threshold.into(),
            });
        }
        if list.root_version != root.root.version {
            return Err(Error::WrongRoot {
                signed_under: list.root_version,
                current: root.root.version,
            });
        }
        Ok(SignedTrustList { list, signed })
    }
}

/// Checks a status list file against its pin (mix-and-match protection).
pub fn check_status_pin(pin: &StatusPin, file: &[u8]) -> Result<()> {
    let got: [u8; 32] = Sha256::digest(file).into();
    if got != pin.sha256 {
        return Err(Error::StatusMismatch(pin.file.clone()));
    }
    Ok(())
}
