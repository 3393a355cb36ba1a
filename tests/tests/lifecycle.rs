//! Issuer lifecycle through the real binaries: issue, rotate, revoke-key, revoke,
//! rotate-root, publish, sync, check.
use serde_json::Value;
use std::process::Command;
use tuaton_common::sample;
use tuaton_tests::*;

fn record(w: &World, i: usize) -> String {
    let v: Value = serde_json::from_str(sample::RECORDS[i]).unwrap();
    w.record(&format!("citizen{i}"), &v, sample::PORTRAIT_A)
}

fn setup() -> World {
    let w = World::new();
    w.issuer(&["init", "--name", "DOPA Bangkok"]).ok();
    w
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn rotation_revocation_and_root_rotation_end_to_end() {
    let w = setup();
    let r0 = record(&w, 0);
    let r1 = record(&w, 1);
    w.enroll("before", &r0);
    let old_kid: Value = serde_json::from_str(&w.issuer(&["keys", "--json"]).ok()).unwrap();
    let old_kid = old_kid["keys"][0]["kid"].as_str().unwrap().to_owned();

    // Rotate: the new key is staged and signs nothing until a publish names it.
    w.issuer(&["rotate"]).ok();
    let keys: Value = serde_json::from_str(&w.issuer(&["keys", "--json"]).ok()).unwrap();
    assert_eq!(keys["keys"][1]["state"], "staged");
    w.publish();
    // The old credential still verifies, a new one carries the new key.
    let after_id = w.enroll("after", &r1);
    w.sync(None).ok();
    let (code, v) = w.check(&w.present("before"));
    assert_eq!((code, v["verdict"].as_str()), (0, Some("valid")), "{v}");
    assert_eq!(v["kid"], old_kid.as_str());
    let (code, v) = w.check(&w.present("after"));
    assert_eq!(code, 0, "{v}");
    assert_ne!(
        v["kid"],
        old_kid.as_str(),
        "issued after rotate: the new key"
    );
    let keys: Value = serde_json::from_str(&w.issuer(&["keys", "--json"]).ok()).unwrap();
    assert_eq!(keys["keys"][0]["state"], "retired");
    assert_eq!(keys["keys"][1]["state"], "active");

    // Revoke one credential: rejected as soon as the gate has the newer bundle.
    w.issuer(&["revoke", &after_id]).ok();
    let (code, _) = w.check(&w.present("after"));
    assert_eq!(code, 0, "the gate still has the old bundle");
    w.publish();
    w.sync(None).ok();
    let (code, v) = w.check(&w.present("after"));
    assert_eq!(code, 1);
    assert_eq!(reasons(&v), ["credential_revoked"]);
    assert_eq!(
        v["claims"]["given_name_en"], "Kanchanaporn",
        "the gate still shows whose card it is"
    );

    // Revoke the old key: nothing it signed verifies.
    w.issuer(&["revoke-key", &old_kid]).ok();
    w.publish();
    w.sync(None).ok();
    let (code, v) = w.check(&w.present("before"));
    assert_eq!(code, 1);
    assert_eq!(reasons(&v), ["issuer_key_revoked"]);

    // Rotate the root twice; a gate that last synced at root 1 follows the chain.
    let old_gate = World::new();
    std::fs::create_dir_all(old_gate.path("x")).unwrap();
    let g1 = w.p("gate1");
    let fp1 = w.fingerprint();
    run(
        "tuaton-verifier",
        &["--home", &g1, "sync", &w.p("bundle"), "--expect-root", &fp1],
        "",
        &[],
    )
    .ok();
    w.issuer(&["rotate-root"]).ok();
    w.issuer(&["rotate-root"]).ok();
    w.publish();
    let out = run(
        "tuaton-verifier",
        &["--home", &g1, "sync", "--json", &w.p("bundle")],
        "",
        &[],
    )
    .ok();
    let s: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(s["root_version"], 3);
    let r = run(
        "tuaton-verifier",
        &["--home", &g1, "check", "--json", &w.present("after")],
        "",
        &[],
    );
    assert_eq!(r.code, 1, "still revoked after the root rotation");
}

#[test]
fn an_older_bundle_is_refused_and_the_current_one_stays() {
    let w = setup();
    w.enroll("a", &record(&w, 0));
    let old = w.p("bundle-v1");
    std::fs::rename(w.path("bundle"), &old).unwrap();
    w.publish();
    w.sync(None).ok();
    let r = w.gate(&["sync", &old]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("rollback refused"), "{}", r.stderr);
    assert!(
        r.stderr.contains("hint: the previous bundle stays in use"),
        "{}",
        r.stderr
    );
    let st: Value = serde_json::from_str(&w.gate(&["status", "--json"]).ok()).unwrap();
    assert_eq!(st["trust_list_version"], 2);
    assert_eq!(w.check(&w.present("a")).0, 0);
}

#[test]
fn a_damaged_bundle_leaves_the_previous_one_in_use() {
    let w = setup();
    w.enroll("a", &record(&w, 0));
    w.sync(None).ok();
    w.issuer(&["rotate"]).ok();
    w.publish();
    // A status list altered after publishing (mix-and-match or damage in transit).
    let status = w.bundle_file("status");
    let s = std::fs::read_to_string(&status).unwrap();
    std::fs::write(&status, s.replacen("revocation", "revocatioN", 1)).unwrap();
    let r = w.sync(None);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr.contains("does not match the digest"),
        "{}",
        r.stderr
    );
    let st: Value = serde_json::from_str(&w.gate(&["status", "--json"]).ok()).unwrap();
    assert_eq!(st["trust_list_version"], 1, "previous bundle kept");
    assert_eq!(st["keys"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_records_are_refused_with_the_field_named_and_nothing_written() {
    let w = setup();
    let req = w.new_wallet("a");
    let cases = [
        ("citizen_id", Value::from("1103700012345"), "check digit"),
        ("birth_date", Value::from("1990-02-30"), "does not exist"),
        ("expiry_date", Value::from("2032-13-01"), "does not exist"),
    ];
    for (field, val, why) in cases {
        let mut v: Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
        v[field] = val;
        let rec = w.record("bad", &v, sample::PORTRAIT_A);
        let out = w.p("bad.pkg");
        let r = w.issuer(&["issue", "--record", &rec, "--request", &req, "--out", &out]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains(field) && r.stderr.contains(why),
            "{field}: {}",
            r.stderr
        );
        assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
        assert!(!w.path("bad.pkg").exists());
    }
    let mut v: Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    v.as_object_mut().unwrap().remove("family_name_th");
    let rec = w.record("bad", &v, sample::PORTRAIT_A);
    let r = w.issuer(&[
        "issue",
        "--record",
        &rec,
        "--request",
        &req,
        "--out",
        &w.p("bad.pkg"),
    ]);
    assert!(
        r.code == 2 && r.stderr.contains("family_name_th") && r.stderr.contains("missing"),
        "{}",
        r.stderr
    );
    // A request whose proof of possession fails.
    let mut bad_req: Vec<char> = req.chars().collect();
    let n = bad_req.len() - 2;
    bad_req[n] = if bad_req[n] == '0' { '1' } else { '0' };
    let bad_req: String = bad_req.into_iter().collect();
    let r = w.issuer(&[
        "issue",
        "--record",
        &record(&w, 0),
        "--request",
        &bad_req,
        "--out",
        &w.p("bad.pkg"),
    ]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(!w.path("bad.pkg").exists());
    // Nothing was allocated: publishing shows no credential at all was issued.
    w.publish();
    let idx: Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("bundle/index.json")).unwrap())
            .unwrap();
    assert_eq!(idx["trust_list_version"], 1);
}

#[test]
fn wrong_passphrase_and_missing_issuer_are_errors() {
    let w = setup();
    let home = w.p("issuer");
    // `keys` shows only public facts and asks for no passphrase; anything that signs does.
    let r = run(
        "tuaton-issuer",
        &["--home", &home, "rotate"],
        "",
        &[("TUATON_ISSUER_PASSPHRASE", "nope nope nope")],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with("error: wrong passphrase\nhint: "),
        "{}",
        r.stderr
    );
    let r = run(
        "tuaton-issuer",
        &["--home", &w.p("nowhere"), "--passphrase-stdin", "keys"],
        "x\n",
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("no issuer in") && r.stderr.contains("tuaton-issuer init"),
        "{}",
        r.stderr
    );
    let r = w.issuer(&["revoke-key", "deadbeef"]);
    assert!(
        r.code == 2 && r.stderr.contains("no signing key with kid deadbeef"),
        "{}",
        r.stderr
    );
}

#[test]
fn publishing_is_never_half_done() {
    // Consistent snapshots: a reader holding the previous index still finds every file
    // it names after a new publish; no published file is replaced; the index is last.
    let w = setup();
    w.enroll("a", &record(&w, 0));
    w.sync(None).ok();
    let idx = |w: &World| std::fs::read(w.path("bundle/index.json")).unwrap();
    let old_index = idx(&w);
    let old_tl = std::fs::read(w.bundle_file("trust_list")).unwrap();
    let old_status = std::fs::read(w.bundle_file("status")).unwrap();
    let old_names = (w.bundle_file("trust_list"), w.bundle_file("status"));
    w.issuer(&["rotate"]).ok();
    w.publish();
    assert_ne!(idx(&w), old_index);
    assert_ne!(
        w.bundle_file("trust_list"),
        old_names.0,
        "a new version gets a new name"
    );
    // The old generation is whole and unchanged.
    assert_eq!(std::fs::read(&old_names.0).unwrap(), old_tl);
    assert_eq!(std::fs::read(&old_names.1).unwrap(), old_status);
    // A mirror that copied the old index and its files serves a bundle a fresh gate takes.
    let m = w.path("mirror");
    std::fs::create_dir_all(&m).unwrap();
    Command::new("cp")
        .arg("-a")
        .arg(w.path("bundle/."))
        .arg(&m)
        .status()
        .unwrap();
    std::fs::write(m.join("index.json"), &old_index).unwrap();
    let fp = w.fingerprint();
    let g = w.p("gate-old");
    let r = run(
        "tuaton-verifier",
        &[
            "--home",
            &g,
            "sync",
            m.to_str().unwrap(),
            "--expect-root",
            &fp,
        ],
        "",
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Every publish takes the next version (reserved before any file is written).
    let v_before: Value = serde_json::from_slice(&idx(&w)).unwrap();
    for _ in 0..4 {
        w.publish();
    }
    let v_after: Value = serde_json::from_slice(&idx(&w)).unwrap();
    assert_eq!(
        v_after["trust_list_version"].as_u64(),
        v_before["trust_list_version"].as_u64().map(|v| v + 4)
    );
    // Old generations are collected: only the newest few indexes and what they name stay.
    let kept = std::fs::read_dir(w.path("bundle/trust-list"))
        .unwrap()
        .count();
    assert!(kept <= 3, "{kept} trust lists kept");
    w.sync(None).ok();
    assert_eq!(w.check(&w.present("a")).0, 0);
}

#[test]
fn a_dead_disk_is_not_a_national_re_enrolment() {
    let w = setup();
    let id = w.enroll("a", &record(&w, 0));
    let before: Value = serde_json::from_str(&w.issuer(&["keys", "--json"]).ok()).unwrap();
    let file = w.p("issuer.backup");
    w.issuer(&["backup", "--out", &file]).ok();
    // The backup is sealed: no name or citizen ID in it.
    let bytes = std::fs::read(&file).unwrap();
    assert!(!bytes.windows(13).any(|x| x == b"1103700012346"));
    // The disk dies.
    std::fs::remove_dir_all(w.path("issuer")).unwrap();
    let r = w.issuer(&["restore", "--from", &file]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let after: Value = serde_json::from_str(&w.issuer(&["keys", "--json"]).ok()).unwrap();
    assert_eq!(before, after, "the same root and signing keys");
    // The restored issuer revokes what it issued before, and gates follow.
    w.issuer(&["revoke", &id]).ok();
    w.publish();
    w.sync(None).ok();
    assert_eq!(w.check(&w.present("a")).0, 1);
    // A wrong passphrase, or something that is not a backup, restores nothing.
    let other = w.p("other-home");
    let r = run(
        "tuaton-issuer",
        &["--home", &other, "restore", "--from", &file],
        "",
        &[("TUATON_ISSUER_PASSPHRASE", "not the passphrase")],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("passphrase"), "{}", r.stderr);
    let r = run(
        "tuaton-issuer",
        &["--home", &other, "restore", "--from", &w.p("citizen0.json")],
        "",
        &[("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not a tuaton issuer backup"),
        "{}",
        r.stderr
    );
    assert!(!std::path::Path::new(&other).join("issuer.sled").exists());
}

#[test]
fn a_damaged_or_swapped_backup_is_reported_as_such_at_once() {
    let w = setup();
    w.enroll("a", &record(&w, 0));
    let file = w.p("issuer.backup");
    w.issuer(&["backup", "--out", &file]).ok();
    let good = std::fs::read(&file).unwrap();
    let restore = |bytes: &[u8]| {
        let f = w.p("changed.backup");
        std::fs::write(&f, bytes).unwrap();
        let t = std::time::Instant::now();
        let r = run(
            "tuaton-issuer",
            &["--home", &w.p("elsewhere"), "restore", "--from", &f],
            "",
            &[("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)],
        );
        (r, t.elapsed())
    };
    // One flipped bit deep in the ciphertext: damage, not a wrong passphrase.
    let mut flipped = good.clone();
    let n = flipped.len() - 40;
    flipped[n] ^= 1;
    let (r, _) = restore(&flipped);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("damaged"), "{}", r.stderr);
    assert!(!r.stderr.contains("passphrase"), "{}", r.stderr);
    // A swapped header asking Argon2 for 2^20 passes (weeks): refused before any work.
    // The sealed blob is CBOR `[m, t, p, ...]` after the 23-byte magic and the digest.
    let mut greedy = good.clone();
    let blob = 23 + 32;
    assert_eq!(greedy[blob], 0x86, "a 6-item CBOR array");
    // m is 0x1a + u32 (65536 KiB); t follows as a one-byte uint (3).
    assert_eq!(greedy[blob + 6], 0x03);
    let mut swapped = greedy[..blob + 6].to_vec();
    swapped.extend([0x1a, 0x00, 0x10, 0x00, 0x00]);
    swapped.extend_from_slice(&greedy[blob + 7..]);
    greedy = swapped;
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&greedy[blob..]);
    greedy[23..blob].copy_from_slice(&digest);
    let (r, took) = restore(&greedy);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("key derivation cost"), "{}", r.stderr);
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
    assert!(!w.path("elsewhere/issuer.sled").exists());
}

#[test]
fn attack_publish_never_writes_or_deletes_through_a_planted_link() {
    let w = setup();
    w.enroll("a", &record(&w, 0));
    // Something precious beside the bundle: a directory of office credentials.
    let precious = w.path("precious");
    std::fs::create_dir_all(&precious).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&precious, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(precious.join("office.json"), b"keep me").unwrap();
    std::fs::write(precious.join("1-0.aaaa.json"), b"keep me too").unwrap();
    // The bundle's status directory is swapped for a link to it ...
    let status = w.path("bundle/status");
    std::fs::remove_dir_all(&status).unwrap();
    std::os::unix::fs::symlink(&precious, &status).unwrap();
    // ... and index.json for a link to a file the publisher may write.
    let victim = w.path("victim.txt");
    std::fs::write(&victim, b"unchanged").unwrap();
    std::fs::remove_file(w.path("bundle/index.json")).unwrap();
    std::os::unix::fs::symlink(&victim, w.path("bundle/index.json")).unwrap();
    let r = w.issuer(&["publish", "--out", &w.p("bundle")]);
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(r.stderr.contains("symbolic link"), "{}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 2, "{}", r.stderr);
    // Nothing in the linked directory was written, changed or deleted.
    let mut names: Vec<_> = std::fs::read_dir(&precious)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["1-0.aaaa.json", "office.json"]);
    assert_eq!(
        std::fs::read(precious.join("office.json")).unwrap(),
        b"keep me"
    );
    assert_eq!(
        std::fs::metadata(&precious).unwrap().permissions().mode() & 0o777,
        0o700,
        "its mode was not changed either"
    );
    // With the directory link gone, a publish replaces the index link itself, never the
    // file it pointed to.
    std::fs::remove_file(&status).unwrap();
    w.publish();
    assert_eq!(std::fs::read(&victim).unwrap(), b"unchanged");
    assert!(!std::fs::symlink_metadata(w.path("bundle/index.json"))
        .unwrap()
        .file_type()
        .is_symlink());
}
