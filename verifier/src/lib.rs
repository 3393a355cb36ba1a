//! The gate: a sled store holding the synced trust bundle, the replay cache, the audit
//! log and the highest trusted time; sync from a directory or URL; checks that feed the
//! pure engine in `tuaton_common::verify`. The TUI and CLI are shells over [`Gate`].
//!
//! Rooms: [`error`](GateError) what can go wrong; `source` where bundles come from;
//! `store` the gate store; `sync` taking a bundle; `check` verifying a scan or a phone
//! session; [`station`] the rules between scans (what a scan is, pairing, "already
//! checked"), apart from any screen; `tui` the screen, by pane; `audit` the log; `image`
//! pictures of QR codes and boarding passes; `report` what `status` shows.

mod audit;
#[cfg(feature = "ble")]
pub mod ble;
mod check;
pub mod demo;
mod error;
mod image;
pub mod live;
mod reader;
mod report;
mod source;
pub mod station;
mod store;
mod sync;
pub mod transport;
pub mod tui;

pub use check::SessionFailure;
pub use error::{GateError, Result};
pub use image::{decode_image, decode_qr_image, Scanned, DETECT_MAX_SIDE, MAX_IMAGE_BYTES};
pub use reader::{not_allowed, MAX_READER_CERT};
pub use report::{verdict_text, StatusReport};
pub use source::{
    bundle_source, url_origin, BundleSource, DirSource, HttpSource, Source, HTTP_SYNC_DEADLINE,
};
pub use store::{Gate, Loaded};
pub use sync::{SyncOptions, SyncReport};
