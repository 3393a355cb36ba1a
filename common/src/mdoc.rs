//! The card as an ISO/IEC 18013-5 mdoc (`mso_mdoc`): the issuer's signed data elements
//! (section 8.3.2.1.2.2, IssuerSigned), the Mobile Security Object that binds them to a P-256
//! device key (section 9.1.2.4), a DeviceResponse with device authentication (sections
//! 8.3.2.1.2.2 and 9.1.3), and the reader's checks (section 9.3): the document signer
//! certificate chained to a trusted IACA certificate (Annex B), the MSO's signature, every
//! disclosed element's digest, the validity window, the docType and the device signature
//! over the session transcript.
//!
//! docs/FORMAT.md, "The mdoc form", is the normative text; this module follows it. Nothing
//! here reads the clock: the caller passes `now` in Unix seconds.

use crate::cbor;
use crate::error::{MdocError, Result};
use crate::holder::{HolderKey, HolderSigner};
use crate::model::{AgeClaims, CardClaims, Expiry, PartialDate};
use ciborium::Value;
use coset::{iana, AsCborValue as _, CoseSign1, CoseSign1Builder, HeaderBuilder};
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;

/// The card's document type (FORMAT.md, "The mdoc form").
pub const DOC_TYPE: &str = "th.tuaton.idcard.1";
/// The namespace of the elements ISO/IEC 23220-2 and 18013-5 define.
pub const NS_ISO: &str = "org.iso.23220.1";
/// The namespace of the Thai card's own elements.
pub const NS_TH: &str = "th.tuaton.idcard.1";
/// The extended key usage of a reader authentication certificate (Annex B.1.7).
pub const EKU_READER_AUTH: &str = "1.0.18013.5.1.6";
/// How a reader certificate lists an element its holder may request: one subject
/// alternative name URI per element, `tuaton-may-request:NAMESPACE/ELEMENT` (a standard
/// extension every X.509 tool shows).
pub const ALLOWED_URI_SCHEME: &str = "tuaton-may-request:";
/// The extended key usage of a document signer certificate (18013-5 Annex B.1.4).
pub const EKU_MDL_DS: &str = "1.0.18013.5.1.2";
/// The largest DeviceResponse a reader decodes (a portrait of up to 64 KiB with room for
/// the rest); larger input is refused before it is parsed.
pub const MAX_RESPONSE: usize = 256 * 1024;
/// How far a reader's clock may be behind the issuer's: a certificate or MSO that starts
/// at most this much after `now` is taken as started (a card issued a moment ago is read
/// by a gate whose clock is slow). Ends are exact.
pub const CLOCK_SKEW_SECS: i64 = 300;
/// How long an MSO is valid at most: a revoked card's mdoc form stops verifying within
/// this (the MSO carries no status), and the wallet renews it with `refresh`.
pub const MSO_LIFETIME_SECS: i64 = 30 * 86_400;
/// The longest a document signer certificate may be valid (18013-5 Annex B.1.4: at most
/// 457 days).
pub const MAX_DS_VALIDITY_DAYS: i64 = 457;

/// When an MSO was signed and the window in which a reader accepts it (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validity {
    /// When the issuer signed the MSO.
    pub signed: i64,
    /// First second the MSO is valid.
    pub valid_from: i64,
    /// Last second the MSO is valid.
    pub valid_until: i64,
}

/// The MSO validity of a card issued at `now` by a document signer certificate valid
/// until `signer_not_after`: from `now` for [`MSO_LIFETIME_SECS`], but never past the end
/// of the card's last valid day (Thai time) nor the certificate, after which no reader
/// would accept the MSO. The wallet renews it with `refresh`.
pub fn card_validity(claims: &CardClaims, now: i64, signer_not_after: i64) -> Result<Validity> {
    if now >= signer_not_after {
        return Err(MdocError::Chain(
            "the document signer certificate has expired: a new one is made by `rotate`".into(),
        )
        .into());
    }
    let card_end = match claims.expiry {
        Expiry::On(d) => d
            .succ_opt()
            .and_then(|n| n.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc().timestamp() - crate::model::THAI_UTC_OFFSET - 1)
            .unwrap_or(signer_not_after),
        Expiry::Lifelong => signer_not_after,
    };
    let valid_until = card_end.min(signer_not_after).min(now + MSO_LIFETIME_SECS);
    if valid_until < now {
        return Err(MdocError::Expired.into());
    }
    Ok(Validity {
        signed: now,
        valid_from: now,
        valid_until,
    })
}

/// Makes the issuer's ES256 signature (`r || s`, 64 bytes) over a message: a key in
/// memory or one a PKCS#11 token holds.
pub trait DocumentSigner {
    /// The document signer certificate (DER) whose public key verifies the signatures.
    fn certificate(&self) -> &[u8];
    /// ES256 over `message` (SHA-256 of it, then ECDSA P-256), as `r || s`.
    fn sign_es256(&self, message: &[u8]) -> Result<[u8; 64]>;
}

/// The data elements of a card, in the two namespaces, in a fixed order.
pub fn elements(claims: &CardClaims, age: AgeClaims) -> Vec<(&'static str, &'static str, Value)> {
    let text = |s: &str| Value::Text(s.to_owned());
    let full_date = |d: chrono::NaiveDate| {
        Value::Tag(
            1004,
            Box::new(Value::Text(d.format("%Y-%m-%d").to_string())),
        )
    };
    let mut out = vec![
        (NS_ISO, "family_name", text(claims.family_name_en.as_str())),
        (NS_ISO, "given_name", text(claims.given_name_en.as_str())),
    ];
    if let PartialDate::Full(d) = claims.birth_date {
        out.push((NS_ISO, "birth_date", full_date(d)));
    }
    let year = match claims.birth_date {
        PartialDate::Full(d) => chrono::Datelike::year(&d),
        PartialDate::Year(y) | PartialDate::YearMonth(y, _) => y,
    };
    out.push((NS_ISO, "age_birth_year", Value::Integer(year.into())));
    out.push((NS_ISO, "age_over_18", Value::Bool(age.over_18)));
    out.push((NS_ISO, "age_over_20", Value::Bool(age.over_20)));
    out.push((NS_ISO, "portrait", Value::Bytes(claims.portrait.clone())));
    out.push((NS_ISO, "issue_date", full_date(claims.issue_date)));
    if let Expiry::On(d) = claims.expiry {
        out.push((NS_ISO, "expiry_date", full_date(d)));
    }
    out.push((NS_ISO, "issuing_country", text("TH")));
    out.push((
        NS_ISO,
        "issuing_authority_unicode",
        text(claims.issuing_office.as_str()),
    ));
    out.push((NS_ISO, "nationality", text("TH")));
    out.push((
        NS_ISO,
        "document_number",
        text(&claims.citizen_id.to_string()),
    ));
    out.push((NS_TH, "title_th", text(claims.title.th.as_str())));
    out.push((NS_TH, "title_en", text(claims.title.en.as_str())));
    out.push((NS_TH, "given_name_th", text(claims.given_name_th.as_str())));
    out.push((
        NS_TH,
        "family_name_th",
        text(claims.family_name_th.as_str()),
    ));
    if !matches!(claims.birth_date, PartialDate::Full(_)) {
        out.push((
            NS_TH,
            "birth_date_partial",
            text(&claims.birth_date.to_string()),
        ));
    }
    out.push((NS_TH, "address", text(claims.address.as_str())));
    out.push((NS_TH, "laser_code", text(claims.laser_code.as_str())));
    if claims.expiry == Expiry::Lifelong {
        out.push((NS_TH, "lifelong", Value::Bool(true)));
    }
    out
}

/// `tdate` of RFC 8949 (tag 0), whole seconds, UTC with `Z`, as 18013-5 section 7.2.1 asks.
fn tdate(t: i64) -> Result<Value> {
    let d = chrono::DateTime::from_timestamp(t, 0)
        .ok_or(MdocError::Malformed("a time out of range".into()))?;
    Ok(Value::Tag(
        0,
        Box::new(Value::Text(d.format("%Y-%m-%dT%H:%M:%SZ").to_string())),
    ))
}

fn parse_tdate(v: &Value, what: &str) -> Result<i64> {
    let bad = || MdocError::Malformed(format!("{what} is not a tdate"));
    let Value::Tag(0, inner) = v else {
        return Err(bad().into());
    };
    let Value::Text(s) = inner.as_ref() else {
        return Err(bad().into());
    };
    Ok(chrono::DateTime::parse_from_rfc3339(s)
        .map_err(|_| bad())?
        .timestamp())
}

/// `#6.24(bstr .cbor v)`: an embedded CBOR item, kept as bytes so digests and signatures
/// cover exactly what was written.
pub(crate) fn tag24(v: &Value) -> Value {
    Value::Tag(24, Box::new(Value::Bytes(cbor::encode(v))))
}

fn untag24(v: &Value, what: &str) -> Result<Vec<u8>> {
    match v {
        Value::Tag(24, inner) => match inner.as_ref() {
            Value::Bytes(b) => Ok(b.clone()),
            _ => Err(MdocError::Malformed(format!("{what}: tag 24 without a byte string")).into()),
        },
        _ => Err(MdocError::Malformed(format!("{what}: expected tag 24")).into()),
    }
}

/// An ES256 signature (`r || s`) of `message` by the P-256 key `public` (SEC1), checked
/// with AWS-LC: the one check every signature of the mdoc form and its session goes
/// through.
pub(crate) fn es256(public: &[u8], message: &[u8], sig: &[u8]) -> std::result::Result<(), ()> {
    let ok = sig.len() == 64
        && aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
            public,
        )
        .verify(message, sig)
        .is_ok();
    if ok {
        Ok(())
    } else {
        Err(())
    }
}

/// The COSE headers of an ES256 signature by a certificate's key: `{1: -7}` protected,
/// the certificate as x5chain (label 33, RFC 9360) unprotected.
pub(crate) fn x5chain_headers(certificate: &[u8]) -> (coset::Header, coset::Header) {
    (
        HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .build(),
        HeaderBuilder::new()
            .value(
                iana::HeaderParameter::X5Chain as i64,
                Value::Bytes(certificate.to_vec()),
            )
            .build(),
    )
}

