//! The issuer: a sled store of sealed keys and issued credentials, and the operations of
//! `tuaton-issuer` (init, issue, rotate, revoke-key, revoke, rotate-root, keys, publish,
//! backup, restore). The binary is a thin shell over [`Issuer`].
//!
//! Rooms: `error`; `store` (opening, sealing, records); `keys` (roots and signing keys);
//! `issue` (issuance, revocation, input files; the signing both stores share); `publish`
//! (building a bundle generation, writing it); `backup`. The issuance service
//! (docs/ISSUANCE.md): [`pg`] (the issuer in PostgreSQL: offices, offers, concurrent
//! issuance), [`token`] (keys in a PKCS#11 token), [`http`] (axum service and client).

mod backup;
mod error;
pub mod http;
mod issue;
mod keys;
pub mod pg;
mod publish;
mod store;
pub mod token;

pub use backup::MAX_BACKUP_BYTES;
pub(crate) use error::core;
pub use error::{IssuerError, Result};
pub use issue::{
    check_portrait, read_portrait, read_record, read_request, MAX_PORTRAIT_BYTES, MAX_RECORD_BYTES,
    PORTRAIT_PIXELS,
};
pub use publish::{write_bundle, BuiltBundle, PublishReport, KEEP_GENERATIONS};
pub use store::{kid_of, InitOptions, IssuedRecord, Issuer};
