//! Boarding pass figures from one run: parsing a one-leg and a four-leg pass with
//! conditional items and security data, the cross-check alone, and the time from the
//! second scan to the combined verdict in each order (pass second: pairing an ID verdict
//! already on screen; ID second: verifying the QR, then pairing). Ratios are to one whole
//! ID verification. Run: `cargo bench -p tuaton-common --bench boarding`.
use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tuaton_common::bcbp::{self, BoardingPass};
use tuaton_common::gate::StatusRef;
use tuaton_common::presentation::{self, Profile};
use tuaton_common::trust::{IssuerKey, KeyState, TrustStore, TrustedIssuer};
use tuaton_common::verify::{self, Context, ReplayView, StatusLookup, StatusView};

/// 2025-06-01T00:00:00Z, 07:00 in Thailand: day 152.
const NOW: i64 = 1_748_736_000;

fn time(iters: u32, rounds: u32, mut f: impl FnMut()) -> Duration {
    let mut v: Vec<Duration> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed() / iters
        })
        .collect();
    v.sort();
    v[v.len() / 2]
}

struct Good;
impl StatusView for Good {
    fn lookup(&self, _: u32, _: StatusRef, _: i64) -> StatusLookup {
        StatusLookup::Good
    }
}
struct Forgetful;
impl ReplayView for Forgetful {
    fn check_and_record(&mut self, _: [u8; 32], _: i64, _: i64) -> bool {
        false
    }
}

fn leg(from: &str, to: &str, flight: &str, var: &str) -> String {
    format!(
        "ABC123 {from}{to}TG {flight:<5}152Y032A0045 1{:02X}{var}",
        var.len()
    )
}

fn main() {
    let ik = SigningKey::from_bytes(&[1; 32]);
    let hk = SigningKey::from_bytes(&[2; 32]);
    let kid = [0xA1, 0xB2, 0xC3, 0xD4];
    let trust = TrustStore {
        issuers: vec![TrustedIssuer {
            id: 1,
            name: "DOPA".into(),
            did: None,
        }],
        keys: vec![IssuerKey {
            issuer: 1,
            kid: kid.to_vec(),
            public: ik.verifying_key(),
            not_before: 0,
            not_after: None,
            state: KeyState::Active,
        }],
        expires: None,
        ..Default::default()
    };
    let mut issue = tuaton_common::sample::Issue::new(0, &ik, hk.verifying_key(), 1_735_689_600);
    issue.kid = kid.to_vec();
    issue.status.index = 7;
    let cred = issue.gate(&mut StdRng::seed_from_u64(0)).unwrap();
    let qr =
        presentation::to_qr_text(&presentation::present(&cred, &hk, Profile::Flight, NOW).unwrap());
    let cond = {
        let unique = "0WW5152BTG ";
        let repeated = "2170123456789 0TG TG 1234567890123    020KN";
        format!(
            ">6{:02X}{unique}{:02X}{repeated}AIRLINE",
            unique.len(),
            repeated.len()
        )
    };
    let rep = "2170987654321 1TG TG 1234567890123    2PC";
    let rep = format!("{:02X}{rep}", rep.len());
    let sig = "GIWVC5EH7JNT684FVNJ91W2QA4DVN5J8K4F0L0GEQ3DF5TGBN8709HKT5D3DW3GBHFCVHMY7J5T6HFR4";
    let one = format!(
        "M1{:<20}E{}",
        "JAIDEE/SOMCHAI MR",
        leg("BKK", "CNX", "0102", "")
    );
    let four = format!(
        "M4{:<20}E{}{}{}{}^1{:02X}{sig}",
        "SRISUWANNAWONG/KANCH",
        leg("BKK", "CNX", "0102", &cond),
        leg("CNX", "HKT", "0114", &rep),
        leg("HKT", "KBV", "3201", &rep),
        leg("KBV", "BKK", "3210", &rep),
        sig.len()
    );
    assert_eq!(BoardingPass::parse(&four).unwrap().legs.len(), 4);
    let verify_once = || {
        let mut replay = Forgetful;
        let mut ctx = Context::new(NOW, &trust, &Good, &mut replay);
        verify::verify_qr(&qr, &mut ctx)
    };
    let id_verdict = verify_once();
    assert!(id_verdict.is_valid());
    let mut paired = id_verdict.clone();
    paired.pair(&one, NOW, Some("BKK"));
    assert!(paired.is_valid(), "{:?}", paired.boarding_pass);

    let t_verify = time(200, 15, || {
        black_box(verify_once());
    });
    let t_one = time(20_000, 15, || {
        black_box(BoardingPass::parse(black_box(&one)).unwrap());
    });
    let t_four = time(20_000, 15, || {
        black_box(BoardingPass::parse(black_box(&four)).unwrap());
    });
    let claims = id_verdict.claims.clone();
    let t_cross = time(20_000, 15, || {
        black_box(bcbp::cross_check(
            black_box(&one),
            claims.as_ref(),
            NOW,
            Some("BKK"),
        ));
    });
    let t_pass_second = time(20_000, 15, || {
        let mut v = id_verdict.clone();
        v.pair(black_box(&one), NOW, Some("BKK"));
        black_box(v.is_valid());
    });
    let t_id_second = time(200, 15, || {
        let mut v = verify_once();
        v.pair(black_box(&one), NOW, Some("BKK"));
        black_box(v.is_valid());
    });
    let ratio = |d: Duration| d.as_secs_f64() / t_verify.as_secs_f64();
    println!("| step | time | / one ID verify |");
    println!("|---|---:|---:|");
    for (name, d) in [
        ("ID verify (QR text to verdict), for scale", t_verify),
        (
            &format!("parse 1-leg pass ({} chars)", one.len())[..],
            t_one,
        ),
        (
            &format!(
                "parse 4-leg pass, v6 items + security ({} chars)",
                four.len()
            )[..],
            t_four,
        ),
        ("cross-check (parse + name + date + airport)", t_cross),
        ("second scan = pass: pair the ID on screen", t_pass_second),
        ("second scan = ID: verify + pair", t_id_second),
    ] {
        println!(
            "| {name} | {:.2} µs | {:.3} |",
            d.as_secs_f64() * 1e6,
            ratio(d)
        );
    }
}
