//! The issuer: every rule of issuance written once ([`Issuer`], in `core`) over a store
//! seam ([`seam`]) with two stores: the embedded sled store ([`sled_store`], one office,
//! offline, no setup) and PostgreSQL ([`pg`], the issuance service, many instances). The
//! binary is a thin shell over [`Issuer`].
//!
//! Rooms: `error`; [`seam`] (what a store keeps); `core` (issuance, the key lifecycle,
//! roots, publish inputs, refresh, the audit); `issue` (claims, signing both forms, input
//! files); `publish` (building a bundle generation, writing it); [`sled_store`] and
//! `backup`; [`pg`] (and the offices and offers only the service has); [`token`] (keys in
//! a PKCS#11 token); [`http`] (the axum service and its client).

mod app;
mod backup;
pub mod console;
mod core;
mod error;
pub mod http;
mod issue;
pub mod metrics;
pub mod pg;
mod publish;
pub mod seam;
pub mod sled_store;
pub mod token;

pub use backup::MAX_BACKUP_BYTES;
pub use core::{
    Actor, InitOptions, IssuedRecord, Issuer, KeyReport, KeySource, FILL_DENOMINATOR,
    FILL_NUMERATOR, LISTS_PER_ISSUE, PROBES_PER_LIST, REFRESH_SKEW_SECS, RESTORE_LIST_MARGIN,
    ROOT_LIFETIME_SECS,
};
pub(crate) use error::core_error;
pub use error::{IssuerError, Result};
pub use issue::{
    check_portrait, read_portrait, read_record, read_request, MAX_PORTRAIT_BYTES, MAX_RECORD_BYTES,
    PORTRAIT_PIXELS,
};
pub use publish::{write_bundle, BuiltBundle, PublishReport, KEEP_GENERATIONS};
pub use tuaton_common::trust::kid_of;

/// Whether two secrets (a token, a hash) are equal, in time that says nothing of where
/// they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}
