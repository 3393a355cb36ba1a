//! The credential offer a registration officer's screen shows and the citizen's wallet
//! scans (`TTO2:`), and what the wallet sends back to redeem it. The shape is OpenID for
//! Verifiable Credential Issuance's pre-authorised code flow with a transaction code:
//!
//! - the offer carries the service address, a one-time pre-authorised code, its expiry,
//!   the issuer's root fingerprint and how many digits the transaction code has, signed by
//!   the issuer's active signing key: a wallet sends the transaction code and its proof only
//!   to a service the issuer vouches for, so a relayed or re-wrapped offer (another service
//!   address around the same code) is refused before the code is asked for;
//! - the officer reads the transaction code out loud; it is never in the offer, so a photo
//!   of the screen alone redeems nothing;
//! - the wallet proves possession of its PIN-protected holder key with a signature bound
//!   to the service and the code, so the credential is bound to that key and the proof
//!   cannot be replayed for another offer.
//!
//! Wire format and rules: docs/FORMAT.md, "Credential offer".

use crate::cbor::{self, err};
use crate::error::{Error, Result};
use crate::holder::{HolderKey, HolderSigner};
use crate::oid4vci::PRE_AUTHORIZED_GRANT;
use ciborium::Value;
use ed25519_dalek::Signature;
use sha2::{Digest, Sha256};

/// Prefix of an offer's text.
pub const PREFIX: &str = "TTO2:";
/// Prefix of the first, unsigned offers: refused by name (they could be relayed).
pub const PREFIX_V1: &str = "TTO1:";
/// The longest offer text read (a compact one is about 170 characters, a standard one
/// about 520).
pub const MAX_TEXT: usize = 2048;
/// Scheme of a standard credential offer (OpenID4VCI 1.0 section 4.1).
pub const OID4VCI_SCHEME: &str = "openid-credential-offer://";
/// The extra parameter of a standard offer that carries the issuer's signature
/// (OpenID4VCI 1.0 section 4.1.1 lets an issuer add parameters; other wallets ignore it).
pub const SIGNATURE_PARAM: &str = "tuaton_offer_signature";
/// The credential configurations an offer names (docs/ISSUANCE.md, "OpenID4VCI").
pub const CONFIGURATION_IDS: [&str; 3] = [
    crate::oid4vci::CONFIG_CARD,
    crate::oid4vci::CONFIG_LDP,
    crate::oid4vci::CONFIG_MDOC,
];
/// The longest service address an offer may carry.
pub const MAX_SERVICE: usize = 256;
/// Bytes of the pre-authorised code (128 bits: not guessable within an offer's life).
pub const CODE_LEN: usize = 16;
/// Digits of the transaction code.
pub const TX_CODE_DIGITS: u8 = 6;
const SIGN_TAG: &[u8] = b"tuaton offer v2";
const CODE_TAG: &[u8] = b"tuaton offer code v1";
const TX_TAG: &[u8] = b"tuaton offer transaction code v1";
const PROOF_TAG: &[u8] = b"tuaton offer proof v1";

/// A parsed offer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The issuance service's base URL (http or https).
    pub service: String,
    /// The one-time pre-authorised code.
    pub code: [u8; CODE_LEN],
    /// When the offer stops working (Unix seconds); the service's copy is what counts.
    pub expires: i64,
    /// SHA-256 fingerprint of the issuer's root: the wallet accepts only a trust bundle
    /// that starts from this root.
    pub root: [u8; 32],
    /// Digits of the transaction code the officer reads out.
    pub tx_code_digits: u8,
    /// The issuer's number in the trust list.
    pub issuer: u32,
    /// The kid of the signing key that signed the offer.
    pub kid: Vec<u8>,
    /// Ed25519 over [`Offer::signed_bytes`].
    pub signature: [u8; 64],
}

fn body(o: &Offer) -> Vec<Value> {
    vec![
        Value::Text(o.service.clone()),
        Value::Bytes(o.code.to_vec()),
        cbor::i(o.expires),
        Value::Bytes(o.root.to_vec()),
        Value::Integer(o.tx_code_digits.into()),
        Value::Integer(o.issuer.into()),
        Value::Bytes(o.kid.clone()),
    ]
}

