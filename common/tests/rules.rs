//! One test per verification rule of the engine (docs/FORMAT.md "Verification").
mod kit;
use kit::*;
use tuaton_common::gate::Group;
use tuaton_common::presentation::{self, Profile};
use tuaton_common::trust::KeyState;
use tuaton_common::verify::{self, Context, MemoryReplay, NoStatus, Policy, Warning};

#[test]
fn valid_flight_presentation_shows_the_flight_claims() {
    let v = check(&qr(&credential(0), Profile::Flight, NOW));
    assert!(v.is_valid(), "{:?}", v.reasons);
    assert!(v.warnings.is_empty());
    let c = v.claims.unwrap();
    assert_eq!(c.citizen_id.unwrap().to_string(), "1103700012346");
    assert_eq!(c.given_name_th.unwrap().as_str(), "สมชาย");
    assert_eq!(c.family_name_en.unwrap().as_str(), "Jaidee");
    assert_eq!(c.birth_date.unwrap().to_string(), "1990-04-12");
    assert_eq!(c.expiry.unwrap().to_string(), "2032-04-11");
    assert!(
        c.address.is_none() && c.portrait.is_none() && c.age_over_20.is_none(),
        "flight discloses nothing more"
    );
    assert_eq!(v.issuer.as_deref(), Some("DOPA"));
    assert_eq!(v.kid.as_deref(), Some("a1b2c3d4"));
}

#[test]
fn age_profile_discloses_only_age_over_20() {
    let v = check(&qr(&credential(0), Profile::Age, NOW));
    assert!(v.is_valid(), "{:?}", v.reasons);
    let c = v.claims.unwrap();
    assert_eq!(c.age_over_20, Some(true));
    assert!(
        c.citizen_id.is_none()
            && c.given_name_th.is_none()
            && c.birth_date.is_none()
            && c.age_over_18.is_none()
    );
}

#[test]
fn full_profile_discloses_details_and_partial_birth_dates() {
    let v = check(&qr(&credential(1), Profile::Full, NOW));
    assert!(v.is_valid(), "{:?}", v.reasons);
    let c = v.claims.unwrap();
    assert_eq!(c.birth_date.unwrap().to_string(), "1985-11");
    assert_eq!(c.laser_code.unwrap().as_str(), "ME2-7654321-01");
    assert!(c.address.unwrap().as_str().contains("เชียงใหม่"));
}

#[test]
fn lifelong_card_is_valid_decades_later() {
    let t = NOW + 40 * 365 * 86_400;
    let mut trust = trust();
    trust.expires = None;
    let v = check_with(
        &qr(&credential(2), Profile::Flight, t),
        t,
        &trust,
        &Revoked(vec![]),
    );
    assert!(v.is_valid(), "{:?}", v.reasons);
    assert_eq!(v.claims.unwrap().expiry.unwrap().to_string(), "lifelong");
}

#[test]
fn malformed_text_is_rejected() {
    for t in [
        "",
        "hello",
        "TT1:",
        "TT1:%%%",
        "TT1:ABCDEFGH",
        "HC1:NCFOXN%TS3DH",
    ] {
        assert_eq!(codes(&check(t)), ["malformed"], "{t:?}");
    }
}

#[test]
fn unknown_version_is_unsupported() {
    let t = qr(&credential(0), Profile::Flight, NOW).replacen("TT1:", "TT2:", 1);
    assert_eq!(codes(&check(&t)), ["unsupported_version"]);
}

#[test]
fn unknown_kid_is_unknown_issuer_key() {
    let mut trust = trust();
    trust.keys[0].kid = vec![9, 9, 9, 9];
    let v = check_against(&trust);
    assert_eq!(codes(&v), ["unknown_issuer_key"]);
    assert!(v.claims.is_none(), "unauthenticated claims are never shown");
}

#[test]
fn a_forged_credential_is_bad_issuer_signature() {
    // Signed by someone else's key under the trusted kid.
    let forged = issue_with(0, &key(66), ISSUED, 42);
    let v = check(&qr(&forged, Profile::Flight, NOW));
    assert_eq!(codes(&v), ["bad_issuer_signature"]);
    assert!(v.claims.is_none());
}

#[test]
fn every_key_sharing_a_kid_is_tried() {
    let mut trust = trust();
    let mut decoy = trust.keys[0].clone();
    decoy.public = key(77).verifying_key();
    trust.keys.insert(0, decoy);
    let v = check_against(&trust);
    assert!(v.is_valid(), "{:?}", v.reasons);
}

