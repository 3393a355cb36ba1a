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

/// Deflate forms of a presentation as another encoder might make them (tuaton's own
/// encoder only deflates when it is shorter, which these profiles never are): a stored
/// block as miniz makes it, and a fixed-Huffman block of literals, which ends mid-byte and
/// so has padding bits.
fn deflated_qrs(profile: Profile) -> Vec<(String, Vec<u8>)> {
    use std::io::Write;
    let cbor = presentation::present(&credential(0), &holder_key(), profile, NOW).unwrap();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(&cbor).unwrap();
    let stored = enc.finish().unwrap();
    let fixed = fixed_huffman(&cbor);
    [stored, fixed]
        .into_iter()
        .map(|z| {
            assert_ne!(z[0], 0x83, "would read as plain CBOR");
            (format!("TT1:{}", base45::encode(&z)), z)
        })
        .collect()
}

/// RFC 1951 section 3.2.6: one final block (BFINAL 1, BTYPE 01) of literals, then the
/// end-of-block code. Bits go least significant first; Huffman codes most significant first.
fn fixed_huffman(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut n) = (0u32, 0u32);
    let mut put = |bits: u32, len: u32, msb_first: bool| {
        for k in 0..len {
            let bit = if msb_first {
                (bits >> (len - 1 - k)) & 1
            } else {
                (bits >> k) & 1
            };
            acc |= bit << n;
            n += 1;
            if n == 8 {
                out.push(acc as u8);
                acc = 0;
                n = 0;
            }
        }
    };
    put(0b011, 3, false); // BFINAL = 1, then BTYPE = 01 (both LSB first)
    for &b in data {
        match b {
            0..=143 => put(0x30 + u32::from(b), 8, true),
            _ => put(0x190 + u32::from(b) - 144, 9, true),
        }
    }
    put(0, 7, true); // end of block (256)
    if n > 0 {
        out.push(acc as u8);
    }
    out
}

#[test]
fn a_deflated_presentation_verifies() {
    for profile in [Profile::Flight, Profile::Age] {
        for (text, _) in deflated_qrs(profile) {
            let v = verify_fresh(profile, |c| verify::verify_qr(&text, c));
            assert!(v.is_valid(), "{profile:?}: {:?}", codes(&v));
        }
    }
}

#[test]
fn every_character_of_a_deflated_qr_text() {
    for profile in [Profile::Flight, Profile::Age] {
        for (good, _) in deflated_qrs(profile) {
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
                        "char {i} -> {:?} of deflated {profile:?} was accepted",
                        r as char
                    );
                }
            }
        }
    }
}

#[test]
fn attack_bytes_appended_after_the_deflate_stream() {
    for (_, z) in deflated_qrs(Profile::Flight) {
        for tail in [&[0u8][..], &[0xFF], b"any text", &[0; 200]] {
            let mut longer = z.clone();
            longer.extend_from_slice(tail);
            let text = format!("TT1:{}", base45::encode(&longer));
            let v = verify_fresh(Profile::Flight, |c| verify::verify_qr(&text, c));
            assert_eq!(codes(&v), ["malformed"], "{} bytes appended", tail.len());
        }
    }
}

/// What a lenient inflater (reads the stream, ignores what follows it) makes of `z`.
fn lenient_inflate(z: &[u8]) -> Option<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(z)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

#[test]
fn attack_padding_bits_set_after_the_deflate_stream() {
    let mut tried = 0;
    for profile in [Profile::Flight, Profile::Age] {
        for (_, z) in deflated_qrs(profile) {
            let plain = lenient_inflate(&z).unwrap();
            for bit in 0..8 {
                let mut b = z.clone();
                *b.last_mut().unwrap() ^= 1 << bit;
                // Only bits a lenient inflater ignores: the stream's padding.
                if lenient_inflate(&b).as_ref() != Some(&plain) {
                    continue;
                }
                tried += 1;
                let text = format!("TT1:{}", base45::encode(&b));
                let v = verify_fresh(profile, |c| verify::verify_qr(&text, c));
                assert_eq!(
                    codes(&v),
                    ["malformed"],
                    "padding bit {bit} of {profile:?} flipped"
                );
            }
        }
    }
    assert!(
        tried > 0,
        "no padding bits to flip: the test would be vacuous"
    );
}

#[test]
fn attack_a_holder_proof_with_a_small_order_point_in_r_is_refused_every_time() {
    let cred = credential(1);
    for i in 0..64u8 {
        let holder = TorsionHolder {
            torsion: 1 + usize::from(i) % 7,
            r: true,
        };
        let b =
            presentation::present_salted(&cred, &holder, Profile::Flight.groups(), NOW, [i; 16])
                .unwrap();
        let v = verify_fresh(Profile::Flight, |c| verify::verify_cbor(&b, c));
        assert_eq!(codes(&v), ["bad_holder_proof"], "salt {i}");
    }
    // The same holder signing the standard way passes: only the small-order point differs.
    let b =
        presentation::present_salted(&cred, &holder_key(), Profile::Flight.groups(), NOW, [0; 16])
            .unwrap();
    assert!(verify_fresh(Profile::Flight, |c| verify::verify_cbor(&b, c)).is_valid());
}
