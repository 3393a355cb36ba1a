//! The gate's two Ed25519 signatures, the issuer's and the holder's, checked as one batch
//! that accepts exactly what two strict verifications accept.
//!
//! Why not `ed25519_dalek::verify_batch`: it accepts, for about half of their coefficients,
//! signatures whose R carries a small-order component or is itself of small order, which
//! `verify_strict` (and an independent verifier written from FORMAT.md) refuse; its
//! coefficients come from a merlin transcript, a sixth of its time; and it builds a lookup
//! table for every point on every call, the base point and the issuer's key included.
//! Here:
//! - R must be canonically encoded and not of small order, and s must be canonical (RFC 8032
//!   section 5.1.7 and `verify_strict`'s rules);
//! - the check is `[z1 s1 + s2]B = [z1]R1 + [z1 k1]A1 + R2 + [k2]A2`, without the cofactor,
//!   where z1 is an odd 128-bit number taken from SHA-512 of both challenges and both s
//!   values (so fixed only once every input is). The holder's terms carry exactly the
//!   coefficients strict verification gives them (1 and k2 reduced mod L), so a small-order
//!   part of the holder's R or key is weighed as `verify_strict` weighs it; a coefficient
//!   z2 k2 reduced mod L would not (L is 5 mod 8, so the reduction changes what multiplies a
//!   small-order part of the key). An issuer's signature made the standard way leaves no
//!   residue, so the check holds exactly when the holder's residue
//!   `R2 + [k2]A2 - [s2]B` is zero. The issuer's terms are multiplied by z1: odd, so a
//!   small-order part of a crafted issuer R never vanishes, and unknown to whoever chose the
//!   holder's inputs, so a forged issuer signature passes with a chance of 2^-127 (the
//!   small-exponent test of Bellare, Garay and Rabin, one coefficient 1);
//! - an issuer key of small order or with a small-order component (which no trust list
//!   holds: it refuses weak keys) is left to the separate checks: its coefficient, reduced
//!   mod L, would weigh that component wrongly;
//! - what is assumed: the issuer signs the standard way. An issuer crafting its own
//!   signature with a small-order part in R could make it cancel one a holder put in theirs
//!   (an order-2 part in both always does), which strict verification refuses. Only the
//!   issuer's key makes such a signature, and an issuer can sign any card anyway;
//! - the tables of the base point and of each issuer key are built once and kept in
//!   [`KeyTables`].
//!
//! `the_batch_accepts_exactly_what_strict_verification_accepts` checks it against
//! `verify_strict` on valid, damaged and crafted signatures.

use core::fmt;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, VartimeEdwardsPrecomputation};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::{IsIdentity, VartimePrecomputedMultiscalarMul};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha512};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The precomputed tables of the base point and one issuer key; `None` for a key of small
/// order or with a small-order component, which the batch leaves to the separate checks
/// (see [`verify_pair`]).
struct KeyTable(Option<VartimeEdwardsPrecomputation>);

/// Tables kept per issuer key, by its 32 bytes. Keyed by the bytes rather than kept in
/// [`crate::trust::IssuerKey`] so a key changed in place can never meet a stale table.
#[derive(Default)]
pub struct KeyTables(Mutex<HashMap<[u8; 32], Arc<KeyTable>>>);

/// More keys than any trust list holds; past it the tables are dropped and rebuilt, so
/// memory stays bounded (a table is about 20 KiB).
const MAX_TABLES: usize = 4096;

impl KeyTables {
    fn get(&self, key: &VerifyingKey) -> Arc<KeyTable> {
        // A panic elsewhere cannot leave a half-built table: entries are inserted whole.
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(t) = map.get(key.as_bytes()) {
            return t.clone();
        }
        if map.len() >= MAX_TABLES {
            map.clear();
        }
        // Checked once per key: a full scalar multiplication, too dear for every scan.
        let point = key.to_edwards();
        let clean = !point.is_small_order() && point.is_torsion_free();
        let t = Arc::new(KeyTable(clean.then(|| {
            VartimeEdwardsPrecomputation::new([ED25519_BASEPOINT_POINT, point])
        })));
        map.insert(*key.as_bytes(), t.clone());
        t
    }
}