#[test]
fn revoked_key_verifies_nothing() {
    let mut trust = trust();
    // Revoked after this credential was issued: still rejected.
    trust.keys[0].state = KeyState::Revoked { at: NOW - 10 };
    let v = check_against(&trust);
    assert_eq!(codes(&v), ["issuer_key_revoked"]);
}

#[test]
fn retired_key_verifies_inside_its_window_only() {
    let mut trust = trust();
    trust.keys[0].state = KeyState::Retired;
    trust.keys[0].not_after = Some(ISSUED + 1);
    let v = check_against(&trust);
    assert!(v.is_valid(), "{:?}", v.reasons);
    // Issued in the very second of retirement: still inside (regression: rotate right
    // after issue used to reject the card).
    trust.keys[0].not_after = Some(ISSUED);
    let v = check_against(&trust);
    assert!(v.is_valid(), "{:?}", v.reasons);
    // A credential claiming issuance after retirement.
    let late = issue_with(0, &issuer_key(), ISSUED + 10, 42);
    let v = check_with(
        &qr(&late, Profile::Flight, NOW),
        NOW,
        &trust,
        &Revoked(vec![]),
    );
    assert_eq!(codes(&v), ["issuer_key_not_valid_at_issuance"]);
}

#[test]
fn issued_before_the_key_window_is_not_valid_at_issuance() {
    let early = issue_with(0, &issuer_key(), ISSUED - 2 * 86_400, 42);
    assert_eq!(
        codes(&check(&qr(&early, Profile::Flight, NOW))),
        ["issuer_key_not_valid_at_issuance"]
    );
}

#[test]
fn before_the_card_issue_date_is_not_yet_valid() {
    // Citizen 0's card was issued 2024-01-15 (Thai time); 2024-01-14 23:00 Thai time.
    let t = 1_705_251_600 - 3600; // 2024-01-15T00:00+07 minus an hour
    let v = check_with(
        &qr(&credential(0), Profile::Flight, t),
        t,
        &trust(),
        &Revoked(vec![]),
    );
    assert!(
        codes(&v).contains(&"credential_not_yet_valid"),
        "{:?}",
        v.reasons
    );
    let t = t + 3600;
    let v = check_with(
        &qr(&credential(0), Profile::Flight, t),
        t,
        &trust(),
        &Revoked(vec![]),
    );
    assert!(
        !codes(&v).contains(&"credential_not_yet_valid"),
        "{:?}",
        v.reasons
    );
}

#[test]
fn after_expiry_is_expired_and_still_says_whose_card() {
    // Citizen 3's card expired 2025-02-27.
    let v = check(&qr(&credential(3), Profile::Flight, NOW));
    assert_eq!(codes(&v), ["credential_expired"]);
    assert_eq!(
        v.claims.unwrap().given_name_en.unwrap().as_str(),
        "Thanakorn"
    );
    // The last second of the expiry day (Thai time) is still valid.
    let last = 1_740_675_600 - 1; // 2025-02-28T00:00+07 - 1 s
    let v = check_with(
        &qr(&credential(3), Profile::Flight, last),
        last,
        &trust(),
        &Revoked(vec![]),
    );
    assert!(v.is_valid(), "{:?}", v.reasons);
}

#[test]
fn revoked_credential() {
    let v = check_with(
        &qr(&credential(0), Profile::Flight, NOW),
        NOW,
        &trust(),
        &Revoked(vec![42]),
    );
    assert_eq!(codes(&v), ["credential_revoked"]);
}

#[test]
fn missing_status_list_warns_status_stale() {
    let v = check_with(
        &qr(&credential(0), Profile::Flight, NOW),
        NOW,
        &trust(),
        &NoStatus,
    );
    assert!(v.is_valid());
    assert_eq!(v.warnings, [Warning::StatusStale]);
}

#[test]
fn a_swapped_disclosure_is_digest_mismatch() {
    // The holder signs a disclosure taken from another card: the issuer's digest differs.
    let mut cred = credential(0);
    let other = credential(1);
    cred.disclosures
        .insert(Group::Details, other.disclosures[&Group::Details].clone());
    let v = check(&qr(&cred, Profile::Full, NOW));
    assert_eq!(codes(&v), ["digest_mismatch"]);
    assert!(v.claims.is_none());
}

