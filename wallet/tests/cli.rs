//! Marks the wallet's binary for building with the workspace's tests (end-to-end tests in
//! `tests/` drive it) and checks its help.
use std::process::Command;

#[test]
fn help_lists_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_tuaton-wallet"))
        .arg("--help")
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    for c in [
        "init",
        "request",
        "import",
        "show",
        "present",
        "export",
        "change-pin",
        "reset",
    ] {
        assert!(s.contains(c), "{c} missing from:\n{s}");
    }
}
