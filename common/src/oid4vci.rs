//! OpenID for Verifiable Credential Issuance 1.0: the wire shapes both sides of the
//! pre-authorised code flow share, and the holder's key proof (a JWT, section 8.2.1.1 and
//! appendix F.1). The officer's offer itself is in [`crate::offer`].
//!
//! The flow a wallet follows (docs/ISSUANCE.md, "OpenID4VCI"): read the offer; fetch the
//! credential issuer metadata and the authorization server metadata; exchange the
//! pre-authorised code and the transaction code at the token endpoint for an access
//! token; fetch a `c_nonce` at the nonce endpoint; send the credential request with a
//! proof JWT signed by the holder key over that nonce and the issuer's identifier.

use crate::error::{Error, Result};
use crate::holder::{HolderKey, HolderSigner, KeyType};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The pre-authorised code grant's type (OpenID4VCI 1.0 section 4.1.1).
pub const PRE_AUTHORIZED_GRANT: &str = "urn:ietf:params:oauth:grant-type:pre-authorized_code";
/// The credential configuration of the ID card as tuaton keeps it: the credential package
/// (FORMAT.md section 9: the gate form with its W3C twin and the portrait).
pub const CONFIG_CARD: &str = "tuaton_id_card";
/// Its format identifier (the credential is the package's JSON object).
pub const FORMAT_CARD: &str = "tuaton_package";
/// The credential configuration of the W3C form alone, for wallets that keep only W3C
/// credentials.
pub const CONFIG_LDP: &str = "tuaton_id_card_ldp";
/// Its format identifier (OpenID4VCI 1.0 appendix A.1.2).
pub const FORMAT_LDP: &str = "ldp_vc";
/// The credential configuration of the ISO 18013-5 form (FORMAT.md section 11), for
/// wallets that keep mdocs; P-256 holder keys only.
pub const CONFIG_MDOC: &str = "tuaton_id_card_mdoc";
/// Its format identifier (OpenID4VCI 1.0 appendix A.2): the credential is the base64url
/// (no padding) of the IssuerSigned CBOR.
pub const FORMAT_MDOC: &str = "mso_mdoc";
/// The `typ` of a key proof JWT (appendix F.1).
pub const PROOF_TYP: &str = "openid4vci-proof+jwt";
/// Where the credential issuer metadata is (section 12.2.2).
pub const ISSUER_METADATA_PATH: &str = "/.well-known/openid-credential-issuer";
/// Where the authorization server metadata is (RFC 8414 section 3).
pub const AS_METADATA_PATH: &str = "/.well-known/oauth-authorization-server";
/// The token endpoint's path on the service.
pub const TOKEN_PATH: &str = "/oid4vci/token";
/// The nonce endpoint's path (section 7).
pub const NONCE_PATH: &str = "/oid4vci/nonce";
/// The credential endpoint's path (section 8).
pub const CREDENTIAL_PATH: &str = "/oid4vci/credential";
/// The longest proof JWT read: a P-256 one with its JWK is about 600 characters.
pub const MAX_PROOF_JWT: usize = 4096;
/// How far a proof's `iat` may be from the service's clock, either way.
pub const PROOF_SKEW_SECS: i64 = 300;

