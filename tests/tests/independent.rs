//! `docs/vectors/verify_vector.py`, a verifier written from docs/FORMAT.md and
//! docs/TRUST.md alone (Python, sharing no code with tuaton), agrees with every committed
//! vector: the presentations, all trust cases, and the whole session. Needs a Python 3
//! with `cbor2` and `cryptography`: Debian's `python3-cbor2` and `python3-cryptography`
//! (README's install line) for `/usr/bin/python3`, or any `python3` on PATH that has them.
use std::process::Command;

/// The first Python that has both modules: the one on PATH (a virtual environment, a
/// developer's own), else Debian's, whose packages the README installs.
fn python() -> &'static str {
    ["python3", "/usr/bin/python3"]
        .into_iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import cbor2, cryptography"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "no Python 3 with cbor2 and cryptography: apt-get install python3-cbor2 python3-cryptography",
        )
}

#[test]
fn the_independent_python_verifier_agrees_with_every_vector() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/verify_vector.py"
    );
    let out = Command::new(python())
        .arg(script)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "verify_vector.py failed\n{stdout}\n{stderr}"
    );
    for want in [
        "tampered: rejected",
        "cases agree with tuaton",
        "session: hello, keys, messages, framing and the answer agree",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
}

#[test]
fn the_independent_python_mdoc_reader_agrees_with_every_mdoc_vector() {
    // docs/vectors/verify_mdoc.py: FORMAT.md section 11 alone, in Python.
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/verify_mdoc.py"
    );
    let out = Command::new(python())
        .arg(script)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "verify_mdoc.py failed\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "mdoc: 8 cases agree with tuaton",
        "mdoc: export transcript agrees",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
}
