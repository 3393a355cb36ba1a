//! Bluetooth LE between two real machines. Ignored by default: this needs radios.
//!
//! Machine A (wallet), built with `--features tuaton-wallet/ble`:
//!   `tuaton-wallet --home wal engage --transport ble --text`  (prints the engagement first)
//! Machine B (gate), built with `--features tuaton-verifier/ble`, with a synced bundle:
//!   `TUATON_BLE_ENGAGEMENT='TTB1:...' TUATON_GATE_HOME=/path/to/gate \
//!    cargo test -p tuaton-tests --features ble --test ble_hardware -- --ignored`
//! then enter the PIN on machine A when it shows the gate's request.
use tuaton_tests::run;

#[test]
#[ignore = "needs two machines with Bluetooth LE; see the module docs"]
fn the_gate_reads_a_real_wallet_over_ble() {
    let engagement = std::env::var("TUATON_BLE_ENGAGEMENT")
        .expect("set TUATON_BLE_ENGAGEMENT to the wallet's engagement text");
    let home = std::env::var("TUATON_GATE_HOME")
        .expect("set TUATON_GATE_HOME to a gate home with a synced bundle");
    let r = run(
        "tuaton-verifier",
        &["--home", &home, "check", "--json", &engagement],
        "",
        &[],
    );
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let v: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["verdict"], "valid");
    assert!(
        v["claims"]["portrait_bytes"].as_u64().unwrap_or(0) > 0,
        "the portrait came over BLE"
    );
}
