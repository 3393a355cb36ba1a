//! The issuance service under load, through its real HTTP interface and a real PostgreSQL
//! server: sustained issuances per second with 50 offices at once (each issuance is an
//! officer's offer and a wallet's redemption, both forms signed), with the keys sealed in
//! the database and with the keys in a SoftHSM token; the latency from an offer to a card
//! imported in a wallet; the share of an issuance spent in the W3C signature; and
//! refreshes per second after a key rotation (`tuaton-wallet refresh`: the holder proves
//! its key, the same card is signed again by the new key), with the national re-key time
//! derived from it.
//!
//! Run: `cargo bench -p tuaton-issuer --bench service` (PostgreSQL as for the tests:
//! `TUATON_TEST_DATABASE` if set, else a throwaway server of its own).

use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuaton_common::offer::RefreshRequest;
use tuaton_common::offer::{
    self, Offer, OfferRequest, OfferResponse, RedeemRequest, RedeemResponse,
};
use tuaton_common::{sample, seal::KdfParams};
use tuaton_issuer::http::{post_json, App};
use tuaton_issuer::pg::PgStore;
use tuaton_issuer::token::TokenConfig;
use tuaton_issuer::{Actor, InitOptions, Issuer, KeySource};

type PgIssuer = Issuer<PgStore>;

/// One runtime for the bench's own calls into the library.
fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
    .block_on(f)
}

fn init(url: &str, o: &InitOptions, k: KeySource) -> PgIssuer {
    block(async { Issuer::init(PgStore::connect(url, 16).await?, o, k, now()).await }).unwrap()
}

fn bench_actor() -> Actor {
    Actor {
        office: "bench".into(),
        officer: "bench".into(),
    }
}

const OFFICES: usize = 50;
const ISSUANCES: usize = 1000;

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
        let admin = tuaton_tests::bench_database_server();
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
        // The load comes from one address: no per-client limit here.
        redeem_limit: None,
        limiter: Default::default(),
        trusted_proxy: None,
        bundles: Default::default(),
        metrics: Default::default(),
        nonce_key: Default::default(),
    });
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(tuaton_issuer::http::serve(app, l))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(200));
    url
}