// A cache: copies start empty, every cache equals every other, and printing one shows
// how many keys it holds.
impl Clone for KeyTables {
    fn clone(&self) -> Self {
        Self::default()
    }
}
impl PartialEq for KeyTables {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl fmt::Debug for KeyTables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.lock().map_or(0, |m| m.len());
        write!(f, "KeyTables({n} keys)")
    }
}

/// SHA-512(R || A || M), the challenge of RFC 8032 section 5.1.7, as bytes.
fn challenge(sig: &Signature, key: &VerifyingKey, message: &[u8]) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(sig.r_bytes());
    h.update(key.as_bytes());
    h.update(message);
    h.finalize().into()
}

/// The issuer signature's coefficient z1: odd (see the module's comment), 127 bits of
/// SHA-512 over both challenges (which bind R, A and the message) and both s values. The
/// holder's, z2, is 1.
fn coefficient(h1: &[u8; 64], h2: &[u8; 64], s1: &[u8; 32], s2: &[u8; 32]) -> Scalar {
    let d = Sha512::new()
        .chain_update(b"tuaton gate batch v1")
        .chain_update(h1)
        .chain_update(h2)
        .chain_update(s1)
        .chain_update(s2)
        .finalize();
    Scalar::from(u128::from_le_bytes(d[..16].try_into().expect("16 bytes")) | 1)
}

/// R decoded, if its encoding is canonical (y below p = 2^255 - 19) and it is not of small
/// order: the two rules `verify_strict` adds to the equation (it compares R's bytes with a
/// canonical encoding, and refuses R of small order).
fn strict_r(sig: &Signature) -> Option<curve25519_dalek::EdwardsPoint> {
    let b = sig.r_bytes();
    let y_at_least_p = b[0] >= 0xed && b[1..31].iter().all(|&x| x == 0xff) && b[31] & 0x7f == 0x7f;
    if y_at_least_p {
        return None;
    }
    CompressedEdwardsY(*b)
        .decompress()
        .filter(|r| !r.is_small_order())
}

