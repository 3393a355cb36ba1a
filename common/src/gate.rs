//! The gate form: the card's claims in compact CBOR, signed by the issuer as COSE_Sign1
//! (EdDSA), with selective disclosure by salted digests over disclosure groups.
//!
//! Byte budget (see docs/FORMAT.md): a flight presentation must fit QR version 13-M,
//! about 320 bytes, of which ~200 are signatures and keys. So the issuer signs two
//! *members* per credential: `full` (a salted digest for every group) and `flight` (the
//! flight group's claims inline, no digests). Both bind the same holder key.

use crate::cbor::{self, err, u};
use crate::cbor::{Head, Reader, Seq};
use crate::error::{Error, Result};
use crate::model::{CardClaims, CitizenId, Expiry, LaserCode, Name, PartialDate, Title};
use crate::thai;
use chrono::NaiveDate;
use ciborium::Value;
use coset::{iana, CborSerializable, CoseSign1Builder, HeaderBuilder};
use rand_core::CryptoRngCore;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `type` value for a Thai national ID card.
pub const TYPE_THAI_NATIONAL_ID: u64 = 1;
/// Bytes of a salt (at least 16, per the selective-disclosure schemes this follows).
pub const SALT_LEN: usize = 16;
/// Bytes of a truncated digest: 128 bits, the floor for second-preimage resistance here.
pub const DIGEST_LEN: usize = 16;
/// Seconds Thailand is ahead of UTC; card dates are Thai calendar days.
pub use crate::model::THAI_UTC_OFFSET;

/// A disclosure group: the unit the holder chooses to reveal or not.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum Group {
    /// Citizen ID, title, Thai and English names, birth date.
    Flight = 0,
    /// Address, laser code, issuing office.
    Details = 1,
    /// The portrait JPEG (too large for a QR; travels over BLE).
    Portrait = 2,
    /// The derived claim age_over_18.
    AgeOver18 = 3,
    /// The derived claim age_over_20.
    AgeOver20 = 4,
}

/// What the citizen is told leaves the phone when `groups` are disclosed: one text per
/// group, then the card's dates (always disclosed: they are the credential's validity).
/// The one wording of consent, for a QR presentation and a session alike.
pub fn consent_text(groups: &[Group]) -> String {
    groups
        .iter()
        .map(|g| g.consent())
        .chain(["card issue and expiry dates"])
        .collect::<Vec<_>>()
        .join("; ")
}

impl Group {
    /// What this group discloses, in the citizen's words.
    pub fn consent(self) -> &'static str {
        match self {
            Group::Flight => "citizen ID, names in Thai and English, birth date",
            Group::Details => "address, laser code, issuing office",
            Group::Portrait => "portrait",
            Group::AgeOver18 => "whether you are 18 or older",
            Group::AgeOver20 => "whether you are 20 or older",
        }
    }

    /// All groups, in key order.
    pub const ALL: [Group; 5] = [
        Group::Flight,
        Group::Details,
        Group::Portrait,
        Group::AgeOver18,
        Group::AgeOver20,
    ];
    /// From the CBOR key.
    pub fn from_key(k: u64) -> Option<Group> {
        Group::ALL.into_iter().find(|g| *g as u64 == k)
    }
    /// Name used in docs and errors.
    pub fn name(self) -> &'static str {
        match self {
            Group::Flight => "flight",
            Group::Details => "details",
            Group::Portrait => "portrait",
            Group::AgeOver18 => "age_over_18",
            Group::AgeOver20 => "age_over_20",
        }
    }
}

/// Where a credential's revocation bit lives: (status list number, index in it).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct StatusRef {
    /// The issuer's status list number.
    pub list: u32,
    /// The bit index in that list.
    pub index: u64,
}

/// Truncated SHA-256 of a disclosure's exact bytes.
pub fn digest(disclosure: &[u8]) -> [u8; DIGEST_LEN] {
    let h = Sha256::digest(disclosure);
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&h[..DIGEST_LEN]);
    out
}

/// Text in the gate form: TIS-620 bytes when the text is Thai/ASCII, else UTF-8 text.
fn enc_text(s: &str) -> Value {
    match thai::to_tis620(s) {
        Some(b) => Value::Bytes(b),
        None => Value::Text(s.to_owned()),
    }
}

