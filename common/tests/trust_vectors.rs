//! The trust vectors (docs/vectors/trust-v1.json): a whole bundle (two roots, a trust list
//! with an active, a retired and a revoked key, a status list with revoked entries, the
//! index) and one presentation per verification rule and per warning, with the boundaries
//! (first and last second of a signing window and of a card's validity, the freshness
//! limits, expiry of the trust data and of the status list), each with the verdict tuaton
//! gives. Re-derived byte for byte on every run; regenerate (only when the format
//! deliberately changes) with `TUATON_WRITE_VECTORS=1 cargo test -p tuaton-common --test
//! trust_vectors`. `docs/vectors/verify_vector.py` checks every case independently.
mod kit;
use chrono::NaiveDate;
use ciborium::Value;
use ed25519_dalek::{Signer, SigningKey};
use kit::{holder_key, key, VectorRng, KID, NOW};
use serde_json::{json, Value as Json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use tuaton_common::bundle::{self, Index};
use tuaton_common::gate::{self, GateCredential, Group, IssueParams, IssuerSigned, StatusRef};
use tuaton_common::holder::HolderSigner;
use tuaton_common::model::{Expiry, PartialDate};
use tuaton_common::presentation::{self, Profile};
use tuaton_common::status::{self, Bitset, StatusLists};
use tuaton_common::trust::{
    Anchor, IssuerKey, KeyState, ListedIssuer, Root, SignedRoot, SignedTrustList, StatusPin,
    TrustList, TrustState,
};
use tuaton_common::verify::{self, hex, Context, MemoryReplay, Policy, Requirement};

const DAY: i64 = 86_400;
/// The retired key's window: 2024-01-01T00:00:00Z ..= 2024-06-30T23:59:59Z.
const W0: i64 = 1_704_067_200;
const W1: i64 = 1_719_791_999;
/// When the revoked key was revoked: 2024-11-01T00:00:00Z.
const REVOKED_AT: i64 = 1_730_419_200;
/// When the active key's credentials were issued: 2025-01-01T00:00:00Z.
const ISSUED: i64 = 1_735_689_600;
/// Entries in the status list (the W3C minimum of 16 KiB of bits).
const LIST_SIZE: u64 = 131_072;
const RETIRED_KID: [u8; 4] = [0xB1, 0xB2, 0xB3, 0xB4];
const REVOKED_KID: [u8; 4] = [0xC1, 0xC2, 0xC3, 0xC4];
/// Trust list: issued a day before NOW (the gate's highest trusted time after syncing),
/// expiring in 30 days; root 2 expires earlier, in 20 days, so it decides `trust_stale`.
const TL_ISSUED: i64 = NOW - DAY;
const TL_EXPIRES: i64 = NOW + 30 * DAY;
const ROOT2_EXPIRES: i64 = NOW + 20 * DAY;
/// The status list is current until NOW + 5 days.
const STATUS_UNTIL: i64 = NOW + 5 * DAY;

fn root_key(n: u8) -> SigningKey {
    key(0x10 + n)
}
fn active_key() -> SigningKey {
    key(1)
}
fn retired_key() -> SigningKey {
    key(3)
}
fn revoked_key() -> SigningKey {
    key(4)
}
fn stranger_key() -> SigningKey {
    key(5)
}
fn other_holder_key() -> SigningKey {
    key(6)
}

struct Bundle {
    files: BTreeMap<String, Vec<u8>>,
    root1: SignedRoot,
    root2: SignedRoot,
}

fn pk(k: &SigningKey) -> [u8; 32] {
    k.verifying_key().to_bytes()
}

fn make_bundle() -> Bundle {
    // Root 1: two of keys 1, 2, 3. Already expired at NOW: an expired older root still
    // leads to its successor.
    let root1 = SignedRoot::sign(
        Root {
            version: 1,
            expires: NOW - DAY,
            threshold: 2,
            keys: vec![pk(&root_key(1)), pk(&root_key(2)), pk(&root_key(3))],
        },
        &[&root_key(1), &root_key(2)],
    );
    // Root 2: two of keys 2, 3, 4. Signed by keys 1, 2 and 4: two of root 1's keys (1, 2)
    // and two of its own (2, 4); key 2 counts for both.
    let root2 = SignedRoot::sign(
        Root {
            version: 2,
            expires: ROOT2_EXPIRES,
            threshold: 2,
            keys: vec![pk(&root_key(2)), pk(&root_key(3)), pk(&root_key(4))],
        },
        &[&root_key(1), &root_key(2), &root_key(4)],
    );
    let mut bits = Bitset::new(LIST_SIZE);
    for i in [0, 7, 131_071] {
        bits.set(i);
    }
    let status_json = status::sign_list(
        &bits,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &active_key(),
        TL_ISSUED,
        STATUS_UNTIL,
    )
    .unwrap();
    let sha: [u8; 32] = Sha256::digest(status_json.as_bytes()).into();
    let status_file = format!("1-0.{}.json", hex(&sha[..16]));
    let ik = |k: &SigningKey, kid: &[u8], nb, na, state| IssuerKey {
        issuer: 1,
        kid: kid.to_vec(),
        public: k.verifying_key(),
        not_before: nb,
        not_after: na,
        state,
    };
    let tl = SignedTrustList::sign(
        TrustList {
            version: 7,
            root_version: 2,
            issued_at: TL_ISSUED,
            expires: TL_EXPIRES,
            issuers: vec![ListedIssuer {
                id: 1,
                name: "DOPA Bangkok".into(),
                did: Some(tuaton_common::w3c::default_issuer_did(1)),
                keys: vec![
                    ik(&active_key(), &KID, W1 + 1, None, KeyState::Active),
                    ik(
                        &retired_key(),
                        &RETIRED_KID,
                        W0,
                        Some(W1),
                        KeyState::Retired,
                    ),
                    ik(
                        &revoked_key(),
                        &REVOKED_KID,
                        W0,
                        None,
                        KeyState::Revoked { at: REVOKED_AT },
                    ),
                ],
            }],
            status: vec![StatusPin {
                issuer: 1,
                list: 0,
                size: LIST_SIZE,
                sha256: sha,
                file: status_file.clone(),
            }],
            // One IACA, so an independent reader parses key 7 (FORMAT.md section 9).
            anchors: vec![tuaton_common::trust::MdocAnchor {
                issuer: 1,
                role: tuaton_common::trust::AnchorRole::Iaca,
                certificate: tuaton_common::mdoc::Iaca::from_der(
                    &tuaton_common::mdoc::x509::iaca(
                        &p256::ecdsa::SigningKey::from_slice(&[0x31; 32]).unwrap(),
                        &tuaton_common::mdoc::x509::Subject {
                            country: "TH",
                            common_name: "DOPA Bangkok IACA 1",
                            authority_url: "https://issuer-1.tuaton.invalid",
                            crl_url: "https://issuer-1.tuaton.invalid/iaca-1.crl",
                        },
                        1,
                        TL_ISSUED,
                        TL_ISSUED + 3650 * DAY,
                    )
                    .unwrap(),
                )
                .unwrap(),
            }],
            // One revoked reader certificate, so an independent reader parses key 8.
            revoked_certificates: vec![[0x8e; 32]],
        },
        &[&root_key(3), &root_key(4)],
    );
    let index = Index {
        format: bundle::FORMAT.into(),
        roots: vec!["root/1.cbor".into(), "root/2.cbor".into()],
        trust_list: "trust-list/7.cbor".into(),
        status: vec![format!("status/{status_file}")],
        context: "contexts/tuaton-v1.jsonld".into(),
        trust_list_version: 7,
        root_version: 2,
        expires: TL_EXPIRES,
    };
    let mut files = BTreeMap::new();
    files.insert(
        bundle::INDEX.to_string(),
        serde_json::to_vec(&index).unwrap(),
    );
    files.insert("root/1.cbor".into(), root1.signed.to_bytes());
    files.insert("root/2.cbor".into(), root2.signed.to_bytes());
    files.insert("trust-list/7.cbor".into(), tl.signed.to_bytes());
    files.insert(format!("status/{status_file}"), status_json.into_bytes());
    Bundle {
        files,
        root1,
        root2,
    }
}

/// What a gate holds after `sync --expect-root <root 1's fingerprint>` of the bundle at
/// NOW, through the same code the gate runs.
fn sync(b: &Bundle) -> (TrustState, StatusLists) {
    struct Files<'a>(&'a Bundle);
    impl bundle::Source for Files<'_> {
        type Error = String;
        fn read(&self, p: &str, max: u64) -> Result<Vec<u8>, String> {
            let f = self.0.files.get(p).ok_or(format!("no {p}"))?;
            assert!(f.len() as u64 <= max);
            Ok(f.clone())
        }
        fn location(&self) -> String {
            "the vectors".into()
        }
    }
    let raw = bundle::fetch(&Files(b), |e| e.to_string()).unwrap();
    let state = TrustState::first(
        &raw.roots,
        &raw.trust_list,
        Anchor::Pinned(b.root1.root.fingerprint_bytes()),
        NOW,
    )
    .unwrap();
    let mut lists = StatusLists::default();
    for pin in &state.trust_list.list.status {
        let file = &b.files[&format!("status/{}", pin.file)];
        tuaton_common::trust::check_status_pin(pin, file).unwrap();
        let keys: Vec<_> = state
            .trust_list
            .list
            .issuers
            .iter()
            .filter(|i| i.id == pin.issuer)
            .flat_map(|i| &i.keys)
            .filter(|k| !matches!(k.state, KeyState::Revoked { .. }))
            .map(|k| k.public)
            .collect();
        let did = state
            .trust_list
            .list
            .issuers
            .iter()
            .find(|i| i.id == pin.issuer)
            .and_then(|i| i.did.clone());
        let checked = status::verify_list(
            String::from_utf8(file.clone()).unwrap(),
            &keys,
            did.as_deref(),
            pin.size,
            NOW,
        )
        .unwrap();
        lists.insert(pin.issuer, pin.list, checked);
    }
    (state, lists)
}

