//! The test vectors of docs/FORMAT.md, re-derived byte for byte from their inputs.
//! Regenerate (only when the format deliberately changes):
//! `TUATON_WRITE_VECTORS=1 cargo test -p tuaton-common --test vectors`.
mod kit;
use kit::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tuaton_common::gate::{self, Group, IssueParams, IssuerSigned, StatusRef};
use tuaton_common::holder::{HolderKey, HolderSigner};
use tuaton_common::presentation::{self, Presentation, Profile};
use tuaton_common::sample;
use tuaton_common::verify::hex;

fn derive() -> Value {
    let ik = issuer_key();
    let hk = holder_key();
    let claims = sample::citizen(0);
    // Citizen 0's card bound to `holder`, salts from the vector rule.
    let issue_to = |holder: HolderKey, id: u8, index: u64| {
        gate::issue(
            &claims,
            &IssueParams {
                issuer: 1,
                signing_key: &ik,
                kid: &KID,
                holder_key: holder,
                credential_id: [id; 8],
                status: StatusRef { list: 0, index },
                issued_at: ISSUED,
            },
            &mut VectorRng(0),
        )
        .unwrap()
    };
    let cred = issue_to(hk.holder_key(), 0x5A, 42);
    let flight = presentation::present(&cred, &hk, Profile::Flight, NOW).unwrap();
    let age = presentation::present(&cred, &hk, Profile::Age, NOW).unwrap();
    let fp = Presentation::from_cbor(&flight).unwrap();
    let ap = Presentation::from_cbor(&age).unwrap();
    let full = IssuerSigned::from_bytes(&cred.full).unwrap();
    let verdict =
        |text: &str, now: i64| check_with(text, now, &trust(), &Revoked(vec![])).to_json();
    // The same card bound to a P-256 holder key (ES256 proofs; RFC 6979 makes them
    // reproducible).
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let on_phone = issue_to(phone.holder_key(), 0x5B, 43);
    let phone_flight = presentation::present(&on_phone, &phone, Profile::Flight, NOW).unwrap();
    let pp = Presentation::from_cbor(&phone_flight).unwrap();
    let phone_qr = presentation::to_qr_text(&phone_flight);
    let flight_qr = presentation::to_qr_text(&flight);
    let age_qr = presentation::to_qr_text(&age);
    json!({
        "inputs": {
            "issuer_secret_key": hex(&ik.to_bytes()),
            "issuer_public_key": hex(ik.verifying_key().as_bytes()),
            "holder_secret_key": hex(&hk.to_bytes()),
            "holder_public_key": hex(hk.verifying_key().as_bytes()),
            "issuer": 1, "kid": hex(&KID), "credential_id": "5a5a5a5a5a5a5a5a",
            "status": {"list": 0, "index": 42}, "issued_at": ISSUED, "presented_at": NOW,
            "record": serde_json::from_str::<Value>(sample::RECORDS[0]).unwrap(),
            "portrait_sha256": hex(&Sha256::digest(&claims.portrait)),
            "salts": "salt of group g (in order 0..4) = first 16 bytes of SHA-256(\"tuaton test vector salt\" || u64be(g))",
        },
        "credential": {
            "package": hex(&cred.to_bytes()),
            "full_member": hex(&cred.full),
            "full_payload": hex(&full.payload_bytes),
            "full_sig_structure": hex(&full.to_be_signed()),
            "flight_member": hex(&cred.flight),
            "disclosures": Group::ALL.iter().filter(|g| **g != Group::Portrait)
                .map(|g| (g.name().to_string(), json!(hex(&cred.disclosures[g])))).collect::<serde_json::Map<_, _>>(),
            "portrait_disclosure_sha256": hex(&Sha256::digest(&cred.disclosures[&Group::Portrait])),
        },
        "presentations": {
            "flight": {
                "cbor": hex(&flight),
                "holder_proof_message": hex(&presentation::holder_proof_message(&fp.issuer_signed, &fp.disclosures, NOW, None)),
                "qr": flight_qr,
                "verdict_at_presented_at": verdict(&flight_qr, NOW),
                "verdict_301s_later": verdict(&flight_qr, NOW + 301),
            },
            "age": {
                "cbor": hex(&age),
                "holder_proof_message": hex(&presentation::holder_proof_message(&ap.issuer_signed, &ap.disclosures, NOW, None)),
                "qr": age_qr,
                "verdict_at_presented_at": verdict(&age_qr, NOW),
            },
            "flight_p256": {
                "holder_secret_key": hex(&phone.to_bytes()),
                "holder_public_key": hex(phone.holder_key().as_bytes()),
                "credential_id": "5b5b5b5b5b5b5b5b",
                "status": {"list": 0, "index": 43},
                "package": hex(&on_phone.to_bytes()),
                "cbor": hex(&phone_flight),
                "holder_proof_message": hex(&presentation::holder_proof_message(&pp.issuer_signed, &pp.disclosures, NOW, None)),
                "qr": phone_qr,
                "verdict_at_presented_at": verdict(&phone_qr, NOW),
            },
        },
    })
}

#[test]
fn vectors_match_the_committed_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/gate-v1.json");
    let derived = derive();
    if std::env::var_os("TUATON_WRITE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&derived).unwrap() + "\n").unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        derived, committed,
        "the format changed: the vectors in docs/vectors/gate-v1.json no longer match"
    );
}

#[test]
fn committed_presentation_verifies_from_the_file_alone() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/gate-v1.json");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let qr = v["presentations"]["flight"]["qr"].as_str().unwrap();
    let verdict = check(qr);
    assert!(verdict.is_valid());
    assert_eq!(
        verdict.to_json(),
        v["presentations"]["flight"]["verdict_at_presented_at"]
    );
}