fn offer_request() -> OfferRequest {
    OfferRequest {
        officer: "Malee".into(),
        record: {
            let mut r: serde_json::Value = serde_json::from_str(sample::RECORDS[0]).unwrap();
            r["citizen_id"] = random_citizen().into();
            r
        },
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

/// 50 office threads, each: offer, then redeem, until `ISSUANCES` are done. Issuances/s,
/// and the cards (gate form, holder key) for the refresh measure.
fn sustained(iss: Arc<PgIssuer>) -> (f64, Vec<(String, SigningKey)>) {
    let tokens: Vec<String> = (0..OFFICES)
        .map(|i| block(iss.add_office(&format!("Office {i}"), false, now())).unwrap())
        .collect();
    let url = serve(iss.clone());
    let cards = Arc::new(std::sync::Mutex::new(vec![]));
    let left = Arc::new(AtomicUsize::new(ISSUANCES));
    let t = Instant::now();
    let hs: Vec<_> = tokens
        .into_iter()
        .enumerate()
        .map(|(i, tok)| {
            let (url, left, cards) = (url.clone(), left.clone(), cards.clone());
            std::thread::spawn(move || {
                let k = SigningKey::from_bytes(&[i as u8 + 1; 32]);
                while left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let r: OfferResponse =
                        post_json(&url, "/v1/offers", Some(&tok), &offer_request()).unwrap();
                    let c = redeem(&url, &Offer::parse(&r.offer).unwrap(), &r.tx_code, &k);
                    let gate = c.package["gate"].as_str().unwrap().to_owned();
                    cards.lock().unwrap().push((gate, k.clone()));
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    let rate = ISSUANCES as f64 / t.elapsed().as_secs_f64();
    let cards = std::mem::take(&mut *cards.lock().unwrap());
    (rate, cards)
}

/// The issuer rotates and publishes (the new key signs), then 50 wallets at once renew
/// every card. Refreshes/s.
fn refreshes(iss: &PgIssuer, url: &str, cards: Vec<(String, SigningKey)>) -> f64 {
    block(iss.rotate(&bench_actor(), now())).unwrap();
    block(iss.publish(&bench_actor(), now(), 7)).unwrap();
    let n = cards.len();
    let queue = Arc::new(std::sync::Mutex::new(cards));
    let t = Instant::now();
    let hs: Vec<_> = (0..OFFICES)
        .map(|_| {
            let (url, queue) = (url.to_owned(), queue.clone());
            std::thread::spawn(move || loop {
                let Some((gate, k)) = queue.lock().unwrap().pop() else {
                    break;
                };
                let bytes = hex::decode(&gate).unwrap();
                let cred = tuaton_common::gate::GateCredential::from_bytes(&bytes).unwrap();
                let id = cred.full_member().unwrap().payload.credential_id;
                let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let at = now();
                let _: RedeemResponse = post_json(
                    &url,
                    "/v1/refresh",
                    None,
                    &RefreshRequest {
                        credential: b.encode(&bytes),
                        at,
                        proof: b.encode(offer::prove_refresh(&k, &url, &id, at)),
                    },
                )
                .unwrap();
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
}

fn opts(size: u64) -> InitOptions {
    let mut o = InitOptions::new("DOPA Bangkok");
    o.kdf = KdfParams::insecure_for_tests();
    o.status_list_size = size;
    o
}

/// A random valid citizen ID (13 digits, the last a check digit): every issuance of the
/// bench is another citizen's, as at real offices, so the one-card-per-citizen lookup
/// runs and supersedes nothing.
fn random_citizen() -> String {
    let first12: Vec<u32> = std::iter::once(1 + rand::random::<u32>() % 8)
        .chain((0..11).map(|_| rand::random::<u32>() % 10))
        .collect();
    let sum: u32 = first12
        .iter()
        .enumerate()
        .map(|(i, d)| d * (13 - i as u32))
        .sum();
    let check = (11 - sum % 11) % 10;
    first12
        .iter()
        .chain(std::iter::once(&check))
        .map(|d| char::from_digit(*d, 10).unwrap())
        .collect()
}

fn softhsm() -> Option<(tempfile::TempDir, TokenConfig)> {
    let (dir, conf) = tuaton_tests::softhsm_token("bench")?;
    std::env::set_var("SOFTHSM2_CONF", &conf);
    Some((
        dir,
        TokenConfig {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            label: "bench".into(),
            pin: tuaton_tests::SOFTHSM_PIN.into(),
        },
    ))
}

fn main() {
    let pass = || KeySource::Passphrase(b"bench passphrase".to_vec().into());
    println!("tuaton issuance service ({OFFICES} offices at once, {ISSUANCES} issuances, both forms signed)\n");
    println!("{:<58} {:>12}", "measure", "value");

    let db = Db::new("sealed");
    let iss = Arc::new(init(&db.url, &opts(1 << 20), pass()));
    let (sealed, cards) = sustained(iss.clone());
    println!(
        "{:<58} {:>10.1}/s",
        "issuances, keys sealed in PostgreSQL", sealed
    );
    let refresh_url = serve(iss.clone());
    let refresh_rate = refreshes(&iss, &refresh_url, cards);
    println!(
        "{:<58} {:>10.1}/s",
        "refreshes after a rotation, keys sealed", refresh_rate
    );

    let hsm = softhsm();
    let db2 = Db::new("token");
    let token_rate = hsm.as_ref().map(|(_, cfg)| {
        let iss = Arc::new(init(
            &db2.url,
            &opts(1 << 20),
            KeySource::Token(cfg.clone()),
        ));
        let (rate, cards) = sustained(iss.clone());
        let url = serve(iss.clone());
        (rate, refreshes(&iss, &url, cards))
    });
    // What one token signature costs against one in memory, each alone on one thread: an
    // issuance makes three (the offer, the gate form, the W3C proof).
    let sign_cost = hsm.as_ref().map(|(_, cfg)| {
        let t = tuaton_issuer::token::Token::open(cfg).unwrap();
        let k = t.generate("bench-probe").unwrap();
        let mem = SigningKey::from_bytes(&[9; 32]);
        let msg = [7u8; 200];
        let time = |f: &dyn Fn()| {
            (0..7)
                .map(|_| {
                    let s = Instant::now();
                    for _ in 0..100 {
                        f();
                    }
                    s.elapsed().as_secs_f64() * 1e6 / 100.0
                })
                .fold(f64::MAX, f64::min)
        };
        let token_us = time(&|| {
            k.sign_message(&msg).unwrap();
        });
        let mem_us = time(&|| {
            tuaton_common::signer::KeySigner::sign_message(&mem, &msg).unwrap();
        });
        (token_us, mem_us)
    });
    match token_rate {
        Some((r, f)) => {
            println!(
                "{:<58} {:>10.1}/s",
                "issuances, keys in SoftHSM (PKCS#11)", r
            );
            println!("{:<58} {:>11.2}x", "  ratio token / sealed", r / sealed);
            if let Some((token_us, mem_us)) = sign_cost {
                println!(
                    "{:<58} {:>9.0} µs",
                    "  one token signature alone (SoftHSM)", token_us
                );
                println!(
                    "{:<58} {:>9.0} µs",
                    "  one signature in memory alone", mem_us
                );
                // Two cores' time per issuance: the token's three signatures against the
                // whole extra time a token issuance takes over a sealed one.
                let extra_us = (2.0 / r - 2.0 / sealed) * 1e6;
                println!(
                    "{:<58} {:>9.0} µs",
                    "  3 token signatures' extra time per issuance",
                    3.0 * (token_us - mem_us)
                );
                println!(
                    "{:<58} {:>9.0} µs",
                    "  extra cores' time per token issuance, measured", extra_us
                );
            }
            println!(
                "{:<58} {:>10.1}/s",
                "refreshes after a rotation, SoftHSM", f
            );
        }
        None => println!("{:<58} {:>12}", "issuances, keys in SoftHSM", "no softhsm2"),
    }
    // A national re-key: every card refreshed once. This run's rate on this machine's
    // cores, scaled to 8 (the service is stateless; PostgreSQL's commits are the shared part).
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let per_core = refresh_rate / cores;
    println!(
        "{:<58} {:>10.1}/s",
        "  refreshes per core (sealed)", per_core
    );
    println!(
        "{:<58} {:>9.1} h",
        "  66 million cards on 8 such cores",
        66e6 / (per_core * 8.0) / 3600.0
    );

    // One officer, one wallet, nothing else running: offer to imported card.
    let office = block(iss.add_office("Latency", false, now())).unwrap();
    block(iss.publish(&bench_actor(), now(), 7)).unwrap();
    let url = serve(iss.clone());
    let wdir = tempfile::tempdir().unwrap();
    let wallet = tuaton_wallet::Wallet::init(
        wdir.path(),
        &tuaton_wallet::Pin::parse("27183945", 8, None).unwrap(),
        tuaton_wallet::WalletOptions {
            pin_len: 8,
            kdf: KdfParams::insecure_for_tests(),
            ..Default::default()
        },
    )
    .unwrap();
    // The same path through the standard flow (metadata, token, nonce, credential: five
    // round trips) and through the compact one (one round trip to /v1/credential).
    let mut medians = vec![];
    for standard in [true, false] {
        let mut lat = vec![];
        for _ in 0..20 {
            let t = Instant::now();
            let r: OfferResponse =
                post_json(&url, "/v1/offers", Some(&office), &offer_request()).unwrap();
            let o = Offer::parse(&r.offer).unwrap();
            let state = tuaton_wallet::offer::fetch_bundle(&o, now()).unwrap();
            let u = wallet.unlock("27183945", now()).unwrap();
            let holder = u.holder_key().unwrap();
            let pkg = if standard {
                tuaton_wallet::offer::redeem(&o, &r.tx_code, &holder, now()).unwrap()
            } else {
                use tuaton_common::holder::HolderSigner as _;
                let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let r: RedeemResponse = post_json(
                    &url,
                    "/v1/credential",
                    None,
                    &RedeemRequest {
                        pre_authorized_code: b.encode(o.code),
                        tx_code: r.tx_code.clone(),
                        holder_key: b.encode(holder.holder_key().as_bytes()),
                        proof: b.encode(offer::prove(&holder, &o)),
                    },
                )
                .unwrap();
                serde_json::to_vec(&r.package).unwrap()
            };
            u.import(&pkg, Some(&state), now()).unwrap();
            lat.push(t.elapsed().as_secs_f64() * 1e3);
        }
        lat.sort_by(f64::total_cmp);
        let what = if standard {
            "offer to imported card, OpenID4VCI, median of 20"
        } else {
            "offer to imported card, compact /v1/credential, median"
        };
        println!("{what:<58} {:>9.1} ms", lat[10]);
        println!("{:<58} {:>9.1} ms", "  slowest of 20", lat[19]);
        medians.push(lat[10]);
    }
    println!(
        "{:<58} {:>11.2}x",
        "  ratio OpenID4VCI / compact",
        medians[0] / medians[1]
    );

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
            &tuaton_common::w3c::default_issuer_did(1),
            holder,
            &[i as u8; 8],
            tuaton_common::gate::StatusRef { list: 0, index: i },
            now(),
        )
        .unwrap();
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
