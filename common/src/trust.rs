//! Trust data the verify engine consults: issuers, their signing keys with windows and
//! states, and how fresh the bundle is. (Root documents and the signed trust list that
//! produce a `TrustStore` build on this.)

use ed25519_dalek::VerifyingKey;

/// Where a signing key is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyState {
    /// Signing now.
    Active,
    /// No longer signs; what it signed inside its window still verifies.
    Retired,
    /// Compromised at the given Unix time: nothing it signed verifies.
    Revoked {
        /// When it was revoked.
        at: i64,
    },
}

/// One issuer signing key as the trust list states it.
#[derive(Clone, Debug)]
pub struct IssuerKey {
    /// The issuer's number (the gate form's `issuer`).
    pub issuer: u32,
    /// Key id. Several keys may share one: the engine tries each.
    pub kid: Vec<u8>,
    /// The Ed25519 public key.
    pub public: VerifyingKey,
    /// Start of the signing window, Unix seconds.
    pub not_before: i64,
    /// End of the signing window (exclusive); `None` while the key is active.
    pub not_after: Option<i64>,
    /// State.
    pub state: KeyState,
}

impl IssuerKey {
    /// Whether a credential issued at `t` falls inside this key's signing window.
    pub fn window_contains(&self, t: i64) -> bool {
        t >= self.not_before && self.not_after.is_none_or(|end| t < end)
    }
}

/// An issuer the gate trusts.
#[derive(Clone, Debug)]
pub struct TrustedIssuer {
    /// Its number.
    pub id: u32,
    /// Display name, e.g. "Department of Provincial Administration".
    pub name: String,
}

/// Everything the engine needs to know about whom to trust.
#[derive(Clone, Debug, Default)]
pub struct TrustStore {
    /// Trusted issuers.
    pub issuers: Vec<TrustedIssuer>,
    /// Their keys.
    pub keys: Vec<IssuerKey>,
    /// When this trust data stops being current (Unix seconds); past it, verdicts carry
    /// the `trust_stale` warning.
    pub expires: Option<i64>,
}

impl TrustStore {
    /// Keys of `issuer` with this kid.
    pub fn keys_for<'a>(&'a self, issuer: u32, kid: &'a [u8]) -> impl Iterator<Item = &'a IssuerKey> + 'a {
        self.keys.iter().filter(move |k| k.issuer == issuer && k.kid == kid)
    }
    /// The issuer's display name.
    pub fn issuer_name(&self, id: u32) -> Option<&str> {
        self.issuers.iter().find(|i| i.id == id).map(|i| i.name.as_str())
    }
}
