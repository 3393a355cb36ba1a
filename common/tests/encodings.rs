//! FORMAT.md section 4: outside the byte strings the signatures cover, a presentation
//! need not be in preferred encoding. Every RFC 8949 spelling of the same structure
//! (indefinite lengths, wide arguments, strings in segments, bignum integers) verifies
//! with the same claims; tags and values the format does not name are `malformed`.
mod kit;
use kit::*;
use tuaton_common::presentation::{self, Presentation, Profile};
use tuaton_common::verify::{self, Verdict};

#[derive(Clone, Copy, Debug)]
struct Style {
    /// Arrays and maps in indefinite-length form.
    indefinite: bool,
    /// Every argument as 8 bytes (0x1b and its kin), never the short forms.
    wide: bool,
    /// Byte strings as indefinite strings of two segments.
    split: bool,
    /// The proof time as a tag 2/3 bignum.
    bignum: bool,
}

/// Preferred encoding: what tuaton's own encoder writes.
const PLAIN: Style = Style {
    indefinite: false,
    wide: false,
    split: false,
    bignum: false,
};

fn head(out: &mut Vec<u8>, major: u8, n: u64, s: Style) {
    if s.wide {
        out.push(major << 5 | 27);
        out.extend_from_slice(&n.to_be_bytes());
    } else if n < 24 {
        out.push(major << 5 | n as u8);
    } else if n < 256 {
        out.extend_from_slice(&[major << 5 | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(major << 5 | 25);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(major << 5 | 26);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(major << 5 | 27);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn bstr(out: &mut Vec<u8>, b: &[u8], s: Style) {
    if s.split {
        out.push(0x5f);
        let (a, z) = b.split_at(b.len() / 2);
        for part in [a, z] {
            head(out, 2, part.len() as u64, s);
            out.extend_from_slice(part);
        }
        out.push(0xff);
    } else {
        head(out, 2, b.len() as u64, s);
        out.extend_from_slice(b);
    }
}

/// Writes an array or map (major 4 or 5) of `n` entries around `body`.
fn seq(out: &mut Vec<u8>, major: u8, n: u64, s: Style, body: impl FnOnce(&mut Vec<u8>)) {
    if s.indefinite {
        out.push(major << 5 | 31);
        body(out);
        out.push(0xff);
    } else {
        head(out, major, n, s);
        body(out);
    }
}

fn int(out: &mut Vec<u8>, v: i64, s: Style) {
    let (major, n) = if v < 0 { (1, !v as u64) } else { (0, v as u64) };
    if s.bignum {
        out.push(0xc2 + major);
        let b = n.to_be_bytes();
        let first = b.iter().position(|x| *x != 0).unwrap_or(8);
        head(out, 2, (8 - first) as u64, s);
        out.extend_from_slice(&b[first..]);
    } else {
        head(out, major, n, s);
    }
}

/// The presentation `p` spelled in style `s`, with the proof time written by `time`.
fn respell(p: &Presentation<'_>, s: Style, time: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let is = &p.issuer_signed;
    let mut out = Vec::new();
    seq(&mut out, 4, 3, s, |o| {
        seq(o, 4, 4, s, |o| {
            bstr(o, &is.protected, s);
            seq(o, 5, 0, s, |_| {});
            bstr(o, &is.payload_bytes, s);
            bstr(o, &is.signature, s);
        });
        seq(o, 5, p.disclosures.len() as u64, s, |o| {
            for (g, d) in &p.disclosures {
                head(o, 0, *g as u64, s);
                bstr(o, d, s);
            }
        });
        seq(o, 4, 2 + u64::from(p.salt.is_some()), s, |o| {
            time(o);
            bstr(o, &p.holder_sig, s);
            if let Some(salt) = &p.salt {
                bstr(o, salt, s);
            }
        });
    });
    out
}

fn check(profile: Profile, bytes: &[u8]) -> Verdict {
    in_context(None, policy_for(profile), None, |c| {
        verify::verify_cbor(bytes, c)
    })
}

fn salted(profile: Profile) -> Vec<u8> {
    presentation::present_salted(
        &credential(2),
        &holder_key(),
        profile.groups(),
        NOW,
        [7; 16],
    )
    .unwrap()
}

#[test]
fn every_spelling_of_the_unsigned_structure_verifies_with_the_same_claims() {
    for profile in [Profile::Flight, Profile::Age, Profile::Full] {
        let good = salted(profile);
        let want = check(profile, &good);
        assert!(want.is_valid(), "{profile:?}: {:?}", codes(&want));
        let p = Presentation::from_cbor(&good).unwrap();
        for bits in 0..16u8 {
            let s = Style {
                indefinite: bits & 1 != 0,
                wide: bits & 2 != 0,
                split: bits & 4 != 0,
                bignum: bits & 8 != 0,
            };
            let b = respell(&p, s, |o| int(o, p.time, s));
            if bits != 0 {
                assert_ne!(b, good, "{s:?} must change the bytes");
            }
            let v = check(profile, &b);
            assert!(v.is_valid(), "{profile:?} in {s:?}: {:?}", codes(&v));
            assert_eq!(v.claims, want.claims, "{profile:?} in {s:?}");
            assert_eq!(
                v.presentation, want.presentation,
                "the replay key is what was signed, not how it was spelled"
            );
        }
    }
}

/// Writes one CBOR item in the proof's time slot.
type Writer = Box<dyn FnOnce(&mut Vec<u8>)>;

#[test]
fn tags_floats_and_unknown_simple_values_are_malformed() {
    let good = salted(Profile::Age);
    let p = Presentation::from_cbor(&good).unwrap();
    let time = p.time;
    let cases: Vec<(&str, Writer)> = vec![
        (
            "time under tag 1 (epoch date-time)",
            Box::new(move |o: &mut Vec<u8>| {
                o.push(0xc1);
                int(o, time, PLAIN);
            }),
        ),
        (
            "time as a double",
            Box::new(move |o: &mut Vec<u8>| {
                o.push(0xfb);
                o.extend_from_slice(&(time as f64).to_be_bytes());
            }),
        ),
        (
            "a bignum of 17 bytes",
            Box::new(move |o: &mut Vec<u8>| {
                o.extend_from_slice(&[0xc2, 0x51]);
                o.extend_from_slice(&[0; 9]);
                o.extend_from_slice(&time.to_be_bytes());
            }),
        ),
        ("simple value 16", Box::new(|o: &mut Vec<u8>| o.push(0xf0))),
        (
            "reserved additional information 28",
            Box::new(|o: &mut Vec<u8>| o.push(0x1c)),
        ),
        (
            "an indefinite-length integer",
            Box::new(|o: &mut Vec<u8>| o.push(0x1f)),
        ),
    ];
    for (what, time) in cases {
        let b = respell(&p, PLAIN, time);
        assert_eq!(
            codes(&check(Profile::Age, &b)),
            ["malformed"],
            "{what} must be refused"
        );
    }
    // The control: the same writer with the real time verifies.
    assert!(check(Profile::Age, &respell(&p, PLAIN, |o| int(o, time, PLAIN))).is_valid());
}

/// RFC 9052 section 3: a label appears once in a header map. A header that names `alg`
/// twice (first ES256, then EdDSA) is refused even under a good issuer signature, as
/// coset refused it; the same header without the repeat verifies.
#[test]
fn a_protected_header_that_repeats_alg_is_malformed_even_when_signed() {
    let good = salted(Profile::Flight);
    let p = Presentation::from_cbor(&good).unwrap();
    let with_kid = |head: &[u8]| {
        let mut h = head.to_vec();
        h.push(0x40 | KID.len() as u8);
        h.extend_from_slice(&KID);
        h
    };
    for (protected, valid) in [
        (with_kid(&[0xa3, 0x01, 0x26, 0x01, 0x27, 0x04]), false),
        (
            with_kid(&[0xa2, 0x04])
                .into_iter()
                .chain([0x01, 0x27])
                .collect(),
            true,
        ),
    ] {
        let mut q = p.clone();
        q.issuer_signed.protected = protected.into();
        let v = check(Profile::Flight, &resigned(q, &holder_key()));
        if valid {
            assert!(v.is_valid(), "{:?}", codes(&v));
        } else {
            assert_eq!(codes(&v), ["malformed"]);
        }
    }
}

/// `q` with its payload's holder key (key 7, `bstr .size 32` in the sample) replaced by
/// `key`, signed again by the issuer and its proof by `holder`: what a rogue issuer could
/// make, so the decoder, not a signature, must refuse it.
fn with_holder_key(
    q: &Presentation<'_>,
    key: &[u8],
    holder: &dyn tuaton_common::holder::HolderSigner,
) -> Vec<u8> {
    let mut q = q.clone();
    let payload = q.issuer_signed.payload_bytes.to_vec();
    let old = holder_key().verifying_key().to_bytes();
    let at = payload
        .windows(35)
        .position(|w| w[..3] == [0x07, 0x58, 0x20] && w[3..] == old)
        .expect("key 7 as a 32-byte string");
    let mut new = payload[..at].to_vec();
    new.extend([0x07, 0x58, key.len() as u8]);
    new.extend_from_slice(key);
    new.extend_from_slice(&payload[at + 35..]);
    q.issuer_signed.payload_bytes = new.into();
    resigned(q, holder)
}

/// `q`, changed by a test, signed again as a rogue issuer would (the issuer's key over the
/// new Sig_structure, `holder`'s proof over the new message), in preferred encoding.
fn resigned(mut q: Presentation<'_>, holder: &dyn tuaton_common::holder::HolderSigner) -> Vec<u8> {
    use ed25519_dalek::Signer;
    q.issuer_signed.signature = issuer_key()
        .sign(&q.issuer_signed.to_be_signed())
        .to_bytes();
    let msg = presentation::holder_proof_message(
        &q.issuer_signed,
        &q.disclosures,
        q.time,
        q.salt.as_ref().map(|s| &s[..]),
    );
    q.holder_sig = holder.sign_holder(&msg);
    respell(&q, PLAIN, |o| int(o, q.time, PLAIN))
}

#[test]
fn a_holder_key_of_neither_length_is_malformed_even_when_signed() {
    use tuaton_common::holder::HolderSigner;
    let good = salted(Profile::Flight);
    let p = Presentation::from_cbor(&good).unwrap();
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let point = phone.holder_key();
    // The same card bound to a P-256 key by the issuer verifies: the check is real.
    let v = check(
        Profile::Flight,
        &with_holder_key(&p, point.as_bytes(), &phone),
    );
    assert!(v.is_valid(), "{:?}", codes(&v));
    for len in [0, 31, 34, 65] {
        let v = check(Profile::Flight, &with_holder_key(&p, &vec![2; len], &phone));
        assert_eq!(codes(&v), ["malformed"], "{len} bytes");
    }
    // 33 bytes that are no P-256 point (x = 2^256 - 1 is not below the field prime; a 04
    // tag is no compressed point): the proof proves nothing.
    let mut off = [0xffu8; 33];
    off[0] = 0x02;
    let mut tag4 = *<&[u8; 33]>::try_from(point.as_bytes()).unwrap();
    tag4[0] = 0x04;
    for key in [off, tag4] {
        let v = check(Profile::Flight, &with_holder_key(&p, &key, &phone));
        assert_eq!(codes(&v), ["bad_holder_proof"], "{key:02x?}");
    }
}
