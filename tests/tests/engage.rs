//! Engagement sessions between the real wallet and gate binaries over a loopback socket.
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use tuaton_common::sample;
use tuaton_common::session::{Transport, WalletAwaitingRequest};
use tuaton_tests::*;

fn world() -> World {
    let w = World::enrolled();
    w.sync(None).ok();
    w
}

/// Starts `engage` and returns the child and its engagement text.
fn engage(w: &World, consent: &str) -> (std::process::Child, String) {
    let mut c = Command::new(bin("tuaton-wallet"))
        .args([
            "--home",
            &w.p("wallet"),
            "--pin-stdin",
            "engage",
            "--transport",
            "socket:127.0.0.1:0",
            "--text",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin
        .take()
        .unwrap()
        .write_all(consent.as_bytes())
        .unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("TTB1:"), "{line}");
    (c, line.trim().to_owned())
}

#[test]
fn a_session_over_loopback_carries_the_portrait() {
    let w = world();
    let (child, engagement) = engage(&w, &format!("{PIN}\n"));
    let (code, v) = w.check(&engagement);
    let out = child.wait_with_output().unwrap();
    let wallet_err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, 0, "{v}\nwallet: {wallet_err}");
    assert_eq!(v["verdict"], "valid");
    assert_eq!(v["claims"]["given_name_th"], "สมชาย");
    assert_eq!(v["claims"]["portrait_bytes"], sample::PORTRAIT_A.len());
    assert_eq!(out.status.code(), Some(0), "{wallet_err}");
    assert!(
        wallet_err.contains(
            "The gate asks for: citizen ID, names in Thai and English, birth date; portrait"
        ),
        "{wallet_err}"
    );
}

#[test]
fn a_wrong_pin_at_consent_declines_and_the_gate_rejects() {
    let w = world();
    let (child, engagement) = engage(&w, "00000000\n");
    let (code, v) = w.check(&engagement);
    let out = child.wait_with_output().unwrap();
    assert_eq!(code, 1);
    assert_eq!(v["reasons"], serde_json::json!(["session_failed"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong PIN"));
}

#[test]
fn a_wallet_that_is_gone_is_a_failed_session() {
    let w = world();
    let (mut child, engagement) = engage(&w, "");
    child.kill().unwrap();
    child.wait().unwrap();
    let (code, v) = w.check(&engagement);
    assert_eq!(code, 1);
    assert_eq!(v["reasons"], serde_json::json!(["session_failed"]));
}

#[test]
fn the_gate_connects_only_to_loopback_unless_told_otherwise() {
    let w = world();
    // An engagement naming a private-range address: refused before any connection.
    let (_, e) = WalletAwaitingRequest::new(
        [4; 32],
        Transport::Socket {
            addr: "10.11.12.13:9".into(),
        },
    );
    let r = w.gate(&["check", &e.to_text()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("not a loopback address") && r.stderr.contains("--allow-remote-socket"),
        "{}",
        r.stderr
    );
    let (_, e) = WalletAwaitingRequest::new(
        [4; 32],
        Transport::Socket {
            addr: "gate.example:9".into(),
        },
    );
    let r = w.gate(&["check", &e.to_text()]);
    assert!(
        r.code == 2 && r.stderr.contains("not IP:PORT"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_gate_tui_runs_the_session_an_engagement_qr_asks_for() {
    let w = world();
    let (child, engagement) = engage(&w, &format!("{PIN}\n"));
    let sock = format!("tuaton-engage-{}", std::process::id());
    let cmd = format!(
        "{} --home {} gate; sleep 30",
        bin("tuaton-verifier").display(),
        w.p("gate")
    );
    tmux(
        &sock,
        &["new-session", "-d", "-s", "g", "-x", "80", "-y", "24", &cmd],
    );
    let wait = |want: &str| wait_for_screen(&sock, "g", want);
    wait("READY");
    tmux(&sock, &["send-keys", "-t", "g", "-l", &engagement]);
    tmux(&sock, &["send-keys", "-t", "g", "Enter"]);
    let screen = wait("VALID");
    tmux(&sock, &["send-keys", "-t", "g", "F10"]);
    tmux(&sock, &["kill-server"]);
    let out = child.wait_with_output().unwrap();
    assert!(
        screen.contains("VALID / ถูกต้อง"),
        "{screen}\nwallet: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(screen.contains("Mr. Somchai Jaidee"), "{screen}");
    assert!(
        screen.contains("▀▀▀▀▀▀▀▀"),
        "the portrait received over the session is drawn:\n{screen}"
    );
    assert_eq!(out.status.code(), Some(0));
}
