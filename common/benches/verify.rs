//! Prints, from one run: (a) the floor, two raw Ed25519 verifications, and the same two
//! signatures as one batch (with and without parsing the holder key); (b) tuaton's whole
//! verify from QR text to verdict; (c) ssi verifying the W3C form of the same credential;
//! (d) the same card bound to a P-256 holder key (ES256 proof): its floor (one Ed25519 and
//! one ES256 verification, the point decompressed) and tuaton's whole verify; and the QR
//! size of each profile with either key. Run: `cargo bench -p tuaton-common --bench verify`.

use ed25519_dalek::{Signer, SigningKey};
use p256::ecdsa::signature::Verifier as _;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::hint::black_box;
use std::time::{Duration, Instant};
use tuaton_common::gate::{self, IssueParams, StatusRef};
use tuaton_common::holder::{HolderKey, HolderSigner};
use tuaton_common::presentation::{self, Profile};
use tuaton_common::trust::{IssuerKey, KeyState, TrustStore, TrustedIssuer};
use tuaton_common::verify::{self, Context, ReplayView, StatusLookup, StatusView};
use tuaton_common::{sample, w3c};

const NOW: i64 = 1_748_736_000;
const ISSUED: i64 = 1_735_689_600;

/// Time per call of each of `fs`: the fastest of `rounds` rounds that each time `iters`
/// calls of every one in turn. A shared machine's noise only ever slows a round, and
/// interleaving lets a slow spell fall on all of them alike rather than on whichever was
/// being measured, so the ratios between rows hold from one run to the next.
fn race(iters: u32, rounds: u32, fs: &mut [&mut dyn FnMut()]) -> Vec<Duration> {
    let mut best = vec![Duration::MAX; fs.len()];
    for _ in 0..rounds {
        for (f, b) in fs.iter_mut().zip(&mut best) {
            let start = Instant::now();
            for _ in 0..iters {
                f();
            }
            *b = (*b).min(start.elapsed() / iters);
        }
    }
    best
}

struct Good;
impl StatusView for Good {
    fn lookup(&self, _: u32, _: StatusRef, _: i64) -> StatusLookup {
        StatusLookup::Good
    }
}
/// Remembers nothing, so every iteration does the full work of a first scan.
struct Forgetful;
impl ReplayView for Forgetful {
    fn check_and_record(&mut self, _: [u8; 32], _: i64, _: i64) -> bool {
        false
    }
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
    let phone = p256::ecdsa::SigningKey::from_slice(&[0x42; 32]).unwrap();
    let issue_to = |i: usize, holder: HolderKey| {
        let claims = sample::citizen(i);
        let p = IssueParams {
            issuer: 1,
            signing_key: &ik,
            kid: &kid,
            holder_key: holder,
            credential_id: [i as u8; 8],
            status: StatusRef {
                list: 0,
                index: 1_234_567,
            },
            issued_at: ISSUED,
        };
        gate::issue(&claims, &p, &mut StdRng::seed_from_u64(i as u64)).unwrap()
    };
    let issue = |i: usize| {
        let claims = sample::citizen(i);
        let status = StatusRef {
            list: 0,
            index: 1_234_567,
        };
        let p = IssueParams {
            issuer: 1,
            signing_key: &ik,
            kid: &kid,
            holder_key: hk.verifying_key().to_bytes().into(),
            credential_id: [i as u8; 8],
            status,
            issued_at: ISSUED,
        };
        let cred = gate::issue(&claims, &p, &mut StdRng::seed_from_u64(i as u64)).unwrap();
        let unsigned = w3c::unsigned(
            &claims,
            1,
            &w3c::default_issuer_did(1),
            hk.verifying_key(),
            &[i as u8; 8],
            status,
            ISSUED,
        )
        .unwrap();
        (cred, w3c::sign(unsigned, &ik, ISSUED).unwrap())
    };
    let (cred, w3c_json) = issue(0);
    let text =
        presentation::to_qr_text(&presentation::present(&cred, &hk, Profile::Flight, NOW).unwrap());