impl Offer {
    /// What the issuer signs: `"tuaton offer v2" || cbor([service, code, expires, root,
    /// tx-digits, issuer, kid])`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut m = SIGN_TAG.to_vec();
        m.extend(cbor::encode(&Value::Array(body(self))));
        m
    }

    /// Signs the offer with the issuer's active key (its `issuer` and `kid` already set).
    pub fn sign(mut self, key: &dyn crate::signer::KeySigner) -> Result<Offer> {
        self.signature = crate::signer::sign_checked(key, &self.signed_bytes())?;
        Ok(self)
    }

    /// Checks the signature against the issuer's keys in a verified trust list: the key
    /// must be listed for this issuer, active, and signing now. Only then is the
    /// service address the issuer's word.
    pub fn verify(&self, keys: &crate::trust::TrustStore, now: i64) -> Result<()> {
        let sig = Signature::from_bytes(&self.signature);
        // Only the active key signs offers (rotation is staged: it is the key the newest
        // bundle names); a retired or revoked key's signature is not the issuer's word.
        let ok = keys.keys_for(self.issuer, &self.kid).any(|k| {
            k.state == crate::trust::KeyState::Active
                && k.window_contains(now)
                && k.public.verify_strict(&self.signed_bytes(), &sig).is_ok()
        });
        if !ok {
            return Err(Error::Signature(
                "the offer is not signed by the issuer its trust bundle names".into(),
            ));
        }
        Ok(())
    }

    /// The offer as text for a QR code: `TTO2:` + base45(CBOR array of the seven fields and
    /// the 64-byte signature).
    pub fn to_text(&self) -> String {
        let mut items = body(self);
        items.push(Value::Bytes(self.signature.to_vec()));
        format!(
            "{PREFIX}{}",
            base45::encode(cbor::encode(&Value::Array(items)))
        )
    }

    /// The offer as a standard OpenID4VCI 1.0 credential offer by value (section 4.1.1):
    /// `openid-credential-offer://?credential_offer=` and the JSON object, with the issuer's
    /// signature over the same seven fields in the extra parameter
    /// `tuaton_offer_signature`: base64url(cbor([expires, root, issuer, kid, sig])).
    pub fn to_oid4vci(&self) -> String {
        let vouch = Value::Array(vec![
            cbor::i(self.expires),
            Value::Bytes(self.root.to_vec()),
            Value::Integer(self.issuer.into()),
            Value::Bytes(self.kid.clone()),
            Value::Bytes(self.signature.to_vec()),
        ]);
        let json = serde_json::json!({
            "credential_issuer": self.service,
            "credential_configuration_ids": CONFIGURATION_IDS,
            "grants": {
                PRE_AUTHORIZED_GRANT: {
                    "pre-authorized_code": b64url(&self.code),
                    "tx_code": {
                        "input_mode": "numeric",
                        "length": self.tx_code_digits,
                        "description": "The code the officer reads out",
                    },
                },
            },
            SIGNATURE_PARAM: b64url(&cbor::encode(&vouch)),
        });
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("credential_offer", &json.to_string())
            .finish();
        // Spaces as %20, not form encoding's `+` (a literal `+` is %2B here): a wallet
        // that decodes the URI as a URI, not as a form, reads the same text.
        format!("{OID4VCI_SCHEME}?{}", query.replace('+', "%20"))
    }

    /// Parses offer text (as scanned or pasted; surrounding white space is ignored): the
    /// compact `TTO2:` form or the standard `openid-credential-offer://` one. A damaged
    /// offer (a misread, an edited character) fails its check and says so.
    pub fn parse(text: &str) -> Result<Offer> {
        // Not `trim()`: a space is a base45 digit and may end the text.
        let text = text.trim_start().trim_end_matches(['\r', '\n']);
        if text.len() > MAX_TEXT {
            return Err(Error::Payload(format!(
                "the offer is longer than {MAX_TEXT} characters"
            )));
        }
        if let Some(rest) = text.strip_prefix(OID4VCI_SCHEME) {
            return parse_oid4vci(rest.trim_end());
        }
        if text.starts_with(PREFIX_V1) {
            return Err(Error::Payload(
                "an unsigned credential offer of an earlier kind; ask the officer to make it again with an up-to-date service".into(),
            ));
        }
        let b45 = text.strip_prefix(PREFIX).ok_or_else(|| {
            Error::Payload("not a credential offer (it should start with TTO2:)".into())
        })?;
        let raw = base45::decode(b45)
            .map_err(|_| Error::Payload("the credential offer is not base45".into()))?;
        let items = cbor::array(cbor::decode(&raw)?, "credential offer")?;
        let [service, code, expires, root, digits, issuer, kid, sig]: [Value; 8] = items
            .try_into()
            .map_err(|_| err("credential offer: expected 8 items"))?;
        let service = cbor::text(service, "offer service")?;
        check_service(&service)?;
        let digits = cbor::uint(&digits, "offer transaction code digits")?;
        if !(4..=10).contains(&digits) {
            return Err(Error::field(
                "tx_code_digits",
                "must be between 4 and 10".to_string(),
            ));
        }
        let kid = cbor::bytes(kid, "offer kid")?;
        if kid.is_empty() || kid.len() > 32 {
            return Err(err("credential offer: kid must be 1 to 32 bytes"));
        }
        Ok(Offer {
            service,
            code: cbor::fixed(code, "offer code")?,
            expires: cbor::int(&expires, "offer expiry")?,
            root: cbor::fixed(root, "offer root fingerprint")?,
            tx_code_digits: digits as u8,
            issuer: u32::try_from(cbor::uint(&issuer, "offer issuer")?)
                .map_err(|_| err("credential offer: issuer out of range"))?,
            kid,
            signature: cbor::fixed(sig, "offer signature")?,
        })
    }
}

