//! `check --image` on hostile images: noise JPEGs of 4000x4000 and 5200x5200 pixels (no
//! QR to find, the worst case for detection), and a phone-sized PNG of a real QR. Prints
//! the time to a verdict of each, through what `check --image` runs (QR, then PDF417, then
//! Aztec with its windowed search); the bound is 2 s on one core for any image up to 50 MB.
use std::time::Instant;

fn noise_jpeg(path: &std::path::Path, side: u32) -> u64 {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        image::Rgb([state as u8, (state >> 8) as u8, (state >> 16) as u8])
    });
    img.save_with_format(path, image::ImageFormat::Jpeg)
        .unwrap();
    std::fs::metadata(path).unwrap().len()
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    println!("| image | file size | time to a verdict | result |");
    println!("|---|---:|---:|---|");
    for side in [4000u32, 5200] {
        let p = dir.path().join(format!("noise-{side}.jpg"));
        let size = noise_jpeg(&p, side);
        let t = Instant::now();
        let r = tuaton_verifier::decode_image(&p).map(|s| s.presentation);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| {side}x{side} noise JPEG | {:.1} MB | {secs:.2} s | {} |",
            size as f64 / 1e6,
            match r {
                Ok(_) => "decoded?".to_owned(),
                Err(e) => e.to_string(),
            }
        );
    }
    // A real QR drawn large, as a phone photo of a screen would be.
    let qr = qrcode::QrCode::new(b"TT1:EXAMPLE-PAYLOAD-FOR-THE-BENCH").unwrap();
    let (w, colors) = (qr.width() as u32, qr.to_colors());
    let scale = 3000 / (w + 8);
    let side = (w + 8) * scale;
    let img = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = ((x / scale) as i64 - 4, (y / scale) as i64 - 4);
        let dark = mx >= 0
            && my >= 0
            && (mx as u32) < w
            && (my as u32) < w
            && colors[(my as u32 * w + mx as u32) as usize] == qrcode::Color::Dark;
        image::Luma([if dark { 0 } else { 255 }])
    });
    let p = dir.path().join("qr.png");
    img.save(&p).unwrap();
    let t = Instant::now();
    let r = tuaton_verifier::decode_image(&p).map(|s| s.presentation);
    println!(
        "| {}x{} QR PNG | {:.1} MB | {:.2} s | {} |",
        img.width(),
        img.height(),
        std::fs::metadata(&p).unwrap().len() as f64 / 1e6,
        t.elapsed().as_secs_f64(),
        if r.is_ok() { "decoded" } else { "NOT decoded" }
    );
}
