//! `check --image` reads a boarding pass's PDF417 barcode beside the ID's QR
//! code in one picture (as a phone camera or a flatbed at the gate takes it).
use image::{GrayImage, Luma};
use rxing::Writer;
use tuaton_verifier::{decode_image, GateError, Scanned};

const PASS: &str = "M1JAIDEE/SOMCHAI MR   EABC123 BKKCNXTG 0102 153Y032A0045 100";
const ID: &str = "TT1:EXAMPLE-PAYLOAD-STANDING-IN-FOR-AN-ID-PRESENTATION";

/// Draws `format` holding `text` at (x0, y0), `scale` pixels a module.
fn draw_rxing(
    img: &mut GrayImage,
    format: rxing::BarcodeFormat,
    text: &str,
    x0: u32,
    y0: u32,
    scale: u32,
) {
    let m = rxing::MultiFormatWriter
        .encode(text, &format, 0, 0)
        .unwrap();
    for y in 0..m.getHeight() {
        for x in 0..m.getWidth() {
            if m.get(x, y) {
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(x0 + x * scale + dx, y0 + y * scale + dy, Luma([0]));
                    }
                }
            }
        }
    }
}

fn draw_qr(img: &mut GrayImage, text: &str, x0: u32, y0: u32, scale: u32) {
    let qr = qrcode::QrCode::new(text.as_bytes()).unwrap();
    let (w, colors) = (qr.width() as u32, qr.to_colors());
    for y in 0..w {
        for x in 0..w {
            if colors[(y * w + x) as usize] == qrcode::Color::Dark {
                for dy in 0..scale {
                    for dx in 0..scale {
                        img.put_pixel(x0 + x * scale + dx, y0 + y * scale + dy, Luma([0]));
                    }
                }
            }
        }
    }
}

fn saved(img: &GrayImage) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("scan.png");
    img.save(&p).unwrap();
    (dir, p)
}

#[test]
fn a_pdf417_pass_and_the_id_qr_in_one_picture() {
    let mut img = GrayImage::from_pixel(1400, 700, Luma([255]));
    draw_qr(&mut img, ID, 40, 40, 8);
    draw_rxing(&mut img, rxing::BarcodeFormat::PDF_417, PASS, 520, 60, 3);
    let (_d, p) = saved(&img);
    assert_eq!(
        decode_image(&p).unwrap(),
        Scanned {
            presentation: Some(ID.into()),
            boarding_pass: Some(PASS.into()),
        }
    );
}

#[test]
fn an_aztec_pass_beside_the_id_qr_is_read() {
    // Phones and kiosks show Aztec. Beside a QR code, the QR's finder patterns drew the
    // Aztec detector away and the pass was silently dropped: the QR is painted out once
    // read.
    let mut img = GrayImage::from_pixel(1000, 500, Luma([255]));
    draw_qr(&mut img, ID, 40, 40, 8);
    draw_rxing(&mut img, rxing::BarcodeFormat::AZTEC, PASS, 600, 100, 6);
    let (_d, p) = saved(&img);
    assert_eq!(
        decode_image(&p).unwrap(),
        Scanned {
            presentation: Some(ID.into()),
            boarding_pass: Some(PASS.into()),
        }
    );
}

#[test]
fn a_pass_alone_is_found_but_is_not_an_id() {
    let mut img = GrayImage::from_pixel(900, 400, Luma([255]));
    draw_rxing(&mut img, rxing::BarcodeFormat::PDF_417, PASS, 40, 40, 3);
    let (_d, p) = saved(&img);
    let s = decode_image(&p).unwrap();
    assert_eq!(s.boarding_pass.as_deref(), Some(PASS));
    assert_eq!(s.presentation, None);
    assert!(matches!(
        tuaton_verifier::decode_qr_image(&p),
        Err(GateError::NoQr(_))
    ));
    // A blank picture holds nothing.
    let (_d, p) = saved(&GrayImage::from_pixel(300, 300, Luma([255])));
    assert!(matches!(decode_image(&p), Err(GateError::NoQr(_))));
}
