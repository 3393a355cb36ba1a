//! tuaton's ISO 18013-5 implementation against isomdl (SpruceID's, a third party), both
//! ways, in one process:
//!
//! 1. isomdl as the **reader**, tuaton's wallet half as the device: isomdl scans tuaton's
//!    `mdoc:` engagement, sends its SessionEstablishment, and checks tuaton's DeviceResponse
//!    (issuer authentication against tuaton's IACA, device authentication).
//! 2. tuaton's reader, isomdl as the **device**: isomdl issues an mdoc signed by a tuaton
//!    document signer and shows its engagement; tuaton's reader asks with reader
//!    authentication (isomdl checks it against the reader CA), and verifies the answer.
//!
//! Prints one line per check, `PASS` or `FAIL` with what the other side said, and exits 1
//! if any check fails. Run: `cargo run --release` here (tests/tests/interop.rs runs it).

use anyhow::{anyhow, Context, Result};
use isomdl::definitions::device_key::cose_key::{CoseKey, EC2Curve, EC2Y};
use isomdl::definitions::device_key::DeviceKeyInfo;
use isomdl::definitions::device_request::{DataElements, Namespaces as RequestNamespaces};
use isomdl::definitions::helpers::NonEmptyMap;
use isomdl::definitions::x509::trust_anchor::{PemTrustAnchor, TrustAnchorRegistry, TrustPurpose};
use isomdl::definitions::x509::X5Chain;
use isomdl::definitions::{DigestAlgorithm, ValidityInfo};
use isomdl::presentation::authentication::AuthenticationStatus;
use isomdl::presentation::device::{self, Document, Documents};
use isomdl::presentation::reader;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use signature::Signer as _;
use tuaton_common::holder::HolderSigner as _;
use tuaton_common::mdoc::{self, x509, Iaca, InMemorySigner, Request, Validity, NS_ISO};
use tuaton_common::mdoc_session::{DeviceSession, Engagement, ReaderSession, ReaderSigner};
use tuaton_common::model::AgeClaims;

const DAY: i64 = 86_400;

fn subject(cn: &str) -> x509::Subject<'_> {
    x509::Subject {
        country: "TH",
        common_name: cn,
        authority_url: "https://tuaton.invalid",
        crl_url: "https://tuaton.invalid/bundle/ca.crl",
    }
}

struct Pki {
    iaca_der: Vec<u8>,
    ds: InMemorySigner,
    reader_ca_der: Vec<u8>,
    reader: ReaderSigner,
}

fn pki(now: i64, allowed: &Request) -> Result<Pki> {
    let rng = &mut rand::rngs::OsRng;
    let iaca_key = p256::ecdsa::SigningKey::random(rng);
    let iaca_der = x509::iaca(
        &iaca_key,
        &subject("tuaton interop IACA"),
        1,
        now - DAY,
        now + 3650 * DAY,
    )?;
    let ds_key = p256::ecdsa::SigningKey::random(rng);
    let ds_der = x509::document_signer(
        &iaca_key,
        &iaca_der,
        ds_key.verifying_key(),
        &subject("tuaton interop DS"),
        2,
        now - DAY,
        now + 365 * DAY,
    )?;
    let ca_key = p256::ecdsa::SigningKey::random(rng);
    let reader_ca_der = x509::reader_ca(
        &ca_key,
        &subject("tuaton interop reader CA"),
        3,
        now - DAY,
        now + 3650 * DAY,
    )?;
    let reader_key = p256::ecdsa::SigningKey::random(rng);
    let reader_der = x509::reader_certificate(
        &ca_key,
        &reader_ca_der,
        reader_key.verifying_key(),
        &subject("tuaton interop gate"),
        4,
        now - DAY,
        now + 7 * DAY,
        allowed,
    )?;
    Ok(Pki {
        iaca_der,
        ds: InMemorySigner {
            key: ds_key,
            certificate: ds_der,
        },
        reader_ca_der,
        reader: ReaderSigner {
            key: reader_key,
            certificate: reader_der,
        },
    })
}

struct Report {
    failed: usize,
}

impl Report {
    fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            println!("PASS {what}");
        } else {
            self.failed += 1;
            println!("FAIL {what}: {detail}");
        }
    }
}

fn anchors(pems: &[(&[u8], TrustPurpose)]) -> Result<TrustAnchorRegistry> {
    TrustAnchorRegistry::from_pem_certificates(
        pems.iter()
            .map(|(der, purpose)| PemTrustAnchor {
                certificate_pem: x509::pem(der),
                purpose: purpose.clone(),
            })
            .collect(),
    )
    .map_err(|e| anyhow!("isomdl refused the trust anchors: {e:?}"))
}

