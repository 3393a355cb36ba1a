#![no_main]
// Scanned boarding-pass text: the parser and the cross-check must never panic.
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    if let Ok(s) = std::str::from_utf8(d) {
        let _ = tuaton_common::bcbp::BoardingPass::parse(s);
        let _ = tuaton_common::bcbp::cross_check(s, None, 1_750_000_000, Some("BKK"));
    }
});
