//! `check --image`: the ID's QR code and a boarding pass's barcode in one picture,
//! bounded in bytes and pixels before decoding.

use crate::{GateError, Result};
use std::path::Path;

/// Largest image file `check --image` reads.
pub const MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;
/// Images are scaled down so their longer side is at most this many pixels before QR
/// detection: detection time grows with the pixel count (a 4000x4000 noise image took
/// over 90 s at full size), while a phone screen's QR still has modules of several
/// pixels at this size.
pub const DETECT_MAX_SIDE: u32 = 1280;

/// Decodes the QR code in a PNG (or JPEG) image into its text. Bounded before work: a
/// regular file of at most [`MAX_IMAGE_BYTES`], decoded under size limits, scaled to
/// [`DETECT_MAX_SIDE`] before detection.
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
    decode_image(path)?
        .presentation
        .ok_or_else(|| GateError::NoQr(path.display().to_string()))
}

/// Decodes every barcode the gate reads in the image at `path`: QR codes with rqrr, and
/// PDF417 and Aztec (the barcodes of boarding passes) with rxing. The file is bounded
/// before it is read and the picture before it is decoded.
pub fn decode_image(path: &Path) -> Result<Scanned> {
    use std::io::Read;
    let io = |source| GateError::Io {
        path: path.display().to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    let meta = f.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(io(std::io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_IMAGE_BYTES {
        return Err(GateError::TooLarge {
            what: path.display().to_string(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let mut bytes = Vec::new();
    f.take(MAX_IMAGE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(16_384);
    limits.max_image_height = Some(16_384);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let img = if img.width().max(img.height()) > DETECT_MAX_SIDE {
        img.thumbnail(DETECT_MAX_SIDE, DETECT_MAX_SIDE)
    } else {
        img
    };
    let luma = img.to_luma8();
    let mut texts: Vec<String> = Vec::new();
    let mut prepared = rqrr::PreparedImage::prepare(luma.clone());
    for grid in prepared.detect_grids() {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() {
            texts.extend(String::from_utf8(out).ok());
        }
    }
    let (w, h) = luma.dimensions();
    let raw = luma.into_raw();
    let is_pass = |t: &String| tuaton_common::bcbp::looks_like_pass(t);
    // One format at a time: rxing's multi-format reader misses an Aztec symbol beside a
    // QR code. Not finding a barcode is an error result, not a failure.
    for format in [rxing::BarcodeFormat::PDF_417, rxing::BarcodeFormat::AZTEC] {
        if texts.iter().any(is_pass) {
            break;
        }
        let mut hints = rxing::DecodeHints {
            PossibleFormats: Some([format].into_iter().collect()),
            TryHarder: Some(true),
            ..Default::default()
        };
        if let Ok(r) =
            rxing::helpers::detect_in_luma_with_hints(raw.clone(), w, h, Some(format), &mut hints)
        {
            texts.push(r.getText().to_owned());
        }
    }
    let found = Scanned {
        boarding_pass: texts.iter().find(|t| is_pass(t)).cloned(),
        presentation: texts.into_iter().find(|t| !is_pass(t)),
    };
    if found == Scanned::default() {
        return Err(GateError::NoQr(path.display().to_string()));
    }
    Ok(found)
}
