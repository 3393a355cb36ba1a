//! A fleet of gates syncing from one issuance service's `/bundle/`: 1,000 syncs (each
//! `index.json`, then every file it names, as a gate reads them) from 50 gates at once,
//! against one instance on a real PostgreSQL server with a 1,048,576-entry status list.
//! Prints syncs per second, requests and bytes per sync, and the database reads per sync
//! (the service's own count), beside what one read per file would have been.
//!
//! Run: `cargo bench -p tuaton-issuer --bench fleet` (PostgreSQL as for the tests:
//! `TUATON_TEST_DATABASE` if set, else a throwaway server of its own).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuaton_common::seal::KdfParams;
use tuaton_issuer::http::App;
use tuaton_issuer::pg::PgStore;
use tuaton_issuer::{Actor, InitOptions, Issuer, KeySource};

const GATES: usize = 50;
const SYNCS: usize = 1000;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn main() {
    let admin = tuaton_tests::bench_database_server();
    let name = format!("tuaton_bench_fleet_{}", std::process::id());
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("PostgreSQL");
    c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut o = InitOptions::new("DOPA Bangkok");
    o.kdf = KdfParams::insecure_for_tests();
    o.status_list_size = 1 << 20;
    let iss = rt
        .block_on(async {
            let iss = Issuer::init(
                PgStore::connect(&url, 16).await?,
                &o,
                KeySource::Passphrase(b"bench passphrase".to_vec().into()),
                now(),
            )
            .await?;
            let actor = Actor {
                office: "bench".into(),
                officer: "bench".into(),
            };
            iss.publish(&actor, now(), 7).await?;
            Ok::<_, tuaton_issuer::IssuerError>(iss)
        })
        .unwrap();
    let app = Arc::new(App {
        issuer: Arc::new(iss),
        public_url: "http://127.0.0.1".into(),
        now,
        redeem_limit: None,
        limiter: Default::default(),
        trusted_proxy: None,
        bundles: Default::default(),
        metrics: Default::default(),
        nonce_key: Default::default(),
    });
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}/bundle/", l.local_addr().unwrap());
    let served = app.clone();
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(tuaton_issuer::http::serve(served, l))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(300));

    let (requests, bytes) = (AtomicU64::new(0), AtomicU64::new(0));
    let reads_before = app.bundles.database_reads();
    let t = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..GATES {
            s.spawn(|| {
                let http = tuaton_cli::net::Http::new(&base, Duration::from_secs(600)).unwrap();
                for _ in 0..SYNCS / GATES {
                    let index = http.get(&format!("{base}index.json"), 1 << 20).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&index).unwrap();
                    let mut paths: Vec<String> = vec![v["trust_list"].as_str().unwrap().into()];
                    for k in ["roots", "status"] {
                        paths.extend(
                            v[k].as_array()
                                .unwrap()
                                .iter()
                                .map(|p| p.as_str().unwrap().to_owned()),
                        );
                    }
                    let mut n = index.len() as u64;
                    for p in &paths {
                        n += http.get(&format!("{base}{p}"), 64 << 20).unwrap().len() as u64;
                    }
                    requests.fetch_add(1 + paths.len() as u64, Ordering::Relaxed);
                    bytes.fetch_add(n, Ordering::Relaxed);
                }
            });
        }
    });
    let secs = t.elapsed().as_secs_f64();
    let reads = app.bundles.database_reads() - reads_before;
    let per_sync = requests.load(Ordering::Relaxed) as f64 / SYNCS as f64;
    println!("{SYNCS} gate syncs from one service instance, {GATES} gates at once\n");
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| syncs per second | {:.0} |", SYNCS as f64 / secs);
    println!("| requests per sync | {per_sync:.0} |");
    println!(
        "| bytes per sync | {:.0} KiB |",
        bytes.load(Ordering::Relaxed) as f64 / SYNCS as f64 / 1024.0
    );
    println!(
        "| database reads per sync (index.json's generation check; files from memory) | {:.2} |",
        reads as f64 / SYNCS as f64
    );
    println!("| database reads per sync with one read a file (as before) | {per_sync:.0} |");
    println!(
        "| ratio of database reads, now / one a file | {:.2} |",
        reads as f64 / SYNCS as f64 / per_sync
    );
    drop(app);
    rt.block_on(async {});
    let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
}