fn b64url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

fn un_b64url(s: &str, what: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| err(format!("credential offer: {what} is not base64url")))
}

/// The JSON object of a standard offer, as far as this wallet reads it (unknown
/// parameters are ignored, as section 4.1.1 asks).
#[derive(serde::Deserialize)]
struct StandardOffer {
    credential_issuer: String,
    credential_configuration_ids: Vec<String>,
    grants: std::collections::BTreeMap<String, serde_json::Value>,
    tuaton_offer_signature: Option<String>,
}

#[derive(serde::Deserialize)]
struct PreAuthorizedGrant {
    #[serde(rename = "pre-authorized_code")]
    code: String,
    tx_code: Option<TxCodeSpec>,
}

#[derive(serde::Deserialize)]
struct TxCodeSpec {
    input_mode: Option<String>,
    length: Option<u64>,
}

/// A standard credential offer, after the scheme: `[/]?credential_offer=JSON`.
fn parse_oid4vci(rest: &str) -> Result<Offer> {
    let query = rest.strip_prefix('/').unwrap_or(rest);
    let query = query.strip_prefix('?').ok_or_else(|| {
        err("credential offer: expected ?credential_offer= after openid-credential-offer://")
    })?;
    let mut offer_json = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "credential_offer" if offer_json.is_none() => offer_json = Some(v.into_owned()),
            "credential_offer" => return Err(err("credential offer: credential_offer twice")),
            // By reference, the offer would be whatever a server answers when fetched: the
            // wallet checks the issuer's signature in the offer it scanned instead.
            "credential_offer_uri" => {
                return Err(Error::Payload(
                    "a credential offer by reference (credential_offer_uri); tuaton offers are by value: ask the officer to show the offer again".into(),
                ))
            }
            _ => {}
        }
    }
    let json = offer_json.ok_or_else(|| err("credential offer: no credential_offer"))?;
    let o: StandardOffer = serde_json::from_str(&json)
        .map_err(|e| err(format!("credential offer: the JSON does not parse ({e})")))?;
    check_service(&o.credential_issuer)?;
    if !o
        .credential_configuration_ids
        .iter()
        .any(|c| CONFIGURATION_IDS.contains(&c.as_str()))
    {
        return Err(err(
            "credential offer: it offers no ID card (no tuaton credential configuration)",
        ));
    }
    let grant = o.grants.get(PRE_AUTHORIZED_GRANT).ok_or_else(|| {
        err("credential offer: no pre-authorized code (the officer's offers have one)")
    })?;
    let grant: PreAuthorizedGrant = serde_json::from_value(grant.clone())
        .map_err(|e| err(format!("credential offer: the pre-authorized grant ({e})")))?;
    let code: [u8; CODE_LEN] = un_b64url(&grant.code, "the pre-authorized code")?
        .try_into()
        .map_err(|_| err("credential offer: the pre-authorized code is not 16 bytes"))?;
    // The transaction code is what keeps a photo of the screen from redeeming it.
    let tx = grant.tx_code.ok_or_else(|| {
        err("credential offer: no transaction code (the officer's offers have one)")
    })?;
    if tx.input_mode.as_deref().is_some_and(|m| m != "numeric") {
        return Err(Error::field("tx_code", "must be numeric".to_string()));
    }
    let digits = tx.length.unwrap_or(u64::from(TX_CODE_DIGITS));
    if !(4..=10).contains(&digits) {
        return Err(Error::field(
            "tx_code_digits",
            "must be between 4 and 10".to_string(),
        ));
    }
    let vouch = o.tuaton_offer_signature.ok_or_else(|| {
        Error::Signature(
            "the offer carries no signature of a tuaton issuer, so its service cannot be trusted with the transaction code".into(),
        )
    })?;
    let items = cbor::array(
        cbor::decode(&un_b64url(&vouch, "the signature")?)?,
        "offer signature",
    )?;
    let [expires, root, issuer, kid, sig]: [Value; 5] = items
        .try_into()
        .map_err(|_| err("credential offer: the signature: expected 5 items"))?;
    let kid = cbor::bytes(kid, "offer kid")?;
    if kid.is_empty() || kid.len() > 32 {
        return Err(err("credential offer: kid must be 1 to 32 bytes"));
    }
    Ok(Offer {
        service: o.credential_issuer,
        code,
        expires: cbor::int(&expires, "offer expiry")?,
        root: cbor::fixed(root, "offer root fingerprint")?,
        tx_code_digits: digits as u8,
        issuer: u32::try_from(cbor::uint(&issuer, "offer issuer")?)
            .map_err(|_| err("credential offer: issuer out of range"))?,
        kid,
        signature: cbor::fixed(sig, "offer signature")?,
    })
}

