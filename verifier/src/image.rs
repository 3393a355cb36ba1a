//! `check --image`: the ID's QR code and a boarding pass's barcode in one picture,
//! bounded in bytes and pixels before decoding.

use crate::{GateError, Result};
use std::path::Path;

pub use tuaton_cli::picture::{DETECT_MAX_SIDE, MAX_IMAGE_BYTES};

/// What a picture held: the ID presentation (a QR code) and a boarding pass (PDF417,
/// Aztec or QR barcode carrying BCBP text), each when found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scanned {
    /// The QR text that is not a boarding pass (`TT1:` or `TTB1:` expected).
    pub presentation: Option<String>,
    /// BCBP text.
    pub boarding_pass: Option<String>,
}

/// Decodes the QR code in the image at `path` (the ID presentation). See
/// [`decode_image`] for boarding passes too.
pub fn decode_qr_image(path: &Path) -> Result<String> {
    use tuaton_cli::picture::{scan, Symbology};
    // QR codes only: no time spent on the symbologies of boarding passes.
    scan(path, &[Symbology::Qr], &|_| false)?
        .into_iter()
        .find(|t| !tuaton_common::bcbp::looks_like_pass(t))
        .ok_or_else(|| GateError::NoQr(path.display().to_string()))
}

/// Decodes every barcode the gate reads in the image at `path`: QR codes, and the PDF417
/// and Aztec symbols of boarding passes, through the programs' one bounded decoder
/// ([`tuaton_cli::picture`]).
pub fn decode_image(path: &Path) -> Result<Scanned> {
    use tuaton_cli::picture::{scan, Symbology};
    let is_pass = |t: &String| tuaton_common::bcbp::looks_like_pass(t);
    // One pass a picture: once one is read, no other symbology is searched.
    let texts = scan(
        path,
        &[Symbology::Qr, Symbology::Pdf417, Symbology::Aztec],
        &|found: &[String]| found.iter().any(is_pass),
    )?;
    let found = Scanned {
        boarding_pass: texts.iter().find(|t| is_pass(t)).cloned(),
        presentation: texts.into_iter().find(|t| !is_pass(t)),
    };
    if found == Scanned::default() {
        return Err(GateError::NoQr(path.display().to_string()));
    }
    Ok(found)
}
