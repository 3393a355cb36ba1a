//! Bluetooth LE between two real machines. Ignored by default: this needs radios.
//!
//! Machine A (wallet), built with `--features tuaton-wallet/ble`:
//!   `tuaton-wallet --home wal engage --transport ble --text`  (prints the engagement first)
//! Machine B (gate), built with `--features tuaton-verifier/ble`, with a synced bundle:
//!   `TUATON_BLE_ENGAGEMENT='TTB1:...' TUATON_GATE_HOME=/path/to/gate \
//!    cargo test -p tuaton-tests --features ble --test ble_hardware -- --ignored`
//! then enter the PIN on machine A when it shows the gate's request.
//!
//! The same test reads an ISO 18013-5 wallet: on machine A run `engage --iso --transport
//! ble --text` and set `TUATON_BLE_ENGAGEMENT` to its `mdoc:` line; the gate needs a
//! reader certificate (`tuaton-verifier reader-key`, `reader-cert`; README).
//!
//! The test builds the gate with Bluetooth LE itself (`cargo build -p tuaton-verifier
//! --features ble`), so it never runs a binary built without it.
#![cfg(feature = "ble")]

use std::path::PathBuf;
use std::process::Command;

/// Builds the gate binary with the `ble` feature and returns its path.
fn ble_gate() -> PathBuf {
    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ble");
    let ok = Command::new(env!("CARGO"))
        .args([
            "build",
            "-p",
            "tuaton-verifier",
            "--features",
            "ble",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("cargo runs")
        .success();
    assert!(ok, "building tuaton-verifier with --features ble failed");
    target.join("debug/tuaton-verifier")
}

#[test]
#[ignore = "needs two machines with Bluetooth LE; see the module docs"]
fn the_gate_reads_a_real_wallet_over_ble() {
    let engagement = std::env::var("TUATON_BLE_ENGAGEMENT")
        .expect("set TUATON_BLE_ENGAGEMENT to the wallet's engagement text");
    let home = std::env::var("TUATON_GATE_HOME")
        .expect("set TUATON_GATE_HOME to a gate home with a synced bundle");
    let o = Command::new(ble_gate())
        .args(["--home", &home, "check", "--json", &engagement])
        .output()
        .expect("the BLE gate runs");
    let r = tuaton_tests::Run::from(o);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "valid");
    assert!(
        v["claims"]["portrait_bytes"].as_u64().unwrap_or(0) > 0,
        "the portrait came over BLE"
    );
}
