//! Who signs: an Ed25519 key the process holds, or one it only asks to sign (a PKCS#11
//! token, where the private half never leaves the device). Every issuer-side signature in
//! `common` (the gate form, the W3C form, status lists, roots, trust lists) goes through
//! [`KeySigner`], so the same code runs with either.

use crate::error::{Error, Result};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Makes pure Ed25519 signatures (RFC 8032, no prehash) with one key.
pub trait KeySigner: Send + Sync {
    /// The public half.
    fn public_key(&self) -> VerifyingKey;
    /// Signs `message`. A key held elsewhere can fail (a token unplugged, a session
    /// closed): that is [`Error::Signer`], never a panic.
    fn sign_message(&self, message: &[u8]) -> Result<[u8; 64]>;
}

impl KeySigner for SigningKey {
    fn public_key(&self) -> VerifyingKey {
        self.verifying_key()
    }
    fn sign_message(&self, message: &[u8]) -> Result<[u8; 64]> {
        Ok(self.sign(message).to_bytes())
    }
}

/// Signs and checks the signature against the public key before it is used: a token that
/// returns garbage (or signs with another key) is caught here, not by every gate later.
pub fn sign_checked(key: &dyn KeySigner, message: &[u8]) -> Result<[u8; 64]> {
    let sig = key.sign_message(message)?;
    key.public_key()
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| {
            Error::Signer(
                "the key returned a signature that does not verify under its public key".into(),
            )
        })?;
    Ok(sig)
}
