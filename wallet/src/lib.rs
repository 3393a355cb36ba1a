//! The citizen wallet: a sled store whose contents are sealed under a random store key,
//! itself wrapped by Argon2id(PIN); the PIN policy; enrollment; import; presentations;
//! trust bundles read from a directory; the engagement session with a gate. The binary
//! is a thin shell over [`Wallet`].

#[cfg(feature = "ble")]
pub mod ble;
pub mod bundle;
pub mod engage;
mod error;
pub mod offer;
mod pin;
pub mod render;
mod store;
pub mod transport;

pub use error::{Result, WalletError};
pub use pin::{backoff_secs, Pin, MAX_ATTEMPTS};
pub use store::{Card, HeldIssuer, Unlocked, Wallet, WalletOptions};