/// A service address an offer may carry: http(s), a host, no user info, not too long.
pub fn check_service(url: &str) -> Result<()> {
    if url.len() > MAX_SERVICE
        || crate::bundle::url_origin(url).is_none()
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::field(
            "service",
            format!("must be an http:// or https:// address of at most {MAX_SERVICE} characters"),
        ));
    }
    Ok(())
}

/// What the service stores instead of the code: a leaked table redeems nothing.
pub fn code_hash(code: &[u8; CODE_LEN]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CODE_TAG);
    h.update(code);
    h.finalize().into()
}

/// What the service stores instead of the transaction code: salted by the offer's code,
/// so the six digits cannot be tried offline without it.
pub fn tx_code_hash(code: &[u8; CODE_LEN], tx_code: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(TX_TAG);
    h.update(code);
    h.update(tx_code.as_bytes());
    h.finalize().into()
}

/// A transaction code as typed: exactly `digits` ASCII digits after removing spaces and
/// dashes (people read "482 913" aloud in two halves).
pub fn normalise_tx_code(typed: &str, digits: u8) -> Result<String> {
    let s: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    if s.len() != usize::from(digits) || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::field(
            "tx_code",
            format!("must be the {digits} digits the officer reads out"),
        ));
    }
    Ok(s)
}

fn proof_message(service: &str, code: &[u8; CODE_LEN], holder: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(PROOF_TAG.len() + service.len() + 64);
    m.extend_from_slice(PROOF_TAG);
    m.extend_from_slice(&(service.len() as u32).to_be_bytes());
    m.extend_from_slice(service.as_bytes());
    m.extend_from_slice(code);
    m.extend_from_slice(holder);
    m
}

