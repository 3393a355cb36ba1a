#![no_main]
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let _ = tuaton_common::model::CitizenRecord::from_json(d);
});
