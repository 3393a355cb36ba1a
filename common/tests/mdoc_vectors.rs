//! The mdoc vectors (docs/vectors/mdoc-v1.json): an IACA certificate, a document signer it
//! issued, one card issued as an ISO 18013-5 mdoc, and DeviceResponses for each check a
//! reader makes (section 9.3), each with the verdict tuaton gives. Re-derived byte for byte
//! on every run (ECDSA here is RFC 6979's deterministic kind and the element randoms come
//! from a counter); regenerate, only when the format deliberately changes, with
//! `TUATON_WRITE_VECTORS=1 cargo test -p tuaton-common --test mdoc_vectors`.
//! `docs/vectors/verify_mdoc.py` checks every case independently, and
//! `docs/vectors/mdoc/pymdoccbor_check.py` has a third-party library check the valid ones.
mod kit;
use ciborium::Value;
use kit::VectorRng;
use serde_json::{json, Value as Json};
use tuaton_common::error::{Error, MdocError};
use tuaton_common::holder::HolderSigner as _;
use tuaton_common::mdoc::{self, x509, InMemorySigner, Request, Validity};
use tuaton_common::model::AgeClaims;

/// 2026-12-04T00:00:00Z, when the reader checks.
const NOW: i64 = 1_796_342_400;
const DAY: i64 = 86_400;

fn p256(seed: u8) -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[seed; 32]).expect("a valid scalar")
}

fn subject(cn: &str) -> x509::Subject<'_> {
    x509::Subject {
        country: "TH",
        common_name: cn,
        authority_url: "https://tuaton.invalid",
        crl_url: "https://tuaton.invalid/bundle/ca.crl",
    }
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

/// A SessionTranscript of the shape 18013-5 section 9.1.5.1 gives, with stand-in parts.
fn transcript(n: u8) -> Vec<u8> {
    cbor(&Value::Array(vec![
        Value::Tag(24, Box::new(Value::Bytes(vec![n; 16]))),
        Value::Tag(24, Box::new(Value::Bytes(vec![n ^ 0xff; 16]))),
        Value::Null,
    ]))
}

struct World {
    iaca_der: Vec<u8>,
    iaca_key: p256::ecdsa::SigningKey,
    ds: InMemorySigner,
}

fn world() -> World {
    let iaca_key = p256(0x31);
    let iaca_der = x509::iaca(
        &iaca_key,
        &subject("tuaton test IACA"),
        1,
        NOW - 30 * DAY,
        NOW + 3650 * DAY,
    )
    .unwrap();
    let ds_key = p256(0x32);
    let certificate = x509::document_signer(
        &iaca_key,
        &iaca_der,
        ds_key.verifying_key(),
        &subject("tuaton test DS 1"),
        2,
        NOW - 30 * DAY,
        NOW + 365 * DAY,
    )
    .unwrap();
    World {
        iaca_der,
        iaca_key,
        ds: InMemorySigner {
            key: ds_key,
            certificate,
        },
    }
}

fn issue(
    signer: &InMemorySigner,
    device: &p256::ecdsa::SigningKey,
    validity: Validity,
    seed: u64,
) -> Vec<u8> {
    let claims = tuaton_common::sample::citizen(0);
    let age = AgeClaims::on(claims.birth_date, claims.issue_date);
    mdoc::issue(
        &claims,
        age,
        &device.holder_key(),
        validity,
        Some(&status()),
        signer,
        &mut VectorRng(seed),
    )
    .unwrap()
}

/// The card's revocation bit, as the MSO names it (FORMAT.md section 11.2).
fn status() -> mdoc::MsoStatus {
    mdoc::MsoStatus {
        idx: 93_017,
        uri: mdoc::status_uri("https://issuer-1.tuaton.invalid", 1, 0),
    }
}

fn window() -> Validity {
    Validity {
        signed: NOW - DAY,
        valid_from: NOW - DAY,
        valid_until: NOW + 89 * DAY,
    }
}

/// A case: its name, the response, the transcript the reader expects, what tuaton says.
type Case = (&'static str, Vec<u8>, Vec<u8>, &'static str);