/// The P-256 device key as a COSE_Key (RFC 9053 section 7.1.1: kty EC2, crv P-256, x, y).
fn cose_device_key(key: &HolderKey) -> Result<Value> {
    let HolderKey::P256(b) = key else {
        return Err(MdocError::DeviceKey("an mdoc's device key must be P-256".into()).into());
    };
    let pk = p256::PublicKey::from_sec1_bytes(b)
        .map_err(|_| MdocError::DeviceKey("the P-256 key is not a point on the curve".into()))?;
    Ok(cose_key(&pk))
}

/// A P-256 public key as a COSE_Key (RFC 9053 section 7.1.1: kty EC2, crv P-256, x, y):
/// device keys and the session's ephemeral keys alike.
pub(crate) fn cose_key(pk: &p256::PublicKey) -> Value {
    use p256::elliptic_curve::sec1::ToEncodedPoint as _;
    let p = pk.to_encoded_point(false);
    let (x, y) = (p.x().expect("uncompressed"), p.y().expect("uncompressed"));
    Value::Map(vec![
        (Value::Integer(1.into()), Value::Integer(2.into())),
        (Value::Integer((-1).into()), Value::Integer(1.into())),
        (Value::Integer((-2).into()), Value::Bytes(x.to_vec())),
        (Value::Integer((-3).into()), Value::Bytes(y.to_vec())),
    ])
}

/// The uncompressed SEC1 point (`04 || x || y`) of a COSE_Key; anything but an EC2 P-256
/// key is refused.
pub(crate) fn device_key_point(v: &Value) -> Result<Vec<u8>> {
    let bad = |why: &str| MdocError::DeviceKey(why.to_owned());
    let Value::Map(m) = v else {
        return Err(bad("the device key is not a COSE_Key map").into());
    };
    let get = |label: i64| {
        let mut found = m
            .iter()
            .filter(|(k, _)| k.as_integer() == Some(label.into()));
        let first = found.next().map(|(_, v)| v);
        if found.next().is_some() {
            return Err(bad("a COSE_Key label appears twice"));
        }
        Ok(first)
    };
    if get(1)?.and_then(Value::as_integer) != Some(2.into())
        || get(-1)?.and_then(Value::as_integer) != Some(1.into())
    {
        return Err(bad("only EC2 keys on P-256 are accepted as device keys").into());
    }
    let coord = |label| match get(label)? {
        Some(Value::Bytes(b)) if b.len() == 32 => Ok(b.clone()),
        _ => Err(bad("a P-256 coordinate is not 32 bytes")),
    };
    let mut point = vec![4u8];
    point.extend(coord(-2)?);
    point.extend(coord(-3)?);
    Ok(point)
}

/// Builds the issuer-signed part of the card's mdoc (IssuerSigned, CBOR): every element
/// with 16 random bytes and a digest ID, the MSO over their digests (naming the card's
/// revocation bit when `status` is given), signed by `signer`.
#[allow(clippy::too_many_arguments)] // the MSO's parts, each its own
pub fn issue(
    claims: &CardClaims,
    age: AgeClaims,
    device_key: &HolderKey,
    validity: Validity,
    status: Option<&MsoStatus>,
    signer: &dyn DocumentSigner,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    issue_document(
        DOC_TYPE,
        elements(claims, age),
        device_key,
        validity,
        status,
        signer,
        rng,
    )
}

/// [`issue`] for any docType and elements: what the card's form is made with, and what
/// interoperability checks use to meet readers that know only other document types.
#[allow(clippy::too_many_arguments)] // the MSO's parts, each its own
pub fn issue_document(
    doc_type: &str,
    elems: Vec<(&str, &str, Value)>,
    device_key: &HolderKey,
    validity: Validity,
    status: Option<&MsoStatus>,
    signer: &dyn DocumentSigner,
    rng: &mut impl rand_core::CryptoRngCore,
) -> Result<Vec<u8>> {
    if validity.valid_from > validity.valid_until || validity.signed > validity.valid_until {
        return Err(MdocError::Malformed("the MSO's validity window is empty".into()).into());
    }
    // Digest IDs are drawn at random (18013-5 section 9.1.2.5 advises against IDs that
    // reveal the order or number of elements), distinct within a namespace.
    let mut used = std::collections::BTreeSet::new();
    let mut namespaces: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    let mut digests: BTreeMap<&str, Vec<(Value, Value)>> = BTreeMap::new();
    for (ns, id, value) in elems {
        let digest_id = loop {
            let d = rng.next_u32() & 0x7fff_ffff;
            if used.insert((ns, d)) {
                break d;
            }
        };
        let mut random = [0u8; 16];
        rng.fill_bytes(&mut random);
        let item = Value::Map(vec![
            (
                Value::Text("digestID".into()),
                Value::Integer(digest_id.into()),
            ),
            (Value::Text("random".into()), Value::Bytes(random.to_vec())),
            (
                Value::Text("elementIdentifier".into()),
                Value::Text(id.into()),
            ),
            (Value::Text("elementValue".into()), value),
        ]);
        let bytes = tag24(&item);
        let digest = Sha256::digest(cbor::encode(&bytes)).to_vec();
        namespaces.entry(ns).or_default().push(bytes);
        digests
            .entry(ns)
            .or_default()
            .push((Value::Integer(digest_id.into()), Value::Bytes(digest)));
    }
    let mso = Value::Map(vec![
        (Value::Text("version".into()), Value::Text("1.0".into())),
        (
            Value::Text("digestAlgorithm".into()),
            Value::Text("SHA-256".into()),
        ),
        (
            Value::Text("valueDigests".into()),
            Value::Map(
                digests
                    .into_iter()
                    .map(|(ns, d)| (Value::Text(ns.into()), Value::Map(d)))
                    .collect(),
            ),
        ),
        (
            Value::Text("deviceKeyInfo".into()),
            Value::Map(vec![(
                Value::Text("deviceKey".into()),
                cose_device_key(device_key)?,
            )]),
        ),
        (Value::Text("docType".into()), Value::Text(doc_type.into())),
        (
            Value::Text("validityInfo".into()),
            Value::Map(vec![
                (Value::Text("signed".into()), tdate(validity.signed)?),
                (Value::Text("validFrom".into()), tdate(validity.valid_from)?),
                (
                    Value::Text("validUntil".into()),
                    tdate(validity.valid_until)?,
                ),
            ]),
        ),
    ]);
    let mso = match (mso, status) {
        (Value::Map(mut m), Some(st)) => {
            m.push((
                Value::Text("status".into()),
                Value::Map(vec![(
                    Value::Text("status_list".into()),
                    Value::Map(vec![
                        (Value::Text("idx".into()), Value::Integer(st.idx.into())),
                        (Value::Text("uri".into()), Value::Text(st.uri.clone())),
                    ]),
                )]),
            ));
            Value::Map(m)
        }
        (mso, _) => mso,
    };
    let payload = cbor::encode(&tag24(&mso));
    let mut failure = None;
    let (protected, unprotected) = x5chain_headers(signer.certificate());
    let sign1 = CoseSign1Builder::new()
        .protected(protected)
        .unprotected(unprotected)
        .payload(payload)
        .create_signature(b"", |tbs| match signer.sign_es256(tbs) {
            Ok(s) => s.to_vec(),
            Err(e) => {
                failure = Some(e);
                Vec::new()
            }
        })
        .build();
    if let Some(e) = failure {
        return Err(e);
    }
    let issuer_auth = sign1
        .to_cbor_value()
        .map_err(|e| MdocError::Malformed(e.to_string()))?;
    Ok(cbor::encode(&Value::Map(vec![
        (
            Value::Text("nameSpaces".into()),
            Value::Map(
                namespaces
                    .into_iter()
                    .map(|(ns, items)| (Value::Text(ns.into()), Value::Array(items)))
                    .collect(),
            ),
        ),
        (Value::Text("issuerAuth".into()), issuer_auth),
    ])))
}

/// The MSO's status (ISO/IEC 18013-5 second edition, as the IETF Token Status List
/// references a status: `status: {"status_list": {"idx": uint, "uri": tstr}}`): which bit
/// of which of the issuer's status lists is this card's revocation bit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsoStatus {
    /// The bit's index in the list.
    pub idx: u64,
    /// The list: `https://HOST/bundle/status-list/<issuer>-<list>` (see [`status_uri`]).
    pub uri: String,
}

/// The `uri` of issuer `issuer`'s status list `list`, under its authority URL
/// (`https://HOST`).
pub fn status_uri(authority: &str, issuer: u32, list: u32) -> String {
    format!("{authority}/bundle/status-list/{issuer}-{list}")
}

/// (issuer, list) of a status `uri` as [`status_uri`] writes it; `None` for any other.
pub fn status_list_of(uri: &str) -> Option<(u32, u32)> {
    let last = uri
        .strip_prefix("https://")?
        .rsplit_once("/bundle/status-list/")?
        .1;
    let (i, l) = last.split_once('-')?;
    let digits = |t: &str| !t.is_empty() && t.len() <= 10 && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(i) || !digits(l) {
        return None;
    }
    Some((i.parse().ok()?, l.parse().ok()?))
}

/// Which elements a reader asked for: namespace to element identifiers. `None` in
/// [`respond`] discloses every element.
pub type Request = BTreeMap<String, Vec<String>>;