fn dec_text(r: &mut Reader<'_>, field: &'static str) -> Result<Name> {
    let s = match r.head()? {
        Head::Bytes(len) => {
            let b = r.string_after(len, false)?;
            thai::from_tis620(&b).ok_or_else(|| err(format!("{field}: not TIS-620")))?
        }
        Head::Text(len) => {
            let b = r.string_after(len, true)?;
            return Name::parse(
                field,
                std::str::from_utf8(&b).expect("checked by the reader"),
            );
        }
        _ => return Err(err(format!("{field}: expected text"))),
    };
    Name::parse(field, &s)
}

/// Days since 1970-01-01.
pub fn epoch_days(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid")).num_days()
}

/// The date `days` after 1970-01-01.
pub fn from_epoch_days(days: i64) -> Result<NaiveDate> {
    NaiveDate::from_ymd_opt(1970, 1, 1)
        .expect("valid")
        .checked_add_signed(
            chrono::Duration::try_days(days).ok_or_else(|| err("date out of range"))?,
        )
        .filter(|d| (1800..=9999).contains(&chrono::Datelike::year(d)))
        .ok_or_else(|| err("date out of range"))
}

/// The first second (Unix time) of Thai calendar day `d`.
pub fn thai_day_start(d: NaiveDate) -> i64 {
    epoch_days(d) * 86_400 - THAI_UTC_OFFSET
}

fn enc_partial(d: PartialDate) -> Value {
    match d {
        PartialDate::Full(d) => cbor::i(epoch_days(d)),
        PartialDate::Year(y) => Value::Array(vec![cbor::i(y.into())]),
        PartialDate::YearMonth(y, m) => Value::Array(vec![cbor::i(y.into()), u(m)]),
    }
}

fn dec_partial(r: &mut Reader<'_>) -> Result<PartialDate> {
    let s = match r.peek()? {
        Head::Uint(_) | Head::Nint(_) | Head::Tag(_) => {
            return Ok(PartialDate::Full(from_epoch_days(r.int("birth_date")?)?))
        }
        Head::Array(_) => {
            let mut a = r.array("birth_date")?;
            let shape = "birth_date: expected [year] or [year, month]";
            a.expect(r, shape)?;
            let y = r.int("birth_date year")?;
            if a.next(r)? {
                let m = r.uint("birth_date month")?;
                a.end(r, shape)?;
                format!("{y:04}-{m:02}")
            } else {
                format!("{y:04}")
            }
        }
        _ => return Err(err("birth_date: expected a day count or an array")),
    };
    PartialDate::parse("birth_date", &s).map_err(|e| err(e.to_string()))
}

/// The claims of one group as CBOR values (after the salt).
fn group_values(g: Group, c: &CardClaims, age18: bool, age20: bool) -> Vec<Value> {
    match g {
        Group::Flight => vec![
            u(c.citizen_id.as_u64()),
            match c.title.code() {
                Some(code) => u(code),
                None => Value::Array(vec![
                    enc_text(c.title.th.as_str()),
                    enc_text(c.title.en.as_str()),
                ]),
            },
            enc_text(c.given_name_th.as_str()),
            enc_text(c.family_name_th.as_str()),
            enc_text(c.given_name_en.as_str()),
            enc_text(c.family_name_en.as_str()),
            enc_partial(c.birth_date),
        ],
        Group::Details => vec![
            enc_text(c.address.as_str()),
            Value::Text(c.laser_code.as_str().to_owned()),
            enc_text(c.issuing_office.as_str()),
        ],
        Group::Portrait => vec![Value::Bytes(c.portrait.clone())],
        Group::AgeOver18 => vec![Value::Bool(age18)],
        Group::AgeOver20 => vec![Value::Bool(age20)],
    }
}

/// Claims revealed by a presentation. Validity dates come from the signed payload and are
/// always present; the rest only when their group was disclosed.
#[derive(Clone, PartialEq, Debug, Default)]
pub struct DisclosedClaims {
    /// Citizen ID (flight group).
    pub citizen_id: Option<CitizenId>,
    /// Title (flight group).
    pub title: Option<Title>,
    /// Thai given name (flight group).
    pub given_name_th: Option<Name>,
    /// Thai family name (flight group).
    pub family_name_th: Option<Name>,
    /// English given name (flight group).
    pub given_name_en: Option<Name>,
    /// English family name (flight group).
    pub family_name_en: Option<Name>,
    /// Birth date (flight group).
    pub birth_date: Option<PartialDate>,
    /// Address (details group).
    pub address: Option<Name>,
    /// Laser code (details group).
    pub laser_code: Option<LaserCode>,
    /// Issuing office (details group).
    pub issuing_office: Option<Name>,
    /// Portrait JPEG (portrait group).
    pub portrait: Option<Vec<u8>>,
    /// age_over_18 (its own group).
    pub age_over_18: Option<bool>,
    /// age_over_20 (its own group).
    pub age_over_20: Option<bool>,
    /// Card issue date (= the credential's valid-from).
    pub issue_date: Option<NaiveDate>,
    /// Card expiry (= the credential's valid-until).
    pub expiry: Option<Expiry>,
}