/// Every case.
fn cases() -> (World, Vec<Case>) {
    let w = world();
    let device = p256(0x33);
    let card = issue(&w.ds, &device, window(), 1);
    let t1 = transcript(1);
    let full = mdoc::respond(&card, None, &t1, &device).unwrap();
    let request: Request = [(
        mdoc::NS_ISO.to_owned(),
        vec!["age_over_20".to_owned(), "portrait".to_owned()],
    )]
    .into_iter()
    .collect();
    let selective = mdoc::respond(&card, Some(&request), &t1, &device).unwrap();

    // The same bytes with one element's value changed inside its IssuerSignedItemBytes.
    let changed = {
        let claims = tuaton_common::sample::citizen(0);
        let from = cbor(&Value::Text(claims.family_name_en.as_str().into()));
        let mut to = from.clone();
        let last = to.len() - 1;
        to[last] ^= 0x01;
        replace_once(&full, &from, &to)
    };
    let thief = mdoc::respond(&card, None, &t1, &p256(0x34)).unwrap();

    let fake_iaca_key = p256(0x35);
    let fake_iaca = x509::iaca(
        &fake_iaca_key,
        &subject("tuaton test IACA"),
        1,
        NOW - 30 * DAY,
        NOW + 3650 * DAY,
    )
    .unwrap();
    let forged_ds = InMemorySigner {
        key: p256(0x32),
        certificate: x509::document_signer(
            &fake_iaca_key,
            &fake_iaca,
            p256(0x32).verifying_key(),
            &subject("tuaton test DS 1"),
            2,
            NOW - 30 * DAY,
            NOW + 365 * DAY,
        )
        .unwrap(),
    };
    let unknown_iaca =
        mdoc::respond(&issue(&forged_ds, &device, window(), 2), None, &t1, &device).unwrap();

    let iaca_as_ds = InMemorySigner {
        key: w.iaca_key.clone(),
        certificate: w.iaca_der.clone(),
    };
    let root_signed = mdoc::respond(
        &issue(&iaca_as_ds, &device, window(), 3),
        None,
        &t1,
        &device,
    )
    .unwrap();

    let old = Validity {
        signed: NOW - 100 * DAY,
        valid_from: NOW - 100 * DAY,
        valid_until: NOW - 10 * DAY,
    };
    let expired = mdoc::respond(&issue(&w.ds, &device, old, 4), None, &t1, &device).unwrap();

    let cases = vec![
        ("valid_full", full.clone(), t1.clone(), "valid"),
        ("valid_selective", selective, t1.clone(), "valid"),
        ("other_session", full, transcript(2), "device"),
        ("changed_element", changed, t1.clone(), "digest"),
        ("another_device_key", thief, t1.clone(), "device"),
        ("unknown_iaca", unknown_iaca, t1.clone(), "chain"),
        ("iaca_signs_mso", root_signed, t1.clone(), "chain"),
        ("expired_mso", expired, t1, "expired"),
    ];
    (w, cases)
}

fn replace_once(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = hay
        .windows(from.len())
        .position(|w| w == from)
        .expect("the value is in the response");
    let mut out = hay.to_vec();
    out[at..at + from.len()].copy_from_slice(to);
    out
}

fn verdict(r: tuaton_common::Result<mdoc::Verified>) -> &'static str {
    match r {
        Ok(_) => "valid",
        Err(Error::Mdoc(MdocError::Device(_))) => "device",
        Err(Error::Mdoc(MdocError::Digest(_))) => "digest",
        Err(Error::Mdoc(MdocError::Chain(_))) => "chain",
        Err(Error::Mdoc(MdocError::Expired)) => "expired",
        Err(Error::Mdoc(MdocError::Issuer(_))) => "issuer",
        Err(e) => panic!("unexpected refusal: {e}"),
    }
}

#[test]
fn mdoc_vectors_rederive_and_each_case_gets_its_verdict() {
    let (w, cases) = cases();
    let iaca = mdoc::Iaca::from_der(&w.iaca_der).unwrap();
    let mut out = Vec::new();
    for (name, response, t, want) in &cases {
        let got = verdict(mdoc::verify(response, std::slice::from_ref(&iaca), t, NOW));
        assert_eq!(got, *want, "case {name}");
        out.push(json!({
            "name": name,
            "response": hex::encode(response),
            "session_transcript": hex::encode(t),
            "verdict": want,
        }));
    }
    let doc = json!({
        "description": "ISO 18013-5 DeviceResponses of one tuaton card (docs/FORMAT.md, \"The mdoc form\"), with the verdict of a reader that trusts iaca_pem at `now`.",
        "now": NOW,
        "now_rfc3339": "2026-12-04T00:00:00Z",
        "doc_type": mdoc::DOC_TYPE,
        "iaca_pem": x509::pem(&w.iaca_der),
        "document_signer_pem": x509::pem(&w.ds.certificate),
        "mso_status": {"idx": status().idx, "uri": status().uri},
        "cases": out,
    });
    let text = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/mdoc-v1.json");
    if std::env::var_os("TUATON_WRITE_VECTORS").is_some() {
        std::fs::write(path, &text).unwrap();
    }
    let committed = std::fs::read_to_string(path).expect("docs/vectors/mdoc-v1.json");
    let committed: Json = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        committed, doc,
        "the mdoc vectors no longer re-derive: the format changed (regenerate only on purpose)"
    );
}
