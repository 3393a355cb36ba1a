//! The W3C form: signs and verifies with ssi, and maps to the same claims as the gate form.
mod kit;
use kit::*;
use tuaton_common::{gate::StatusRef, sample, w3c};

fn signed(citizen: usize) -> String {
    let claims = sample::citizen(citizen);
    let u = w3c::unsigned(
        &claims,
        1,
        &w3c::default_issuer_did(1),
        holder_key().verifying_key(),
        &[citizen as u8; 8],
        StatusRef { list: 0, index: 42 },
        ISSUED,
    )
    .unwrap();
    w3c::sign(u, &issuer_key(), ISSUED).unwrap()
}

#[test]
fn signs_and_verifies_and_maps_back_to_the_same_claims() {
    for i in [0, 1, 2] {
        let json = signed(i);
        let checked = w3c::verify(&json, NOW).unwrap();
        assert_eq!(checked.claims, sample::citizen(i), "citizen {i}");
        assert_eq!(checked.issuer, w3c::default_issuer_did(1));
        assert_eq!(checked.signer, Some(issuer_key().verifying_key()));
        assert_eq!(checked.holder, w3c::did_key(&holder_key().verifying_key()));
        // The gate form of the same card discloses the same values.
        let gate = credential(i).claims().unwrap();
        assert_eq!(gate.citizen_id, Some(checked.claims.citizen_id));
        assert_eq!(
            gate.given_name_th,
            Some(checked.claims.given_name_th.clone())
        );
        assert_eq!(gate.birth_date, Some(checked.claims.birth_date));
        assert_eq!(gate.expiry, Some(checked.claims.expiry));
        assert_eq!(gate.portrait.as_deref(), Some(&checked.claims.portrait[..]));
    }
}

#[test]
fn a_changed_claim_fails_the_proof() {
    let json = signed(0).replace("Somchai", "Somchal");
    let e = w3c::verify(&json, NOW).unwrap_err().to_string();
    assert!(e.contains("invalid signature"), "{e}");
}

#[test]
fn expired_card_fails_the_validity_window() {
    // Citizen 3's card expired on 2025-02-27.
    let json = signed(3);
    let e = w3c::verify(&json, NOW).unwrap_err().to_string();
    assert!(e.contains("expired"), "{e}");
    assert!(w3c::verify(&json, ISSUED).is_ok());
}
