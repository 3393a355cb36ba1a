//! The W3C form: a VC 2.0 JSON-LD credential with the card's claims, the issuer as its
//! stable `did:web` and the holder as `did:key`, secured with a Data Integrity proof
//! (eddsa-rdfc-2022), signed and verified with ssi. The tuaton context ships inside the
//! binary: nothing is ever fetched.
//!
//! The issuer's DID stays the same across key rotations; each signing key is a
//! verification method of it, `DID#z6Mk...` (the key's multibase, as did:key names its
//! own), listed in the DID document the trust bundle carries (`did.json`, docs/TRUST.md).
//! Because the fragment is the key, a verifier reads the key from the proof itself and
//! then checks it is one of the issuer's keys in the trust list: resolution needs no
//! network. Credentials signed before the DID existed name the key's `did:key`; both
//! verify.
//!
//! Claim mapping (both directions tested): schema.org names for names, birth date,
//! address and image; language-tagged values (`th`, `en`) where the card has both
//! scripts; validFrom/validUntil from the card's issue and expiry dates (Thai time).

use crate::error::{Error, Result};
use crate::gate::{epoch_days, StatusRef, THAI_UTC_OFFSET};
use crate::holder::HolderKey;
use crate::model::{CardClaims, CitizenId, Expiry, LaserCode, Name, PartialDate, Title};
use crate::signer::KeySigner;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use serde_json::{json, Value};
use ssi::claims::data_integrity::{AnySuite, CryptographicSuite, DataIntegrity, ProofOptions};
use ssi::claims::vc::v2::JsonCredential;
use ssi::claims::{SignatureEnvironment, VerificationParameters};
use ssi::dids::{DIDKey, DIDResolver};
use ssi::jwk::JWK;
use ssi::verification_methods::AnyMethod;
use std::collections::HashMap;

/// URL of the tuaton JSON-LD context.
pub const CONTEXT_URL: &str = "https://w3id.org/tuaton/v1";
/// The tuaton JSON-LD context document (published in the trust bundle too).
pub const CONTEXT_DOCUMENT: &str = include_str!("../contexts/tuaton-v1.jsonld");
/// The VC 2.0 base context.
pub const VC2_CONTEXT: &str = "https://www.w3.org/ns/credentials/v2";

fn w3c(e: impl std::fmt::Display) -> Error {
    Error::W3c(e.to_string())
}

/// The loader: ssi's bundled contexts plus ours; it never touches the network.
pub fn context_loader() -> ssi::json_ld::ContextLoader {
    let mut m = HashMap::new();
    m.insert(CONTEXT_URL.to_owned(), CONTEXT_DOCUMENT.to_owned());
    ssi::json_ld::ContextLoader::default()
        .with_context_map_from(m)
        .expect("the embedded context is valid JSON")
}

/// did:key of an Ed25519 public key.
pub fn did_key(key: &VerifyingKey) -> String {
    DIDKey::generate(&JWK::from(*key))
        .expect("Ed25519 keys always encode")
        .to_string()
}

/// did:key of a holder key: `z6Mk...` for Ed25519, `zDn...` for P-256 (multicodec
/// p256-pub, the compressed point), as the W3C form's `credentialSubject.id`.
pub fn holder_did(key: &HolderKey) -> Result<String> {
    let jwk = match key {
        HolderKey::Ed25519(b) => JWK::from(
            VerifyingKey::from_bytes(b).map_err(|_| w3c("the holder key is not an Ed25519 key"))?,
        ),
        HolderKey::P256(b) => {
            ssi::jwk::p256_parse(b).map_err(|_| w3c("the holder key is not a P-256 point"))?
        }
    };
    Ok(DIDKey::generate(&jwk).map_err(w3c)?.to_string())
}

/// The holder key a did:key names (the inverse of [`holder_did`]): multicodec
/// ed25519-pub (`0xed 0x01`) and 32 bytes, or p256-pub (`0x80 0x24`) and a compressed
/// point of 33.
pub fn holder_key_of_did(did: &str) -> Option<HolderKey> {
    let raw = bs58::decode(did.strip_prefix("did:key:z")?)
        .into_vec()
        .ok()?;
    match raw.split_at_checked(2)? {
        ([0xed, 0x01], k) => k.try_into().ok().map(HolderKey::Ed25519),
        ([0x80, 0x24], k) => k.try_into().ok().map(HolderKey::P256),
        _ => None,
    }
}

pub use crate::did::{default_issuer_did, is_issuer_did, MAX_DID};

pub(crate) fn did_key_url(key: &VerifyingKey) -> String {
    DIDKey::generate_url(&JWK::from(*key))
        .expect("Ed25519 keys always encode")
        .to_string()
}

/// The verification method of an issuer key under the issuer's DID: `DID#z6Mk...`.
pub fn issuer_method(did: &str, key: &VerifyingKey) -> String {
    let mb = did_key(key);
    format!("{did}#{}", mb.trim_start_matches("did:key:"))
}