/// The wallet's DeviceResponse (section 8.3.2.1.2.2) for one card: the issuer-signed
/// elements the request names (all of them without one), and a device signature over
/// DeviceAuthentication with `session_transcript` (the encoded SessionTranscript).
pub fn respond(
    issuer_signed: &[u8],
    request: Option<&Request>,
    session_transcript: &[u8],
    device: &dyn HolderSigner,
) -> Result<Vec<u8>> {
    let transcript = cbor::decode(session_transcript)?;
    let mut map = map_entries(cbor::decode(issuer_signed)?, "IssuerSigned")?;
    let issuer_auth = take(&mut map, "issuerAuth", "IssuerSigned")?;
    let mut namespaces = Vec::new();
    if let Ok(ns) = take(&mut map, "nameSpaces", "IssuerSigned") {
        for (name, items) in map_entries(ns, "nameSpaces")? {
            let Value::Text(name_s) = &name else {
                return Err(MdocError::Malformed("a namespace is not text".into()).into());
            };
            let wanted = request.map(|r| r.get(name_s));
            if wanted == Some(None) {
                continue;
            }
            let mut kept = Vec::new();
            for item in cbor::array(items, "IssuerSignedItems")? {
                let id = element_id(&item)?;
                if wanted.flatten().is_none_or(|w| w.contains(&id)) {
                    kept.push(item);
                }
            }
            if !kept.is_empty() {
                namespaces.push((name, Value::Array(kept)));
            }
        }
    }
    // The document is of the type its issuer signed.
    let doc_type = {
        let sign1 = CoseSign1::from_cbor_value(issuer_auth.clone())
            .map_err(|e| MdocError::Malformed(format!("issuerAuth: {e}")))?;
        read_mso(&sign1)?.0.doc_type
    };
    let device_namespaces = tag24(&Value::Map(Vec::new()));
    let auth = Value::Array(vec![
        Value::Text("DeviceAuthentication".into()),
        transcript,
        Value::Text(doc_type.clone()),
        device_namespaces.clone(),
    ]);
    let detached = cbor::encode(&tag24(&auth));
    let alg = match device.holder_key() {
        HolderKey::P256(_) => iana::Algorithm::ES256,
        HolderKey::Ed25519(_) => iana::Algorithm::EdDSA,
    };
    let sig = CoseSign1Builder::new()
        .protected(HeaderBuilder::new().algorithm(alg).build())
        .create_detached_signature(&detached, b"", |tbs| device.sign_holder(tbs).to_vec())
        .build()
        .to_cbor_value()
        .map_err(|e| MdocError::Malformed(e.to_string()))?;
    let document = Value::Map(vec![
        (Value::Text("docType".into()), Value::Text(doc_type)),
        (
            Value::Text("issuerSigned".into()),
            // IssuerNameSpaces is `{ + ... }`: with nothing to disclose the key is left
            // out, never sent empty (a reader may refuse an empty map; isomdl does).
            Value::Map(
                (!namespaces.is_empty())
                    .then(|| (Value::Text("nameSpaces".into()), Value::Map(namespaces)))
                    .into_iter()
                    .chain([(Value::Text("issuerAuth".into()), issuer_auth)])
                    .collect(),
            ),
        ),
        (
            Value::Text("deviceSigned".into()),
            Value::Map(vec![
                (Value::Text("nameSpaces".into()), device_namespaces),
                (
                    Value::Text("deviceAuth".into()),
                    Value::Map(vec![(Value::Text("deviceSignature".into()), sig)]),
                ),
            ]),
        ),
    ]);
    Ok(cbor::encode(&Value::Map(vec![
        (Value::Text("version".into()), Value::Text("1.0".into())),
        (
            Value::Text("documents".into()),
            Value::Array(vec![document]),
        ),
        (Value::Text("status".into()), Value::Integer(0.into())),
    ])))
}

fn element_id(item: &Value) -> Result<String> {
    let inner = cbor::decode(&untag24(item, "IssuerSignedItemBytes")?)?;
    let mut m = map_entries(inner, "IssuerSignedItem")?;
    match take(&mut m, "elementIdentifier", "IssuerSignedItem")? {
        Value::Text(s) => Ok(s),
        _ => Err(MdocError::Malformed("elementIdentifier is not text".into()).into()),
    }
}

fn map_entries(v: Value, what: &str) -> Result<Vec<(Value, Value)>> {
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(MdocError::Malformed(format!("{what}: expected a map")).into()),
    }
}

/// Removes and returns the value of text key `key`; a key that appears twice is malformed
/// (the two readers of a map could otherwise see different values).
fn take(m: &mut Vec<(Value, Value)>, key: &str, what: &str) -> Result<Value> {
    let mut at = m
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k.as_text() == Some(key))
        .map(|(i, _)| i);
    let (Some(i), None) = (at.next(), at.next()) else {
        return Err(MdocError::Malformed(format!("{what}: `{key}` missing or repeated")).into());
    };
    Ok(m.remove(i).1)
}

/// What a wallet checks of the IssuerSigned it is given, before keeping it: it decodes,
/// the MSO is for [`DOC_TYPE`] and binds `holder` as its device key, and every element
/// matches its digest. (Who signed it is a reader's check, against the IACAs it trusts.)
pub fn check_issued(issuer_signed: &[u8], holder: &HolderKey) -> Result<()> {
    let mut map = map_entries(cbor::decode(issuer_signed)?, "IssuerSigned")?;
    let sign1 = CoseSign1::from_cbor_value(take(&mut map, "issuerAuth", "IssuerSigned")?)
        .map_err(|e| MdocError::Malformed(format!("issuerAuth: {e}")))?;
    let (mso, digests) = read_mso(&sign1)?;
    if mso.doc_type != DOC_TYPE {
        return Err(MdocError::Issuer("the MSO is for another docType".into()).into());
    }
    let want = cose_device_key(holder)?;
    if device_key_point(&want)? != mso.device_point {
        return Err(MdocError::DeviceKey("the MSO binds another device key".into()).into());
    }
    check_items(take(&mut map, "nameSpaces", "IssuerSigned")?, &digests)?;
    Ok(())
}

/// An MSO's digests by (namespace, digestID).
type Digests = BTreeMap<(String, u64), Vec<u8>>;

/// When the MSO of an IssuerSigned stops being valid (`validUntil`, Unix seconds): what a
/// wallet shows so its holder renews in time. Reads the issuer's own structure, unchecked.
pub fn valid_until(issuer_signed: &[u8]) -> Result<i64> {
    let mut map = map_entries(cbor::decode(issuer_signed)?, "IssuerSigned")?;
    let sign1 = CoseSign1::from_cbor_value(take(&mut map, "issuerAuth", "IssuerSigned")?)
        .map_err(|e| MdocError::Malformed(format!("issuerAuth: {e}")))?;
    Ok(read_mso(&sign1)?.0.validity.valid_until)
}

/// The parts of a Mobile Security Object the checks use.
struct Mso {
    doc_type: String,
    validity: Validity,
    device_point: Vec<u8>,
    status: Option<MsoStatus>,
}

/// The MSO's `status`, when it names a status list (`status_list`; other status
/// mechanisms are not read). Bounded: the uri at most 256 bytes.
fn read_status(v: Value) -> Result<Option<MsoStatus>> {
    let bad = || MdocError::Malformed("the MSO's status is not {status_list: {idx, uri}}".into());
    let mut st = map_entries(v, "status")?;
    if !st.iter().any(|(k, _)| k.as_text() == Some("status_list")) {
        return Ok(None);
    }
    let mut sl = map_entries(take(&mut st, "status_list", "status")?, "status_list")?;
    let idx = take(&mut sl, "idx", "status_list")?
        .as_integer()
        .and_then(|i| u64::try_from(i).ok())
        .ok_or_else(bad)?;
    let Value::Text(uri) = take(&mut sl, "uri", "status_list")? else {
        return Err(bad().into());
    };
    if uri.len() > 256 {
        return Err(bad().into());
    }
    Ok(Some(MsoStatus { idx, uri }))
}

/// The MSO in a COSE_Sign1's payload, and its digests by (namespace, digestID).
fn read_mso(sign1: &CoseSign1) -> Result<(Mso, Digests)> {
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(MdocError::Issuer("issuerAuth carries no MSO".into()))?;
    let mso_bytes = untag24(&cbor::decode(payload)?, "MobileSecurityObjectBytes")?;
    let mut mso = map_entries(cbor::decode(&mso_bytes)?, "MobileSecurityObject")?;
    if take(&mut mso, "version", "MSO")?.as_text() != Some("1.0")
        || take(&mut mso, "digestAlgorithm", "MSO")?.as_text() != Some("SHA-256")
    {
        return Err(MdocError::Issuer("the MSO is not version 1.0 with SHA-256".into()).into());
    }
    let doc_type = match take(&mut mso, "docType", "MSO")? {
        Value::Text(s) => s,
        _ => return Err(MdocError::Malformed("the MSO's docType is not text".into()).into()),
    };
    let mut vi = map_entries(take(&mut mso, "validityInfo", "MSO")?, "validityInfo")?;
    let validity = Validity {
        signed: parse_tdate(&take(&mut vi, "signed", "validityInfo")?, "signed")?,
        valid_from: parse_tdate(&take(&mut vi, "validFrom", "validityInfo")?, "validFrom")?,
        valid_until: parse_tdate(&take(&mut vi, "validUntil", "validityInfo")?, "validUntil")?,
    };
    let mut dki = map_entries(take(&mut mso, "deviceKeyInfo", "MSO")?, "deviceKeyInfo")?;
    let device_point = device_key_point(&take(&mut dki, "deviceKey", "deviceKeyInfo")?)?;
    let mut digests = Digests::new();
    for (ns, ids) in map_entries(take(&mut mso, "valueDigests", "MSO")?, "valueDigests")? {
        let ns = ns
            .as_text()
            .ok_or(MdocError::Malformed("a namespace is not text".into()))?
            .to_owned();
        for (id, d) in map_entries(ids, "DigestIDs")? {
            let id =
                id.as_integer()
                    .and_then(|i| u64::try_from(i).ok())
                    .ok_or(MdocError::Malformed(
                        "a digestID is not an unsigned integer".into(),
                    ))?;
            let Value::Bytes(d) = d else {
                return Err(MdocError::Malformed("a digest is not a byte string".into()).into());
            };
            if digests.insert((ns.clone(), id), d).is_some() {
                return Err(MdocError::Malformed("a digestID appears twice".into()).into());
            }
        }
    }
    let status = if mso.iter().any(|(k, _)| k.as_text() == Some("status")) {
        read_status(take(&mut mso, "status", "MSO")?)?
    } else {
        None
    };
    Ok((
        Mso {
            doc_type,
            validity,
            device_point,
            status,
        },
        digests,
    ))
}

