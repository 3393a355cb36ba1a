//! Marks the verifier's binary for building with the workspace's tests and checks its
//! errors before any sync.
use std::process::Command;

#[test]
fn check_before_sync_is_an_error_with_a_hint() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tuaton-verifier"))
        .args(["--home", dir.path().to_str().unwrap(), "check", "TT1:ABC"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: no trust bundle synced\nhint: run `tuaton-verifier sync DIR-or-URL --expect-root FINGERPRINT` first\n"
    );
}