/// The Ed25519 key a multibase `z6Mk...` names (multicodec ed25519-pub, base58btc).
fn multibase_key(mb: &str) -> Option<VerifyingKey> {
    // `z6Mk` and 44 more: 34 bytes in base58btc. Checked first: a long string costs the
    // decoder quadratic time.
    if mb.len() != 48 {
        return None;
    }
    let raw = bs58::decode(mb.strip_prefix('z')?).into_vec().ok()?;
    let key: [u8; 32] = raw.strip_prefix(&[0xed, 0x01])?.try_into().ok()?;
    VerifyingKey::from_bytes(&key).ok()
}

/// The DID and the key of an issuer's verification method: `did:web:...#z6Mk...` (the
/// key its fragment names) or a did:key URL (`did:key:z6Mk...#z6Mk...`, the same key
/// twice).
pub fn method_key(vm: &str) -> Option<(&str, VerifyingKey)> {
    let (did, fragment) = vm.split_once('#')?;
    let key = multibase_key(fragment)?;
    let ok = if let Some(k) = did.strip_prefix("did:key:") {
        k == fragment
    } else {
        is_issuer_did(did)
    };
    ok.then_some((did, key))
}

/// The DID document of an issuer: every key in `keys` as a `Multikey` verification method
/// allowed to assert (vc-data-integrity, controller documents). The trust bundle carries
/// it for verifiers that resolve the issuer the W3C way.
pub fn did_document(did: &str, keys: &[VerifyingKey]) -> Value {
    let methods: Vec<Value> = keys
        .iter()
        .map(|k| {
            let id = issuer_method(did, k);
            let mb = id.rsplit('#').next().unwrap_or_default().to_owned();
            json!({"id": id, "type": "Multikey", "controller": did, "publicKeyMultibase": mb})
        })
        .collect();
    let ids: Vec<Value> = methods.iter().map(|m| m["id"].clone()).collect();
    json!({
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": ids,
    })
}

/// ssi's resolver for a proof: did:key as ssi resolves it, and an issuer's did:web to a
/// document listing the keys the proof's own methods name. Which key is trusted is the
/// caller's check, against the trust list (the document proves nothing by itself).
pub(crate) struct IssuerDids {
    docs: HashMap<String, Vec<u8>>,
}

impl IssuerDids {
    /// A resolver for proofs whose methods are `methods`.
    pub(crate) fn for_methods<'a>(methods: impl IntoIterator<Item = &'a str>) -> Self {
        let mut keys: HashMap<&str, Vec<VerifyingKey>> = HashMap::new();
        for vm in methods {
            if let Some((did, key)) = method_key(vm) {
                if did.starts_with("did:web:") {
                    keys.entry(did).or_default().push(key);
                }
            }
        }
        IssuerDids {
            docs: keys
                .into_iter()
                .map(|(did, ks)| {
                    (
                        did.to_owned(),
                        did_document(did, &ks).to_string().into_bytes(),
                    )
                })
                .collect(),
        }
    }
}

impl DIDResolver for IssuerDids {
    async fn resolve_representation<'a>(
        &'a self,
        did: &'a ssi::dids::DID,
        options: ssi::dids::resolution::Options,
    ) -> std::result::Result<ssi::dids::resolution::Output<Vec<u8>>, ssi::dids::resolution::Error>
    {
        if did.method_name() == "key" {
            return DIDKey.resolve_representation(did, options).await;
        }
        match self.docs.get(did.as_str()) {
            Some(doc) => Ok(ssi::dids::resolution::Output::from_content(
                doc.clone(),
                Some("application/did+json".into()),
            )),
            None => Err(ssi::dids::resolution::Error::NotFound),
        }
    }
}

/// The verification method `key` signs with for a document whose issuer is `issuer`: the
/// did:web's method, or (an issuer named by its did:key) the did:key URL.
pub(crate) fn method_for(issuer: &str, key: &VerifyingKey) -> Result<String> {
    if issuer.starts_with("did:key:") {
        // Only the key's own did:key: any other would not verify as its issuer.
        if did_key(key) != issuer {
            return Err(w3c(format!(
                "the issuer {issuer} is not this key's did:key"
            )));
        }
        Ok(did_key_url(key))
    } else if is_issuer_did(issuer) {
        Ok(issuer_method(issuer, key))
    } else {
        Err(w3c(format!(
            "the issuer {issuer:?} is not a did:web tuaton issues under"
        )))
    }
}

fn rfc3339(t: i64) -> String {
    crate::model::format_rfc3339_thai(t).expect("in range")
}

fn lang(th: &str, en: &str) -> Value {
    json!([{"@value": th, "@language": "th"}, {"@value": en, "@language": "en"}])
}

/// Status list credential URL for list `list` of issuer `issuer` (a bundle-relative name).
pub fn status_list_id(issuer: u32, list: u32) -> String {
    format!("urn:tuaton:status:{issuer}:{list}")
}

