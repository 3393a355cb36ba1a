#![no_main]
// What a hostile HTTP server controls: the redirect URL it names and each body it sends.
// The first line is taken as a redirect target; the rest is split on 0xFF into the bodies
// of the index, the roots and the trust list, in the order a sync asks for them.
use std::cell::RefCell;

/// Serves the bodies in order, refusing one over the reader's limit (as the gate does).
struct Bodies<'a>(RefCell<std::slice::Split<'a, u8, fn(&u8) -> bool>>);

impl tuaton_common::bundle::Source for Bodies<'_> {
    type Error = ();
    fn read(&self, _: &str, max: u64) -> Result<Vec<u8>, ()> {
        let b = self.0.borrow_mut().next().unwrap_or_default();
        if b.len() as u64 > max {
            Err(())
        } else {
            Ok(b.to_vec())
        }
    }
    fn location(&self) -> String {
        "fuzz".into()
    }
}

libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let (first, rest) = d.split_at(d.iter().position(|b| *b == b'\n').unwrap_or(d.len()));
    let _ = tuaton_common::bundle::url_origin(&String::from_utf8_lossy(first));
    let split: fn(&u8) -> bool = |b| *b == 0xFF;
    let src = Bodies(RefCell::new(rest.split(split)));
    if let Ok(raw) = tuaton_common::bundle::fetch(&src, |_| ()) {
        let _ = tuaton_common::trust::TrustState::first(
            &raw.roots,
            &raw.trust_list,
            tuaton_common::trust::Anchor::TrustOnFirstUse,
            0,
        );
    }
});
