#![no_main]
libfuzzer_sys::fuzz_target!(|s: &str| {
    let _ = tuaton_common::session::Engagement::parse(s);
    let mut r = tuaton_common::framing::Reassembler::new(4096);
    for c in s.as_bytes().chunks(20) {
        let _ = r.push(c);
    }
});
