//! Wallet figures at release Argon2id parameters (64 MiB, t=3, p=1): unlock time, and
//! the time to produce a presentation once unlocked. Run:
//! `cargo bench -p tuaton-wallet --bench wallet` (release profile).

use std::time::Instant;
use tuaton_common::presentation::Profile;
use tuaton_wallet::{Pin, Wallet, WalletOptions};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let pin = Pin::parse("27183945", 8, None).unwrap();
    let w = Wallet::init(dir.path(), &pin, WalletOptions::default()).unwrap();
    let n = 5;
    let mut unlocks = vec![];
    for i in 0..n {
        let t = Instant::now();
        let u = w.unlock("27183945", i).unwrap();
        unlocks.push(t.elapsed().as_secs_f64());
        drop(u);
    }
    unlocks.sort_by(f64::total_cmp);
    // A card to present, made like the issuer makes it.
    let u = w.unlock("27183945", 100).unwrap();
    let holder = u.holder_key().unwrap();
    let claims = tuaton_common::sample::citizen(0);
    let ik = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let gate = tuaton_common::gate::issue(
        &claims,
        &tuaton_common::gate::IssueParams {
            issuer: 1,
            signing_key: &ik,
            kid: &[1, 2, 3, 4],
            holder_key: tuaton_common::holder::HolderSigner::holder_key(&holder),
            credential_id: [1; 8],
            status: tuaton_common::gate::StatusRef { list: 0, index: 1 },
            issued_at: 1_795_000_000,
        },
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let unsigned = tuaton_common::w3c::unsigned(
        &claims,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        tuaton_common::holder::HolderSigner::holder_key(&holder),
        &[1; 8],
        tuaton_common::gate::StatusRef { list: 0, index: 1 },
        1_795_000_000,
    )
    .unwrap();
    let w3c = tuaton_common::w3c::sign(unsigned, &ik, 1_795_000_000).unwrap();
    let pkg = serde_json::json!({"format": "tuaton-credential-package/1", "credential_id": "0101010101010101", "issuer": 1,
        "gate": hex::encode(gate.to_bytes()), "w3c": serde_json::from_str::<serde_json::Value>(&w3c).unwrap()});
    u.import(pkg.to_string().as_bytes(), None, 1_795_000_000)
        .unwrap();
    let m = 200;
    let t = Instant::now();
    for i in 0..m {
        std::hint::black_box(u.present(Profile::Flight, 1_795_000_000 + i).unwrap());
    }
    let present = t.elapsed().as_secs_f64() / m as f64;
    let t = Instant::now();
    for i in 0..m {
        let text = u.present(Profile::Flight, 1_795_000_000 + i).unwrap();
        std::hint::black_box(tuaton_wallet::render::qr_png(
            &tuaton_wallet::render::qr(&text).unwrap(),
        ));
    }
    let with_png = t.elapsed().as_secs_f64() / m as f64;
    println!("| wallet (one run) | time |");
    println!("|---|---:|");
    println!(
        "| unlock, Argon2id 64 MiB t=3 p=1 (median of {n}) | {:.0} ms |",
        unlocks[n as usize / 2] * 1e3
    );
    println!(
        "| flight presentation after unlock (decrypt card + sign) | {:.2} ms |",
        present * 1e3
    );
    println!(
        "| same plus QR code rendered to PNG | {:.2} ms |",
        with_png * 1e3
    );
}
