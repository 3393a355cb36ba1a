//! Revocation status: W3C Bitstring Status List credentials, made and checked with ssi,
//! then held by the gate as a plain bitset for O(1) lookups.

use crate::error::{Error, Result};
use crate::gate::StatusRef;
use crate::verify::{StatusLookup, StatusView};
use crate::w3c;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use ssi::claims::data_integrity::{AnySuite, DataIntegrity};
use ssi::claims::VerificationParameters;
use ssi::dids::DIDResolver;
use ssi::status::bitstring_status_list::{
    BitstringStatusList, BitstringStatusListCredential, EncodedList, StatusPurpose, TimeToLive,
};
use ssi::verification_methods::AnyMethod;
use std::collections::HashMap;

/// The largest list a gate accepts: 2^30 entries (128 MiB of bits), far above a national
/// population, so a damaged size field cannot make the gate allocate without bound.
pub const MAX_ENTRIES: u64 = 1 << 30;

/// A revocation bitset in W3C order: index 0 is the left-most (most significant) bit of
/// the first byte.
#[derive(Clone, PartialEq, Eq)]
pub struct Bitset {
    bytes: Vec<u8>,
    size: u64,
}

impl std::fmt::Debug for Bitset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bitset({} entries)", self.size)
    }
}

impl Bitset {
    /// All clear, `size` entries.
    pub fn new(size: u64) -> Self {
        Bitset {
            bytes: vec![0; size.div_ceil(8) as usize],
            size,
        }
    }
    /// From raw bytes in W3C order; `None` if `bytes` is not exactly `size` bits long.
    pub fn from_bytes(bytes: Vec<u8>, size: u64) -> Option<Self> {
        (bytes.len() as u64 == size.div_ceil(8)).then_some(Bitset { bytes, size })
    }
    /// Number of entries.
    pub fn size(&self) -> u64 {
        self.size
    }
    /// Sets entry `i`; false if out of range.
    pub fn set(&mut self, i: u64) -> bool {
        if i >= self.size {
            return false;
        }
        self.bytes[(i / 8) as usize] |= 0x80 >> (i % 8);
        true
    }
    /// Entry `i` (`None` if out of range).
    pub fn get(&self, i: u64) -> Option<bool> {
        (i < self.size).then(|| self.bytes[(i / 8) as usize] & (0x80 >> (i % 8)) != 0)
    }
    /// How many entries are set.
    pub fn count(&self) -> u64 {
        self.bytes.iter().map(|b| u64::from(b.count_ones())).sum()
    }
    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

fn rfc3339(t: i64) -> Result<ssi::xsd::DateTimeStamp> {
    crate::model::try_format_rfc3339(t)
        .ok_or_else(|| Error::W3c("time out of range".into()))?
        .parse()
        .map_err(|e| Error::W3c(format!("{e}")))
}

/// Makes and signs the status list credential of list `list` of issuer `issuer`, whose
/// DID is `issuer_did` (the same issuer as the credentials that point here: a W3C
/// verifier checks they match).
pub fn sign_list(
    bits: &Bitset,
    issuer: u32,
    issuer_did: &str,
    list: u32,
    key: &dyn crate::signer::KeySigner,
    valid_from: i64,
    valid_until: i64,
) -> Result<String> {
    let id = w3c::status_list_id(issuer, list);
    let uri: ssi::json_ld::iref::UriBuf = id
        .parse()
        .map_err(|_| Error::W3c(format!("status list id `{id}` is not a URI")))?;
    let encoded = encode_list(bits.as_bytes());
    let subject = BitstringStatusList::new(
        Some(
            format!("{id}#list")
                .parse()
                .map_err(|_| Error::W3c(format!("status list id `{id}#list` is not a URI")))?,
        ),
        StatusPurpose::Revocation,
        encoded,
        TimeToLive::default(),
    );
    let mut cred = BitstringStatusListCredential::new(Some(uri), subject);
    cred.valid_from = Some(rfc3339(valid_from)?);
    cred.valid_until = Some(rfc3339(valid_until)?);
    cred.other_properties.insert(
        "issuer".into(),
        serde_json::Value::String(issuer_did.to_owned()),
    );
    let signed = w3c::sign_di(cred, key, issuer_did, valid_from)?;
    serde_json::to_string(&signed).map_err(Into::into)
}

/// A checked status list.
#[derive(Clone, Debug)]
pub struct CheckedList {
    /// The bits.
    pub bits: Bitset,
    /// The list's validUntil (Unix seconds).
    pub valid_until: Option<i64>,
}

/// Verifies a status list credential: its Data Integrity proof, that it was made by one of
/// `keys` (the issuer's keys that are not revoked) under the issuer's DID `did` as the
/// trust list names it (`None`: a trust list made before issuers had one, whose lists name
/// the key's did:key), that it is not expired as of `now` (expiry is left to the caller to
/// warn about), and decodes `size` entries.
/// Takes the JSON by value and drops it once parsed: at national scale it is over a
/// megabyte, and the gate's peak memory during sync is what this bounds.
pub fn verify_list(
    json: String,
    keys: &[VerifyingKey],
    want_did: Option<&str>,
    size: u64,
    now: i64,
) -> Result<CheckedList> {
    let name = "status list";
    let bad = |m: String| Error::StatusProof(name.into(), m);
    if size == 0 || size > MAX_ENTRIES {
        return Err(bad(format!("{size} entries is outside 1..={MAX_ENTRIES}")));
    }
    let vc: DataIntegrity<BitstringStatusListCredential, AnySuite> =
        ssi::claims::data_integrity::from_json_str(&json).map_err(|e| bad(e.to_string()))?;
    drop(json);
    // The proof must come from an issuer key the trust list names, as a method of the
    // list's own issuer (its did:web, or the key's did:key for lists made before it).
    let issuer = vc
        .claims
        .other_properties
        .get("issuer")
        .and_then(|i| i.as_str())
        .unwrap_or_default()
        .to_owned();
    let mut methods = vec![];
    for p in vc.proofs.iter() {
        let vm = p.verification_method.id().to_string();
        let ok = w3c::method_key(&vm).is_some_and(|(did, key)| {
            // The list's issuer is the one the trust list names (its did:web), or for a
            // trust list made before issuers had one, the signing key's own did:key.
            let expected = match want_did {
                Some(d) => d == issuer,
                None => issuer == w3c::did_key(&key),
            };
            keys.contains(&key) && did == issuer && expected
        });
        if !ok {
            return Err(bad(format!(
                "signed by {vm}, which is not a key of this issuer"
            )));
        }
        methods.push(vm);
    }
    if vc.proofs.is_empty() {
        return Err(bad("no proof".into()));
    }
    let resolver = w3c::IssuerDids::for_methods(methods.iter().map(String::as_str))
        .into_vm_resolver::<AnyMethod>();
    // Checked as of its own issuance: a list past validUntil still counts (with a
    // status_stale warning) rather than leaving the gate with no revocation data.
    let valid_from = vc
        .claims
        .valid_from
        .as_ref()
        .map(|t| t.to_chrono_date_time().timestamp())
        .unwrap_or(now);
    let at = chrono::DateTime::from_timestamp(valid_from.max(0), 0)
        .ok_or_else(|| bad("time out of range".into()))?;
    let params = VerificationParameters::from_resolver(&resolver)
        .with_json_ld_loader(w3c::context_loader())
        .with_date_time(at);
    pollster::block_on(vc.verify(&params))
        .map_err(|e| bad(e.to_string()))?
        .map_err(|e| bad(format!("invalid: {e}")))?;
    if vc.claims.credential_subject.status_purpose != StatusPurpose::Revocation {
        return Err(bad("not a revocation list".into()));
    }
    let valid_until = vc
        .claims
        .valid_until
        .as_ref()
        .map(|t| t.to_chrono_date_time().timestamp());
    // EncodedList has no accessor; it serialises as its string.
    let encoded = match serde_json::to_value(&vc.claims.credential_subject.encoded_list)? {
        serde_json::Value::String(s) => s,
        _ => return Err(bad("encodedList is not a string".into())),
    };
    // The parsed credential is dropped before inflating, so the two never coexist.
    drop(vc);
    let bytes = decode_list(encoded, size).map_err(bad)?;
    Ok(CheckedList {
        bits: Bitset { bytes, size },
        valid_until,
    })
}

/// Gzip at the best level (ssi's default level makes a 66M list about a tenth larger),
/// as multibase base64url without padding, the W3C encoding. Lists shorter than the
/// spec's 16 KiB minimum are padded with zeros, as ssi does.
fn encode_list(bytes: &[u8]) -> EncodedList {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).expect("in-memory");
    if bytes.len() < EncodedList::MINIMUM_SIZE {
        gz.write_all(&vec![0; EncodedList::MINIMUM_SIZE - bytes.len()])
            .expect("in-memory");
    }
    let z = gz.finish().expect("in-memory");
    EncodedList::new(format!("u{}", URL_SAFE_NO_PAD.encode(&z)))
}