/// A holder key as a JWK (RFC 7517; RFC 8037 for Ed25519): `OKP`/`Ed25519` with `x`,
/// or `EC`/`P-256` with `x` and `y`.
pub fn jwk_of(key: &HolderKey) -> Result<Value> {
    Ok(match key {
        HolderKey::Ed25519(b) => json!({"kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(b)}),
        HolderKey::P256(b) => {
            use p256::elliptic_curve::sec1::ToEncodedPoint as _;
            let pk = p256::PublicKey::from_sec1_bytes(b)
                .map_err(|_| Error::Signature("the P-256 holder key is not a point".into()))?;
            let pt = pk.to_encoded_point(false);
            let (x, y) = (pt.x().expect("affine"), pt.y().expect("affine"));
            json!({"kty": "EC", "crv": "P-256", "x": B64URL.encode(x), "y": B64URL.encode(y)})
        }
    })
}

/// The holder key a JWK names, for the JWS algorithm `alg`: only an Ed25519 key signs
/// `EdDSA` and only a P-256 key `ES256`; a private member (`d`) is refused, as appendix
/// F.1 asks.
pub fn key_of_jwk(jwk: &Value, alg: &str) -> Result<HolderKey> {
    let bad = |why: &str| Error::Signature(format!("the proof's jwk: {why}"));
    let s = |name: &str| jwk.get(name).and_then(Value::as_str);
    let coord = |name: &str| -> Result<[u8; 32]> {
        s(name)
            .and_then(|v| B64URL.decode(v).ok())
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| bad(&format!("{name} is not 32 bytes, base64url")))
    };
    if jwk.get("d").is_some() {
        return Err(bad("it holds a private key"));
    }
    match (alg, s("kty"), s("crv")) {
        ("EdDSA", Some("OKP"), Some("Ed25519")) => Ok(HolderKey::Ed25519(coord("x")?)),
        ("ES256", Some("EC"), Some("P-256")) => {
            use p256::elliptic_curve::sec1::ToEncodedPoint as _;
            let mut sec1 = vec![4u8];
            sec1.extend(coord("x")?);
            sec1.extend(coord("y")?);
            // On the curve, or refused: the compressed form below would otherwise name
            // another point than the one sent.
            let pk = p256::PublicKey::from_sec1_bytes(&sec1)
                .map_err(|_| bad("the point is not on P-256"))?;
            let c: [u8; 33] = pk
                .to_encoded_point(true)
                .as_bytes()
                .try_into()
                .expect("compressed P-256 point");
            Ok(HolderKey::P256(c))
        }
        _ => Err(bad(&format!("not a key for {alg}"))),
    }
}

/// The holder key a `kid` names: a did:key URL (`did:key:z...#z...`, the same key twice)
/// of an Ed25519 key for `EdDSA` or a P-256 key for `ES256`.
pub fn key_of_kid(kid: &str, alg: &str) -> Result<HolderKey> {
    let bad = || Error::Signature("the proof's kid is not a did:key URL of a holder key".into());
    let (did, fragment) = kid.split_once('#').ok_or_else(bad)?;
    if did.strip_prefix("did:key:") != Some(fragment) {
        return Err(bad());
    }
    let key = crate::w3c::holder_key_of_did(did).ok_or_else(bad)?;
    match (alg, key) {
        ("EdDSA", HolderKey::Ed25519(_)) | ("ES256", HolderKey::P256(_)) => Ok(key),
        _ => Err(Error::Signature(format!(
            "the proof's kid is not a key for {alg}"
        ))),
    }
}

/// A key proof JWT (appendix F.1) by `holder`: header `typ` `openid4vci-proof+jwt`, `alg`
/// `EdDSA` or `ES256`, the public key as `jwk`; claims `aud` (the credential issuer
/// identifier), `iat` and `nonce` (the `c_nonce`). No `iss`: the access token came from a
/// pre-authorised code with anonymous access (section F.1).
pub fn proof_jwt(
    holder: &(impl HolderSigner + ?Sized),
    aud: &str,
    nonce: &str,
    iat: i64,
) -> Result<String> {
    let key = holder.holder_key();
    let header = json!({
        "typ": PROOF_TYP,
        "alg": jws_alg(key.key_type()),
        "jwk": jwk_of(&key)?,
    });
    let claims = json!({"aud": aud, "iat": iat, "nonce": nonce});
    let signing_input = format!(
        "{}.{}",
        B64URL.encode(header.to_string()),
        B64URL.encode(claims.to_string())
    );
    let sig = holder.sign_holder(signing_input.as_bytes());
    Ok(format!("{signing_input}.{}", B64URL.encode(sig)))
}

/// The JWS algorithm name of a holder key type (RFC 8037 `EdDSA`, RFC 7518 `ES256`).
pub fn jws_alg(kind: KeyType) -> &'static str {
    match kind {
        KeyType::Ed25519 => "EdDSA",
        KeyType::P256 => "ES256",
    }
}