/// Every IssuerSignedItem of `namespaces` checked against its digest: (namespace,
/// identifier) to value.
fn check_items(namespaces: Value, digests: &Digests) -> Result<BTreeMap<(String, String), Value>> {
    let mut elements = BTreeMap::new();
    for (name, items) in map_entries(namespaces, "nameSpaces")? {
        let name = name
            .as_text()
            .ok_or(MdocError::Malformed("a namespace is not text".into()))?
            .to_owned();
        for item in cbor::array(items, "IssuerSignedItems")? {
            // The digest covers the item as written: tag 24 and the byte string.
            let raw = cbor::encode(&item);
            let inner = untag24(&item, "IssuerSignedItemBytes")?;
            let mut m = map_entries(cbor::decode(&inner)?, "IssuerSignedItem")?;
            let id = take(&mut m, "digestID", "IssuerSignedItem")?
                .as_integer()
                .and_then(|i| u64::try_from(i).ok())
                .ok_or(MdocError::Malformed(
                    "digestID is not an unsigned integer".into(),
                ))?;
            let ident = match take(&mut m, "elementIdentifier", "IssuerSignedItem")? {
                Value::Text(s) => s,
                _ => {
                    return Err(MdocError::Malformed("elementIdentifier is not text".into()).into())
                }
            };
            let value = take(&mut m, "elementValue", "IssuerSignedItem")?;
            match take(&mut m, "random", "IssuerSignedItem")? {
                Value::Bytes(r) if r.len() >= 16 => {}
                _ => {
                    return Err(
                        MdocError::Malformed("random is shorter than 16 bytes".into()).into(),
                    )
                }
            }
            let want = digests.get(&(name.clone(), id)).ok_or_else(|| {
                MdocError::Digest(format!("{name}/{ident} has no digest in the MSO"))
            })?;
            if Sha256::digest(&raw)[..] != want[..] {
                return Err(
                    MdocError::Digest(format!("{name}/{ident} does not match its digest")).into(),
                );
            }
            if elements
                .insert((name.clone(), ident.clone()), value)
                .is_some()
            {
                return Err(MdocError::Malformed(format!("{name}/{ident} appears twice")).into());
            }
        }
    }
    Ok(elements)
}

/// A trusted IACA certificate, parsed once.
#[derive(Clone, Debug)]
pub struct Iaca {
    der: Vec<u8>,
    cert: x509::Parsed,
}

impl Iaca {
    /// Parses an IACA certificate (DER). It must be a CA certificate with a P-256 key.
    pub fn from_der(der: &[u8]) -> Result<Iaca> {
        let cert = x509::Parsed::from_der(der)?;
        if !cert.is_ca {
            return Err(MdocError::Chain("the IACA certificate is not a CA".into()).into());
        }
        Ok(Iaca {
            der: der.to_vec(),
            cert,
        })
    }
    /// The certificate as DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
    /// Its subject, as text.
    pub fn subject(&self) -> &str {
        &self.cert.subject
    }
    pub(crate) fn parsed(&self) -> &x509::Parsed {
        &self.cert
    }
}

/// Two certificates are the same when their DER is.
impl PartialEq for Iaca {
    fn eq(&self, other: &Iaca) -> bool {
        self.der == other.der
    }
}

/// What a reader learns from a verified mdoc.
#[derive(Clone, Debug, PartialEq)]
pub struct Verified {
    /// The document type.
    pub doc_type: String,
    /// The disclosed elements: (namespace, identifier) to value.
    pub elements: BTreeMap<(String, String), Value>,
    /// The document signer's subject.
    pub signer: String,
    /// The MSO's validity.
    pub validity: Validity,
    /// Which of the trusted IACAs the document signer chains to (its index in the
    /// `iacas` given to [`verify`]).
    pub iaca: usize,
    /// SHA-256 of the document signer's TBSCertificate: how a trust list names it when
    /// it is revoked.
    pub signer_tbs: [u8; 32],
    /// The MSO's status (the card's revocation bit), when it names one.
    pub status: Option<MsoStatus>,
}

/// The reader's checks of a DeviceResponse (18013-5 section 9.3.1), for the first and only
/// document: the document signer chained to one of `iacas` and valid at `now`, the MSO
/// signed by it for the Document's own docType (a reader in a session also checks it is
/// the one it asked for: the session reader's `finish`), valid at `now`,
/// every disclosed element's digest in the MSO, and the device signature over
/// `session_transcript` by the MSO's device key. Starts count with [`CLOCK_SKEW_SECS`] of
/// slack for a reader whose clock is behind. Any failure refuses the whole response.
pub fn verify(
    response: &[u8],
    iacas: &[Iaca],
    session_transcript: &[u8],
    now: i64,
) -> Result<Verified> {
    if response.len() > MAX_RESPONSE {
        return Err(MdocError::TooLarge(response.len()).into());
    }
    let mut top = map_entries(cbor::decode(response)?, "DeviceResponse")?;
    if take(&mut top, "version", "DeviceResponse")?.as_text() != Some("1.0") {
        return Err(MdocError::Malformed("DeviceResponse version is not 1.0".into()).into());
    }
    match take(&mut top, "status", "DeviceResponse")?.as_integer() {
        Some(s) if s == 0.into() => {}
        _ => return Err(MdocError::Malformed("DeviceResponse status is not 0 (OK)".into()).into()),
    }
    let mut docs = cbor::array(take(&mut top, "documents", "DeviceResponse")?, "documents")?;
    if docs.len() != 1 {
        return Err(MdocError::Malformed("expected exactly one document".into()).into());
    }
    let mut doc = map_entries(docs.remove(0), "Document")?;
    let doc_type = match take(&mut doc, "docType", "Document")? {
        Value::Text(s) => s,
        _ => return Err(MdocError::Malformed("docType is not text".into()).into()),
    };
    let mut issuer_signed =
        map_entries(take(&mut doc, "issuerSigned", "Document")?, "IssuerSigned")?;
    let issuer_auth = take(&mut issuer_signed, "issuerAuth", "IssuerSigned")?;
    let sign1 = CoseSign1::from_cbor_value(issuer_auth)
        .map_err(|e| MdocError::Malformed(format!("issuerAuth: {e}")))?;
    if sign1.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::ES256,
        ))
    {
        return Err(MdocError::Issuer("issuerAuth is not signed with ES256".into()).into());
    }
    if !sign1.protected.header.crit.is_empty() {
        return Err(MdocError::Issuer("issuerAuth names critical header parameters".into()).into());
    }
    let ds_der = x5chain_leaf(&sign1)?;
    let ds = x509::Parsed::from_der(&ds_der)?;
    let (iaca_index, iaca) = iacas
        .iter()
        .enumerate()
        .find(|(_, i)| i.cert.subject_der == ds.issuer_der && x509::signed_by(&ds, &i.cert))
        .ok_or_else(|| {
            MdocError::Chain(format!(
                "the document signer `{}` is not signed by any trusted IACA",
                ds.subject
            ))
        })?;
    for (c, what) in [
        (&iaca.cert, "the IACA certificate"),
        (&ds, "the document signer certificate"),
    ] {
        if now + CLOCK_SKEW_SECS < c.not_before || now > c.not_after {
            return Err(MdocError::Chain(format!("{what} is not valid at this time")).into());
        }
    }
    if !ds.eku_mdl_ds || ds.is_ca {
        return Err(MdocError::Chain(
            "the document signer certificate is not for signing mdocs (EKU 1.0.18013.5.1.2)".into(),
        )
        .into());
    }
    sign1
        .verify_signature(b"", |sig, tbs| es256(&ds.public_key, tbs, sig))
        .map_err(|()| MdocError::Issuer("the MSO's signature does not verify".into()))?;
    let (mso, digests) = read_mso(&sign1)?;
    if mso.doc_type != doc_type {
        return Err(MdocError::Issuer("the MSO is for another docType".into()).into());
    }
    let validity = mso.validity;
    if now + CLOCK_SKEW_SECS < validity.valid_from || now > validity.valid_until {
        return Err(MdocError::Expired.into());
    }
    // The MSO must have been signed while the document signer certificate was valid.
    if validity.signed < ds.not_before || validity.signed > ds.not_after {
        return Err(MdocError::Chain(
            "the MSO was signed outside the document signer's validity".into(),
        )
        .into());
    }
    let device_point = mso.device_point;
    // nameSpaces is optional (a response may disclose nothing); repeated, it is malformed.
    let elements = if issuer_signed
        .iter()
        .any(|(k, _)| k.as_text() == Some("nameSpaces"))
    {
        check_items(
            take(&mut issuer_signed, "nameSpaces", "IssuerSigned")?,
            &digests,
        )?
    } else {
        BTreeMap::new()
    };
    // Nothing else: a misspelt "nameSpaces" must not pass as a response that discloses
    // nothing.
    if let Some((k, _)) = issuer_signed.first() {
        return Err(MdocError::Malformed(format!("IssuerSigned has an unknown key {k:?}")).into());
    }
    // Device authentication (section 9.1.3): a signature by the MSO's device key over
    // DeviceAuthentication, which binds this session's transcript.
    let mut device_signed =
        map_entries(take(&mut doc, "deviceSigned", "Document")?, "DeviceSigned")?;
    let device_namespaces = take(&mut device_signed, "nameSpaces", "DeviceSigned")?;
    untag24(&device_namespaces, "DeviceNameSpacesBytes")?;
    let mut device_auth = map_entries(
        take(&mut device_signed, "deviceAuth", "DeviceSigned")?,
        "DeviceAuth",
    )?;
    let dsig = CoseSign1::from_cbor_value(
        take(&mut device_auth, "deviceSignature", "DeviceAuth").map_err(|_| {
            MdocError::Device("no device signature (device MAC is not accepted)".into())
        })?,
    )
    .map_err(|e| MdocError::Malformed(format!("deviceSignature: {e}")))?;
    if dsig.protected.header.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::ES256,
        ))
    {
        return Err(MdocError::Device("the device signature is not ES256".into()).into());
    }
    if !dsig.protected.header.crit.is_empty() {
        return Err(MdocError::Device(
            "the device signature names critical header parameters".into(),
        )
        .into());
    }
    if dsig.payload.is_some() {
        return Err(
            MdocError::Device("the device signature's payload must be detached".into()).into(),
        );
    }
    let auth = Value::Array(vec![
        Value::Text("DeviceAuthentication".into()),
        cbor::decode(session_transcript)?,
        Value::Text(doc_type.clone()),
        device_namespaces,
    ]);
    let detached = cbor::encode(&tag24(&auth));
    dsig.verify_detached_signature(&detached, b"", |sig, tbs| es256(&device_point, tbs, sig))
        .map_err(|()| {
            MdocError::Device("the device signature does not verify for this session".into())
        })?;
    Ok(Verified {
        doc_type,
        elements,
        signer_tbs: ds.tbs_sha256(),
        status: mso.status,
        signer: ds.subject,
        validity,
        iaca: iaca_index,
    })
}

