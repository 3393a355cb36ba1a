//! The issuance service under load, through its real HTTP interface and a real PostgreSQL
//! server: sustained issuances per second with 50 offices at once (each issuance is an
//! officer's offer and a wallet's redemption, both forms signed), with the keys sealed in
//! the database and with the keys in a SoftHSM token; the latency from an offer to a card
//! imported in a wallet; and the share of an issuance spent in the W3C signature.
//!
//! Run: `cargo bench -p tuaton-issuer --bench service` (PostgreSQL as for the tests:
//! `TUATON_TEST_DATABASE`, default postgres://tuaton:tuaton@127.0.0.1/postgres).

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuaton_common::offer::{
    self, Offer, OfferRequest, OfferResponse, RedeemRequest, RedeemResponse,
};
use tuaton_common::{sample, seal::KdfParams};
use tuaton_issuer::http::{post_json, App};
use tuaton_issuer::pg::{KeySource, PgIssuer};
use tuaton_issuer::token::TokenConfig;
use tuaton_issuer::InitOptions;

const OFFICES: usize = 50;
const ISSUANCES: usize = 500;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Db {
    admin: String,
    name: String,
    url: String,
}
impl Db {
    fn new(tag: &str) -> Db {
        let admin = std::env::var("TUATON_TEST_DATABASE")
            .unwrap_or_else(|_| "postgres://tuaton:tuaton@127.0.0.1/postgres".into());
        let name = format!("tuaton_bench_{tag}_{}", std::process::id());
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("PostgreSQL");
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        Db { admin, name, url }
    }
}
impl Drop for Db {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .ok();
        }
    }
}

/// Starts the service in this process on a free port; returns its URL.
fn serve(iss: Arc<PgIssuer>) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    let app = Arc::new(App {
        issuer: iss,
        public_url: url.clone(),
        now,
    });
    std::thread::spawn(move || tuaton_issuer::http::serve(app, l).unwrap());
    std::thread::sleep(Duration::from_millis(200));
    url
}

fn offer_request() -> OfferRequest {
    OfferRequest {
        officer: "Malee".into(),
        record: serde_json::from_str(sample::RECORDS[0]).unwrap(),
        portrait: base64::engine::general_purpose::STANDARD.encode(sample::PORTRAIT_A),
    }
}

fn redeem(url: &str, o: &Offer, tx: &str, k: &SigningKey) -> RedeemResponse {
    let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    post_json(
        url,
        "/v1/credential",
        None,
        &RedeemRequest {
            pre_authorized_code: b.encode(o.code),
            tx_code: tx.into(),
            holder_key: b.encode(k.verifying_key().to_bytes()),
            proof: b.encode(offer::prove(k, o)),
        },
    )
    .unwrap()
}