/// 1. isomdl reads a tuaton wallet. isomdl 0.2.0's reader asks only for the mDL docType
/// and reads only mDL responses, so the card itself is refused there (a limit of that
/// reader, noted); the same encoding with the mDL docType and namespace checks tuaton's
/// IssuerSigned, MSO, certificates, session and device signature through isomdl.
fn isomdl_reads_tuaton(r: &mut Report, now: i64) -> Result<()> {
    const MDL: &str = "org.iso.18013.5.1.mDL";
    const MDL_NS: &str = "org.iso.18013.5.1";
    let wanted: Request = [(
        MDL_NS.to_owned(),
        vec![
            "age_over_21".to_owned(),
            "family_name".to_owned(),
            "given_name".to_owned(),
        ],
    )]
    .into_iter()
    .collect();
    let p = pki(now, &wanted)?;
    let device = p256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let validity = Validity {
        signed: now - 60,
        valid_from: now - 60,
        valid_until: now + 30 * DAY,
    };
    let claims = tuaton_common::sample::citizen(0);
    // Each MSO names a revocation bit, as tuaton's issuer writes it: isomdl reads past it.
    let status = mdoc::MsoStatus {
        idx: 4711,
        uri: mdoc::status_uri("https://issuer-1.tuaton.invalid", 1, 0),
    };
    for (label, doc_type) in [
        ("the tuaton card", mdoc::DOC_TYPE),
        ("the same encoding as an mDL", MDL),
    ] {
        let issued = if doc_type == MDL {
            let text = |s: &str| ciborium::Value::Text(s.to_owned());
            mdoc::issue_document(
                MDL,
                vec![
                    (MDL_NS, "family_name", text(claims.family_name_en.as_str())),
                    (MDL_NS, "given_name", text(claims.given_name_en.as_str())),
                    (MDL_NS, "age_over_21", ciborium::Value::Bool(true)),
                ],
                &device.holder_key(),
                validity,
                Some(&status),
                &p.ds,
                &mut rand::rngs::OsRng,
            )?
        } else {
            let age = AgeClaims::on(claims.birth_date, claims.issue_date);
            mdoc::issue(
                &claims,
                age,
                &device.holder_key(),
                validity,
                Some(&status),
                &p.ds,
                &mut rand::rngs::OsRng,
            )?
        };
        let e_device = p256::SecretKey::random(&mut rand::rngs::OsRng);
        let engagement = Engagement::new(&e_device.public_key());
        let mut elements = DataElements::new("given_name".to_owned(), false);
        elements.insert("family_name".to_owned(), false);
        elements.insert("age_over_21".to_owned(), false);
        let request = RequestNamespaces::new(MDL_NS.to_owned(), elements);
        let registry = anchors(&[(&p.iaca_der, TrustPurpose::Iaca)])?;
        let (mut sm, establishment, _ble) =
            reader::SessionManager::establish_session(engagement.to_uri(), request, registry)
                .context("isomdl could not read tuaton's engagement")?;
        r.check(
            &format!("{label}: isomdl parses tuaton's mdoc: engagement and establishes a session"),
            true,
            "",
        );
        let (mut session, received) =
            DeviceSession::accept(&engagement, &e_device, &establishment, &[], now)
                .context("tuaton could not read isomdl's SessionEstablishment")?;
        r.check(
            &format!("{label}: tuaton decrypts isomdl's DeviceRequest (the same session keys)"),
            received.request == wanted,
            format!("{:?}", received.request),
        );
        let answer = session.answer(&issued, &received.request, &device)?;
        let outcome = sm.handle_response(&answer);
        if doc_type != MDL {
            println!(
                "NOTE {label}: isomdl 0.2.0 asks for `{}` and says {:?}",
                received.doc_type, outcome.errors
            );
            continue;
        }
        r.check(
            &format!("{label}: isomdl decrypts and parses tuaton's DeviceResponse"),
            outcome.errors.is_empty(),
            format!("{:?}", outcome.errors),
        );
        r.check(
            &format!(
                "{label}: isomdl: issuer authentication (tuaton's IACA, document signer, MSO)"
            ),
            matches!(outcome.issuer_authentication, AuthenticationStatus::Valid),
            format!("{:?}", outcome.issuer_authentication),
        );
        r.check(
            &format!("{label}: isomdl: device authentication (tuaton's device signature)"),
            matches!(outcome.device_authentication, AuthenticationStatus::Valid),
            format!("{:?}", outcome.device_authentication),
        );
        let shown = serde_json::to_string(&outcome.response)?;
        r.check(
            &format!("{label}: isomdl shows the given name tuaton disclosed"),
            shown.contains(claims.given_name_en.as_str()),
            &shown,
        );
    }
    // isomdl's certificate profile checks (Annex B), which it logs rather than returns.
    for (what, der, rules) in [
        (
            "document signer",
            &p.ds.certificate,
            isomdl::definitions::x509::validation::ValidationRuleset::Mdl,
        ),
        (
            "reader",
            &p.reader.certificate,
            isomdl::definitions::x509::validation::ValidationRuleset::MdlReaderOneStep,
        ),
    ] {
        let chain = X5Chain::builder()
            .with_der_certificate(der)
            .map_err(|e| anyhow!("{e:?}"))?
            .build()
            .map_err(|e| anyhow!("{e:?}"))?;
        let registry = anchors(&[
            (&p.iaca_der, TrustPurpose::Iaca),
            (&p.reader_ca_der, TrustPurpose::ReaderCa),
        ])?;
        let outcome = rules.validate(&chain, &registry);
        r.check(
            &format!("isomdl's Annex B profile check of tuaton's {what} certificate"),
            outcome.errors.is_empty(),
            format!("{:?}", outcome.errors),
        );
    }
    Ok(())
}