/// A proof JWT that verified: the holder key it proves and the nonce it carries (the
/// service checks the nonce is one of its own and fresh).
#[derive(Debug)]
pub struct CheckedProof {
    /// The key the credential is to be bound to.
    pub holder: HolderKey,
    /// The `nonce` claim.
    pub nonce: String,
}

/// Checks a key proof JWT for the credential issuer `aud` at `now`, as section 8.2.1.1
/// and appendix F.4 ask: `typ`, an asymmetric algorithm this issuer supports (`EdDSA`,
/// `ES256`; `none` and every other refused), the key in `jwk` (a `kid`, `x5c` or
/// `trust_chain` is refused: the key must be in the proof), the signature, `aud` equal to
/// the issuer's identifier, `iat` within [`PROOF_SKEW_SECS`] of now, and a `nonce`.
pub fn check_proof_jwt(jwt: &str, aud: &str, now: i64) -> Result<CheckedProof> {
    let bad = |why: String| Error::Signature(format!("the key proof: {why}"));
    if jwt.len() > MAX_PROOF_JWT {
        return Err(bad(format!("longer than {MAX_PROOF_JWT} characters")));
    }
    let mut parts = jwt.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a compact JWS (three parts)".into()));
    };
    let part = |p: &str, what: &str| -> Result<Value> {
        let raw = B64URL
            .decode(p)
            .map_err(|_| bad(format!("its {what} is not base64url")))?;
        serde_json::from_slice(&raw).map_err(|_| bad(format!("its {what} is not JSON")))
    };
    let header = part(h, "header")?;
    let claims = part(c, "claims")?;
    // Media types compare without case, and `application/` may be left out (RFC 7515
    // section 4.1.9).
    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .map(str::to_ascii_lowercase);
    let typ = typ
        .as_deref()
        .map(|t| t.strip_prefix("application/").unwrap_or(t));
    if typ != Some(PROOF_TYP) {
        return Err(bad(format!("typ must be {PROOF_TYP}")));
    }
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !matches!(alg, "EdDSA" | "ES256") {
        return Err(Error::Signature(format!(
            "the key proof: alg {:?} is not supported (EdDSA or ES256)",
            alg.chars().take(16).collect::<String>()
        )));
    }
    if ["x5c", "trust_chain", "crit"]
        .iter()
        .any(|k| header.get(k).is_some())
    {
        return Err(bad(
            "the key must be given as jwk or a did:key kid (x5c, trust_chain and crit are not read)"
                .into(),
        ));
    }
    let holder = match (header.get("jwk"), header.get("kid")) {
        (Some(jwk), None) => key_of_jwk(jwk, alg)?,
        (None, Some(kid)) => key_of_kid(kid.as_str().unwrap_or_default(), alg)?,
        _ => return Err(bad("exactly one of jwk and kid must name the key".into())),
    };
    let sig: [u8; 64] = B64URL
        .decode(s)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| bad("the signature is not 64 bytes".into()))?;
    let signing_input = &jwt[..h.len() + 1 + c.len()];
    if !holder.verify(signing_input.as_bytes(), &sig) {
        return Err(bad("the signature does not verify".into()));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == aud,
        Some(Value::Array(a)) => a.len() == 1 && a[0].as_str() == Some(aud),
        _ => false,
    };
    if !aud_ok {
        return Err(bad(format!("aud must be this credential issuer, {aud}")));
    }
    let iat = claims
        .get("iat")
        .and_then(Value::as_i64)
        .ok_or_else(|| bad("no iat".into()))?;
    if now.abs_diff(iat) > PROOF_SKEW_SECS as u64 {
        return Err(bad(format!(
            "iat is more than {PROOF_SKEW_SECS} s from the issuer's clock"
        )));
    }
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Signature("the key proof has no nonce".into()))?
        .to_owned();
    Ok(CheckedProof { holder, nonce })
}

