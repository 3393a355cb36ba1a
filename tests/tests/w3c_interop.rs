//! The W3C form in a stack someone else wrote: Digital Bazaar's verifier (vc 7,
//! eddsa-rdfc-2022, Bitstring Status List), run offline over a published trust bundle by
//! docs/vectors/w3c/check.mjs. Cards issued before and after a key rotation verify, each
//! against the status list the issuer's newest key signed under the same DID, and a
//! revocation of either is seen.
//!
//! Needs Node.js 18 or later and the checker's packages, fetched once:
//! `cd docs/vectors/w3c && npm ci`, then
//! `cargo test -p tuaton-tests --test w3c_interop -- --ignored`.
use std::process::Command;
use tuaton_common::sample;
use tuaton_tests::World;

#[test]
#[ignore = "needs Node.js and `npm ci` in docs/vectors/w3c (see the module's comment)"]
fn digital_bazaar_verifies_cards_from_both_sides_of_a_rotation_and_sees_revocations() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/w3c");
    assert!(
        std::path::Path::new(dir).join("node_modules").is_dir(),
        "run `npm ci` in {dir} first"
    );
    let w = World::new();
    w.issuer(&[
        "init",
        "--name",
        "DOPA Bangkok",
        "--did",
        "did:web:issue.dopa.go.th",
        // Sample citizen 0 holds two of the cards (sample 3's card has expired).
        "--cards-per-citizen",
        "0",
    ])
    .ok();
    let record = |i: usize| {
        let v: serde_json::Value = serde_json::from_str(sample::RECORDS[i]).unwrap();
        w.record(&format!("r{i}"), &v, sample::PORTRAIT_A)
    };
    // Two cards under the first key, then a rotation (published: the new key signs),
    // then two under the second; one of each pair revoked.
    let before_kept = w.enroll("a", &record(0));
    let before_revoked = w.enroll("b", &record(1));
    w.issuer(&["rotate"]).ok();
    w.publish();
    let after_kept = w.enroll("c", &record(2));
    let after_revoked = w.enroll("d", &record(0));
    w.issuer(&["revoke", &before_revoked]).ok();
    w.issuer(&["revoke", &after_revoked]).ok();
    w.publish();

    let mut files = vec![];
    for name in ["a", "b", "c", "d"] {
        let pkg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(w.path(&format!("{name}.pkg.json"))).unwrap())
                .unwrap();
        let vc = w.path(&format!("{name}.vc.json"));
        std::fs::write(&vc, pkg["w3c"].to_string()).unwrap();
        files.push(vc.display().to_string());
    }
    let out = Command::new("node")
        .current_dir(dir)
        .arg("check.mjs")
        .arg(w.path("bundle"))
        .args(&files)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), 4, "{stdout}");
    let want = [
        (&before_kept, false),
        (&before_revoked, true),
        (&after_kept, false),
        (&after_revoked, true),
    ];
    for (r, (id, revoked)) in results.iter().zip(want) {
        // Every proof verifies, and every status list too, issued by the card's own
        // issuer; the list's bit says which card is revoked (Digital Bazaar reports the
        // bit beside a verified result, as the status list specification asks).
        assert_eq!(r["verified"], true, "card {id}: {r}");
        assert_eq!(r["revoked"], revoked, "card {id}: {r}");
    }
}
