//! `tuaton-verifier check --boarding-pass` through the real binaries: the ID and the pass
//! judged together, each mismatch with its reason and exit code, the JSON object, and
//! the audit record of the pairing.
use serde_json::Value;
use tuaton_tests::*;

fn checked(w: &World, extra: &[&str], pass: &str) -> (i32, Value) {
    let qr = w.present("wallet");
    let mut args = vec!["check", "--json", "--boarding-pass", pass];
    args.extend_from_slice(extra);
    args.push(&qr);
    let r = w.gate(&args);
    let v = serde_json::from_str(r.stdout.trim()).unwrap_or_else(|_| panic!("{}", r.stderr));
    (r.code, v)
}

#[test]
fn the_id_and_its_boarding_pass_are_judged_together() {
    let w = World::enrolled();
    w.sync(None).ok();
    let today = thai_day_of_year_now();
    let (code, v) = checked(&w, &[], &boarding_pass("JAIDEE/SOMCHAI MR", today));
    assert_eq!(code, 0, "{v}");
    let b = &v["boarding_pass"];
    assert_eq!(b["match"], true);
    assert_eq!(b["name_match"], "exact");
    assert_eq!(
        (b["carrier"].as_str(), b["flight"].as_str()),
        (Some("TG"), Some("102"))
    );
    assert_eq!(
        (b["from"].as_str(), b["to"].as_str(), b["seat"].as_str()),
        (Some("BKK"), Some("CNX"), Some("032A"))
    );
    // The gate's airport, in any case, must be the departure.
    let (code, _) = checked(
        &w,
        &["--airport", "bkk"],
        &boarding_pass("JAIDEE/SOMCHAI MR", today),
    );
    assert_eq!(code, 0);
    let other_day = if today > 300 {
        today - 100
    } else {
        today + 100
    };
    for (extra, pass, reason) in [
        (
            &[][..],
            boarding_pass("JAIDEE/SOMSAK MR", today),
            "boarding_pass_name_mismatch",
        ),
        (
            &[][..],
            boarding_pass("JAIDEE/SOMCHAI MR", other_day),
            "boarding_pass_not_today",
        ),
        (
            &["--airport", "DMK"][..],
            boarding_pass("JAIDEE/SOMCHAI MR", today),
            "boarding_pass_wrong_airport",
        ),
        (
            &[][..],
            "M1JAIDEE/SOMCHAI".to_owned(),
            "boarding_pass_malformed",
        ),
    ] {
        let (code, v) = checked(&w, extra, &pass);
        assert_eq!(code, 1, "{reason}: {v}");
        assert_eq!(v["verdict"], "rejected");
        assert_eq!(v["reasons"], serde_json::json!([reason]), "{v}");
        assert_eq!(v["boarding_pass"]["reasons"], serde_json::json!([reason]));
        assert_eq!(v["boarding_pass"]["match"], false);
    }
    // Human output names the reason in both languages.
    let qr = w.present("wallet");
    let r = w.gate(&[
        "check",
        "--boarding-pass",
        &boarding_pass("JAIDEE/SOMSAK MR", today),
        &qr,
    ]);
    assert_eq!(r.code, 1);
    assert!(r.stdout.starts_with("REJECTED\n"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "boarding_pass_name_mismatch (Name differs from the ID / ชื่อไม่ตรงกับบัตรประชาชน)"
        ),
        "{}",
        r.stdout
    );
    // A bad airport code is a usage error: exit 2.
    let r = w.gate(&["check", "--airport", "BK1", "--boarding-pass", "x", &qr]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("not an IATA airport code"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_audit_log_records_the_pairing_without_the_name_unless_asked() {
    let w = World::enrolled();
    w.sync(None).ok();
    let today = thai_day_of_year_now();
    checked(&w, &[], &boarding_pass("JAIDEE/SOMSAK MR", today));
    let log = w.gate(&["audit"]).ok();
    let recs: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let pairing = recs
        .iter()
        .find(|r| r.get("pairing").is_some())
        .expect("a pairing record");
    assert_eq!(pairing["pairing"], "mismatch");
    assert_eq!(pairing["id_verdict"], "valid");
    assert_eq!(pairing["flight"], "102");
    assert_eq!(pairing["julian_date"], today);
    assert_eq!(
        pairing["reasons"],
        serde_json::json!(["boarding_pass_name_mismatch"])
    );
    assert!(!log.contains("SOMSAK") && !log.contains("JAIDEE"), "{log}");
    w.gate(&["audit", "--personal-data", "on"]).ok();
    checked(&w, &[], &boarding_pass("JAIDEE/SOMCHAI MR", today));
    let log = w.gate(&["audit"]).ok();
    assert!(
        log.contains("\"name_on_pass\":\"JAIDEE/SOMCHAI MR\""),
        "{log}"
    );
}

#[test]
fn a_flight_gate_that_requires_a_pass_rejects_an_id_alone() {
    let w = World::enrolled();
    w.sync(None).ok();
    let qr = w.present("wallet");
    let r = w.gate(&["check", "--json", "--require-boarding-pass", &qr]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "rejected");
    assert_eq!(v["reasons"], serde_json::json!(["boarding_pass_required"]));
    assert_eq!(
        v["claims"]["family_name_en"], "Jaidee",
        "whose card it is still shows"
    );
    let r = w.gate(&["check", "--require-boarding-pass", &w.present("wallet")]);
    assert!(r.stdout.contains("Boarding pass required"), "{}", r.stdout);
    // With its pass it is valid.
    let today = thai_day_of_year_now();
    let (code, v) = checked(
        &w,
        &["--require-boarding-pass"],
        &boarding_pass("JAIDEE/SOMCHAI MR", today),
    );
    assert_eq!(code, 0, "{v}");
    // Attack: a full name field padded with dots is not a truncation of this holder.
    let (code, v) = checked(&w, &[], &boarding_pass("JAIDEE/S............", today));
    assert_eq!(code, 1, "{v}");
    assert!(
        v["reasons"]
            .to_string()
            .contains("boarding_pass_name_mismatch"),
        "{v}"
    );
}
