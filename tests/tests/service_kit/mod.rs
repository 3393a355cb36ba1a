//! What the service tests share: an issuer made through the real binary, and the
//! officer's offer as its client prints it.
#![allow(dead_code)]

use tuaton_common::offer::Offer;
use tuaton_common::sample;
use tuaton_tests::{run, Service, TestDb, World, PASSPHRASE};

/// An issuer in `db` through the real binary: init, an office, an admin, a first publish.
pub fn issuer_in(w: &World, db: &TestDb, keys: &[&str], env: &[(&str, &str)]) -> String {
    issuer_with(w, db, keys, env, &[])
}

/// [`issuer_in`] with more `init` options.
pub fn issuer_with(
    w: &World,
    db: &TestDb,
    keys: &[&str],
    env: &[(&str, &str)],
    init: &[&str],
) -> String {
    let mut env = env.to_vec();
    env.push(("TUATON_ISSUER_PASSPHRASE", PASSPHRASE));
    let iss = |args: &[&str]| {
        let mut a = vec!["--database", db.url.as_str()];
        a.extend_from_slice(keys);
        a.extend_from_slice(args);
        run("tuaton-issuer", &a, "", &env)
    };
    let mut args = vec!["init", "--name", "DOPA Bangkok"];
    args.extend_from_slice(init);
    let init = iss(&args).ok();
    let fp = init
        .lines()
        .find_map(|l| l.strip_prefix("Root fingerprint "))
        .expect("init prints the root fingerprint")
        .to_owned();
    iss(&[
        "office",
        "add",
        "Bang Rak District",
        "--out",
        &w.p("office.json"),
    ])
    .ok();
    iss(&[
        "office",
        "add",
        "HQ",
        "--admin",
        "--out",
        &w.p("admin.json"),
    ])
    .ok();
    iss(&["publish", "--out", &w.p("bundle")]).ok();
    fp
}

/// `tuaton-issuer offer --service ... --office-credential FILE --record RECORD [extra]`:
/// the officer's client, as an office runs it.
pub fn officer_offer(
    w: &World,
    svc: &Service,
    credential: &str,
    record: &str,
    extra: &[&str],
) -> tuaton_tests::Run {
    let cred = w.p(credential);
    let mut args = vec![
        "offer",
        "--service",
        &svc.url,
        "--office-credential",
        &cred,
        "--record",
        record,
    ];
    args.extend_from_slice(extra);
    run("tuaton-issuer", &args, "", &[])
}

pub fn offer_text(w: &World, svc: &Service, record: &str) -> (String, String) {
    let out = officer_offer(
        w,
        svc,
        "office.json",
        record,
        &["--text", "--officer", "Officer Malee"],
    )
    .ok();
    let mut lines = out.lines();
    let offer = lines.next().expect("offer line").to_owned();
    let tx = lines
        .next()
        .and_then(|l| l.strip_prefix("Transaction code: "))
        .and_then(|l| l.split_whitespace().next())
        .expect("transaction code line")
        .to_owned();
    (offer, tx)
}

/// The issuer's root fingerprint, as a citizen gets it out of band (the issuer publishes
/// it); in these tests, read from the genuine offer.
pub fn root_of(offer: &str) -> String {
    Offer::parse(offer)
        .unwrap()
        .root
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn sample_record(w: &World) -> String {
    let v: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
    w.record("somchai", &v, sample::PORTRAIT_A)
}