impl DisclosedClaims {
    /// Adds the claims of one disclosure (the bytes whose digest was checked):
    /// `[salt, claims...]`.
    pub fn add_group(&mut self, g: Group, disclosure: &[u8]) -> Result<()> {
        let mut r = Reader::new(disclosure);
        let mut items = r.array(g.name())?;
        if !items.next(&mut r)? {
            return Err(err(format!("{}: empty disclosure", g.name())));
        }
        if r.bytes("salt")?.len() < SALT_LEN {
            return Err(err(format!("salt shorter than {SALT_LEN} bytes")));
        }
        self.add_claims(g, &mut r, items)?;
        r.finish()
    }

    /// Adds the claims of one group from the CBOR array of its claims (no salt): a flight
    /// member's inline claims.
    pub(crate) fn add_inline(&mut self, g: Group, claims: &[u8]) -> Result<()> {
        let mut r = Reader::new(claims);
        let items = r.array(g.name())?;
        self.add_claims(g, &mut r, items)?;
        r.finish()
    }

    /// Reads exactly the claims of `g` from the rest of `items`. Claims are set as they
    /// are read; a caller that gets an error shows none of them.
    fn add_claims(&mut self, g: Group, r: &mut Reader<'_>, mut items: Seq) -> Result<()> {
        // A fixed message per group: this runs for every scan, and formatting one would
        // cost more than reading the claims.
        let count = match g {
            Group::Flight => "flight: expected 7 claims",
            Group::Details => "details: expected 3 claims",
            Group::Portrait => "portrait: expected 1 claim",
            Group::AgeOver18 => "age_over_18: expected 1 claim",
            Group::AgeOver20 => "age_over_20: expected 1 claim",
        };
        let mut next = |r: &mut Reader<'_>| items.expect(r, count);
        match g {
            Group::Flight => {
                next(r)?;
                let id = r.uint("citizen_id")?;
                self.citizen_id = Some(CitizenId::from_u64(id).map_err(|e| err(e.to_string()))?);
                next(r)?;
                self.title = Some(if let Head::Array(_) = r.peek()? {
                    let mut t = r.array("title")?;
                    t.expect(r, "title")?;
                    let th = dec_text(r, "title_th")?;
                    t.expect(r, "title")?;
                    let en = dec_text(r, "title_en")?;
                    t.end(r, "title")?;
                    Title { th, en }
                } else {
                    Title::from_code(r.uint("title")?).ok_or_else(|| err("unknown title code"))?
                });
                next(r)?;
                self.given_name_th = Some(dec_text(r, "given_name_th")?);
                next(r)?;
                self.family_name_th = Some(dec_text(r, "family_name_th")?);
                next(r)?;
                self.given_name_en = Some(dec_text(r, "given_name_en")?);
                next(r)?;
                self.family_name_en = Some(dec_text(r, "family_name_en")?);
                next(r)?;
                self.birth_date = Some(dec_partial(r)?);
            }
            Group::Details => {
                next(r)?;
                self.address = Some(dec_text(r, "address")?);
                next(r)?;
                let lc = r.text("laser_code")?;
                self.laser_code = Some(LaserCode::parse(&lc).map_err(|e| err(e.to_string()))?);
                next(r)?;
                self.issuing_office = Some(dec_text(r, "issuing_office")?);
            }
            Group::Portrait => {
                next(r)?;
                self.portrait = Some(r.bytes("portrait")?.into_owned());
            }
            Group::AgeOver18 => {
                next(r)?;
                self.age_over_18 = Some(r.boolean("age_over_18")?);
            }
            Group::AgeOver20 => {
                next(r)?;
                self.age_over_20 = Some(r.boolean("age_over_20")?);
            }
        }
        items.end(r, count)
    }