/// The document signer certificate of a COSE_Sign1's `x5chain` (RFC 9360 section 2: one
/// certificate as a byte string, or an array, leaf first).
pub(crate) fn x5chain_leaf(sign1: &CoseSign1) -> Result<Vec<u8>> {
    let label = coset::Label::Int(iana::HeaderParameter::X5Chain as i64);
    let mut found = sign1
        .unprotected
        .rest
        .iter()
        .chain(sign1.protected.header.rest.iter())
        .filter(|(l, _)| *l == label)
        .map(|(_, v)| v);
    let (Some(v), None) = (found.next(), found.next()) else {
        return Err(MdocError::Chain("issuerAuth carries no single x5chain".into()).into());
    };
    match v {
        Value::Bytes(b) => Ok(b.clone()),
        Value::Array(a) => match a.first() {
            Some(Value::Bytes(b)) => Ok(b.clone()),
            _ => Err(MdocError::Chain("x5chain holds no certificate".into()).into()),
        },
        _ => Err(MdocError::Chain("x5chain is not a certificate".into()).into()),
    }
}

/// X.509 as the mdoc profile uses it (18013-5 Annex B): parsing with a maintained crate,
/// and building IACA and document signer certificates.
pub mod x509 {
    use crate::error::{MdocError, Result};
    use x509_cert::der::{Decode as _, Encode as _};

    /// The parts of a certificate the reader checks.
    #[derive(Clone, Debug)]
    pub struct Parsed {
        pub(crate) subject: String,
        pub(crate) subject_der: Vec<u8>,
        pub(crate) issuer_der: Vec<u8>,
        pub(crate) not_before: i64,
        pub(crate) not_after: i64,
        pub(crate) public_key: Vec<u8>,
        pub(crate) is_ca: bool,
        pub(crate) eku_mdl_ds: bool,
        pub(crate) eku_reader_auth: bool,
        /// A reader certificate's allowed elements (its `tuaton-may-request:` URIs).
        pub(crate) allowed: Option<super::Request>,
        tbs: Vec<u8>,
        signature: Vec<u8>,
    }

    impl Parsed {
        /// SHA-256 of the TBSCertificate (DER): how trust lists name a revoked certificate.
        /// The signature is left out, so no re-encoding of it (ECDSA's (r, n - s)) makes
        /// a revoked certificate look like another.
        pub fn tbs_sha256(&self) -> [u8; 32] {
            use sha2::Digest as _;
            sha2::Sha256::digest(&self.tbs).into()
        }

