//! Shared fixtures: a deterministic issuer, trust store and credentials.
#![allow(dead_code)]

use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use tuaton_common::gate::{GateCredential, StatusRef};
use tuaton_common::presentation::{self, Profile};
use tuaton_common::trust::{IssuerKey, KeyState, TrustStore, TrustedIssuer};
use tuaton_common::verify::{
    self, Context, MemoryReplay, Policy, StatusLookup, StatusView, Verdict,
};

/// 2025-06-01T00:00:00Z: inside every sample card's validity but the expired one.
pub const NOW: i64 = 1_748_736_000;
/// Issuance time of the sample credentials (2025-01-01).
pub const ISSUED: i64 = 1_735_689_600;
pub const KID: [u8; 4] = [0xA1, 0xB2, 0xC3, 0xD4];

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn issuer_key() -> SigningKey {
    key(1)
}
pub fn holder_key() -> SigningKey {
    key(2)
}

pub fn trust() -> TrustStore {
    TrustStore {
        issuers: vec![TrustedIssuer {
            id: 1,
            name: "DOPA".into(),
            did: None,
        }],
        keys: vec![IssuerKey {
            issuer: 1,
            kid: KID.to_vec(),
            public: issuer_key().verifying_key(),
            not_before: ISSUED - 86_400,
            not_after: None,
            state: KeyState::Active,
        }],
        expires: Some(NOW + 30 * 86_400),
        ..Default::default()
    }
}

pub fn issue_with(
    citizen: usize,
    signer: &SigningKey,
    issued_at: i64,
    status_index: u64,
) -> GateCredential {
    let mut rng = StdRng::seed_from_u64(citizen as u64);
    let mut i =
        tuaton_common::sample::Issue::new(citizen, signer, holder_key().verifying_key(), issued_at);
    i.kid = KID.to_vec();
    i.status.index = status_index;
    i.gate(&mut rng).unwrap()
}

pub fn credential(citizen: usize) -> GateCredential {
    issue_with(citizen, &issuer_key(), ISSUED, 42 + citizen as u64)
}

pub fn qr(cred: &GateCredential, profile: Profile, at: i64) -> String {
    presentation::to_qr_text(&presentation::present(cred, &holder_key(), profile, at).unwrap())
}

/// A status list: the listed indices are revoked.
pub struct Revoked(pub Vec<u64>);
impl StatusView for Revoked {
    fn lookup(&self, _: u32, s: StatusRef, _: i64) -> StatusLookup {
        if self.0.contains(&s.index) {
            StatusLookup::Revoked
        } else {
            StatusLookup::Good
        }
    }
}

/// The gate policy that asks for what `profile` shows (a gate set up for that use).
#[allow(dead_code)]
pub fn policy_for(profile: tuaton_common::presentation::Profile) -> Policy {
    use tuaton_common::presentation::Profile;
    use tuaton_common::verify::Requirement;
    Policy {
        require: match profile {
            Profile::Flight => Requirement::Flight,
            Profile::Age => Requirement::Age,
            Profile::Full => Requirement::Full,
        },
        ..Policy::default()
    }
}

/// The policy for whatever profile `text` presents (undecodable text: the default).
pub fn policy_of(text: &str) -> Policy {
    use tuaton_common::gate::Group;
    use tuaton_common::presentation::{self, Presentation, Profile};
    let bytes = presentation::from_qr_text(text).unwrap_or_default();
    match Presentation::from_cbor(&bytes) {
        Ok(p) if p.disclosures.contains_key(&Group::Details) => policy_for(Profile::Full),
        Ok(p) if p.disclosures.keys().eq([Group::AgeOver20].iter()) => policy_for(Profile::Age),
        _ => Policy::default(),
    }
}

/// Verifies `text` at a gate whose policy asks for what the presentation shows.
pub fn check_with(text: &str, now: i64, trust: &TrustStore, status: &dyn StatusView) -> Verdict {
    let mut replay = MemoryReplay::default();
    let mut ctx = Context::new(now, trust, status, &mut replay).with_policy(policy_of(text));
    verify::verify_qr(text, &mut ctx)
}

pub fn check(text: &str) -> Verdict {
    check_with(text, NOW, &trust(), &Revoked(vec![]))
}

pub fn codes(v: &Verdict) -> Vec<&'static str> {
    v.reasons.iter().map(|r| r.code()).collect()
}

/// Citizen 0's flight presentation checked now against `trust`.
pub fn check_against(trust: &TrustStore) -> Verdict {
    check_with(
        &qr(&credential(0), Profile::Flight, NOW),
        NOW,
        trust,
        &Revoked(vec![]),
    )
}

/// Runs `f` in a verify context with the default trust, no revocations, a fresh replay
/// cache and the given nonce, policy and highest trusted time.
pub fn in_context<T>(
    nonce: Option<&[u8]>,
    policy: Policy,
    highest: Option<i64>,
    f: impl FnOnce(&mut Context<'_>) -> T,
) -> T {
    let trust = trust();
    let status = Revoked(vec![]);
    let mut replay = MemoryReplay::default();
    let mut ctx = Context::new(NOW, &trust, &status, &mut replay)
        .with_policy(policy)
        .with_nonce(nonce)
        .with_highest_trusted_time(highest);
    f(&mut ctx)
}

/// Salts from SHA-256("tuaton test vector salt" || counter): reproducible in any language.
pub struct VectorRng(pub u64);
impl RngCore for VectorRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let h = Sha256::new()
                .chain_update(b"tuaton test vector salt")
                .chain_update(self.0.to_be_bytes())
                .finalize();
            self.0 += 1;
            chunk.copy_from_slice(&h[..chunk.len()]);
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for VectorRng {}

/// The holder of [`holder_key`] signing with a point of small order (`EIGHT_TORSION[torsion]`)
/// added to R, or (`r: false`) R the identity itself, with s made to fit: RFC 8032's
/// equation then holds only up to that point (or, for the identity, exactly, the private key
/// laid bare as s / k). Only the key's owner can make either. Strict verification refuses
/// both (FORMAT.md section 4); a plain Ed25519 batch accepts the first for about half of its
/// random coefficients, and the second always.
pub struct TorsionHolder {
    pub torsion: usize,
    pub r: bool,
}
impl tuaton_common::holder::HolderSigner for TorsionHolder {
    fn holder_key(&self) -> tuaton_common::holder::HolderKey {
        holder_key().verifying_key().into()
    }
    fn sign_holder(&self, message: &[u8]) -> [u8; 64] {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::Scalar;
        use sha2::Sha512;
        let r = if self.r {
            Scalar::from_bytes_mod_order_wide(&Sha512::digest(message).into())
        } else {
            Scalar::ZERO
        };
        let big_r = (ED25519_BASEPOINT_POINT * r + EIGHT_TORSION[self.torsion]).compress();
        let mut h = Sha512::new();
        h.update(big_r.as_bytes());
        h.update(holder_key().verifying_key().as_bytes());
        h.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&h.finalize().into());
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(big_r.as_bytes());
        sig[32..].copy_from_slice((r + k * holder_key().to_scalar()).as_bytes());
        sig
    }
}
