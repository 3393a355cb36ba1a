//! Messages that are always right: each failure a user can cause, through the real
//! binaries, gives exactly two lines (what went wrong, then what to do) whose hint fits
//! the failure, and the documented exit code.
use tuaton_tests::*;

/// Asserts the two-line shape, the exit code, and that each `want` is in the message.
fn two_lines(r: &Run, code: i32, what: &[&str], hint: &str) {
    assert_eq!(r.code, code, "stdout: {}\nstderr: {}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "not two lines:\n{}", r.stderr);
    assert!(lines[0].starts_with("error: "), "{}", r.stderr);
    assert!(lines[1].starts_with("hint: "), "{}", r.stderr);
    for w in what {
        assert!(lines[0].contains(w), "`{w}` missing from: {}", lines[0]);
    }
    assert!(
        lines[1].contains(hint),
        "`{hint}` missing from: {}",
        lines[1]
    );
    for debug in ["Os {", "backtrace", "Semantic(", "kind:"] {
        assert!(!r.stderr.contains(debug), "Rust debug text: {}", r.stderr);
    }
}

#[test]
fn a_bad_at_is_a_usage_error_not_a_refused_bundle() {
    let w = World::enrolled();
    w.sync(None).ok();
    let r = w.gate(&["check", "--at", "yesterday", "TT1:X"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("`yesterday` is not an RFC 3339 time"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("bundle"), "{}", r.stderr);
}

#[test]
fn wallet_transport_and_pin_input_errors_say_what_they_are() {
    let w = World::enrolled();
    let r = w.wallet("wallet", &["engage", "--transport", "garbage"], "");
    two_lines(
        &r,
        2,
        &["--transport must be ble or socket:HOST:PORT", "`garbage`"],
        "--help",
    );
    // Standard input ends before the PIN: not a PIN policy problem.
    let r = w.wallet("wallet", &["show"], "");
    two_lines(
        &r,
        2,
        &["standard input ended before the PIN"],
        "one line per prompt",
    );
    // An address that cannot be listened on: a transport error, not "check the path".
    let r = w.wallet(
        "wallet",
        &["engage", "--transport", "socket:192.0.2.1:9"],
        "",
    );
    two_lines(
        &r,
        2,
        &["listening on 192.0.2.1:9"],
        "--transport socket:127.0.0.1:0",
    );
}

#[test]
fn a_prompt_without_a_terminal_says_so() {
    let w = World::enrolled();
    // No --pin-stdin and no terminal (setsid detaches the controlling terminal).
    let o = std::process::Command::new("setsid")
        .arg(bin("tuaton-wallet"))
        .args(["--home", &w.p("wallet"), "show"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let r = Run::from(o);
    two_lines(&r, 2, &["the PIN prompt needs a terminal"], "--pin-stdin");
}

#[test]
fn issuer_input_errors_name_the_file_or_the_field() {
    let w = World::enrolled();
    let rec = w.p("somchai.json");
    let r = w.issuer(&["issue", "--record", &rec, "--request", &w.p("typo.txt")]);
    two_lines(&r, 2, &["typo.txt", "No such file"], "check the path");
    std::fs::write(w.path("array.json"), "[1]").unwrap();
    let r = w.issuer(&[
        "issue",
        "--record",
        &w.p("array.json"),
        "--request",
        "TTE1:X",
    ]);
    two_lines(
        &r,
        2,
        &["field `record`: must be a JSON object"],
        "correct the input",
    );
    // A key given twice means two things: refused, naming it.
    let twice = std::fs::read_to_string(w.path("somchai.json"))
        .unwrap()
        .replacen('{', "{\"citizen_id\": \"3100600123450\", ", 1);
    std::fs::write(w.path("twice.json"), twice).unwrap();
    let r = w.issuer(&[
        "issue",
        "--record",
        &w.p("twice.json"),
        "--request",
        "TTE1:X",
    ]);
    two_lines(&r, 2, &["`citizen_id` appears twice"], "correct the input");
    // A birth date that has not happened yet.
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path("somchai.json")).unwrap()).unwrap();
    // (The card itself dated later still, so only today's date can tell.)
    v["birth_date"] = "2099-01-01".into();
    v["issue_date"] = "2099-06-01".into();
    v["expiry_date"] = "2107-01-01".into();
    std::fs::write(w.path("future.json"), v.to_string()).unwrap();
    let request = w.wallet("wallet", &["request"], &format!("{PIN}\n")).ok();
    let r = w.issuer(&[
        "issue",
        "--record",
        &w.p("future.json"),
        "--request",
        request.trim(),
    ]);
    two_lines(
        &r,
        2,
        &["field `birth_date`: is in the future"],
        "correct the input",
    );
    // Option ranges are clap's own usage errors.
    let r = w.issuer(&["publish", "--out", &w.p("b2"), "--valid-days", "0"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--valid-days"), "{}", r.stderr);
}

#[test]
fn typed_input_echoed_in_an_error_stays_on_one_line() {
    let w = World::enrolled();
    let r = w.issuer(&["revoke-key", "zz\nerror: forged second line\u{1b}[2J"]);
    two_lines(&r, 2, &["no signing key with kid"], "tuaton-issuer keys");
    assert!(!r.stderr.contains('\u{1b}'), "{:?}", r.stderr);
}

#[test]
fn check_of_bytes_that_are_not_utf8_is_a_malformed_presentation() {
    let w = World::enrolled();
    w.sync(None).ok();
    let mut c = std::process::Command::new(bin("tuaton-verifier"));
    c.args(["--home", &w.p("gate"), "check", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"TT1:\xff\xfe")
        .unwrap();
    let r = Run::from(child.wait_with_output().unwrap());
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["reasons"], serde_json::json!(["malformed"]));
}

#[test]
fn read_only_gate_commands_never_create_a_home() {
    let w = World::new();
    for args in [&["status"][..], &["check", "TT1:X"], &["audit"]] {
        let r = run(
            "tuaton-verifier",
            &[&["--home", &w.p("nowhere")][..], args].concat(),
            "",
            &[],
        );
        two_lines(&r, 2, &["no trust bundle synced"], "sync");
        assert!(!w.path("nowhere").exists(), "{args:?} created the home");
    }
}

#[test]
fn a_bad_bundle_index_names_the_bundle_and_the_file() {
    let w = World::enrolled();
    std::fs::create_dir(w.path("bad")).unwrap();
    std::fs::write(w.path("bad/index.json"), "{").unwrap();
    let r = w.gate(&["sync", &w.p("bad"), "--trust-on-first-use"]);
    two_lines(
        &r,
        2,
        &["bad", "index.json"],
        "previous bundle stays in use",
    );
}

#[test]
fn a_damaged_wallet_store_says_damaged_not_locked() {
    let w = World::enrolled();
    // Damage the failure counter: it must not read as 0 (which would reset the backoff).
    let store = w.path("wallet/wallet.sled");
    {
        let db = sled::open(&store).unwrap();
        db.open_tree("meta")
            .unwrap()
            .insert("failures", &[1u8, 2, 3][..])
            .unwrap();
        db.flush().unwrap();
    }
    let r = w.wallet("wallet", &["show"], &format!("{PIN}\n"));
    two_lines(&r, 2, &["the wallet store is damaged"], "reset");
}
