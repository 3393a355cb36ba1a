//! Every single-byte change to a valid presentation's CBOR, and every single-character
//! change to its QR text, is rejected with a reason, and nothing panics.
mod kit;
use kit::*;
use tuaton_common::presentation::{self, Profile};
use tuaton_common::verify::{self, Context};

const BASE45: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:";

/// A fresh replay cache for each variant: a rejection must come from the change itself.
fn verify_fresh(
    profile: Profile,
    f: impl FnOnce(&mut Context<'_>) -> verify::Verdict,
) -> verify::Verdict {
    in_context(None, policy_for(profile), None, f)
}

fn tamper_cbor(profile: Profile) {
    let good = presentation::present(&credential(1), &holder_key(), profile, NOW).unwrap();
    assert!(verify_fresh(profile, |c| verify::verify_cbor(&good, c)).is_valid());
    for i in 0..good.len() {
        for mask in [0x01u8, 0x02, 0x10, 0x80, 0xFF] {
            let mut b = good.clone();
            b[i] ^= mask;
            let v = verify_fresh(profile, |c| verify::verify_cbor(&b, c));
            assert!(
                !v.reasons.is_empty(),
                "byte {i} ^ {mask:#x} of {profile:?} was accepted"
            );
        }
    }
    // Truncations and extensions too.
    for n in 0..good.len() {
        assert!(!verify_fresh(profile, |c| verify::verify_cbor(&good[..n], c)).is_valid());
    }
    let mut longer = good.clone();
    longer.push(0);
    assert!(!verify_fresh(profile, |c| verify::verify_cbor(&longer, c)).is_valid());
}

#[test]
fn every_cbor_byte_of_a_flight_presentation() {
    tamper_cbor(Profile::Flight);
}

#[test]
fn every_cbor_byte_of_a_full_presentation() {
    tamper_cbor(Profile::Full);
}

#[test]
fn every_cbor_byte_of_an_age_presentation() {
    tamper_cbor(Profile::Age);
}

#[test]
fn every_character_of_the_qr_text() {
    for profile in [Profile::Flight, Profile::Age] {
        let good = qr(&credential(0), profile, NOW);
        assert!(verify_fresh(profile, |c| verify::verify_qr(&good, c)).is_valid());
        let chars: Vec<u8> = good.bytes().collect();
        for i in 0..chars.len() {
            for &r in BASE45.iter().chain(b"a\0\xc3") {
                if r == chars[i] {
                    continue;
                }
                let mut t = chars.clone();
                t[i] = r;
                let text = String::from_utf8_lossy(&t);
                let v = verify_fresh(profile, |c| verify::verify_qr(&text, c));
                assert!(
                    !v.reasons.is_empty(),
                    "char {i} -> {:?} of {profile:?} was accepted",
                    r as char
                );
            }
        }
    }
}
