#![no_main]
// A reader's checks of a DeviceResponse, a wallet's of an IssuerSigned, an `mdoc:`
// engagement and a SessionEstablishment, on any bytes: a refusal, never a panic. The IACA is the committed vector's, so inputs built from the
// vector's responses reach the deeper checks.
use std::sync::OnceLock;

fn iaca() -> &'static tuaton_common::mdoc::Iaca {
    static IACA: OnceLock<tuaton_common::mdoc::Iaca> = OnceLock::new();
    IACA.get_or_init(|| {
        // The vector's two PEM certificates; the IACA is the one that is a CA.
        let text = include_str!("../../docs/vectors/mdoc-v1.json").replace("\\n", "\n");
        tuaton_common::mdoc::x509::from_pem(&text)
            .unwrap()
            .iter()
            .find_map(|d| tuaton_common::mdoc::Iaca::from_der(d).ok())
            .unwrap()
    })
}

libfuzzer_sys::fuzz_target!(|d: &[u8]| {
    let transcript = tuaton_common::mdoc::export_transcript();
    let _ =
        tuaton_common::mdoc::verify(d, std::slice::from_ref(iaca()), &transcript, 1_796_342_400);
    let key = tuaton_common::holder::HolderKey::from_bytes(&[2; 33]);
    if let Some(k) = key {
        let _ = tuaton_common::mdoc::check_issued(d, &k);
    }
    let _ = tuaton_common::mdoc::x509::Parsed::from_der(d);
    if let Ok(text) = std::str::from_utf8(d) {
        let _ = tuaton_common::mdoc_session::Engagement::parse(text);
    }
    let secret = p256::SecretKey::from_slice(&[7; 32]).unwrap();
    let engagement = tuaton_common::mdoc_session::Engagement::new(&secret.public_key());
    let _ = tuaton_common::mdoc_session::DeviceSession::accept(
        &engagement,
        &secret,
        d,
        std::slice::from_ref(iaca()),
        1_796_342_400,
    );
});