/// Credential id as a URN.
pub fn credential_urn(issuer: u32, id: &[u8; 8]) -> String {
    format!("urn:tuaton:credential:{issuer}:{}", crate::verify::hex(id))
}

/// The unsigned W3C credential for `claims`.
#[allow(clippy::too_many_arguments)]
pub fn unsigned(
    claims: &CardClaims,
    issuer: u32,
    issuer_did: &str,
    holder_key: impl Into<HolderKey>,
    credential_id: &[u8; 8],
    status: StatusRef,
    issued_at: i64,
) -> Result<Value> {
    let day0 = |d| epoch_days(d) * 86_400 - THAI_UTC_OFFSET;
    let issued_on = crate::model::thai_date(issued_at).expect("in range");
    let ages = crate::model::AgeClaims::on(claims.birth_date, issued_on);
    let subject = json!({
        "id": holder_did(&holder_key.into())?,
        "citizenId": claims.citizen_id.to_string(),
        "honorificPrefix": lang(claims.title.th.as_str(), claims.title.en.as_str()),
        "givenName": lang(claims.given_name_th.as_str(), claims.given_name_en.as_str()),
        "familyName": lang(claims.family_name_th.as_str(), claims.family_name_en.as_str()),
        "birthDate": claims.birth_date.to_string(),
        "address": {"@value": claims.address.as_str(), "@language": "th"},
        "laserCode": claims.laser_code.as_str(),
        "issuingOffice": {"@value": claims.issuing_office.as_str(), "@language": "th"},
        "cardIssueDate": claims.issue_date.format("%Y-%m-%d").to_string(),
        "cardExpiryDate": claims.expiry.to_string(),
        "ageOver18": ages.over_18,
        "ageOver20": ages.over_20,
        "image": format!("data:image/jpeg;base64,{}", STANDARD.encode(&claims.portrait)),
    });
    let list = status_list_id(issuer, status.list);
    let mut vc = json!({
        "@context": [VC2_CONTEXT, CONTEXT_URL],
        "id": credential_urn(issuer, credential_id),
        "type": ["VerifiableCredential", "ThaiNationalIdCard"],
        "issuer": issuer_did,
        "validFrom": rfc3339(day0(claims.issue_date)),
        "credentialSubject": subject,
        "credentialStatus": {
            "id": format!("{list}#{}", status.index),
            "type": "BitstringStatusListEntry",
            "statusPurpose": "revocation",
            "statusListIndex": status.index.to_string(),
            "statusListCredential": list,
        },
    });
    if let Expiry::On(d) = claims.expiry {
        vc["validUntil"] = json!(rfc3339(day0(d) + 86_400 - 1));
    }
    Ok(vc)
}

type Resolver = ssi::dids::VerificationMethodDIDResolver<IssuerDids, AnyMethod>;
type Signer<'k> = ssi::verification_methods::LocalSigner<External<'k>>;

/// ssi's signer over a [`KeySigner`]: ssi canonicalises and hashes, then hands the bytes to
/// sign here, so a key in a token signs W3C proofs exactly as a key in memory does.
pub(crate) struct External<'k>(&'k dyn KeySigner);

impl<M: ssi::verification_methods::VerificationMethod> ssi::verification_methods::Signer<M>
    for External<'_>
{
    type MessageSigner = Self;
    async fn for_method(
        &self,
        _method: std::borrow::Cow<'_, M>,
    ) -> std::result::Result<Option<Self>, ssi::claims::SignatureError> {
        Ok(Some(External(self.0)))
    }
}

impl<A: ssi::crypto::algorithm::SignatureAlgorithmType> ssi::verification_methods::MessageSigner<A>
    for External<'_>
where
    A::Instance: Into<ssi::crypto::AlgorithmInstance>,
{
    async fn sign(
        self,
        algorithm: A::Instance,
        message: &[u8],
    ) -> std::result::Result<Vec<u8>, ssi::claims::MessageSignatureError> {
        match algorithm.into() {
            ssi::crypto::AlgorithmInstance::EdDSA => crate::signer::sign_checked(self.0, message)
                .map(|s| s.to_vec())
                .map_err(ssi::claims::MessageSignatureError::signature_failed),
            other => Err(ssi::claims::MessageSignatureError::UnsupportedAlgorithm(
                other.algorithm().to_string(),
            )),
        }
    }
}