/// The wallet's proof of possession of `holder`, bound to this offer's service and code.
pub fn prove(holder: &(impl HolderSigner + ?Sized), offer: &Offer) -> [u8; 64] {
    let pk = holder.holder_key();
    holder.sign_holder(&proof_message(&offer.service, &offer.code, pk.as_bytes()))
}

/// Checks a holder's proof for the offer with `code` made by the service at `service`.
pub fn check_proof(
    service: &str,
    code: &[u8; CODE_LEN],
    holder: &[u8],
    proof: &[u8; 64],
) -> Result<HolderKey> {
    let key = HolderKey::from_bytes(holder).ok_or_else(|| {
        Error::Signature("the holder key is neither Ed25519 (32 bytes) nor P-256 (33)".into())
    })?;
    // A weak Ed25519 key or a point off the curve verifies nothing.
    if !key.verify(&proof_message(service, code, holder), proof) {
        return Err(Error::Signature(
            "the holder's proof of possession does not verify for this offer".into(),
        ));
    }
    Ok(key)
}

/// What an officer's client sends to make an offer (`POST /v1/offers`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferRequest {
    /// Who at the office makes it (recorded in the audit; the office credential is what
    /// authenticates).
    pub officer: String,
    /// The citizen record (docs/ARCHITECTURE.md), as JSON.
    pub record: serde_json::Value,
    /// The portrait JPEG, standard base64.
    pub portrait: String,
}

/// The service's answer to an [`OfferRequest`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferResponse {
    /// The standard credential offer (`openid-credential-offer://?credential_offer=...`,
    /// OpenID4VCI 1.0 section 4.1) to show as a QR code.
    pub offer: String,
    /// The same signed offer in the compact form (`TTO2:...`), for wallets of the earlier
    /// release.
    pub offer_compact: String,
    /// The transaction code the officer reads out to the citizen.
    pub tx_code: String,
    /// Offer expiry, RFC 3339.
    pub expires: String,
}

/// What a wallet sends to redeem an offer (`POST /v1/credential`).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemRequest {
    /// The pre-authorised code, base64url without padding.
    pub pre_authorized_code: String,
    /// The transaction code as the citizen typed it (normalised).
    pub tx_code: String,
    /// The holder public key, base64url without padding.
    pub holder_key: String,
    /// The proof of possession ([`prove`]), base64url without padding.
    pub proof: String,
}

/// The service's answer to a [`RedeemRequest`].
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedeemResponse {
    /// The credential package (docs/FORMAT.md), as JSON.
    pub package: serde_json::Value,
    /// The credential id, hex.
    pub credential_id: String,
}

/// An error answer from the service: a stable code and a sentence for people.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ErrorResponse {
    /// Stable machine-readable code (`offer_used`, `offer_expired`, ...).
    pub error: String,
    /// What went wrong, in words (the standard endpoints' `error_description`).
    #[serde(default, alias = "error_description")]
    pub message: String,
}

