//! Holder keys: the key a card is bound to (the gate form's payload key 7) and that signs
//! every presentation's holder proof. Ed25519 (COSE alg -8), or P-256 with ES256 (COSE alg
//! -7): the secure hardware of phones (the iPhone's Secure Enclave, Android's StrongBox)
//! holds P-256 keys only, and a holder key belongs there.
//!
//! The key's length says which: 32 bytes are an Ed25519 public key (RFC 8032), 33 bytes a
//! compressed P-256 point (SEC 1 section 2.3.3, first byte 02 or 03). Either signature is 64
//! bytes: Ed25519's `R || S`, or ES256's `r || s`, each 32 bytes big-endian (RFC 9053
//! section 2.1), over the message itself (ECDSA hashes it with SHA-256).

use p256::ecdsa::signature::Signer as _;

/// Length of an Ed25519 holder key.
pub const ED25519_LEN: usize = 32;
/// Length of a P-256 holder key (compressed point).
pub const P256_LEN: usize = 33;

/// A holder key as a credential carries it: its bytes, parsed only when a proof is
/// checked (a point that does not decode is then a proof that does not verify).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub enum HolderKey {
    /// An Ed25519 public key.
    Ed25519([u8; ED25519_LEN]),
    /// A compressed P-256 point.
    P256([u8; P256_LEN]),
}

/// Which kind of holder key (`tuaton-wallet init --key-type`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyType {
    /// Ed25519: EdDSA, COSE alg -8.
    Ed25519,
    /// P-256: ES256, COSE alg -7.
    P256,
}

impl KeyType {
    /// `ed25519` or `p256`.
    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "ed25519" => Some(KeyType::Ed25519),
            "p256" => Some(KeyType::P256),
            _ => None,
        }
    }

    /// Its COSE algorithm (RFC 9053): -8 EdDSA, -7 ES256.
    pub fn cose_alg(self) -> i64 {
        match self {
            KeyType::Ed25519 => -8,
            KeyType::P256 => -7,
        }
    }

    /// Its name on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Ed25519 => "ed25519",
            KeyType::P256 => "p256",
        }
    }
}

impl HolderKey {
    /// The key these bytes spell, by their length; `None` for any other length.
    pub fn from_bytes(b: &[u8]) -> Option<HolderKey> {
        match b.len() {
            ED25519_LEN => b.try_into().ok().map(HolderKey::Ed25519),
            P256_LEN => b.try_into().ok().map(HolderKey::P256),
            _ => None,
        }
    }

    /// The bytes, as the credential carries them.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            HolderKey::Ed25519(b) => b,
            HolderKey::P256(b) => b,
        }
    }

    /// Which kind of key.
    pub fn key_type(&self) -> KeyType {
        match self {
            HolderKey::Ed25519(_) => KeyType::Ed25519,
            HolderKey::P256(_) => KeyType::P256,
        }
    }

    /// The Ed25519 key, if this is one.
    pub fn ed25519(&self) -> Option<[u8; ED25519_LEN]> {
        match self {
            HolderKey::Ed25519(b) => Some(*b),
            HolderKey::P256(_) => None,
        }
    }

    /// Whether `signature` is this key's over `message`: Ed25519 strictly (RFC 8032's
    /// checks, small-order keys refused), ES256 with `r` and `s` in 1..n-1. A key that does
    /// not decode verifies nothing.
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        match self {
            HolderKey::Ed25519(b) => ed25519_dalek::VerifyingKey::from_bytes(b)
                .ok()
                .filter(|k| !k.is_weak())
                .is_some_and(|k| {
                    k.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
                        .is_ok()
                }),
            // AWS-LC: the compressed point is decoded and checked to be on the curve, r
            // and s must be in 1..n-1 (a high s is accepted, as RFC 9053 allows).
            HolderKey::P256(b) => aws_lc_rs::signature::UnparsedPublicKey::new(
                &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
                b,
            )
            .verify(message, signature)
            .is_ok(),
        }
    }
}