/// Secures `doc`, issued by `issuer` (a DID), with a Data Integrity proof
/// (eddsa-rdfc-2022) by `key`, created at `created` (ssi would stamp its own clock;
/// `common` takes the time as input). Shared by credentials and status lists.
pub(crate) fn sign_di<'k, T>(
    doc: T,
    key: &'k dyn KeySigner,
    issuer: &str,
    created: i64,
) -> Result<DataIntegrity<T, AnySuite>>
where
    for<'a> AnySuite: ssi::claims::data_integrity::suite::CryptographicSuiteSigning<
        T,
        SignatureEnvironment,
        &'a Resolver,
        &'a Signer<'k>,
    >,
{
    let vm = method_for(issuer, &key.public_key())?;
    let resolver = IssuerDids::for_methods([vm.as_str()]).into_vm_resolver::<AnyMethod>();
    let signer = ssi::verification_methods::LocalSigner(External(key));
    let vm = ssi::json_ld::iref::IriBuf::new(vm).map_err(w3c)?;
    let mut opts = ProofOptions::from_method(vm.into());
    let created =
        crate::model::try_format_rfc3339(created).ok_or_else(|| w3c("time out of range"))?;
    opts.created = Some(
        created
            .parse::<ssi::xsd::DateTimeStamp>()
            .map_err(w3c)?
            .into(),
    );
    let env = SignatureEnvironment {
        json_ld_loader: context_loader(),
        eip712_loader: (),
    };
    pollster::block_on(AnySuite::EdDsaRdfc2022.sign_with(
        env,
        doc,
        &resolver,
        &signer,
        opts,
        Default::default(),
    ))
    .map_err(w3c)
}

/// Signs `unsigned` with the issuer key (eddsa-rdfc-2022), proof created at `created`.
///
/// A credential of exactly the shape [`unsigned`] writes is canonicalised by
/// `canonical_claims`, without a JSON-LD processor: processing the VC 2.0 context again
/// for every card was most of an issuance's signing time. Any other shape goes through
/// ssi. Both paths give the same bytes (tested over many cards, every text field with
/// quotes, backslashes, Thai and other scripts), and ssi verifies either.
pub fn sign(unsigned: Value, issuer_key: &dyn KeySigner, created: i64) -> Result<String> {
    let claims = canonical_claims(&unsigned);
    let issuer = unsigned["issuer"]
        .as_str()
        .ok_or_else(|| w3c("the credential has no issuer"))?
        .to_owned();
    let vm = method_for(&issuer, &issuer_key.public_key())?;
    let cred: JsonCredential = serde_json::from_value(unsigned)?;
    match claims {
        Some(lines) => sign_canonical(&cred, &lines, issuer_key, &vm, created),
        None => serde_json::to_string_pretty(&sign_di(cred, issuer_key, &issuer, created)?)
            .map_err(Into::into),
    }
}

/// The proof as ssi writes it, field for field (vc-di-eddsa section 3.3).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Proof<'a> {
    #[serde(rename = "type")]
    type_: &'a str,
    cryptosuite: &'a str,
    created: &'a str,
    verification_method: &'a str,
    proof_purpose: &'a str,
    proof_value: String,
}

/// A credential and its proof, serialised in ssi's order (the claims, then `proof`).
#[derive(serde::Serialize)]
struct Secured<'a> {
    #[serde(flatten)]
    claims: &'a JsonCredential,
    proof: Proof<'a>,
}

/// eddsa-rdfc-2022's proof over already canonical claims (vc-di-eddsa section 3.3.1 to
/// 3.3.5): the hash of the canonical proof configuration, then the hash of the canonical
/// document, signed with Ed25519; the proof value is base58btc multibase.
fn sign_canonical(
    cred: &JsonCredential,
    claims: &[String],
    key: &dyn KeySigner,
    vm: &str,
    created: i64,
) -> Result<String> {
    use sha2::{Digest, Sha256};
    let created =
        crate::model::try_format_rfc3339(created).ok_or_else(|| w3c("time out of range"))?;
    // The proof configuration has no id: its node is the one blank node, so its canonical
    // label is always _:c14n0. Lines in code point order.
    let config = [
        format!("_:c14n0 <http://purl.org/dc/terms/created> \"{created}\"^^<{XSD}dateTime> .\n"),
        format!("_:c14n0 <{RDF_TYPE}> <{SEC}DataIntegrityProof> .\n"),
        format!("_:c14n0 <{SEC}cryptosuite> \"eddsa-rdfc-2022\"^^<{SEC}cryptosuiteString> .\n"),
        format!("_:c14n0 <{SEC}proofPurpose> <{SEC}assertionMethod> .\n"),
        format!("_:c14n0 <{SEC}verificationMethod> <{vm}> .\n"),
    ];
    let digest = |lines: &[String]| {
        lines
            .iter()
            .fold(Sha256::new(), |h, l| h.chain_update(l.as_bytes()))
            .finalize()
    };
    let mut message = [0u8; 64];
    message[..32].copy_from_slice(&digest(&config));
    message[32..].copy_from_slice(&digest(claims));
    let signature = crate::signer::sign_checked(key, &message)?;
    let secured = Secured {
        claims: cred,
        proof: Proof {
            type_: "DataIntegrityProof",
            cryptosuite: "eddsa-rdfc-2022",
            created: &created,
            verification_method: vm,
            proof_purpose: "assertionMethod",
            proof_value: format!("z{}", bs58::encode(signature).into_string()),
        },
    };
    serde_json::to_string_pretty(&secured).map_err(Into::into)
}

