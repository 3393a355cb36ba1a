//! The gate as an ISO 18013-5 reader, through the real binaries over the socket
//! transport: the airport authority certifies the gate's reader key (`tuaton-issuer
//! reader-cert`), the gate installs the certificate, the citizen's wallet shows an `mdoc:`
//! engagement (`engage --iso`), and `tuaton-verifier check` runs the session with reader
//! authentication and judges the answer against the IACAs of the signed trust list: the
//! same verdict, reasons, audit and boarding-pass pairing as any presentation.
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use tuaton_common::sample;
use tuaton_common::verify::Requirement;
use tuaton_tests::*;

/// An issuer, a gate certified as a reader and synced, and a wallet with a P-256 card
/// imported against a bundle that carries the reader CA.
fn world() -> World {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    let cert = w.certify_gate("BKK gate 12");
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = w.record("somchai", &v, sample::PORTRAIT_A);
    w.enroll_with("wallet", &rec, &["--key-type", "p256"]);
    w.sync(None).ok();
    let r = w.gate(&["reader-cert", &cert]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("BKK gate 12"), "{}", r.stdout);
    w
}

/// `engage --iso` of wallet `name` in `w`, with `extra`; the process and its `mdoc:` text.
fn engage(w: &World, name: &str, extra: &[&str]) -> (Child, String) {
    let mut c = Command::new(bin("tuaton-wallet"))
        .args(["--home", &w.p(name), "--pin-stdin", "engage", "--iso"])
        .args(["--transport", "socket:127.0.0.1:0", "--text"])
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(format!("{PIN}\n").as_bytes())
        .unwrap();
    let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
    let uri = lines.next().unwrap().unwrap();
    // The rest of standard output (the socket address) is read to its end, so the
    // wallet never writes to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (c, uri)
}

