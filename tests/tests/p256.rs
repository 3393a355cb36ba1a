//! A wallet whose holder key is P-256 (`init --key-type p256`, as a phone's secure hardware
//! holds it) through the real binaries: its enrollment request, the issuer's card, the
//! import checks, a QR at the gate, a session over a socket with the portrait, and the
//! W3C form naming its did:key.
use tuaton_common::sample;
use tuaton_tests::*;

fn p256_world() -> World {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = w.record("somchai", &v, sample::PORTRAIT_A);
    w.enroll_with("wallet", &rec, &["--key-type", "p256"]);
    w.sync(None).ok();
    w
}

#[test]
fn a_p256_wallet_enrols_and_its_qr_passes_the_gate() {
    let w = p256_world();
    // The request and the card carry the 33-byte key; the W3C form names it as did:key.
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("wallet.pkg.json")).unwrap()).unwrap();
    let subject = pkg["w3c"]["credentialSubject"]["id"].as_str().unwrap();
    assert!(subject.starts_with("did:key:zDn"), "{subject}");
    let (code, v) = w.check(&w.present("wallet"));
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["verdict"], "valid", "{v}");
    assert_eq!(v["claims"]["given_name_en"], "Somchai");
    // The same QR twice is a replay, as for Ed25519.
    let qr = w.present("wallet");
    assert_eq!(w.check(&qr).0, 0);
    let (code, v) = w.check(&qr);
    assert_ne!(code, 0);
    assert_eq!(v["reasons"][0], "replayed", "{v}");
}

#[test]
fn a_p256_wallet_answers_a_session_with_the_portrait() {
    let w = p256_world();
    let (c, engagement) = w.engage("wallet", &format!("{PIN}\n"));
    let (code, v) = w.check(&engagement);
    let out = c.wait_with_output().unwrap();
    assert_eq!(
        code,
        0,
        "{v}\nwallet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["claims"]["portrait_bytes"], sample::PORTRAIT_A.len());
}

#[test]
fn a_key_type_the_wallet_does_not_know_is_a_clear_error() {
    let w = World::new();
    let r = w.wallet(
        "wallet",
        &["init", "--key-type", "rsa"],
        &format!("{PIN}\n{PIN}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("ed25519 or p256"), "{}", r.stderr);
    assert!(!w.path("wallet/wallet.sled").exists());
}