/// A credential of sample citizen 0, changed by `edit`, signed by `signer` under `kid`.
fn credential(
    signer: &SigningKey,
    kid: &[u8],
    issued_at: i64,
    status: StatusRef,
    seed: u64,
    edit: impl FnOnce(&mut tuaton_common::model::CardClaims),
) -> GateCredential {
    let mut claims = tuaton_common::sample::citizen(0);
    edit(&mut claims);
    gate::issue(
        &claims,
        &IssueParams {
            issuer: 1,
            signing_key: signer,
            kid,
            holder_key: holder_key().verifying_key().to_bytes().into(),
            credential_id: (seed + 1).to_be_bytes(),
            status,
            issued_at,
        },
        &mut VectorRng(seed * 1000),
    )
    .unwrap()
}

fn at(index: u64) -> StatusRef {
    StatusRef { list: 0, index }
}

fn qr(c: &GateCredential, p: Profile, time: i64) -> String {
    presentation::to_qr_text(&presentation::present(c, &holder_key(), p, time).unwrap())
}

/// The flight member `member` with its first inline claim (the citizen ID) replaced by
/// `true`: the issuer signature no longer verifies, and the claims do not decode.
fn damaged_inline_claims(member: &[u8]) -> Vec<u8> {
    use ciborium::Value;
    let mut cose: Value = ciborium::from_reader(member).unwrap();
    let Value::Array(items) = &mut cose else {
        panic!("COSE_Sign1 is an array")
    };
    let Value::Bytes(payload) = &items[2] else {
        panic!("the payload is a bstr")
    };
    let mut p: Value = ciborium::from_reader(payload.as_slice()).unwrap();
    let Value::Map(entries) = &mut p else {
        panic!("the payload is a map")
    };
    for (k, v) in entries.iter_mut() {
        if *k == Value::Integer(10.into()) {
            if let Value::Array(claims) = v {
                claims[0] = Value::Bool(true);
            }
        }
    }
    let mut b = vec![];
    ciborium::into_writer(&p, &mut b).unwrap();
    items[2] = Value::Bytes(b);
    let mut out = vec![];
    ciborium::into_writer(&cose, &mut out).unwrap();
    out
}

