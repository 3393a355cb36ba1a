//! Gate figures, one run: a 66,000,000-entry status list with 1% revoked (published size;
//! time and peak memory to verify and load it), gate start-up with it synced, and the
//! time from Enter to the verdict drawn. Run: `cargo bench -p tuaton-verifier --bench gate`.
//! Memory is measured in child processes (peak RSS, VmHWM) so phases don't mix.

use ed25519_dalek::SigningKey;
use rand::{rngs::StdRng, Rng, SeedableRng};
use ratatui::backend::TestBackend;
use ratatui::Terminal;
use std::path::Path;
use std::time::Instant;
use tuaton_common::status::{self, Bitset};
use tuaton_verifier::demo::Scenario;
use tuaton_verifier::station::{Checked, Checker};
use tuaton_verifier::tui::App;

const ENTRIES: u64 = 66_000_000;

/// A memory figure of this process from /proc/self/status, KiB ("VmHWM" the peak,
/// "VmRSS" now).
fn proc_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn vm_hwm_kib() -> u64 {
    proc_kib("VmHWM")
}

fn key() -> SigningKey {
    SigningKey::from_bytes(&[9; 32])
}

fn child(mode: &str, file: &Path) -> (f64, u64) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--child", mode, file.to_str().unwrap()])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.split_whitespace();
    (
        it.next().and_then(|x| x.parse().ok()).unwrap_or(f64::NAN),
        it.next().and_then(|x| x.parse().ok()).unwrap_or(0),
    )
}

fn child_main(mode: &str, file: &str) {
    let t = Instant::now();
    match mode {
        "baseline" => {
            let json = std::fs::read_to_string(file).unwrap();
            std::hint::black_box(json.len());
        }
        "verify" => {
            let json = std::fs::read_to_string(file).unwrap();
            let c = status::verify_list(
                json,
                &[key().verifying_key()],
                Some(tuaton_common::w3c::default_issuer_did(1).as_str()),
                ENTRIES,
                1_800_000_000,
            )
            .unwrap();
            std::hint::black_box(c.bits.get(12_345));
        }
        "startup" => {
            let g = tuaton_verifier::Gate::open(Path::new(file)).unwrap();
            let l = g.load().unwrap();
            std::hint::black_box(l.status.len());
        }
        "shift" => return shift(Path::new(file)),
        _ => unreachable!(),
    }
    println!("{} {}", t.elapsed().as_secs_f64(), vm_hwm_kib());
}

fn vm_rss_kib() -> u64 {
    proc_kib("VmRSS")
}

/// The bench's card: sample citizen 0 for `holder`, at status `index` of list 0, signed
/// by `issuer` under the bundle's kid.
fn card(
    issuer: &SigningKey,
    holder: &SigningKey,
    index: u64,
) -> tuaton_common::gate::GateCredential {
    let mut issue =
        tuaton_common::sample::Issue::new(0, issuer, holder.verifying_key(), 1_790_000_000);
    issue.kid = vec![1, 2, 3, 4];
    issue.credential_id = [1; 8];
    issue.status.index = index;
    issue.gate(&mut rand::rngs::OsRng).unwrap()
}

/// Scans at which a shift reports its resident memory.
const SHIFT_MARKS: [usize; 5] = [500, 1000, 2000, 5000, 10_000];