        /// Parses a DER certificate with a P-256 key signed by ECDSA with SHA-256.
        pub fn from_der(der: &[u8]) -> Result<Parsed> {
            let bad = |why: String| MdocError::Chain(why);
            let cert = x509_cert::Certificate::from_der(der)
                .map_err(|e| bad(format!("not an X.509 certificate: {e}")))?;
            let tbs = &cert.tbs_certificate;
            let ecdsa_sha256 = x509_cert::der::oid::db::rfc5912::ECDSA_WITH_SHA_256;
            if cert.signature_algorithm.oid != ecdsa_sha256 {
                return Err(
                    bad("certificates must be signed with ECDSA and SHA-256".into()).into(),
                );
            }
            let spki = &tbs.subject_public_key_info;
            let p256 = x509_cert::der::oid::db::rfc5912::SECP_256_R_1;
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<x509_cert::der::asn1::ObjectIdentifier>().ok());
            if spki.algorithm.oid != x509_cert::der::oid::db::rfc5912::ID_EC_PUBLIC_KEY
                || curve != Some(p256)
            {
                return Err(bad("certificate keys must be P-256".into()).into());
            }
            let mut is_ca = false;
            let mut eku_mdl_ds = false;
            let mut eku_reader_auth = false;
            let mut allowed: Option<super::Request> = None;
            let mut seen = std::collections::BTreeSet::new();
            for ext in tbs.extensions.iter().flatten() {
                // RFC 5280 section 4.2: an extension appears at most once.
                if !seen.insert(ext.extn_id) {
                    return Err(bad(format!("the extension {} appears twice", ext.extn_id)).into());
                }
                use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage};
                if ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS {
                    is_ca = BasicConstraints::from_der(ext.extn_value.as_bytes())
                        .map_err(|_| bad("a basic constraints extension is damaged".into()))?
                        .ca;
                } else if ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_EXT_KEY_USAGE {
                    let eku = ExtendedKeyUsage::from_der(ext.extn_value.as_bytes())
                        .map_err(|_| bad("an extended key usage extension is damaged".into()))?;
                    eku_mdl_ds = eku.0.iter().any(|o| o.to_string() == super::EKU_MDL_DS);
                    eku_reader_auth = eku
                        .0
                        .iter()
                        .any(|o| o.to_string() == super::EKU_READER_AUTH);
                } else if ext.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME {
                    use x509_cert::ext::pkix::{name::GeneralName, SubjectAltName};
                    let san =
                        SubjectAltName::from_der(ext.extn_value.as_bytes()).map_err(|_| {
                            bad("a subject alternative name extension is damaged".into())
                        })?;
                    for n in san.0 {
                        if let GeneralName::UniformResourceIdentifier(u) = n {
                            let u = u.as_str();
                            if let Some(rest) = u.strip_prefix(super::ALLOWED_URI_SCHEME) {
                                let (ns, id) = rest.split_once('/').ok_or_else(|| {
                                    bad(format!(
                                        "an allowed element `{}` names no namespace",
                                        u.escape_debug()
                                    ))
                                })?;
                                allowed
                                    .get_or_insert_with(Default::default)
                                    .entry(ns.to_owned())
                                    .or_default()
                                    .push(id.to_owned());
                            }
                        }
                    }
                } else if ext.critical
                    && ext.extn_id != x509_cert::der::oid::db::rfc5280::ID_CE_KEY_USAGE
                {
                    return Err(
                        bad(format!("an unknown critical extension {}", ext.extn_id)).into(),
                    );
                }
            }
            let time = |t: &x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
            Ok(Parsed {
                subject: tbs.subject.to_string(),
                subject_der: tbs.subject.to_der().map_err(|e| bad(e.to_string()))?,
                issuer_der: tbs.issuer.to_der().map_err(|e| bad(e.to_string()))?,
                not_before: time(&tbs.validity.not_before),
                not_after: time(&tbs.validity.not_after),
                public_key: spki.subject_public_key.raw_bytes().to_vec(),
                is_ca,
                eku_mdl_ds,
                eku_reader_auth,
                allowed,
                tbs: tbs.to_der().map_err(|e| bad(e.to_string()))?,
                signature: cert.signature.raw_bytes().to_vec(),
            })
        }
    }

    /// A certificate in PEM (RFC 7468: base64 in lines of 64, BEGIN/END CERTIFICATE).
    pub fn pem(der: &[u8]) -> String {
        x509_cert::der::pem::encode_string("CERTIFICATE", x509_cert::der::pem::LineEnding::LF, der)
            .expect("a certificate's length fits PEM")
    }

    /// The certificates of a PEM text (every `CERTIFICATE` block, in order), at most 16
    /// of at most 8 KiB each: a bundle's `iaca.pem`.
    pub fn from_pem(text: &str) -> Result<Vec<Vec<u8>>> {
        use base64::Engine as _;
        let bad = |why: &str| MdocError::Chain(format!("PEM: {why}"));
        let mut out = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
            let body = &rest[start + 27..];
            let end = body
                .find("-----END CERTIFICATE-----")
                .ok_or_else(|| bad("a certificate has no END line"))?;
            if end > 12 * 1024 || out.len() == 16 {
                return Err(bad("more or larger certificates than a bundle holds").into());
            }
            let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
            out.push(
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|_| bad("a certificate is not base64"))?,
            );
            rest = &body[end + 25..];
        }
        if out.is_empty() {
            return Err(bad("no certificate").into());
        }
        Ok(out)
    }

    /// Whether `cert` is signed by `issuer`'s key (ECDSA P-256, SHA-256, DER signature).
    pub(crate) fn signed_by(cert: &Parsed, issuer: &Parsed) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
            &issuer.public_key,
        )
        .verify(&cert.tbs, &cert.signature)
        .is_ok()
    }

    /// Who a certificate is for, and where its issuing authority is found (Annex B asks
    /// every certificate for both).
    #[derive(Clone, Debug)]
    pub struct Subject<'a> {
        /// ISO 3166-1 alpha-2 country (Annex B: the IACA's countryName).
        pub country: &'a str,
        /// The organisation or common name.
        pub common_name: &'a str,
        /// The issuing authority's web address (`https://...`): the certificate's issuer
        /// alternative name.
        pub authority_url: &'a str,
        /// Where the issuing authority publishes its certificate revocation list: the
        /// certificate's CRL distribution point.
        pub crl_url: &'a str,
    }

    /// Annex B's issuer alternative name and CRL distribution point (both non-critical).
    fn authority_extensions(
        b: &mut x509_cert::builder::CertificateBuilder<'_, p256::ecdsa::SigningKey>,
        s: &Subject<'_>,
    ) -> Result<()> {
        use x509_cert::ext::pkix::crl::dp::DistributionPoint;
        use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
        use x509_cert::ext::pkix::{CrlDistributionPoints, IssuerAltName};
        let chain = |e: String| crate::Error::from(MdocError::Chain(e));
        let uri = |u: &str| {
            if !u.starts_with("https://") || u.len() > 200 {
                return Err(chain(format!("`{u}` is not an https:// address")));
            }
            x509_cert::der::asn1::Ia5String::new(u)
                .map(GeneralName::UniformResourceIdentifier)
                .map_err(|e| chain(e.to_string()))
        };
        b.add_extension(&IssuerAltName(vec![uri(s.authority_url)?]))
            .map_err(|e| chain(e.to_string()))?;
        b.add_extension(&CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: Some(DistributionPointName::FullName(vec![uri(s.crl_url)?])),
            reasons: None,
            crl_issuer: None,
        }]))
        .map_err(|e| chain(e.to_string()))?;
        Ok(())
    }

    fn name(s: &Subject<'_>) -> Result<x509_cert::name::Name> {
        use std::str::FromStr as _;
        if s.country.len() != 2 || !s.country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(MdocError::Chain("a country must be two capital letters".into()).into());
        }
        // X.520 counts characters (Thai letters are 3 bytes each in UTF-8).
        if s.common_name.is_empty()
            || s.common_name.chars().count() > 64
            || s.common_name
                .chars()
                .any(|c| c.is_control() || crate::text::forbidden(c) || ",+=\"\\<>;#".contains(c))
        {
            return Err(MdocError::Chain(
                "a certificate name must be 1-64 characters with no , + = \" \\ < > ; #".into(),
            )
            .into());
        }
        x509_cert::name::Name::from_str(&format!("CN={},C={}", s.common_name, s.country))
            .map_err(|e| MdocError::Chain(e.to_string()).into())
    }

    fn validity(not_before: i64, not_after: i64) -> Result<x509_cert::time::Validity> {
        let t = |s: i64| {
            let d = std::time::Duration::from_secs(
                u64::try_from(s)
                    .map_err(|_| MdocError::Chain("a certificate time before 1970".into()))?,
            );
            x509_cert::time::Time::try_from(std::time::UNIX_EPOCH + d)
                .map_err(|e| crate::Error::from(MdocError::Chain(e.to_string())))
        };
        if not_after <= not_before {
            return Err(MdocError::Chain("a certificate's validity is empty".into()).into());
        }
        Ok(x509_cert::time::Validity {
            not_before: t(not_before)?,
            not_after: t(not_after)?,
        })
    }

    fn serial(s: u64) -> Result<x509_cert::serial_number::SerialNumber> {
        // Positive and non-zero, as RFC 5280 section 4.1.2.2 asks.
        x509_cert::serial_number::SerialNumber::new(&(s.max(1)).to_be_bytes())
            .map_err(|e| MdocError::Chain(e.to_string()).into())
    }

    /// A self-signed IACA root certificate (18013-5 Annex B.1.2) for `key`.
    pub fn iaca(
        key: &p256::ecdsa::SigningKey,
        subject: &Subject<'_>,
        serial_number: u64,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
        use x509_cert::der::referenced::OwnedToRef as _;
        use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
        let chain = |e: String| crate::Error::from(MdocError::Chain(e));
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*key.verifying_key())
            .map_err(|e| chain(e.to_string()))?;
        let ski = SubjectKeyIdentifier::try_from(spki.owned_to_ref())
            .map_err(|e| chain(e.to_string()))?;
        // Annex B.1.2 exactly: a CA that certifies end entities only (path length 0),
        // keyCertSign and cRLSign, the key identifier, the authority's name and CRL.
        let mut b = CertificateBuilder::new(
            Profile::Manual { issuer: None },
            serial(serial_number)?,
            validity(not_before, not_after)?,
            name(subject)?,
            spki,
            key,
        )
        .map_err(|e| chain(e.to_string()))?;
        let add = |e: x509_cert::builder::Error| chain(e.to_string());
        b.add_extension(&ski).map_err(add)?;
        b.add_extension(&BasicConstraints {
            ca: true,
            path_len_constraint: Some(0),
        })
        .map_err(add)?;
        b.add_extension(&KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign))
            .map_err(add)?;
        authority_extensions(&mut b, subject)?;
        let cert = b
            .build::<p256::ecdsa::DerSignature>()
            .map_err(|e| chain(e.to_string()))?;
        cert.to_der().map_err(|e| chain(e.to_string()))
    }

    /// A certificate revocation list (RFC 5280 section 5) of the CA whose key and
    /// certificate are given: version 2, the serial numbers revoked (none yet for tuaton's
    /// CAs: document signers and reader certificates are short-lived), this and the next
    /// update, the CRL number and the authority key identifier. Signed with ECDSA SHA-256.
    pub fn crl(
        ca_key: &p256::ecdsa::SigningKey,
        ca_der: &[u8],
        revoked: &[(u64, i64)],
        number: u64,
        this_update: i64,
        next_update: i64,
    ) -> Result<Vec<u8>> {
        use x509_cert::der::referenced::OwnedToRef as _;
        use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, SubjectKeyIdentifier};
        use x509_cert::ext::AsExtension as _;
        let chain = |e: String| crate::Error::from(MdocError::Chain(e));
        let ca = x509_cert::Certificate::from_der(ca_der).map_err(|e| chain(e.to_string()))?;
        let ski = SubjectKeyIdentifier::try_from(
            ca.tbs_certificate.subject_public_key_info.owned_to_ref(),
        )
        .map_err(|e| chain(e.to_string()))?;
        let issuer = ca.tbs_certificate.subject.clone();
        let times = validity(this_update, next_update)?;
        let alg = x509_cert::spki::AlgorithmIdentifierOwned {
            oid: x509_cert::der::oid::db::rfc5912::ECDSA_WITH_SHA_256,
            parameters: None,
        };
        let revoked_certificates = (!revoked.is_empty())
            .then(|| {
                revoked
                    .iter()
                    .map(|(s, at)| {
                        Ok(x509_cert::crl::RevokedCert {
                            serial_number: serial(*s)?,
                            revocation_date: validity(*at, at + 1)?.not_before,
                            crl_entry_extensions: None,
                        })
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(ski.0),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let number = CrlNumber(
            x509_cert::der::asn1::Uint::new(&number.max(1).to_be_bytes())
                .map_err(|e| chain(e.to_string()))?,
        );
        let extensions = vec![
            aki.to_extension(&issuer, &[])
                .map_err(|e| chain(e.to_string()))?,
            number
                .to_extension(&issuer, &[])
                .map_err(|e| chain(e.to_string()))?,
        ];
        let tbs = x509_cert::crl::TbsCertList {
            version: x509_cert::Version::V2,
            signature: alg.clone(),
            issuer,
            this_update: times.not_before,
            next_update: Some(times.not_after),
            revoked_certificates,
            crl_extensions: Some(extensions),
        };
        let tbs_der = tbs.to_der().map_err(|e| chain(e.to_string()))?;
        let sig: p256::ecdsa::DerSignature = p256::ecdsa::signature::Signer::sign(ca_key, &tbs_der);
        let list = x509_cert::crl::CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: alg,
            signature: x509_cert::der::asn1::BitString::from_bytes(sig.as_bytes())
                .map_err(|e| chain(e.to_string()))?,
        };
        list.to_der().map_err(|e| chain(e.to_string()))
    }

    /// A document signer certificate (18013-5 Annex B.1.4) for `ds_key`, signed by the
    /// IACA `iaca_key` whose certificate is `iaca_der`. At most
    /// [`MAX_DS_VALIDITY_DAYS`](super::MAX_DS_VALIDITY_DAYS) long.
    pub fn document_signer(
        iaca_key: &p256::ecdsa::SigningKey,
        iaca_der: &[u8],
        ds_key: &p256::ecdsa::VerifyingKey,
        subject: &Subject<'_>,
        serial_number: u64,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        if not_after - not_before > super::MAX_DS_VALIDITY_DAYS * 86_400 {
            return Err(MdocError::Chain(
                "a document signer certificate may be valid for at most 457 days".into(),
            )
            .into());
        }
        let leaf = Leaf {
            subject,
            serial_number,
            not_before,
            not_after,
            eku: super::EKU_MDL_DS,
            uris: vec![],
        };
        leaf.build(iaca_key, iaca_der, ds_key)
    }

    /// A reader certificate authority's self-signed root (the airport authority's): the
    /// same profile as an IACA root.
    pub fn reader_ca(
        key: &p256::ecdsa::SigningKey,
        subject: &Subject<'_>,
        serial_number: u64,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>> {
        iaca(key, subject, serial_number, not_before, not_after)
    }

    /// A reader authentication certificate (18013-5 Annex B.1.7: extended key usage
    /// 1.0.18013.5.1.6) for `reader_key`, issued by the reader CA, listing the elements its
    /// holder may request (one `tuaton-may-request:NS/ELEMENT` URI each).
    #[allow(clippy::too_many_arguments)]
    pub fn reader_certificate(
        ca_key: &p256::ecdsa::SigningKey,
        ca_der: &[u8],
        reader_key: &p256::ecdsa::VerifyingKey,
        subject: &Subject<'_>,
        serial_number: u64,
        not_before: i64,
        not_after: i64,
        allowed: &super::Request,
    ) -> Result<Vec<u8>> {
        let mut uris = vec![];
        for (ns, ids) in allowed {
            for id in ids {
                let ok = |t: &str| {
                    !t.is_empty()
                        && t.bytes().all(|b| {
                            b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-'
                        })
                };
                if !ok(ns) || !ok(id) {
                    return Err(MdocError::Chain(format!(
                        "`{ns}/{id}` is not a namespace and element identifier"
                    ))
                    .into());
                }
                uris.push(format!("{}{ns}/{id}", super::ALLOWED_URI_SCHEME));
            }
        }
        let leaf = Leaf {
            subject,
            serial_number,
            not_before,
            not_after,
            eku: super::EKU_READER_AUTH,
            uris,
        };
        leaf.build(ca_key, ca_der, reader_key)
    }

    /// An end-entity certificate under a root: Annex B's extensions exactly (key usage
    /// digitalSignature alone, where the builder's leaf profile would add nonRepudiation;
    /// one extended key usage; the key identifiers), and any subject alternative URIs.
    struct Leaf<'a> {
        subject: &'a Subject<'a>,
        serial_number: u64,
        not_before: i64,
        not_after: i64,
        eku: &'static str,
        uris: Vec<String>,
    }

    impl Leaf<'_> {
        fn build(
            &self,
            ca_key: &p256::ecdsa::SigningKey,
            ca_der: &[u8],
            key: &p256::ecdsa::VerifyingKey,
        ) -> Result<Vec<u8>> {
            use x509_cert::builder::{Builder as _, CertificateBuilder, Profile};
            use x509_cert::der::referenced::OwnedToRef as _;
            use x509_cert::ext::pkix::{
                name::GeneralName, AuthorityKeyIdentifier, ExtendedKeyUsage, KeyUsage, KeyUsages,
                SubjectAltName, SubjectKeyIdentifier,
            };
            let chain = |e: String| crate::Error::from(MdocError::Chain(e));
            let ca = x509_cert::Certificate::from_der(ca_der).map_err(|e| chain(e.to_string()))?;
            let ca_ski = SubjectKeyIdentifier::try_from(
                ca.tbs_certificate.subject_public_key_info.owned_to_ref(),
            )
            .map_err(|e| chain(e.to_string()))?;
            let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_key(*key)
                .map_err(|e| chain(e.to_string()))?;
            let ski = SubjectKeyIdentifier::try_from(spki.owned_to_ref())
                .map_err(|e| chain(e.to_string()))?;
            let mut b = CertificateBuilder::new(
                Profile::Manual {
                    issuer: Some(ca.tbs_certificate.subject.clone()),
                },
                serial(self.serial_number)?,
                validity(self.not_before, self.not_after)?,
                name(self.subject)?,
                spki,
                ca_key,
            )
            .map_err(|e| chain(e.to_string()))?;
            let add = |e: x509_cert::builder::Error| chain(e.to_string());
            b.add_extension(&ski).map_err(add)?;
            b.add_extension(&AuthorityKeyIdentifier {
                key_identifier: Some(ca_ski.0),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            })
            .map_err(add)?;
            b.add_extension(&KeyUsage(KeyUsages::DigitalSignature.into()))
                .map_err(add)?;
            b.add_extension(&ExtendedKeyUsage(vec![self
                .eku
                .parse()
                .expect("a valid OID")]))
                .map_err(add)?;
            authority_extensions(&mut b, self.subject)?;
            if !self.uris.is_empty() {
                let names = self
                    .uris
                    .iter()
                    .map(|u| {
                        x509_cert::der::asn1::Ia5String::new(u)
                            .map(GeneralName::UniformResourceIdentifier)
                            .map_err(|e| chain(e.to_string()))
                    })
                    .collect::<Result<Vec<_>>>()?;
                b.add_extension(&SubjectAltName(names)).map_err(add)?;
            }
            let cert = b
                .build::<p256::ecdsa::DerSignature>()
                .map_err(|e| chain(e.to_string()))?;
            cert.to_der().map_err(|e| chain(e.to_string()))
        }
    }
}

