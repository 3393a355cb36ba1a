#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let _ = tuaton_common::presentation::Presentation::from_cbor(d);
});
