#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    if let Ok(b) = tuaton_common::presentation::from_qr_text(s) {
        let _ = tuaton_common::presentation::Presentation::from_cbor(&b);
    }
});
