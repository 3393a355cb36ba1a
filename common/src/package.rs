//! The credential package: what an issuer hands a wallet (and what the wallet keeps),
//! both forms of one credential. One type, written by the issuer and read by the wallet,
//! so the two never drift (docs/ARCHITECTURE.md, "Credential package").
//!
//! ```json
//! {"format": "tuaton-credential-package/1", "credential_id": "16 hex digits",
//!  "issuer": 1, "gate": "hex of the gate form", "w3c": { the W3C VC } }
//! ```

use crate::error::{Error, Result};
use crate::gate::{DisclosedClaims, GateCredential};
use crate::model::CardClaims;

/// The `format` of this version of the package.
pub const FORMAT: &str = "tuaton-credential-package/1";

/// The largest package read: two forms of a card with a 64 KiB portrait, hex and base64
/// encoded, fit in well under this.
pub const MAX_PACKAGE_BYTES: usize = 1 << 20;

/// A credential package.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialPackage {
    /// Always [`FORMAT`].
    pub format: String,
    /// The credential id, 16 lower-case hex digits.
    pub credential_id: String,
    /// The issuer's number in the trust list.
    pub issuer: u32,
    /// The gate form's bytes, lower-case hex.
    pub gate: String,
    /// The W3C form, as the issuer signed it.
    pub w3c: serde_json::Value,
    /// The ISO 18013-5 form (IssuerSigned, CBOR, lower-case hex), for cards bound to a
    /// P-256 holder key (docs/FORMAT.md, "The mdoc form").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdoc: Option<String>,
}

impl CredentialPackage {
    /// A package of `gate` and the W3C form `w3c_json` (as ssi wrote it).
    pub fn new(gate: &GateCredential, issuer: u32, w3c_json: &str) -> Result<Self> {
        let full = gate.full_member()?;
        Ok(CredentialPackage {
            format: FORMAT.into(),
            credential_id: hex::encode(full.payload.credential_id),
            issuer,
            gate: hex::encode(gate.to_bytes()),
            w3c: serde_json::from_str(w3c_json)?,
            mdoc: None,
        })
    }

    /// Parses a package: bounded, strict JSON (a repeated key is refused), the right
    /// format, and a gate form that decodes.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_PACKAGE_BYTES {
            return Err(Error::field(
                "package",
                format!("is larger than {MAX_PACKAGE_BYTES} bytes"),
            ));
        }
        let v = crate::json::parse_strict(bytes)?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(Error::field("format", format!("is not {FORMAT}")));
        }
        let p: CredentialPackage = serde_json::from_value(v)?;
        let gate = p.gate_form()?;
        if hex::encode(gate.full_member()?.payload.credential_id) != p.credential_id {
            return Err(Error::field(
                "credential_id",
                "differs from the gate form's",
            ));
        }
        Ok(p)
    }

    /// The gate form.
    pub fn gate_form(&self) -> Result<GateCredential> {
        let b = hex::decode(&self.gate).map_err(|_| Error::field("gate", "is not hex"))?;
        GateCredential::from_bytes(&b)
    }

    /// The W3C form as JSON text (for ssi and `export --w3c`).
    pub fn w3c_json(&self) -> String {
        serde_json::to_string_pretty(&self.w3c).expect("a JSON value serialises")
    }

    /// The package as the issuer writes it.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("serialisable")
    }
}

/// Checks that the W3C form `w3c_doc` is the same credential as the gate form whose
/// payload is `payload`: its `id` is the credential's URN, and its status entry is the
/// same list and index. Otherwise revoking the one would leave the other valid to a W3C
/// verifier.
pub fn same_credential(payload: &crate::gate::Payload, w3c_doc: &serde_json::Value) -> Result<()> {
    let differs =
        |what: &'static str| Err(Error::field(what, "differs between the gate and W3C forms"));
    if w3c_doc["id"].as_str()
        != Some(&crate::w3c::credential_urn(
            payload.issuer,
            &payload.credential_id,
        ))
    {
        return differs("credential_id");
    }
    let status = &w3c_doc["credentialStatus"];
    let list = crate::w3c::status_list_id(payload.issuer, payload.status.list);
    let index = payload.status.index.to_string();
    if status["statusListCredential"].as_str() != Some(list.as_str())
        || status["statusListIndex"].as_str() != Some(index.as_str())
        || status["statusPurpose"].as_str() != Some("revocation")
    {
        return differs("status");
    }
    Ok(())
}

/// Checks that the gate form's claims (`gate`, all groups disclosed) are exactly the W3C
/// form's (`w3c`, and its document `w3c_doc` for the age claims), claim by claim; the
/// error names the first claim that differs.
pub fn forms_agree(
    gate: &DisclosedClaims,
    w3c: &CardClaims,
    w3c_doc: &serde_json::Value,
) -> Result<()> {
    fn same<T: PartialEq>(field: &'static str, g: Option<&T>, w: &T) -> Result<()> {
        if g == Some(w) {
            Ok(())
        } else {
            Err(Error::field(
                field,
                "differs between the gate and W3C forms",
            ))
        }
    }
    same("citizen_id", gate.citizen_id.as_ref(), &w3c.citizen_id)?;
    same("title", gate.title.as_ref(), &w3c.title)?;
    same(
        "given_name_th",
        gate.given_name_th.as_ref(),
        &w3c.given_name_th,
    )?;
    same(
        "family_name_th",
        gate.family_name_th.as_ref(),
        &w3c.family_name_th,
    )?;
    same(
        "given_name_en",
        gate.given_name_en.as_ref(),
        &w3c.given_name_en,
    )?;
    same(
        "family_name_en",
        gate.family_name_en.as_ref(),
        &w3c.family_name_en,
    )?;
    same("birth_date", gate.birth_date.as_ref(), &w3c.birth_date)?;
    same("address", gate.address.as_ref(), &w3c.address)?;
    same("laser_code", gate.laser_code.as_ref(), &w3c.laser_code)?;
    same(
        "issuing_office",
        gate.issuing_office.as_ref(),
        &w3c.issuing_office,
    )?;
    same("portrait", gate.portrait.as_ref(), &w3c.portrait)?;
    same("issue_date", gate.issue_date.as_ref(), &w3c.issue_date)?;
    same("expiry_date", gate.expiry.as_ref(), &w3c.expiry)?;
    let subject = &w3c_doc["credentialSubject"];
    for (field, g, key) in [
        ("age_over_18", gate.age_over_18, "ageOver18"),
        ("age_over_20", gate.age_over_20, "ageOver20"),
    ] {
        if g != subject[key].as_bool() {
            return Err(Error::field(
                field,
                "differs between the gate and W3C forms",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_w3c_form_of_another_credential_or_status_entry_is_refused() {
        let issuer = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
        let holder = ed25519_dalek::SigningKey::from_bytes(&[2; 32]).verifying_key();
        let card = crate::sample::Issue::new(0, &issuer, holder, 1_700_000_000);
        let gate = card.gate(&mut rand_core::OsRng).unwrap();
        let payload = gate.full_member().unwrap().payload;
        let w3c: serde_json::Value = serde_json::from_str(&card.w3c().unwrap()).unwrap();
        same_credential(&payload, &w3c).unwrap();
        let mut other = w3c.clone();
        other["credentialStatus"]["statusListIndex"] = "7".into();
        assert!(same_credential(&payload, &other).is_err());
        let mut other = w3c.clone();
        other["id"] = "urn:tuaton:credential:1:0000000000000001".into();
        assert!(same_credential(&payload, &other).is_err());
    }
}