    /// Claims as a flat JSON object, in the CLI's field names.
    pub fn to_json(&self) -> serde_json::Value {
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), serde_json::Value::String(v));
            }
        };
        put("citizen_id", self.citizen_id.map(|c| c.to_string()));
        put("title_th", self.title.as_ref().map(|t| t.th.to_string()));
        put(
            "given_name_th",
            self.given_name_th.as_ref().map(Name::to_string),
        );
        put(
            "family_name_th",
            self.family_name_th.as_ref().map(Name::to_string),
        );
        put("title_en", self.title.as_ref().map(|t| t.en.to_string()));
        put(
            "given_name_en",
            self.given_name_en.as_ref().map(Name::to_string),
        );
        put(
            "family_name_en",
            self.family_name_en.as_ref().map(Name::to_string),
        );
        put("birth_date", self.birth_date.map(|d| d.to_string()));
        put("address", self.address.as_ref().map(Name::to_string));
        put(
            "laser_code",
            self.laser_code.as_ref().map(|l| l.as_str().to_owned()),
        );
        put(
            "issuing_office",
            self.issuing_office.as_ref().map(Name::to_string),
        );
        put(
            "issue_date",
            self.issue_date.map(|d| d.format("%Y-%m-%d").to_string()),
        );
        put("expiry_date", self.expiry.map(|e| e.to_string()));
        if let Some(b) = self.age_over_18 {
            m.insert("age_over_18".into(), b.into());
        }
        if let Some(b) = self.age_over_20 {
            m.insert("age_over_20".into(), b.into());
        }
        if let Some(p) = &self.portrait {
            m.insert("portrait_bytes".into(), p.len().into());
        }
        serde_json::Value::Object(m)
    }
}

/// The issuer-signed payload (CBOR map, integer keys; see FORMAT.md).
#[derive(Clone, PartialEq, Debug)]
pub struct Payload {
    /// 1: issuer number in the trust list.
    pub issuer: u32,
    /// 2: credential id (8 random bytes, unique per issuer).
    pub credential_id: [u8; 8],
    /// 3: issued at, Unix seconds.
    pub issued_at: i64,
    /// 4: valid from (card issue date), Thai calendar day.
    pub valid_from: NaiveDate,
    /// 5: valid until (card expiry, inclusive); absent for lifelong cards.
    pub valid_until: Option<NaiveDate>,
    /// 6: the revocation status bit.
    pub status: StatusRef,
    /// 7: the holder's public key (cnf): Ed25519 (32 bytes) or P-256 (33, compressed).
    pub holder_key: crate::holder::HolderKey,
    /// 8: credential type.
    pub cred_type: u64,
    /// 9: truncated digests of the groups this member discloses selectively.
    pub digests: BTreeMap<Group, [u8; DIGEST_LEN]>,
    /// 10: the flight group's claims carried in the clear (the `flight` member only), as
    /// the exact bytes of their CBOR array; they are decoded by the verifier.
    /// A member that always discloses exactly one group gains nothing from a salted
    /// digest of it, and the 40 bytes it would cost decide the QR version.
    pub inline_flight: Option<Vec<u8>>,
}

impl Payload {
    /// The payload as a CBOR value, for signing. `inline_flight` must hold claims this
    /// issuer encoded; bytes it cannot decode are an error, never a panic.
    fn to_value(&self) -> Result<Value> {
        let mut m = vec![
            (u(1u8), u(self.issuer)),
            (u(2u8), Value::Bytes(self.credential_id.to_vec())),
            (u(3u8), cbor::i(self.issued_at)),
            (u(4u8), cbor::i(epoch_days(self.valid_from))),
        ];
        if let Some(d) = self.valid_until {
            m.push((u(5u8), cbor::i(epoch_days(d))));
        }
        m.push((
            u(6u8),
            Value::Array(vec![u(self.status.list), u(self.status.index)]),
        ));
        m.push((u(7u8), Value::Bytes(self.holder_key.as_bytes().to_vec())));
        m.push((u(8u8), u(self.cred_type)));
        if !self.digests.is_empty() {
            m.push((
                u(9u8),
                Value::Map(
                    self.digests
                        .iter()
                        .map(|(g, d)| (u(*g as u8), Value::Bytes(d.to_vec())))
                        .collect(),
                ),
            ));
        }
        if let Some(f) = &self.inline_flight {
            m.push((u(10u8), cbor::decode(f)?));
        }
        Ok(Value::Map(m))
    }