/// A long shift on the gate as staff run it: the TUI's checker over the synced home (the
/// store opened per scan, replay cache, audit record and flush), the station, and an
/// 80x24 redraw per scan, 10,000 fresh presentations. Prints the resident memory (VmRSS)
/// at each of [`SHIFT_MARKS`] on one line.
fn shift(home: &Path) {
    let t0 = 1_795_000_000;
    let mut live = tuaton_verifier::live::LiveGate::new(
        home.to_path_buf(),
        tuaton_common::verify::Policy::default(),
        Some(t0),
        false,
    )
    .unwrap();
    let holder = SigningKey::from_bytes(&[8; 32]);
    // A good index of the list, from the parent (which knows the bits).
    let index: u64 = std::env::var("TUATON_BENCH_INDEX")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap();
    let cred = card(&key(), &holder, index);
    let mut app = App::new(live.status(), false);
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let mut out = vec![];
    for n in 1..=SHIFT_MARKS[SHIFT_MARKS.len() - 1] {
        let b = tuaton_common::presentation::present_salted(
            &cred,
            &holder,
            tuaton_common::presentation::Profile::Flight.groups(),
            t0,
            rand::random(),
        )
        .unwrap();
        app.submit(
            &mut live,
            &tuaton_common::presentation::to_qr_text(&b),
            None,
        );
        term.draw(|f| f.render_widget(&app, f.area())).unwrap();
        if SHIFT_MARKS.contains(&n) {
            out.push(vm_rss_kib().to_string());
        }
    }
    let v = &app.station.shown.as_ref().unwrap().verdict;
    assert!(v.is_valid(), "{:?}", v.reasons);
    println!("{}", out.join(" "));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--child" {
        return child_main(&args[2], &args[3]);
    }
    let dir = tempfile::tempdir().unwrap();

    // The list: 66 million entries, 1% revoked at random positions.
    let mut rng = StdRng::seed_from_u64(1);
    let mut bits = Bitset::new(ENTRIES);
    let mut set = 0;
    while set < ENTRIES / 100 {
        let i = rng.gen_range(0..ENTRIES);
        if bits.get(i) == Some(false) {
            bits.set(i);
            set += 1;
        }
    }
    let t = Instant::now();
    let json = status::sign_list(
        &bits,
        1,
        &tuaton_common::w3c::default_issuer_did(1),
        0,
        &key(),
        1_790_000_000,
        1_800_000_000,
    )
    .unwrap();
    let publish = t.elapsed().as_secs_f64();
    let file = dir.path().join("1-0.json");
    std::fs::write(&file, &json).unwrap();
    let (base_s, base_kib) = child("baseline", &file);
    let (verify_s, verify_kib) = child("verify", &file);

    // Gate start-up with that list synced into its sled store.
    let bundle = dir.path().join("bundle");
    let (root_key, issuer_key) = (SigningKey::from_bytes(&[7; 32]), key());
    write_bundle(&bundle, &root_key, &issuer_key, &json);
    let home = dir.path().join("gate");
    let g = tuaton_verifier::Gate::open(&home).unwrap();
    let t = Instant::now();
    let tofu = tuaton_verifier::SyncOptions {
        trust_on_first_use: true,
        ..Default::default()
    };
    g.sync(&tuaton_verifier::DirSource(bundle), 1_795_000_000, tofu)
        .unwrap();
    let sync_s = t.elapsed().as_secs_f64();
    drop(g);
    let (start_s, start_kib) = child("startup", &home);

    // Enter to verdict drawn: check + redraw of the 80x24 screen.
    let mut s = Scenario::with_seed(1_795_000_000, 3);
    let mut app = App::new(s.status(), false);
    let mut term = Terminal::new(TestBackend::new(80, 24)).unwrap();
    let texts: Vec<String> = (0..200).map(|_| s.next_demo().unwrap().0).collect();
    let t = Instant::now();
    for tx in &texts {
        app.submit(&mut s, tx, None);
        term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    }
    let enter = t.elapsed().as_secs_f64() / texts.len() as f64;

    // The same on the real gate: sled replay cache, audit record and flush per scan, with
    // the 66M-entry list loaded.
    let gate = tuaton_verifier::Gate::open(&home).unwrap();
    let loaded = gate.load().unwrap();
    let holder = SigningKey::from_bytes(&[8; 32]);
    let index = (0..ENTRIES).find(|i| bits.get(*i) == Some(false)).unwrap();
    let cred = card(&issuer_key, &holder, index);
    let mut real = RealGate {
        gate: &gate,
        loaded: &loaded,
        now: 1_795_000_000,
    };
    let mut app = App::new(real.status(), false);
    let texts: Vec<String> = (0..200)
        .map(|i| {
            let b = tuaton_common::presentation::present(
                &cred,
                &holder,
                tuaton_common::presentation::Profile::Flight,
                1_795_000_000 + i,
            )
            .unwrap();
            tuaton_common::presentation::to_qr_text(&b)
        })
        .collect();
    let t = Instant::now();
    for tx in &texts {
        app.submit(&mut real, tx, None);
        term.draw(|f| f.render_widget(&app, f.area())).unwrap();
    }
    let enter_real = t.elapsed().as_secs_f64() / texts.len() as f64;
    assert!(
        app.station.shown.as_ref().unwrap().verdict.is_valid(),
        "{:?}",
        app.station.shown.as_ref().unwrap().verdict.reasons
    );
    // The store is the child's now (one process holds a sled store at a time).
    drop((app, real));
    drop((loaded, gate));

    // A long shift, in a child of its own.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--child", "shift", home.to_str().unwrap()])
        .env("TUATON_BENCH_INDEX", index.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rss: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();

    println!(
        "status list: {} entries, {} revoked ({:.2}%)",
        ENTRIES,
        bits.count(),
        bits.count() as f64 * 100.0 / ENTRIES as f64
    );
    println!("| figure | value |");
    println!("|---|---:|");
    println!(
        "| published size (W3C JSON, gzip + base64url) | {:.0} KiB |",
        json.len() as f64 / 1024.0
    );
    println!(
        "| issuer: build + sign (ssi, eddsa-rdfc-2022) | {:.0} ms |",
        publish * 1e3
    );
    println!(
        "| gate: verify proof + decode (child process) | {:.0} ms |",
        verify_s * 1e3
    );
    println!(
        "| gate: peak RSS during verify+decode | {:.1} MiB |",
        verify_kib as f64 / 1024.0
    );
    println!(
        "| same child reading the file only (baseline) | {:.1} MiB, {:.0} ms |",
        base_kib as f64 / 1024.0,
        base_s * 1e3
    );
    println!(
        "| verify+decode memory over the baseline | {:.1} MiB |",
        (verify_kib.saturating_sub(base_kib)) as f64 / 1024.0
    );
    println!(
        "| gate: full sync of the bundle (verify + store) | {:.0} ms |",
        sync_s * 1e3
    );
    println!(
        "| gate start-up: open store + load 66M bitset | {:.0} ms, peak RSS {:.1} MiB |",
        start_s * 1e3,
        start_kib as f64 / 1024.0
    );
    println!(
        "| Enter to verdict drawn, in-memory gate (check + 80x24 redraw) | {:.3} ms |",
        enter * 1e3
    );
    println!(
        "| Enter to verdict drawn, real gate (sled replay + audit + flush, 66M list) | {:.3} ms |",
        enter_real * 1e3
    );
    for (n, kib) in SHIFT_MARKS.iter().zip(&rss) {
        println!(
            "| a shift on the TUI's checker: resident memory after {n} scans | {:.1} MiB |",
            *kib as f64 / 1024.0
        );
    }
    if let (Some(a), Some(b)) = (rss.first(), rss.last()) {
        println!(
            "| growth from {} to {} scans | {:+.1} MiB |",
            SHIFT_MARKS[0],
            SHIFT_MARKS[SHIFT_MARKS.len() - 1],
            (*b as f64 - *a as f64) / 1024.0
        );
    }
}

