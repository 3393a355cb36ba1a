#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let _ = tuaton_common::trust::TrustState::first(
        &[d.to_vec()],
        d,
        tuaton_common::trust::Anchor::TrustOnFirstUse,
        0,
    );
});