/// A document signer whose key is in memory (tests, vectors, and the sealed issuer store).
pub struct InMemorySigner {
    /// The document signer's P-256 key.
    pub key: p256::ecdsa::SigningKey,
    /// Its certificate (DER).
    pub certificate: Vec<u8>,
}

impl DocumentSigner for InMemorySigner {
    fn certificate(&self) -> &[u8] {
        &self.certificate
    }
    fn sign_es256(&self, message: &[u8]) -> Result<[u8; 64]> {
        use p256::ecdsa::signature::Signer as _;
        let s: p256::ecdsa::Signature = self.key.sign(message);
        Ok(s.to_bytes().into())
    }
}

/// The SessionTranscript of a response made outside any session (`export --mdoc`):
/// `[null, null, "tuaton-export"]`. A reader that checks a session's answer passes that
/// session's transcript instead, so an exported response never passes as a live one.
pub fn export_transcript() -> Vec<u8> {
    cbor::encode(&Value::Array(vec![
        Value::Null,
        Value::Null,
        Value::Text("tuaton-export".into()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng as _;
    use rand_core::RngCore as _;

    const NOW: i64 = 1_796_342_400; // 2026-12-04T00:00:00Z
    const DAY: i64 = 86_400;

    struct Setup {
        iaca: Iaca,
        iaca_key: p256::ecdsa::SigningKey,
        ds: InMemorySigner,
        device: p256::ecdsa::SigningKey,
        issued: Vec<u8>,
    }

    fn rng(seed: u64) -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(seed)
    }

    fn subject(cn: &str) -> x509::Subject<'_> {
        x509::Subject {
            country: "TH",
            common_name: cn,
            authority_url: "https://tuaton.invalid",
            crl_url: "https://tuaton.invalid/bundle/ca.crl",
        }
    }

    fn setup() -> Setup {
        let iaca_key = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        let iaca_der = x509::iaca(
            &iaca_key,
            &subject("tuaton IACA"),
            1,
            NOW - DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let ds_key = p256::ecdsa::SigningKey::from_slice(&[4; 32]).unwrap();
        let ds_der = x509::document_signer(
            &iaca_key,
            &iaca_der,
            ds_key.verifying_key(),
            &subject("tuaton DS 1"),
            2,
            NOW - DAY,
            NOW + 365 * DAY,
        )
        .unwrap();
        let ds = InMemorySigner {
            key: ds_key,
            certificate: ds_der,
        };
        let device = p256::ecdsa::SigningKey::from_slice(&[5; 32]).unwrap();
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let issued = issue(
            &claims,
            age,
            &device.holder_key(),
            validity(),
            None,
            &ds,
            &mut rng(1),
        )
        .unwrap();
        Setup {
            iaca: Iaca::from_der(&iaca_der).unwrap(),
            iaca_key,
            ds,
            device,
            issued,
        }
    }

    fn validity() -> Validity {
        Validity {
            signed: NOW,
            valid_from: NOW,
            valid_until: NOW + 90 * DAY,
        }
    }

    fn transcript(n: u8) -> Vec<u8> {
        cbor::encode(&Value::Array(vec![
            Value::Bytes(vec![n; 8]),
            Value::Null,
            Value::Null,
        ]))
    }

    fn mdoc_error(r: Result<Verified>) -> MdocError {
        match r {
            Err(crate::Error::Mdoc(e)) => e,
            other => panic!("expected an mdoc refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_full_response_verifies_with_every_element() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let v = verify(
            &resp,
            std::slice::from_ref(&s.iaca),
            &transcript(1),
            NOW + 60,
        )
        .unwrap();
        assert_eq!(v.doc_type, DOC_TYPE);
        let claims = crate::sample::citizen(0);
        let get = |ns: &str, id: &str| v.elements.get(&(ns.to_owned(), id.to_owned())).cloned();
        assert_eq!(
            get(NS_ISO, "family_name"),
            Some(Value::Text(claims.family_name_en.as_str().into()))
        );
        assert_eq!(
            get(NS_TH, "given_name_th"),
            Some(Value::Text(claims.given_name_th.as_str().into()))
        );
        assert_eq!(get(NS_ISO, "portrait"), Some(Value::Bytes(claims.portrait)));
        assert_eq!(
            v.elements.len(),
            elements(
                &crate::sample::citizen(0),
                AgeClaims::on(claims.birth_date, claims.issue_date)
            )
            .len()
        );
        assert!(v.signer.contains("tuaton DS 1"));
    }

    #[test]
    fn a_request_discloses_only_what_it_names() {
        let s = setup();
        let req: Request = [(
            NS_ISO.to_owned(),
            vec!["age_over_20".to_owned(), "portrait".to_owned()],
        )]
        .into_iter()
        .collect();
        let resp = respond(&s.issued, Some(&req), &transcript(1), &s.device).unwrap();
        let v = verify(&resp, &[s.iaca], &transcript(1), NOW).unwrap();
        let keys: Vec<_> = v.elements.keys().map(|(_, id)| id.as_str()).collect();
        assert_eq!(keys, ["age_over_20", "portrait"]);
    }

    #[test]
    fn a_request_for_nothing_the_card_has_leaves_namespaces_out() {
        // 18013-5: IssuerNameSpaces is non-empty, so it is omitted rather than empty
        // (isomdl refused the empty map).
        let s = setup();
        let req: Request = [(
            "org.iso.18013.5.1".to_owned(),
            vec!["age_over_21".to_owned()],
        )]
        .into_iter()
        .collect();
        let resp = respond(&s.issued, Some(&req), &transcript(1), &s.device).unwrap();
        // Only the device-signed part's (tagged, empty) nameSpaces remains.
        let named = resp.windows(10).filter(|w| *w == b"nameSpaces".as_slice());
        assert_eq!(named.count(), 1);
        let v = verify(&resp, std::slice::from_ref(&s.iaca), &transcript(1), NOW).unwrap();
        assert!(v.elements.is_empty());
    }

    #[test]
    fn a_response_for_another_session_is_refused() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let e = mdoc_error(verify(&resp, &[s.iaca], &transcript(2), NOW));
        assert!(matches!(e, MdocError::Device(_)), "{e}");
    }

    #[test]
    fn another_device_key_cannot_answer_for_the_card() {
        let s = setup();
        let thief = p256::ecdsa::SigningKey::from_slice(&[9; 32]).unwrap();
        let resp = respond(&s.issued, None, &transcript(1), &thief).unwrap();
        let e = mdoc_error(verify(&resp, &[s.iaca], &transcript(1), NOW));
        assert!(matches!(e, MdocError::Device(_)), "{e}");
    }

    #[test]
    fn a_changed_element_fails_its_digest() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        // Flip `age_over_20`'s value inside its IssuerSignedItemBytes and re-wrap it.
        let mut v = cbor::decode(&resp).unwrap();
        let item = find_item(&mut v, "age_over_20");
        let Value::Tag(24, inner) = item else {
            panic!()
        };
        let Value::Bytes(b) = inner.as_mut() else {
            panic!()
        };
        let mut m = cbor::decode(b).unwrap();
        if let Value::Map(entries) = &mut m {
            for (k, val) in entries.iter_mut() {
                if k.as_text() == Some("elementValue") {
                    *val = Value::Bool(!val.as_bool().unwrap());
                }
            }
        }
        *b = cbor::encode(&m);
        let e = mdoc_error(verify(&cbor::encode(&v), &[s.iaca], &transcript(1), NOW));
        assert!(matches!(e, MdocError::Digest(_)), "{e}");
    }

    fn find_item<'a>(v: &'a mut Value, id: &str) -> &'a mut Value {
        let Value::Map(top) = v else { panic!() };
        let docs = &mut top
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("documents"))
            .unwrap()
            .1;
        let Value::Array(docs) = docs else { panic!() };
        let Value::Map(doc) = &mut docs[0] else {
            panic!()
        };
        let is = &mut doc
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("issuerSigned"))
            .unwrap()
            .1;
        let Value::Map(is) = is else { panic!() };
        let ns = &mut is
            .iter_mut()
            .find(|(k, _)| k.as_text() == Some("nameSpaces"))
            .unwrap()
            .1;
        let Value::Map(ns) = ns else { panic!() };
        for (_, items) in ns.iter_mut() {
            let Value::Array(items) = items else { panic!() };
            for item in items.iter_mut() {
                if element_id(item).unwrap() == id {
                    return item;
                }
            }
        }
        panic!("no element {id}")
    }

    #[test]
    fn a_document_signer_from_an_unknown_iaca_is_refused() {
        let s = setup();
        // A look-alike root: same name, another key.
        let fake_key = p256::ecdsa::SigningKey::from_slice(&[6; 32]).unwrap();
        let fake_der = x509::iaca(
            &fake_key,
            &subject("tuaton IACA"),
            1,
            NOW - DAY,
            NOW + 3650 * DAY,
        )
        .unwrap();
        let ds_der = x509::document_signer(
            &fake_key,
            &fake_der,
            s.ds.key.verifying_key(),
            &subject("tuaton DS 1"),
            2,
            NOW - DAY,
            NOW + 365 * DAY,
        )
        .unwrap();
        let forged = InMemorySigner {
            key: s.ds.key.clone(),
            certificate: ds_der,
        };
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let issued = issue(
            &claims,
            age,
            &s.device.holder_key(),
            validity(),
            None,
            &forged,
            &mut rng(2),
        )
        .unwrap();
        let resp = respond(&issued, None, &transcript(1), &s.device).unwrap();
        let e = mdoc_error(verify(&resp, &[s.iaca], &transcript(1), NOW));
        assert!(matches!(e, MdocError::Chain(_)), "{e}");
    }

    #[test]
    fn the_iaca_itself_cannot_sign_an_mso() {
        // A CA certificate in x5chain (no mdoc-DS usage) is not a document signer.
        let s = setup();
        let as_ds = InMemorySigner {
            key: s.iaca_key.clone(),
            certificate: s.iaca.der().to_vec(),
        };
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let issued = issue(
            &claims,
            age,
            &s.device.holder_key(),
            validity(),
            None,
            &as_ds,
            &mut rng(3),
        )
        .unwrap();
        let resp = respond(&issued, None, &transcript(1), &s.device).unwrap();
        let e = mdoc_error(verify(&resp, &[s.iaca], &transcript(1), NOW));
        assert!(matches!(e, MdocError::Chain(_)), "{e}");
    }

    #[test]
    fn outside_the_mso_window_or_the_certificates_it_is_refused() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let late = verify(
            &resp,
            std::slice::from_ref(&s.iaca),
            &transcript(1),
            NOW + 91 * DAY,
        );
        assert_eq!(mdoc_error(late), MdocError::Expired);
        let early = verify(
            &resp,
            std::slice::from_ref(&s.iaca),
            &transcript(1),
            NOW - CLOCK_SKEW_SECS - 1,
        );
        assert_eq!(mdoc_error(early), MdocError::Expired);
        // A reader whose clock is a minute slow still reads a card issued just now.
        assert!(verify(
            &resp,
            std::slice::from_ref(&s.iaca),
            &transcript(1),
            NOW - 60
        )
        .is_ok());
        // Past the document signer's certificate (365 days), even if the MSO said more.
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let long = Validity {
            valid_until: NOW + 800 * DAY,
            ..validity()
        };
        let issued = issue(
            &claims,
            age,
            &s.device.holder_key(),
            long,
            None,
            &s.ds,
            &mut rng(4),
        )
        .unwrap();
        let resp = respond(&issued, None, &transcript(1), &s.device).unwrap();
        let e = mdoc_error(verify(&resp, &[s.iaca], &transcript(1), NOW + 400 * DAY));
        assert!(matches!(e, MdocError::Chain(_)), "{e}");
    }

    #[test]
    fn a_replaced_mso_signature_is_refused() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let mut bytes = resp.clone();
        // The MSO's ES256 signature is the last 64-byte string of issuerAuth: find and flip it.
        let sig = {
            let v = cbor::decode(&s.issued).unwrap();
            let Value::Map(m) = v else { panic!() };
            let auth = m
                .into_iter()
                .find(|(k, _)| k.as_text() == Some("issuerAuth"))
                .unwrap()
                .1;
            let Value::Array(a) = auth else { panic!() };
            let Value::Bytes(sig) = &a[3] else { panic!() };
            sig.clone()
        };
        let at = bytes.windows(64).position(|w| w == sig.as_slice()).unwrap();
        bytes[at + 10] ^= 1;
        let e = mdoc_error(verify(&bytes, &[s.iaca], &transcript(1), NOW));
        assert!(matches!(e, MdocError::Issuer(_)), "{e}");
    }

    #[test]
    fn hostile_bytes_are_refused_never_a_panic() {
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let mut r = rng(7);
        for i in 0..400 {
            let mut b = resp.clone();
            let n = (r.next_u32() as usize) % 4 + 1;
            let mut flips = vec![];
            for _ in 0..n {
                let at = (r.next_u32() as usize) % b.len();
                b[at] ^= 1 << (i % 8);
                flips.push(at);
            }
            // A flip inside the portrait's bytes changes its digest; anything else breaks
            // structure or a signature. Nothing verifies.
            assert!(
                verify(&b, std::slice::from_ref(&s.iaca), &transcript(1), NOW).is_err(),
                "flips at {flips:?} of {}: {}",
                b.len(),
                hex::encode(&resp[flips[0].saturating_sub(40)..(flips[0] + 40).min(resp.len())])
            );
        }
        for cut in [0, 1, resp.len() / 2, resp.len() - 1] {
            assert!(verify(
                &resp[..cut],
                std::slice::from_ref(&s.iaca),
                &transcript(1),
                NOW
            )
            .is_err());
        }
        let huge = vec![0u8; MAX_RESPONSE + 1];
        assert_eq!(
            mdoc_error(verify(&huge, &[s.iaca], &transcript(1), NOW)),
            MdocError::TooLarge(MAX_RESPONSE + 1)
        );
    }

    #[test]
    fn a_misspelt_namespaces_key_is_not_an_empty_disclosure() {
        // Found by the bit-flip test: with `nameSpaces` renamed, the response once
        // verified, disclosing nothing.
        let s = setup();
        let resp = respond(&s.issued, None, &transcript(1), &s.device).unwrap();
        let at = resp.windows(10).position(|w| w == b"nameSpaces").unwrap();
        let mut b = resp.clone();
        b[at + 7] ^= 0x02;
        let e = mdoc_error(verify(
            &b,
            std::slice::from_ref(&s.iaca),
            &transcript(1),
            NOW,
        ));
        assert!(matches!(e, MdocError::Malformed(_)), "{e}");
    }

    #[test]
    fn an_ed25519_holder_cannot_hold_an_mdoc() {
        let s = setup();
        let ed = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let claims = crate::sample::citizen(0);
        let age = AgeClaims::on(claims.birth_date, claims.issue_date);
        let e = issue(
            &claims,
            age,
            &ed.holder_key(),
            validity(),
            None,
            &s.ds,
            &mut rng(5),
        )
        .unwrap_err();
        assert!(
            matches!(e, crate::Error::Mdoc(MdocError::DeviceKey(_))),
            "{e}"
        );
    }

    #[test]
    fn certificate_names_and_lifetimes_are_checked_when_made() {
        let k = p256::ecdsa::SigningKey::from_slice(&[3; 32]).unwrap();
        assert!(x509::iaca(&k, &subject("a,CN=evil"), 1, NOW, NOW + DAY).is_err());
        assert!(x509::iaca(
            &k,
            &x509::Subject {
                country: "th",
                common_name: "x",
                authority_url: "https://tuaton.invalid",
                crl_url: "https://tuaton.invalid/bundle/ca.crl",
            },
            1,
            NOW,
            NOW + DAY
        )
        .is_err());
        assert!(x509::iaca(&k, &subject("x"), 1, NOW, NOW).is_err());
        let root = x509::iaca(&k, &subject("x"), 1, NOW, NOW + 4000 * DAY).unwrap();
        let too_long = x509::document_signer(
            &k,
            &root,
            k.verifying_key(),
            &subject("ds"),
            2,
            NOW,
            NOW + 458 * DAY,
        );
        assert!(too_long.is_err());
    }
}