/// The gate as the TUI drives it, on its sled store.
struct RealGate<'a> {
    gate: &'a tuaton_verifier::Gate,
    loaded: &'a tuaton_verifier::Loaded,
    now: i64,
}

impl Checker for RealGate<'_> {
    fn check(
        &mut self,
        text: &str,
        _cancel: &std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Checked {
        self.now += 1;
        Checked::Verdict(
            self.gate.check(self.loaded, text, self.now, false).unwrap(),
            None,
        )
    }
    fn now(&self) -> i64 {
        self.now
    }
    fn status(&self) -> tuaton_verifier::station::StatusInfo {
        tuaton_verifier::station::StatusInfo {
            version: 1,
            ..Default::default()
        }
    }
}

fn write_bundle(dir: &Path, root_key: &SigningKey, issuer_key: &SigningKey, status_json: &str) {
    use sha2::{Digest, Sha256};
    use tuaton_common::trust::*;
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::create_dir_all(dir.join("status")).unwrap();
    let root = SignedRoot::sign(
        Root {
            version: 1,
            expires: 1_900_000_000,
            threshold: 1,
            keys: vec![root_key.verifying_key().to_bytes()],
        },
        &[root_key],
    );
    std::fs::write(dir.join("root/1.cbor"), root.signed.to_bytes()).unwrap();
    let list = TrustList {
        version: 1,
        root_version: 1,
        issued_at: 1_790_000_000,
        expires: 1_800_000_000,
        issuers: vec![ListedIssuer {
            id: 1,
            name: "DOPA".into(),
            did: Some(tuaton_common::w3c::default_issuer_did(1)),
            keys: vec![IssuerKey {
                issuer: 1,
                kid: vec![1, 2, 3, 4],
                public: issuer_key.verifying_key(),
                not_before: 0,
                not_after: None,
                state: KeyState::Active,
            }],
        }],
        status: vec![StatusPin {
            issuer: 1,
            list: 0,
            size: ENTRIES,
            sha256: Sha256::digest(status_json.as_bytes()).into(),
            file: "1-0.json".into(),
        }],
        anchors: vec![],
        revoked_certificates: vec![],
    };
    std::fs::write(
        dir.join("trust-list.cbor"),
        SignedTrustList::sign(list, &[root_key]).signed.to_bytes(),
    )
    .unwrap();
    std::fs::write(dir.join("status/1-0.json"), status_json).unwrap();
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&tuaton_common::bundle::Index {
            format: tuaton_common::bundle::FORMAT.into(),
            roots: vec!["root/1.cbor".into()],
            trust_list: "trust-list.cbor".into(),
            status: vec!["status/1-0.json".into()],
            context: "contexts/tuaton-v1.jsonld".into(),
            trust_list_version: 1,
            root_version: 1,
            expires: 0,
        })
        .unwrap(),
    )
    .unwrap();
}