impl From<[u8; ED25519_LEN]> for HolderKey {
    fn from(b: [u8; ED25519_LEN]) -> Self {
        HolderKey::Ed25519(b)
    }
}

impl From<ed25519_dalek::VerifyingKey> for HolderKey {
    fn from(k: ed25519_dalek::VerifyingKey) -> Self {
        HolderKey::Ed25519(k.to_bytes())
    }
}

impl From<&ed25519_dalek::VerifyingKey> for HolderKey {
    fn from(k: &ed25519_dalek::VerifyingKey) -> Self {
        HolderKey::Ed25519(k.to_bytes())
    }
}

impl From<&HolderKey> for HolderKey {
    fn from(k: &HolderKey) -> Self {
        *k
    }
}

impl From<&p256::ecdsa::VerifyingKey> for HolderKey {
    fn from(k: &p256::ecdsa::VerifyingKey) -> Self {
        let point = k.to_encoded_point(true);
        HolderKey::P256(
            point
                .as_bytes()
                .try_into()
                .expect("a compressed P-256 point is 33 bytes"),
        )
    }
}

impl PartialEq<[u8; ED25519_LEN]> for HolderKey {
    fn eq(&self, other: &[u8; ED25519_LEN]) -> bool {
        self.ed25519().as_ref() == Some(other)
    }
}

/// A wallet's holder secret, of either kind.
#[derive(Clone)]
pub enum HolderSecret {
    /// An Ed25519 signing key.
    Ed25519(ed25519_dalek::SigningKey),
    /// A P-256 signing key.
    P256(p256::ecdsa::SigningKey),
}

impl HolderSecret {
    /// A fresh secret of `kind`.
    pub fn generate(kind: KeyType, rng: &mut impl rand_core::CryptoRngCore) -> HolderSecret {
        match kind {
            KeyType::Ed25519 => HolderSecret::Ed25519(ed25519_dalek::SigningKey::generate(rng)),
            KeyType::P256 => HolderSecret::P256(p256::ecdsa::SigningKey::random(rng)),
        }
    }

    /// The secret of `kind` from its 32 bytes (the Ed25519 seed, or the P-256 scalar
    /// big-endian); `None` for a P-256 scalar of zero or not below the group order.
    pub fn from_secret(kind: KeyType, bytes: &[u8; 32]) -> Option<HolderSecret> {
        match kind {
            KeyType::Ed25519 => Some(HolderSecret::Ed25519(
                ed25519_dalek::SigningKey::from_bytes(bytes),
            )),
            KeyType::P256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .ok()
                .map(HolderSecret::P256),
        }
    }

    /// The 32 secret bytes, for sealing.
    pub fn secret(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(match self {
            HolderSecret::Ed25519(k) => k.to_bytes(),
            HolderSecret::P256(k) => k.to_bytes().into(),
        })
    }

    /// Which kind.
    pub fn key_type(&self) -> KeyType {
        match self {
            HolderSecret::Ed25519(_) => KeyType::Ed25519,
            HolderSecret::P256(_) => KeyType::P256,
        }
    }
}

impl HolderSigner for HolderSecret {
    fn holder_key(&self) -> HolderKey {
        match self {
            HolderSecret::Ed25519(k) => k.holder_key(),
            HolderSecret::P256(k) => k.holder_key(),
        }
    }
    fn sign_holder(&self, message: &[u8]) -> [u8; 64] {
        match self {
            HolderSecret::Ed25519(k) => k.sign_holder(message),
            HolderSecret::P256(k) => k.sign_holder(message),
        }
    }
}

/// What signs holder proofs: a wallet's holder secret, of either kind.
pub trait HolderSigner {
    /// The public key credentials are bound to.
    fn holder_key(&self) -> HolderKey;
    /// The 64-byte signature of `message` (Ed25519, or ES256's `r || s`).
    fn sign_holder(&self, message: &[u8]) -> [u8; 64];
}