/// The token endpoint's answer (RFC 6749 section 5.1; OpenID4VCI 1.0 section 6.2).
#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token for the credential endpoint.
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the token lives (RFC 6749 only recommends it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<i64>,
}

/// The nonce endpoint's answer (section 7.2).
#[derive(Debug, Serialize, Deserialize)]
pub struct NonceResponse {
    /// The nonce a key proof must carry.
    pub c_nonce: String,
}

/// A credential request (section 8.2), as far as this issuer reads it.
#[derive(Debug, Serialize, Deserialize)]
pub struct CredentialRequest {
    /// Which configuration of the offer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_configuration_id: Option<String>,
    /// A `credential_identifier` (this issuer's token details name none, so it is refused
    /// when present).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_identifier: Option<String>,
    /// The key proofs (section 8.2.1): `{"jwt": [one JWT]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proofs: Option<Proofs>,
}

/// The `proofs` object: one proof type, with an array of proofs.
#[derive(Debug, Serialize, Deserialize)]
pub struct Proofs {
    /// Key proof JWTs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<Vec<String>>,
}

/// One credential of a credential response.
#[derive(Debug, Serialize, Deserialize)]
pub struct IssuedCredential {
    /// The credential: for `tuaton_package` the package's JSON object, for `ldp_vc` the
    /// W3C credential's, for `mso_mdoc` the base64url of the IssuerSigned CBOR.
    pub credential: Value,
}

/// The credential endpoint's answer (section 8.3).
#[derive(Debug, Serialize, Deserialize)]
pub struct CredentialResponse {
    /// The credentials issued: one.
    pub credentials: Vec<IssuedCredential>,
}

/// The parts of the credential issuer metadata (section 12.2.4) a wallet needs to follow
/// the flow; unknown ones are ignored.
#[derive(Debug, Deserialize)]
pub struct IssuerMetadata {
    /// The issuer's identifier: the offer's `credential_issuer`, exactly.
    pub credential_issuer: String,
    /// Authorization servers; none means the issuer is its own (section 12.2.4).
    #[serde(default)]
    pub authorization_servers: Option<Vec<String>>,
    /// The credential endpoint.
    pub credential_endpoint: String,
    /// The nonce endpoint.
    pub nonce_endpoint: Option<String>,
}

/// The parts of the authorization server metadata (RFC 8414) a wallet needs.
#[derive(Debug, Deserialize)]
pub struct AsMetadata {
    /// The server's identifier.
    pub issuer: String,
    /// The token endpoint.
    pub token_endpoint: String,
}

/// The credential issuer metadata this service publishes for `issuer_id` (its public base
/// URL), with its display name.
pub fn issuer_metadata(issuer_id: &str, display_name: &str) -> Value {
    let base = issuer_id.trim_end_matches('/');
    let proof_types = json!({
        "jwt": {"proof_signing_alg_values_supported": ["EdDSA", "ES256"]}
    });
    let display = json!([
        {"name": "บัตรประจำตัวประชาชน", "locale": "th"},
        {"name": "Thai national ID card", "locale": "en"}
    ]);
    json!({
        "credential_issuer": issuer_id,
        "credential_endpoint": format!("{base}{CREDENTIAL_PATH}"),
        "nonce_endpoint": format!("{base}{NONCE_PATH}"),
        "display": [{"name": display_name}],
        "credential_configurations_supported": {
            CONFIG_CARD: {
                "format": FORMAT_CARD,
                "cryptographic_binding_methods_supported": ["jwk", "did:key"],
                "credential_signing_alg_values_supported": ["EdDSA"],
                "proof_types_supported": proof_types,
                "credential_metadata": {"display": display},
            },
            CONFIG_MDOC: {
                "format": FORMAT_MDOC,
                "doctype": crate::mdoc::DOC_TYPE,
                "cryptographic_binding_methods_supported": ["cose_key"],
                // Appendix A.2.2: fully specified COSE algorithm identifiers (ES256).
                "credential_signing_alg_values_supported": [-7],
                "proof_types_supported": {
                    "jwt": {"proof_signing_alg_values_supported": ["ES256"]}
                },
                "credential_metadata": {"display": display},
            },
            CONFIG_LDP: {
                "format": FORMAT_LDP,
                "credential_definition": {
                    "@context": [
                        crate::w3c::VC2_CONTEXT,
                        crate::w3c::CONTEXT_URL,
                    ],
                    "type": ["VerifiableCredential", "ThaiNationalIdCard"],
                },
                "cryptographic_binding_methods_supported": ["did:key", "jwk"],
                "credential_signing_alg_values_supported": ["eddsa-rdfc-2022"],
                "proof_types_supported": proof_types,
                "credential_metadata": {"display": display},
            },
        },
    })
}

