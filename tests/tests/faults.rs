//! Fault injection with strace into the real binaries: each command that writes is killed
//! (SIGKILL) or refused space (ENOSPC) at its 1st to 6th call of each of write, pwrite64,
//! fsync, fdatasync and rename. After every fault the store opens, what was committed
//! before is intact, and the interrupted command is done wholly or not at all. `.ci/run`
//! installs strace; without it these tests fail rather than pass unchecked.
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use tuaton_tests::*;

const SYSCALLS: [&str; 5] = ["write", "pwrite64", "fsync", "fdatasync", "rename"];
const CALLS: std::ops::RangeInclusive<u32> = 1..=6;
const FAULTS: [&str; 2] = ["signal=SIGKILL", "error=ENOSPC"];

fn strace_available() {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is required for the fault matrix: apt-get install strace"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Runs `bin args` under strace with one injected fault; returns the exit code.
fn faulted(
    dir: &Path,
    bin_name: &str,
    args: &[&str],
    stdin: &str,
    syscall: &str,
    n: u32,
    fault: &str,
) -> i32 {
    use std::io::Write;
    let when = if fault.starts_with("error") {
        format!("{n}+")
    } else {
        n.to_string()
    };
    // `timeout`: a command that hangs on a fault fails the test instead of stalling it.
    let mut c = Command::new("timeout");
    c.current_dir(dir)
        .args([
            "60",
            "strace",
            "-f",
            "-o",
            "/dev/null",
            "-e",
            &format!("trace={syscall}"),
        ])
        .arg("-e")
        .arg(format!("inject={syscall}:{fault}:when={when}"))
        .arg(bin(bin_name))
        .args(args)
        .env("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
    let out = child.wait_with_output().unwrap();
    let code = out.status.code().unwrap_or(-1);
    // A refused write is an error that says what happened: never a hang, never a panic.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("panicked"),
        "{bin_name} {args:?} {syscall}#{n} {fault}: {err}"
    );
    assert_ne!(
        code, 124,
        "{bin_name} {args:?} hung after {syscall}#{n} {fault}"
    );
    // -1: killed by the injected signal (no exit code).
    assert!(
        matches!(code, -1 | 0 | 2 | 137),
        "{bin_name} {args:?} {syscall}#{n} {fault}: exit {code}: {err}"
    );
    // With every later write() refused, stderr itself may be unwritable; otherwise the
    // error is the usual two lines.
    if code == 2 && !err.is_empty() {
        assert_eq!(
            err.lines().count(),
            2,
            "{bin_name} {args:?} {syscall}#{n} {fault}: {err}"
        );
    }
    code
}

fn in_dir(dir: &Path, bin_name: &str, args: &[&str], stdin: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new(bin(bin_name))
        .current_dir(dir)
        .args(args)
        .env("TUATON_ISSUER_PASSPHRASE", PASSPHRASE)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).ok();
    child.wait_with_output().unwrap().into()
}

/// Runs `check` after each fault of the matrix on a fresh copy of `golden`, two at a time.
fn matrix(name: &str, golden: &Path, run: &(dyn Fn(&Path, &str, u32, &str) + Sync)) -> usize {
    strace_available();
    let cases: Vec<(&str, u32, &str)> = SYSCALLS
        .iter()
        .flat_map(|s| CALLS.flat_map(move |n| FAULTS.iter().map(move |f| (*s, n, *f))))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((s, n, f)) = cases.get(i) else { break };
                let d = tempfile::tempdir().unwrap();
                let w = d.path().join("w");
                copy_dir(golden, &w);
                run(&w, s, *n, f);
            });
        }
    });
    eprintln!("{name}: {} faults injected, all survived", cases.len());
    cases.len()
}

fn golden_world() -> (World, String) {
    let w = World::enrolled();
    let id = w.issuer(&["keys", "--json"]).ok();
    (w, id)
}

