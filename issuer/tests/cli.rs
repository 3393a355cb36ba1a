//! Marks the issuer's binary for building with the workspace's tests (end-to-end tests in
//! `tests/` drive it) and checks its help lists exactly the documented commands.
use std::process::Command;

/// The subcommand names of `--help`'s "Commands:" section, in order (`help` excluded).
fn commands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn help_lists_every_command() {
    let out = Command::new(env!("CARGO_BIN_EXE_tuaton-issuer"))
        .arg("--help")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        commands(&s),
        [
            "init",
            "issue",
            "rotate",
            "reader-cert",
            "revoke-signer",
            "reader-revoke",
            "revoke-key",
            "revoke",
            "audit",
            "rotate-root",
            "keys",
            "resume",
            "backup",
            "restore",
            "serve",
            "office",
            "officer",
            "offer",
            "publish"
        ],
        "\n{s}"
    );
}
