//! The sample records shipped in `samples/` are the built-in sample citizens, and the
//! README's whole flow works with them as shipped (portrait paths relative to the record).
use serde_json::Value;
use tuaton_tests::*;

fn samples() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../samples")
}

#[test]
fn shipped_samples_are_the_built_in_citizens() {
    for (i, name) in ["somchai", "kanchanaporn", "boonmee", "thanakorn"]
        .iter()
        .enumerate()
    {
        let file: Value =
            serde_json::from_slice(&std::fs::read(samples().join(format!("{name}.json"))).unwrap())
                .unwrap();
        let built_in: Value = serde_json::from_str(tuaton_common::sample::RECORDS[i]).unwrap();
        assert_eq!(
            file, built_in,
            "samples/{name}.json drifted from sample::RECORDS[{i}]"
        );
        let portrait = samples().join(file["portrait"].as_str().unwrap());
        assert!(portrait.is_file(), "{} is missing", portrait.display());
    }
}

#[test]
fn the_whole_flow_issues_from_a_shipped_sample() {
    let w = World::enrolled();
    // `request --qr > request.txt`: the drawing goes to the terminal (stderr), the file
    // gets the request text alone, which `issue` takes.
    let r = w.wallet("wallet", &["request", "--qr"], &format!("{PIN}\n"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("TTE1:"), "{}", r.stdout);
    assert!(
        r.stderr.contains('█') || r.stderr.contains('▀'),
        "{}",
        r.stderr
    );
    std::fs::write(w.path("request.txt"), &r.stdout).unwrap();
    let record = samples().join("kanchanaporn.json");
    let r = w.issuer(&[
        "issue",
        "--record",
        record.to_str().unwrap(),
        "--request",
        &w.p("request.txt"),
        "--out",
        &w.p("card.json"),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Issued credential "), "{}", r.stdout);
}