/// Inflates a multibase base64url gzip bitstring into exactly `size` bits, allocating the
/// output once at its final size (a growing buffer would double the peak memory of a
/// 66-million-entry list).
fn decode_list(encoded: String, size: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let body = encoded
        .strip_prefix('u')
        .ok_or("encodedList is not multibase base64url")?;
    let gz = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| "encodedList is not base64url without padding")?;
    drop(encoded);
    let want = size.div_ceil(8) as usize;
    let mut out = Vec::with_capacity(want);
    flate2::read::GzDecoder::new(&gz[..])
        .take(want as u64)
        .read_to_end(&mut out)
        .map_err(|e| format!("encodedList does not inflate: {e}"))?;
    if out.len() < want {
        return Err(format!(
            "holds {} entries, the trust list says {size}",
            out.len() * 8
        ));
    }
    Ok(out)
}

/// The gate's status view: every verified list, by (issuer, list).
#[derive(Clone, Debug, Default)]
pub struct StatusLists {
    lists: HashMap<(u32, u32), CheckedList>,
}

impl StatusLists {
    /// Adds a verified list.
    pub fn insert(&mut self, issuer: u32, list: u32, checked: CheckedList) {
        self.lists.insert((issuer, list), checked);
    }
    /// Number of lists.
    pub fn len(&self) -> usize {
        self.lists.len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }
    /// Iterates lists.
    pub fn iter(&self) -> impl Iterator<Item = (&(u32, u32), &CheckedList)> {
        self.lists.iter()
    }
}

impl StatusView for StatusLists {
    fn lookup(&self, issuer: u32, s: StatusRef, now: i64) -> StatusLookup {
        let Some(l) = self.lists.get(&(issuer, s.list)) else {
            return StatusLookup::Unknown;
        };
        match l.bits.get(s.index) {
            // An index past the end of its list cannot be looked up (W3C's RANGE_ERROR):
            // such a credential could never be revoked, so it fails closed.
            None => StatusLookup::Revoked,
            Some(true) => StatusLookup::Revoked,
            Some(false) if l.valid_until.is_some_and(|u| now >= u) => StatusLookup::GoodButStale,
            Some(false) => StatusLookup::Good,
        }
    }
}