/// 2. A tuaton reader reads an isomdl device.
/// An mdoc isomdl issues with tuaton's document signer (its key and certificate): Alice
/// Smith's given and family names; and its device key.
fn isomdl_document(p: &Pki, now: i64) -> Result<(isomdl::issuance::Mdoc, p256::ecdsa::SigningKey)> {
    // isomdl issues, with tuaton's document signer (its key and certificate).
    let device_secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let device_key: p256::ecdsa::SigningKey = device_secret.clone().into();
    let point = device_secret.public_key().to_encoded_point(false);
    let device_key_info = DeviceKeyInfo {
        device_key: CoseKey::EC2 {
            crv: EC2Curve::P256,
            x: point.x().expect("uncompressed").to_vec(),
            y: EC2Y::Value(point.y().expect("uncompressed").to_vec()),
        },
        key_authorizations: None,
        key_info: None,
    };
    let values: std::collections::BTreeMap<String, ciborium::Value> = [
        (
            "given_name".to_owned(),
            ciborium::Value::Text("Alice".into()),
        ),
        (
            "family_name".to_owned(),
            ciborium::Value::Text("Smith".into()),
        ),
    ]
    .into_iter()
    .collect();
    let namespaces = [(NS_ISO.to_owned(), values)].into_iter().collect();
    let t = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).expect("a time");
    let x5chain = X5Chain::builder()
        .with_der_certificate(&p.ds.certificate)
        .map_err(|e| anyhow!("{e:?}"))?
        .build()
        .map_err(|e| anyhow!("{e:?}"))?;
    let issued = isomdl::issuance::Mdoc::builder()
        .doc_type(mdoc::DOC_TYPE.to_owned())
        .namespaces(namespaces)
        .validity_info(ValidityInfo {
            signed: t(now - 60),
            valid_from: t(now - 60),
            valid_until: t(now + 30 * DAY),
            expected_update: None,
        })
        .digest_algorithm(DigestAlgorithm::SHA256)
        .device_key_info(device_key_info)
        .issue::<p256::ecdsa::SigningKey, p256::ecdsa::Signature>(x5chain, p.ds.key.clone())
        .context("isomdl could not issue")?;
    Ok((issued, device_key))
}

fn tuaton_reads_isomdl(r: &mut Report, now: i64) -> Result<()> {
    let wanted: Request = [(
        NS_ISO.to_owned(),
        vec!["given_name".to_owned(), "family_name".to_owned()],
    )]
    .into_iter()
    .collect();
    let p = pki(now, &wanted)?;
    let (issued, device_key) = isomdl_document(&p, now)?;
    let documents: Documents = NonEmptyMap::new(mdoc::DOC_TYPE.to_owned(), Document::from(issued));
    let (engaged, qr) =
        device::SessionManagerInit::initialise(documents, None, None)?.qr_engagement()?;
    let scanned = Engagement::parse(&qr);
    r.check(
        "tuaton parses isomdl's mdoc: engagement",
        scanned.is_ok(),
        format!("{:?}", scanned.as_ref().err()),
    );
    let scanned = scanned?;
    let e_reader = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let (mut session, establishment) = ReaderSession::start(
        &scanned,
        &e_reader,
        mdoc::DOC_TYPE,
        &wanted,
        Some(&p.reader),
    )?;
    let registry = anchors(&[(&p.reader_ca_der, TrustPurpose::ReaderCa)])?;
    let (mut dsm, outcome) = engaged
        .process_session_establishment(isomdl::cbor::from_slice(&establishment)?, registry)
        .context("isomdl could not read tuaton's SessionEstablishment")?;
    r.check(
        "isomdl decrypts tuaton's DeviceRequest",
        !outcome.items_request.is_empty(),
        "no items",
    );
    r.check(
        "isomdl: tuaton's reader authentication is valid",
        matches!(outcome.reader_authentication, AuthenticationStatus::Valid),
        format!("{:?} {:?}", outcome.reader_authentication, outcome.errors),
    );
    let permitted = [(
        mdoc::DOC_TYPE.to_owned(),
        [(
            NS_ISO.to_owned(),
            vec!["given_name".to_owned(), "family_name".to_owned()],
        )]
        .into_iter()
        .collect(),
    )]
    .into_iter()
    .collect();
    dsm.prepare_response(&outcome.items_request, permitted);
    while let Some((id, payload)) = dsm.get_next_signature_payload() {
        let _ = id;
        let s: p256::ecdsa::Signature = device_key.sign(payload);
        dsm.submit_next_signature(s.to_vec())?;
    }
    let answer = dsm
        .retrieve_response()
        .ok_or_else(|| anyhow!("isomdl made no response"))?;
    let iaca = Iaca::from_der(&p.iaca_der)?;
    let verdict = session.finish(&answer, &[iaca], now);
    r.check(
        "tuaton verifies isomdl's DeviceResponse (chain, MSO, digests incl. decoys, device signature)",
        verdict.as_ref().is_ok_and(|v| v.elements.len() == 2),
        format!("{:?}", verdict.as_ref().map(|v| &v.elements)),
    );
    Ok(())
}

