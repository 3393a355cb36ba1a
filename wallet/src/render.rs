//! Output for people: the QR code (terminal, PNG, SVG) and the card with its portrait in
//! half-block characters.

use qrcode::render::{svg, unicode};
use qrcode::{EcLevel, QrCode};
use tuaton_common::gate::DisclosedClaims;
use tuaton_common::model::Expiry;

/// The QR code of `text` at ECC M.
pub fn qr(text: &str) -> Result<QrCode, qrcode::types::QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
}

/// QR version number.
pub fn qr_version(code: &QrCode) -> i16 {
    match code.version() {
        qrcode::Version::Normal(n) | qrcode::Version::Micro(n) => n,
    }
}

/// The QR code drawn with half blocks for a terminal (dark modules on a light quiet zone).
pub fn qr_terminal(code: &QrCode) -> String {
    code.render::<unicode::Dense1x2>()
        .dark_color(unicode::Dense1x2::Light)
        .light_color(unicode::Dense1x2::Dark)
        .build()
}

/// PNG bytes, 4 pixels a module with a quiet zone.
pub fn qr_png(code: &QrCode) -> Vec<u8> {
    let img = code
        .render::<image::Luma<u8>>()
        .module_dimensions(4, 4)
        .build();
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageLuma8(img)
        .write_to(&mut out, image::ImageFormat::Png)
        .expect("in-memory PNG");
    out.into_inner()
}

/// SVG text.
pub fn qr_svg(code: &QrCode) -> String {
    code.render::<svg::Color>().min_dimensions(300, 300).build()
}

/// The portrait as ANSI true-colour half blocks, `cols` wide.
pub fn portrait_ansi(jpeg: &[u8], cols: u32) -> Option<String> {
    let img = image::load_from_memory(jpeg).ok()?;
    let rows = (cols * img.height() / img.width().max(1)).max(2) & !1;
    let small = img
        .resize_exact(cols, rows, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut s = String::new();
    for y in (0..rows).step_by(2) {
        for x in 0..cols {
            let t = small.get_pixel(x, y);
            let b = small.get_pixel(x, y + 1);
            s.push_str(&format!(
                "\x1b[38;2;{};{};{}m\x1b[48;2;{};{};{}m▀",
                t[0], t[1], t[2], b[0], b[1], b[2]
            ));
        }
        s.push_str("\x1b[0m\n");
    }
    Some(s)
}

/// The card as text: Thai and English names, Buddhist-Era dates, validity.
pub fn card_text(c: &DisclosedClaims, valid_now: bool) -> String {
    let mut s = String::new();
    s.push_str("บัตรประจำตัวประชาชน  Thai National ID Card\n");
    if let Some(id) = c.citizen_id {
        s.push_str(&format!("เลขประจำตัวประชาชน / ID  {}\n", id.grouped()));
    }
    let t = c.title.as_ref();
    if let (Some(g), Some(f)) = (&c.given_name_th, &c.family_name_th) {
        s.push_str(&format!(
            "ชื่อตัวและชื่อสกุล  {}{} {}\n",
            t.map(|t| t.th.as_str()).unwrap_or(""),
            g,
            f
        ));
    }
    if let (Some(g), Some(f)) = (&c.given_name_en, &c.family_name_en) {
        s.push_str(&format!(
            "Name  {} {} {}\n",
            t.map(|t| t.en.as_str()).unwrap_or(""),
            g,
            f
        ));
    }
    if let Some(b) = c.birth_date {
        s.push_str(&format!(
            "เกิดวันที่ / Date of birth  {}  ({b})\n",
            b.to_be_string()
        ));
    }
    if let Some(a) = &c.address {
        s.push_str(&format!("ที่อยู่ / Address  {a}\n"));
    }
    if let Some(d) = c.issue_date {
        s.push_str(&format!(
            "วันออกบัตร / Issued  {}  ({})\n",
            tuaton_common::thai::date_be(d),
            d.format("%Y-%m-%d")
        ));
    }
    if let Some(e) = c.expiry {
        let txt = match e {
            Expiry::Lifelong => "ตลอดชีพ / lifelong".to_owned(),
            Expiry::On(d) => format!(
                "{}  ({})",
                tuaton_common::thai::date_be(d),
                d.format("%Y-%m-%d")
            ),
        };
        s.push_str(&format!("วันบัตรหมดอายุ / Expires  {txt}\n"));
    }
    if let Some(o) = &c.issuing_office {
        s.push_str(&format!("ออกโดย / Issued by  {o}\n"));
    }
    if let Some(l) = &c.laser_code {
        s.push_str(&format!("Laser code  {}\n", l.as_str()));
    }
    s.push_str(if valid_now {
        "สถานะ / Status  ใช้ได้ / valid"
    } else {
        "สถานะ / Status  หมดอายุ / EXPIRED: renew at a registration office"
    });
    s
}
