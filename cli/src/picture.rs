//! The one image decoder of the three programs: a picture of a screen or a printed pass
//! (PNG or JPEG) in, the texts of its barcodes out. The file is bounded in bytes before it
//! is read and the picture in pixels and memory before it is decoded; detection runs on
//! a copy scaled to [`DETECT_MAX_SIDE`].

use crate::CliError;
use image::GrayImage;
use std::path::Path;

/// Largest image file read.
pub const MAX_IMAGE_BYTES: u64 = 50 * 1024 * 1024;
/// Largest width or height decoded.
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Most memory the decoder may allocate.
pub const MAX_IMAGE_ALLOC: u64 = 1 << 30;
/// Pictures are scaled down so their longer side is at most this many pixels before
/// detection: detection time grows with the pixel count (a 4000x4000 noise image took
/// over 90 s at full size), while a phone screen's QR still has modules of several
/// pixels at this size.
pub const DETECT_MAX_SIDE: u32 = 1280;

/// The barcodes a caller looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbology {
    /// QR codes (presentations, engagements, offers; some boarding passes).
    Qr,
    /// PDF417 (what most carriers print on a boarding pass).
    Pdf417,
    /// Aztec (boarding passes on phones and kiosks).
    Aztec,
}

/// How long the search for an Aztec symbol off the picture's centre may take: a pass on a
/// phone is found in well under this, and a picture of noise costs no more.
pub const AZTEC_SEARCH: std::time::Duration = std::time::Duration::from_millis(1500);

/// Reads the picture at `path` and returns the text of every barcode of the kinds asked
/// for, QR codes first, then PDF417, then Aztec; it stops before the next kind once
/// `enough` says the texts found so far suffice. An empty list when the picture holds none.
pub fn scan(
    path: &Path,
    kinds: &[Symbology],
    enough: &dyn Fn(&[String]) -> bool,
) -> Result<Vec<String>, CliError> {
    let mut luma = decode(path)?;
    let mut texts = Vec::new();
    if kinds.contains(&Symbology::Qr) {
        let mut prepared = rqrr::PreparedImage::prepare(luma.clone());
        for grid in prepared.detect_grids() {
            let mut out = Vec::new();
            if grid.decode_to(&mut out).is_ok() {
                texts.extend(String::from_utf8(out).ok());
            }
            // A QR code's finder patterns draw other detectors to it (an Aztec symbol
            // beside one was never found): it is painted out once read.
            blank(&mut luma, &grid.bounds);
        }
    }
    let (w, h) = luma.dimensions();
    let raw = luma.into_raw();
    for (kind, format) in [
        (Symbology::Pdf417, rxing::BarcodeFormat::PDF_417),
        (Symbology::Aztec, rxing::BarcodeFormat::AZTEC),
    ] {
        if !kinds.contains(&kind) || enough(&texts) {
            continue;
        }
        // One format at a time: rxing's multi-format reader misses symbols beside others.
        if let Some(t) = detect(&raw, w, h, format) {
            texts.push(t);
        }
    }
    Ok(texts)
}

/// The first symbol of `format` in the picture: the whole picture first, then (Aztec)
/// windows around each part of it. The Aztec detector looks for the
/// bullseye from the centre of what it is given, so a symbol off to one side (a pass
/// beside the ID on one screen) is only found in a window around it. Not finding one is
/// an error result of rxing, not a failure.
fn detect(raw: &[u8], w: u32, h: u32, format: rxing::BarcodeFormat) -> Option<String> {
    let once = |pixels: Vec<u8>, w: u32, h: u32| {
        let mut hints = rxing::DecodeHints {
            PossibleFormats: Some([format].into_iter().collect()),
            TryHarder: Some(true),
            ..Default::default()
        };
        rxing::helpers::detect_in_luma_with_hints(pixels, w, h, Some(format), &mut hints)
            .ok()
            .map(|r| r.getText().to_owned())
    };
    if let Some(t) = once(raw.to_vec(), w, h) {
        return Some(t);
    }
    if format != rxing::BarcodeFormat::AZTEC {
        return None;
    }
    // Square windows of falling size, sliding by a quarter of their side, so that any
    // symbol of at least a sixth of the picture's shorter side is near some window's
    // centre. Windows with no dark pixel (a painted-out QR code, a margin) are skipped.
    let short = w.min(h);
    let started = std::time::Instant::now();
    for side in [short, short * 2 / 3, short / 2, short / 3] {
        // Too small to hold a symbol, or the whole square picture already tried.
        if side < 64 || (side == w && side == h) {
            continue;
        }
        let step = (side / 4) as usize;
        for y0 in (0..=h - side).step_by(step) {
            for x0 in (0..=w - side).step_by(step) {
                let mut win = Vec::with_capacity((side * side) as usize);
                for y in y0..y0 + side {
                    let row = (y * w + x0) as usize;
                    win.extend_from_slice(&raw[row..row + side as usize]);
                }
                if !win.iter().any(|&p| p < 128) {
                    continue;
                }
                if started.elapsed() > AZTEC_SEARCH {
                    return None;
                }
                if let Some(t) = once(win, side, side) {
                    return Some(t);
                }
            }
        }
    }
    None
}

/// Decodes the picture under the bounds, scaled for detection, in grey.
fn decode(path: &Path) -> Result<GrayImage, CliError> {
    let bad = |reason: String| CliError::Picture {
        path: path.display().to_string(),
        reason,
    };
    let bytes = crate::read_bounded(path, MAX_IMAGE_BYTES)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad(format!("it is larger than {} MiB", MAX_IMAGE_BYTES >> 20)))?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_ALLOC);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| bad(format!("not a PNG or JPEG picture it can read ({e})")))?;
    let img = if img.width().max(img.height()) > DETECT_MAX_SIDE {
        img.thumbnail(DETECT_MAX_SIDE, DETECT_MAX_SIDE)
    } else {
        img
    };
    Ok(img.to_luma8())
}

/// Paints the bounding box of a found code white, with a margin of a tenth of its size.
fn blank(img: &mut GrayImage, corners: &[rqrr::Point; 4]) {
    let xs = corners.iter().map(|p| p.x);
    let ys = corners.iter().map(|p| p.y);
    let (x0, x1) = (xs.clone().min().unwrap_or(0), xs.max().unwrap_or(0));
    let (y0, y1) = (ys.clone().min().unwrap_or(0), ys.max().unwrap_or(0));
    let m = ((x1 - x0).max(y1 - y0) / 10).max(2);
    let (w, h) = (img.width() as i32, img.height() as i32);
    for y in (y0 - m).max(0)..(y1 + m).min(h) {
        for x in (x0 - m).max(0)..(x1 + m).min(w) {
            img.put_pixel(x as u32, y as u32, image::Luma([255]));
        }
    }
}
