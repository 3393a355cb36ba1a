//! Presentations: the disclosures of a profile plus the holder's proof of possession,
//! and the QR text they travel as (`TT1:` + base45 of the CBOR, deflated when it pays).

use crate::cbor::{self, err, u, Reader};
use crate::error::{Error, Result};
use crate::gate::{GateCredential, Group, IncreasingKeys, IssuerSigned};
use crate::holder::HolderSigner;
use ciborium::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;

/// Prefix of a version-1 QR presentation.
pub const QR_PREFIX: &str = "TT1:";
/// Domain separation for the holder proof: a signature made for anything else never
/// verifies as one of these.
pub const HOLDER_PROOF_TAG: &[u8] = b"tuaton holder proof v1";
/// Largest presentation we inflate: a bound against decompression bombs (a portrait
/// response is about 20 KB).
pub const MAX_PRESENTATION_BYTES: usize = 256 * 1024;

/// What the holder chooses to show.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Profile {
    /// Boarding a domestic flight: names, citizen ID, birth date (+ validity dates).
    Flight,
    /// Everything that fits a QR: all groups but the portrait.
    Full,
    /// age_over_20 alone.
    Age,
}

impl Profile {
    /// The disclosure groups the profile reveals.
    pub fn groups(self) -> &'static [Group] {
        match self {
            Profile::Flight => &[Group::Flight],
            Profile::Full => &[
                Group::Flight,
                Group::Details,
                Group::AgeOver18,
                Group::AgeOver20,
            ],
            Profile::Age => &[Group::AgeOver20],
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "flight" => Ok(Profile::Flight),
            "full" => Ok(Profile::Full),
            "age" => Ok(Profile::Age),
            _ => Err(Error::field(
                "profile",
                format!("`{s}` is not one of flight, full, age"),
            )),
        }
    }
}

/// A decoded presentation, holding the exact bytes of everything signed.
#[derive(Clone, Debug)]
pub struct Presentation<'a> {
    /// The issuer-signed member.
    pub issuer_signed: IssuerSigned<'a>,
    /// Disclosed groups and their exact bytes.
    pub disclosures: BTreeMap<Group, Cow<'a, [u8]>>,
    /// When the holder made the proof, Unix seconds.
    pub time: i64,
    /// The holder's Ed25519 signature over [`holder_proof_message`].
    pub holder_sig: [u8; 64],
    /// A QR presentation's random salt (16 bytes), signed in the nonce's place so two
    /// presentations made in the same second differ. Absent in session answers, whose
    /// proof binds the gate's nonce instead.
    pub salt: Option<[u8; 16]>,
}

/// The exact bytes the holder signs: the tag, the time, the verifier's nonce (empty when
/// there is none), the issuer-signed member's protected header, payload and signature,
/// then each disclosed group's number and bytes in ascending group order; every field
/// preceded by its length as 4 bytes big-endian.
pub fn holder_proof_message<D: AsRef<[u8]>>(
    issuer_signed: &IssuerSigned<'_>,
    disclosures: &BTreeMap<Group, D>,
    time: i64,
    nonce: Option<&[u8]>,
) -> Vec<u8> {
    let mut m = crate::lp::length_prefixed([
        HOLDER_PROOF_TAG,
        &time.to_be_bytes(),
        nonce.unwrap_or_default(),
        issuer_signed.protected_bytes(),
        &issuer_signed.payload_bytes,
        issuer_signed.signature(),
    ]);
    for (g, d) in disclosures {
        crate::lp::push(&mut m, [&[*g as u8][..], d.as_ref()]);
    }
    m
}