#[test]
fn someone_elses_phone_is_bad_holder_proof() {
    let cred = credential(0);
    // Same issuer-signed member, proof signed by another key.
    let b = presentation::present(&cred, &holder_key(), Profile::Flight, NOW).unwrap();
    let mut t = b.clone();
    let n = t.len();
    t[n - 1] ^= 1; // last byte of the holder signature
    let v = verify_bytes(&t, None);
    assert_eq!(codes(&v), ["bad_holder_proof"]);
    assert!(
        presentation::present(&credential(0), &key(9), Profile::Flight, NOW).is_err(),
        "wallet refuses a foreign key"
    );
}

fn verify_bytes(b: &[u8], nonce: Option<&[u8]>) -> verify::Verdict {
    in_context(nonce, Policy::default(), None, |ctx| {
        verify::verify_cbor(b, ctx)
    })
}

#[test]
fn a_proof_for_another_nonce_is_bad_holder_proof() {
    let b = presentation::present_groups(
        &credential(0),
        &holder_key(),
        &[Group::Flight, Group::Portrait],
        NOW,
        Some(b"gate-nonce-A"),
    )
    .unwrap();
    assert!(verify_bytes(&b, Some(b"gate-nonce-A")).is_valid());
    assert_eq!(
        codes(&verify_bytes(&b, Some(b"gate-nonce-B"))),
        ["bad_holder_proof"]
    );
    assert_eq!(codes(&verify_bytes(&b, None)), ["bad_holder_proof"]);
}

#[test]
fn old_proof_is_stale_and_future_proof_is_from_the_future() {
    let p = Policy::default();
    assert_eq!(
        codes(&check(&qr(
            &credential(0),
            Profile::Flight,
            NOW - p.max_age - 1
        ))),
        ["presentation_stale"]
    );
    assert!(check(&qr(&credential(0), Profile::Flight, NOW - p.max_age)).is_valid());
    assert_eq!(
        codes(&check(&qr(
            &credential(0),
            Profile::Flight,
            NOW + p.max_skew + 1
        ))),
        ["presentation_from_future"]
    );
    assert!(check(&qr(&credential(0), Profile::Flight, NOW + p.max_skew)).is_valid());
}

#[test]
fn extreme_proof_times_are_rejected_without_overflow() {
    // A holder can sign any time; i64::MAX once overflowed the replay cache's expiry.
    for t in [i64::MAX, i64::MIN, 0] {
        let v = check(&qr(&credential(0), Profile::Flight, t));
        assert!(!v.is_valid());
        let want = if t > NOW {
            "presentation_from_future"
        } else {
            "presentation_stale"
        };
        assert_eq!(codes(&v), [want], "time {t}");
    }
}

#[test]
fn second_use_is_replayed() {
    let text = qr(&credential(0), Profile::Flight, NOW);
    let trust = trust();
    let mut replay = MemoryReplay::default();
    let mut ctx = Context::new(NOW, &trust, &NoStatus, &mut replay);
    assert!(verify::verify_qr(&text, &mut ctx).is_valid());
    ctx.now += 5;
    let again = verify::verify_qr(&format!("{text}\r\n"), &mut ctx);
    assert_eq!(codes(&again), ["replayed"]);
    // A fresh proof from the same wallet is a new presentation.
    assert!(verify::verify_qr(&qr(&credential(0), Profile::Flight, NOW + 1), &mut ctx).is_valid());
}

#[test]
fn expired_trust_data_warns_trust_stale() {
    let mut trust = trust();
    trust.expires = Some(NOW - 1);
    let v = check_against(&trust);
    assert!(v.is_valid());
    assert_eq!(v.warnings, [Warning::TrustStale]);
}

#[test]
fn a_grace_policy_refuses_trust_data_expired_too_long_ago() {
    let mut trust = trust();
    trust.expires = Some(NOW - 3 * 86_400);
    let mut replay = MemoryReplay::default();
    let policy = Policy {
        refuse_stale_after: Some(2 * 86_400),
        ..Policy::default()
    };
    let none_revoked = Revoked(vec![]);
    let mut ctx = Context::new(NOW, &trust, &none_revoked, &mut replay).with_policy(policy);
    let v = verify::verify_qr(&qr(&credential(0), Profile::Flight, NOW), &mut ctx);
    assert_eq!(codes(&v), ["trust_expired"]);
    assert_eq!(v.warnings, [Warning::TrustStale]);
    // Within the grace period it is only a warning.
    ctx.policy.refuse_stale_after = Some(4 * 86_400);
    let v = verify::verify_qr(&qr(&credential(0), Profile::Flight, NOW + 1), &mut ctx);
    assert!(v.is_valid());
}