/// 50 office threads, each: offer, then redeem, until `ISSUANCES` are done. Issuances/s.
fn sustained(iss: Arc<PgIssuer>) -> f64 {
    let tokens: Vec<String> = (0..OFFICES)
        .map(|i| {
            iss.add_office(&format!("Office {i}"), false, now())
                .unwrap()
        })
        .collect();
    let url = serve(iss);
    let left = Arc::new(AtomicUsize::new(ISSUANCES));
    let t = Instant::now();
    let hs: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, tok)| {
            let (url, left) = (url.clone(), left.clone());
            std::thread::spawn(move || {
                let k = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let r: OfferResponse =
                        post_json(&url, "/v1/offers", Some(&tok), &offer_request()).unwrap();
                    redeem(&url, &Offer::parse(&r.offer).unwrap(), &r.tx_code, &k);
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    ISSUANCES as f64 / t.elapsed().as_secs_f64()
}

fn opts(size: u64) -> InitOptions {
    let mut o = InitOptions::new("DOPA Bangkok");
    o.kdf = KdfParams::insecure_for_tests();
    o.status_list_size = size;
    o
}

fn softhsm() -> Option<(tempfile::TempDir, TokenConfig)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    std::env::set_var("SOFTHSM2_CONF", &conf);
    let ok = std::process::Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "55443322",
            "--pin",
            "11223344",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    ok.then(|| {
        (
            dir,
            TokenConfig {
                module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                label: "bench".into(),
                pin: "11223344".into(),
            },
        )
    })
}

fn main() {
    let pass = || KeySource::Passphrase(b"bench passphrase".to_vec().into());
    println!("tuaton issuance service ({OFFICES} offices at once, {ISSUANCES} issuances, both forms signed)\n");
    println!("{:<58} {:>12}", "measure", "value");

    let db = Db::new("sealed");
    let iss = Arc::new(PgIssuer::init(&db.url, &opts(1 << 20), pass(), now()).unwrap());
    let sealed = sustained(iss.clone());
    println!(
        "{:<58} {:>10.1}/s",
        "issuances, keys sealed in PostgreSQL", sealed
    );

    let hsm = softhsm();
    let db2 = Db::new("token");
    let token_rate = hsm.as_ref().map(|(_, cfg)| {
        let iss = Arc::new(
            PgIssuer::init(
                &db2.url,
                &opts(1 << 20),
                KeySource::Token(cfg.clone()),
                now(),
            )
            .unwrap(),
        );
        sustained(iss)
    });
    match token_rate {
        Some(r) => {
            println!(
                "{:<58} {:>10.1}/s",
                "issuances, keys in SoftHSM (PKCS#11)", r
            );
            println!("{:<58} {:>11.2}x", "  ratio token / sealed", r / sealed);
        }
        None => println!("{:<58} {:>12}", "issuances, keys in SoftHSM", "no softhsm2"),
    }

    // One officer, one wallet, nothing else running: offer to imported card.
    let office = iss.add_office("Latency", false, now()).unwrap();
    iss.publish("bench", "bench", now(), 7).unwrap();
    let url = serve(iss.clone());
    let wdir = tempfile::tempdir().unwrap();
    let wallet = tuaton_wallet::Wallet::init(
        wdir.path(),
        &tuaton_wallet::Pin::parse("27183945", 8, None).unwrap(),
        tuaton_wallet::WalletOptions {
            pin_len: 8,
            kdf: KdfParams::insecure_for_tests(),
        },
    )
    .unwrap();
    let mut lat = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        let r: OfferResponse =
            post_json(&url, "/v1/offers", Some(&office), &offer_request()).unwrap();
        let o = Offer::parse(&r.offer).unwrap();
        let state = tuaton_wallet::offer::fetch_bundle(&o, now()).unwrap();
        let u = wallet.unlock("27183945", now()).unwrap();
        let pkg = tuaton_wallet::offer::redeem(&o, &r.tx_code, &u.holder_key().unwrap()).unwrap();
        u.import(&pkg, Some(&state), now()).unwrap();
        lat.push(t.elapsed().as_secs_f64() * 1e3);
    }
    lat.sort_by(f64::total_cmp);
    println!(
        "{:<58} {:>9.1} ms",
        "offer to imported card, median of 20 (PIN KDF excluded)", lat[10]
    );
    println!("{:<58} {:>9.1} ms", "  slowest of 20", lat[19]);

    // Where an issuance's time goes: the W3C form's signature against the whole redeem.
    let claims = sample::citizen(0);
    let k = SigningKey::from_bytes(&[4; 32]);
    let holder = SigningKey::from_bytes(&[5; 32]).verifying_key();
    let n = 100;
    let t = Instant::now();
    for i in 0..n {
        let u = tuaton_common::w3c::unsigned(
            &claims,
            1,
            &k.verifying_key(),
            &holder,
            &[i as u8; 8],
            tuaton_common::gate::StatusRef { list: 0, index: i },
            now(),
        );
        tuaton_common::w3c::sign(u, &k, now()).unwrap();
    }
    let w3c_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    let t = Instant::now();
    for i in 0..n {
        let r: OfferResponse =
            post_json(&url, "/v1/offers", Some(&office), &offer_request()).unwrap();
        redeem(
            &url,
            &Offer::parse(&r.offer).unwrap(),
            &r.tx_code,
            &SigningKey::from_bytes(&[i as u8; 32]),
        );
    }
    let one_ms = t.elapsed().as_secs_f64() * 1e3 / n as f64;
    println!(
        "{:<58} {:>9.2} ms",
        "one issuance alone (offer + redeem over HTTP)", one_ms
    );
    println!(
        "{:<58} {:>9.2} ms",
        "  of which the W3C signature (eddsa-rdfc-2022)", w3c_ms
    );
    println!(
        "{:<58} {:>10.0} %",
        "  share of the W3C signature",
        100.0 * w3c_ms / one_ms
    );
    println!(
        "{:<58} {:>11.2}x",
        "sustained 50-office rate / one-at-a-time rate",
        sealed / (1e3 / one_ms)
    );
    drop(hsm);
}
