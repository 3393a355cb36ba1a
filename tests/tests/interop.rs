//! tuaton's ISO 18013-5 implementation against isomdl, SpruceID's (interop/isomdl): isomdl
//! as the reader of a tuaton wallet, and a tuaton reader of an isomdl device, with reader
//! authentication, issuer and device authentication, and isomdl's Annex B certificate
//! profile checks. Ignored by default: it builds isomdl and its dependencies in a target
//! of their own (several minutes, about 2 GB). Run with
//! `cargo test -p tuaton-tests --test interop -- --ignored`.
use std::process::Command;

#[test]
#[ignore = "builds isomdl (several minutes): cargo test -p tuaton-tests --test interop -- --ignored"]
fn isomdl_and_tuaton_read_each_other() {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../interop/isomdl/Cargo.toml");
    let out = Command::new(env!("CARGO"))
        .args(["run", "--release", "--quiet", "--manifest-path", manifest])
        .output()
        .expect("cargo runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 checks failed"), "{stdout}");
    assert!(
        stdout.contains("PASS isomdl: tuaton's reader authentication is valid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("PASS isomdl reads tuaton's engagement as BLE"),
        "{stdout}"
    );
}

#[test]
#[ignore = "needs pymdoccbor: python3 -m venv docs/vectors/mdoc/.venv && docs/vectors/mdoc/.venv/bin/pip install -r docs/vectors/mdoc/requirements.txt"]
fn pymdoccbor_agrees_with_the_mdoc_vectors_issuer_side() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/vectors/mdoc");
    let out = Command::new(format!("{dir}/.venv/bin/python"))
        .current_dir(dir)
        .args(["pymdoccbor_check.py", "../mdoc-v1.json"])
        .output()
        .expect("the virtual environment's python runs (see the ignore reason)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("pymdoccbor agrees on 4 cases"), "{stdout}");
}
