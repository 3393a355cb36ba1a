#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| { let _ = tuaton_common::trust::TrustState::bootstrap(&[d.to_vec()], d); });
