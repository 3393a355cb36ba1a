//! tuaton's pure core: the Thai ID card model, its two credential forms (compact COSE
//! gate form, W3C VC), presentations, trust data and the offline verify engine.
//!
//! Nothing here does I/O or reads the clock: callers pass bytes, the time and state in,
//! and get typed values out. That keeps every rule testable and the binaries thin.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod bcbp;
pub mod bundle;
mod cbor;
pub mod did;
pub mod enroll;
pub mod error;
pub mod framing;
pub mod gate;
pub mod holder;
pub mod json;
pub mod link;
pub mod lp;
pub mod mdoc;
pub mod mdoc_gate;
pub mod mdoc_session;
pub mod model;
pub mod offer;
pub mod oid4vci;
pub mod package;
pub mod presentation;
pub mod sample;
pub mod seal;
pub mod session;
pub mod signer;
pub mod status;
pub mod text;
pub mod thai;
pub mod trust;
pub mod verify;
pub mod w3c;

pub use error::{Error, Result};
