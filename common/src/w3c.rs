//! The W3C form: a VC 2.0 JSON-LD credential with the card's claims, issuer and holder as
//! did:key, secured with a Data Integrity proof (eddsa-rdfc-2022), signed and verified
//! with ssi. The tuaton context ships inside the binary: nothing is ever fetched.
//!
//! Claim mapping (both directions tested): schema.org names for names, birth date,
//! address and image; language-tagged values (`th`, `en`) where the card has both
//! scripts; validFrom/validUntil from the card's issue and expiry dates (Thai time).

use crate::error::{Error, Result};
use crate::gate::{epoch_days, StatusRef, THAI_UTC_OFFSET};
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

pub(crate) fn did_key_url(key: &VerifyingKey) -> String {
    DIDKey::generate_url(&JWK::from(*key))
        .expect("Ed25519 keys always encode")
        .to_string()
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
    issuer_key: &VerifyingKey,
    holder_key: &VerifyingKey,
    credential_id: &[u8; 8],
    status: StatusRef,
    issued_at: i64,
) -> Value {
    let day0 = |d| epoch_days(d) * 86_400 - THAI_UTC_OFFSET;
    let issued_on = crate::model::thai_date(issued_at).expect("in range");
    let ages = crate::model::AgeClaims::on(claims.birth_date, issued_on);
    let mut subject = json!({
        "id": did_key(holder_key),
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
    let _ = &mut subject;
    let list = status_list_id(issuer, status.list);
    let mut vc = json!({
        "@context": [VC2_CONTEXT, CONTEXT_URL],
        "id": credential_urn(issuer, credential_id),
        "type": ["VerifiableCredential", "ThaiNationalIdCard"],
        "issuer": did_key(issuer_key),
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
    vc
}

type Resolver = ssi::dids::VerificationMethodDIDResolver<DIDKey, AnyMethod>;
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

/// Secures `doc` with a Data Integrity proof (eddsa-rdfc-2022) by `key`, created at
/// `created` (ssi would stamp its own clock; `common` takes the time as input). Shared by
/// credentials and status lists.
pub(crate) fn sign_di<'k, T>(
    doc: T,
    key: &'k dyn KeySigner,
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
    let resolver = DIDKey.into_vm_resolver::<AnyMethod>();
    let signer = ssi::verification_methods::LocalSigner(External(key));
    let vm = ssi::json_ld::iref::IriBuf::new(did_key_url(&key.public_key())).map_err(w3c)?;
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
pub fn sign(unsigned: Value, issuer_key: &dyn KeySigner, created: i64) -> Result<String> {
    let cred: JsonCredential = serde_json::from_value(unsigned)?;
    serde_json::to_string_pretty(&sign_di(cred, issuer_key, created)?).map_err(Into::into)
}

/// What checking a W3C credential found.
#[derive(Debug)]
pub struct Checked {
    /// The issuer's DID.
    pub issuer: String,
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
    let resolver = DIDKey.into_vm_resolver::<AnyMethod>();
    let at = chrono::DateTime::from_timestamp(now, 0).ok_or_else(|| w3c("time out of range"))?;
    let params = VerificationParameters::from_resolver(&resolver)
        .with_json_ld_loader(context_loader())
        .with_date_time(at);
    pollster::block_on(vc.verify(&params))
        .map_err(w3c)?
        .map_err(|e| w3c(format!("invalid: {e}")))?;
    let v: Value = serde_json::from_str(json)?;
    from_json(&v)
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
        claims,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