#[test]
fn clock_behind_the_highest_trusted_time_warns_clock_rollback() {
    let trust = trust();
    let mut replay = MemoryReplay::default();
    let none_revoked = Revoked(vec![]);
    let mut ctx = Context::new(NOW, &trust, &none_revoked, &mut replay)
        .with_highest_trusted_time(Some(NOW + 86_400));
    let v = verify::verify_qr(&qr(&credential(0), Profile::Flight, NOW), &mut ctx);
    assert_eq!(v.warnings, [Warning::ClockRollback]);
}

#[test]
fn several_failures_are_all_reported() {
    let mut trust = trust();
    trust.keys[0].state = KeyState::Revoked { at: 0 };
    let v = check_with(
        &qr(&credential(3), Profile::Flight, NOW - 1000),
        NOW,
        &trust,
        &Revoked(vec![45]),
    );
    assert_eq!(
        codes(&v),
        [
            "issuer_key_revoked",
            "credential_expired",
            "credential_revoked",
            "presentation_stale"
        ]
    );
}

#[test]
fn check_json_has_the_cli_shape() {
    let j = check(&qr(&credential(0), Profile::Flight, NOW)).to_json();
    assert_eq!(j["verdict"], "valid");
    assert_eq!(j["reasons"], serde_json::json!([]));
    assert_eq!(j["claims"]["citizen_id"], "1103700012346");
    assert_eq!(j["claims"]["given_name_th"], "สมชาย");
    assert_eq!(j["kid"], "a1b2c3d4");
    assert_eq!(j["credential_id"], "0000000000000000");
    assert_eq!(j["checked_at"], "2025-06-01T00:00:00Z");
}

#[test]
fn attack_presentation_disclosing_nothing_is_green() {
    use tuaton_common::verify::Reason;
    // The full member with no disclosure at all, and the age profile, at a flight gate.
    let nothing =
        presentation::present_groups(&credential(0), &holder_key(), &[], NOW, None).unwrap();
    let v = in_context(None, Policy::default(), None, |c| {
        verify::verify_cbor(&nothing, c)
    });
    assert_eq!(v.reasons, vec![Reason::InsufficientDisclosure]);
    let v = in_context(None, Policy::default(), None, |c| {
        verify::verify_qr(&qr(&credential(0), Profile::Age, NOW), c)
    });
    assert_eq!(v.reasons, vec![Reason::InsufficientDisclosure]);
    assert_eq!(v.to_json()["policy"], "flight");
    // The same age QR at an age gate is fine.
    let v = in_context(None, policy_for(Profile::Age), None, |c| {
        verify::verify_qr(&qr(&credential(0), Profile::Age, NOW), c)
    });
    assert!(v.is_valid(), "{:?}", v.reasons);
}

#[test]
fn damaged_inline_flight_claims_are_malformed_before_any_signature() {
    // FORMAT.md section 5, step 1: inline flight claims (payload key 10) that do not
    // decode are `malformed`, judged before the key lookup and the issuer signature.
    use ciborium::Value;
    let b = presentation::present(&credential(0), &holder_key(), Profile::Flight, NOW).unwrap();
    let mut p: Value = ciborium::from_reader(b.as_slice()).unwrap();
    let Value::Array(items) = &mut p else {
        panic!("a presentation is an array")
    };
    let Value::Array(cose) = &mut items[0] else {
        panic!("COSE_Sign1 is an array")
    };
    let Value::Bytes(payload) = &cose[2] else {
        panic!("the payload is a bstr")
    };
    let mut pl: Value = ciborium::from_reader(payload.as_slice()).unwrap();
    let Value::Map(entries) = &mut pl else {
        panic!("the payload is a map")
    };
    let (_, flight) = entries
        .iter_mut()
        .find(|(k, _)| *k == Value::Integer(10.into()))
        .expect("the flight member carries its claims inline");
    let Value::Array(claims) = flight else {
        panic!("inline claims are an array")
    };
    claims[0] = Value::Bool(true); // not a citizen id
    let mut bytes = vec![];
    ciborium::into_writer(&pl, &mut bytes).unwrap();
    cose[2] = Value::Bytes(bytes);
    let mut t = vec![];
    ciborium::into_writer(&p, &mut t).unwrap();
    let v = verify_bytes(&t, None);
    assert_eq!(codes(&v), ["malformed"]);
    assert!(v.claims.is_none());
}