const XSD: &str = "http://www.w3.org/2001/XMLSchema#";
const RDF_TYPE: &str = "http://www.w3.org/1999/02/22-rdf-syntax-ns#type";
const SEC: &str = "https://w3id.org/security#";
const CRED: &str = "https://www.w3.org/2018/credentials#";
const STATUS: &str = "https://www.w3.org/ns/credentials/status#";
const TUATON: &str = "https://w3id.org/tuaton/v1#";
const SCHEMA: &str = "https://schema.org/";

/// How a subject term of the tuaton context maps to RDF: its IRI and, for a typed term,
/// the datatype of its string values.
fn subject_term(term: &str) -> Option<(String, Option<&'static str>)> {
    let (base, local, datatype) = match term {
        "citizenId" | "laserCode" | "issuingOffice" | "cardExpiryDate" | "ageOver18"
        | "ageOver20" => (TUATON, term, None),
        "cardIssueDate" => (TUATON, term, Some("date")),
        "honorificPrefix" | "givenName" | "familyName" | "birthDate" | "address" | "image" => {
            (SCHEMA, term, None)
        }
        _ => return None,
    };
    Some((format!("{base}{local}"), datatype))
}

/// An IRI of exactly the forms [`unsigned`] writes, which JSON-LD leaves as written and
/// N-Quads writes without escapes: `did:key:z` and base58btc, an issuer's did:web
/// ([`is_issuer_did`]), or tuaton's credential and
/// status URNs (`urn:tuaton:credential:N:HEX16`, `urn:tuaton:status:N:N`, optionally
/// `#N`). Anything else goes through ssi.
fn plain_iri(v: &Value) -> Option<&str> {
    let s = v.as_str()?;
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let ok = if s.starts_with("did:web:") {
        is_issuer_did(s)
    } else if let Some(k) = s.strip_prefix("did:key:z") {
        !k.is_empty()
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() && !matches!(b, b'0' | b'O' | b'I' | b'l'))
    } else if let Some(c) = s.strip_prefix("urn:tuaton:credential:") {
        c.split_once(':').is_some_and(|(n, id)| {
            digits(n)
                && id.len() == 16
                && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
    } else if let Some(l) = s.strip_prefix("urn:tuaton:status:") {
        let (list, index) = l.split_once('#').map_or((l, None), |(a, b)| (a, Some(b)));
        list.split_once(':')
            .is_some_and(|(n, m)| digits(n) && digits(m))
            && index.is_none_or(digits)
    } else {
        false
    };
    ok.then_some(s)
}

/// A string literal as RDFC-1.0 writes it (the escapes of ssi's and of the other
/// processors agree on text without control characters, which the card model refuses).
fn literal(s: &str) -> Option<String> {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => return None,
            c => out.push(c),
        }
    }
    out.push('"');
    Some(out)
}

/// The objects one JSON value of a subject term stands for.
fn objects(v: &Value, datatype: Option<&str>, out: &mut Vec<String>) -> Option<()> {
    match v {
        Value::String(s) => out.push(match datatype {
            Some(t) => format!("{}^^<{XSD}{t}>", literal(s)?),
            None => literal(s)?,
        }),
        Value::Bool(b) if datatype.is_none() => out.push(format!("\"{b}\"^^<{XSD}boolean>")),
        Value::Object(o) if datatype.is_none() && o.len() == 2 => {
            // The two languages the card is written in; any other tag goes through ssi.
            let tag = o.get("@language")?.as_str()?;
            if tag != "th" && tag != "en" {
                return None;
            }
            out.push(format!("{}@{tag}", literal(o.get("@value")?.as_str()?)?));
        }
        Value::Array(a) => {
            for x in a {
                if x.is_array() {
                    return None;
                }
                objects(x, datatype, out)?;
            }
        }
        _ => return None,
    }
    Some(())
}

