//! Cards bound to P-256 holder keys (ES256), as phones' secure hardware holds them: every
//! profile verifies at the gate, over QR and in a session; a proof by another key, a
//! tampered proof, a replay, a key of another length, each refused as for Ed25519.
mod kit;
use kit::*;
use tuaton_common::gate::{self, IssueParams, StatusRef};
use tuaton_common::holder::{HolderKey, HolderSigner};
use tuaton_common::presentation::{self, Presentation, Profile};
use tuaton_common::sample;
use tuaton_common::verify::{self, MemoryReplay, Reason};

fn phone_key() -> p256::ecdsa::SigningKey {
    p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap()
}

fn p256_card(holder: HolderKey) -> gate::GateCredential {
    gate::issue(
        &sample::citizen(0),
        &IssueParams {
            issuer: 1,
            signing_key: &issuer_key(),
            kid: &KID,
            holder_key: holder,
            credential_id: [0x26; 8],
            status: StatusRef { list: 0, index: 7 },
            issued_at: ISSUED,
        },
        &mut VectorRng(1),
    )
    .unwrap()
}

#[test]
fn every_profile_of_a_p256_bound_card_verifies() {
    let k = phone_key();
    let cred = p256_card(k.holder_key());
    assert_eq!(
        gate::IssuerSigned::from_bytes(&cred.flight)
            .unwrap()
            .payload
            .holder_key
            .as_bytes()
            .len(),
        33
    );
    for profile in [Profile::Flight, Profile::Age, Profile::Full] {
        let p = presentation::present(&cred, &k, profile, NOW).unwrap();
        let v = check(&presentation::to_qr_text(&p));
        assert!(v.is_valid(), "{profile:?}: {:?}", v.reasons);
    }
    let v = check(&presentation::to_qr_text(
        &presentation::present(&cred, &k, Profile::Flight, NOW).unwrap(),
    ));
    assert_eq!(v.claims.unwrap().given_name_en.unwrap().as_str(), "Somchai");
}

#[test]
fn a_p256_session_answer_binds_the_gates_nonce() {
    let k = phone_key();
    let cred = p256_card(k.holder_key());
    let nonce = [9u8; 48];
    let groups = Profile::Full.groups();
    let answer = presentation::present_groups(&cred, &k, groups, NOW, Some(&nonce)).unwrap();
    let v = in_context(Some(&nonce), policy_for(Profile::Full), None, |ctx| {
        verify::verify_session_answer(&answer, groups, ctx)
    });
    assert!(v.is_valid(), "{:?}", v.reasons);
    let other = [8u8; 48];
    let v = in_context(Some(&other), policy_for(Profile::Full), None, |ctx| {
        verify::verify_session_answer(&answer, groups, ctx)
    });
    assert_eq!(v.reasons, vec![Reason::BadHolderProof]);
}

#[test]
fn attack_a_p256_card_presented_with_another_key_or_a_tampered_proof_is_refused() {
    let k = phone_key();
    let cred = p256_card(k.holder_key());
    // The wallet refuses to sign for a card bound to another key.
    let other = p256::ecdsa::SigningKey::from_slice(&[0x43; 32]).unwrap();
    assert!(presentation::present(&cred, &other, Profile::Flight, NOW).is_err());
    assert!(presentation::present(&cred, &holder_key(), Profile::Flight, NOW).is_err());

    // A proof re-signed by another P-256 key, or by an Ed25519 key, in the same place.
    let good = presentation::present(&cred, &k, Profile::Flight, NOW).unwrap();
    let d = Presentation::from_cbor(&good).unwrap();
    let msg = presentation::holder_proof_message(&d.issuer_signed, &d.disclosures, d.time, None);
    for forged in [other.sign_holder(&msg), holder_key().sign_holder(&msg)] {
        let mut bytes = good.clone();
        let at = bytes.len() - 64;
        bytes[at..].copy_from_slice(&forged);
        let v = check(&presentation::to_qr_text(&bytes));
        assert_eq!(v.reasons, vec![Reason::BadHolderProof], "{forged:x?}");
    }
    // One bit of s flipped.
    let mut bytes = good.clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    let v = check(&presentation::to_qr_text(&bytes));
    assert_eq!(v.reasons, vec![Reason::BadHolderProof]);

    // The same presentation twice at one gate: the second is a replay.
    let text = presentation::to_qr_text(&good);
    let trust = trust();
    let status = Revoked(vec![]);
    let mut replay = MemoryReplay::default();
    let mut run = || {
        let mut ctx =
            verify::Context::new(NOW, &trust, &status, &mut replay).with_policy(policy_of(&text));
        verify::verify_qr(&text, &mut ctx)
    };
    assert!(run().is_valid());
    assert_eq!(run().reasons, vec![Reason::Replayed]);
}