impl ErrorResponse {
    /// The code and message as a client may show them: a service is not trusted to send
    /// short or printable text, so both are cut (64 and 300 characters) and escaped.
    pub fn shown(&self) -> (String, String) {
        let cut = |s: &str, n: usize| {
            crate::text::for_display(&s.chars().take(n).collect::<String>()).into_owned()
        };
        (cut(&self.error, 64), cut(&self.message, 300))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn issuer_key() -> SigningKey {
        SigningKey::from_bytes(&[5; 32])
    }

    fn offer() -> Offer {
        let k = issuer_key();
        Offer {
            service: "https://issue.example.go.th".into(),
            code: [7; CODE_LEN],
            expires: 1_800_000_000,
            root: [9; 32],
            tx_code_digits: 6,
            issuer: 1,
            kid: crate::trust::kid_of(&k.verifying_key()),
            signature: [0; 64],
        }
        .sign(&k)
        .unwrap()
    }

    fn keys() -> crate::trust::TrustStore {
        let k = issuer_key();
        crate::trust::TrustStore {
            issuers: vec![crate::trust::TrustedIssuer {
                id: 1,
                name: "DOPA".into(),
                did: None,
            }],
            keys: vec![crate::trust::IssuerKey {
                issuer: 1,
                kid: crate::trust::kid_of(&k.verifying_key()),
                public: k.verifying_key(),
                not_before: 0,
                not_after: None,
                state: crate::trust::KeyState::Active,
            }],
            expires: None,
            ..Default::default()
        }
    }

    #[test]
    fn offer_round_trips_and_a_changed_service_is_refused() {
        let t = offer().to_text();
        assert!(t.starts_with(PREFIX));
        let back = Offer::parse(&format!("  {t}\n")).unwrap();
        assert_eq!(back, offer());
        back.verify(&keys(), 1_790_000_000).unwrap();
        // A relay re-wraps the same code with its own service address.
        let mut relayed = back.clone();
        relayed.service = "https://issue.example.go.th.evil.example".into();
        let relayed = Offer::parse(&relayed.to_text()).unwrap();
        assert!(matches!(
            relayed.verify(&keys(), 1_790_000_000),
            Err(Error::Signature(_))
        ));
        // Signed by a key the trust list does not name.
        let forged = Offer {
            signature: [0; 64],
            ..back.clone()
        }
        .sign(&SigningKey::from_bytes(&[6; 32]))
        .unwrap();
        assert!(forged.verify(&keys(), 1_790_000_000).is_err());
        assert!(Offer::parse("TTE1:ABC").is_err());
        assert!(Offer::parse(&"TTO2:".repeat(400)).is_err());
        let e = Offer::parse("TTO1:ABC").unwrap_err();
        assert!(e.to_string().contains("unsigned"), "{e}");
    }

    /// The JSON object of a standard offer, changed by `f`, spelled again.
    fn rewritten(text: &str, f: impl FnOnce(&mut serde_json::Value)) -> String {
        let q = text
            .strip_prefix(OID4VCI_SCHEME)
            .unwrap()
            .trim_start_matches('?');
        let (_, json) = form_urlencoded::parse(q.as_bytes()).next().unwrap();
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        f(&mut v);
        let q = form_urlencoded::Serializer::new(String::new())
            .append_pair("credential_offer", &v.to_string())
            .finish();
        format!("{OID4VCI_SCHEME}?{q}")
    }

    #[test]
    fn the_standard_spelling_carries_the_same_signed_offer() {
        let t = offer().to_oid4vci();
        assert!(t.len() < MAX_TEXT, "{}", t.len());
        let back = Offer::parse(&t).unwrap();
        assert_eq!(back, offer());
        back.verify(&keys(), 1_790_000_000).unwrap();
        // A relay puts its own address in credential_issuer around the same code.
        let relayed = rewritten(&t, |v| {
            v["credential_issuer"] = "https://issue.example.go.th.evil.example".into()
        });
        let relayed = Offer::parse(&relayed).unwrap();
        assert!(relayed.verify(&keys(), 1_790_000_000).is_err());
        // Without the issuer's signature, the wallet never asks for the code.
        let bare = rewritten(&t, |v| {
            v.as_object_mut().unwrap().remove(SIGNATURE_PARAM);
        });
        assert!(matches!(Offer::parse(&bare), Err(Error::Signature(_))));
        let no_tx = rewritten(&t, |v| {
            v["grants"][PRE_AUTHORIZED_GRANT]
                .as_object_mut()
                .unwrap()
                .remove("tx_code");
        });
        assert!(Offer::parse(&no_tx).is_err());
        let by_reference = format!("{OID4VCI_SCHEME}?credential_offer_uri=https%3A%2F%2Fx");
        let e = Offer::parse(&by_reference).unwrap_err();
        assert!(e.to_string().contains("by reference"), "{e}");
        // Unknown parameters are ignored (OpenID4VCI 1.0 section 4.1.1).
        let extra = rewritten(&t, |v| v["something_else"] = 1.into());
        assert_eq!(Offer::parse(&extra).unwrap(), offer());
    }

    /// The QR versions the officer's screen needs (docs/ISSUANCE.md gives them): the
    /// standard offer by value at level L is version 18 for a 24-character service
    /// address (97 terminal columns with the quiet zone), the compact one 9 at level M.
    #[test]
    fn each_spelling_fits_the_qr_version_the_docs_give() {
        let o = Offer {
            service: "https://issue.dopa.go.th".into(),
            ..offer()
        }
        .sign(&issuer_key())
        .unwrap();
        let version =
            |t: &str, l| match qrcode::QrCode::with_error_correction_level(t.as_bytes(), l)
                .unwrap()
                .version()
            {
                qrcode::Version::Normal(n) => n,
                v => panic!("{v:?}"),
            };
        assert!(version(&o.to_oid4vci(), qrcode::EcLevel::L) <= 19);
        assert!(version(&o.to_text(), qrcode::EcLevel::M) <= 9);
    }

    #[test]
    fn offers_to_other_schemes_are_refused() {
        let mut o = offer();
        o.service = "file:///etc/passwd".into();
        assert!(Offer::parse(&o.to_text()).is_err());
        o.service = "https://user@host".into();
        assert!(Offer::parse(&o.to_text()).is_err());
    }

    #[test]
    fn a_proof_is_bound_to_its_offer() {
        let k = SigningKey::from_bytes(&[3; 32]);
        let o = offer();
        let p = prove(&k, &o);
        let pk = k.verifying_key().to_bytes();
        check_proof(&o.service, &o.code, &pk, &p).unwrap();
        assert!(check_proof(&o.service, &[8; CODE_LEN], &pk, &p).is_err());
        assert!(check_proof("https://evil.example", &o.code, &pk, &p).is_err());
    }

    #[test]
    fn transaction_codes_are_digits_only() {
        assert_eq!(normalise_tx_code("482 913", 6).unwrap(), "482913");
        assert_eq!(normalise_tx_code("482-913", 6).unwrap(), "482913");
        assert!(normalise_tx_code("48291", 6).is_err());
        assert!(normalise_tx_code("48291x", 6).is_err());
        assert!(normalise_tx_code("४८२९१३", 6).is_err());
    }
}

/// What a wallet sends to renew its card (`POST /v1/refresh`): the card it holds and a
/// proof of its holder key bound to this service, the card and a time.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The gate form's bytes, base64url without padding.
    pub credential: String,
    /// Unix seconds when the proof was made (the service allows five minutes either way).
    pub at: i64,
    /// The proof ([`prove_refresh`]), base64url without padding.
    pub proof: String,
}

