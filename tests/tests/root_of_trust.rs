//! A gate's root of trust against whoever serves it bundles (a mirror, a CDN, a USB copy,
//! a man in the middle): each test is named after the attack it stops (docs/THREATS.md).
use serde_json::Value;
use tuaton_common::trust::MultiSigned;
use tuaton_tests::*;

/// Copies a bundle directory (the attacker's mirror starts from the real files).
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let t = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &t);
        } else {
            std::fs::copy(e.path(), t).unwrap();
        }
    }
}

/// The real issuer with a card in wallet "wallet", and an attacker's issuer "evil" that
/// published its own bundle to `evil-bundle/` with a card in wallet "forged".
fn worlds() -> World {
    let w = World::enrolled();
    let evil = |args: &[&str]| {
        let home = w.p("evil");
        let mut a = vec!["--home", home.as_str()];
        a.extend_from_slice(args);
        run(
            "tuaton-issuer",
            &a,
            "",
            &[("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)],
        )
    };
    evil(&["init", "--name", "DOPA Bangkok"]).ok();
    let req = w.new_wallet("forged");
    let v: Value = serde_json::from_str(tuaton_common::sample::RECORDS[1]).unwrap();
    let rec = w.record("invented", &v, tuaton_common::sample::PORTRAIT_A);
    let pkg = w.p("forged.pkg.json");
    evil(&["issue", "--record", &rec, "--request", &req, "--out", &pkg]).ok();
    evil(&["publish", "--out", &w.p("evil-bundle")]).ok();
    w.wallet(
        "forged",
        &[
            "import",
            &pkg,
            "--bundle",
            &w.p("evil-bundle"),
            "--trust-on-first-use",
        ],
        &format!("{PIN}\n"),
    )
    .ok();
    w
}

fn status_fp(w: &World) -> String {
    let st: Value = serde_json::from_str(&w.gate(&["status", "--json"]).ok()).unwrap();
    st["root_fingerprint"].as_str().unwrap().to_owned()
}

#[test]
fn attack_first_sync_from_an_unpinned_source() {
    let w = worlds();
    // No pin: refused with the way out, nothing stored.
    let r = w.gate(&["sync", &w.p("evil-bundle")]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("trusts no root yet"), "{}", r.stderr);
    assert!(r.stderr.contains("--expect-root"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    // Pinned to the real issuer: the attacker's bundle does not hold that root.
    let r = w.sync(Some(&w.p("evil-bundle")));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("pinned fingerprint"), "{}", r.stderr);
    assert_eq!(w.gate(&["status"]).code, 2, "nothing was stored");
    // The real bundle with its pin: the real card is valid, the forged one is not.
    w.sync(None).ok();
    assert_eq!(w.check(&w.present("wallet")).0, 0);
    let (code, v) = w.check(&w.present("forged"));
    assert_eq!(code, 1, "{v}");
}

#[test]
fn attack_mirror_serves_its_own_root_then_its_own_trust_list() {
    let w = worlds();
    w.sync(None).ok();
    let real_fp = status_fp(&w);
    // Sync 1: the attacker's root 1 in place of the real one, with the real trust list.
    let m1 = w.path("mirror1");
    copy_dir(&w.path("bundle"), &m1);
    std::fs::copy(w.path("evil-bundle/root/1.cbor"), m1.join("root/1.cbor")).unwrap();
    let r = w.gate(&["sync", m1.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("root version 1 in the bundle differs"),
        "{}",
        r.stderr
    );
    // Sync 2: the attacker's whole bundle.
    let r = w.gate(&["sync", &w.p("evil-bundle")]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    // The gate still trusts the real root, rejects the forged card, takes the real bundle.
    assert_eq!(status_fp(&w), real_fp);
    let (code, v) = w.check(&w.present("forged"));
    assert_eq!(code, 1, "{v}");
    w.publish();
    w.sync(None).ok();
    assert_eq!(w.check(&w.present("wallet")).0, 0);
}

#[test]
fn attack_trust_list_carrying_an_extra_signature() {
    let w = worlds();
    w.sync(None).ok();
    w.publish();
    let m = w.path("mirror");
    copy_dir(&w.path("bundle"), &m);
    let tl_rel = w.bundle_file("trust_list");
    let tl_rel = tl_rel.strip_prefix(w.path("bundle")).unwrap();
    let tl = std::fs::read(m.join(tl_rel)).unwrap();
    let mut signed = MultiSigned::from_bytes(&tl).unwrap();
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    use ed25519_dalek::Signer;
    let sig = stranger.sign(&signed.doc).to_bytes();
    signed.sigs.push((stranger.verifying_key().to_bytes(), sig));
    std::fs::write(m.join(tl_rel), signed.to_bytes()).unwrap();
    let r = w.gate(&["sync", m.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("carries a signature"), "{}", r.stderr);
}

#[test]
fn attack_wallet_import_against_an_unpinned_bundle() {
    let w = World::enrolled();
    let pkg = w.p("wallet.pkg.json");
    let r = w.wallet(
        "wallet",
        &["import", &pkg, "--bundle", &w.p("bundle")],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--expect-root"), "{}", r.stderr);
    let r = w.wallet(
        "wallet",
        &[
            "import",
            &pkg,
            "--bundle",
            &w.p("bundle"),
            "--expect-root",
            &"ab".repeat(32),
        ],
        &format!("{PIN}\n"),
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("pinned fingerprint"), "{}", r.stderr);
}

#[test]
fn the_issuer_prints_the_fingerprint_gates_pin() {
    let w = World::enrolled();
    let fp = w.fingerprint();
    assert_eq!(fp.len(), 64);
    assert!(w.issuer(&["keys"]).ok().contains(&fp));
    assert!(w
        .issuer(&["publish", "--out", &w.p("bundle")])
        .ok()
        .contains(&fp));
    let out = w
        .gate(&["sync", &w.p("bundle"), "--trust-on-first-use", "--json"])
        .ok();
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["root_fingerprint"], fp.as_str());
}