    /// Decodes payload bytes. Unknown keys are refused: every signed byte must mean
    /// something this verifier checks.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let mut issuer = None;
        let mut cid = None;
        let mut iat = None;
        let mut nbf = None;
        let mut exp = None;
        let mut status = None;
        let mut cnf = None;
        let mut typ = None;
        let mut digests = BTreeMap::new();
        let mut inline_flight = None;
        let mut r = Reader::new(b);
        let mut entries = r.map("payload")?;
        let mut keys = IncreasingKeys::default();
        while entries.next(&mut r)? {
            match keys.next(&mut r, "payload")? {
                1 => {
                    issuer = Some(
                        u32::try_from(r.uint("issuer")?).map_err(|_| err("issuer too large"))?,
                    )
                }
                2 => cid = Some(r.fixed::<8>("credential id")?),
                3 => iat = Some(r.int("issued at")?),
                4 => nbf = Some(from_epoch_days(r.int("valid from")?)?),
                5 => exp = Some(from_epoch_days(r.int("valid until")?)?),
                6 => {
                    let mut a = r.array("status")?;
                    let shape = "status: expected [list, index]";
                    a.expect(&mut r, shape)?;
                    let list = u32::try_from(r.uint("status list")?)
                        .map_err(|_| err("status list too large"))?;
                    a.expect(&mut r, shape)?;
                    let index = r.uint("status index")?;
                    a.end(&mut r, shape)?;
                    status = Some(StatusRef { list, index });
                }
                7 => {
                    let b = r.bytes("holder key")?;
                    cnf = Some(crate::holder::HolderKey::from_bytes(&b).ok_or_else(|| {
                        err("holder key: expected 32 bytes (Ed25519) or 33 (P-256)")
                    })?);
                }
                8 => typ = Some(r.uint("type")?),
                9 => {
                    let mut d = r.map("digests")?;
                    let mut groups = IncreasingKeys::default();
                    digests.clear();
                    while d.next(&mut r)? {
                        let g = Group::from_key(groups.next(&mut r, "digests")?)
                            .ok_or_else(|| err("unknown disclosure group"))?;
                        digests.insert(g, r.fixed::<DIGEST_LEN>("digest")?);
                    }
                }
                10 => {
                    let Head::Array(_) = r.peek()? else {
                        return Err(err("flight claims: expected an array"));
                    };
                    inline_flight = Some(r.item()?.to_vec());
                }
                k => return Err(err(format!("payload: unknown key {k}"))),
            }
        }
        r.finish()?;
        let need = |what: &str| err(format!("payload: {what} missing"));
        Ok(Payload {
            issuer: issuer.ok_or_else(|| need("issuer"))?,
            credential_id: cid.ok_or_else(|| need("credential id"))?,
            issued_at: iat.ok_or_else(|| need("issued at"))?,
            valid_from: nbf.ok_or_else(|| need("valid from"))?,
            valid_until: exp,
            status: status.ok_or_else(|| need("status"))?,
            holder_key: cnf.ok_or_else(|| need("holder key"))?,
            cred_type: typ.ok_or_else(|| need("type"))?,
            digests,
            inline_flight,
        })
    }

    /// First second the credential is valid (Unix time).
    pub fn valid_from_time(&self) -> i64 {
        thai_day_start(self.valid_from)
    }
    /// First second it is no longer valid (Unix time); `None` for lifelong.
    pub fn valid_until_time(&self) -> Option<i64> {
        self.valid_until.map(|d| thai_day_start(d) + 86_400)
    }
}

/// A parsed issuer-signed member (COSE_Sign1), borrowing the exact signed bytes from
/// what was decoded (never re-encoded).
#[derive(Clone, Debug)]
pub struct IssuerSigned<'a> {
    /// The protected header's bytes, as received.
    pub protected: Cow<'a, [u8]>,
    /// Key id from the protected header.
    pub kid: Cow<'a, [u8]>,
    /// The exact payload bytes that were signed.
    pub payload_bytes: Cow<'a, [u8]>,
    /// The decoded payload.
    pub payload: Payload,
    /// The issuer's Ed25519 signature.
    pub signature: [u8; 64],
}

impl<'a> IssuerSigned<'a> {
    /// Parses member bytes: an untagged COSE_Sign1 and its payload, nothing after it.
    pub fn from_bytes(b: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(b);
        let is = Self::read(&mut r)?;
        r.finish()?;
        Ok(is)
    }