fn refresh_message(service: &str, credential_id: &[u8; 8], holder: &[u8], at: i64) -> Vec<u8> {
    let mut m = b"tuaton refresh v1".to_vec();
    m.extend_from_slice(&(service.len() as u32).to_be_bytes());
    m.extend_from_slice(service.as_bytes());
    m.extend_from_slice(credential_id);
    m.extend_from_slice(holder);
    m.extend_from_slice(&at.to_be_bytes());
    m
}

/// The holder's proof for a refresh of `credential_id` at the service `service`.
pub fn prove_refresh(
    holder: &(impl HolderSigner + ?Sized),
    service: &str,
    credential_id: &[u8; 8],
    at: i64,
) -> [u8; 64] {
    let pk = holder.holder_key();
    holder.sign_holder(&refresh_message(service, credential_id, pk.as_bytes(), at))
}

/// Checks a refresh proof; the holder key is the card's own.
pub fn check_refresh_proof(
    service: &str,
    credential_id: &[u8; 8],
    holder: &HolderKey,
    at: i64,
    proof: &[u8; 64],
) -> Result<HolderKey> {
    if !holder.verify(
        &refresh_message(service, credential_id, holder.as_bytes(), at),
        proof,
    ) {
        return Err(Error::Signature(
            "the holder's refresh proof does not verify".into(),
        ));
    }
    Ok(*holder)
}
