//! The card as an ISO 18013-5 mdoc through the real binaries: an issuer with sealed keys
//! makes an IACA root and a document signer at `init`, a P-256 wallet's card carries the
//! mdoc form, `export --mdoc` writes a DeviceResponse that verifies against the bundle's
//! `iaca.pem` with every element, `rotate` and `rotate-root` make new certificates while
//! cards already issued still verify, and an Ed25519 wallet is told it has no mdoc.
use std::process::{Command, Stdio};
use tuaton_common::mdoc::{self, x509, Iaca};
use tuaton_common::sample;
use tuaton_tests::*;

fn record(w: &World) -> String {
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    w.record("somchai", &v, sample::PORTRAIT_A)
}

/// The DeviceResponse `export --mdoc` writes (standard output not a terminal).
fn export(w: &World, name: &str) -> (i32, Vec<u8>, String) {
    let out = Command::new(bin("tuaton-wallet"))
        .args(["--home", &w.p(name), "--pin-stdin", "export", "--mdoc"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write as _;
            c.stdin
                .take()
                .unwrap()
                .write_all(format!("{PIN}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn iacas(w: &World) -> Vec<Iaca> {
    let pem = std::fs::read_to_string(w.path("bundle/iaca.pem")).expect("the bundle's iaca.pem");
    x509::from_pem(&pem)
        .unwrap()
        .iter()
        .map(|d| Iaca::from_der(d).unwrap())
        .collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn a_p256_card_exports_an_mdoc_that_verifies_against_the_bundles_iaca() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w.enroll_with("wallet", &record(&w), &["--key-type", "p256"]);
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("wallet.pkg.json")).unwrap()).unwrap();
    assert!(
        pkg["mdoc"].is_string(),
        "a P-256 card carries the mdoc form"
    );

    let (code, response, err) = export(&w, "wallet");
    assert_eq!(code, 0, "{err}");
    let roots = iacas(&w);
    assert_eq!(roots.len(), 1);
    let v = mdoc::verify(&response, &roots, &mdoc::export_transcript(), now()).unwrap();
    assert_eq!(v.doc_type, mdoc::DOC_TYPE);
    let get = |ns: &str, id: &str| v.elements.get(&(ns.to_owned(), id.to_owned())).cloned();
    assert_eq!(
        get(mdoc::NS_ISO, "given_name"),
        Some(ciborium::Value::Text("Somchai".into()))
    );
    assert_eq!(
        get(mdoc::NS_ISO, "portrait"),
        Some(ciborium::Value::Bytes(sample::PORTRAIT_A.to_vec()))
    );
    assert!(v.signer.contains("DOPA Bangkok DS 1"), "{}", v.signer);
    // The wallet says when the mdoc form needs renewing (its MSO lasts at most 30 days).
    let shown = w
        .wallet("wallet", &["--json", "show"], &format!("{PIN}\n"))
        .ok();
    let shown: serde_json::Value = serde_json::from_str(shown.trim()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(shown["mdoc_valid_until"].as_str().unwrap())
        .unwrap()
        .timestamp();
    assert_eq!(until, v.validity.valid_until);
    assert!(until <= now() + mdoc::MSO_LIFETIME_SECS, "{shown}");
    // Outside any session: a reader that expects a live session's transcript refuses it.
    let live = [0x83, 0xf6, 0xf6, 0xf6];
    assert!(mdoc::verify(&response, &roots, &live, now()).is_err());
}

#[test]
fn rotations_make_new_certificates_and_earlier_cards_still_verify() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w.enroll_with("first", &record(&w), &["--key-type", "p256"]);
    let (_, before, _) = export(&w, "first");

    // A new document signer at once (under the same IACA).
    w.issuer(&["rotate"]).ok();
    w.publish();
    w.enroll_with("second", &record(&w), &["--key-type", "p256"]);
    let (_, after, _) = export(&w, "second");
    let roots = iacas(&w);
    let a = mdoc::verify(&before, &roots, &mdoc::export_transcript(), now()).unwrap();
    let b = mdoc::verify(&after, &roots, &mdoc::export_transcript(), now()).unwrap();
    assert!(
        a.signer.contains("DS 1") && b.signer.contains("DS 2"),
        "{} / {}",
        a.signer,
        b.signer
    );

    // A new IACA with the root: the bundle then lists both, and the next document signer
    // (after the publish that carried the new IACA) chains to it.
    w.issuer(&["rotate-root"]).ok();
    w.publish();
    assert_eq!(iacas(&w).len(), 2);
    w.issuer(&["rotate"]).ok();
    w.publish();
    w.enroll_with("third", &record(&w), &["--key-type", "p256"]);
    let (_, third, _) = export(&w, "third");
    let roots = iacas(&w);
    let c = mdoc::verify(&third, &roots, &mdoc::export_transcript(), now()).unwrap();
    assert!(c.signer.contains("DS 3"), "{}", c.signer);
    assert!(mdoc::verify(&third, &roots[..1], &mdoc::export_transcript(), now()).is_err());
    assert!(mdoc::verify(&before, &roots, &mdoc::export_transcript(), now()).is_ok());
}

#[test]
fn an_ed25519_card_has_no_mdoc_and_says_so() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w.enroll_with("wallet", &record(&w), &[]);
    let (code, out, err) = export(&w, "wallet");
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("no mdoc"), "{err}");
    assert!(err.contains("--key-type p256"), "{err}");
}