    /// Reads a COSE_Sign1 (RFC 9052 section 4.2) from `r`: `[protected: bstr,
    /// unprotected: {}, payload: bstr, signature: bstr .size 64]`.
    pub(crate) fn read(r: &mut Reader<'a>) -> Result<Self> {
        let shape = "COSE_Sign1: expected 4 items";
        let mut a = r.array("COSE_Sign1")?;
        a.expect(r, shape)?;
        let protected = r.bytes("COSE_Sign1 protected header")?;
        a.expect(r, shape)?;
        if r.map("COSE_Sign1 unprotected header")?.next(r)? {
            return Err(err("COSE_Sign1: unexpected header parameters"));
        }
        a.expect(r, shape)?;
        let payload_bytes = match r.peek()? {
            Head::Null => return Err(err("COSE_Sign1: detached payload")),
            _ => r.bytes("COSE_Sign1 payload")?,
        };
        a.expect(r, shape)?;
        let signature = r
            .fixed::<64>("COSE_Sign1 signature")
            .map_err(|_| err("COSE_Sign1: signature is not 64 bytes"))?;
        a.end(r, shape)?;
        let kid = match protected_kid(&protected) {
            Some(range) => match &protected {
                Cow::Borrowed(p) => Cow::Borrowed(&p[range]),
                Cow::Owned(p) => Cow::Owned(p[range].to_vec()),
            },
            None => Cow::Owned(protected_kid_by_coset(&protected)?),
        };
        let payload = Payload::from_bytes(&payload_bytes)?;
        Ok(IssuerSigned {
            protected,
            kid,
            payload_bytes,
            payload,
            signature,
        })
    }

    /// The bytes Ed25519 signs: the COSE Sig_structure `["Signature1", protected, h'',
    /// payload]` (RFC 9052 section 4.4) with empty external AAD.
    pub fn to_be_signed(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.protected.len() + self.payload_bytes.len() + 24);
        out.push(0x84);
        out.push(0x6a);
        out.extend_from_slice(b"Signature1");
        push_bstr(&mut out, &self.protected);
        push_bstr(&mut out, b"");
        push_bstr(&mut out, &self.payload_bytes);
        out
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The raw protected header bytes.
    pub fn protected_bytes(&self) -> &[u8] {
        &self.protected
    }
}

/// A byte string in preferred (shortest) encoding, as every COSE encoder writes the
/// Sig_structure.
fn push_bstr(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len() as u64;
    match n {
        0..=23 => out.push(0x40 | n as u8),
        24..=0xff => out.extend_from_slice(&[0x58, n as u8]),
        0x100..=0xffff => {
            out.push(0x59);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(0x5a);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(0x5b);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
    out.extend_from_slice(b);
}

/// The kid's place in a protected header of the shape every tuaton issuer writes,
/// `{1: -8, 4: kid}` (either order, any integer width, a definite non-empty kid), read
/// in one pass. `None` for any other shape: [`protected_kid_by_coset`] then judges it
/// by RFC 9052's rules in full.
fn protected_kid(p: &[u8]) -> Option<std::ops::Range<usize>> {
    let mut r = Reader::new(p);
    let mut entries = r.map("protected").ok()?;
    // `alg` is None until label 1 is read, so a second label 1 goes to coset, which
    // refuses the duplicate (RFC 9052 section 3), whatever the first one said.
    let (mut alg, mut kid) = (None, None);
    while entries.next(&mut r).ok()? {
        match r.uint("label").ok()? {
            1 if alg.is_none() => alg = Some(r.int("alg").ok()? == -8),
            4 if kid.is_none() => {
                let Head::Bytes(Some(n @ 1..)) = r.head().ok()? else {
                    return None;
                };
                let start = r.position();
                r.string_after(Some(n), false).ok()?;
                kid = Some(start..r.position());
            }
            _ => return None,
        }
    }
    r.finish().ok()?;
    kid.filter(|_| alg == Some(true))
}

/// The kid of a protected header outside the common shape, checked with coset: alg
/// EdDSA, a non-empty kid, no crit; other parameters are allowed (and signed).
fn protected_kid_by_coset(p: &[u8]) -> Result<Vec<u8>> {
    let h = coset::ProtectedHeader::from_cbor_bstr(Value::Bytes(p.to_vec()))
        .map_err(|e| err(format!("COSE_Sign1: {e}")))?
        .header;
    if h.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA,
        ))
    {
        return Err(err("COSE_Sign1: algorithm is not EdDSA"));
    }
    if !h.crit.is_empty() {
        return Err(err("COSE_Sign1: unexpected header parameters"));
    }
    if h.key_id.is_empty() {
        return Err(err("COSE_Sign1: no kid in the protected header"));
    }
    Ok(h.key_id)
}

/// Map keys that must be unsigned and strictly increasing (so each appears once).
#[derive(Default)]
pub(crate) struct IncreasingKeys(Option<u64>);

impl IncreasingKeys {
    pub(crate) fn next(&mut self, r: &mut Reader<'_>, what: &str) -> Result<u64> {
        let k = r.uint(what)?;
        if self.0.is_some_and(|last| last >= k) {
            return Err(err(format!("{what}: keys out of order or repeated")));
        }
        self.0 = Some(k);
        Ok(k)
    }
}