/// The gate (`g`) checks the engagement of wallet `name` in `w`: the gate's exit code and
/// JSON verdict, and the wallet's exit code and standard error.
fn check(
    w: &World,
    name: &str,
    g: &World,
    wallet_args: &[&str],
    gate_args: &[&str],
) -> (Run, serde_json::Value, i32, String) {
    let (c, uri) = engage(w, name, wallet_args);
    assert!(uri.starts_with("mdoc:"), "{uri}");
    let mut a = vec!["--json", "check", &uri];
    a.extend_from_slice(gate_args);
    let r = g.gate(&a);
    let v = serde_json::from_str(&r.stdout).unwrap_or(serde_json::Value::Null);
    let out = c.wait_with_output().unwrap();
    (
        r,
        v,
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The gate, with `flags`, given the engagement of wallet "wallet", when it is expected to
/// start no session: its run (the wallet, never answered, is stopped).
fn gate_refuses(w: &World, flags: &[&str]) -> Run {
    let (mut c, uri) = engage(w, "wallet", &[]);
    let mut a = flags.to_vec();
    a.extend(["check", uri.as_str()]);
    let r = w.gate(&a);
    c.kill().ok();
    c.wait().ok();
    r
}

#[test]
fn the_gate_reads_a_tuaton_mdoc_with_reader_authentication_and_shows_a_valid_verdict() {
    let w = world();
    let (r, v, wallet, err) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 0, "{}\n{}\n{err}", r.stdout, r.stderr);
    assert_eq!(wallet, 0, "{err}");
    // The wallet took the reader CA from the signed trust list, and showed who asks.
    assert!(
        err.contains("Verified reader") && err.contains("BKK gate 12"),
        "{err}"
    );
    assert_eq!(v["verdict"], "valid", "{v}");
    assert_eq!(v["issuer"], "DOPA Bangkok");
    assert_eq!(v["claims"]["given_name_en"], "Somchai");
    assert_eq!(v["claims"]["citizen_id"], "1103700012346");
    // The MSO names the card's revocation bit, read from the synced status list.
    assert_eq!(v["warnings"], serde_json::json!([]), "{v}");
    // The portrait came with it, for staff to compare with the face.
    assert_eq!(
        v["claims"]["portrait_bytes"],
        sample::PORTRAIT_A.len(),
        "{v}"
    );
    // Audited like any check.
    let audit = w.gate(&["--json", "audit"]).ok();
    assert!(audit.contains("\"valid\""), "{audit}");
}

#[test]
fn an_mdoc_verdict_pairs_with_the_boarding_pass_like_any_other() {
    let w = world();
    let today = thai_day_of_year_now();
    let pass = boarding_pass("JAIDEE/SOMCHAI MR", today);
    let (r, v, _, err) = check(&w, "wallet", &w, &[], &["--boarding-pass", &pass]);
    assert_eq!(r.code, 0, "{}\n{}\n{err}", r.stdout, r.stderr);
    assert_eq!(v["boarding_pass"]["name_match"], "exact", "{v}");
    let other = boarding_pass("JAIDEE/SOMSAK MR", today);
    let (r, v, _, _) = check(&w, "wallet", &w, &[], &["--boarding-pass", &other]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert_eq!(v["verdict"], "rejected");
}

#[test]
fn attack_an_mdoc_whose_signer_chains_to_no_iaca_of_the_trust_list_is_refused() {
    // The card comes from another issuer, whose IACA this gate's trust list does not
    // carry (its iaca.pem could be put in any mirror: the gate never reads it).
    let w = world();
    let other = World::new();
    other.issuer(&["init", "--name", "Forger Office"]).ok();
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = other.record("somchai", &v, sample::PORTRAIT_A);
    other.enroll_with("forged", &rec, &["--key-type", "p256"]);
    std::fs::copy(other.path("bundle/iaca.pem"), w.path("bundle/iaca.pem")).unwrap();
    w.sync(None).ok();
    // The forged wallet does not know this gate's reader CA: the citizen overrides.
    let (r, v, _, err) = check(&other, "forged", &w, &["--allow-unverified-reader"], &[]);
    assert_eq!(r.code, 1, "{}\n{}\n{err}", r.stdout, r.stderr);
    assert_eq!(
        v["reasons"],
        serde_json::json!(["unknown_issuer_key"]),
        "{v}"
    );
    assert_eq!(v["claims"], serde_json::json!({}), "nothing shown: {v}");
}

#[test]
fn attack_a_wallet_that_does_not_trust_the_gate_declines_and_the_gate_says_so() {
    // A card imported before the reader CA existed: the wallet cannot verify the gate.
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = w.record("somchai", &v, sample::PORTRAIT_A);
    w.enroll_with("wallet", &rec, &["--key-type", "p256"]);
    let cert = w.certify_gate("BKK gate 12");
    w.publish();
    w.sync(None).ok();
    assert_eq!(w.gate(&["reader-cert", &cert]).code, 0);
    let (r, v, wallet, err) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(v["reasons"], serde_json::json!(["session_failed"]), "{v}");
    assert_eq!(wallet, 2, "{err}");
    assert!(
        err.contains("not certified by a trusted reader CA"),
        "{err}"
    );
}

#[test]
fn a_gate_without_a_reader_certificate_starts_no_session_and_says_what_to_do() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    let rec = w.record("somchai", &v, sample::PORTRAIT_A);
    w.enroll_with("wallet", &rec, &["--key-type", "p256"]);
    w.sync(None).ok();
    let r = gate_refuses(&w, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("no reader certificate"), "{}", r.stderr);
    assert!(
        r.stderr.contains("tuaton-verifier reader-key"),
        "{}",
        r.stderr
    );
}

#[test]
fn reader_cert_refuses_a_certificate_for_another_key_or_from_an_unknown_ca() {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w.gate(&["reader-key"]).ok();
    // Certified, but for another key than this gate's.
    let other = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let public = hex::encode(other.public_key().to_encoded_point(true).as_bytes());
    let r = w.issuer(&[
        "reader-cert",
        "--public-key",
        &public,
        "--name",
        "stolen",
        "--allow",
        "org.iso.23220.1/portrait",
        "--out",
        &w.p("other.pem"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    w.publish();
    w.sync(None).ok();
    let r = w.gate(&["reader-cert", &w.p("other.pem")]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("for another key"), "{}", r.stderr);
    // Certified for this gate by a CA the trust list does not carry.
    let second = World::new();
    second.issuer(&["init", "--name", "Elsewhere"]).ok();
    let key = w.gate(&["reader-key"]).ok();
    let r = second.issuer(&[
        "reader-cert",
        "--public-key",
        key.trim(),
        "--name",
        "rogue",
        "--allow",
        "org.iso.23220.1/portrait",
        "--out",
        &w.p("rogue.pem"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = w.gate(&["reader-cert", &w.p("rogue.pem")]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not certified by a trusted reader CA"),
        "{}",
        r.stderr
    );
    // Nothing was installed.
    let s = w.gate(&["status"]).ok();
    assert!(s.contains("reader certificate: none"), "{s}");
}

#[test]
fn attack_a_revoked_reader_certificate_gets_nothing_and_its_gate_stops_using_it() {
    let w = world();
    // The gate's reader key is stolen: the airport authority revokes its certificate.
    let serial = {
        // A renewed certificate, whose serial reader-cert prints.
        let key = w.gate(&["reader-key"]).ok();
        let r = w.issuer(&[
            "--json",
            "reader-cert",
            "--public-key",
            key.trim(),
            "--name",
            "BKK gate 12",
            "--allow",
            &reader_allow(Requirement::Flight),
            "--out",
            &w.p("renewed.pem"),
        ]);
        let v: serde_json::Value = serde_json::from_str(&r.ok()).unwrap();
        v["serial"].as_str().unwrap().to_owned()
    };
    // The renewed certificate is installed, then revoked.
    assert_eq!(w.gate(&["reader-cert", &w.p("renewed.pem")]).code, 0);
    let r = w.issuer(&["reader-revoke", &serial]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("revoked"), "{}", r.stdout);
    w.publish();
    // The wallet takes the new trust list (the same card, re-imported with the bundle).
    let fp = w.fingerprint();
    w.wallet(
        "wallet",
        &[
            "import",
            &w.p("wallet.pkg.json"),
            "--bundle",
            &w.p("bundle"),
            "--expect-root",
            &fp,
        ],
        &format!("{PIN}\n"),
    )
    .ok();
    // A gate that has not synced yet still presents it: the wallet refuses.
    let (r, v, wallet, err) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(v["reasons"], serde_json::json!(["session_failed"]), "{v}");
    assert_eq!(wallet, 2, "{err}");
    assert!(err.contains("was revoked"), "{err}");
    // Once synced, the gate no longer uses it, and says so.
    w.sync(None).ok();
    let r = gate_refuses(&w, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("was revoked"), "{}", r.stderr);
    let s = w.gate(&["status"]).ok();
    assert!(s.contains("reader certificate: NOT USABLE"), "{s}");
    // The reader CA's revocation list names it (RFC 5280), for other readers' wallets.
    let crl = std::fs::read(w.path("bundle/reader-ca-1.crl")).unwrap();
    let serial_bytes = u64::from_str_radix(&serial, 16).unwrap().to_be_bytes();
    let trimmed: Vec<u8> = serial_bytes
        .iter()
        .copied()
        .skip_while(|b| *b == 0)
        .collect();
    assert!(
        crl.windows(trimmed.len()).any(|w| w == trimmed.as_slice()),
        "the CRL lists serial {serial}"
    );
    // An unknown serial is a clear error.
    let r = w.issuer(&["reader-revoke", "abc"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no unexpired reader certificate"),
        "{}",
        r.stderr
    );
}

#[test]
fn attack_mdocs_of_a_revoked_document_signer_are_refused_and_new_cards_pass() {
    let w = world();
    let (r, v, _, _) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 0, "{v}");
    // The document signer's key is stolen: the issuer revokes it and makes a new one.
    let r = w.issuer(&["revoke-signer"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains("1 document signer(s) revoked"),
        "{}",
        r.stdout
    );
    w.publish();
    w.sync(None).ok();
    let (r, v, _, err) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 1, "{}\n{err}", r.stdout);
    assert_eq!(
        v["reasons"],
        serde_json::json!(["issuer_key_revoked"]),
        "{v}"
    );
    // A card issued now is signed by the new document signer.
    let rec = w.p("somchai.json");
    w.enroll_with("wallet2", &rec, &["--key-type", "p256"]);
    w.sync(None).ok();
    let (r, v, _, err) = check(&w, "wallet2", &w, &[], &[]);
    assert_eq!(r.code, 0, "{}\n{}\n{err}", r.stdout, r.stderr);
    assert_eq!(v["verdict"], "valid");
}

#[test]
fn a_gate_whose_certificate_does_not_cover_its_request_says_so_instead_of_failing_every_citizen() {
    let w = world();
    // Certified for a flight gate; run as a `full` gate (address, laser code...).
    let r = gate_refuses(&w, &["--require", "full"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("does not allow") && r.stderr.contains("th.tuaton.idcard.1/address"),
        "{}",
        r.stderr
    );
    // Installing it for such a gate warns.
    let r = w.gate(&["--require", "full", "reader-cert", &w.p("BKK gate 12.pem")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("warning: this certificate does not allow"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_revoked_card_is_refused_in_its_mdoc_form_too() {
    let w = world();
    let pkg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("wallet.pkg.json")).unwrap()).unwrap();
    let id = pkg["credential_id"].as_str().unwrap();
    let r = w.issuer(&["revoke", id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    w.publish();
    w.sync(None).ok();
    let (r, v, _, err) = check(&w, "wallet", &w, &[], &[]);
    assert_eq!(r.code, 1, "{}\n{err}", r.stdout);
    assert_eq!(
        v["reasons"],
        serde_json::json!(["credential_revoked"]),
        "{v}"
    );
    // Whose card it is still shows, as for the gate form.
    assert_eq!(v["claims"]["given_name_en"], "Somchai");
}

#[test]
fn the_gate_screen_reads_an_mdoc_engagement_and_shows_whose_card_it_is() {
    let w = world();
    let cmd = format!(
        "{} --home {} gate; echo EXITED $?; sleep 30",
        bin("tuaton-verifier").display(),
        w.p("gate")
    );
    let t = Tmux::start("mdoc-gate", 80, 24, &cmd);
    let screen = t.wait_for("READY");
    assert!(screen.contains("READY"), "{screen}");
    // The scanner reads the phone's `mdoc:` QR; the gate runs the session meanwhile.
    let (c, uri) = engage(&w, "wallet", &[]);
    t.scan(&uri);
    let screen = t.wait_for("VALID");
    assert!(screen.contains("VALID / ถูกต้อง"), "{screen}");
    assert!(
        screen.contains("Mr. Somchai Jaidee") && screen.contains("X-XXXX-XXXXX-34-6"),
        "{screen}"
    );
    let out = c.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    t.key("F10");
    assert!(t.wait_for("EXITED").contains("EXITED 0"));
}