fn keys(dir: &Path) -> Value {
    let r = in_dir(
        dir,
        "tuaton-issuer",
        &["--home", "issuer", "keys", "--json"],
        "",
    );
    assert_eq!(r.code, 0, "the issuer store must open: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

#[test]
fn issuer_rotate_and_init_survive_every_fault() {
    let (w, _) = golden_world();
    let before = keys(w.dir.path());
    let fp = before["root_fingerprint"].clone();
    matrix("issuer rotate", w.dir.path(), &|d, s, n, f| {
        faulted(
            d,
            "tuaton-issuer",
            &["--home", "issuer", "rotate"],
            "",
            s,
            n,
            f,
        );
        let k = keys(d);
        assert_eq!(
            k["root_fingerprint"], fp,
            "the root keys survive ({s}#{n} {f})"
        );
        let ks = k["keys"].as_array().unwrap();
        let active = ks.iter().filter(|k| k["state"] == "active").count();
        // Wholly or not at all: the old key alone, or the old key still active and a new
        // one staged beside it (it becomes active at the next publish).
        assert!(
            (ks.len() == 1 && active == 1)
                || (ks.len() == 2 && active == 1 && ks[1]["state"] == "staged"),
            "{s}#{n} {f}: {k}"
        );
        // And the store still takes the next command.
        assert_eq!(
            in_dir(d, "tuaton-issuer", &["--home", "issuer", "rotate"], "").code,
            0
        );
    });
    let empty = World::new();
    matrix("issuer init", empty.dir.path(), &|d, s, n, f| {
        let code = faulted(
            d,
            "tuaton-issuer",
            &["--home", "issuer", "init", "--name", "DOPA"],
            "",
            s,
            n,
            f,
        );
        let r = in_dir(
            d,
            "tuaton-issuer",
            &["--home", "issuer", "keys", "--json"],
            "",
        );
        if r.code == 0 {
            // A whole issuer: root and signing key.
            let k: Value = serde_json::from_str(&r.stdout).unwrap();
            assert_eq!(k["keys"].as_array().unwrap().len(), 1, "{s}#{n} {f}");
        } else {
            assert_ne!(
                code, 0,
                "init said it worked but left no issuer ({s}#{n} {f})"
            );
            assert!(r.stderr.contains("no issuer"), "{s}#{n} {f}: {}", r.stderr);
            // No half-made store: init works now.
            let r = in_dir(
                d,
                "tuaton-issuer",
                &["--home", "issuer", "init", "--name", "DOPA"],
                "",
            );
            assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        }
    });
}

#[test]
fn wallet_change_pin_and_init_survive_every_fault() {
    let (w, _) = golden_world();
    let new = "50718263";
    let show = |d: &Path, pin: &str| {
        in_dir(
            d,
            "tuaton-wallet",
            &["--home", "wallet", "--pin-stdin", "show", "--json"],
            &format!("{pin}\n"),
        )
    };
    matrix("wallet change-pin", w.dir.path(), &|d, s, n, f| {
        faulted(
            d,
            "tuaton-wallet",
            &["--home", "wallet", "--pin-stdin", "change-pin"],
            &format!("{PIN}\n{new}\n{new}\n"),
            s,
            n,
            f,
        );
        // Exactly one PIN opens it (the old or the new), and the card is intact.
        let old_ok = show(d, PIN);
        let opened = if old_ok.code == 0 {
            old_ok
        } else {
            // The wrong PIN just now started a 1 s backoff.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            show(d, new)
        };
        assert_eq!(opened.code, 0, "{s}#{n} {f}: {}", opened.stderr);
        let v: Value = serde_json::from_str(opened.stdout.trim()).unwrap();
        assert_eq!(v["citizen_id"], "1103700012346", "{s}#{n} {f}");
    });
    let empty = World::new();
    matrix("wallet init", empty.dir.path(), &|d, s, n, f| {
        let code = faulted(
            d,
            "tuaton-wallet",
            &["--home", "wallet", "--pin-stdin", "init"],
            &format!("{PIN}\n{PIN}\n"),
            s,
            n,
            f,
        );
        let r = in_dir(
            d,
            "tuaton-wallet",
            &["--home", "wallet", "--pin-stdin", "request"],
            &format!("{PIN}\n"),
        );
        if r.code != 0 {
            assert_ne!(
                code, 0,
                "init said it worked but left no wallet ({s}#{n} {f})"
            );
            assert!(r.stderr.contains("no wallet"), "{s}#{n} {f}: {}", r.stderr);
            let r = in_dir(
                d,
                "tuaton-wallet",
                &["--home", "wallet", "--pin-stdin", "init"],
                &format!("{PIN}\n{PIN}\n"),
            );
            assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        }
    });
}

#[test]
fn gate_sync_survives_every_fault() {
    let (w, _) = golden_world();
    w.sync(None).ok();
    let fp = w.fingerprint();
    // A newer bundle to sync: the old one (version 1) stays or the new one (2) is whole.
    w.publish();
    let status = |d: &Path| {
        let r = in_dir(
            d,
            "tuaton-verifier",
            &["--home", "gate", "status", "--json"],
            "",
        );
        assert_eq!(
            r.code, 0,
            "the gate store must open with its bundle: {}",
            r.stderr
        );
        serde_json::from_str::<Value>(&r.stdout).unwrap()
    };
    let bundle: PathBuf = w.path("bundle");
    matrix("gate sync", w.dir.path(), &|d, s, n, f| {
        let b = d.join("bundle");
        let b = b.to_str().unwrap();
        faulted(
            d,
            "tuaton-verifier",
            &["--home", "gate", "sync", b, "--expect-root", &fp],
            "",
            s,
            n,
            f,
        );
        let v = status(d)["trust_list_version"].as_u64().unwrap();
        assert!(v == 1 || v == 2, "{s}#{n} {f}: version {v}");
        let r = in_dir(d, "tuaton-verifier", &["--home", "gate", "sync", b], "");
        assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        assert_eq!(status(d)["trust_list_version"], 2);
    });
    let _ = bundle;
}

#[test]
fn gate_reader_certificate_install_survives_every_fault() {
    let (w, _) = golden_world();
    // Allowing everything a flight gate asks for, so the install says nothing but its
    // result.
    w.certify_gate("BKK gate 12");
    w.publish();
    w.sync(None).ok();
    let reader = |d: &Path| {
        let r = in_dir(
            d,
            "tuaton-verifier",
            &["--home", "gate", "status", "--json"],
            "",
        );
        assert_eq!(r.code, 0, "the gate store must open: {}", r.stderr);
        serde_json::from_str::<Value>(&r.stdout).unwrap()["reader_certificate"].clone()
    };
    matrix("gate reader-cert", w.dir.path(), &|d, s, n, f| {
        let args = ["--home", "gate", "reader-cert", "BKK gate 12.pem"];
        faulted(d, "tuaton-verifier", &args, "", s, n, f);
        // None installed, or the whole certificate: never one that does not check.
        let c = reader(d);
        assert!(
            c.is_null()
                || c["subject"]
                    .as_str()
                    .is_some_and(|s| s.contains("BKK gate 12")),
            "{s}#{n} {f}: {c}"
        );
        // The gate's reader key survived: the retry installs the certificate made for it.
        let r = in_dir(d, "tuaton-verifier", &args, "");
        assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        assert!(reader(d)["subject"].as_str().is_some(), "{s}#{n} {f}");
    });
}

#[test]
fn publish_killed_or_out_of_disk_leaves_a_whole_bundle() {
    let (w, _) = golden_world();
    w.sync(None).ok();
    let fp = w.fingerprint();
    w.issuer(&["rotate"]).ok();
    let version = |d: &Path| -> u64 {
        let i: Value =
            serde_json::from_slice(&std::fs::read(d.join("bundle/index.json")).unwrap()).unwrap();
        i["trust_list_version"].as_u64().unwrap()
    };
    let before = version(w.dir.path());
    matrix("issuer publish", w.dir.path(), &|d, s, n, f| {
        let out = d.join("bundle");
        let out = out.to_str().unwrap();
        faulted(
            d,
            "tuaton-issuer",
            &["--home", "issuer", "publish", "--out", out],
            "",
            s,
            n,
            f,
        );
        // Whatever the index names now is a whole generation: the old one or the new one.
        let r = in_dir(
            d,
            "tuaton-verifier",
            &["--home", "gate", "sync", out, "--expect-root", &fp],
            "",
        );
        assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        let v = version(d);
        assert!(v == before || v == before + 1, "{s}#{n} {f}: {v}");
        // The next publish never reuses a version, and gates take it.
        let r = in_dir(
            d,
            "tuaton-issuer",
            &["--home", "issuer", "publish", "--out", out],
            "",
        );
        assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
        assert!(version(d) > v, "{s}#{n} {f}");
        let r = in_dir(d, "tuaton-verifier", &["--home", "gate", "sync", out], "");
        assert_eq!(r.code, 0, "{s}#{n} {f}: {}", r.stderr);
    });
}

#[test]
fn a_backup_cut_short_leaves_no_file_and_the_retry_works() {
    strace_available();
    let (w, _) = golden_world();
    // A whole backup's size (the sealing is random, its length is not).
    let reference = w.p("reference.bak");
    w.issuer(&["backup", "--out", &reference]).ok();
    let whole = std::fs::metadata(w.path("reference.bak")).unwrap().len();
    std::fs::remove_file(w.path("reference.bak")).unwrap();
    let mut cases = 0;
    for s in ["write", "fsync", "renameat2", "link"] {
        for n in 1..=3 {
            for f in FAULTS {
                let d = tempfile::tempdir().unwrap();
                let dir = d.path().join("w");
                copy_dir(w.dir.path(), &dir);
                let args = ["--home", "issuer", "backup", "--out", "issuer.bak"];
                let code = faulted(&dir, "tuaton-issuer", &args, "", s, n, f);
                let bak = dir.join("issuer.bak");
                match std::fs::metadata(&bak) {
                    // Under its name only whole.
                    Ok(m) => {
                        assert_eq!(m.len(), whole, "{s}#{n} {f}: exit {code}, a partial backup")
                    }
                    Err(_) => {
                        assert_ne!(code, 0, "{s}#{n} {f}: success without a backup");
                        // Nothing blocks the retry.
                        let r = in_dir(&dir, "tuaton-issuer", &args, "");
                        assert_eq!(r.code, 0, "{s}#{n} {f}: the retry failed: {}", r.stderr);
                        assert_eq!(std::fs::metadata(&bak).unwrap().len(), whole);
                    }
                }
                cases += 1;
            }
        }
    }
    eprintln!("issuer backup: {cases} faults injected, all survived");
}