/// What the issuer hands the wallet: the signed members and the salted disclosures.
#[derive(Clone, Debug, PartialEq)]
pub struct GateCredential {
    /// COSE_Sign1 bytes of the `full` member (digests of every group).
    pub full: Vec<u8>,
    /// COSE_Sign1 bytes of the `flight` member (the flight group's claims inline).
    pub flight: Vec<u8>,
    /// Exact bytes of each group's disclosure `[salt, claims...]`.
    pub disclosures: BTreeMap<Group, Vec<u8>>,
}

impl GateCredential {
    /// CBOR: `{1: full, 2: flight, 3: {group: disclosure}}` (all byte strings).
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&Value::Map(vec![
            (u(1u8), Value::Bytes(self.full.clone())),
            (u(2u8), Value::Bytes(self.flight.clone())),
            (
                u(3u8),
                Value::Map(
                    self.disclosures
                        .iter()
                        .map(|(g, d)| (u(*g as u8), Value::Bytes(d.clone())))
                        .collect(),
                ),
            ),
        ]))
    }

    /// Inverse of [`to_bytes`](Self::to_bytes); checks every member parses and every
    /// disclosure matches the full member's digests.
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let m = cbor::int_map(cbor::decode(b)?, "gate credential")?;
        let mut full = None;
        let mut flight = None;
        let mut disclosures = BTreeMap::new();
        for (k, v) in m {
            match k {
                1 => full = Some(cbor::bytes(v, "full member")?),
                2 => flight = Some(cbor::bytes(v, "flight member")?),
                3 => {
                    for (g, d) in cbor::int_map(v, "disclosures")? {
                        let g =
                            Group::from_key(g).ok_or_else(|| err("unknown disclosure group"))?;
                        disclosures.insert(g, cbor::bytes(d, "disclosure")?);
                    }
                }
                _ => return Err(err(format!("gate credential: unknown key {k}"))),
            }
        }
        // FORMAT.md: `3 => { + group => ... }`, at least one disclosure.
        if disclosures.is_empty() {
            return Err(err("gate credential: no disclosures"));
        }
        let c = GateCredential {
            full: full.ok_or_else(|| err("gate credential: full member missing"))?,
            flight: flight.ok_or_else(|| err("gate credential: flight member missing"))?,
            disclosures,
        };
        let full = IssuerSigned::from_bytes(&c.full)?;
        IssuerSigned::from_bytes(&c.flight)?;
        for (g, want) in &full.payload.digests {
            let d = c
                .disclosures
                .get(g)
                .ok_or_else(|| err(format!("disclosure {} missing", g.name())))?;
            if digest(d) != *want {
                return Err(err(format!(
                    "disclosure {} does not match its digest",
                    g.name()
                )));
            }
        }
        Ok(c)
    }

    /// The decoded full member.
    pub fn full_member(&self) -> Result<IssuerSigned<'_>> {
        IssuerSigned::from_bytes(&self.full)
    }

    /// Every claim, decoded from the disclosures (for the wallet's card view).
    pub fn claims(&self) -> Result<DisclosedClaims> {
        let full = self.full_member()?;
        let mut c = DisclosedClaims {
            issue_date: Some(full.payload.valid_from),
            expiry: Some(
                full.payload
                    .valid_until
                    .map_or(Expiry::Lifelong, Expiry::On),
            ),
            ..Default::default()
        };
        for (g, d) in &self.disclosures {
            c.add_group(*g, d)?;
        }
        Ok(c)
    }
}

/// Everything the issuer decides about one credential besides the claims.
pub struct IssueParams<'a> {
    /// Issuer number in the trust list.
    pub issuer: u32,
    /// The signing key and its kid.
    pub signing_key: &'a dyn crate::signer::KeySigner,
    /// Key id, as listed in the trust list.
    pub kid: &'a [u8],
    /// The holder's public key, from the enrollment request.
    pub holder_key: crate::holder::HolderKey,
    /// Credential id (unique per issuer).
    pub credential_id: [u8; 8],
    /// Status bit.
    pub status: StatusRef,
    /// Issuance time, Unix seconds (passed in: `common` never reads the clock).
    pub issued_at: i64,
}