/// Where the wallet is, both ways: isomdl reads the BLE retrieval method of tuaton's
/// engagement, and tuaton reads the one of isomdl's (18013-5 section 8.2.1.1).
fn retrieval_methods(r: &mut Report, now: i64) -> Result<()> {
    use isomdl::definitions::device_engagement::{
        BleOptions, DeviceEngagement, DeviceRetrievalMethod, PeripheralServerMode,
    };
    use isomdl::definitions::helpers::{NonEmptyVec, Tag24};
    use tuaton_common::session::Transport;
    let service = [0x5a; 16];
    let e_device = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let ours = Engagement::with_transport(&e_device.public_key(), &Transport::Ble { service });
    let read = Tag24::<DeviceEngagement>::from_qr_code_uri(&ours.to_uri())
        .context("isomdl could not read tuaton's BLE engagement")?
        .into_inner();
    let ble = read.device_retrieval_methods.as_ref().and_then(|m| {
        m.iter().find_map(|m| match m {
            DeviceRetrievalMethod::BLE(o) => Some(o.clone()),
            _ => None,
        })
    });
    let uuid = ble
        .as_ref()
        .and_then(|o| o.peripheral_server_mode.as_ref())
        .map(|p| *p.uuid.as_bytes());
    r.check(
        "isomdl reads tuaton's engagement as BLE in mdoc peripheral server mode with its UUID",
        uuid == Some(service)
            && ble
                .as_ref()
                .is_some_and(|o| o.central_client_mode.is_none()),
        format!("{ble:?}"),
    );
    // isomdl's device engagement with BLE, read by tuaton's reader.
    let theirs = [0x3c; 16];
    let methods = NonEmptyVec::new(DeviceRetrievalMethod::BLE(BleOptions {
        peripheral_server_mode: Some(PeripheralServerMode {
            uuid: uuid::Uuid::from_bytes(theirs),
            ble_device_address: None,
        }),
        central_client_mode: None,
    }));
    let pki = pki(now, &Request::new())?;
    let (issued, _) = isomdl_document(&pki, now)?;
    let documents: Documents = NonEmptyMap::new(mdoc::DOC_TYPE.to_owned(), Document::from(issued));
    let (_, qr) =
        device::SessionManagerInit::initialise(documents, Some(methods), None)?.qr_engagement()?;
    let scanned = Engagement::parse(&qr);
    r.check(
        "tuaton reads isomdl's engagement as BLE with its peripheral server UUID",
        matches!(&scanned, Ok(e) if e.transport == Some(Transport::Ble { service: theirs })),
        format!("{:?}", scanned.map(|e| e.transport)),
    );
    Ok(())
}

fn main() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let mut r = Report { failed: 0 };
    for (name, run) in [
        (
            "isomdl reader, tuaton device",
            isomdl_reads_tuaton as fn(&mut Report, i64) -> Result<()>,
        ),
        ("tuaton reader, isomdl device", tuaton_reads_isomdl),
        ("retrieval methods", retrieval_methods),
    ] {
        println!("## {name}");
        if let Err(e) = run(&mut r, now) {
            r.failed += 1;
            println!("FAIL {name}: {e:#}");
        }
    }
    println!("{} checks failed", r.failed);
    std::process::exit(i32::from(r.failed > 0));
}