/// A presentation built by hand: `member` with `disclosures` (in the given order, which
/// may be wrong on purpose), holder-signed by `holder` at `time`.
fn by_hand(
    member: &[u8],
    disclosures: &[(Group, Vec<u8>)],
    time: i64,
    holder: &dyn HolderSigner,
) -> String {
    let is = IssuerSigned::from_bytes(member).unwrap();
    let map: BTreeMap<Group, Vec<u8>> = disclosures.iter().cloned().collect();
    let sig = holder.sign_holder(&presentation::holder_proof_message(&is, &map, time, None));
    let mut out = vec![0x83];
    out.extend_from_slice(member);
    let mut enc = |v: &Value| ciborium::ser::into_writer(v, &mut out).unwrap();
    enc(&Value::Map(
        disclosures
            .iter()
            .map(|(g, d)| (Value::Integer((*g as u8).into()), Value::Bytes(d.clone())))
            .collect(),
    ));
    enc(&Value::Array(vec![
        Value::Integer(time.into()),
        Value::Bytes(sig.to_vec()),
    ]));
    format!("TT1:{}", base45::encode(&out))
}

/// The deflate form (a stored block), optionally with bytes after the stream.
fn deflated(text: &str, tail: &[u8]) -> String {
    use std::io::Write;
    let cbor = presentation::from_qr_text(text).unwrap();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&cbor).unwrap();
    let mut z = enc.finish().unwrap();
    z.extend_from_slice(tail);
    format!("TT1:{}", base45::encode(&z))
}

struct Case {
    name: &'static str,
    rule: &'static str,
    qr: String,
    now: i64,
    require: Requirement,
    refuse_stale_after: Option<i64>,
    highest_trusted_time: i64,
    earlier: Vec<String>,
    reasons: &'static [&'static str],
    warnings: &'static [&'static str],
}

fn case(name: &'static str, rule: &'static str, qr: String, now: i64) -> Case {
    Case {
        name,
        rule,
        qr,
        now,
        require: Requirement::Flight,
        refuse_stale_after: None,
        highest_trusted_time: TL_ISSUED,
        earlier: vec![],
        reasons: &[],
        warnings: &[],
    }
}

