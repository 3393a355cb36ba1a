//! The officer console in headless Chromium, against the service and PostgreSQL on this
//! machine: the offer screen's weight and first render, the time from "Create offer" to
//! the QR on screen, and from the phone's redemption to the page showing the card issued.
//!
//! Needs the release binaries and Chromium with its driver:
//! `cargo build --release --bins && cargo bench -p tuaton-tests --bench console`.

use fantoccini::Locator;
use std::time::{Duration, Instant};
use tuaton_common::sample;
use tuaton_tests::{run, Service, TestDb, World, PASSPHRASE, PIN};

#[path = "../tests/browser_kit/mod.rs"]
mod browser_kit;
#[path = "../tests/service_kit/mod.rs"]
mod service_kit;
use browser_kit::*;
use service_kit::*;

const PASSWORD: &str = "a bench officer's password";
const ROUNDS: usize = 8;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let w = World::new();
    let db = TestDb::new();
    issuer_in(&w, &db, &[], &[]);
    run(
        "tuaton-issuer",
        &[
            "--database",
            &db.url,
            "officer",
            "add",
            "bench",
            "--office",
            "Bang Rak District",
        ],
        "",
        &[
            ("TUATON_OFFICER_PASSWORD", PASSWORD),
            ("TUATON_ISSUER_PASSPHRASE", PASSPHRASE),
        ],
    )
    .ok();
    let svc = Service::start(&db.url, &[], &[]);
    let driver = Driver::start();
    std::fs::write(w.path("portrait.jpg"), sample::PORTRAIT_A).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (weights, paints, to_qr, to_state) = rt.block_on(async {
        let c = driver.browser().await;
        let base = svc.url.as_str();
        c.goto(&format!("{base}/console")).await.unwrap();
        fill(&c, "name", "bench").await;
        fill(&c, "password", PASSWORD).await;
        soon(&c, Locator::Id("sign-in"))
            .await
            .click()
            .await
            .unwrap();
        soon(&c, Locator::Css("nav")).await;
        let (mut weights, mut paints, mut to_qr, mut to_state) = (vec![], vec![], vec![], vec![]);
        for round in 0..ROUNDS {
            c.goto(&format!("{base}/console")).await.unwrap();
            if let (0, Some(dir)) = (round, std::env::var_os("TUATON_CONSOLE_SCREENSHOTS")) {
                soon(&c, Locator::Id("citizen_id")).await;
                let dir = std::path::PathBuf::from(dir);
                std::fs::write(dir.join("form-1366x768.png"), c.screenshot().await.unwrap())
                    .unwrap();
            }
            fill_record_with(&c, &w.path("portrait.jpg"), None).await;
            let t = Instant::now();
            soon(&c, Locator::Id("create-offer"))
                .await
                .click()
                .await
                .unwrap();
            soon(&c, Locator::Css("#qr svg")).await;
            to_qr.push(t.elapsed().as_secs_f64() * 1e3);
            // TUATON_CONSOLE_SCREENSHOTS=DIR: the offer screen at the office screen's size
            // and at a tablet's, to look at.
            if let (0, Some(dir)) = (round, std::env::var_os("TUATON_CONSOLE_SCREENSHOTS")) {
                let dir = std::path::PathBuf::from(dir);
                std::fs::write(
                    dir.join("offer-1366x768.png"),
                    c.screenshot().await.unwrap(),
                )
                .unwrap();
                c.set_window_size(768, 1024).await.unwrap();
                std::fs::write(
                    dir.join("offer-768x1024.png"),
                    c.screenshot().await.unwrap(),
                )
                .unwrap();
                c.set_window_size(1366, 768).await.unwrap();
            }
            // What the browser fetched for this page (the script and style sheet are
            // cached after the first page), and when it first painted.
            let m = c
                .execute(
                    "const n = performance.getEntriesByType('navigation')[0];
                     const r = performance.getEntriesByType('resource')
                        .reduce((s, e) => s + e.encodedBodySize, 0);
                     return [n.encodedBodySize + r, n.domContentLoadedEventEnd];",
                    vec![],
                )
                .await
                .unwrap();
            weights.push(m[0].as_f64().unwrap());
            paints.push(m[1].as_f64().unwrap());
            let offer = soon(&c, Locator::Id("offer-text"))
                .await
                .prop("textContent")
                .await
                .unwrap()
                .unwrap();
            let tx: String = soon(&c, Locator::Id("tx-code"))
                .await
                .text()
                .await
                .unwrap()
                .chars()
                .filter(char::is_ascii_digit)
                .collect();
            let wallet = format!("phone{round}");
            w.new_wallet(&wallet);
            let r = w.wallet(
                &wallet,
                &["enroll", "--expect-root", &root_of(&offer), &offer],
                &format!("{PIN}\n{tx}\n"),
            );
            assert_eq!(r.code, 0, "{}", r.stderr);
            let t = Instant::now();
            loop {
                let s = soon(&c, Locator::Id("state"))
                    .await
                    .attr("data-state")
                    .await
                    .unwrap();
                if s.as_deref() == Some("issued") {
                    break;
                }
                assert!(t.elapsed() < Duration::from_secs(20));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            to_state.push(t.elapsed().as_secs_f64() * 1e3);
        }
        c.close().await.unwrap();
        (weights, paints, to_qr, to_state)
    });
    drop(driver);
    println!("tuaton officer console in headless Chromium ({ROUNDS} offers, 1366x768)\n");
    println!("| measure | median | first | slowest |");
    println!("|---|---:|---:|---:|");
    let row = |what: &str, v: &[f64], unit: &str| {
        let slowest = v.iter().copied().fold(f64::MIN, f64::max);
        println!(
            "| {what} | {:.0} {unit} | {:.0} {unit} | {:.0} {unit} |",
            median(v.to_vec()),
            v[0],
            slowest
        );
    };
    row(
        "offer screen weight: the page with its SVG QR, + CSS, JS, Thai font (cached after once)",
        &weights,
        "B",
    );
    row(
        "offer screen, parsed and shown (DOMContentLoaded after navigation start)",
        &paints,
        "ms",
    );
    row("\"Create offer\" clicked to the QR on screen", &to_qr, "ms");
    row(
        "the phone's card issued to the page showing it (polls every second)",
        &to_state,
        "ms",
    );
}
