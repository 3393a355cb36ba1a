//! The PKCS#11 token (SoftHSM) opened twice in one process: the module keeps one
//! initialisation and one login per process (the PIN is checked by the first opening), so
//! the second opening must take them as they are, and both must sign.

use tuaton_issuer::token::{Token, TokenConfig};

#[test]
fn a_token_opened_twice_in_one_process_signs_through_both() {
    let (_dir, conf) = tuaton_tests::softhsm_token("twice")
        .expect("softhsm2-util (apt-get install softhsm2; .ci/run does)");
    // This file's only test: the module reads its configuration when first initialised.
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let cfg = TokenConfig {
        module: "/usr/lib/softhsm/libsofthsm2.so".into(),
        label: "twice".into(),
        pin: tuaton_tests::SOFTHSM_PIN.into(),
    };
    let first = Token::open(&cfg).unwrap();
    let key = first.generate("k").unwrap();
    let second = Token::open(&cfg).expect("a second opening in the same process");
    let again = second.key("k").unwrap();
    assert_eq!(again.public_key(), key.public_key());
    for (who, k) in [("first", &key), ("second", &again)] {
        let sig = k.sign_message(b"both sign").unwrap();
        key.public_key()
            .verify_strict(b"both sign", &ed25519_dalek::Signature::from_bytes(&sig))
            .unwrap_or_else(|e| panic!("{who}: {e}"));
    }
}
