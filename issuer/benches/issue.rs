//! Issuance throughput per core, both forms together (gate COSE form + W3C VC signed with
//! ssi), through the issuer's real store. Run: `cargo bench -p tuaton-issuer --bench issue`.

use ed25519_dalek::SigningKey;
use std::time::Instant;
use tuaton_common::{enroll, sample, seal::KdfParams};
use tuaton_issuer::{Actor, InitOptions, Issuer, KeySource};

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = InitOptions::new("DOPA");
    o.kdf = KdfParams::insecure_for_tests();
    let now = 1_795_000_000;
    let iss = Issuer::init_sled(
        dir.path(),
        &o,
        KeySource::Passphrase(b"bench passphrase".to_vec().into()),
        now,
    )
    .unwrap();
    let me = Actor::cli();
    let record = sample::RECORDS[0].as_bytes();
    let req = enroll::request(&SigningKey::from_bytes(&[3; 32]), now);
    let issue = |t: i64| pollster::block_on(iss.issue(record, sample::PORTRAIT_A, &req, &me, t));
    let n = 200;
    // Warm up (context loader, allocations).
    issue(now).unwrap();
    let t = Instant::now();
    for i in 0..n {
        issue(now + i).unwrap();
    }
    let per = t.elapsed().as_secs_f64() / n as f64;
    // The parts, for where the time goes.
    let claims = sample::citizen(0);
    let k = SigningKey::from_bytes(&[4; 32]);
    let t = Instant::now();
    for _ in 0..n {
        let u = tuaton_common::w3c::unsigned(
            &claims,
            1,
            &tuaton_common::w3c::default_issuer_did(1),
            k.verifying_key(),
            &[1; 8],
            tuaton_common::gate::StatusRef { list: 0, index: 1 },
            now,
        )
        .unwrap();
        tuaton_common::w3c::sign(u, &k, now).unwrap();
    }
    let w3c = t.elapsed().as_secs_f64() / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        tuaton_common::gate::issue(
            &claims,
            &tuaton_common::gate::IssueParams {
                issuer: 1,
                signing_key: &k,
                kid: &[1, 2, 3, 4],
                holder_key: [5; 32].into(),
                credential_id: [1; 8],
                status: tuaton_common::gate::StatusRef { list: 0, index: 1 },
                issued_at: now,
            },
            &mut rand::rngs::OsRng,
        )
        .unwrap();
    }
    let gate = t.elapsed().as_secs_f64() / n as f64;
    println!("| issuance (one core, one run) | per credential | per second |");
    println!("|---|---:|---:|");
    println!(
        "| both forms through the issuer store (flushed) | {:.2} ms | {:.0} |",
        per * 1e3,
        1.0 / per
    );
    println!(
        "| W3C form alone (ssi eddsa-rdfc-2022) | {:.2} ms | {:.0} |",
        w3c * 1e3,
        1.0 / w3c
    );
    println!(
        "| gate form alone (two COSE_Sign1 members) | {:.3} ms | {:.0} |",
        gate * 1e3,
        1.0 / gate
    );
}