/// Issues the gate form: salts every group with fresh randomness, then signs both members.
pub fn issue(
    claims: &CardClaims,
    p: &IssueParams<'_>,
    rng: &mut impl CryptoRngCore,
) -> Result<GateCredential> {
    if claims.portrait.is_empty() {
        return Err(Error::field("portrait", "is empty"));
    }
    let issued_on =
        crate::model::thai_date(p.issued_at).ok_or_else(|| err("issued_at out of range"))?;
    let ages = crate::model::AgeClaims::on(claims.birth_date, issued_on);
    let (age18, age20) = (ages.over_18, ages.over_20);
    let mut disclosures = BTreeMap::new();
    for g in Group::ALL {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut items = vec![Value::Bytes(salt.to_vec())];
        items.extend(group_values(g, claims, age18, age20));
        disclosures.insert(g, cbor::encode(&Value::Array(items)));
    }
    let mut payload = Payload {
        issuer: p.issuer,
        credential_id: p.credential_id,
        issued_at: p.issued_at,
        valid_from: claims.issue_date,
        valid_until: match claims.expiry {
            Expiry::On(d) => Some(d),
            Expiry::Lifelong => None,
        },
        status: p.status,
        holder_key: p.holder_key,
        cred_type: TYPE_THAI_NATIONAL_ID,
        digests: disclosures.iter().map(|(g, d)| (*g, digest(d))).collect(),
        inline_flight: None,
    };
    let full = sign_member(&payload, p)?;
    payload.digests.clear();
    payload.inline_flight = Some(cbor::encode(&Value::Array(group_values(
        Group::Flight,
        claims,
        age18,
        age20,
    ))));
    let flight = sign_member(&payload, p)?;
    Ok(GateCredential {
        full,
        flight,
        disclosures,
    })
}

fn sign_member(payload: &Payload, p: &IssueParams<'_>) -> Result<Vec<u8>> {
    let protected = HeaderBuilder::new()
        .algorithm(iana::Algorithm::EdDSA)
        .key_id(p.kid.to_vec())
        .build();
    let cose = CoseSign1Builder::new()
        .protected(protected)
        .payload(cbor::encode(&payload.to_value()?))
        .try_create_signature(b"", |tbs| {
            crate::signer::sign_checked(p.signing_key, tbs).map(|s| s.to_vec())
        })?
        .build();
    cose.to_vec().map_err(|e| err(e.to_string()))
}

/// SHA-256 of a card's claims, unsalted, in the gate form's own encoding (the flight,
/// details and portrait groups; the age claims follow from the birth date). The issuer
/// keeps it per credential so a refresh signs exactly what was issued.
pub fn claims_digest(c: &CardClaims) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tuaton claims v1");
    for g in [Group::Flight, Group::Details, Group::Portrait] {
        h.update(cbor::encode(&Value::Array(group_values(
            g, c, false, false,
        ))));
    }
    let (from, until) = (
        epoch_days(c.issue_date),
        match c.expiry {
            Expiry::On(d) => epoch_days(d),
            Expiry::Lifelong => -1,
        },
    );
    h.update(from.to_be_bytes());
    h.update(until.to_be_bytes());
    h.finalize().into()
}

impl GateCredential {
    /// Every claim of the card, after checking the full member's signature with `key`
    /// (and, by [`GateCredential::from_bytes`], every disclosure against its digest). For
    /// the issuer re-signing its own card; gates use the verify engine.
    pub fn verified_card(&self, key: &ed25519_dalek::VerifyingKey) -> Result<CardClaims> {
        let full = self.full_member()?;
        key.verify_strict(
            &full.to_be_signed(),
            &ed25519_dalek::Signature::from_bytes(&full.signature),
        )
        .map_err(|_| Error::Signature("the card's issuer signature does not verify".into()))?;
        let c = self.claims()?;
        let missing = || err("the card lacks a claim group");
        Ok(CardClaims {
            citizen_id: c.citizen_id.ok_or_else(missing)?,
            title: c.title.ok_or_else(missing)?,
            given_name_th: c.given_name_th.ok_or_else(missing)?,
            family_name_th: c.family_name_th.ok_or_else(missing)?,
            given_name_en: c.given_name_en.ok_or_else(missing)?,
            family_name_en: c.family_name_en.ok_or_else(missing)?,
            birth_date: c.birth_date.ok_or_else(missing)?,
            address: c.address.ok_or_else(missing)?,
            issue_date: c.issue_date.ok_or_else(missing)?,
            expiry: c.expiry.ok_or_else(missing)?,
            laser_code: c.laser_code.ok_or_else(missing)?,
            issuing_office: c.issuing_office.ok_or_else(missing)?,
            portrait: c.portrait.ok_or_else(missing)?,
        })
    }
}