/// Whether `(issuer_msg, issuer_sig)` under `issuer` and `(holder_msg, holder_sig)` under
/// `holder` both verify, as two `verify_strict` calls would judge them (see the module's
/// comment). `tables` keeps the issuer key's tables from one call to the next; `holder`
/// must not be of small order (the caller refuses such keys, as `verify_strict` does).
#[allow(non_snake_case)]
pub fn verify_pair(
    tables: &KeyTables,
    issuer: &VerifyingKey,
    issuer_msg: &[u8],
    issuer_sig: &Signature,
    holder: &VerifyingKey,
    holder_msg: &[u8],
    holder_sig: &Signature,
) -> bool {
    // s below the group order (RFC 8032 section 5.1.7, step 1).
    let (Some(s1), Some(s2)) = (
        Option::<Scalar>::from(Scalar::from_canonical_bytes(*issuer_sig.s_bytes())),
        Option::<Scalar>::from(Scalar::from_canonical_bytes(*holder_sig.s_bytes())),
    ) else {
        return false;
    };
    let (Some(R1), Some(R2)) = (strict_r(issuer_sig), strict_r(holder_sig)) else {
        return false;
    };
    if holder.is_weak() {
        return false;
    }
    let h1 = challenge(issuer_sig, issuer, issuer_msg);
    let h2 = challenge(holder_sig, holder, holder_msg);
    let z1 = coefficient(&h1, &h2, issuer_sig.s_bytes(), holder_sig.s_bytes());
    let (k1, k2) = (
        Scalar::from_bytes_mod_order_wide(&h1),
        Scalar::from_bytes_mod_order_wide(&h2),
    );
    let table = tables.get(issuer);
    let Some(table) = &table.0 else {
        return false;
    };
    // -(z1 s1 + s2) B + (z1 k1) A1 + z1 R1 + R2 + k2 A2 = 0
    table
        .vartime_mixed_multiscalar_mul(
            [-(z1 * s1 + s2), z1 * k1],
            [z1, Scalar::ONE, k2],
            [R1, R2, holder.to_edwards()],
        )
        .is_identity()
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::{Signer, SigningKey};
    use rand_core::{RngCore, SeedableRng};

    /// The signature over `m` by secret scalar `a` under public key bytes `big_a`, with R
    /// written as `r_bytes` and s = r + k a: whatever R and the key are, only their owner
    /// could make it. `r` is the nonce R stands for (zero for R of small order alone).
    fn sign_raw(a: Scalar, big_a: &[u8; 32], r: Scalar, r_bytes: [u8; 32], m: &[u8]) -> Signature {
        let k = Scalar::from_bytes_mod_order_wide(
            &Sha512::new()
                .chain_update(r_bytes)
                .chain_update(big_a)
                .chain_update(m)
                .finalize()
                .into(),
        );
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&r_bytes);
        b[32..].copy_from_slice((r + k * a).as_bytes());
        Signature::from_bytes(&b)
    }

    /// A nonce taken from the message alone (the tests need any r, not a secret one).
    fn nonce(m: &[u8]) -> Scalar {
        Scalar::from_bytes_mod_order_wide(&Sha512::digest(m).into())
    }

    /// A holder signature over `m` by `x` whose R is `[r]B + extra` (encoded as `r_bytes`
    /// if given; r = 0 unless `with_r`).
    fn crafted(
        x: &SigningKey,
        m: &[u8],
        extra: curve25519_dalek::EdwardsPoint,
        r_bytes: Option<[u8; 32]>,
        with_r: bool,
    ) -> Signature {
        let r = if with_r { nonce(m) } else { Scalar::ZERO };
        let big_r = r_bytes.unwrap_or((ED25519_BASEPOINT_POINT * r + extra).compress().0);
        sign_raw(x.to_scalar(), x.verifying_key().as_bytes(), r, big_r, m)
    }

    /// A key `[a]B + T` with T of small order (a mixed-order key: not refused as weak), and
    /// a signature by it made the standard way; `verify_strict` accepts it only when the
    /// challenge happens to make `[k]T` vanish.
    fn mixed_key_signature(seed: &SigningKey, t: usize, m: &[u8]) -> (VerifyingKey, Signature) {
        let a = seed.to_scalar();
        let big_a = (ED25519_BASEPOINT_POINT * a + EIGHT_TORSION[t]).compress();
        let r = nonce(m);
        let big_r = (ED25519_BASEPOINT_POINT * r).compress().0;
        let key = VerifyingKey::from_bytes(big_a.as_bytes()).unwrap();
        (key, sign_raw(a, big_a.as_bytes(), r, big_r, m))
    }

    #[test]
    fn an_r_encoded_with_y_at_or_past_p_is_refused() {
        // y = 3 + p: a point that is not of small order, written the second way. No one can
        // sign with it (its discrete log is unknown), but strict verification compares R's
        // bytes with a canonical encoding, so the batch refuses it too.
        let mut y = [0xff; 32];
        y[0] = 0xf0;
        y[31] = 0x7f;
        assert!(CompressedEdwardsY(y)
            .decompress()
            .is_some_and(|p| !p.is_small_order()));
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&y);
        assert!(strict_r(&Signature::from_bytes(&b)).is_none());
        // y = 3 written canonically decodes.
        b[..32].copy_from_slice(&[
            3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0,
        ]);
        assert!(strict_r(&Signature::from_bytes(&b)).is_some());
    }

    #[test]
    fn an_issuer_key_of_small_order_gets_no_table() {
        // The identity: torsion-free, yet of small order. Under it, R = B and s = 1 would
        // satisfy a batch's equation for any message; strict verification refuses it.
        let identity = VerifyingKey::from_bytes(&{
            let mut b = [0u8; 32];
            b[0] = 1;
            b
        })
        .unwrap();
        let tables = KeyTables::default();
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(ED25519_BASEPOINT_POINT.compress().as_bytes());
        sig[32] = 1;
        let sig = Signature::from_bytes(&sig);
        let hk = SigningKey::from_bytes(&[5; 32]);
        let m2 = b"holder";
        assert!(identity.verify_strict(b"any", &sig).is_err());
        assert!(!verify_pair(
            &tables,
            &identity,
            b"any",
            &sig,
            &hk.verifying_key(),
            m2,
            &hk.sign(m2)
        ));
    }

    #[test]
    fn the_batch_accepts_exactly_what_strict_verification_accepts() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(26);
        let tables = KeyTables::default();
        let issuers: Vec<SigningKey> = (0..3).map(|_| SigningKey::generate(&mut rng)).collect();
        let (mut accepted, mut refused) = (0, 0);
        // How often ed25519-dalek's own batch accepted a crafted signature that strict
        // verification refuses: the disagreement this batch removes.
        let mut dalek_fooled = 0;
        let (mut mixed_strict_yes, mut mixed_strict_no) = (0, 0);
        for round in 0..4000 {
            let ik = &issuers[round % 3];
            let hk = SigningKey::generate(&mut rng);
            let mut m1 = vec![0u8; 50 + round % 200];
            let mut m2 = vec![0u8; 30 + round % 90];
            rng.fill_bytes(&mut m1);
            rng.fill_bytes(&mut m2);
            let mut s = [ik.sign(&m1), hk.sign(&m2)];
            let mut k = [ik.verifying_key(), hk.verifying_key()];
            let t = round / 16 % 8;
            let mut issuer_mixed = false;
            match round % 16 {
                0..=3 => {}
                4 => {
                    let i = round % m1.len();
                    m1[i] ^= 1 << (round % 8)
                }
                5 => {
                    let i = round % m2.len();
                    m2[i] ^= 0x80
                }
                6 | 7 => {
                    let i = round % 2;
                    let mut b = s[i].to_bytes();
                    b[round % 64] ^= 1 << (round % 8);
                    s[i] = Signature::from_bytes(&b);
                }
                8 => s.swap(0, 1),
                9 => k[1] = ik.verifying_key(),
                10 => {
                    // s + l: the same point, refused as non-canonical.
                    let mut b = s[1].to_bytes();
                    // l, the group order, little-endian (RFC 8032 section 5.1).
                    let l: [u8; 32] = [
                        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2,
                        0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
                    ];
                    let mut carry = 0u16;
                    for j in 0..32 {
                        let v = b[32 + j] as u16 + l[j] as u16 + carry;
                        b[32 + j] = v as u8;
                        carry = v >> 8;
                    }
                    s[1] = Signature::from_bytes(&b);
                }
                11 => {
                    // An R that is not a point.
                    let mut b = s[0].to_bytes();
                    b[..32].copy_from_slice(&[0xff; 32]);
                    b[0] = 2 + (round % 7) as u8;
                    s[0] = Signature::from_bytes(&b);
                }
                12 => {
                    // R with a small-order component (a mixed-order point), or R of
                    // small order itself (t = 0: the identity, s = k a).
                    let with_r = t != 0 || round / 16 % 16 == 8;
                    s[1] = crafted(&hk, &m2, EIGHT_TORSION[t], None, with_r);
                }
                13 => {
                    // A holder key with a small-order component, signing the standard way.
                    (k[1], s[1]) = mixed_key_signature(&hk, 1 + t % 7, &m2);
                    if k[1].verify_strict(&m2, &s[1]).is_ok() {
                        mixed_strict_yes += 1
                    } else {
                        mixed_strict_no += 1
                    }
                }
                14 => {
                    // The same for the issuer's key: left to the separate checks.
                    (k[0], s[0]) = mixed_key_signature(ik, 1 + t % 7, &m1);
                    issuer_mixed = true;
                }
                _ => {
                    // The identity encoded with y = p + 1 (not canonical), s = k a.
                    let mut y = [0xff; 32];
                    y[0] = 0xee;
                    y[31] = 0x7f;
                    s[1] = crafted(&hk, &m2, EIGHT_TORSION[0], Some(y), false);
                }
            }
            let want =
                k[0].verify_strict(&m1, &s[0]).is_ok() && k[1].verify_strict(&m2, &s[1]).is_ok();
            let got = verify_pair(&tables, &k[0], &m1, &s[0], &k[1], &m2, &s[1]);
            if issuer_mixed {
                assert!(!got, "round {round}: a mixed-order issuer key");
            } else {
                assert_eq!(got, want, "round {round} (case {})", round % 16);
            }
            if !want && ed25519_dalek::verify_batch(&[&m1, &m2], &s, &k).is_ok() {
                dalek_fooled += 1;
            }
            if want {
                accepted += 1
            } else {
                refused += 1
            }
        }
        // Both outcomes were exercised, and the crafted cases were ones a plain batch
        // gets wrong.
        assert!(accepted > 900 && refused > 2000, "{accepted} / {refused}");
        assert!(dalek_fooled > 100, "{dalek_fooled}");
        // Mixed-order holder keys: strict verification accepted some and refused others,
        // and the batch agreed on each.
        assert!(
            mixed_strict_yes > 10 && mixed_strict_no > 10,
            "{mixed_strict_yes} / {mixed_strict_no}"
        );
        assert!(format!("{tables:?}").contains("keys"));
    }
}