/// The authorization server metadata (RFC 8414 section 2) of the same service: it is its
/// own authorization server, with the pre-authorised code grant only.
pub fn as_metadata(issuer_id: &str) -> Value {
    let base = issuer_id.trim_end_matches('/');
    json!({
        "issuer": issuer_id,
        "token_endpoint": format!("{base}{TOKEN_PATH}"),
        "grant_types_supported": [PRE_AUTHORIZED_GRANT],
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": ["none"],
        "pre-authorized_grant_anonymous_access_supported": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::holder::HolderSecret;

    const AUD: &str = "https://issue.example.go.th";

    fn holders() -> Vec<HolderSecret> {
        let mut rng = rand_core::OsRng;
        vec![
            HolderSecret::generate(KeyType::Ed25519, &mut rng),
            HolderSecret::generate(KeyType::P256, &mut rng),
        ]
    }

    #[test]
    fn a_proof_of_either_key_type_verifies_and_names_its_key() {
        for h in holders() {
            let jwt = proof_jwt(&h, AUD, "n-1", 1000).unwrap();
            let p = check_proof_jwt(&jwt, AUD, 1100).unwrap();
            assert_eq!(p.holder, h.holder_key());
            assert_eq!(p.nonce, "n-1");
            // Another audience, a stale iat, a changed claim: refused.
            assert!(check_proof_jwt(&jwt, "https://evil.example", 1100).is_err());
            assert!(check_proof_jwt(&jwt, AUD, 1000 + PROOF_SKEW_SECS + 1).is_err());
            let parts: Vec<&str> = jwt.split('.').collect();
            let forged =
                B64URL.encode(json!({"aud": AUD, "iat": 1000, "nonce": "n-2"}).to_string());
            let forged = format!("{}.{forged}.{}", parts[0], parts[2]);
            assert!(check_proof_jwt(&forged, AUD, 1100).is_err());
        }
    }

    fn jwt_with(header: Value, claims: Value, sig: &[u8]) -> String {
        format!(
            "{}.{}.{}",
            B64URL.encode(header.to_string()),
            B64URL.encode(claims.to_string()),
            B64URL.encode(sig)
        )
    }

    #[test]
    fn alg_none_another_alg_a_kid_and_a_missing_nonce_are_refused() {
        let h = &holders()[0];
        let jwk = jwk_of(&h.holder_key()).unwrap();
        let claims = json!({"aud": AUD, "iat": 1000, "nonce": "n"});
        let none = jwt_with(
            json!({"typ": PROOF_TYP, "alg": "none", "jwk": jwk}),
            claims.clone(),
            b"",
        );
        let e = check_proof_jwt(&none, AUD, 1000).unwrap_err();
        assert!(e.to_string().contains("not supported"), "{e}");
        let hs = jwt_with(
            json!({"typ": PROOF_TYP, "alg": "HS256", "jwk": jwk}),
            claims.clone(),
            &[0; 32],
        );
        assert!(check_proof_jwt(&hs, AUD, 1000).is_err());
        // EdDSA named over a P-256 key: refused, never verified with the wrong curve.
        let p = &holders()[1];
        let wrong = jwt_with(
            json!({"typ": PROOF_TYP, "alg": "EdDSA", "jwk": jwk_of(&p.holder_key()).unwrap()}),
            claims.clone(),
            &[0; 64],
        );
        assert!(check_proof_jwt(&wrong, AUD, 1000).is_err());
        let sign = |header: Value, claims: Value| {
            let input = format!(
                "{}.{}",
                B64URL.encode(header.to_string()),
                B64URL.encode(claims.to_string())
            );
            format!("{input}.{}", B64URL.encode(h.sign_holder(input.as_bytes())))
        };
        let with_kid = sign(
            json!({"typ": PROOF_TYP, "alg": "EdDSA", "jwk": jwk, "kid": "did:key:z6Mk"}),
            claims.clone(),
        );
        assert!(check_proof_jwt(&with_kid, AUD, 1000).is_err());
        let wrong_typ = sign(json!({"typ": "JWT", "alg": "EdDSA", "jwk": jwk}), claims);
        assert!(check_proof_jwt(&wrong_typ, AUD, 1000).is_err());
        let no_nonce = sign(
            json!({"typ": PROOF_TYP, "alg": "EdDSA", "jwk": jwk}),
            json!({"aud": AUD, "iat": 1000}),
        );
        let e = check_proof_jwt(&no_nonce, AUD, 1000).unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
    }

    #[test]
    fn a_did_key_kid_names_the_key_as_a_jwk_does() {
        for h in holders() {
            let key = h.holder_key();
            let did = crate::w3c::holder_did(&key).unwrap();
            assert_eq!(crate::w3c::holder_key_of_did(&did), Some(key));
            let kid = format!("{did}#{}", did.trim_start_matches("did:key:"));
            let alg = jws_alg(key.key_type());
            let sign = |header: Value| {
                let input = format!(
                    "{}.{}",
                    B64URL.encode(header.to_string()),
                    B64URL.encode(json!({"aud": AUD, "iat": 1000, "nonce": "n"}).to_string())
                );
                format!("{input}.{}", B64URL.encode(h.sign_holder(input.as_bytes())))
            };
            let jwt = sign(json!({"typ": PROOF_TYP, "alg": alg, "kid": kid}));
            assert_eq!(check_proof_jwt(&jwt, AUD, 1000).unwrap().holder, key);
            // Both at once, or a kid whose fragment names another key: refused.
            let both = sign(
                json!({"typ": PROOF_TYP, "alg": alg, "kid": kid, "jwk": jwk_of(&key).unwrap()}),
            );
            assert!(check_proof_jwt(&both, AUD, 1000).is_err());
            let odd =
                sign(json!({"typ": PROOF_TYP, "alg": alg, "kid": format!("{did}#z6Mkother")}));
            assert!(check_proof_jwt(&odd, AUD, 1000).is_err());
            // `typ` in another case, with its `application/` prefix: the same media type.
            let typ =
                sign(json!({"typ": "application/OpenID4VCI-Proof+JWT", "alg": alg, "kid": kid}));
            assert!(check_proof_jwt(&typ, AUD, 1000).is_ok());
        }
        // An iat at the end of the range does not wrap around the skew check.
        let h = &holders()[0];
        let jwt = proof_jwt(h, AUD, "n", i64::MIN).unwrap();
        assert!(check_proof_jwt(&jwt, AUD, 1000).is_err());
    }

    #[test]
    fn a_jwk_off_the_curve_or_with_a_private_key_is_refused() {
        let p = &holders()[1];
        let mut jwk = jwk_of(&p.holder_key()).unwrap();
        assert_eq!(key_of_jwk(&jwk, "ES256").unwrap(), p.holder_key());
        jwk["y"] = json!(B64URL.encode([1u8; 32]));
        assert!(key_of_jwk(&jwk, "ES256").is_err());
        let mut jwk = jwk_of(&holders()[0].holder_key()).unwrap();
        jwk["d"] = json!(B64URL.encode([1u8; 32]));
        assert!(key_of_jwk(&jwk, "EdDSA").is_err());
    }
}
