//! QR codes drawn for people: on a terminal, or as a PNG or SVG file (the wallet's
//! presentations and the officer's offers).

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};

/// The QR code of `text` at error-correction level M.
pub fn qr(text: &str) -> Result<QrCode, qrcode::types::QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
}

/// The QR code of `text` at error-correction level L (7 %), for text shown on a screen
/// that must stay small enough for a terminal.
pub fn qr_low(text: &str) -> Result<QrCode, qrcode::types::QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L)
}

/// QR version number.
pub fn version(code: &QrCode) -> i16 {
    match code.version() {
        qrcode::Version::Normal(n) | qrcode::Version::Micro(n) => n,
    }
}

/// The QR code drawn with half blocks for a terminal (dark modules on a light quiet zone,
/// whatever the terminal's colours).
pub fn terminal(code: &QrCode) -> String {
    code.render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build()
}

/// PNG bytes, 4 pixels a module with a quiet zone.
pub fn png(code: &QrCode) -> Vec<u8> {
    let img = code
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    out.into_inner()
}

/// SVG text.
pub fn svg(code: &QrCode) -> String {
    code.render::<svg::Color>().min_dimensions(300, 300).build()
}

/// Where a QR code goes: a PNG or SVG file (by `--png` / `--svg`), or the terminal.
#[derive(Clone, Debug)]
pub enum Target {
    /// A PNG file.
    Png(std::path::PathBuf),
    /// An SVG file.
    Svg(std::path::PathBuf),
}

/// Writes `code` to the file `target` names, whole or not at all (a temporary file beside
/// it, renamed into place; removed if anything fails).
pub fn write(code: &QrCode, target: &Target) -> std::io::Result<()> {
    let (path, bytes) = match target {
        Target::Png(p) => (p, png(code)),
        Target::Svg(p) => (p, svg(code).into_bytes()),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut tmp, &bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