    // (a) the floor: two Ed25519 verifications of messages of the same sizes.
    let m1 = vec![7u8; 300];
    let m2 = vec![9u8; 400];
    let (s1, s2) = (ik.sign(&m1), hk.sign(&m2));
    let (v1, v2) = (ik.verifying_key(), hk.verifying_key());
    let mut a = || {
        black_box(v1.verify_strict(black_box(&m1), &s1).is_ok());
        black_box(v2.verify_strict(black_box(&m2), &s2).is_ok());
    };
    let mut ab = || {
        black_box(ed25519_dalek::verify_batch(&[&m1[..], &m2[..]], &[s1, s2], &[v1, v2]).is_ok());
    };
    // The same batch with the holder key taken from its 32 bytes, as a presentation
    // carries it (the issuer key stays parsed: a gate holds its trust list in memory).
    let hk_bytes = v2.to_bytes();
    let mut abk = || {
        let h = ed25519_dalek::VerifyingKey::from_bytes(black_box(&hk_bytes)).unwrap();
        black_box(ed25519_dalek::verify_batch(&[&m1[..], &m2[..]], &[s1, s2], &[v1, h]).is_ok());
    };
    // The same batch as tuaton makes it: the holder key parsed, the issuer key's and the
    // base point's tables kept from one scan to the next.
    let tables = tuaton_common::batch::KeyTables::default();
    let mut abt = || {
        let h = ed25519_dalek::VerifyingKey::from_bytes(black_box(&hk_bytes)).unwrap();
        black_box(tuaton_common::batch::verify_pair(
            &tables, &v1, &m1, &s1, &h, &m2, &s2,
        ));
    };
    // (b) QR text to verdict.
    let mut b = || {
        let mut replay = Forgetful;
        let mut ctx = Context::new(NOW, &trust, &Good, &mut replay);
        let v = verify::verify_qr(black_box(&text), &mut ctx);
        assert!(v.is_valid());
    };
    // (d) P-256: the floor is the issuer's Ed25519 signature and the holder's ES256 one,
    // the holder's point decompressed from its 33 bytes as a presentation carries it.
    let (p1, p2) = (ik.sign(&m1), phone.sign_holder(&m2));
    let p_bytes = phone.holder_key();
    let mut dp = || {
        black_box(v1.verify_strict(black_box(&m1), &p1).is_ok());
        black_box(black_box(p_bytes).verify(black_box(&m2), &p2));
    };
    // The pure-Rust P-256 (RustCrypto's p256) on the same proof, for comparison.
    let mut dr = || {
        black_box(v1.verify_strict(black_box(&m1), &p1).is_ok());
        let k = p256::ecdsa::VerifyingKey::from_sec1_bytes(black_box(p_bytes.as_bytes())).unwrap();
        let s = p256::ecdsa::Signature::from_slice(&p2).unwrap();
        black_box(k.verify(black_box(&m2), &s).is_ok());
    };
    let p_cred = issue_to(0, phone.holder_key());
    let p_text = presentation::to_qr_text(
        &presentation::present(&p_cred, &phone, Profile::Flight, NOW).unwrap(),
    );
    let mut d = || {
        let mut replay = Forgetful;
        let mut ctx = Context::new(NOW, &trust, &Good, &mut replay);
        let v = verify::verify_qr(black_box(&p_text), &mut ctx);
        assert!(v.is_valid());
    };
    // (c) ssi on the W3C form of the same credential (slow: a few calls per round).
    let mut c = || {
        w3c::verify(black_box(&w3c_json), NOW).unwrap();
    };
    let [a, ab, abk, abt, b, dp, dr, d] = race(
        10,
        301,
        &mut [
            &mut a, &mut ab, &mut abk, &mut abt, &mut b, &mut dp, &mut dr, &mut d,
        ],
    )[..] else {
        unreachable!()
    };
    let c = race(5, 7, &mut [&mut c])[0];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!("verification, time per call (one run: the fastest of 301 interleaved rounds)");
    println!("| what | µs | vs (a) | vs the batch | vs the batch with the key parsed |");
    println!("|---|---:|---:|---:|---:|");
    let row = |what: &str, d: Duration| {
        println!(
            "| {what} | {:.1} | {:.2} | {:.2} | {:.2} |",
            us(d),
            us(d) / us(a),
            us(d) / us(ab),
            us(d) / us(abk)
        )
    };
    row("(a) two raw Ed25519 verify_strict", a);
    row("two Ed25519 signatures as one batch", ab);
    row("the same batch, the holder key parsed from 32 bytes", abk);
    row(
        "    the same, the issuer key's tables kept (as tuaton's gate does)",
        abt,
    );
    row("(b) tuaton verify, QR text -> verdict", b);
    row(
        "(d) P-256 floor: Ed25519 verify_strict + ES256 verify (AWS-LC)",
        dp,
    );
    row("    the same with RustCrypto's p256 for the ES256", dr);
    row("(d) tuaton verify, P-256 holder, QR text -> verdict", d);
    println!(
        "| (c) ssi verify, W3C form (eddsa-rdfc-2022) | {:.1} | {:.1} x (b) | | |",
        us(c),
        us(c) / us(b)
    );
    println!();
    println!("QR payload per profile and holder key (ECC M)");
    println!("| citizen | profile | holder key | CBOR bytes | QR chars | QR version |");
    println!("|---|---|---|---:|---:|---:|");
    for i in 0..4 {
        let c = sample::citizen(i);
        let cards: [(&str, _, &dyn HolderSigner); 2] = [
            ("Ed25519", issue(i).0, &hk),
            ("P-256", issue_to(i, phone.holder_key()), &phone),
        ];
        for (p, (kind, cred, holder)) in [Profile::Flight, Profile::Age, Profile::Full]
            .into_iter()
            .flat_map(|p| cards.iter().map(move |c| (p, c)))
        {
            let b = presentation::present(cred, *holder, p, NOW).unwrap();
            let t = presentation::to_qr_text(&b);
            let q = qrcode::QrCode::with_error_correction_level(t.as_bytes(), qrcode::EcLevel::M)
                .unwrap();
            let ver = match q.version() {
                qrcode::Version::Normal(n) => n,
                qrcode::Version::Micro(n) => n,
            };
            println!(
                "| {} {} | {:?} | {kind} | {} | {} | {} |",
                c.given_name_en,
                c.family_name_en,
                p,
                b.len(),
                t.len(),
                ver
            );
        }
    }
}