/// Builds the presentation CBOR for `groups`, using the smallest member that covers them.
pub fn present_groups(
    cred: &GateCredential,
    holder: &(impl HolderSigner + ?Sized),
    groups: &[Group],
    time: i64,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>> {
    build(cred, holder, groups, time, nonce, None)
}

/// Builds a QR presentation for `groups` whose holder proof signs `salt` (16 random bytes
/// from the caller) in the nonce's place, so no two presentations are the same bytes.
pub fn present_salted(
    cred: &GateCredential,
    holder: &(impl HolderSigner + ?Sized),
    groups: &[Group],
    time: i64,
    salt: [u8; 16],
) -> Result<Vec<u8>> {
    build(cred, holder, groups, time, Some(&salt), Some(salt))
}

fn build(
    cred: &GateCredential,
    holder: &(impl HolderSigner + ?Sized),
    groups: &[Group],
    time: i64,
    nonce: Option<&[u8]>,
    salt: Option<[u8; 16]>,
) -> Result<Vec<u8>> {
    let member = if groups == [Group::Flight] {
        &cred.flight
    } else {
        &cred.full
    };
    let issuer_signed = IssuerSigned::from_bytes(member)?;
    if issuer_signed.payload.holder_key != holder.holder_key() {
        return Err(Error::Signature(
            "the credential is bound to another holder key".into(),
        ));
    }
    let mut disclosures = BTreeMap::new();
    // The flight member carries its claims inline: nothing to disclose beside it.
    let groups = if issuer_signed.payload.inline_flight.is_some() {
        &[][..]
    } else {
        groups
    };
    for g in groups {
        let d = cred
            .disclosures
            .get(g)
            .ok_or_else(|| err(format!("no disclosure for {}", g.name())))?;
        disclosures.insert(*g, d.clone());
    }
    let msg = holder_proof_message(&issuer_signed, &disclosures, time, nonce);
    let sig = holder.sign_holder(&msg);
    // The issuer's COSE_Sign1 goes in exactly as issued, never re-encoded.
    let mut out = vec![0x83];
    out.extend_from_slice(member);
    out.extend(cbor::encode(&Value::Map(
        disclosures
            .into_iter()
            .map(|(g, d)| (u(g as u8), Value::Bytes(d)))
            .collect(),
    )));
    let mut proof = vec![cbor::i(time), Value::Bytes(sig.to_vec())];
    if let Some(s) = salt {
        proof.push(Value::Bytes(s.to_vec()));
    }
    out.extend(cbor::encode(&Value::Array(proof)));
    Ok(out)
}

/// Builds the presentation CBOR of a profile.
pub fn present(
    cred: &GateCredential,
    holder: &(impl HolderSigner + ?Sized),
    profile: Profile,
    time: i64,
) -> Result<Vec<u8>> {
    present_groups(cred, holder, profile.groups(), time, None)
}

impl<'a> Presentation<'a> {
    /// Decodes presentation CBOR, `[COSE_Sign1, {group: bstr}, [time, sig, ?salt]]`, in
    /// one pass, borrowing every signed byte string from `b`.
    pub fn from_cbor(b: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(b);
        let shape = "presentation: expected 3 items";
        let mut top = r.array("presentation")?;
        top.expect(&mut r, shape)?;
        let issuer_signed = IssuerSigned::read(&mut r)?;
        top.expect(&mut r, shape)?;
        let mut disclosures = BTreeMap::new();
        let mut entries = r.map("disclosures")?;
        let mut keys = IncreasingKeys::default();
        while entries.next(&mut r)? {
            let g = Group::from_key(keys.next(&mut r, "disclosures")?)
                .ok_or_else(|| err("unknown disclosure group"))?;
            disclosures.insert(g, r.bytes("disclosure")?);
        }
        top.expect(&mut r, shape)?;
        let proof_shape = "holder proof: expected [time, signature] or [time, signature, salt]";
        let mut proof = r.array("holder proof")?;
        proof.expect(&mut r, proof_shape)?;
        let time = r.int("proof time")?;
        proof.expect(&mut r, proof_shape)?;
        let holder_sig = r.fixed::<64>("holder signature")?;
        let salt = if proof.next(&mut r)? {
            Some(r.fixed::<16>("salt")?)
        } else {
            None
        };
        proof.end(&mut r, proof_shape)?;
        top.end(&mut r, shape)?;
        r.finish()?;
        Ok(Presentation {
            issuer_signed,
            disclosures,
            time,
            holder_sig,
            salt,
        })
    }
}

/// QR text for presentation CBOR. Deflate is used only when it makes the payload
/// shorter; a CBOR presentation always starts with 0x83, and a deflate stream that happens
/// to start with 0x83 is never emitted, so the decoder can tell them apart.
pub fn to_qr_text(cbor_bytes: &[u8]) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(cbor_bytes).expect("in-memory");
    let z = enc.finish().expect("in-memory");
    let body = if z.len() < cbor_bytes.len() && z.first() != Some(&0x83) {
        z
    } else {
        cbor_bytes.to_vec()
    };
    format!("{QR_PREFIX}{}", base45::encode(&body))
}

/// Presentation CBOR from QR text. Surrounding whitespace (a scanner's line ending) is
/// ignored.
pub fn from_qr_text(text: &str) -> Result<Vec<u8>> {
    let t = text.trim();
    let Some(body) = t.strip_prefix(QR_PREFIX) else {
        let looks_tuaton = t.len() >= 4
            && t.starts_with("TT")
            && t.as_bytes()[2].is_ascii_digit()
            && t.as_bytes()[3] == b':';
        return Err(if looks_tuaton {
            Error::UnsupportedVersion
        } else {
            Error::Payload("does not start with TT1:".into())
        });
    };
    let raw = base45::decode(body).map_err(|_| Error::Payload("not base45".into()))?;
    match raw.first() {
        Some(0x83) => Ok(raw),
        Some(_) => inflate_exact(&raw),
        None => Err(Error::Payload("empty".into())),
    }
}

/// Inflates a raw-deflate body that must be exactly one deflate stream: nothing after its
/// final block, and the unused high bits of its last byte zero. Otherwise a QR text could
/// be lengthened or altered (appended bytes, flipped padding bits) and still verify, which
/// is not what a signed presentation may allow. The padding test: clear the highest set
/// bit of the last byte; if the body still inflates to the same bytes, consuming all of
/// it, that bit was padding.
fn inflate_exact(raw: &[u8]) -> Result<Vec<u8>> {
    let out = inflate_all(raw)?;
    let last = *raw.last().expect("non-empty: checked by the caller");
    if last != 0 {
        let top = 7 - last.leading_zeros();
        let mut cleared = raw.to_vec();
        *cleared.last_mut().expect("non-empty") &= !(1u8 << top);
        if inflate_all(&cleared).is_ok_and(|o| o == out) {
            return Err(Error::Payload(
                "deflate stream has non-zero padding bits after its end".into(),
            ));
        }
    }
    Ok(out)
}

/// One whole raw-deflate stream, every input byte consumed, at most
/// [`MAX_PRESENTATION_BYTES`] out (the output buffer is bounded before inflating).
fn inflate_all(raw: &[u8]) -> Result<Vec<u8>> {
    let mut d = flate2::Decompress::new(false);
    let mut out = Vec::with_capacity(MAX_PRESENTATION_BYTES + 1);
    let status = d
        .decompress_vec(raw, &mut out, flate2::FlushDecompress::Finish)
        .map_err(|e| Error::Payload(format!("not deflate: {e}")))?;
    if out.len() > MAX_PRESENTATION_BYTES {
        return Err(Error::Payload("inflates beyond the size limit".into()));
    }
    if status != flate2::Status::StreamEnd {
        return Err(Error::Payload("deflate stream is cut short".into()));
    }
    if d.total_in() != raw.len() as u64 {
        return Err(Error::Payload("bytes follow the deflate stream".into()));
    }
    Ok(out)
}