/// The canonical N-Quads (RDFC-1.0) of a credential of exactly the shape [`unsigned`]
/// writes, one line each, sorted and without repeats; `None` for anything else. Every node
/// of that shape has an IRI (credential, subject and status entry all carry an `id`), so
/// the graph has no blank node and its canonical form is its sorted lines.
fn canonical_claims(v: &Value) -> Option<Vec<String>> {
    let doc = v.as_object()?;
    if doc.get("@context")? != &json!([VC2_CONTEXT, CONTEXT_URL]) {
        return None;
    }
    let id = plain_iri(doc.get("id")?)?;
    let mut lines = vec![];
    let mut triple = |s: &str, p: &str, o: String| lines.push(format!("<{s}> <{p}> {o} .\n"));
    for (key, value) in doc {
        match key.as_str() {
            "@context" | "id" => {}
            "type" => {
                for t in value.as_array()? {
                    let iri = match t.as_str()? {
                        "VerifiableCredential" => format!("{CRED}VerifiableCredential"),
                        "ThaiNationalIdCard" => format!("{TUATON}ThaiNationalIdCard"),
                        _ => return None,
                    };
                    triple(id, RDF_TYPE, format!("<{iri}>"));
                }
            }
            "issuer" => triple(
                id,
                &format!("{CRED}issuer"),
                format!("<{}>", plain_iri(value)?),
            ),
            "validFrom" | "validUntil" => triple(
                id,
                &format!("{CRED}{key}"),
                format!("{}^^<{XSD}dateTime>", literal(value.as_str()?)?),
            ),
            "credentialSubject" => {
                let subject = value.as_object()?;
                let sid = plain_iri(subject.get("id")?)?;
                triple(id, &format!("{CRED}credentialSubject"), format!("<{sid}>"));
                for (term, value) in subject {
                    if term == "id" {
                        continue;
                    }
                    let (predicate, datatype) = subject_term(term)?;
                    let mut os = vec![];
                    objects(value, datatype, &mut os)?;
                    for o in os {
                        triple(sid, &predicate, o);
                    }
                }
            }
            "credentialStatus" => {
                let status = value.as_object()?;
                let sid = plain_iri(status.get("id")?)?;
                triple(id, &format!("{CRED}credentialStatus"), format!("<{sid}>"));
                for (term, value) in status {
                    match term.as_str() {
                        "id" => {}
                        "type" if value == "BitstringStatusListEntry" => {
                            triple(sid, RDF_TYPE, format!("<{STATUS}BitstringStatusListEntry>"))
                        }
                        "statusPurpose" | "statusListIndex" => {
                            triple(sid, &format!("{STATUS}{term}"), literal(value.as_str()?)?)
                        }
                        "statusListCredential" => triple(
                            sid,
                            &format!("{STATUS}statusListCredential"),
                            format!("<{}>", plain_iri(value)?),
                        ),
                        _ => return None,
                    }
                }
            }
            _ => return None,
        }
    }
    lines.sort_unstable();
    lines.dedup();
    Some(lines)
}

/// What checking a W3C credential found.
#[derive(Debug)]
pub struct Checked {
    /// The issuer's DID.
    pub issuer: String,
    /// The key whose proof verified (the caller checks it is one of the issuer's); `None`
    /// from [`from_json`], which checks no proof.
    pub signer: Option<VerifyingKey>,
    /// The holder's DID.
    pub holder: String,
    /// The claims.
    pub claims: CardClaims,
}

/// Verifies the Data Integrity proof and validity window as of `now`, and maps the
/// claims back to the card model.
pub fn verify(json: &str, now: i64) -> Result<Checked> {
    let vc: DataIntegrity<JsonCredential, AnySuite> =
        ssi::claims::data_integrity::from_json_str(json).map_err(w3c)?;
    // One proof, by a method of the credential's own issuer: its DID, or the key's did:key.
    let [proof] = vc.proofs.as_slice() else {
        return Err(w3c("the credential must carry exactly one proof"));
    };
    let vm = proof.verification_method.id().to_string();
    let v: Value = serde_json::from_str(json)?;
    let issuer = v["issuer"].as_str().unwrap_or_default();
    // eddsa-rdfc-2022 for an assertion, and nothing else (ssi would verify any suite).
    if v["proof"]["cryptosuite"] != "eddsa-rdfc-2022"
        || v["proof"]["proofPurpose"] != "assertionMethod"
    {
        return Err(w3c("the proof must be eddsa-rdfc-2022 for assertionMethod"));
    }
    // The method's DID is the issuer: its did:web, or (before issuers had one) the key's
    // did:key, whose method's DID is that did:key itself.
    let signer = match method_key(&vm) {
        Some((did, key)) if did == issuer => key,
        _ => {
            return Err(w3c(format!(
                "its proof's method {vm} is not a key of its issuer {issuer}"
            )))
        }
    };
    let resolver = IssuerDids::for_methods([vm.as_str()]).into_vm_resolver::<AnyMethod>();
    let at = chrono::DateTime::from_timestamp(now, 0).ok_or_else(|| w3c("time out of range"))?;
    let params = VerificationParameters::from_resolver(&resolver)
        .with_json_ld_loader(context_loader())
        .with_date_time(at);
    pollster::block_on(vc.verify(&params))
        .map_err(w3c)?
        .map_err(|e| w3c(format!("invalid: {e}")))?;
    let mut checked = from_json(&v)?;
    checked.signer = Some(signer);
    Ok(checked)
}

