//! `docs/vectors/verify_vector.py`, a verifier written from docs/FORMAT.md and
//! docs/TRUST.md alone (Python, sharing no code with tuaton), agrees with every committed
//! vector: the presentations, all trust cases, and the whole session. Needs `python3`
//! with `cbor2` and `cryptography` (`.ci/run` installs them).
use std::process::Command;

#[test]
fn the_independent_python_verifier_agrees_with_every_vector() {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/verify_vector.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .output()
        .expect("python3 runs (install it, with `pip install cbor2 cryptography`)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "verify_vector.py failed (missing modules? `pip install cbor2 cryptography`)\n{stdout}\n{stderr}"
    );
    for want in [
        "tampered: rejected",
        "cases agree with tuaton",
        "session: hello, keys, messages, framing and the answer agree",
    ] {
        assert!(stdout.contains(want), "no `{want}` in:\n{stdout}");
    }
}
