//! Sealing secrets under a PIN or passphrase: Argon2id stretches it into a key that
//! wraps the secret with ChaCha20-Poly1305. Pure: salts and nonces are passed in.

use crate::cbor::{self, err, u};
use crate::error::{Error, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use ciborium::Value;
use zeroize::{Zeroize, Zeroizing};

/// Secret bytes: no `Debug`, no `Display`, wiped when dropped.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// As a 32-byte key, if it is one.
    pub fn key32(&self) -> Option<Zeroizing<[u8; 32]>> {
        let mut k = Zeroizing::new([0u8; 32]);
        (self.0.len() == 32).then(|| {
            k.copy_from_slice(&self.0);
            k
        })
    }
}

/// Argon2id cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl KdfParams {
    /// What every real store uses: 64 MiB, 3 passes, 1 lane (~0.2 s on a phone-class core,
    /// and 64 MiB per guess for anyone who copies the store).
    pub const RELEASE: KdfParams = KdfParams {
        m_kib: 64 * 1024,
        t: 3,
        p: 1,
    };

    /// The most any sealed blob may ask for (four times [`KdfParams::RELEASE`]'s memory, at
    /// most 10 passes and 8 lanes): a blob is refused above it before any work, so a
    /// swapped file cannot make opening it run for weeks or take all memory.
    pub const MAX: KdfParams = KdfParams {
        m_kib: 256 * 1024,
        t: 10,
        p: 8,
    };

    /// Cheap parameters for tests only. Stores record their parameters, so a store made
    /// with these can never be mistaken for a production one.
    pub const fn insecure_for_tests() -> KdfParams {
        KdfParams {
            m_kib: 64,
            t: 1,
            p: 1,
        }
    }

    fn derive(&self, secret: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = argon2::Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| err(format!("argon2 parameters: {e}")))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        a.hash_password_into(secret, salt, out.as_mut())
            .map_err(|e| err(format!("argon2: {e}")))?;
        Ok(out)
    }
}

/// A secret sealed under a PIN or passphrase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sealed {
    /// KDF cost it was sealed with.
    pub params: KdfParams,
    /// Argon2 salt.
    pub salt: [u8; 16],
    /// AEAD nonce.
    pub nonce: [u8; 12],
    /// Ciphertext with tag.
    pub ciphertext: Vec<u8>,
}

/// Encrypts `plain` under a 32-byte key (ChaCha20-Poly1305), `aad` bound in.
pub fn encrypt(key: &[u8; 32], nonce: &[u8; 12], plain: &[u8], aad: &[u8]) -> Vec<u8> {
    let c = ChaCha20Poly1305::new(&(*key).into());
    c.encrypt(&(*nonce).into(), Payload { msg: plain, aad })
        .expect("in-memory encryption cannot fail")
}

/// Decrypts; `WrongSecret` if the key, nonce, aad or ciphertext is not the one sealed.
pub fn decrypt(key: &[u8; 32], nonce: &[u8; 12], ct: &[u8], aad: &[u8]) -> Result<Secret> {
    let c = ChaCha20Poly1305::new(&(*key).into());
    c.decrypt(&(*nonce).into(), Payload { msg: ct, aad })
        .map(Secret::new)
        .map_err(|_| Error::WrongSecret)
}

impl Sealed {
    /// Seals `secret` under `pass`.
    pub fn seal(
        secret: &[u8],
        pass: &[u8],
        params: KdfParams,
        salt: [u8; 16],
        nonce: [u8; 12],
        aad: &[u8],
    ) -> Result<Self> {
        let k = params.derive(pass, &salt)?;
        Ok(Sealed {
            params,
            salt,
            nonce,
            ciphertext: encrypt(&k, &nonce, secret, aad),
        })
    }

    /// Opens with `pass`.
    pub fn open(&self, pass: &[u8], aad: &[u8]) -> Result<Secret> {
        let k = self.params.derive(pass, &self.salt)?;
        decrypt(&k, &self.nonce, &self.ciphertext, aad)
    }

    /// CBOR: `[m_kib, t, p, salt, nonce, ciphertext]`.
    pub fn to_bytes(&self) -> Vec<u8> {
        cbor::encode(&Value::Array(vec![
            u(self.params.m_kib),
            u(self.params.t),
            u(self.params.p),
            Value::Bytes(self.salt.to_vec()),
            Value::Bytes(self.nonce.to_vec()),
            Value::Bytes(self.ciphertext.clone()),
        ]))
    }

    /// Inverse of [`to_bytes`](Self::to_bytes).
    pub fn from_bytes(b: &[u8]) -> Result<Self> {
        let [m, t, p, salt, nonce, ct]: [Value; 6] = cbor::array(cbor::decode(b)?, "sealed")?
            .try_into()
            .map_err(|_| err("sealed: expected 6 items"))?;
        let n = |v: &Value, w| cbor::uint(v, w).and_then(|x| u32::try_from(x).map_err(|_| err(w)));
        let params = KdfParams {
            m_kib: n(&m, "m")?,
            t: n(&t, "t")?,
            p: n(&p, "p")?,
        };
        let max = KdfParams::MAX;
        if params.m_kib > max.m_kib
            || params.t > max.t
            || params.p > max.p
            || params.t == 0
            || params.p == 0
        {
            return Err(err(format!(
                "sealed: key derivation cost (m={} KiB, t={}, p={}) is outside the allowed (at most m={}, t={}, p={})",
                params.m_kib, params.t, params.p, max.m_kib, max.t, max.p
            )));
        }
        Ok(Sealed {
            params,
            salt: cbor::fixed::<16>(salt, "salt")?,
            nonce: cbor::fixed::<12>(nonce, "nonce")?,
            ciphertext: cbor::bytes(ct, "ciphertext")?,
        })
    }
}

impl Drop for Sealed {
    fn drop(&mut self) {
        self.ciphertext.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_wrong_pass() {
        let p = KdfParams::insecure_for_tests();
        let s = Sealed::seal(b"holder key", b"27183145", p, [1; 16], [2; 12], b"wallet").unwrap();
        assert_eq!(
            s.open(b"27183145", b"wallet").unwrap().expose(),
            b"holder key"
        );
        assert!(matches!(
            s.open(b"27183146", b"wallet"),
            Err(Error::WrongSecret)
        ));
        assert!(matches!(
            s.open(b"27183145", b"issuer"),
            Err(Error::WrongSecret)
        ));
        let back = Sealed::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        // A header asking for weeks of work is refused before any.
        let mut greedy = s.clone();
        greedy.params.t = 1 << 20;
        assert!(Sealed::from_bytes(&greedy.to_bytes()).is_err());
        greedy.params = KdfParams {
            m_kib: 1 << 30,
            t: 1,
            p: 1,
        };
        assert!(Sealed::from_bytes(&greedy.to_bytes()).is_err());
        assert!(!s.to_bytes().windows(10).any(|w| w == b"holder key"));
    }
}