/// Maps a W3C credential's subject back to the card model (the inverse of [`unsigned`]).
pub fn from_json(v: &Value) -> Result<Checked> {
    let s = &v["credentialSubject"];
    let str_of = |field: &'static str, x: &Value| -> Result<String> {
        x.as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::field(field, "missing in the W3C credential"))
    };
    let by_lang = |field: &'static str, l: &str| -> Result<Name> {
        let t = s[field]
            .as_array()
            .and_then(|a| a.iter().find(|o| o["@language"] == l))
            .and_then(|o| o["@value"].as_str())
            .ok_or_else(|| Error::field(field, format!("no `{l}` value in the W3C credential")))?;
        Name::parse(field, t)
    };
    let portrait = str_of("image", &s["image"])?;
    let portrait = portrait
        .strip_prefix("data:image/jpeg;base64,")
        // Canonical base64 only: one image has one spelling.
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or_else(|| Error::field("image", "not a base64 JPEG data URL"))?;
    let issue_date = match PartialDate::parse(
        "cardIssueDate",
        &str_of("cardIssueDate", &s["cardIssueDate"])?,
    )? {
        PartialDate::Full(d) => d,
        _ => return Err(Error::field("cardIssueDate", "must be a full date")),
    };
    let claims = CardClaims {
        citizen_id: str_of("citizenId", &s["citizenId"])?.parse::<CitizenId>()?,
        title: Title {
            th: by_lang("honorificPrefix", "th")?,
            en: by_lang("honorificPrefix", "en")?,
        },
        given_name_th: by_lang("givenName", "th")?,
        family_name_th: by_lang("familyName", "th")?,
        given_name_en: by_lang("givenName", "en")?,
        family_name_en: by_lang("familyName", "en")?,
        birth_date: PartialDate::parse("birthDate", &str_of("birthDate", &s["birthDate"])?)?,
        address: Name::parse("address", &str_of("address", &s["address"]["@value"])?)?,
        issue_date,
        expiry: Expiry::parse(&str_of("cardExpiryDate", &s["cardExpiryDate"])?)?,
        laser_code: LaserCode::parse(&str_of("laserCode", &s["laserCode"])?)?,
        issuing_office: Name::parse(
            "issuingOffice",
            &str_of("issuingOffice", &s["issuingOffice"]["@value"])?,
        )?,
        portrait,
    };
    Ok(Checked {
        issuer: str_of("issuer", &v["issuer"])?,
        holder: str_of("credentialSubject.id", &s["id"])?,
        signer: None,
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    /// ssi's own signing of the same credential: the reference for the direct path.
    fn by_ssi(unsigned: Value, key: &SigningKey, created: i64) -> String {
        let issuer = unsigned["issuer"].as_str().unwrap().to_owned();
        let cred: JsonCredential = serde_json::from_value(unsigned).unwrap();
        serde_json::to_string_pretty(&sign_di(cred, key, &issuer, created).unwrap()).unwrap()
    }

    /// Text fields that stress the N-Quads writer: quotes, backslashes, other scripts, a
    /// character outside the BMP, `<`, `>`, `^`, `@`, and a long value.
    const AWKWARD: [&str; 8] = [
        "O\"Brien",
        "back\\slash\\",
        "ณัฐ\"พงศ์\\",
        "Zoë Ångström-Øster",
        "山田 太郎 😀",
        "<b>a</b> ^^ @en",
        "ก",
        "ฆ่าาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาาา",
    ];

    #[test]
    fn the_direct_canonical_form_signs_exactly_as_ssi_does() {
        let mut checked = 0;
        for i in 0..40usize {
            let mut c = crate::sample::citizen(i % 4);
            let text = |j: usize| Name::parse("x", AWKWARD[(i + j) % AWKWARD.len()]).unwrap();
            if i >= 4 {
                c.given_name_th = text(0);
                c.family_name_en = text(1);
                c.title.th = text(2);
                c.title.en = text(3);
                c.address = text(4);
                c.issuing_office = text(5);
                c.given_name_en = text(6);
                c.family_name_th = text(7);
            }
            c.birth_date = match i % 3 {
                0 => PartialDate::Year(1950 + i as i32),
                1 => PartialDate::YearMonth(1980, 1 + (i as u32 % 12)),
                _ => c.birth_date,
            };
            if i % 5 == 0 {
                c.expiry = Expiry::Lifelong;
            }
            if i % 7 == 0 {
                // The same text in both scripts' places: still two distinct literals.
                c.given_name_en = c.given_name_th.clone();
            }
            c.portrait = vec![i as u8; 1 + i * 37];
            let issuer = SigningKey::from_bytes(&[i as u8; 32]);
            // Every other card bound to a P-256 key (did:key zDn...).
            let holder: HolderKey = if i % 2 == 1 {
                (&p256::ecdsa::SigningKey::from_slice(&[100 + i as u8; 32])
                    .unwrap()
                    .verifying_key()
                    .clone())
                    .into()
            } else {
                SigningKey::from_bytes(&[100 + i as u8; 32])
                    .verifying_key()
                    .into()
            };
            let at = 1_700_000_000 + i as i64 * 86_399;
            let status = StatusRef {
                list: i as u32 % 3,
                index: (i as u64) << 20,
            };
            // The default DID, one with a port and a path, and an issuer named by its
            // did:key (credentials made before issuers had a DID).
            let did = match i % 3 {
                0 => default_issuer_did(1 + i as u32),
                1 => "did:web:issue.dopa.go.th%3A8443:offices:bang-rak".to_owned(),
                _ => did_key(&issuer.verifying_key()),
            };
            let u = unsigned(&c, 1 + i as u32, &did, holder, &[i as u8; 8], status, at).unwrap();
            assert!(
                canonical_claims(&u).is_some(),
                "card {i} takes the direct path"
            );
            let direct = sign(u.clone(), &issuer, at + 5).unwrap();
            assert_eq!(direct, by_ssi(u, &issuer, at + 5), "card {i}");
            // Checked on the day after the card's issue, inside its validity.
            let back = verify(&direct, epoch_days(c.issue_date) * 86_400 + 86_400).unwrap();
            assert_eq!(back.claims, c);
            assert_eq!(back.issuer, did);
            assert_eq!(back.signer, Some(issuer.verifying_key()));
            checked += 1;
        }
        assert_eq!(checked, 40);
    }

    #[test]
    fn any_other_shape_goes_through_ssi() {
        let c = crate::sample::citizen(0);
        let holder = SigningKey::from_bytes(&[2; 32]).verifying_key();
        let status = StatusRef { list: 0, index: 3 };
        let base = unsigned(
            &c,
            1,
            &default_issuer_did(1),
            holder,
            &[3; 8],
            status,
            1_700_000_000,
        )
        .unwrap();
        type Change = Box<dyn Fn(&mut Value)>;
        let variants: Vec<Change> = vec![
            Box::new(|v| v["credentialSubject"]["nickname"] = json!("x")),
            Box::new(|v| v["extra"] = json!("x")),
            Box::new(|v| v["@context"] = json!([VC2_CONTEXT])),
            Box::new(|v| v["credentialSubject"]["ageOver18"] = json!(1)),
            Box::new(|v| v["credentialSubject"]["id"] = json!("https://example.org/h")),
            Box::new(|v| v["credentialSubject"]["address"]["@language"] = json!("TH")),
            Box::new(|v| {
                v["credentialStatus"]
                    .as_object_mut()
                    .unwrap()
                    .remove("id")
                    .map(drop)
                    .unwrap()
            }),
            Box::new(|v| v["type"] = json!(["VerifiableCredential", "Other"])),
            Box::new(|v| v["id"] = json!("urn:a#b#c")),
            Box::new(|v| v["id"] = json!("urn:tuaton:credential:1:00ff")),
            Box::new(|v| v["issuer"] = json!("did:web:Example.org")),
            Box::new(|v| v["issuer"] = json!("https://example.org/issuer")),
            Box::new(|v| v["credentialSubject"]["address"]["@language"] = json!("abcdefghijk")),
            Box::new(|v| v["credentialStatus"]["id"] = json!("urn:tuaton:status:1:0#5#6")),
        ];
        for (n, change) in variants.iter().enumerate() {
            let mut v = base.clone();
            change(&mut v);
            assert!(canonical_claims(&v).is_none(), "variant {n}");
        }
        assert!(canonical_claims(&base).is_some());
    }

    #[test]
    fn a_portrait_in_non_canonical_base64_is_refused() {
        // "TWE" with a set padding bit ("TWF=") or with its padding dropped must not decode
        // to the same image as the canonical spelling.
        assert!(STANDARD.decode("TWE=").is_ok());
        assert!(STANDARD.decode("TWF=").is_err());
        assert!(STANDARD.decode("TWE").is_err());
        assert!(STANDARD.decode("TW=").is_err());
    }
}

#[cfg(test)]
mod did_tests {
    use super::*;

    #[test]
    fn issuer_dids_are_host_names_with_sane_ports_and_paths() {
        for ok in [
            "did:web:issue.dopa.go.th",
            "did:web:issuer-1.tuaton.invalid",
            "did:web:issue.dopa.go.th%3A8443:offices:bang-rak",
        ] {
            assert!(is_issuer_did(ok), "{ok}");
        }
        for bad in [
            "did:web:192.168.1.10",
            "did:web:issue.dopa.go.th%3A0",
            "did:web:issue.dopa.go.th%3A70000",
            "did:web:issue.dopa.go.th:.well-known",
            "did:web:issue.dopa.go.th:..:x",
            "did:web:Issue.dopa.go.th",
            "did:web:localhost",
            "did:web:a.b:",
        ] {
            assert!(!is_issuer_did(bad), "{bad}");
        }
        let k = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
        let vm = issuer_method("did:web:issue.dopa.go.th", &k);
        assert_eq!(method_key(&vm), Some(("did:web:issue.dopa.go.th", k)));
        assert!(method_key(&format!("{vm}x")).is_none());
        assert!(method_key(&format!("did:web:issue.dopa.go.th#z{}", "1".repeat(5000))).is_none());
        // A did:key issuer is only the key's own.
        let other = ed25519_dalek::SigningKey::from_bytes(&[4; 32]).verifying_key();
        assert!(method_for(&did_key(&other), &k).is_err());
    }
}