impl Case {
    fn rejects(mut self, r: &'static [&'static str]) -> Self {
        self.reasons = r;
        self
    }
    fn warns(mut self, w: &'static [&'static str]) -> Self {
        self.warnings = w;
        self
    }
    fn require(mut self, r: Requirement) -> Self {
        self.require = r;
        self
    }
}

fn thai_midnight(y: i32, m: u32, d: u32) -> i64 {
    gate::thai_day_start(NaiveDate::from_ymd_opt(y, m, d).unwrap())
}

fn cases() -> Vec<Case> {
    let ok = credential(&active_key(), &KID, ISSUED, at(42), 1, |_| {});
    let flight = |c: &GateCredential, t| qr(c, Profile::Flight, t);
    let mut v = vec![
        case("valid_flight", "all checks pass", flight(&ok, NOW), NOW),
        case(
            "valid_age",
            "all checks pass (age gate)",
            qr(&ok, Profile::Age, NOW),
            NOW,
        )
        .require(Requirement::Age),
        case(
            "valid_full",
            "all checks pass (full gate)",
            qr(&ok, Profile::Full, NOW),
            NOW,
        )
        .require(Requirement::Full),
        case(
            "valid_deflated",
            "section 4: the deflate form",
            deflated(&flight(&ok, NOW), b""),
            NOW,
        ),
        case("not_a_presentation", "step 1", "HELLO".into(), NOW).rejects(&["malformed"]),
        case(
            "bytes_after_the_deflate_stream",
            "section 4: nothing may follow the deflate stream",
            deflated(&flight(&ok, NOW), b"\x00"),
            NOW,
        )
        .rejects(&["malformed"]),
        case(
            "unsupported_version",
            "section 4: TT + digit + ':' other than TT1:",
            flight(&ok, NOW).replacen("TT1:", "TT2:", 1),
            NOW,
        )
        .rejects(&["unsupported_version"]),
    ];
    // A card bound to a P-256 key (a phone's secure hardware): ES256 holder proofs.
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let on_phone = gate::issue(
        &tuaton_common::sample::citizen(0),
        &IssueParams {
            issuer: 1,
            signing_key: &active_key(),
            kid: &KID,
            holder_key: phone.holder_key(),
            credential_id: 60u64.to_be_bytes(),
            status: at(60),
            issued_at: ISSUED,
        },
        &mut VectorRng(60_000),
    )
    .unwrap();
    let phone_qr = |p: Profile, signer: &dyn HolderSigner| {
        let good = presentation::present(&on_phone, &phone, p, NOW).unwrap();
        let d = presentation::Presentation::from_cbor(&good).unwrap();
        let msg =
            presentation::holder_proof_message(&d.issuer_signed, &d.disclosures, d.time, None);
        // The proof is the last 64 bytes: signed again by `signer`.
        let mut bytes = good.clone();
        let at = bytes.len() - 64;
        bytes[at..].copy_from_slice(&signer.sign_holder(&msg));
        presentation::to_qr_text(&bytes)
    };
    let other_phone = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    v.push(case(
        "valid_p256_flight",
        "section 4: a 33-byte holder key is P-256, its proof ES256",
        phone_qr(Profile::Flight, &phone),
        NOW,
    ));
    v.push(
        case(
            "valid_p256_age",
            "section 4: ES256 over the same message, disclosures included",
            phone_qr(Profile::Age, &phone),
            NOW,
        )
        .require(Requirement::Age),
    );
    v.push(
        case(
            "p256_proof_by_another_p256_key",
            "step 8",
            phone_qr(Profile::Flight, &other_phone),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
    );
    v.push(
        case(
            "p256_card_proof_by_an_ed25519_key",
            "step 8: the key's length decides the algorithm, never the proof",
            phone_qr(Profile::Flight, &holder_key()),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
    );
    let stranger = credential(
        &stranger_key(),
        &[0xDE, 0xAD, 0xBE, 0xEF],
        ISSUED,
        at(42),
        2,
        |_| {},
    );
    let forged = credential(&stranger_key(), &KID, ISSUED, at(42), 3, |_| {});
    let revoked = credential(&revoked_key(), &REVOKED_KID, W0 + DAY, at(42), 4, |_| {});
    let retired = |t, seed| credential(&retired_key(), &RETIRED_KID, t, at(42), seed, |_| {});
    v.extend([
        case("unknown_kid", "step 2", flight(&stranger, NOW), NOW).rejects(&["unknown_issuer_key"]),
        case(
            "forged_issuer_signature",
            "step 3",
            flight(&forged, NOW),
            NOW,
        )
        .rejects(&["bad_issuer_signature"]),
        case(
            "revoked_key",
            "step 4: a revoked key verifies nothing, even what it signed before revocation",
            flight(&revoked, NOW),
            NOW,
        )
        .rejects(&["issuer_key_revoked"]),
        case(
            "retired_key_first_second",
            "step 4: window start is included",
            flight(&retired(W0, 5), NOW),
            NOW,
        ),
        case(
            "retired_key_last_second",
            "step 4: window end is included",
            flight(&retired(W1, 6), NOW),
            NOW,
        ),
        case(
            "retired_key_before_window",
            "step 4",
            flight(&retired(W0 - 1, 7), NOW),
            NOW,
        )
        .rejects(&["issuer_key_not_valid_at_issuance"]),
        case(
            "retired_key_after_window",
            "step 4",
            flight(&retired(W1 + 1, 8), NOW),
            NOW,
        )
        .rejects(&["issuer_key_not_valid_at_issuance"]),
        case(
            "active_key_before_its_window",
            "step 4",
            flight(&credential(&active_key(), &KID, W1, at(42), 9, |_| {}), NOW),
            NOW,
        )
        .rejects(&["issuer_key_not_valid_at_issuance"]),
    ]);
    // A card valid from 2025-06-02 to 2025-06-03 inclusive, Thai time.
    let short = credential(&active_key(), &KID, ISSUED, at(42), 10, |c| {
        c.issue_date = NaiveDate::from_ymd_opt(2025, 6, 2).unwrap();
        c.expiry = Expiry::On(NaiveDate::from_ymd_opt(2025, 6, 3).unwrap());
    });
    let from = thai_midnight(2025, 6, 2);
    let until = thai_midnight(2025, 6, 4);
    v.extend([
        case(
            "card_first_second",
            "step 6: 00:00:00+07:00 of the issue date",
            flight(&short, from),
            from,
        ),
        case(
            "card_one_second_early",
            "step 6",
            flight(&short, from - 1),
            from - 1,
        )
        .rejects(&["credential_not_yet_valid"]),
        case(
            "card_last_second",
            "step 6: 23:59:59+07:00 of the expiry date",
            flight(&short, until - 1),
            until - 1,
        ),
        case(
            "card_one_second_late",
            "step 6",
            flight(&short, until),
            until,
        )
        .rejects(&["credential_expired"]),
    ]);
    let in_list = |i, seed| credential(&active_key(), &KID, ISSUED, at(i), seed, |_| {});
    let other_list = credential(
        &active_key(),
        &KID,
        ISSUED,
        StatusRef { list: 1, index: 42 },
        11,
        |_| {},
    );
    v.extend([
        case(
            "revoked_card",
            "step 7: bit 7 of list 0 is set",
            flight(&in_list(7, 12), NOW),
            NOW,
        )
        .rejects(&["credential_revoked"]),
        case(
            "revoked_card_last_entry",
            "step 7: bit 131071, the list's last",
            flight(&in_list(131_071, 13), NOW),
            NOW,
        )
        .rejects(&["credential_revoked"]),
        case(
            "status_index_past_the_end",
            "step 7: an index at or past the list's size counts as set",
            flight(&in_list(LIST_SIZE, 14), NOW),
            NOW,
        )
        .rejects(&["credential_revoked"]),
        case(
            "status_list_missing",
            "step 7: no list 1 in the trust list",
            flight(&other_list, NOW),
            NOW,
        )
        .warns(&["status_stale"]),
        case(
            "status_list_last_current_second",
            "step 7: validUntil is the first stale second",
            flight(&ok, STATUS_UNTIL - 1),
            STATUS_UNTIL - 1,
        ),
        case(
            "status_list_expired",
            "step 7",
            flight(&ok, STATUS_UNTIL),
            STATUS_UNTIL,
        )
        .warns(&["status_stale"]),
    ]);
    let age18 = ok.disclosures[&Group::AgeOver18].clone();
    let age20 = ok.disclosures[&Group::AgeOver20].clone();
    let someone_else = credential(&active_key(), &KID, ISSUED, at(43), 15, |_| {});
    v.extend([
        case(
            "disclosure_from_another_card",
            "step 5: the age_over_20 disclosure of another credential, properly holder-signed",
            by_hand(
                &ok.full,
                &[(
                    Group::AgeOver20,
                    someone_else.disclosures[&Group::AgeOver20].clone(),
                )],
                NOW,
                &holder_key(),
            ),
            NOW,
        )
        .require(Requirement::Age)
        .rejects(&["digest_mismatch"]),
        case(
            "flight_member_with_a_disclosure",
            "step 5: the flight member signs no digest, so any disclosure with it fails",
            by_hand(
                &ok.flight,
                &[(Group::AgeOver18, age18.clone())],
                NOW,
                &holder_key(),
            ),
            NOW,
        )
        .rejects(&["digest_mismatch"]),
        case(
            "disclosures_out_of_order",
            "step 1: disclosure map keys must increase",
            by_hand(
                &ok.full,
                &[
                    (Group::AgeOver20, age20.clone()),
                    (Group::AgeOver18, age18.clone()),
                ],
                NOW,
                &holder_key(),
            ),
            NOW,
        )
        .require(Requirement::Age)
        .rejects(&["malformed"]),
        case(
            "inline_flight_claims_do_not_decode",
            "step 1: inline flight claims (10) that do not decode, before any signature",
            by_hand(&damaged_inline_claims(&ok.flight), &[], NOW, &holder_key()),
            NOW,
        )
        .rejects(&["malformed"]),
        case(
            "holder_proof_by_another_key",
            "step 8",
            by_hand(&ok.flight, &[], NOW, &other_holder_key()),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
        case(
            "holder_proof_r_with_a_small_order_part",
            "section 4: R of the holder's own proof carries a point of order 8",
            by_hand(
                &ok.flight,
                &[],
                NOW,
                &kit::TorsionHolder {
                    torsion: 1,
                    r: true,
                },
            ),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
        case(
            "holder_proof_r_the_identity",
            "section 4: R of the holder's own proof is the identity (s = k a)",
            by_hand(
                &ok.flight,
                &[],
                NOW,
                &kit::TorsionHolder {
                    torsion: 0,
                    r: false,
                },
            ),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
        case(
            "bad_holder_proof_is_not_judged_for_freshness",
            "step 8: with a bad proof the time is not judged (nor remembered)",
            by_hand(&ok.flight, &[], NOW - 1000, &other_holder_key()),
            NOW,
        )
        .rejects(&["bad_holder_proof"]),
        case(
            "oldest_fresh_proof",
            "step 8: now - 60 s is fresh",
            flight(&ok, NOW - 60),
            NOW,
        ),
        case("stale_proof", "step 8", flight(&ok, NOW - 61), NOW).rejects(&["presentation_stale"]),
        case(
            "newest_proof_within_skew",
            "step 8: now + 30 s is allowed",
            flight(&ok, NOW + 30),
            NOW,
        ),
        case(
            "proof_from_the_future",
            "step 8",
            flight(&ok, NOW + 31),
            NOW,
        )
        .rejects(&["presentation_from_future"]),
    ]);
    let mut replay = case(
        "replayed",
        "step 9: the same presentation checked a second time",
        flight(&ok, NOW - 5),
        NOW,
    )
    .rejects(&["replayed"]);
    replay.earlier = vec![replay.qr.clone()];
    v.push(replay);
    let young = credential(&active_key(), &KID, ISSUED, at(44), 16, |c| {
        c.birth_date = PartialDate::Full(NaiveDate::from_ymd_opt(2010, 3, 1).unwrap());
    });
    v.extend([
        case(
            "age_presentation_at_a_flight_gate",
            "policy: flight needs the flight claims",
            qr(&ok, Profile::Age, NOW),
            NOW,
        )
        .rejects(&["insufficient_disclosure"]),
        case(
            "flight_presentation_at_a_full_gate",
            "policy",
            flight(&ok, NOW),
            NOW,
        )
        .require(Requirement::Full)
        .rejects(&["insufficient_disclosure"]),
        case(
            "under_20_at_an_age_gate",
            "policy: age_over_20 must be true",
            qr(&young, Profile::Age, NOW),
            NOW,
        )
        .require(Requirement::Age)
        .rejects(&["under_age"]),
    ]);
    let t = ROOT2_EXPIRES;
    v.extend([
        case(
            "trust_last_current_second",
            "warnings: stale from the earlier of the trust list's and the root's expires",
            flight(&ok, t - 1),
            t - 1,
        )
        .warns(&["status_stale"]),
        case(
            "trust_stale_by_the_root",
            "warnings: root 2 expires before the trust list",
            flight(&ok, t),
            t,
        )
        .warns(&["trust_stale", "status_stale"]),
    ]);
    let mut grace = case(
        "trust_stale_inside_grace",
        "--refuse-stale-after 1 day: still only a warning",
        flight(&ok, t + DAY - 1),
        t + DAY - 1,
    )
    .warns(&["trust_stale", "status_stale"]);
    grace.refuse_stale_after = Some(DAY);
    let mut expired = case(
        "trust_expired_past_grace",
        "--refuse-stale-after 1 day",
        flight(&ok, t + DAY),
        t + DAY,
    )
    .rejects(&["trust_expired"])
    .warns(&["trust_stale", "status_stale"]);
    expired.refuse_stale_after = Some(DAY);
    v.extend([grace, expired]);
    v.push(
        case(
            "clock_behind_trusted_time",
            "warnings: now is before the trust list's issued-at the gate has seen",
            flight(&ok, TL_ISSUED - 1),
            TL_ISSUED - 1,
        )
        .warns(&["clock_rollback"]),
    );
    let mut many = case(
        "several_reasons_in_order",
        "all applicable reasons, in step order",
        flight(
            &credential(&revoked_key(), &REVOKED_KID, W0 + DAY, at(7), 17, |c| {
                c.expiry = Expiry::On(NaiveDate::from_ymd_opt(2025, 5, 31).unwrap());
            }),
            NOW - 100,
        ),
        NOW,
    )
    .rejects(&[
        "issuer_key_revoked",
        "credential_expired",
        "credential_revoked",
        "presentation_stale",
    ]);
    many.warnings = &[];
    v.push(many);
    v
}

fn derive() -> Json {
    let b = make_bundle();
    let (state, lists) = sync(&b);
    let store = state.to_store();
    let mut out_cases = Vec::new();
    for c in cases() {
        let policy = Policy {
            require: c.require,
            refuse_stale_after: c.refuse_stale_after,
            ..Policy::default()
        };
        let mut replay = MemoryReplay::default();
        let mut ctx = Context::new(c.now, &store, &lists, &mut replay)
            .with_policy(policy)
            .with_highest_trusted_time(Some(c.highest_trusted_time));
        for e in &c.earlier {
            verify::verify_qr(e, &mut ctx);
        }
        let verdict = verify::verify_qr(&c.qr, &mut ctx);
        let reasons: Vec<_> = verdict.reasons.iter().map(|r| r.code()).collect();
        let warnings: Vec<_> = verdict.warnings.iter().map(|w| w.code()).collect();
        assert_eq!(reasons, c.reasons, "case {}: reasons", c.name);
        assert_eq!(warnings, c.warnings, "case {}: warnings", c.name);
        out_cases.push(json!({
            "name": c.name,
            "rule": c.rule,
            "qr": c.qr,
            "now": c.now,
            "policy": {"require": c.require.code(), "max_age": policy.max_age, "max_skew": policy.max_skew,
                       "refuse_stale_after": c.refuse_stale_after},
            "highest_trusted_time": c.highest_trusted_time,
            "checked_before": c.earlier,
            "verdict": verdict.to_json(),
        }));
    }
    let files: serde_json::Map<String, Json> = b
        .files
        .iter()
        .map(|(p, f)| {
            let v = if p.ends_with(".cbor") {
                json!({"hex": hex(f)})
            } else {
                json!({"text": String::from_utf8(f.clone()).unwrap()})
            };
            (p.clone(), v)
        })
        .collect();
    let secret = |k: &SigningKey| hex(&k.to_bytes());
    let public = |k: &SigningKey| hex(k.verifying_key().as_bytes());
    json!({
        "about": "docs/TRUST.md and docs/FORMAT.md section 5: a bundle synced with --expect-root <root 1 fingerprint> at synced_at, then each case checked against it",
        "inputs": {
            "root_keys": (1..=4).map(|n| json!({"secret": secret(&root_key(n)), "public": public(&root_key(n))})).collect::<Vec<_>>(),
            "issuer_keys": {
                "active": {"kid": hex(&KID), "secret": secret(&active_key()), "public": public(&active_key())},
                "retired": {"kid": hex(&RETIRED_KID), "secret": secret(&retired_key()), "public": public(&retired_key())},
                "revoked": {"kid": hex(&REVOKED_KID), "secret": secret(&revoked_key()), "public": public(&revoked_key())},
                "not_listed": {"secret": secret(&stranger_key()), "public": public(&stranger_key())},
            },
            "holder_key": {"secret": secret(&holder_key()), "public": public(&holder_key())},
            "other_holder_key": {"secret": secret(&other_holder_key()), "public": public(&other_holder_key())},
            "status_list_revoked_indices": [0, 7, 131_071],
        },
        "root_1_fingerprint": b.root1.root.fingerprint(),
        "root_2_fingerprint": b.root2.root.fingerprint(),
        "synced_at": NOW,
        "after_sync": {
            "root_version": state.root.root.version,
            "trust_list_version": state.trust_list.list.version,
            "highest_trusted_time": TL_ISSUED,
            "trust_stale_from": store.expires,
            "status_list_valid_until": STATUS_UNTIL,
        },
        "bundle": files,
        "cases": out_cases,
    })
}

#[test]
fn trust_vectors_match_the_committed_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/trust-v1.json");
    let derived = derive();
    if std::env::var_os("TUATON_WRITE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&derived).unwrap() + "\n").unwrap();
    }
    let committed: Json = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        derived, committed,
        "the format changed: docs/vectors/trust-v1.json no longer matches"
    );
}

#[test]
fn every_rule_and_warning_has_a_trust_vector() {
    let v = derive();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for c in v["cases"].as_array().unwrap() {
        for k in ["reasons", "warnings"] {
            for r in c["verdict"][k].as_array().unwrap() {
                *seen.entry(r.as_str().unwrap().to_string()).or_default() += 1;
            }
        }
    }
    // Every reason a QR check can give (session_failed needs a session; see
    // session-v1.json) and every warning.
    for code in [
        "malformed",
        "unsupported_version",
        "unknown_issuer_key",
        "bad_issuer_signature",
        "issuer_key_revoked",
        "issuer_key_not_valid_at_issuance",
        "credential_not_yet_valid",
        "credential_expired",
        "credential_revoked",
        "digest_mismatch",
        "bad_holder_proof",
        "presentation_stale",
        "presentation_from_future",
        "replayed",
        "trust_expired",
        "insufficient_disclosure",
        "under_age",
        "trust_stale",
        "status_stale",
        "clock_rollback",
    ] {
        assert!(seen.contains_key(code), "no trust vector gives {code}");
    }
}

/// Re-signs the bundle's trust list after `edit` changes its decoded CBOR, as a root key
/// holder would (signing input: lp("tuaton trust list v1") || lp(doc)).
fn resigned_trust_list(b: &Bundle, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let signed: Value = ciborium::de::from_reader(&b.files["trust-list/7.cbor"][..]).unwrap();
    let Value::Array(a) = signed else { panic!() };
    let Value::Bytes(doc) = &a[0] else { panic!() };
    let mut list: Value = ciborium::de::from_reader(&doc[..]).unwrap();
    edit(&mut list);
    let mut doc = Vec::new();
    ciborium::ser::into_writer(&list, &mut doc).unwrap();
    let tag = b"tuaton trust list v1";
    let mut input = (tag.len() as u32).to_be_bytes().to_vec();
    input.extend_from_slice(tag);
    input.extend_from_slice(&(doc.len() as u32).to_be_bytes());
    input.extend_from_slice(&doc);
    let sigs = [root_key(3), root_key(4)]
        .iter()
        .map(|k| {
            Value::Array(vec![
                Value::Bytes(pk(k).to_vec()),
                Value::Bytes(k.sign(&input).to_bytes().to_vec()),
            ])
        })
        .collect();
    let mut out = Vec::new();
    ciborium::ser::into_writer(
        &Value::Array(vec![Value::Bytes(doc), Value::Array(sigs)]),
        &mut out,
    )
    .unwrap();
    out
}

/// The key entry `k` of issuer 0 in a decoded trust list.
fn key_entry(list: &mut Value, k: usize) -> &mut Vec<Value> {
    let Value::Map(m) = list else { panic!() };
    let Value::Array(issuers) = &mut m[4].1 else {
        panic!()
    };
    let Value::Array(issuer) = &mut issuers[0] else {
        panic!()
    };
    let Value::Array(keys) = &mut issuer[2] else {
        panic!()
    };
    let Value::Array(entry) = &mut keys[k] else {
        panic!()
    };
    entry
}

#[test]
fn revoked_at_is_set_exactly_on_revoked_keys() {
    let b = make_bundle();
    let roots = vec![
        b.files["root/1.cbor"].clone(),
        b.files["root/2.cbor"].clone(),
    ];
    let first = |tl: &[u8]| {
        TrustState::first(
            &roots,
            tl,
            Anchor::Pinned(b.root1.root.fingerprint_bytes()),
            NOW,
        )
    };
    // Unchanged, re-signed: accepted (so the refusals below come from the edits).
    assert!(first(&resigned_trust_list(&b, |_| {})).is_ok());
    let cases: [(usize, Value, Value, &str); 3] = [
        (
            0,
            Value::Integer(0.into()),
            Value::Integer(5.into()),
            "an active key with revoked-at",
        ),
        (
            1,
            Value::Integer(1.into()),
            Value::Integer(5.into()),
            "a retired key with revoked-at",
        ),
        (
            2,
            Value::Integer(2.into()),
            Value::Null,
            "a revoked key without revoked-at",
        ),
    ];
    for (k, state, at, what) in cases {
        let tl = resigned_trust_list(&b, |l| {
            let e = key_entry(l, k);
            e[4] = state;
            e[5] = at;
        });
        let err = first(&tl).expect_err(what).to_string();
        assert!(err.contains("revoked"), "{what}: {err}");
    }
}

#[test]
fn an_index_with_a_repeated_member_is_refused() {
    let b = make_bundle();
    let good = String::from_utf8(b.files["index.json"].clone()).unwrap();
    assert!(Index::parse(good.as_bytes()).is_ok());
    let twice = good.replacen('{', r#"{"roots":["root/9.cbor"],"#, 1);
    let err = Index::parse(twice.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("`roots` appears twice"), "{err}");
}
