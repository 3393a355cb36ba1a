#![no_main]
// What a hostile HTTP server controls: the redirect URL it names and each body it sends.
// The first line is taken as a redirect target; the rest is split on 0xFF into the bodies
// of the index, the roots and the trust list, in the order a sync asks for them.
libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let (first, rest) = d.split_at(d.iter().position(|b| *b == b'\n').unwrap_or(d.len()));
    let _ = tuaton_common::bundle::url_origin(&String::from_utf8_lossy(first));
    let mut bodies = rest.split(|b| *b == 0xFF);
    let raw = tuaton_common::bundle::fetch(
        |_, max| {
            let b = bodies.next().unwrap_or_default();
            if b.len() as u64 > max {
                Err(())
            } else {
                Ok(b.to_vec())
            }
        },
        |_| (),
    );
    if let Ok(raw) = raw {
        let _ = tuaton_common::trust::TrustState::first(
            &raw.roots,
            &raw.trust_list,
            tuaton_common::trust::Anchor::TrustOnFirstUse,
            0,
        );
    }
});
