//! The JSON Schemas of docs/schemas hold for every verdict and index in the committed
//! vectors, and they refuse what an integrator must never see. (Every `check --json` and
//! index written by the other tests is checked as it is produced: see `tuaton_tests::run`.)
use serde_json::{json, Value};
use tuaton_tests::assert_schema;

fn vectors(name: &str) -> Value {
    let p = format!("{}/../docs/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn every_verdict_in_the_vectors_conforms() {
    let t = vectors("trust-v1.json");
    let cases = t["cases"].as_array().unwrap();
    assert!(cases.len() > 40);
    for c in cases {
        assert_schema("check", &c["verdict"]);
    }
    assert_schema("check", &vectors("session-v1.json")["verdict"]);
    let g = vectors("gate-v1.json");
    for k in ["verdict_at_presented_at", "verdict_301s_later"] {
        assert_schema("check", &g["presentations"]["flight"][k]);
    }
    let index: Value =
        serde_json::from_str(t["bundle"]["index.json"]["text"].as_str().unwrap()).unwrap();
    assert_schema("index", &index);
}

/// A change to a verdict, named for the failure message.
type Edit = (&'static str, fn(&mut Value));

fn refused(name: &str, v: &Value) -> bool {
    std::panic::catch_unwind(|| assert_schema(name, v)).is_err()
}

#[test]
fn the_schemas_refuse_what_must_not_be_shown() {
    let t = vectors("trust-v1.json");
    let good = t["cases"][0]["verdict"].clone();
    assert!(!refused("check", &good));
    let edits: [Edit; 9] = [
        ("valid with a reason", |v| {
            v["reasons"] = json!(["replayed"])
        }),
        ("rejected without a reason", |v| {
            v["verdict"] = json!("rejected");
        }),
        ("an unknown reason", |v| {
            v["verdict"] = json!("rejected");
            v["reasons"] = json!(["looks_fine"]);
        }),
        ("a member dropped", |v| {
            v.as_object_mut().unwrap().remove("policy");
        }),
        ("an unknown claim", |v| v["claims"]["nickname"] = json!("x")),
        ("a local time", |v| {
            v["checked_at"] = json!("2025-06-01 07:00:00+07:00")
        }),
        ("an impossible date", |v| {
            v["checked_at"] = json!("2025-13-45T25:61:00Z")
        }),
        ("a boarding pass reason without the pass", |v| {
            v["verdict"] = json!("rejected");
            v["reasons"] = json!(["boarding_pass_name_mismatch"]);
        }),
        ("a pass required beside a pass", |v| {
            v["verdict"] = json!("rejected");
            v["reasons"] = json!(["boarding_pass_required"]);
            v["boarding_pass"] = pass(&[]);
        }),
    ];
    for (what, edit) in edits {
        let mut v = good.clone();
        edit(&mut v);
        assert!(refused("check", &v), "{what} was accepted");
    }
    let mut v = good.clone();
    v["verdict"] = json!("rejected");
    v["reasons"] = json!(["boarding_pass_name_mismatch"]);
    v["boarding_pass"] = pass(&["boarding_pass_name_mismatch"]);
    assert!(!refused("check", &v), "a pass with its reason was refused");
    let index: Value =
        serde_json::from_str(t["bundle"]["index.json"]["text"].as_str().unwrap()).unwrap();
    for bad in [
        "../root/1.cbor",
        "/etc/passwd",
        "root//1.cbor",
        ".hidden/x",
        "root/1.cbor\n",
    ] {
        let mut v = index.clone();
        v["roots"] = json!([bad]);
        assert!(refused("index", &v), "path {bad:?} was accepted");
    }
    let mut v = index.clone();
    v["extra"] = json!(1);
    assert!(refused("index", &v), "an unknown member was accepted");
    let mut v = index.clone();
    v["roots"] = json!(["root/1.cbor", "root/2.cbor", "root/1.cbor"]);
    assert!(refused("index", &v), "a repeated root was accepted");
    let mut v = index.clone();
    let s = v["status"][0].clone();
    v["status"] = json!([s, s]);
    assert!(refused("index", &v), "a repeated status list was accepted");
}

/// A `boarding_pass` object as `check --json` writes it, with these reasons.
fn pass(reasons: &[&str]) -> Value {
    let name_match = if reasons.is_empty() {
        "exact"
    } else {
        "mismatch"
    };
    json!({"match": reasons.is_empty(), "name_match": name_match, "name": "JAIDEE/SOMCHAI MR",
        "carrier": "TG", "flight": "102", "julian_date": 152, "from": "BKK", "to": "CNX",
        "seat": "032A", "sequence": "0045", "legs": 1, "reasons": reasons})
}