#[test]
fn a_package_whose_mdoc_binds_another_key_is_refused_at_import() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w.enroll_with("a", &record(&w), &["--key-type", "p256"]);
    w.enroll_with("b", &record(&w), &["--key-type", "p256"]);
    // b's package with a's mdoc form: the other forms are b's, the mdoc is not.
    let mut b: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("b.pkg.json")).unwrap()).unwrap();
    let a: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("a.pkg.json")).unwrap()).unwrap();
    b["mdoc"] = a["mdoc"].clone();
    std::fs::write(w.path("mixed.pkg.json"), b.to_string()).unwrap();
    let r = w.wallet(
        "b",
        &["import", &w.p("mixed.pkg.json")],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("another device key"), "{}", r.stderr);
}

#[test]
fn an_issuer_with_a_long_thai_name_makes_its_certificates() {
    // X.520 counts characters: 40 Thai letters are 120 bytes of UTF-8.
    let w = World::new();
    let name = "กรมการปกครอง กระทรวงมหาดไทย สำนักบริหารการทะเบียน";
    w.issuer(&["init", "--name", name]).ok();
    w.enroll_with("wallet", &record(&w), &["--key-type", "p256"]);
    let (code, response, err) = export(&w, "wallet");
    assert_eq!(code, 0, "{err}");
    let v = mdoc::verify(&response, &iacas(&w), &mdoc::export_transcript(), now()).unwrap();
    assert!(v.signer.contains("กรมการปกครอง"), "{}", v.signer);
}

#[test]
fn an_expired_document_signer_leaves_the_mdoc_out_until_rotate() {
    let w = World::new();
    let t0 = now();
    let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339();
    w.issuer(&["--at", &at(t0), "init", "--name", "DOPA Bangkok"])
        .ok();
    w.enroll_with("first", &record(&w), &["--key-type", "p256"]);
    // 400 days on, the document signer (365 days) has expired: the card is still issued,
    // without its mdoc form.
    let later = at(t0 + 400 * 86_400);
    let req = w.new_wallet_with("second", &["--key-type", "p256"]);
    let pkg = w.p("second.pkg.json");
    let issue_later = || {
        let args = [
            "--at",
            &later,
            "issue",
            "--record",
            &record(&w),
            "--request",
            &req,
        ];
        let r = w.issuer(&[&args[..], &["--out", &pkg]].concat());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&pkg).unwrap()).unwrap();
        v
    };
    assert!(
        issue_later()["mdoc"].is_null(),
        "no mdoc from an expired signer"
    );
    // `rotate` makes a new document signer; the next card has its mdoc again.
    w.issuer(&["--at", &later, "rotate"]).ok();
    let v = issue_later();
    assert!(v["mdoc"].is_string(), "a new signer after rotate");
}