impl HolderSigner for ed25519_dalek::SigningKey {
    fn holder_key(&self) -> HolderKey {
        self.verifying_key().into()
    }
    fn sign_holder(&self, message: &[u8]) -> [u8; 64] {
        ed25519_dalek::Signer::sign(self, message).to_bytes()
    }
}

impl HolderSigner for p256::ecdsa::SigningKey {
    fn holder_key(&self) -> HolderKey {
        self.verifying_key().into()
    }
    fn sign_holder(&self, message: &[u8]) -> [u8; 64] {
        // RFC 6979 deterministic nonces: no randomness needed at signing.
        let s: p256::ecdsa::Signature = self.sign(message);
        s.to_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_kinds_sign_and_verify_and_refuse_each_other() {
        let ed = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let p = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        for (signer, len, kind) in [
            (&ed as &dyn HolderSigner, 32, KeyType::Ed25519),
            (&p as &dyn HolderSigner, 33, KeyType::P256),
        ] {
            let k = signer.holder_key();
            assert_eq!(k.as_bytes().len(), len);
            assert_eq!(k.key_type(), kind);
            assert_eq!(HolderKey::from_bytes(k.as_bytes()), Some(k));
            let sig = signer.sign_holder(b"m");
            assert!(k.verify(b"m", &sig));
            assert!(!k.verify(b"n", &sig));
        }
        assert!(!ed.holder_key().verify(b"m", &p.sign_holder(b"m")));
        assert!(!p.holder_key().verify(b"m", &ed.sign_holder(b"m")));
        assert_eq!(HolderKey::from_bytes(&[2; 31]), None);
        assert_eq!(HolderKey::from_bytes(&[2; 65]), None);
    }

    #[test]
    fn aws_lc_and_the_pure_rust_p256_agree_on_every_mutated_proof() {
        use p256::ecdsa::signature::Verifier as _;
        let mut agreed = 0;
        for i in 0..64u8 {
            let k = p256::ecdsa::SigningKey::from_slice(&[i + 1; 32]).unwrap();
            let msg = vec![i; 40 + i as usize];
            let sig = k.sign_holder(&msg);
            for flip in [
                None,
                Some(0),
                Some(31),
                Some(32),
                Some(63),
                Some(i as usize % 64),
            ] {
                let mut s = sig;
                if let Some(b) = flip {
                    s[b] ^= 1 << (i % 8);
                }
                let pure = p256::ecdsa::Signature::from_slice(&s)
                    .is_ok_and(|s| k.verifying_key().verify(&msg, &s).is_ok());
                assert_eq!(
                    k.holder_key().verify(&msg, &s),
                    pure,
                    "key {i}, flip {flip:?}"
                );
                assert_eq!(pure, flip.is_none());
                agreed += 1;
            }
        }
        assert_eq!(agreed, 64 * 6);
    }

    #[test]
    fn a_p256_key_off_the_curve_or_a_zero_signature_verifies_nothing() {
        let p = p256::ecdsa::SigningKey::from_slice(&[7; 32]).unwrap();
        let good = p.holder_key();
        let sig = p.sign_holder(b"m");
        let mut off = good.as_bytes().to_vec();
        off[0] = 0x04; // not a compressed point's tag
        assert!(!HolderKey::from_bytes(&off).unwrap().verify(b"m", &sig));
        assert!(!good.verify(b"m", &[0; 64]));
        // s replaced by n - s: ES256 as RFC 9053 has it does not require low s, so the
        // other half of the pair verifies too (the replay cache keys on the message).
        let n = hex::decode("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
            .unwrap();
        let mut high = sig;
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = n[i] as i16 - sig[32 + i] as i16 - borrow;
            high[32 + i] = d.rem_euclid(256) as u8;
            borrow = i16::from(d < 0);
        }
        assert!(good.verify(b"m", &high));
    }
}
