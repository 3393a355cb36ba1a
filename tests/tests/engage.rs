//! Engagement sessions between the real wallet and gate binaries over a loopback socket.
use std::io::Write;
use tuaton_common::sample;
use tuaton_common::session::{Transport, WalletAwaitingRequest};
use tuaton_tests::*;

fn world() -> World {
    let w = World::enrolled();
    w.sync(None).ok();
    w
}

/// Starts `engage` of the enrolled wallet and returns the child and its engagement text.
fn engage(w: &World, consent: &str) -> (std::process::Child, String) {
    w.engage("wallet", consent)
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
    // And the audit log says what was refused and why.
    let log = w.gate(&["audit"]).ok();
    let last: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(
        last["reasons"],
        serde_json::json!(["session_failed"]),
        "{last}"
    );
    assert_eq!(last["session_failure"], "link", "{last}");
    assert!(
        last["session_detail"]
            .as_str()
            .unwrap()
            .contains("not a loopback address"),
        "{last}"
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
    let cmd = format!(
        "{} --home {} gate; sleep 30",
        bin("tuaton-verifier").display(),
        w.p("gate")
    );
    let t = Tmux::start("engage", 80, 24, &cmd);
    t.wait_for("READY");
    t.scan(&engagement);
    let screen = t.wait_for("VALID");
    t.key("F10");
    drop(t);
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

/// A listener on a loopback port that records whatever a gate writes to it, while
/// `behave` decides what it sends back.
fn listener(
    behave: impl FnOnce(&mut std::net::TcpStream) + Send + 'static,
) -> (String, std::thread::JoinHandle<Vec<u8>>) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    let h = std::thread::spawn(move || {
        use std::io::Read;
        let (mut s, _) = l.accept().unwrap();
        behave(&mut s);
        s.set_read_timeout(Some(std::time::Duration::from_millis(500)))
            .unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    });
    (addr, h)
}

#[test]
fn attack_engagement_qr_pointing_at_another_service() {
    let w = world();
    // Some service on a local port that says something first, as many do.
    let (addr, h) = listener(|s| {
        s.write_all(b"+OK service ready\r\n").unwrap();
    });
    let (_, e) = WalletAwaitingRequest::new([5; 32], Transport::Socket { addr });
    let t = std::time::Instant::now();
    let (code, v) = w.check(&e.to_text());
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["reasons"][0], "session_failed");
    assert!(t.elapsed().as_secs() < 15, "gave up within the hello wait");
    assert!(h.join().unwrap().is_empty(), "the gate wrote nothing to it");
}

#[test]
fn attack_wallet_dribbling_empty_chunks() {
    let w = world();
    let (waiting, e) = {
        // The engagement's address is only known once the listener is bound.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let (waiting, e) = WalletAwaitingRequest::new([6; 32], Transport::Socket { addr });
        let hello = waiting.hello([1; 64]);
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            for c in tuaton_common::framing::chunk(&hello, 517) {
                s.write_all(&tuaton_common::framing::stream_frame(&c))
                    .unwrap();
            }
            // Then, for ever, a chunk that says more follows and carries nothing.
            for i in 0u32.. {
                let c = [0x01, i as u8];
                if s.write_all(&tuaton_common::framing::stream_frame(&c))
                    .is_err()
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        (waiting, e)
    };
    drop(waiting);
    let t = std::time::Instant::now();
    let (code, v) = w.check(&e.to_text());
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["reasons"][0], "session_failed");
    assert!(
        t.elapsed().as_secs() < 5,
        "ended at the first empty chunk, not at a timeout"
    );
}
